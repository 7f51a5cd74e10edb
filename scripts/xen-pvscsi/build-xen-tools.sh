#!/bin/bash
# Build Xen 4.17's libxenlight, libxlutil and xl with the project's libxl/xl
# patch series (contrib/xen/*.patch: the vscsi device type served by QEMU's
# xen-pvscsi, backend type "qscsi") applied to Debian's source package
# "xen" (bookworm), fetched with apt-get source through the private apt
# configuration of common.sh.
#
# Everything lives under $XPV_CACHE/xen-tools (never in the clone):
#   dl/    the Debian source package (.dsc, orig, debian tarball)
#   src/   the unpacked tree (Debian's patches applied) as a git repository
#          whose tag "xpv-base" is the pristine tree; the series is applied
#          on top with git am
#   out/   lib/libxenlight.so.4.17*, lib/libxlutil.so.4.17*, bin/xl
#          and stamp (what out/ was built from)
# Incremental: a run with the same series and source does nothing; a changed
# series resets the tracked files to "xpv-base" (unchanged files keep their
# times) and re-applies it, and make rebuilds only what changed. Only
# tools/include, tools/libs (libxenlight links against the in-tree
# libraries) and tools/xl are built.
#
# The result replaces nothing on the host: the e2e scenario xl-vscsi ships
# out/ to dom0 and runs xl with LD_LIBRARY_PATH pointing at out/lib.
#
# Usage: scripts/xen-pvscsi/build-xen-tools.sh [--force]
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
. "$(dirname "$0")/common.sh"

# Debian's xen in bookworm (the e2e dom0 runs bookworm's xen-utils-4.17;
# libxenlight 4.17 keeps the ABI of the other 4.17 libraries).
XPV_XEN_DEB_VERSION=${XPV_XEN_DEB_VERSION:-4.17.5+72-g01140da4e8-1}
XPV_XEN_UPSTREAM=${XPV_XEN_DEB_VERSION%-*}

top="$XPV_CACHE/xen-tools"
dl="$top/dl"
src="$top/src"
out="$top/out"
series_dir="$XPV_ROOT/contrib/xen"
NICE=${XPV_NICE:-nice -n 10}
JOBS=${XPV_JOBS:-2}

[ "${1:-}" = --force ] && rm -rf "$src" "$out"

# Build dependencies beyond deps.sh's (configure is regenerated: Debian's
# source package deletes it; libxl needs yajl; libxl's ACPI tables need iasl).
XEN_TOOLS_PKGS="autoconf autotools-dev libyajl-dev acpica-tools uuid-dev libncurses-dev
 libpixman-1-dev libglib2.0-dev liblzma-dev zlib1g-dev libaio-dev python3-dev
 gcc make pkg-config git dpkg-dev xz-utils"
missing=()
for p in $XEN_TOOLS_PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    xpv_log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q update >/dev/null || apt-get update
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# The series, in order (contrib/xen/series if present, else *.patch sorted).
patches=()
if [ -f "$series_dir/series" ]; then
    while read -r p; do
        [ -n "$p" ] && [ "${p#\#}" = "$p" ] && patches+=("$series_dir/$p")
    done < "$series_dir/series"
else
    for p in "$series_dir"/*.patch; do [ -e "$p" ] && patches+=("$p"); done
fi
key=$( { echo "$XPV_XEN_DEB_VERSION"; sha256sum "$0"; cat "${patches[@]}" /dev/null; } | sha256sum | cut -c1-16)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$key" ] &&
   [ -x "$out/bin/xl" ] && [ -e "$out/lib/libxenlight.so.4.17" ]; then
    xpv_log "xen tools: up to date ($out)"
    exit 0
fi

start=$SECONDS
# 1. The source package.
dsc="$dl/xen_$XPV_XEN_DEB_VERSION.dsc"
if [ ! -f "$dsc" ]; then
    mkdir -p "$dl"
    xpv_private_apt
    xpv_log "fetching Debian source xen=$XPV_XEN_DEB_VERSION"
    (cd "$dl" && apt-get "${XPV_APT_OPTS[@]}" -q source --download-only "xen=$XPV_XEN_DEB_VERSION" >&2) ||
        xpv_die "apt-get source xen=$XPV_XEN_DEB_VERSION failed"
fi

# 2. The pristine tree (Debian's patches applied), tagged "debian".
if [ ! -d "$src/.git" ] || ! git -C "$src" rev-parse -q --verify refs/tags/xpv-base >/dev/null; then
    rm -rf "$src" "$src.tmp"
    xpv_log "unpacking $dsc"
    dpkg-source -x "$dsc" "$src.tmp" >/dev/null || xpv_die "dpkg-source -x failed"
    # Debian deletes config.sub/config.guess and configure (debian/rules
    # copies and regenerates them).
    cp /usr/share/misc/config.sub /usr/share/misc/config.guess "$src.tmp/"
    (cd "$src.tmp" && ./autogen.sh >/dev/null) || xpv_die "autogen.sh failed"
    git -C "$src.tmp" init -q
    git -C "$src.tmp" add -A -f .
    git -C "$src.tmp" -c user.name=xen-pvscsi -c user.email=xen-pvscsi@localhost \
        commit -q -m "Debian xen $XPV_XEN_DEB_VERSION" || xpv_die "git commit of the source failed"
    git -C "$src.tmp" tag xpv-base
    mv "$src.tmp" "$src"
fi

# 3. The series on top (only when it changed since the last application).
applied="$src/.xpv-series"
skey=$( { cat "${patches[@]}" /dev/null; } | sha256sum | cut -c1-16)
if [ ! -f "$applied" ] || [ "$(cat "$applied")" != "$skey" ]; then
    rm -f "$applied"
    git -C "$src" am --abort >/dev/null 2>&1 || true
    git -C "$src" reset -q --hard refs/tags/xpv-base
    # Files the previous series added (untracked, not ignored); build
    # outputs are ignored by Xen's .gitignore and stay.
    git -C "$src" clean -fdq -e .xpv-series -e .xpv-configured
    for p in "${patches[@]}"; do
        xpv_log "applying ${p##*/}"
        git -C "$src" -c user.name=xen-pvscsi -c user.email=xen-pvscsi@localhost \
            am -q --keep-cr "$p" || { git -C "$src" am --abort || true; xpv_die "patch ${p##*/} does not apply"; }
    done
    echo "$skey" > "$applied"
fi

# 4. configure (once), with Debian's paths so that the libxl built here
# finds what dom0's xen-utils-4.17 installed (scripts, libexec helpers).
if [ ! -f "$src/.xpv-configured" ]; then
    xpv_log "configuring the Xen tools"
    (cd "$src" && $NICE ./configure -q \
        --disable-stubdom --disable-docs \
        --prefix=/usr --includedir=/usr/include \
        --libdir=/usr/lib/x86_64-linux-gnu \
        --with-libexec-libdir-suffix=/x86_64-linux-gnu \
        --sysconfdir=/etc --localstatedir=/var \
        --with-libexec-leaf-dir=xen-4.17 \
        --disable-qemu-traditional --disable-rombios --disable-seabios \
        --disable-ipxe --disable-ovmf --disable-pvshim \
        --with-system-qemu=/usr/libexec/xen-qemu-system-i386 \
        >"$top/configure.log" 2>&1) ||
        xpv_die "configure failed (see $top/configure.log)"
    touch "$src/.xpv-configured"
fi

# 5. Build: the in-tree libraries libxenlight links against, then xl.
xpv_log "building libxenlight, libxlutil, xl (make -j$JOBS)"
for d in tools/include tools/libs tools/xl; do
    $NICE make -C "$src/$d" -j"$JOBS" >"$top/make-${d##*/}.log" 2>&1 ||
        { tail -n 30 "$top/make-${d##*/}.log" >&2; xpv_die "make -C $d failed (see $top/make-${d##*/}.log)"; }
done

# 6. The three artefacts.
rm -rf "$out.tmp"
mkdir -p "$out.tmp/lib" "$out.tmp/bin"
cp -a "$src"/tools/libs/light/libxenlight.so.4.17* "$out.tmp/lib/"
cp -a "$src"/tools/libs/util/libxlutil.so.4.17* "$out.tmp/lib/"
cp -a "$src/tools/xl/xl" "$out.tmp/bin/xl"
echo "$key" > "$out.tmp/stamp"
rm -rf "$out"
mv "$out.tmp" "$out"
xpv_log "xen tools built in $((SECONDS - start)) s: $out"
