#!/bin/bash
# xen-pvscsi passthrough of dom0 scsi_debug LUNs: scsi-generic, scsi-block, raw commands, injected medium errors, feature-host
# XE_TIMEOUT=420
# dom0's scsi_debug (4 LUNs on one store, medium errors injected at LBA
# 4660..4669) serves the guest through the project's QEMU:
#   0:1:0  scsi-generic on LUN 0's /dev/sgN
#   0:2:0  scsi-block on LUN 1's /dev/sdX
#   0:3:0  LUN 2 by h:c:t:l, attached with xen-vscsi to a vhost with
#          feature-host=1 (passthrough: scsi-generic)
#   0:4:0  LUN 3 by h:c:t:l, attached to a vhost with feature-host=0
#          (emulation: scsi-hd over its block node)
# Checks: the guest sees scsi_debug's INQUIRY (not QEMU's); REPORT
# SUPPORTED OPERATION CODES, which QEMU does not emulate, returns the same
# bytes as sg_raw on the sg node in dom0; a READ of an injected bad LBA
# returns exactly dom0's sg_raw output (MEDIUM ERROR, 0x11/0x00) and an EIO
# through sd; fio verify on the scsi-block LUN; feature-host=0 gives QEMU's
# emulation of the same store.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

CLI=${XE_VSCSI:-/xe/bin/xen-vscsi}
export XEN_VSCSI_TIMEOUT=90
MERR_LBA=4660   # scsi_debug's default medium_error_start (0x1234)

# (dom0 has no udev: load the upper-level drivers before the device)
check modprobe-sd-sg modprobe -a sd_mod sg || exit 1
check modprobe-scsi_debug modprobe scsi_debug dev_size_mb=64 max_luns=4 \
    opts=2 medium_error_start=$MERR_LBA medium_error_count=10 || exit 1
H=$(scsi_debug_host 0:0:3/block)
node() { local n; n=$(ls "/sys/bus/scsi/devices/$1/$2" 2>/dev/null | head -n 1); [ -n "$n" ] && echo "/dev/$n"; }
SGA=$(node "$H:0:0:0" scsi_generic)
SDB=$(node "$H:0:0:1" block)
xe_say "scsi_debug host $H: LUN 0 $SGA, LUN 1 $SDB; $(lsscsi 2>&1 | grep scsi_debug | tr '\n' '|')"
check scsi_debug-nodes test -c "$SGA" -a -b "$SDB" -a -b "$(node "$H:0:0:3" block)" || exit 1

# Reference answers, straight from dom0's sg node.
RSOC_CDB="a3 0c 00 00 00 00 00 00 10 00 00 00"
READ_CDB="28 00 00 00 $(printf '%02x %02x' $((MERR_LBA >> 8)) $((MERR_LBA & 255))) 00 00 01 00"
# shellcheck disable=SC2086
check dom0-sg_raw-rsoc sg_raw -r 4096 -o /tmp/rsoc.bin "$SGA" $RSOC_CDB || exit 1
RSOC_LEN=$(wc -c < /tmp/rsoc.bin)
RSOC_MD5=$(md5sum < /tmp/rsoc.bin | cut -d' ' -f1)
# shellcheck disable=SC2086
MERR_OUT=$(sg_raw -r 512 "$SGA" $READ_CDB 2>&1)
MERR_RC=$?
xe_say "dom0: RSOC $RSOC_LEN bytes md5 $RSOC_MD5; READ of LBA $MERR_LBA: rc $MERR_RC: $(echo "$MERR_OUT" | xe_oneline)"
check_match dom0-medium-error "$MERR_OUT" 'Sense key: Medium Error' || exit 1

guest_script pt <<'EOF_GUEST'
xe_modprobe xen-scsifront sd_mod sg
check luns-appear xe_wait_scsi 2 90 || { xe_diag; exit 1; }
xe_say "lsscsi: $(lsscsi | tr '\n' '|')"
SGA=$(xe_sgdev 0:1:0)
BLKA=$(xe_blockdev 0:1:0)
SGB=$(xe_sgdev 0:2:0)
BLKB=$(xe_blockdev 0:2:0)
xe_say "scsi-generic $SGA $BLKA, scsi-block $SGB $BLKB"
for l in 1 2; do
    [ $l = 1 ] && { sg=$SGA; n=generic; } || { sg=$SGB; n=block; }
    check_sh "lsscsi-$n" "lsscsi | grep -Eq '^\[[0-9]+:0:$l:0\] +disk +Linux +scsi_debug '"
    check_sh "sg_inq-$n-vendor" "sg_inq $sg | grep -q 'Vendor identification: Linux'"
    check_sh "sg_inq-$n-product" "sg_inq $sg | grep -q 'Product identification: scsi_debug'"
    # REPORT SUPPORTED OPERATION CODES: answered by scsi_debug, byte for byte.
    # shellcheck disable=SC2086
    check "sg_raw-rsoc-$n" sg_raw -r 4096 -o "/tmp/rsoc-$n.bin" "$sg" $RSOC_CDB
    check_eq "rsoc-$n-length" "$(wc -c < "/tmp/rsoc-$n.bin")" "$RSOC_LEN"
    check_eq "rsoc-$n-md5" "$(md5sum < "/tmp/rsoc-$n.bin" | cut -d' ' -f1)" "$RSOC_MD5"
    # READ(10) of an injected bad LBA: status, sense key and ASC/ASCQ as in dom0.
    # shellcheck disable=SC2086
    out=$(sg_raw -r 512 "$sg" $READ_CDB 2>&1)
    check_eq "medium-error-$n-exit" "$?" "$MERR_RC"
    check_match "medium-error-$n-sense" "$out" 'Sense key: Medium Error'
    check_match "medium-error-$n-asc" "$out" 'Additional sense: Unrecovered read error'
    check_eq "medium-error-$n-as-dom0" "$out" "$MERR_OUT"
done
# The same error through sd: EIO, and the kernel logs the device's sense.
dmesg -c > /dev/null
check_sh dd-bad-lba-eio "! dd if=$BLKA of=/dev/null bs=512 skip=$MERR_LBA count=1 iflag=direct 2>/dev/null"
check_sh kmsg-medium-error "dmesg | grep -q 'Sense Key : Medium Error'"
check_sh kmsg-unrecovered-read "dmesg | grep -q 'Add. Sense: Unrecovered read error'"
check dd-good-lba dd if="$BLKA" of=/dev/null bs=512 skip=$((MERR_LBA + 10)) count=8 iflag=direct

# fio verify on the scsi-block LUN (clear of the bad LBAs at 2.3 MiB).
check fio-block-write-verify fio --name=w --filename="$BLKB" --rw=write --bs=64k \
    --iodepth=16 --offset=8M --size=16M --ioengine=libaio --direct=1 \
    --verify=crc32c --verify_fatal=1 --output=/tmp/fio1.out
check fio-block-randrw-verify fio --name=r --filename="$BLKB" --rw=randrw --bs=4k \
    --iodepth=8 --offset=32M --size=8M --ioengine=libaio --direct=1 \
    --verify=crc32c --verify_fatal=1 --verify_backlog=64 --output=/tmp/fio2.out
check data-md5-block xe_rw_verify "$BLKB" 48 4 512K "oflag=direct iflag=direct"
dd if="$BLKB" of=/tmp/store.bin bs=1M skip=8 count=1 iflag=direct 2>/dev/null
xe_sync attach 120

# feature-host=1 (vhost 1): passthrough; feature-host=0 (vhost 2): emulation.
check host-luns-appear xe_wait_for 90 '[ -n "$(xe_sgdev 0:3:0)" ] && [ -n "$(xe_blockdev 0:4:0)" ]'
SGH=$(xe_sgdev 0:3:0)
SGE=$(xe_sgdev 0:4:0)
BLKE=$(xe_blockdev 0:4:0)
xe_say "after attach: $(lsscsi | tr '\n' '|')"
check_sh feature-host-1-inq "sg_inq $SGH | grep -q 'Product identification: scsi_debug'"
# shellcheck disable=SC2086
check feature-host-1-rsoc sg_raw -r 4096 -o /tmp/rsoc-h.bin "$SGH" $RSOC_CDB
check_eq feature-host-1-rsoc-md5 "$(md5sum < /tmp/rsoc-h.bin | cut -d' ' -f1)" "$RSOC_MD5"
check_sh feature-host-0-inq-vendor "sg_inq $SGE | grep -q 'Vendor identification: QEMU'"
check_sh feature-host-0-inq-product "sg_inq $SGE | grep -q 'Product identification: QEMU HARDDISK'"
# QEMU's emulation does not implement REPORT SUPPORTED OPERATION CODES.
# shellcheck disable=SC2086
check_sh feature-host-0-rsoc-illegal "sg_raw -r 4096 $SGE $RSOC_CDB 2>&1 | grep -q 'Illegal Request'"
# ...but it serves the same scsi_debug store: what fio wrote through 0:2:0.
check_eq feature-host-0-same-store "$(dd if="$BLKE" bs=1M skip=8 count=1 iflag=direct 2>/dev/null | md5sum)" "$(md5sum < /tmp/store.bin)"
xe_sync checked 120
EOF_GUEST

domu_create pt --fat RSOC_CDB="$RSOC_CDB" READ_CDB="$READ_CDB" RSOC_LEN="$RSOC_LEN" \
    RSOC_MD5="$RSOC_MD5" MERR_OUT="$MERR_OUT" MERR_RC="$MERR_RC" MERR_LBA="$MERR_LBA" || exit 1
qemu_start pt \
    -drive "file=$SGA,if=none,id=pa,format=raw" \
    -drive "file=$SDB,if=none,id=pb,format=raw,cache=none" \
    -device xen-pvscsi,id=vs0 \
    -device scsi-generic,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=pa \
    -device scsi-block,bus=vs0.0,channel=0,scsi-id=2,lun=0,drive=pb || exit 1
domu_unpause pt || exit 1
BE=/local/domain/0/backend/qscsi/$DOMID
if domu_sync pt attach 300 180; then
    check_vscsi_connected "" qscsi "$DOMID"
    check vscsi-attach-feature-host "$CLI" attach "$DOMID" "$H:0:0:2" 1:0:3:0,feature-host
    check vscsi-attach-emulated "$CLI" attach "$DOMID" "$H:0:0:3" 2:0:4:0
    check_eq xs-feature-host-1 "$(xs_read "$BE/1/feature-host")" 1
    check_eq xs-feature-host-0 "$(xs_read "$BE/2/feature-host")" 0
    domu_release pt attach
    if domu_sync pt checked 180 120; then
        check_sh list-both "'$CLI' list $DOMID | grep -q ' 1:0:3:0 ' && '$CLI' list $DOMID | grep -q ' 2:0:4:0 '"
        domu_release pt checked
    fi
fi
domu_wait pt 120
qemu_stop pt
