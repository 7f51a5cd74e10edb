#!/bin/bash
# Fetch the pinned QEMU base (Debian source package, trixie) through a
# private apt configuration, unpack it, apply the project's patches and
# link the project's own files into it. Re-runs are cheap: the tree is
# only re-created when the pinned version or the patches change.
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
. "$(dirname "$0")/common.sh"

series="$XPV_ROOT/patches/series"
stamp_want="$XPV_QEMU_DEB_VERSION $(cat "$series" $(grep -v -e "^#" -e "^$" "$series" | sed "s|^|$XPV_ROOT/patches/|") 2>/dev/null | sha256sum | cut -c1-16)"

if [ -n "${XPV_QEMU_SRC_EXTERNAL:-}" ]; then
    # ./configure --qemu-src=DIR: use that tree as it is (patched by its owner
    # or by us once; we only refresh the overlay links).
    [ -f "$XPV_QEMU_SRC/VERSION" ] || xpv_die "--qemu-src=$XPV_QEMU_SRC is not a QEMU tree (no VERSION file)"
elif [ "$(cat "$XPV_QEMU_SRC/.xpv-stamp" 2>/dev/null)" != "$stamp_want" ]; then
    ver=${XPV_QEMU_DEB_VERSION#*:}
    dl="$XPV_CACHE/qemu-dl"
    dsc="$dl/qemu_${ver}.dsc"
    if [ ! -f "$dsc" ]; then
        xpv_private_apt
        mkdir -p "$dl"
        xpv_log "downloading Debian source package qemu=$XPV_QEMU_DEB_VERSION ($XPV_QEMU_SUITE)"
        (cd "$dl" && apt-get "${XPV_APT_OPTS[@]}" -q source --download-only "qemu=$XPV_QEMU_DEB_VERSION" >&2) ||
            xpv_die "could not download qemu=$XPV_QEMU_DEB_VERSION; is it still in $XPV_QEMU_SUITE? (change the pin in scripts/xen-pvscsi/common.sh)"
    fi
    tmp="$XPV_QEMU_SRC.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    orig=$(ls "$dl"/qemu_"${ver%-*}".orig.tar.* | head -n1)
    xpv_log "unpacking $(basename "$orig") (upstream tree only; Debian's packaging is not used)"
    tar -C "$tmp" --strip-components=1 -xf "$orig"
    # Debian's +ds tarball strips bundled firmware blobs and Python wheels.
    # The build is configured with --disable-install-blobs, but
    # pc-bios/meson.build still decompresses the EDK2 images it lists:
    # give it valid, empty .bz2 placeholders. (The x86 outer-VM firmware
    # comes from Debian's seabios package at run time.)
    for f in $(sed -n "s/^ *'\(edk2-[a-z0-9_.-]*\.fd\)',*$/\1/p" "$tmp/pc-bios/meson.build"); do
        [ -e "$tmp/pc-bios/$f.bz2" ] || bzip2 -c < /dev/null > "$tmp/pc-bios/$f.bz2"
    done
    while read -r p; do
        [ -n "$p" ] && [ "${p#\#}" = "$p" ] || continue
        xpv_log "applying patches/$p"
        patch -d "$tmp" -p1 --quiet --forward --no-backup-if-mismatch < "$XPV_ROOT/patches/$p" ||
            xpv_die "patch $p does not apply to QEMU $ver"
    done < "$series"
    echo "$stamp_want" > "$tmp/.xpv-stamp"
    if [ -d "$XPV_QEMU_SRC" ]; then
        # Update in place, touching only files whose content changed, so
        # the existing build directory stays valid and only what a patch
        # changed is recompiled.
        rsync -rlc --delete "$tmp/" "$XPV_QEMU_SRC/"
        rm -rf "$tmp"
    else
        mv "$tmp" "$XPV_QEMU_SRC"
    fi
fi

# Overlay: every project file under hw/ include/ tests/ docs/ becomes a
# symlink in the QEMU tree, so editing it in the clone and re-running the
# build recompiles just that file.
cd "$XPV_ROOT"
git ls-files --cached --others --exclude-standard -- hw include tests docs 2>/dev/null |
while read -r f; do
    [ -f "$f" ] || continue
    dst="$XPV_QEMU_SRC/$f"
    [ "$(readlink "$dst" 2>/dev/null)" = "$XPV_ROOT/$f" ] && continue
    if [ -e "$dst" ] && [ ! -L "$dst" ]; then
        xpv_die "$f exists in the QEMU base: change it through a patch in patches/, not by overlay"
    fi
    mkdir -p "$(dirname "$dst")"
    ln -sfn "$XPV_ROOT/$f" "$dst"
done
