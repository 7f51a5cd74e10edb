#!/bin/bash
# Demo (demo.sh): a guest gets a qcow2-backed xen-pvscsi disk, makes ext4 on it, writes and reads a file
# XE_TIMEOUT=420
# XE_DEFAULT=0
# Lines "DEMO: ..." (dom0 and guest) are collected into $XE_OUT/demo.txt,
# which demo.sh prints. With XE_SHELL=1 (DEMO_SHELL=1) the guest and its
# QEMU stay up: "xl console demo" in dom0 reaches the guest's shell.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

check qcow2-create "$XE_QEMU_IMG" create -q -f qcow2 /tmp/demo.qcow2 256M || exit 1
echo "DEMO: dom0: $(uname -sr), $(grep -E '^xen_version' "$XE_OUT/xl-info.txt" | tr -s ' ')"
echo "DEMO: dom0: qemu-img info: $("$XE_QEMU_IMG" info /tmp/demo.qcow2 | grep -E 'file format|virtual size' | tr '\n' ' ')"

guest_script demo <<'EOF_GUEST'
say() { echo "DEMO: guest: $*"; }
xe_modprobe xen-scsifront sd_mod sg ext4
check disk-appears xe_wait_scsi 1 90 || { xe_diag; exit 1; }
say "kernel $(uname -r), frontend: $(cat /sys/class/scsi_host/host*/proc_name | head -n 1)"
lsscsi | while read -r l; do say "lsscsi: $l"; done
DEV=$(xe_blockdev 0:1:0)
xe_sync attached 60
say "disk $DEV: $(blockdev --getsize64 "$DEV") bytes"
check mkfs.ext4 mkfs.ext4 -q -F -L xpv-demo "$DEV" && say "mkfs.ext4 -L xpv-demo $DEV: done"
mkdir -p /mnt
check mount mount -t ext4 "$DEV" /mnt || exit 1
dd if=/dev/urandom of=/mnt/hello.bin bs=1M count=16 2>/dev/null
echo "Hello from a Xen PV guest on xen-pvscsi" > /mnt/hello.txt
SUM=$(md5sum < /mnt/hello.bin | cut -d' ' -f1)
sync
umount /mnt
echo 3 > /proc/sys/vm/drop_caches
check remount mount -t ext4 "$DEV" /mnt
check_eq file-md5 "$(md5sum < /mnt/hello.bin | cut -d' ' -f1)" "$SUM"
check_eq file-text "$(cat /mnt/hello.txt)" "Hello from a Xen PV guest on xen-pvscsi"
say "wrote /mnt/hello.bin (16 MiB), unmounted, dropped caches, mounted again: md5 $(md5sum < /mnt/hello.bin | cut -d' ' -f1) (written: $SUM)"
df -h /mnt | tail -n 1 | while read -r l; do say "df: $l"; done
umount /mnt
check e2fsck-clean e2fsck -fn "$DEV"
EOF_GUEST

shell=0
[ "${XE_SHELL:-0}" = 1 ] && shell=1
domu_create demo XE_GUEST_SHELL=$shell || exit 1
qemu_start demo \
    -drive if=none,id=d0,file=/tmp/demo.qcow2,format=qcow2,cache=none,aio=native \
    -device xen-pvscsi,id=vs0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0 || exit 1
echo "DEMO: dom0: QEMU: $(head -n 1 "$XE_OUT/qemu-demo.log" | cut -c3-)"
domu_unpause demo || exit 1
be=/local/domain/0/backend/qscsi/$DOMID
if domu_sync demo attached 180; then
    for v in $(xenstore-list "$be" 2>/dev/null); do
        echo "DEMO: dom0: xenstore $be/$v: state $(xs_read "$be/$v/state"), feature-sg-grant $(xs_read "$be/$v/feature-sg-grant"), LUN $(xs_read "$be/$v/vscsi-devs/dev-0/v-dev") state $(xs_read "$be/$v/vscsi-devs/dev-0/state") (4 = connected)"
    done
    domu_release demo attached
fi
domu_wait demo 300
{ grep -h '^DEMO: ' "$XE_OUT/scenario.log" 2>/dev/null
  tr -d '\r' < "$(domu_console demo)" | grep -o 'DEMO: .*'; } > "$XE_OUT/demo.txt"
if [ "$shell" = 1 ]; then
    trap - EXIT   # keep the guest's QEMU running
    echo
    echo "=== dom0 shell: 'xl console demo' opens the guest's shell (Ctrl-] leaves it)."
    echo "=== 'xe-exit' stops the whole VM."
fi
