#!/bin/bash
# xen-pvscsi under fio verify: bs x pattern x depth on raw and qcow2, LUN reset
# XE_TIMEOUT=900
# fio (verify=crc32c, verify_fatal) for bs 4k/64k/1M, write-then-verify
# and randrw with a verify backlog, iodepth 1 and 16, on a raw and a qcow2
# LUN; LUN resets (sg_reset -d) between writing and verifying. Frontend
# reconnects are pvscsi-reconnect's.
# XE_FIO_QUICK=1 runs a reduced matrix.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

xe_two_lun_images 96 96 || exit 1

guest_script fio <<'EOF_GUEST'
xe_modprobe xen-scsifront sd_mod sg
check luns-appear xe_wait_scsi 2 90 || { xe_diag; exit 1; }
RAW=$(xe_blockdev 0:1:0)
QCOW=$(xe_blockdev 0:2:0)
xe_say "raw $RAW, qcow2 $QCOW"

# fio_verify NAME DEV RW BS QD SIZE [extra fio args]: one verify job.
fio_verify() {
    _name=$1 _dev=$2 _rw=$3 _bs=$4 _qd=$5 _size=$6
    shift 6
    _t0=$(xe_up)
    rm -f /tmp/fio.out
    if fio --name="$_name" --filename="$_dev" --rw="$_rw" --bs="$_bs" \
           --iodepth="$_qd" --size="$_size" --ioengine=libaio --direct=1 \
           --verify=crc32c --verify_fatal=1 --do_verify=1 "$@" \
           --output=/tmp/fio.out > /dev/null 2>&1 &&
       ! grep -q 'verify: bad\|bad magic\|err=[ ]*[1-9]' /tmp/fio.out; then
        pass "$_name"
        xe_say "$_name: $(awk -v s="$_t0" -v e="$(xe_up)" 'BEGIN {printf "%.1f s", e - s}') $(grep -E '^ +(read|write):' /tmp/fio.out | sed 's/(.*//' | tr -s ' ' | tr '\n' ' ')"
    else
        fail "$_name" "$(grep -i -m 3 -E 'verify|error|err=' /tmp/fio.out | xe_oneline)"
        xe_diag 10
    fi
}

if [ "${XE_FIO_QUICK:-0}" = 1 ]; then
    MATRIX="64k:16M"
    DEPTHS="16"
else
    MATRIX="4k:4M 64k:16M 1M:32M"   # sizes at iodepth 16; half at iodepth 1
    DEPTHS="1 16"
fi
for lun in raw qcow2; do
    [ $lun = raw ] && dev=$RAW || dev=$QCOW
    for m in $MATRIX; do
        bs=${m%%:*} size=${m#*:}
        for qd in $DEPTHS; do
            sz=$size
            [ "$qd" = 1 ] && sz="$((${size%M} / 2))M"
            fio_verify "fio-$lun-write-verify-$bs-qd$qd" "$dev" write "$bs" "$qd" "$sz"
            fio_verify "fio-$lun-randrw-verify-$bs-qd$qd" "$dev" randrw "$bs" "$qd" "$sz" \
                --offset=48M --verify_backlog=64
        done
    done
done

# LUN reset between verify runs: fio writes a verified pattern, the LUN is
# reset twice (the RESET answers only after the LUN's outstanding commands,
# then a RESET unit attention follows), and the pattern still verifies.
# (Resets while fio has commands queued are pvscsi-reset's, with a 2-vCPU
# guest: this 1-vCPU 6.1 guest livelocks there, with xen-scsiback too.)
SG=$(xe_sgdev 0:1:0)
check fio-write-before-reset fio --name=reset --filename="$RAW" --rw=randwrite --bs=64k \
    --iodepth=16 --size=48M --ioengine=libaio --direct=1 --verify=crc32c \
    --verify_fatal=1 --do_verify=0 --output=/tmp/fio-reset.out
check sg_reset-device sg_reset -d "$SG"
check sg_reset-device-2 sg_reset -d "$SG"
check fio-verify-only-after-reset fio --name=reset --filename="$RAW" --rw=randwrite --bs=64k \
    --iodepth=16 --size=48M --ioengine=libaio --direct=1 --verify=crc32c \
    --verify_fatal=1 --verify_only --output=/tmp/fio-reverify.out
check sg_turs-after-reset sg_turs "$SG"

xe_sync checked 120
EOF_GUEST

domu_create fio --fat || exit 1
qemu_start fio "${XE_TWO_LUNS[@]}" || exit 1
domu_unpause fio || exit 1
be=/local/domain/0/backend/qscsi/$DOMID
if domu_sync fio checked 480 240; then
    vh=$(xenstore-list "$be" | head -n 1)
    check_xs xs-state-after-fio "$be/$vh/state" 4
    domu_release fio checked
fi
domu_wait fio 60
qemu_stop fio
