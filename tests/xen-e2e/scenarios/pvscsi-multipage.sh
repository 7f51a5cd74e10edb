#!/bin/bash
# issue 15, frontend side: xen-scsifront with multi-page rings (contrib/linux 0002) vs backends without them
# XE_TIMEOUT=1500
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
#
# Native N-page rings (needs xen-pvscsi's max-ring-page-order property):
#   mps  vhost 2 (LUN 0:3:0) with the default max-ring-page-order (4,
#        advertised): the stock frontend still uses one page (ring-ref,
#        can_queue 16), fio verify
#   mpp  vhost 2 (LUN 0:3:0) with max-ring-page-order=2 and vhost 3 (LUN
#        0:4:0) with =4: ring-page-order 2 / 4, ring-ref0..3 / 0..15,
#        QEMU's xen_pvscsi_connect trace "pages 4" / "pages 16", can_queue
#        64 / 256, cmd_per_lun 40 / 160; the LUN's queue depth set to
#        can_queue, then fio verify=crc32c (4k randwrite, iodepth 2x the
#        ring, on a drive throttled to 150 IOPS so that the commands
#        queue up in the backend and the ring fills) with the commands in
#        flight counted three ways: QEMU's
#        xen_pvscsi_ring trace (req_prod - rsp_prod at every intake: the
#        requests the guest has put on the ring and the backend has not
#        answered), the guest's host_busy (scsi_host) and inflight
#        (block device), sampled every 50 ms during fio. Asserted: 64 on
#        the 4-page ring (full, never more), >= 64 and <= 256 on the
#        16-page ring, <= 16 on the one-page vhost 0.
# The mixed pairs are asserted once more as one check each
# (pair-FRONTEND-BACKEND-PAGES: frontend nodes, the guest's can_queue,
# QEMU's connect trace, fio verify).
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

WWN=naa.6001405000000001
PV_OFF=""
NATIVE=0
if "$XE_QEMU" -device xen-pvscsi,help 2>/dev/null | grep -q 'max-ring-page-order'; then
    PV_OFF=",max-ring-page-order=0"
    NATIVE=1
    xe_say "xen-pvscsi has a max-ring-page-order property: vhost 0 runs with$PV_OFF"
else
    fail native-multipage "this xen-pvscsi has no max-ring-page-order property: no native N-page cases"
fi
echo "guest,vhost,pages,max_in_flight,trace_lines" > "$XE_OUT/inflight.csv"
# the native N-page LUNs' drives are throttled (QEMU throttling, IOPS): a
# guest (1 vCPU, TCG) that computes crc32c for every block submits only a
# few hundred commands a second and keeps fewer than 64 in flight on a
# backend that answers as fast (first run: at most 28 of 64 and 78 of 256);
# with a slower disk the ring fills
MP_THROTTLE=${XE_MP_THROTTLE:-150}

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
# mp_host VHOST: one line for dom0 (pair-* checks)
mp_host() {
    _h=$(host_of "$1")
    echo "MPHOST vscsi-$1 host ${_h:-none} can_queue $(cat "/sys/class/scsi_host/host$_h/can_queue" 2>/dev/null) cmd_per_lun $(cat "/sys/class/scsi_host/host$_h/cmd_per_lun" 2>/dev/null)"
}
# mp_sampler HOST BLOCKDEV OUT: until /tmp/mp-stop exists, the largest
# host_busy and inflight (reads + writes) seen, every 50 ms, into OUT
mp_sampler() {
    _hb=/sys/class/scsi_host/host$1/host_busy _if=/sys/block/${2#/dev/}/inflight _m1=0 _m2=0 _n=0
    while [ ! -e /tmp/mp-stop ]; do
        read -r _a < "$_hb"
        read -r _r _w < "$_if"
        [ "$_a" -gt "$_m1" ] && _m1=$_a
        [ $((_r + _w)) -gt "$_m2" ] && _m2=$((_r + _w))
        _n=$((_n + 1))
        sleep 0.05
    done
    echo "$_m1 $_m2 $_n" > "$3"
}

for vh in 9 0; do
    if [ "$vh" = 9 ]; then n=kernel; ctl=0:0:0; else n=pvscsi; ctl=0:1:0; fi
    h=$(host_of "$vh")
    hs=/sys/class/scsi_host/host$h
    qd=/sys/bus/scsi/devices/$h:$ctl/queue_depth
    xe_say "$n: vscsi-$vh is host$h: can_queue $(cat "$hs/can_queue") cmd_per_lun $(cat "$hs/cmd_per_lun") queue_depth $(cat "$qd")"
    echo "$(mp_host "$vh")"
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
if [ "$MP_NATIVE" = 1 ] && [ "$MP_PATCHED" != 1 ]; then
    # stock frontend, xen-pvscsi advertising max-ring-page-order 4: one page
    check stock-pvscsi-mp-lun-appears xe_wait_for 90 '[ -n "$(xe_blockdev 0:3:0)" ]'
    h=$(host_of 2)
    echo "$(mp_host 2)"
    check_eq stock-pvscsi-mp-can_queue "$(cat /sys/class/scsi_host/host$h/can_queue 2>/dev/null)" 16
    check_eq stock-pvscsi-mp-cmd_per_lun "$(cat /sys/class/scsi_host/host$h/cmd_per_lun 2>/dev/null)" 10
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
if [ "$MP_NATIVE" = 1 ] && [ "$MP_PATCHED" != 1 ]; then
    dev=$(xe_blockdev 0:3:0)
    check stock-pvscsi-mp-fio-verify fio --name=spm --filename="$dev" --rw=randwrite --bsrange=4k-64k \
        --iodepth=32 --size=16M --ioengine=libaio --direct=1 --verify=crc32c \
        --verify_fatal=1 --do_verify=1 --output=/tmp/fio-spm.out
    check_sh stock-pvscsi-mp-fio-clean "! grep -q 'verify: bad\|bad magic\|err=[ ]*[1-9]' /tmp/fio-spm.out"
fi
if [ "$MP_NATIVE" = 1 ] && [ "$MP_PATCHED" = 1 ]; then
    # xen-pvscsi's own multi-page rings: vhost 2 (4 pages), vhost 3 (16)
    for vh in 2 3; do
        if [ "$vh" = 2 ]; then pages=4; ctl=0:3:0; else pages=16; ctl=0:4:0; fi
        ring=$((pages * 16))
        n=native$pages
        check "$n-lun-appears" xe_wait_for 90 "[ -n \"\$(host_of $vh)\" ] && [ -n \"\$(xe_blockdev $ctl)\" ]" ||
            { xe_diag; continue; }
        h=$(host_of "$vh")
        hs=/sys/class/scsi_host/host$h
        qd=/sys/bus/scsi/devices/$h:$ctl/queue_depth
        xe_say "$n: vscsi-$vh is host$h: can_queue $(cat "$hs/can_queue") cmd_per_lun $(cat "$hs/cmd_per_lun") queue_depth $(cat "$qd")"
        echo "$(mp_host "$vh")"
        check_eq "$n-can_queue" "$(cat "$hs/can_queue")" "$ring"
        check_eq "$n-cmd_per_lun" "$(cat "$hs/cmd_per_lun")" $((ring * 10 / 16))
        check_eq "$n-queue_depth" "$(cat "$qd")" $((ring * 10 / 16))
        check_sh "$n-dmesg" "dmesg | grep -q 'vscsi-$vh: using $pages ring pages ($ring requests)'"
        check "$n-queue_depth-set-$ring" sh -c "echo $ring > $qd"
        check "$n-queue_depth-$((ring + 1))-refused" sh -c "! echo $((ring + 1)) > $qd"
        check_eq "$n-queue_depth-now" "$(cat "$qd")" "$ring"
        dev=$(xe_blockdev "$ctl")
        rm -f /tmp/mp-stop
        mp_sampler "$h" "$dev" "/tmp/mp-sample-$n" &
        spid=$!
        _t0=$(xe_up)
        check "$n-fio-verify" fio --name="$n" --filename="$dev" --rw=randwrite --bs=4k \
            --iodepth=$((ring * 2)) --size=8M --ioengine=libaio --direct=1 --verify=crc32c \
            --verify_fatal=1 --do_verify=1 --output="/tmp/fio-$n.out"
        touch /tmp/mp-stop
        wait "$spid"
        check_sh "$n-fio-clean" "! grep -q 'verify: bad\|bad magic\|err=[ ]*[1-9]' /tmp/fio-$n.out"
        read -r hbmax ifmax nsamp < "/tmp/mp-sample-$n"
        xe_say "$n: fio $(awk -v s="$_t0" -v e="$(xe_up)" 'BEGIN {printf "%.1f s", e - s}') $(grep -E '^ +(read|write):' "/tmp/fio-$n.out" | sed 's/(.*//' | tr -s ' ' | tr '\n' ' ')"
        echo "MPINFLIGHT vscsi-$vh pages $pages host_busy_max $hbmax inflight_max $ifmax samples $nsamp"
        check_ge "$n-guest-host_busy-ge-64" "$hbmax" 64 "largest host_busy of host$h during fio"
        check_sh "$n-guest-host_busy-le-ring" "[ $hbmax -le $ring ]"
    done
fi
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

# ring_inflight TRACE VHOST: the largest req_prod - rsp_prod of the vhost's
# xen_pvscsi_ring trace lines (requests on the ring not yet answered when
# the backend looked), and the number of lines
ring_inflight() {
    awk -v vh="$2" '/xen_pvscsi_ring vhost / {
        sub(/.*xen_pvscsi_ring /, "")
        # vhost V req_prod P req_cons C rsp_prod R
        if ($2 != vh) next
        d = $4 - $8
        if (d < 0) d += 4294967296
        if (d > m) m = d
        n++
    } END { printf "%d %d\n", m, n }' "$1" 2>/dev/null
}
# connect_pages TRACE VHOST: "pages" of the vhost's last xen_pvscsi_connect
connect_pages() {
    grep "xen_pvscsi_connect vhost $2 " "$1" 2>/dev/null | tail -n 1 | sed -n 's/.* pages \([0-9]*\) .*/\1/p'
}
# guest_can_queue NAME VHOST: can_queue the guest reported (MPHOST line)
guest_can_queue() {
    tr -d '\r' < "$(domu_console "$1")" | grep -o "MPHOST vscsi-$2 .*" | tail -n 1 | sed -n 's/.* can_queue \([0-9]*\).*/\1/p'
}
# guest_check NAME CHECK: PASS/FAIL of a guest check (from its console)
guest_check() {
    local r
    r=$(tr -d '\r' < "$(domu_console "$1")" | grep -o "CHECK \(PASS\|FAIL\) $2\(:.*\)\?$" | tail -n 1 | cut -d' ' -f2)
    echo "${r:-none}"
}
# ring_nodes PAGES: the frontend's ring nodes for a ring of PAGES pages
ring_nodes() {
    local i r=""
    if [ "$1" = 1 ]; then echo "ring-ref"; return; fi
    echo "ring-page-order $(for ((i = 0; i < $1; i++)); do printf 'ring-ref%d\n' "$i"; done | sort | xargs)"
}
# pair_check CHECK GUEST DOMID TYPE VHOST PAGES FIO-CHECK [TRACE]: one
# check for a frontend/backend pair: the frontend's ring nodes, states 4,
# the guest's can_queue, QEMU's connect trace (xen-pvscsi), the fio check
pair_check() {
    local c=$1 g=$2 d=$3 type=$4 vh=$5 pages=$6 fioc=$7 tr=${8:-} got want fe
    fe=/local/domain/$d/device/vscsi/$vh
    got="nodes=[$(xenstore-list "$fe" 2>/dev/null | grep -E '^ring-' | sort | xargs)]"
    got+=" fe=$(xs_read "$fe/state") be=$(xs_read "/local/domain/0/backend/$type/$d/$vh/state")"
    got+=" can_queue=$(guest_can_queue "$g" "$vh")"
    want="nodes=[$(ring_nodes "$pages" | tr ' ' '\n' | sort | xargs)] fe=4 be=4 can_queue=$((pages * 16))"
    if [ -n "$tr" ]; then
        got+=" qemu-pages=$(connect_pages "$tr" "$vh")"
        want+=" qemu-pages=$pages"
    fi
    got+=" fio=$(guest_check "$g" "$fioc")"
    want+=" fio=PASS"
    xe_say "$c: $got"
    check_eq "$c" "$got" "$want"
}

# run_guest NAME PATCHED SUFFIX LIO-LUN
run_guest() {
    local name=$1 patched=$2 sfx=$3 lun=$4 d fe be qbe vh i v
    truncate -s 64M "/tmp/k$sfx.img" "/tmp/p$sfx.img"
    check "$name-lio-fileio" lio_fileio "k$sfx" "/tmp/k$sfx.img" || return 1
    check "$name-lio-lun" scsiback_lun $WWN "$lun" "k$sfx" || return 1
    guest_script_body | guest_script "$name"
    # shellcheck disable=SC2054
    local trace=/tmp/trace-$name.log
    # shellcheck disable=SC2054
    local qargs=(-D "$trace" -trace xen_pvscsi_connect -trace xen_pvscsi_ring
                 -drive if=none,id=d0,file="/tmp/p$sfx.img",format=raw,cache=none,aio=native
                 -device "xen-pvscsi,id=vs0,vhost=0$PV_OFF"
                 -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0)
    if [ "$NATIVE" = 1 ] && [ "$patched" = 1 ]; then
        truncate -s 32M "/tmp/n2$sfx.img" "/tmp/n3$sfx.img"
        # shellcheck disable=SC2054
        qargs+=(-drive "if=none,id=d2,file=/tmp/n2$sfx.img,format=raw,cache=none,aio=native,throttling.iops-total=$MP_THROTTLE"
                -device xen-pvscsi,id=vs2,vhost=2,max-ring-page-order=2
                -device scsi-hd,bus=vs2.0,channel=0,scsi-id=3,lun=0,drive=d2
                -drive "if=none,id=d3,file=/tmp/n3$sfx.img,format=raw,cache=none,aio=native,throttling.iops-total=$MP_THROTTLE"
                -device xen-pvscsi,id=vs3,vhost=3,max-ring-page-order=4
                -device scsi-hd,bus=vs3.0,channel=0,scsi-id=4,lun=0,drive=d3)
    elif [ "$NATIVE" = 1 ]; then
        truncate -s 32M "/tmp/n2$sfx.img"
        # shellcheck disable=SC2054
        qargs+=(-drive if=none,id=d2,file="/tmp/n2$sfx.img",format=raw,cache=none,aio=native
                -device xen-pvscsi,id=vs2,vhost=2
                -device scsi-hd,bus=vs2.0,channel=0,scsi-id=3,lun=0,drive=d2)
    fi
    if [ "$patched" = 1 ]; then
        domu_scsifront "$name" multipage || return 1
        truncate -s 16M "/tmp/f$sfx.img"
        # shellcheck disable=SC2054
        qargs+=(-drive if=none,id=d1,file="/tmp/f$sfx.img",format=raw,cache=none,aio=native
                -device xen-pvscsi,id=vs1,vhost=1
                -device scsi-hd,bus=vs1.0,channel=0,scsi-id=2,lun=0,drive=d1)
    fi
    domu_create "$name" --fat MP_PATCHED="$patched" MP_NATIVE="$NATIVE" || return 1
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
    if domu_sync "$name" checked 900; then
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
        if [ "$NATIVE" = 1 ]; then
            native_checks "$name" "$patched" "$d" "$trace"
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
    cp "$trace" "$XE_OUT/" 2>/dev/null
}

# native_checks NAME PATCHED DOMID TRACE: dom0's half of the native
# N-page cases, at the guest's "checked"
native_checks() {
    local name=$1 patched=$2 d=$3 trace=$4 fe qbe vh pages i nodes m n
    fe=/local/domain/$d/device/vscsi
    qbe=/local/domain/0/backend/qscsi/$d
    if [ "$patched" != 1 ]; then
        check_xs "$name-be2-state" "$qbe/2/state" 4
        check_xs "$name-fe2-state" "$fe/2/state" 4
        check_eq "$name-be2-max-ring-page-order" "$(xs_read "$qbe/2/max-ring-page-order")" 4
        check_eq "$name-fe2-nodes" "$(fe_nodes "$d" 2)" \
            "backend backend-id event-channel ring-ref state vscsi-devs"
        check_eq "$name-qemu-vhost2-pages" "$(connect_pages "$trace" 2)" 1
        xe_say "$name vhost 2 frontend: $(xenstore-ls "$fe/2" 2>/dev/null | grep -v '^ ' | xe_oneline)"
        read -r m n <<< "$(ring_inflight "$trace" 2)"
        xe_say "$name vhost 2 (1 page): at most $m requests in flight in $n xen_pvscsi_ring trace lines"
        check_sh "$name-vhost2-inflight-le-16" "[ ${m:-999} -le 16 ]"
        pair_check pair-stock-xen-pvscsi-1page "$name" "$d" qscsi 2 1 stock-pvscsi-mp-fio-verify "$trace"
        pair_check pair-stock-xen-scsiback-1page "$name" "$d" vscsi 9 1 kernel-fio-verify
        return
    fi
    for vh in 2 3; do
        if [ "$vh" = 2 ]; then pages=4; else pages=16; fi
        check_xs "$name-be$vh-state" "$qbe/$vh/state" 4
        check_xs "$name-fe$vh-state" "$fe/$vh/state" 4
        check_eq "$name-be$vh-max-ring-page-order" "$(xs_read "$qbe/$vh/max-ring-page-order")" \
            "$([ "$vh" = 2 ] && echo 2 || echo 4)"
        nodes="backend backend-id event-channel $(ring_nodes "$pages") state vscsi-devs"
        check_eq "$name-fe$vh-nodes" "$(fe_nodes "$d" "$vh")" "$(echo "$nodes" | tr ' ' '\n' | sort | xargs)"
        check_eq "$name-fe$vh-ring-page-order" "$(xs_read "$fe/$vh/ring-page-order")" \
            "$([ "$vh" = 2 ] && echo 2 || echo 4)"
        for ((i = 0; i < pages; i++)); do
            check_match "$name-fe$vh-ring-ref$i" "$(xs_read "$fe/$vh/ring-ref$i")" '^[0-9]+$'
        done
        check_eq "$name-qemu-vhost$vh-pages" "$(connect_pages "$trace" "$vh")" "$pages"
        xe_say "$name vhost $vh frontend: $(xenstore-ls "$fe/$vh" 2>/dev/null | grep -v '^ ' | xe_oneline)"
        read -r m n <<< "$(ring_inflight "$trace" "$vh")"
        xe_say "$name vhost $vh ($pages pages): at most $m requests in flight in $n xen_pvscsi_ring trace lines"
        echo "$name,$vh,$pages,$m,$n" >> "$XE_OUT/inflight.csv"
        check_ge "$name-vhost$vh-inflight-ge-64" "$m" 64 "largest req_prod - rsp_prod in QEMU's xen_pvscsi_ring trace"
        check_sh "$name-vhost$vh-inflight-le-ring" "[ ${m:-999} -le $((pages * 16)) ]"
        pair_check "pair-patched-xen-pvscsi-${pages}pages" "$name" "$d" qscsi "$vh" "$pages" "native$pages-fio-verify" "$trace"
    done
    read -r m n <<< "$(ring_inflight "$trace" 0)"
    xe_say "$name vhost 0 (1 page): at most $m requests in flight in $n xen_pvscsi_ring trace lines"
    echo "$name,0,1,$m,$n" >> "$XE_OUT/inflight.csv"
    check_sh "$name-vhost0-inflight-le-16" "[ ${m:-999} -le 16 ]"
    pair_check pair-patched-xen-scsiback-1page "$name" "$d" vscsi 9 1 kernel-fio-verify
    pair_check pair-patched-xen-pvscsi-off-1page "$name" "$d" qscsi 0 1 pvscsi-fio-verify "$trace"
}

run_guest mps 0 a 0
run_guest mpp 1 b 1
true
