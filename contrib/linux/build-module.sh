#!/bin/bash
# Build xen-scsifront.ko out of tree for the e2e guests' kernel (Debian's
# 6.1, linux-image-6.1.0-NN-amd64) with the patches of contrib/linux.
#
#   contrib/linux/build-module.sh [VARIANT...]     default: multipage
#
# Variants (contrib/linux/6.1/series):
#   fix         0001 (issue 17: scsi_done() outside the host lock)
#   multipage   0001 + 0002 (issue 15: multi-page rings)
#   hardirq     0001 + 0003 (issue 13: responses in hard interrupt context)
#
# Prints the path of each variant's .ko on stdout, one line per variant;
# progress goes to stderr.
#
# Inputs, all through apt (signatures and checksums checked by apt; the
# packages are downloaded and unpacked with dpkg-deb, nothing is installed):
#   - the source: drivers/scsi/xen-scsifront.c from Debian's
#     linux-source-6.1 at the guest kernel's package version (the exact
#     source of the guests' own module; the 139 MB package is deleted once
#     the one file is out);
#   - the kbuild tree: linux-headers-KVER, linux-headers-ABI-common and
#     linux-kbuild-6.1 at that version;
#   - the patches: contrib/linux/6.1/series (0001 as written against
#     mainline, which applies to 6.1 unchanged; 0002's 6.1 backport).
# The kernel is the one of the e2e images ($XE_CACHE/images.env and
# kernel.key, written by tests/xen-e2e/images.sh), else the one
# linux-image-amd64 points to; XLM_KVER=6.1.0-NN-amd64 and
# XLM_KVERSION=6.1.x-y override both. apt: this machine's sources if they
# have the packages (unless XLM_PRIVATE_APT=1), else a private configuration under
# $XPV_CACHE/linux-modules/apt with the bookworm, bookworm-updates and
# bookworm-security sources of this machine's apt setup (like
# xpv_private_apt in scripts/xen-pvscsi/common.sh: the machine's apt setup
# is not edited).
#
# Cache: $XPV_CACHE/linux-modules/ (default ~/.cache/xen-pvscsi/linux-modules):
#   debs/, headers/KVER_VERSION/, src/VERSION/xen-scsifront.c,
#   KVER/VARIANT-KEY/xen-scsifront.ko (+ build.log; older keys are
#   deleted after two days), and KVER/xen-scsifront-VARIANT.ko, a link
#   to the newest build.
# KEY hashes the kernel version, the source, the patches and this script:
# a variant is rebuilt only when one of them changes.
#
# Needs: gcc-12 (the compiler of Debian's 6.1 kernels), make, xz-utils,
# libssl3 and libelf1 (kbuild's tools), git (git apply).
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/xen-pvscsi/common.sh
. "$HERE/../../scripts/xen-pvscsi/common.sh"

LM="$XPV_CACHE/linux-modules"
SERIES="$HERE/6.1/series"
: "${XE_CACHE:=$XPV_CACHE/e2e}"
mkdir -p "$LM/debs"
exec 9> "$LM/.lock"
flock 9

# ------------------------------------------------------------ the kernel ---
KVER=${XLM_KVER:-}
KVERSION=${XLM_KVERSION:-}
if [ -z "$KVER" ] && [ -f "$XE_CACHE/images.env" ]; then
    KVER=$(sed -n 's/^XE_IMG_KVER=//p' "$XE_CACHE/images.env")
fi
if [ -z "$KVER" ]; then
    KVER=$(apt-cache depends linux-image-amd64 2>/dev/null |
               awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    KVER=${KVER#linux-image-}
fi
[ -n "$KVER" ] || xpv_die "cannot tell the guest kernel's version (no $XE_CACHE/images.env; set XLM_KVER)"
case $KVER in
    6.1.*-amd64) ;;
    *) xpv_die "kernel $KVER: contrib/linux/6.1 is a backport to Debian's 6.1 (amd64)" ;;
esac
if [ -z "$KVERSION" ] && [ -f "$XE_CACHE/kernel.key" ]; then
    KVERSION=$(tr ' ' '\n' < "$XE_CACHE/kernel.key" | grep -A1 -x "linux-image-$KVER" | sed -n 2p)
fi
if [ -z "$KVERSION" ]; then
    KVERSION=$(apt-cache policy "linux-image-$KVER" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
fi
[ -n "$KVERSION" ] && [ "$KVERSION" != "(none)" ] ||
    xpv_die "cannot tell the package version of linux-image-$KVER (set XLM_KVERSION)"
ABI=${KVER%-amd64}
PKGS=("linux-headers-$KVER" "linux-headers-$ABI-common" linux-kbuild-6.1)

# -------------------------------------------------------------------- apt ---
# The machine's apt if it knows every PKG=VERSION, else a private config.
APT_OPTS=(-o APT::Sandbox::User=root)
lm_private_apt() {
    local d="$LM/apt" uri suri
    uri=$(xpv_debian_uri)
    suri=$(xpv_debian_security_uri)
    [ -n "$uri" ] || xpv_die "cannot find the Debian archive in this machine's apt sources (set XPV_DEBIAN_URI)"
    mkdir -p "$d/lists/partial" "$d/archives/partial"
    cat > "$d/sources.list.new" <<EOS
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm-updates main
${suri:+deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $suri bookworm-security main}
EOS
    if ! cmp -s "$d/sources.list.new" "$d/sources.list"; then
        mv "$d/sources.list.new" "$d/sources.list"
        rm -f "$d/lists/stamp"
    else
        rm -f "$d/sources.list.new"
    fi
    APT_OPTS=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/none"
              -o "Dir::State::Lists=$d/lists" -o "Dir::Cache::Archives=$d/archives"
              -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
              -o APT::Sandbox::User=root)
    if [ ! -f "$d/lists/stamp" ] || [ -n "$(find "$d/lists/stamp" -mmin +1440)" ]; then
        xpv_log "updating the private apt lists (bookworm, -updates, -security)"
        apt-get "${APT_OPTS[@]}" -q update >&2 || xpv_die "apt-get update (private config) failed"
        touch "$d/lists/stamp"
    fi
}
lm_apt_known() {   # PKG=VERSION...
    local p
    for p in "$@"; do
        apt-cache "${APT_OPTS[@]}" show "$p" > /dev/null 2>&1 || return 1
    done
}
APT_READY=0
# lm_download PKG=VERSION...: the .debs into $LM/debs (kept: reused).
lm_download() {
    local p need=()
    for p in "$@"; do
        compgen -G "$LM/debs/${p%%=*}_${p#*=}_*.deb" > /dev/null || need+=("$p")
    done
    [ ${#need[@]} -gt 0 ] || return 0
    if [ "$APT_READY" = 0 ]; then
        if [ "${XLM_PRIVATE_APT:-0}" = 1 ] || ! lm_apt_known "${need[@]}"; then
            lm_private_apt
        fi
        APT_READY=1
    fi
    lm_apt_known "${need[@]}" ||
        xpv_die "apt knows none of ${need[*]} (is $KVERSION still in the archive? rebuild the e2e images)"
    xpv_log "downloading ${need[*]}"
    (cd "$LM/debs" && apt-get "${APT_OPTS[@]}" -q download "${need[@]}" >&2) ||
        xpv_die "apt-get download ${need[*]} failed"
}
lm_deb() { compgen -G "$LM/debs/${1}_${2}_*.deb" | head -n 1; }

# ---------------------------------------------------------- kbuild tree ---
HDR="$LM/headers/${KVER}_$KVERSION"
KDIR="$HDR/usr/src/linux-headers-$KVER"
if [ ! -f "$HDR/.done" ]; then
    lm_download "${PKGS[@]/%/=$KVERSION}"
    rm -rf "$HDR.tmp" "$HDR"
    mkdir -p "$HDR.tmp"
    for p in "${PKGS[@]}"; do
        dpkg-deb -x "$(lm_deb "$p" "$KVERSION")" "$HDR.tmp" || xpv_die "unpacking $p failed"
    done
    mv "$HDR.tmp" "$HDR"
    # The arch Makefile includes the common one by its installed path.
    sed -i "s#^include /usr/src/#include $HDR/usr/src/#" "$KDIR/Makefile"
    touch "$HDR/.done"
    xpv_log "kbuild tree for $KVER ($KVERSION) in $HDR"
fi

# ---------------------------------------------------------------- source ---
SRC="$LM/src/$KVERSION/xen-scsifront.c"
if [ ! -s "$SRC" ]; then
    lm_download "linux-source-6.1=$KVERSION"
    deb=$(lm_deb linux-source-6.1 "$KVERSION")
    mkdir -p "${SRC%/*}"
    xpv_log "extracting drivers/scsi/xen-scsifront.c from ${deb##*/}"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/src/linux-source-6.1.tar.xz | xz -dc |
        tar -xO linux-source-6.1/drivers/scsi/xen-scsifront.c > "$SRC.tmp" ||
        xpv_die "no drivers/scsi/xen-scsifront.c in ${deb##*/}"
    [ -s "$SRC.tmp" ] || xpv_die "empty xen-scsifront.c from ${deb##*/}"
    mv "$SRC.tmp" "$SRC"
    sha256sum "$SRC" | cut -d' ' -f1 > "$SRC.sha256"
    rm -f "$deb"
fi

# --------------------------------------------------------------- variants ---
command -v gcc-12 > /dev/null || xpv_die "gcc-12 is needed (the compiler of Debian's 6.1 kernel)"
[ $# -gt 0 ] || set -- multipage
for variant in "$@"; do
    line=$(grep -E "^$variant:" "$SERIES") || xpv_die "no variant '$variant' in $SERIES"
    read -r -a patches <<< "${line#*:}"
    key=$( { echo "$KVER $KVERSION $variant"; cat "$SRC" "$0";
             for p in "${patches[@]}"; do cat "$HERE/6.1/$p"; done; } | sha256sum | cut -c1-16)
    out="$LM/$KVER/$variant-$key"
    if [ ! -f "$out/xen-scsifront.ko" ]; then
        xpv_log "building xen-scsifront.ko ($variant) for $KVER"
        b=$(mktemp -d "$LM/build.XXXXXX")
        mkdir -p "$b/drivers/scsi"
        cp "$SRC" "$b/drivers/scsi/xen-scsifront.c"
        for p in "${patches[@]}"; do
            # (a plain directory, even if the cache is inside a git work tree)
            (cd "$b" && GIT_CEILING_DIRECTORIES="$LM" git apply -p1 "$HERE/6.1/$p") ||
                xpv_die "$p does not apply to $SRC"
        done
        ! cmp -s "$SRC" "$b/drivers/scsi/xen-scsifront.c" || xpv_die "the patches changed nothing"
        echo 'obj-m := xen-scsifront.o' > "$b/drivers/scsi/Kbuild"
        if ! nice -n 10 make -C "$KDIR" M="$b/drivers/scsi" modules > "$b/build.log" 2>&1; then
            tail -n 30 "$b/build.log" >&2
            xpv_die "building xen-scsifront.ko ($variant) failed (log: $b/build.log)"
        fi
        grep -E 'warning|error' "$b/build.log" >&2 || true
        mkdir -p "$out.tmp"
        strip --strip-debug -o "$out.tmp/xen-scsifront.ko" "$b/drivers/scsi/xen-scsifront.ko"
        cp "$b/drivers/scsi/xen-scsifront.c" "$b/build.log" "$out.tmp/"
        rm -rf "$b" "$out"
        mv "$out.tmp" "$out"
        # older builds of this variant, once no waiting e2e run can still
        # want them (lib/linux-modules.sh links them when its boot starts)
        find "$LM/$KVER" -mindepth 1 -maxdepth 1 -type d -name "$variant-*" ! -path "$out" \
            -mmin +2880 -exec rm -rf {} +
    fi
    ln -sfn "$out/xen-scsifront.ko" "$LM/$KVER/xen-scsifront-$variant.ko"
    echo "$out/xen-scsifront.ko"
done
