#!/bin/bash
# make patches: the project as a git format-patch series against the pinned
# QEMU base, ready for qemu-devel. Output: $XPV_PATCH_OUT (default
# ./out/patches, ignored by git). The series is built as a git repository in
# $XPV_CACHE/series/qemu-src (kept: make check-series builds each of its
# commits in $XPV_CACHE/series/build).
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=${XPV_PATCH_OUT:-$XPV_ROOT/out/patches}
ver=${XPV_QEMU_DEB_VERSION#*:}
orig=$(ls "$XPV_CACHE"/qemu-dl/qemu_"${ver%-*}".orig.tar.* 2>/dev/null | head -n1) || true
[ -n "$orig" ] || { bash "$XPV_ROOT/scripts/xen-pvscsi/fetch-qemu.sh"; orig=$(ls "$XPV_CACHE"/qemu-dl/qemu_"${ver%-*}".orig.tar.* | head -n1); }

work="$XPV_CACHE/series/qemu-src"
# The repository lives beside the tree, not in it: QEMU's configure and
# meson treat a tree with .git as a developer checkout (-Werror, and
# a reconfigure that turns it back on), which would rebuild all of QEMU
# at every patch of make check-series.
export GIT_DIR="$XPV_CACHE/series/git" GIT_WORK_TREE="$work"
mkdir -p "$work"
cd "$work"
# The base commit is kept across runs (so that series/build stays valid):
# only the series on top of it is rebuilt.
base_key="${ver%-*} $(sha256sum < "$orig" | cut -c1-16)"
if [ "$(git config xpv.base 2>/dev/null)" != "$base_key" ]; then
    xpv_log "unpacking the QEMU base into $work"
    find "$work" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
    rm -rf "$GIT_DIR"
    tar -C "$work" --strip-components=1 -xf "$orig"
    # As in fetch-qemu.sh: empty placeholders for the EDK2 images the
    # +ds tarball strips.
    for f in $(sed -n "s/^ *'\(edk2-[a-z0-9_.-]*\.fd\)',*$/\1/p" pc-bios/meson.build); do
        [ -e "pc-bios/$f.bz2" ] || bzip2 -c < /dev/null > "pc-bios/$f.bz2"
    done
    git init -q
    git config user.name xen-pvscsi
    git config user.email xen-pvscsi@localhost
    # -f: everything of the tarball, also what QEMU's .gitignore names
    # (subprojects/).
    git add -f -A >/dev/null
    git commit -qm "QEMU ${ver%-*} (base)"
    git tag -f xpv-base >/dev/null
    git config xpv.base "$base_key"
fi
# the project's own repository (not the series one of GIT_DIR)
pgit() { env -u GIT_DIR -u GIT_WORK_TREE git -C "$XPV_ROOT" "$@"; }
git config user.name "${GIT_AUTHOR_NAME:-$(pgit log -1 --format=%an 2>/dev/null || echo xen-pvscsi)}"
git config user.email "${GIT_AUTHOR_EMAIL:-$(pgit log -1 --format=%ae 2>/dev/null || echo xen-pvscsi@localhost)}"
git checkout -q -f -B series xpv-base
git clean -q -fd
base=$(git rev-parse xpv-base)

# patch_msg NAME: the commit message of carried patch patches/NAME (from
# its third line to the diff, trailing blank lines dropped)
patch_msg() {
    sed -n '3,/^--- a\//p' "$XPV_ROOT/patches/$1" | sed '$d' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
}

# carried NAME: carried patch patches/NAME as one commit, its subject
# the patch's first line, its body the rest of its message (patch_msg)
carried() {
    commit "$(head -n 1 "$XPV_ROOT/patches/$1")" "$(patch_msg "$1")" "patches/$1"
}

# commit SUBJECT BODY FILE... : copy the project's files (and apply its
# patches to upstream files, named as patches/NAME) as one commit.
applied=""      # the patches applied so far, " NAME " each
commit() {
    local subject=$1 body=$2; shift 2
    [ "${#subject}" -le 72 ] || xpv_die "subject over 72 characters: $subject"
    for f in "$@"; do
        case "$f" in
            patches/*) patch -s -p1 < "$XPV_ROOT/$f"; applied+=" ${f#patches/} " ;;
            *) mkdir -p "$(dirname "$f")"; cp "$XPV_ROOT/$f" "$f"; git add "$f" ;;
        esac
    done
    git add -A >/dev/null
    git commit -q -s -m "$subject" -m "$body"
}

# Changes to QEMU the device needs, first: each stands on its own.
carried 0010-hw-xen-let-an-AioContext-poll-a-Xen-device-s-ring.patch
carried 0011-hw-block-xen-block-poll-the-ring-in-an-IOThread.patch
carried 0018-aio-posix-make-aio_set_fd_poll-public-again.patch
carried 0019-hw-xen-let-a-polled-Xen-device-leave-notifications-off.patch

# Cheaper requests for every device (measured with xen-pvscsi's bench).
carried 0012-coroutine-keep-the-local-pool-s-last-batch.patch
carried 0013-util-reuse-freed-per-request-allocations-per-thread.patch
carried 0014-scsi-disk-leave-the-medium-check-of-a-transfer-to-the-block.patch
carried 0015-scsi-disk-check-a-fixed-disk-s-medium-without-a-coroutine.patch
carried 0016-scsi-reuse-freed-requests-per-thread.patch
carried 0017-file-posix-read-page-cache-hits-without-the-thread-pool.patch
carried 0021-async-do-not-leave-notify_me-set-while-dispatching.patch
carried 0022-linux-aio-do-not-zero-ioq_submit-s-iocb-array-per-call.patch
carried 0023-scsi-no-checked-QOM-casts-per-request.patch
carried 0024-defer-call-do-not-reset-an-empty-array-at-every-section-end.patch
carried 0025-hw-xen-no-allocation-per-grant-copy-call.patch
carried 0026-aio-posix-fewer-clock-reads-per-pass.patch

# The device needs this one too; it changes code that 0014 changed.
carried 0020-scsi-let-an-HBA-give-its-data-buffer-as-host-memory.patch

commit "include/hw/xen: add the vscsiif (PV SCSI) protocol header" \
"The ring protocol of Xen's PV SCSI devices (structures, actions, result
codes, xenstore nodes), in the form QEMU keeps Xen's public io headers." \
    include/hw/xen/interface/io/vscsiif.h

commit "hw/scsi: add the xen-pvscsi request engine and its unit test" \
"Decoding and validation of vscsiif ring requests, SG-list windows and
response encoding, and what an ABORT or RESET covers, apart from any
device state so that it can be unit tested (and fuzzed) without Xen.
Every slot is copied once and treated as hostile: no assertion depends
on guest data." \
    include/hw/scsi/xen-pvscsi-proto.h hw/scsi/xen-pvscsi-proto.c \
    tests/unit/test-xen-pvscsi-proto.c \
    patches/0001-tests-unit-register-test-xen-pvscsi-proto.patch

commit "hw/scsi: xen-pvscsi dataplane: ring, requests, ABORT and RESET" \
"The ring of one PV SCSI vhost behind a small API in the shape of
xen-block's dataplane (create, destroy, start, stop): the device reads
xenstore and hands plain values. Requests are taken off the ring in
bounded batches, data moves by grant copy (direct segments, or indirect
SG pages with feature-sg-grant), and every request gets exactly one
response. A CDB whose data fits gets one of the dataplane's own
buffers as its iovec (SCSIBusInfo get_iov): the SCSI device moves all
of it with one block layer request on that memory, and the grant
copies of the CDBs that start or complete in one event loop pass go in
one call, with one push of the responses. An IOThread that polls polls
the ring. Grant copies and notifications go through a small transport
interface: Xen's, or a loopback one that lets the dataplane run without
Xen. ABORT cancels asynchronously; RESET lets outstanding commands
finish for a grace period, then cancels them and raises a unit
attention. A connection's requests live in a pool that a disconnect
detaches: nothing of an old connection reaches a later ring and no
disconnect waits for I/O.

Nothing uses the dataplane yet; the device follows." \
    hw/scsi/xen-pvscsi-dataplane.h hw/scsi/xen-pvscsi-dataplane-priv.h \
    hw/scsi/xen-pvscsi-dataplane.c hw/scsi/xen-pvscsi-cdb.c \
    hw/scsi/xen-pvscsi-tmf.c \
    patches/0002-hw-scsi-build-the-xen-pvscsi-dataplane.patch

commit "hw/scsi: xen-pvscsi LUN table, vscsi-devs protocol and hot-plug" \
"A LUN is a QEMU SCSI device on the vhost's bus plus its xenstore entry
vscsi-devs/dev-N. LUNs plugged by QEMU (-device, device_add) get the
lowest free dev-N and are announced like a toolstack would (vhost state
7, dev 1 -> 4); device_del waits for the guest to let go (dev 5 -> 6),
with a timeout and DEVICE_UNPLUG_GUEST_ERROR. A removal never drains a
LUN under the BQL: the device is unplugged once its last request has
ended." \
    hw/scsi/xen-pvscsi.h hw/scsi/xen-pvscsi-luns.c \
    patches/0003-hw-scsi-build-the-xen-pvscsi-lun-table.patch

commit "hw/scsi: xen-pvscsi LUNs written by a toolstack (qscsi)" \
"RFC: a toolstack adds a LUN by writing vscsi-devs/dev-N/{p-dev,v-dev,
state} under backend/qscsi/<domid>/<vhost>; this turns each p-dev
(h:c:t:l, naa.WWN:LUN, /dev node, image file, iSCSI URL) into the QEMU
SCSI device that serves it. Formats are never probed: what a guest
writes to its LUN must not decide how the host opens it." \
    hw/scsi/xen-pvscsi-backend.c \
    patches/0004-hw-scsi-build-the-xen-pvscsi-toolstack-luns.patch

commit "hw/scsi: add the xen-pvscsi device (Xen PV SCSI backend)" \
"A XenDevice (backend type qscsi, frontend type vscsi) that owns a SCSI
bus: a guest's unmodified xen-scsifront gets QEMU's scsi-hd, scsi-cd,
scsi-generic and scsi-block devices as LUNs. Properties: vhost,
feature-sg-grant, feature-host, iothread, unplug-timeout. A toolstack
creates a vhost by writing backend/qscsi/<domid>/<vhost>." \
    hw/scsi/xen-pvscsi.c \
    patches/0005-hw-scsi-build-the-xen-pvscsi-device.patch

if [ -f "$XPV_ROOT/tests/functional/test_x86_64_xen_pvscsi.py" ]; then
    commit "tests/functional: xen-pvscsi under real Xen, nested under TCG" \
"Boots Xen with a dom0 whose device model is the QEMU under test, gives a
PV guest a xen-pvscsi LUN, and checks from the console that the guest
sees it and reads back what it wrote. The Xen, kernel and initrd images
are local assets pinned by sha256; the test skips, saying why, when they
are absent. A second test would run under KVM's Xen emulation; it skips
when the host lacks KVM_CAP_XEN_HVM." \
        tests/functional/test_x86_64_xen_pvscsi.py \
        patches/0008-tests-functional-register-xen-pvscsi.patch
fi

commit "docs/system: document xen-pvscsi" \
"What the device is, its properties, command lines, LUN sources, the
xenstore protocol it speaks and its security rules." \
    docs/system/devices/xen-pvscsi.rst \
    patches/0006-docs-system-list-xen-pvscsi.patch

commit "MAINTAINERS: add an entry for xen-pvscsi" "" \
    patches/0007-MAINTAINERS-add-xen-pvscsi.patch

# Anything the project adds that the series above does not carry?
# (hw/scsi/xen-pvscsi-bench.c and patches/local-*: the project's native
# benchmark, make bench-native; not for upstream.)
missing=$(pgit ls-files -- hw include docs tests/unit tests/functional | grep -v -- '-bench\.c$' | while read -r f; do
    [ -f "$work/$f" ] && cmp -s "$XPV_ROOT/$f" "$work/$f" || echo "$f"; done)
[ -z "$missing" ] || xpv_die "files not in the series: $missing (add them to scripts/xen-pvscsi/format-patches.sh)"
unused=$(cd "$XPV_ROOT/patches" && for p in $(grep -v '^local-' series); do
    [[ "$applied" == *" $p "* ]] || echo "$p"; done)
[ -z "$unused" ] || xpv_die "patches not in the series: $unused"

rm -rf "$out"
mkdir -p "$out"
git format-patch -q --cover-letter -o "$out" "$base"..HEAD
cover=$(ls "$out"/0000-*.patch)
n=$(git rev-list --count "$base"..HEAD)
python3 - "$cover" "$n" <<'PYEOF'
import sys
p, n = sys.argv[1], sys.argv[2]
s = open(p).read()
s = s.replace('*** SUBJECT HERE ***', 'hw/scsi: xen-pvscsi, a Xen PV SCSI (vscsiif) backend')
s = s.replace('*** BLURB HERE ***', f'''This series adds xen-pvscsi, the backend of Xen's PV SCSI protocol
(vscsiif) as a QEMU device: a Xen guest running the unmodified Linux
xen-scsifront driver gets QEMU's scsi-hd, scsi-cd, scsi-generic and
scsi-block devices as LUNs (raw and qcow2 images, dom0 SCSI devices,
iSCSI through libiscsi), with QEMU's AIO and iothreads on the data path.
The only other vscsiif backend is the Linux kernel's xen-scsiback.

The {n} patches: three changes the device needs from QEMU and one that
xen-block gets from the first (polling a Xen device's ring in an
IOThread; xen-block using it; aio_set_fd_poll() public again, so that a
polled Xen device leaves the frontend's notifications off while
polled); six that make a request cheaper for every device (a coroutine
pool that stops allocating at queue depth 1, AIOCBs, iovec arrays and
one-shot bottom halves reused per thread, one redundant medium check
per SCSI transfer gone, a fixed disk's medium checked without a
coroutine, SCSI requests reused per thread, reads of data in the host's
page cache done without the thread pool, with an iotest); one more the
device needs (an HBA's data buffer in host memory given to the SCSI
device as an iovec, for one block layer request per command on the
device's own buffers without the DMA helpers);
the protocol header; the request engine with its unit
test; the dataplane (ring, grant copies, ABORT/RESET); the LUN table and
hot-plug; LUNs written by a toolstack (RFC: p-dev resolution policy);
the device; a functional test; docs; MAINTAINERS.

Tested (see the project's README for the commands): every patch builds
and passes the engine's unit test on its own (make check-series); the
whole series under real Xen 4.17 nested under TCG with a Linux 6.1 guest:
data integrity (fio verify) on scsi-hd, scsi-cd, scsi-generic,
scsi-block and iSCSI LUNs, LUN hot-plug, reconnects, ABORT/RESET under
load, a hostile frontend (bad requests, ring overflows, grant abuse),
an ASan/UBSan build, and a libFuzzer run over the engine.''')
open(p, 'w').write(s)
PYEOF
xpv_log "$(ls "$out" | wc -l) files in $out:"
ls "$out"
