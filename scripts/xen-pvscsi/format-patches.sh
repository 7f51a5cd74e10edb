#!/bin/bash
# make patches: the project as a git format-patch series against the pinned
# QEMU base, ready for qemu-devel. Output: $XPV_PATCH_OUT (default ./out/patches,
# ignored by git).
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=${XPV_PATCH_OUT:-$XPV_ROOT/out/patches}
ver=${XPV_QEMU_DEB_VERSION#*:}
orig=$(ls "$XPV_CACHE"/qemu-dl/qemu_"${ver%-*}".orig.tar.* 2>/dev/null | head -n1)
[ -n "$orig" ] || { bash "$XPV_ROOT/scripts/xen-pvscsi/fetch-qemu.sh"; orig=$(ls "$XPV_CACHE"/qemu-dl/qemu_"${ver%-*}".orig.tar.* | head -n1); }

work="$XPV_CACHE/patch-series"
rm -rf "$work"
mkdir -p "$work"
xpv_log "unpacking the QEMU base into $work"
tar -C "$work" --strip-components=1 -xf "$orig"
cd "$work"
git init -q
git config user.name "${GIT_AUTHOR_NAME:-$(git -C "$XPV_ROOT" log -1 --format=%an 2>/dev/null || echo xen-pvscsi)}"
git config user.email "${GIT_AUTHOR_EMAIL:-$(git -C "$XPV_ROOT" log -1 --format=%ae 2>/dev/null || echo xen-pvscsi@localhost)}"
git add -A >/dev/null
git commit -qm "QEMU ${ver%-*} (base)"
base=$(git rev-parse HEAD)

# commit SUBJECT BODY FILE... : copy the project's files (and apply its
# patches to upstream files, named as patches/NAME) as one commit.
commit() {
    local subject=$1 body=$2; shift 2
    for f in "$@"; do
        case "$f" in
            patches/*) patch -s -p1 < "$XPV_ROOT/$f" ;;
            *) mkdir -p "$(dirname "$f")"; cp "$XPV_ROOT/$f" "$f"; git add "$f" ;;
        esac
    done
    git add -A >/dev/null
    git commit -q -s -m "$subject" -m "$body"
}

commit "include/hw/xen: add the vscsiif (PV SCSI) protocol header" \
"The ring protocol of Xen's PV SCSI devices, written from the public
protocol description (structures, actions, result codes)." \
    include/hw/xen/interface/io/vscsiif.h
commit "hw/xen: xen-pvscsi request engine" \
"Decoding and validation of vscsiif ring requests, SG-list building and
response encoding, apart from the XenDevice glue so that it can be unit
tested and fuzzed without Xen. Includes its unit test." \
    include/hw/xen/xen-pvscsi-proto.h hw/xen/xen-pvscsi-proto.c \
    tests/unit/test-xen-pvscsi-proto.c \
    patches/0003-tests-unit-register-test-xen-pvscsi-proto.patch
# The device commit also needs the engine in the build: patch 0001 adds both.
commit "hw/xen: add the xen-pvscsi device (PV SCSI backend)" \
"A XenDevice (backend type qscsi, frontend type vscsi) that owns a SCSI
bus: the guest's xen-scsifront gets QEMU's scsi-hd, scsi-cd,
scsi-generic and scsi-block devices as LUNs. Grant-copy data path,
asynchronous ABORT/RESET, LUN hot-plug through the vscsi-devs state
protocol, iothread support." \
    hw/xen/xen-pvscsi.c \
    patches/0001-hw-xen-build-xen-pvscsi.patch \
    patches/0002-hw-xen-trace-events-for-xen-pvscsi.patch
commit "docs/system: document xen-pvscsi" \
"What the device is, its properties and command lines." \
    docs/system/devices/xen-pvscsi.rst \
    patches/0004-docs-system-list-xen-pvscsi.patch

# Anything the project adds that the series above does not carry?
missing=$(cd "$XPV_ROOT" && git ls-files -- hw include docs tests/unit | while read -r f; do
    [ -f "$work/$f" ] && cmp -s "$XPV_ROOT/$f" "$work/$f" || echo "$f"; done)
[ -z "$missing" ] || xpv_die "files not in the series: $missing (add them to scripts/xen-pvscsi/format-patches.sh)"

rm -rf "$out"
mkdir -p "$out"
git format-patch -q --cover-letter -o "$out" "$base"..HEAD
xpv_log "$(ls "$out" | wc -l) files in $out:"
ls "$out"
