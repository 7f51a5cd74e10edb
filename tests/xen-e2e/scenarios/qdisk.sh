#!/bin/bash
# The project's QEMU in dom0 serving QEMU's own xen-block (xen-disk, qdisk)
# XE_TIMEOUT=300
# Proves that the project's QEMU runs in dom0 as a Xen PV backend,
# independently of xen-pvscsi.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

SIZE_MB=96
truncate -s ${SIZE_MB}M /tmp/disk1.img

guest_script qd <<'EOF_GUEST'
xe_modprobe xen-blkfront
check xvda-appears xe_wait_for 60 '[ -b /dev/xvda ]' || { xe_diag; exit 1; }
check_eq xvda-size "$(blockdev --getsize64 /dev/xvda)" "$DISK_BYTES"
check data-md5 xe_rw_verify /dev/xvda 16 8
check data-md5-direct xe_rw_verify /dev/xvda 40 8 512K "oflag=direct iflag=direct"
xe_sync checked 120
EOF_GUEST

domu_create qd DISK_BYTES=$((SIZE_MB << 20)) || exit 1
qemu_start qd -drive if=none,id=d0,file=/tmp/disk1.img,format=raw,cache=none,aio=native \
    -device xen-disk,vdev=xvda,drive=d0 || exit 1
domu_unpause qd || exit 1
if domu_sync qd checked 150; then
    be=/local/domain/0/backend/qdisk/$DOMID
    v=$(xenstore-list "$be" 2>/dev/null | head -n 1)
    check_xs xs-qdisk-state "$be/$v/state" 4
    domu_release qd checked
fi
domu_wait qd 120
qemu_stop qd
