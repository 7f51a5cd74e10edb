#!/bin/bash
# issue 15 bench: xen-pvscsi with 1, 4 and 16 ring pages vs xen-scsiback vs xen-block
# XE_TIMEOUT=2400
# XE_DEFAULT=0
# XE_LINUX_MODULES=multipage
# Run by tests/xen-e2e/bench-multipage.sh, which sets the variables below
# (XE_MPB_*), prints the table and writes the CSV files. One guest with
# xen-scsifront from contrib/linux (0001 + 0002, multi-page rings) and five
# backends at the same time, each on its own file of XE_MPB_SIZE_MB MiB
# (random data, every block written before the guest starts) on dom0's
# RAM-backed /tmp (ext4 on brd):
#   pv1       xen-pvscsi vhost 0, max-ring-page-order=0 (1 page, 16 requests), LUN 0:1:0
#   pv4       xen-pvscsi vhost 1, max-ring-page-order=2 (4 pages, 64), LUN 0:2:0
#   pv16      xen-pvscsi vhost 2, max-ring-page-order=4 (16 pages, 256), LUN 0:3:0
#   kernel    LIO fileio (lib/dom0.sh's lio_fileio) + Linux xen-scsiback, vhost 9,
#             LUN 0:0:0 (one page: xen-scsiback has no multi-page rings)
#   xenblock  QEMU's xen-disk (xvda); xen-blkfront loaded with
#             max_ring_page_order=XE_MPB_BLK_ORDER (its default is 0: one page)
# The three xen-pvscsi vhosts and xen-disk live in one QEMU process (only
# one backend has I/O at a time), drives cache=none,aio=native.
# The LUNs' queue depths stay at the frontend's defaults (cmd_per_lun:
# 10 / 40 / 160 for 1 / 4 / 16 pages, 10 on the kernel LUN), or with
# XE_MPB_LUN_QD=max are set to can_queue.
# fio in the guest, 4k, direct=1, libaio, whole device, norandommap: per
# repetition, per RW (XE_MPB_RWS) and per backend (order rotated by one
# each repetition) one fio run whose jobs, separated by stonewalls, are
# every iodepth of XE_MPB_QDS (per fio job) times every numjobs of
# XE_MPB_NJOBS (group_reporting), each XE_MPB_RAMP s of ramp_time and
# XE_MPB_RUNTIME s measured. Repetition 0 is a warm-up: one job (iodepth
# 32, numjobs 1) of XE_MPB_WARMUP s per backend and RW, discarded (0:
# none). Results: lines
# "MPB,phase,backend,rw,qd,numjobs,rep,iops,bw_kib,lat_mean_us,clat_p99_us,io_kib,runtime_ms"
# on the guest console, collected into $XE_OUT/mpbench.csv.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

SIZE=${XE_MPB_SIZE_MB:-64}
WWN=naa.6001405000000001
BLK_ORDER=${XE_MPB_BLK_ORDER:-4}
xe_say "bench-multipage: ${SIZE} MiB per backend, reps ${XE_MPB_REPS:-3} x ${XE_MPB_RUNTIME:-3} s (ramp ${XE_MPB_RAMP:-1} s, warm-up ${XE_MPB_WARMUP:-2} s), rw '${XE_MPB_RWS:-randread randwrite}', qd '${XE_MPB_QDS:-16 32 64 128}', numjobs '${XE_MPB_NJOBS:-1 4}', blkfront max_ring_page_order $BLK_ORDER, LUN queue depth ${XE_MPB_LUN_QD:-default}"

dd if=/dev/urandom of=/tmp/mpb-rnd bs=1M count=8 2>/dev/null
for b in pv1 pv4 pv16 kernel xenblock; do
    for _ in $(seq $((SIZE / 8))); do cat /tmp/mpb-rnd; done > "/tmp/mpb-$b.img"
done
rm -f /tmp/mpb-rnd
sync
echo 3 > /proc/sys/vm/drop_caches
check_sh backing-files "for b in pv1 pv4 pv16 kernel xenblock; do [ \$(stat -c %s /tmp/mpb-\$b.img) = $((SIZE << 20)) ] || exit 1; done" || exit 1
check lio-fileio lio_fileio mpb /tmp/mpb-kernel.img || exit 1
check lio-lun scsiback_lun $WWN 0 mpb || exit 1
xe_say "LIO: $(cat "$XE_LIO"/core/fileio_0/mpb/info 2>/dev/null | xe_oneline); write cache emulated: $(cat "$XE_LIO"/core/fileio_0/mpb/attrib/emulate_write_cache 2>/dev/null)"

guest_script mpb <<'EOF_GUEST'
xe_load_scsifront
modprobe xen-blkfront max_ring_page_order="$XE_MPB_BLK_ORDER" || xe_say "modprobe xen-blkfront failed"
check devices-appear xe_wait_for 120 '[ -n "$(xe_blockdev 0:0:0)" ] && [ -n "$(xe_blockdev 0:1:0)" ] && [ -n "$(xe_blockdev 0:2:0)" ] && [ -n "$(xe_blockdev 0:3:0)" ] && [ -b /dev/xvda ]' ||
    { xe_diag; exit 1; }
host_of() {
    _h=$(ls -d /sys/bus/xen/devices/vscsi-"$1"/host* 2>/dev/null | head -n 1)
    [ -n "$_h" ] && echo "${_h##*/host}"
}
dev_of() {
    case $1 in
        kernel) xe_blockdev 0:0:0 ;; pv1) xe_blockdev 0:1:0 ;; pv4) xe_blockdev 0:2:0 ;;
        pv16) xe_blockdev 0:3:0 ;; xenblock) echo /dev/xvda ;;
    esac
}
for b in kernel pv1 pv4 pv16; do
    case $b in kernel) vh=9 ctl=0:0:0 ring=16 ;; pv1) vh=0 ctl=0:1:0 ring=16 ;;
               pv4) vh=1 ctl=0:2:0 ring=64 ;; pv16) vh=2 ctl=0:3:0 ring=256 ;; esac
    h=$(host_of $vh)
    qd=/sys/bus/scsi/devices/$h:$ctl/queue_depth
    check_eq "$b-can_queue" "$(cat /sys/class/scsi_host/host$h/can_queue)" "$ring"
    [ "$XE_MPB_LUN_QD" = max ] && { echo "$ring" > "$qd" || fail "$b-queue_depth-max" "cannot set $qd to $ring"; }
    d=$(dev_of $b)
    xe_say "CONF $b: $d vscsi-$vh host$h ($(cat /sys/block/${d#/dev/}/device/vendor | xe_oneline)) can_queue $(cat /sys/class/scsi_host/host$h/can_queue) cmd_per_lun $(cat /sys/class/scsi_host/host$h/cmd_per_lun) queue_depth $(cat "$qd") nr_requests $(cat /sys/block/${d#/dev/}/queue/nr_requests) size $(($(cat /sys/block/${d#/dev/}/size) / 2048)) MiB"
done
check_sh kernel-is-lio "grep -q LIO /sys/block/$(dev_of kernel | cut -d/ -f3)/device/vendor"
check_sh pv16-is-qemu "grep -q QEMU /sys/block/$(dev_of pv16 | cut -d/ -f3)/device/vendor"
xe_say "CONF xenblock: /dev/xvda max_ring_page_order $(cat /sys/module/xen_blkfront/parameters/max_ring_page_order) hw queues $(ls /sys/block/xvda/mq | wc -l) nr_requests $(cat /sys/block/xvda/queue/nr_requests) size $(($(cat /sys/block/xvda/size) / 2048)) MiB"
sizes=$(for b in kernel pv1 pv4 pv16 xenblock; do d=$(dev_of $b); cat "/sys/block/${d#/dev/}/size"; done | sort -u | xargs)
check_eq equal-sizes "$(echo "$sizes" | wc -w)" 1 "distinct sizes (sectors: $sizes)"
xe_sync ready 120

NRUNS=0 NFAIL=0
# mpb_fio PHASE BACKEND RW REP RUNTIME RAMP QDS NJOBS: one fio run, a
# job per QD x NJOBS
mpb_fio() {
    dev=$(dev_of "$2")
    {
        echo "[global]"
        echo "filename=$dev"
        echo "direct=1"
        echo "ioengine=libaio"
        echo "rw=$3"
        echo "bs=4k"
        echo "time_based"
        echo "runtime=$5"
        [ "$6" -gt 0 ] && echo "ramp_time=$6"
        echo "norandommap"
        echo "randrepeat=0"
        echo "group_reporting"
        for q in $7; do
            for j in $8; do
                echo "[qd$q-j$j]"
                echo "stonewall"
                echo "iodepth=$q"
                echo "numjobs=$j"
            done
        done
    } > /tmp/mpb.fio
    NRUNS=$((NRUNS + 1))
    _t0=$(xe_up)
    if (cd /tmp && fio --output-format=terse --terse-version=3 --output=/tmp/mpb.out /tmp/mpb.fio > /tmp/mpb.err 2>&1); then
        # terse v3: name 3; read kb/bw/iops/runtime 6/7/8/9, clat
        # percentiles 18-37, lat mean 40; write: +41
        grep '^3;' /tmp/mpb.out | awk -F';' -v t="$1,$2,$3" -v r="$4" '{
            o = ($47 + 0 > 0) ? 41 : 0
            split($3, nm, "-"); q = substr(nm[1], 3); j = substr(nm[2], 2)
            p99 = ""
            for (i = 18 + o; i <= 37 + o; i++) { split($i, kv, "%="); if (kv[1] + 0 == 99) p99 = kv[2] }
            printf "MPB,%s,%s,%s,%s,%s,%s,%.1f,%s,%s,%s\n", t, q, j, r, $(8 + o), $(7 + o), $(40 + o), p99, $(6 + o), $(9 + o)
        }' > /tmp/mpb.lines
        cat /tmp/mpb.lines
        n=$(wc -l < /tmp/mpb.lines)
        want=$(($(echo $7 | wc -w) * $(echo $8 | wc -w)))
        [ "$n" = "$want" ] || { NFAIL=$((NFAIL + 1)); fail "fio-$1-$2-$3-$4" "$n result lines, expected $want"; }
    else
        NFAIL=$((NFAIL + 1))
        fail "fio-$1-$2-$3-$4" "fio failed: $(cat /tmp/mpb.err /tmp/mpb.out 2>/dev/null | tail -n 3 | xe_oneline)"
    fi
    xe_say "run $1 $2 $3 rep $4: $(awk -v s="$_t0" -v e="$(xe_up)" 'BEGIN {printf "%.1f", e - s}') s"
}
ORDER="pv1 pv4 pv16 kernel xenblock"
for rep in $(seq 0 "$XE_MPB_REPS"); do
    if [ "$rep" = 0 ]; then
        [ "$XE_MPB_WARMUP" -gt 0 ] || continue
        phase=w rt=$XE_MPB_WARMUP ramp=0 qds=32 njs=1
    else
        phase=m rt=$XE_MPB_RUNTIME ramp=$XE_MPB_RAMP qds=$XE_MPB_QDS njs=$XE_MPB_NJOBS
    fi
    xe_say "rep $rep ($phase): order $ORDER"
    for rw in $XE_MPB_RWS; do
        for b in $ORDER; do mpb_fio "$phase" "$b" "$rw" "$rep" "$rt" "$ramp" "$qds" "$njs"; done
    done
    set -- $ORDER
    ORDER="$2 $3 $4 $5 $1"
done
check_eq fio-runs-ok "$NFAIL" 0 "failed fio runs of $NRUNS"
EOF_GUEST

domu_scsifront mpb multipage || exit 1
domu_create mpb --fat XE_MPB_REPS="${XE_MPB_REPS:-3}" XE_MPB_RUNTIME="${XE_MPB_RUNTIME:-3}" \
    XE_MPB_RAMP="${XE_MPB_RAMP:-1}" XE_MPB_WARMUP="${XE_MPB_WARMUP:-2}" \
    XE_MPB_RWS="${XE_MPB_RWS:-randread randwrite}" XE_MPB_QDS="${XE_MPB_QDS:-16 32 64 128}" \
    XE_MPB_NJOBS="${XE_MPB_NJOBS:-1 4}" XE_MPB_BLK_ORDER="$BLK_ORDER" \
    XE_MPB_LUN_QD="${XE_MPB_LUN_QD:-default}" || exit 1
check vscsi-nodes vscsi_attach vscsi "$DOMID" 9 "$WWN:0=9:0:0:0" || exit 1
Q=cache=none,aio=native
qemu_start mpb -D /tmp/mpb-trace.log -trace xen_pvscsi_connect \
    -drive if=none,id=p1,file=/tmp/mpb-pv1.img,format=raw,$Q \
    -device xen-pvscsi,id=vs0,vhost=0,max-ring-page-order=0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=p1 \
    -drive if=none,id=p4,file=/tmp/mpb-pv4.img,format=raw,$Q \
    -device xen-pvscsi,id=vs1,vhost=1,max-ring-page-order=2 \
    -device scsi-hd,bus=vs1.0,channel=0,scsi-id=2,lun=0,drive=p4 \
    -drive if=none,id=p16,file=/tmp/mpb-pv16.img,format=raw,$Q \
    -device xen-pvscsi,id=vs2,vhost=2,max-ring-page-order=4 \
    -device scsi-hd,bus=vs2.0,channel=0,scsi-id=3,lun=0,drive=p16 \
    -drive if=none,id=b0,file=/tmp/mpb-xenblock.img,format=raw,$Q \
    -device xen-disk,vdev=xvda,drive=b0 || exit 1
domu_unpause mpb || exit 1
D=$DOMID
if domu_sync mpb ready 400; then
    fe=/local/domain/$D/device
    for vh in 0 1 2; do
        pages=$(grep "xen_pvscsi_connect vhost $vh " /tmp/mpb-trace.log | tail -n 1 | sed -n 's/.* pages \([0-9]*\) .*/\1/p')
        want=$(case $vh in 0) echo 1 ;; 1) echo 4 ;; 2) echo 16 ;; esac)
        check_eq "pv$want-qemu-pages" "$pages" "$want" "xen_pvscsi_connect of vhost $vh"
        xe_say "CONF vscsi $vh frontend: $(xenstore-ls "$fe/vscsi/$vh" 2>/dev/null | grep -v '^ ' | grep -v '^vscsi-devs' | xe_oneline)"
    done
    check_eq kernel-one-page "$(xenstore-list "$fe/vscsi/9" 2>/dev/null | grep -E '^ring-' | xargs)" ring-ref
    v=$(xenstore-list "$fe/vbd" 2>/dev/null | head -n 1)
    xe_say "CONF vbd $v frontend: $(xenstore-ls "$fe/vbd/$v" 2>/dev/null | grep -v '^ ' | xe_oneline)"
    xe_say "CONF vbd $v backend: max-ring-page-order $(xs_read "/local/domain/0/backend/qdisk/$D/$v/max-ring-page-order") multi-queue-max-queues $(xs_read "/local/domain/0/backend/qdisk/$D/$v/multi-queue-max-queues")"
    rpo=$(xs_read "$fe/vbd/$v/ring-page-order")
    [ -n "$rpo" ] || rpo=$(xs_read "$fe/vbd/$v/queue-0/ring-page-order")
    check_eq xenblock-ring-page-order "${rpo:-0}" "$BLK_ORDER"
    cp /tmp/mpb-trace.log "$XE_OUT/" 2>/dev/null
    domu_release mpb ready
fi
domu_wait mpb $((XE_SCENARIO_TIMEOUT - 300))
tr -d '\r' < "$(domu_console mpb)" | grep -o 'MPB,.*' > "$XE_OUT/mpbench.csv"
tr -d '\r' < "$(domu_console mpb)" | grep -o 'CONF .*' > "$XE_OUT/mpbench-conf.txt"
check_ge bench-results "$(grep -c '^MPB,m,' "$XE_OUT/mpbench.csv")" 1 "measured result lines"
qemu_stop mpb
true
