#!/bin/bash
# xen-pvscsi: frontend reconnects (xen-scsifront unbind/bind cycles), nothing leaked
# XE_TIMEOUT=480
# The guest detaches xen-scsifront from the vhost and probes it again,
# RECONNECT_CYCLES (3) times (the module itself cannot be unloaded while a
# vhost is bound: rmmod answers EAGAIN; unbind/bind runs the same remove
# and probe). Each time: the LUNs vanish, the backend follows the
# frontend to Closed and waits in InitWait with its LUNs back at state 1,
# QEMU holds no grant mapping; after the bind the LUNs return, the data
# written before the first unbind reads back unchanged and new writes
# verify. QEMU's fd count must not grow from cycle to cycle.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

CYCLES=${RECONNECT_CYCLES:-3}
xe_two_lun_images 64 48 || exit 1

guest_script reconnect <<'EOF_GUEST'
xe_modprobe xen-scsifront sd_mod sg
check luns-appear xe_wait_scsi 2 90 || { xe_diag; exit 1; }
RAW=$(xe_blockdev 0:1:0)
dd if=/dev/urandom of=/tmp/keep bs=1M count=8 2>/dev/null
check write-before-unbind dd if=/tmp/keep of="$RAW" bs=1M count=8 oflag=direct conv=fsync
KEEP=$(md5sum < /tmp/keep | cut -d' ' -f1)
i=1
while [ "$i" -le "$XE_CYCLES" ]; do
    check unbind-$i sh -c "echo vscsi-0 > /sys/bus/xen/drivers/vscsi/unbind"
    check_eq luns-gone-$i "$(xe_scsi_count)" 0
    xe_sync unbound-$i 120 || break
    check bind-$i sh -c "echo vscsi-0 > /sys/bus/xen/drivers/vscsi/bind"
    if ! check luns-back-$i xe_wait_scsi 2 60; then
        xe_diag 20
        break
    fi
    RAW=$(xe_blockdev 0:1:0)
    QCOW=$(xe_blockdev 0:2:0)
    check_eq data-kept-$i "$(dd if="$RAW" bs=1M count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)" "$KEEP"
    check rw-raw-$i xe_rw_verify "$RAW" 16 4 512K "oflag=direct iflag=direct"
    check rw-qcow2-$i xe_rw_verify "$QCOW" 8 4
    xe_sync bound-$i 120 || break
    i=$((i + 1))
done
xe_sync all-cycles 120
EOF_GUEST

domu_create reconnect XE_CYCLES="$CYCLES" || exit 1
qemu_start reconnect "${XE_TWO_LUNS[@]}" || exit 1
domu_unpause reconnect || exit 1
be=/local/domain/0/backend/qscsi/$DOMID
pid=${XE_QEMU_PID[reconnect]}
fds_first=""
for i in $(seq "$CYCLES"); do
    domu_sync reconnect "unbound-$i" 180 || break
    vh=$(xenstore-list "$be" | head -n 1)
    check_xs fe-closed-$i "/local/domain/$DOMID/device/vscsi/$vh/state" 6
    check_xs be-initwait-$i "$be/$vh/state" 2
    check_eq dev-states-initialising-$i \
        "$(for d in $(xenstore-list "$be/$vh/vscsi-devs"); do xs_read "$be/$vh/vscsi-devs/$d/state"; done | tr '\n' ' ')" "1 1 "
    check_eq no-grant-mapped-$i "$(grep -c gntdev "/proc/$pid/maps")" 0
    fds=$(ls "/proc/$pid/fd" | wc -l)
    xe_say "cycle $i: QEMU has $fds fds, RSS $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
    [ -n "$fds_first" ] || fds_first=$fds
    domu_release reconnect "unbound-$i"
    domu_sync reconnect "bound-$i" 180 || break
    check_vscsi_connected "cycle-$i-" qscsi "$DOMID"
    domu_release reconnect "bound-$i"
done
if [ -n "$fds_first" ]; then
    check_eq qemu-fds-not-growing "$fds" "$fds_first"
fi
domu_sync reconnect all-cycles 120 && domu_release reconnect all-cycles
domu_wait reconnect 120
qemu_stop reconnect
