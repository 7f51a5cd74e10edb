#!/bin/bash
# xen-pvscsi: two LUNs (raw + qcow2), SCSI commands, data, ext4, xenstore
# XE_TIMEOUT=420
# The project's device as a guest sees it: lsscsi addresses, INQUIRY /
# READ CAPACITY / REPORT LUNS / VPD, write+read-back (also >100 KiB per
# request, i.e. indirect grant pages), mkfs.ext4 + e2fsck, and the exact
# xenstore states of the vhost and its LUNs.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

RAW_MB=64
QCOW_MB=48
xe_two_lun_images "$RAW_MB" "$QCOW_MB" || exit 1

guest_script basic <<'EOF_GUEST'
xe_modprobe xen-scsifront sd_mod sg ext4
check luns-appear xe_wait_scsi 2 90 || { xe_diag; exit 1; }
xe_say "lsscsi: $(lsscsi | tr '\n' '|')"
check_sh lsscsi-0:1:0 "lsscsi | grep -Eq '^\[[0-9]+:0:1:0\] +disk +QEMU'"
check_sh lsscsi-0:2:0 "lsscsi | grep -Eq '^\[[0-9]+:0:2:0\] +disk +QEMU'"
check_eq lun-count "$(xe_scsi_count)" 2
check_eq scsi-host-name "$(cat /sys/class/scsi_host/host$(xe_hctl 0:1:0 | cut -d: -f1)/proc_name)" scsifront
check_ge sg-tablesize "$(cat /sys/class/scsi_host/host$(xe_hctl 0:1:0 | cut -d: -f1)/sg_tablesize)" 128
RAW=$(xe_blockdev 0:1:0)
QCOW=$(xe_blockdev 0:2:0)
SG1=$(xe_sgdev 0:1:0)
xe_say "raw LUN $RAW ($SG1), qcow2 LUN $QCOW"
check_sh sg_inq "sg_inq $SG1 | grep -q 'Vendor identification: QEMU'"
check_sh sg_inq-pdt-disk "sg_inq $SG1 | grep -Eq 'PDT=0 |Peripheral device type: disk'"
check_eq sg_readcap-raw "$(sg_readcap $RAW | sed -n 's/.*Device size: \([0-9]*\) bytes.*/\1/p')" "$RAW_BYTES"
check_eq sg_readcap-qcow2 "$(sg_readcap $QCOW | sed -n 's/.*Device size: \([0-9]*\) bytes.*/\1/p')" "$QCOW_BYTES"
check_eq blockdev-size-raw "$(blockdev --getsize64 $RAW)" "$RAW_BYTES"
check_sh sg_luns "sg_luns $SG1 | grep -Eq 'Lun list length = [0-9]+'"
check_sh sg_vpd-supported "sg_vpd $SG1 | grep -qi 'Supported VPD pages'"
check_sh sg_vpd-serial "sg_vpd -p sn $SG1 | grep -q 'XPV-RAW-0001'"
check_sh sg_vpd-devid "sg_vpd -p di $SG1 >/dev/null"
check sg_turs sg_turs $SG1
check data-md5-raw xe_rw_verify "$RAW" 8 8
check data-md5-qcow2 xe_rw_verify "$QCOW" 8 8
check data-md5-raw-512k-direct xe_rw_verify "$RAW" 24 16 512K "oflag=direct iflag=direct"
check data-md5-qcow2-512k-direct xe_rw_verify "$QCOW" 24 16 512K "oflag=direct iflag=direct"
check_ge max-sectors-kb "$(cat /sys/block/${RAW#/dev/}/queue/max_sectors_kb)" 256
check mkfs.ext4 mkfs.ext4 -q -F "$QCOW"
check e2fsck-clean e2fsck -fn "$QCOW"
mkdir -p /mnt
if check mount-ext4 mount -t ext4 "$QCOW" /mnt; then
    dd if=/dev/urandom of=/tmp/f bs=1M count=4 2>/dev/null
    cp /tmp/f /mnt/f && sync
    umount /mnt && mount -t ext4 "$QCOW" /mnt
    check_eq file-md5 "$(md5sum < /mnt/f)" "$(md5sum < /tmp/f)"
    umount /mnt
    check e2fsck-clean-after-write e2fsck -fn "$QCOW"
fi
xe_sync checked 120
EOF_GUEST

domu_create basic RAW_BYTES=$((RAW_MB << 20)) QCOW_BYTES=$((QCOW_MB << 20)) || exit 1
qemu_start basic \
    -drive if=none,id=d0,file=/tmp/disk0.img,format=raw,cache=none,aio=native \
    -drive if=none,id=d1,file=/tmp/disk1.qcow2,format=qcow2,cache=none,aio=native \
    -device xen-pvscsi,id=vs0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0,serial=XPV-RAW-0001 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=2,lun=0,drive=d1 || exit 1
domu_unpause basic || exit 1
if domu_sync basic checked 240; then
    check_vscsi_connected "" qscsi "$DOMID"
    be=/local/domain/0/backend/qscsi/$DOMID
    vh=$(xenstore-list "$be" | head -n 1)
    check_ge xs-feature-sg-grant "$(xs_read "$be/$vh/feature-sg-grant")" 128
    check_eq xs-vscsi-devs-count "$(xenstore-list "$be/$vh/vscsi-devs" | wc -l)" 2
    check_eq xs-v-devs "$(for d in $(xenstore-list "$be/$vh/vscsi-devs"); do xs_read "$be/$vh/vscsi-devs/$d/v-dev"; done | sort | tr '\n' ' ')" "$vh:0:1:0 $vh:0:2:0 "
    check_xs xs-frontend-state "/local/domain/$DOMID/device/vscsi/$vh/state" 4
    domu_release basic checked
fi
domu_wait basic 180
qemu_stop basic
