#!/bin/bash
# Diagnostics: QD1 latency of xen-pvscsi vs xen-disk in one QEMU, with xen_pvscsi_* traces
# XE_DEFAULT=0
# XE_TIMEOUT=300
# fio randread 4k at iodepth 1 on a xen-pvscsi LUN and on a xen-disk (qdisk)
# served by the same QEMU from the same file, with the xen_pvscsi_* trace
# events logged (with timestamps) and copied to $XE_OUT/trace-latency.log, to see where
# the time of one request goes (ring -> complete -> notify -> next ring).
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

truncate -s 64M /tmp/lat.img
guest_script lat <<'EOF_GUEST'
xe_modprobe xen-scsifront xen-blkfront sd_mod sg
check devices-appear xe_wait_for 90 '[ -n "$(xe_blockdev 0:1:0)" ] && [ -b /dev/xvda ]' || { xe_diag; exit 1; }
P=$(xe_blockdev 0:1:0)
dd if=/dev/urandom of="$P" bs=1M count=32 oflag=direct 2>/dev/null
for d in "$P" /dev/xvda "$P"; do
    fio --name=l --filename="$d" --rw=randread --bs=4k --iodepth=1 --direct=1 \
        --ioengine=libaio --size=32M --runtime=${XE_LAT_RUNTIME:-5} --time_based \
        --output-format=terse --terse-version=3 --output=/tmp/l.out >/dev/null 2>&1
    xe_say "LAT $d: $(awk -F';' '{printf "iops %s lat_mean_us %s", $8, $40}' /tmp/l.out)"
    pass "fio-qd1-$(basename "$d")"
done
EOF_GUEST

domu_create lat --fat || exit 1
qemu_start lat -msg timestamp=on -D /tmp/trace-latency.log -trace 'xen_pvscsi_*' \
    -drive if=none,id=p0,file=/tmp/lat.img,format=raw,cache=none,aio=native,file.locking=off \
    -device xen-pvscsi,id=vs0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=p0 \
    -drive if=none,id=b0,file=/tmp/lat.img,format=raw,cache=none,aio=native,file.locking=off \
    -device xen-disk,vdev=xvda,drive=b0 || exit 1
domu_unpause lat || exit 1
domu_wait lat 240
qemu_stop lat
# (logged to dom0's RAM disk: a trace line per write over 9p costs
# milliseconds under TCG and would be the latency measured)
cp /tmp/trace-latency.log "$XE_OUT/"
