#!/bin/bash
# xen-pvscsi with iothread=: ring and block I/O in an iothread; data, fio verify, reset, reconnect
# Ring processing and the LUNs' block I/O in an I/O thread: data
# integrity, fio verify, a LUN reset and a frontend reconnect (the ring and
# event channel are set up again in the iothread). The thread polls for up
# to 2 ms (poll-max-ns: QEMU's 32 us default is shorter than most of a
# TCG guest's gaps, so the ring would hardly ever be polled here): while
# polled, the ring asks the frontend for no notification, and re-arms
# req_event when polling ends (trace xen_pvscsi_poll_end, counted); all of
# the above then runs with requests found by polling, none lost.
# XE_TIMEOUT=600
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

xe_two_lun_images 64 64 || exit 1

guest_script io <<'EOF_GUEST'
xe_modprobe xen-scsifront sd_mod sg
check luns-appear xe_wait_scsi 2 90 || { xe_diag; exit 1; }
RAW=$(xe_blockdev 0:1:0)
QCOW=$(xe_blockdev 0:2:0)
check data-md5-raw xe_rw_verify "$RAW" 0 8 512K "oflag=direct iflag=direct"
check data-md5-qcow2 xe_rw_verify "$QCOW" 0 8
for dev in "$RAW" "$QCOW"; do
    n=$(basename "$dev")
    check "fio-randrw-verify-$n" fio --name=v --filename="$dev" --rw=randrw --bs=64k \
        --iodepth=16 --size=16M --offset=16M --ioengine=libaio --direct=1 \
        --verify=crc32c --verify_fatal=1 --verify_backlog=32 --output=/tmp/fio.out
done
check sg_reset-idle sg_reset -d "$(xe_sgdev 0:1:0)"
check data-md5-after-reset xe_rw_verify "$RAW" 8 4
check unbind-scsifront sh -c "echo vscsi-0 > /sys/bus/xen/drivers/vscsi/unbind"
check_eq luns-gone-after-unbind "$(xe_scsi_count)" 0
check bind-scsifront sh -c "echo vscsi-0 > /sys/bus/xen/drivers/vscsi/bind"
check luns-back-after-bind xe_wait_scsi 2 60
check data-md5-raw-after-reconnect xe_rw_verify "$(xe_blockdev 0:1:0)" 16 8 512K "oflag=direct iflag=direct"
check data-md5-qcow2-after-reconnect xe_rw_verify "$(xe_blockdev 0:2:0)" 16 8
EOF_GUEST

domu_create io --fat || exit 1
qemu_start io -object iothread,id=io0,poll-max-ns=2000000 \
    -D /tmp/trace-io.log -trace xen_pvscsi_poll_end \
    -drive if=none,id=d0,file=/tmp/disk0.img,format=raw,cache=none,aio=native \
    -drive if=none,id=d1,file=/tmp/disk1.qcow2,format=qcow2,cache=none,aio=io_uring \
    -device xen-pvscsi,id=vs0,iothread=io0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=2,lun=0,drive=d1 || exit 1
out=$(xe_qmp io '{"execute":"query-iothreads"}')
check_match iothread-exists "$out" '"id": *"io0"'
domu_unpause io || exit 1
domu_wait io 480
check qemu-alive qemu_alive io
# Polling ended (and armed req_event again) during the guest's I/O
n=$(grep -c xen_pvscsi_poll_end /tmp/trace-io.log 2>/dev/null)
check_ge poll-end-rearmed "${n:-0}" 1 "xen_pvscsi_poll_end trace lines"
xe_say "iothread: polling of the ring ended (req_event armed again) ${n:-0} times"
