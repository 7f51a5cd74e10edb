#!/bin/bash
# xen-pvscsi: LUN resets (sg_reset -d) while fio verify has commands queued
# XE_TIMEOUT=420
# fio writes with verify=crc32c at iodepth 16; two device resets land while
# its commands are in flight (the TMF trace shows how many the backend
# waited for); fio must finish and verify clean, and the LUN keeps working.
# QEMU logs the TMF trace events to $XE_OUT/trace-reset.log.
# The guest has 2 vCPUs: a 1-vCPU Linux 6.1 guest spins at 100 % CPU after
# the second such reset, deaf even to sysrq, with this backend and with the
# kernel's xen-scsiback alike (the backend had answered every request).
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

truncate -s 96M /tmp/disk0.img
guest_script reset <<'EOF_GUEST'
XE_CHECK_TIMEOUT=90
xe_modprobe xen-scsifront sd_mod sg
check luns-appear xe_wait_scsi 1 90 || { xe_diag; exit 1; }
RAW=$(xe_blockdev 0:1:0)
SG=$(xe_sgdev 0:1:0)
for round in 1 2; do
    fio --name=reset --filename="$RAW" --rw=randwrite --bs=64k --iodepth=16 \
        --size=48M --ioengine=libaio --direct=1 --verify=crc32c \
        --verify_fatal=1 --do_verify=1 --output=/tmp/fio-$round.out > /dev/null 2>&1 &
    fio_pid=$!
    sleep 3
    check sg_reset-during-fio-$round-a sg_reset -d "$SG"
    sleep 1
    check sg_reset-during-fio-$round-b sg_reset -d "$SG"
    check fio-$round-finishes xe_wait_for 180 "! _xe_running $fio_pid"
    wait "$fio_pid"
    check_eq fio-$round-exit "$?" 0
    check_sh fio-$round-verify-clean "! grep -q 'verify: bad\|bad magic\|err=[ ]*[1-9]' /tmp/fio-$round.out"
    xe_say "round $round: $(grep -E '^ +(read|write):' /tmp/fio-$round.out | tr -s ' ' | tr '\n' ' ')"
done
# A reset that lands after fio's last command leaves its unit attention
# for the next command: the first TEST UNIT READY either passes (fio
# consumed it) or reports exactly that UA (sg_turs exit 6, 29/00); the
# second one must pass.
ua_out=$(sg_turs "$SG" 2>&1)
ua_rc=$?
xe_say "first TUR after the resets: exit $ua_rc $(echo "$ua_out" | tr '\n' ' ')"
ua_ok="exit $ua_rc"
if [ "$ua_rc" = 0 ] || { [ "$ua_rc" = 6 ] &&
        echo "$ua_out" | grep -q 'Power on, reset, or bus device reset occurred'; }; then
    ua_ok=ok
fi
check_eq first-tur-ok-or-reset-ua "$ua_ok" ok
check sg_turs-after sg_turs "$SG"
check data-md5-after xe_rw_verify "$RAW" 64 8
xe_diag 40
EOF_GUEST

domu_create reset --fat --vcpus "${RESET_VCPUS:-2}" || exit 1
qemu_start reset -msg timestamp=on -D "$XE_OUT/trace-reset.log" \
    -trace 'xen_pvscsi_tmf*' -trace xen_pvscsi_cancel \
    -drive if=none,id=d0,file=/tmp/disk0.img,format=raw,cache=none,aio=native \
    -device xen-pvscsi,id=vs0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0 || exit 1
domu_unpause reset || exit 1
domu_wait reset 300
qemu_stop reset
