#!/bin/bash
# issue 15, frontend side: xen-scsifront with multi-page rings (contrib/linux 0002) vs backends without them
# XE_TIMEOUT=900
# XE_DEFAULT=0
# XE_LINUX_MODULES=multipage
# The pairs that need no backend change. One boot, two PV guests one after
# the other, each with a kernel xen-scsiback LUN (LIO fileio, vhost 9,
# 0:0:0) and a xen-pvscsi LUN (scsi-hd on a raw file, vhost 0, 0:1:0):
#   mps  the guest kernel's own xen-scsifront (the baseline)
#   mpp  xen-scsifront with contrib/linux 0001 + 0002, built for the guest
#        kernel by contrib/linux/build-module.sh (max_ring_page_order 4)
# Neither backend advertises max-ring-page-order (checked), so both
# frontends use one page on both vhosts: the frontend directory holds
# exactly backend, backend-id, event-channel, ring-ref, state, vscsi-devs
# (no ring-page-order, no ring-ref%u); the guest reports can_queue 16,
# cmd_per_lun 10 and a LUN queue depth of 10; fio verify (crc32c, iodepth
# 32, more than the ring holds) is clean on both LUNs. The patched
# frontend's LUN queue depth can be set through sysfs up to can_queue
# (16 on the xen-pvscsi LUN for its fio run), the stock one's not at all.
# mpp also has a xen-pvscsi vhost 1 (LUN 0:2:0) into whose backend
# directory dom0 writes max-ring-page-order = 2: the frontend's half of a
# 4-page ring (ring-page-order 2, ring-ref0..3 and no ring-ref, frontend
# Initialised, can_queue 64, cmd_per_lun 40); a xen-pvscsi without
# multi-page rings (the frozen binary of 05:03) cannot connect it (state 3),
# one with them (bb1fccd) does (state 4). Then mpp unbinds vhosts 0 and 1 (ring-page-order and
# ring-ref0..3 are removed, ring-ref stays), dom0 lowers vhost 1's
# max-ring-page-order to 1, and mpp binds both again: vhost 0 reconnects
# with one page (its LUN and data back, can_queue 16), vhost 1
# renegotiates 2 pages (ring-page-order 1, ring-ref0..1, can_queue 32,
# cmd_per_lun 20).
# A xen-pvscsi that has a max-ring-page-order property gets
# max-ring-page-order=0 on vhost 0 here, to keep that pair as it is today.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

WWN=naa.6001405000000001
PV_OFF=""
if "$XE_QEMU" -device xen-pvscsi,help 2>/dev/null | grep -q 'max-ring-page-order'; then
    PV_OFF=",max-ring-page-order=0"
    xe_say "xen-pvscsi has a max-ring-page-order property: vhost 0 runs with$PV_OFF"
fi

guest_script_body() {
cat <<'EOF_GUEST'
# host_of VHOST: the SCSI host number of xenbus device vscsi-VHOST
host_of() {
    _h=$(ls -d /sys/bus/xen/devices/vscsi-"$1"/host* 2>/dev/null | head -n 1)
    [ -n "$_h" ] && echo "${_h##*/host}"
}
xe_load_scsifront
if [ "$MP_PATCHED" = 1 ]; then
    check_eq module-max_ring_page_order \
        "$(cat /sys/module/xen_scsifront/parameters/max_ring_page_order 2>/dev/null)" 4
else
    check module-stock test ! -e /sys/module/xen_scsifront/parameters/max_ring_page_order
fi
check luns-appear xe_wait_for 90 '[ -n "$(xe_blockdev 0:0:0)" ] && [ -n "$(xe_blockdev 0:1:0)" ]' ||
    { xe_diag; exit 1; }
xe_say "devices: $(xe_scsi_devices | tr '\n' ' ')"

for vh in 9 0; do
    if [ "$vh" = 9 ]; then n=kernel; ctl=0:0:0; else n=pvscsi; ctl=0:1:0; fi
    h=$(host_of "$vh")
    hs=/sys/class/scsi_host/host$h
    qd=/sys/bus/scsi/devices/$h:$ctl/queue_depth
    xe_say "$n: vscsi-$vh is host$h: can_queue $(cat "$hs/can_queue") cmd_per_lun $(cat "$hs/cmd_per_lun") queue_depth $(cat "$qd")"
    check_eq "$n-can_queue" "$(cat "$hs/can_queue")" 16
    check_eq "$n-cmd_per_lun" "$(cat "$hs/cmd_per_lun")" 10
    check_eq "$n-queue_depth" "$(cat "$qd")" 10
    if [ "$MP_PATCHED" = 1 ]; then
        check "$n-queue_depth-set-16" sh -c "echo 16 > $qd"
        check "$n-queue_depth-17-refused" sh -c "! echo 17 > $qd"
        check_eq "$n-queue_depth-now" "$(cat "$qd")" 16
        # the kernel LUN keeps the default, the xen-pvscsi LUN fills the ring
        [ "$n" = kernel ] && echo 10 > "$qd"
    else
        check "$n-queue_depth-fixed" sh -c "! echo 16 > $qd"
    fi
done
dmesg | grep -i -E 'scsifront|vscsi' | sed 's/^/XE-KMSG /'

if [ "$MP_PATCHED" = 1 ]; then
    # vhost 1: the backend directory says max-ring-page-order 2
    check fake4-host-added xe_wait_for 60 '[ -n "$(host_of 1)" ]'
    h=$(host_of 1)
    check_eq fake4-can_queue "$(cat /sys/class/scsi_host/host$h/can_queue 2>/dev/null)" 64
    check_eq fake4-cmd_per_lun "$(cat /sys/class/scsi_host/host$h/cmd_per_lun 2>/dev/null)" 40
    check_sh fake4-dmesg "dmesg | grep -q 'vscsi-1: using 4 ring pages (64 requests)'"
fi

for vh in 9 0; do
    if [ "$vh" = 9 ]; then n=kernel; ctl=0:0:0; else n=pvscsi; ctl=0:1:0; fi
    dev=$(xe_blockdev "$ctl")
    _t0=$(xe_up)
    check "$n-fio-verify" fio --name="$n" --filename="$dev" --rw=randwrite --bsrange=4k-64k \
        --iodepth=32 --size=32M --ioengine=libaio --direct=1 --verify=crc32c \
        --verify_fatal=1 --do_verify=1 --output="/tmp/fio-$n.out"
    check_sh "$n-fio-clean" "! grep -q 'verify: bad\|bad magic\|err=[ ]*[1-9]' /tmp/fio-$n.out"
    xe_say "$n: fio $(awk -v s="$_t0" -v e="$(xe_up)" 'BEGIN {printf "%.1f s", e - s}') $(grep -E '^ +(read|write):' "/tmp/fio-$n.out" | sed 's/(.*//' | tr -s ' ' | tr '\n' ' ')"
done
xe_sync checked 300

if [ "$MP_PATCHED" = 1 ]; then
    # Reconnections: both xen-pvscsi vhosts unbound; dom0 then allows 2
    # pages on vhost 1; both bound again.
    KEEP=$(dd if="$(xe_blockdev 0:1:0)" bs=1M count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
    check unbind-0 sh -c "echo vscsi-0 > /sys/bus/xen/drivers/vscsi/unbind"
    check unbind-1 sh -c "echo vscsi-1 > /sys/bus/xen/drivers/vscsi/unbind"
    check pvscsi-lun-gone test -z "$(xe_blockdev 0:1:0)"
    xe_sync unbound 120
    check bind-0 sh -c "echo vscsi-0 > /sys/bus/xen/drivers/vscsi/bind"
    check bind-1 sh -c "echo vscsi-1 > /sys/bus/xen/drivers/vscsi/bind"
    check rebound-pvscsi-lun-back xe_wait_for 90 '[ -n "$(xe_blockdev 0:1:0)" ]' || xe_diag 20
    h=$(host_of 0)
    check_eq rebound-pvscsi-can_queue "$(cat /sys/class/scsi_host/host$h/can_queue 2>/dev/null)" 16
    check_eq rebound-pvscsi-data-kept \
        "$(dd if="$(xe_blockdev 0:1:0)" bs=1M count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)" "$KEEP"
    check rebound-fake2-host-added xe_wait_for 60 '[ -n "$(host_of 1)" ]'
    h=$(host_of 1)
    check_eq rebound-fake2-can_queue "$(cat /sys/class/scsi_host/host$h/can_queue 2>/dev/null)" 32
    check_eq rebound-fake2-cmd_per_lun "$(cat /sys/class/scsi_host/host$h/cmd_per_lun 2>/dev/null)" 20
    check_sh rebound-fake2-dmesg "dmesg | grep -q 'vscsi-1: using 2 ring pages (32 requests)'"
    xe_sync rebound 120
fi
EOF_GUEST
}

# fe_state_3_or_4 PATH: the state once it is 3 or 4 (30 s), else the last one
fe_state_3_or_4() {
    local v="" i
    for i in $(seq 60); do
        v=$(xs_read "$1")
        case $v in 3|4) break ;; esac
        sleep 0.5
    done
    echo "${v:-absent}"
}

# fe_nodes DOMID VHOST: the names under the frontend's vhost directory
fe_nodes() { xenstore-list "/local/domain/$1/device/vscsi/$2" 2>/dev/null | sort | xargs; }
# fe_ring_nodes DOMID VHOST: the same without vscsi-devs (vhost 1's LUN is
# added only by a backend that connects its multi-page ring)
fe_ring_nodes() { fe_nodes "$@" | sed 's/ vscsi-devs//'; }

# run_guest NAME PATCHED SUFFIX LIO-LUN
run_guest() {
    local name=$1 patched=$2 sfx=$3 lun=$4 d fe be qbe vh i v
    truncate -s 64M "/tmp/k$sfx.img" "/tmp/p$sfx.img"
    check "$name-lio-fileio" lio_fileio "k$sfx" "/tmp/k$sfx.img" || return 1
    check "$name-lio-lun" scsiback_lun $WWN "$lun" "k$sfx" || return 1
    guest_script_body | guest_script "$name"
    # shellcheck disable=SC2054
    local qargs=(-drive if=none,id=d0,file="/tmp/p$sfx.img",format=raw,cache=none,aio=native
                 -device "xen-pvscsi,id=vs0,vhost=0$PV_OFF"
                 -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0)
    if [ "$patched" = 1 ]; then
        domu_scsifront "$name" multipage || return 1
        truncate -s 16M "/tmp/f$sfx.img"
        # shellcheck disable=SC2054
        qargs+=(-drive if=none,id=d1,file="/tmp/f$sfx.img",format=raw,cache=none,aio=native
                -device xen-pvscsi,id=vs1,vhost=1
                -device scsi-hd,bus=vs1.0,channel=0,scsi-id=2,lun=0,drive=d1)
    fi
    domu_create "$name" --fat MP_PATCHED="$patched" || return 1
    d=$DOMID
    fe=/local/domain/$d/device/vscsi
    qbe=/local/domain/0/backend/qscsi/$d
    check "$name-vscsi-nodes" vscsi_attach vscsi "$d" 9 "$WWN:$lun=9:0:0:0" || return 1
    qemu_start "$name" "${qargs[@]}" || return 1
    if [ "$patched" = 1 ]; then
        # a backend that would allow 4 pages (today's xen-pvscsi cannot map them)
        xenstore-write "$qbe/1/max-ring-page-order" 2
    fi
    domu_unpause "$name" || return 1
    if domu_sync "$name" checked 600; then
        xenstore-ls -f "/local/domain/$d/device/vscsi" > "$XE_OUT/xenstore-frontend-$name.txt" 2>&1
        for vh in 9 0; do
            [ "$vh" = 9 ] && be=/local/domain/0/backend/vscsi/$d/9 || be=$qbe/0
            check_xs "$name-be$vh-state" "$be/state" 4
            check_xs "$name-fe$vh-state" "$fe/$vh/state" 4
            v=$(xs_read "$be/max-ring-page-order")
            check_match "$name-be$vh-no-max-ring-page-order" "${v:-absent}" '^(absent|0)$'
            check_eq "$name-fe$vh-nodes" "$(fe_nodes "$d" "$vh")" \
                "backend backend-id event-channel ring-ref state vscsi-devs"
            check_match "$name-fe$vh-ring-ref" "$(xs_read "$fe/$vh/ring-ref")" '^[0-9]+$'
            xe_say "$name vhost $vh frontend: $(xenstore-ls "$fe/$vh" 2>/dev/null | grep -v '^ ' | xe_oneline)"
        done
        if [ "$patched" = 1 ]; then
            check_match "$name-fe1-state" "$(fe_state_3_or_4 "$fe/1/state")" '^(3|4)$'
            check_eq "$name-fe1-nodes" "$(fe_ring_nodes "$d" 1)" \
                "backend backend-id event-channel ring-page-order ring-ref0 ring-ref1 ring-ref2 ring-ref3 state"
            check_eq "$name-fe1-ring-page-order" "$(xs_read "$fe/1/ring-page-order")" 2
            for i in 0 1 2 3; do
                check_match "$name-fe1-ring-ref$i" "$(xs_read "$fe/1/ring-ref$i")" '^[0-9]+$'
            done
            xe_say "$name vhost 1 frontend: $(xenstore-ls "$fe/1" 2>/dev/null | xe_oneline)"
        fi
        domu_release "$name" checked
        if [ "$patched" = 1 ] && domu_sync "$name" unbound 120; then
            for vh in 0 1; do
                check_xs "$name-unbound-fe$vh-closed" "$fe/$vh/state" 6
                check_xs "$name-unbound-be$vh-initwait" "$qbe/$vh/state" 2
            done
            # the multi-page nodes go, a one-page ring's stay (as with the stock driver)
            check_eq "$name-unbound-fe1-nodes" "$(fe_ring_nodes "$d" 1)" \
                "backend backend-id event-channel state"
            check_eq "$name-unbound-fe0-nodes" "$(fe_nodes "$d" 0)" \
                "backend backend-id event-channel ring-ref state vscsi-devs"
            xenstore-write "$qbe/1/max-ring-page-order" 1
            domu_release "$name" unbound
            if domu_sync "$name" rebound 240; then
                xenstore-ls -f "/local/domain/$d/device/vscsi" > "$XE_OUT/xenstore-frontend-$name-rebound.txt" 2>&1
                check_xs "$name-rebound-be0-state" "$qbe/0/state" 4
                check_xs "$name-rebound-fe0-state" "$fe/0/state" 4
                check_eq "$name-rebound-fe0-nodes" "$(fe_nodes "$d" 0)" \
                    "backend backend-id event-channel ring-ref state vscsi-devs"
                check_match "$name-rebound-fe1-state" "$(fe_state_3_or_4 "$fe/1/state")" '^(3|4)$'
                check_eq "$name-rebound-fe1-nodes" "$(fe_ring_nodes "$d" 1)" \
                    "backend backend-id event-channel ring-page-order ring-ref0 ring-ref1 state"
                check_eq "$name-rebound-fe1-ring-page-order" "$(xs_read "$fe/1/ring-page-order")" 1
                xe_say "$name vhost 1 frontend after the rebind: $(xenstore-ls "$fe/1" 2>/dev/null | xe_oneline)"
                domu_release "$name" rebound
            fi
        fi
    fi
    domu_wait "$name" 180
    qemu_stop "$name"
}

run_guest mps 0 a 0
run_guest mpp 1 b 1
true
