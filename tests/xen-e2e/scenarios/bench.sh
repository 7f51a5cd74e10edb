#!/bin/bash
# Benchmark (bench.sh): xen-pvscsi vs kernel xen-scsiback vs QEMU xen-block: speed and cost per I/O
# XE_TIMEOUT=3600
# XE_DEFAULT=0
# Run by tests/xen-e2e/bench.sh, which documents the variables and prints
# the tables. One guest, three backends at the same time, each on its own
# file of equal size on dom0's RAM-backed /tmp (ext4 on brd), written once
# before anything is measured:
#   pvscsi    the project's QEMU: xen-pvscsi + scsi-hd (vhost 0, 0:1:0)
#   kernel    LIO + Linux xen-scsiback (backend type vscsi, vhost 9, 0:0:0)
#   xenblock  the same QEMU process: xen-disk (qdisk, xvda)
# Matched configurations (XE_BENCH_MODE):
#   direct    LIO iblock on a loop device with direct I/O (losetup
#             --direct-io=on)  vs  QEMU cache=none,aio=native (or
#             aio=io_uring: XE_BENCH_AIO)
#   buffered  LIO fileio with fd_buffered_io=1 (page cache, write cache
#             emulated)  vs  QEMU cache=writeback,aio=threads; the three
#             files are read into dom0's page cache before the guest
#             starts (checked with fincore), so reads are cache hits
# XE_BENCH_IOTHREAD=1: each QEMU device on its own -object iothread
# (XE_BENCH_POLL_MAX_NS: their poll-max-ns).
#
# Guest/dom0 protocol: every fio run in the guest is two jobs, "ramp"
# (XE_BENCH_RAMP s, not reported; fio's ramp_time has no hook at its end)
# and, after a stonewall, "m" (XE_BENCH_RUNTIME s, reported). The measured
# job's exec_prerun/exec_postrun do an xe_sync handshake with dom0 over the
# console ("XE-SYNC bms.TAG" / "XE-SYNC bme.TAG", TAG =
# PHASE.BACKEND.JOB.REP): dom0 samples /proc/stat (all CPUs) and
# /proc/QEMU/stat (utime, stime, all threads) before answering, so the
# window holds exactly the I/Os fio reports for "m" (plus the handshake's
# fraction of a second). dom0 reads the console with one "tail -F" and
# otherwise sleeps in read: nothing else of the harness runs in dom0 while
# a job is measured. PHASE: idle (guest sleeps: dom0's background load),
# w (warm-up rep, discarded), m (measured reps), s (strace pass: dom0
# attaches "strace -c -f" to every QEMU thread before answering bms and
# stops it before answering bme; those jobs are not timed), c (callgrind
# pass, XE_BENCH_CALLGRIND=1: QEMU runs under valgrind's callgrind with
# its instrumentation off; dom0 turns it on before answering bms and
# dumps the counts, named after the tag, before answering bme: the
# user-space instructions QEMU executed for the job's I/Os).
# Results: $XE_OUT/bench.csv (guest: fio per job), bench-samples.csv
# (dom0: CPU per window), strace/TAG.txt, callgrind/out.N; bench.sh
# joins them.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

MODE=${XE_BENCH_MODE:-direct}
AIO=${XE_BENCH_AIO:-native}
IOTHREAD=${XE_BENCH_IOTHREAD:-0}
SIZE=${XE_BENCH_SIZE_MB:-128}
RT=${XE_BENCH_RUNTIME:-8}
RAMP=${XE_BENCH_RAMP:-2}
WARMUP=${XE_BENCH_WARMUP:-$RT}
REPS=${XE_BENCH_REPS:-5}
JOBS=${XE_BENCH_JOBS:-read-1M-qd4 write-1M-qd4 randread-4k-qd16 randwrite-4k-qd16 randread-4k-qd1}
STRACE=${XE_BENCH_STRACE:-1}
STRACE_JOBS=${XE_BENCH_STRACE_JOBS:-randread-4k-qd16 read-1M-qd4}
CALLGRIND=${XE_BENCH_CALLGRIND:-0}
CG_JOBS=${XE_BENCH_CG_JOBS:-randread-4k-qd16 randread-4k-qd1}
GVCPUS=${XE_BENCH_GUEST_VCPUS:-1}
# a contrib/linux variant of xen-scsifront for the guest (empty: its own)
SCSIFRONT=${XE_BENCH_SCSIFRONT:-}
WWN=naa.6001405000000001

# ------------------------------------------------------ backing files -------
# One file per backend, equal size, every block written (random data) and
# the page cache dropped before the guest starts.
xe_say "bench: mode $MODE, iothread $IOTHREAD, ${SIZE} MiB per backend, reps $REPS x ${RT}s (ramp ${RAMP}s, warm-up ${WARMUP}s), jobs: $JOBS"
dd if=/dev/urandom of=/tmp/bench-rnd bs=1M count=8 2>/dev/null
for b in pvscsi kernel xenblock; do
    rm -f "/tmp/bench-$b.img"
    for _ in $(seq $((SIZE / 8))); do cat /tmp/bench-rnd; done > "/tmp/bench-$b.img"
done
rm -f /tmp/bench-rnd
sync
echo 3 > /proc/sys/vm/drop_caches
check_sh backing-files "[ \$(stat -c %s /tmp/bench-pvscsi.img) = $((SIZE << 20)) ] && [ \$(stat -c %s /tmp/bench-kernel.img) = $((SIZE << 20)) ] && [ \$(stat -c %s /tmp/bench-xenblock.img) = $((SIZE << 20)) ]" || exit 1
xe_say "backing files: $(du -m /tmp/bench-*.img | tr '\t\n' ': ')"
if [ "$MODE" = buffered ]; then
    # The buffered pair reads dom0's page cache: each file is read into it
    # once, so that no backend's reads depend on what the warm-up and the
    # earlier reps happened to cache (a miss goes to QEMU's thread pool or
    # to LIO's read of the RAM disk, at other costs than a hit).
    for b in pvscsi kernel xenblock; do
        cat "/tmp/bench-$b.img" > /dev/null
        if command -v fincore > /dev/null; then
            check_eq "page-cached-$b" "$(fincore -b -n -o RES "/tmp/bench-$b.img" | tr -d ' ')" \
                $((SIZE << 20)) "bytes of /tmp/bench-$b.img in the page cache"
        fi
    done
    command -v fincore > /dev/null ||
        xe_say "no fincore in dom0: the page cache is not checked"
    xe_say "page cache: $(awk '/^(Cached|MemAvailable):/ { printf "%s %d MiB ", $1, $2 / 1024 }' /proc/meminfo)"
fi

case $MODE in
    direct)
        modprobe loop 2>/dev/null
        LOOP=$(losetup --direct-io=on -f --show /tmp/bench-kernel.img)
        check loop-device test -b "$LOOP" || exit 1
        check_eq loop-direct-io "$(cat "/sys/block/${LOOP#/dev/}/loop/dio" 2>/dev/null)" 1 "/sys/block/${LOOP#/dev/}/loop/dio"
        check lio-iblock lio_backstore iblock iblock_0/bench "udev_path=$LOOP" || exit 1
        check lio-lun scsiback_lun $WWN 0 iblock_0/bench || exit 1
        case $AIO in
            native | io_uring) QOPTS=cache=none,aio=$AIO ;;
            *) fail bench-aio "XE_BENCH_AIO=$AIO: native or io_uring"; exit 1 ;;
        esac
        ;;
    buffered)
        # fileio through the page cache (fd_buffered_io=1: no O_DSYNC, LIO
        # then reports a write cache, as QEMU's cache=writeback does)
        check lio-fileio-buffered lio_fileio bench /tmp/bench-kernel.img ,fd_buffered_io=1 || exit 1
        check lio-lun scsiback_lun $WWN 0 fileio_0/bench || exit 1
        QOPTS=cache=writeback,aio=threads
        ;;
    *) fail bench-mode "XE_BENCH_MODE=$MODE: direct or buffered"; exit 1 ;;
esac
xe_say "LIO: $(cat "$XE_LIO"/core/*_0/bench/info 2>/dev/null | xe_oneline)"
xe_say "LIO write cache emulated: $(cat "$XE_LIO"/core/*_0/bench/attrib/emulate_write_cache 2>/dev/null)"

# ------------------------------------------------------ strace for dom0 -----
# bench.sh ships the host's strace (same Debian release as dom0) and its
# libraries in lib/bench-tools/; copied into RAM once (9p mmaps are slow).
ST=""
if [ "$STRACE" = 1 ]; then
    if [ -x "$XE_HARNESS/lib/bench-tools/strace" ]; then
        mkdir -p /run/xe/bench-tools && cp "$XE_HARNESS"/lib/bench-tools/* /run/xe/bench-tools/ &&
            ST=/run/xe/bench-tools/strace
        check strace-runs env LD_LIBRARY_PATH=/run/xe/bench-tools $ST -V || ST=""
    else
        fail strace-shipped "no lib/bench-tools/strace on the share (bench.sh copies the host's /usr/bin/strace)"
    fi
fi

# ------------------------------------------------------ callgrind ----------
# bench.sh ships the host's valgrind (launcher, vgdb, the callgrind tool)
# and a copy of the project's QEMU without its DWARF (same code; symbols
# kept: function names, and far less memory and start-up time for
# valgrind) in lib/vg-tools/.
VG=""
if [ "$CALLGRIND" = 1 ]; then
    mkdir -p /run/xe/vg /tmp/cg && cp -r "$XE_HARNESS"/lib/vg-tools/. /run/xe/vg/ &&
        VG=/run/xe/vg
    check valgrind-runs env VALGRIND_LIB=$VG/lib $VG/valgrind --tool=callgrind --version || exit 1
    export XE_QEMU=$VG/qemu-system-x86_64 XE_QEMU_START_S=900
    export XE_QEMU_WRAP="env VALGRIND_LIB=$VG/lib $VG/valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg/out"
fi
# vg_cmd ARGS: a monitor command to QEMU's callgrind (through vgdb)
vg_cmd() {
    "$VG/vgdb" --pid="$QPID" "$@" > /dev/null 2>> /tmp/cg/vgdb.err ||
        xe_say "vgdb $*: failed ($(tail -n 1 /tmp/cg/vgdb.err | xe_oneline))"
}

# ------------------------------------------------------ guest ---------------
guest_script bench <<'EOF_GUEST'
# the kernel's xen-scsifront, or contrib/linux's (XE_BENCH_SCSIFRONT)
xe_load_scsifront
xe_modprobe xen-blkfront
check devices-appear xe_wait_for 90 '[ -n "$(xe_blockdev 0:1:0)" ] && [ -n "$(xe_blockdev 0:0:0)" ] && [ -b /dev/xvda ]' ||
    { xe_diag; exit 1; }
PVSCSI=$(xe_blockdev 0:1:0)
KERNEL=$(xe_blockdev 0:0:0)
XENBLOCK=/dev/xvda
xe_say "pvscsi $PVSCSI ($(cat /sys/block/${PVSCSI#/dev/}/device/vendor)), kernel $KERNEL ($(cat /sys/block/${KERNEL#/dev/}/device/vendor)), xen-block $XENBLOCK"
check_sh pvscsi-is-qemu "grep -q QEMU /sys/block/${PVSCSI#/dev/}/device/vendor"
check_sh kernel-is-lio "grep -q LIO /sys/block/${KERNEL#/dev/}/device/vendor"
for d in $PVSCSI $KERNEL $XENBLOCK; do
    d=${d#/dev/}
    xe_say "$d: $(($(cat /sys/block/$d/size) / 2048)) MiB, max_sectors_kb $(cat /sys/block/$d/queue/max_sectors_kb), nr_requests $(cat /sys/block/$d/queue/nr_requests), write_cache $(cat /sys/block/$d/queue/write_cache), rotational $(cat /sys/block/$d/queue/rotational), add_random $(cat /sys/block/$d/queue/add_random), scheduler $(cat /sys/block/$d/queue/scheduler)"
done
check_sh equal-sizes "[ $(cat /sys/block/${PVSCSI#/dev/}/size) = $(cat /sys/block/${KERNEL#/dev/}/size) ] && [ $(cat /sys/block/${PVSCSI#/dev/}/size) = $(cat /sys/block/xvda/size) ]"

# The frontends' notifications to their backends, as the guest makes
# them: both scsifront and blkfront send them with
# notify_remote_via_irq() (an event channel send hypercall each); a
# kprobe counts its calls (kprobe_profile: hits). dom0's interrupt count
# cannot tell: while QEMU polls the ring it does not read the channel,
# which stays masked, so further sends raise no interrupt there.
KP=/sys/kernel/tracing
[ -d $KP/events ] || mount -t tracefs nodev $KP 2>/dev/null
if echo 'p:xpvnotify notify_remote_via_irq' >> $KP/kprobe_events 2>/dev/null &&
    echo 1 > $KP/events/kprobes/xpvnotify/enable; then
    xe_say "guest notifications counted (kprobe on notify_remote_via_irq)"
else
    xe_say "guest notifications not counted: no kprobe on notify_remote_via_irq"
fi

# The handshake of a measured window (see the scenario's header).
# Before each handshake the guest prints its own side of the window:
# "BENCHG,bms|bme,PHASE,BACKEND,JOB,REP,busy,idle,steal,scsifront,blkfront,notifies,ctxt":
# its CPU ticks (/proc/stat, all vCPUs: busy = user+nice+system+irq+
# softirq), the interrupts its frontends took (/proc/interrupts: both
# scsifront instances summed, only one is busy in a window; blkfront's),
# the notifications its frontends sent (above; -1: not counted) and its
# context switches (/proc/stat's ctxt, all vCPUs: xen-scsifront's
# interrupt handler is a thread, xen-blkfront's is not).
cat > /tmp/bm.sh <<'EOF_BM'
#!/bin/sh
irqs() {
    awk 'NR == 1 { n = NF; next }
        { c = 0; for (k = 2; k <= n + 1; k++) c += $k }
        /scsifront/ { sf += c } /blkif/ { bf += c }
        END { printf "%d,%d", sf, bf }' /proc/interrupts
    if [ -r /sys/kernel/tracing/kprobe_profile ]; then
        awk 'BEGIN { h = -1 } $1 ~ /xpvnotify$/ { h = $2 } END { printf ",%d", h }' \
            /sys/kernel/tracing/kprobe_profile
    else
        printf ',-1'
    fi
}
t=$(echo "$1" | tr . ,)
# the forks outside the window: before the CPU sample at its start,
# after it at its end
case $1 in bms.*) irqs=$(irqs) ;; esac
# one read of /proc/stat: the CPU ticks and the context switches
{
    read -r _ u n s i w q sq st _
    ctxt=-1
    while read -r k v _; do
        [ "$k" = ctxt ] && { ctxt=$v; break; }
    done
} < /proc/stat
case $1 in bme.*) irqs=$(irqs) ;; esac
echo "BENCHG,$t,$((u + n + s + q + sq)),$((i + w)),$st,$irqs,$ctxt" > /dev/console
echo "XE-SYNC $1" > /dev/console
end=$(($(cut -d. -f1 /proc/uptime) + 120))
while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
    l=$( { timeout 5 head -n 1 < /dev/console | tr -d '\r'; } 2>/dev/null)
    [ "$l" = "$1" ] && exit 0
done
exit 1
EOF_BM
chmod +x /tmp/bm.sh

NJOBS=0 NFAIL=0
# bench_job PHASE BACKEND JOB REP RUNTIME
bench_job() {
    case $2 in pvscsi) dev=$PVSCSI ;; kernel) dev=$KERNEL ;; xenblock) dev=$XENBLOCK ;; esac
    # JOB is RW-BS-qdN
    rw=${3%%-*}
    bs=${3#*-}
    bs=${bs%%-*}
    qd=${3##*-qd}
    case $bs in *k) bsb=$((${bs%k} * 1024)) ;; *M) bsb=$((${bs%M} * 1048576)) ;; esac
    tag="$1.$2.$3.$4"
    ramp=""
    [ "$XE_BENCH_RAMP" -gt 0 ] && ramp="--name=ramp --runtime=$XE_BENCH_RAMP"
    NJOBS=$((NJOBS + 1))
    # --thread --max-jobs: no fork of fio's large process and a small shared
    # segment (each costs seconds in a PV guest under TCG)
    # shellcheck disable=SC2086
    if (cd /tmp && fio --thread --max-jobs=4 --output-format=terse --terse-version=3 --output=/tmp/b.out \
            --filename="$dev" --direct=1 --ioengine=libaio --rw="$rw" --bs="$bs" --iodepth="$qd" \
            --time_based --norandommap --randrepeat=0 \
            $ramp --name=m --stonewall --runtime="$5" \
            --exec_prerun="/tmp/bm.sh bms.$tag" --exec_postrun="/tmp/bm.sh bme.$tag" > /tmp/b.err 2>&1); then
        # terse v3, job "m": read kb/bw/iops/runtime = 6/7/8/9, clat mean
        # 16, clat percentiles 18-37; write: 47/48/49/50, 57, 59-78
        line=$(grep '^3;' /tmp/b.out | awk -F';' -v t="$1,$2,$3,$4" -v bsb="$bsb" '$3 == "m" {
            o = ($47 + 0 > 0) ? 41 : 0
            p50 = p99 = ""
            for (i = 18 + o; i <= 37 + o; i++) {
                split($i, kv, "%=")
                if (kv[1] + 0 == 50) p50 = kv[2]
                if (kv[1] + 0 == 99) p99 = kv[2]
            }
            printf "BENCH,%s,%d,%s,%s,%s,%.1f,%s,%s,%s\n", t, $(6 + o) * 1024 / bsb, $(6 + o), $(7 + o), $(8 + o), $(16 + o), p50, p99, $(9 + o)
        }')
        if [ -n "$line" ]; then
            echo "$line"
        else
            NFAIL=$((NFAIL + 1))
            fail "bench-$tag" "no result line for job m: $(tail -n 2 /tmp/b.out | xe_oneline)"
        fi
    else
        NFAIL=$((NFAIL + 1))
        fail "bench-$tag" "fio failed: $(cat /tmp/b.err /tmp/b.out 2>/dev/null | tail -n 3 | xe_oneline)"
    fi
}

# dom0's background load: the guest only sleeps
/tmp/bm.sh bms.idle.none.idle.0 && sleep "$XE_BENCH_RUNTIME" && /tmp/bm.sh bme.idle.none.idle.0
# rep 0: warm-up (discarded); reps 1..N measured; backend order rotated
# per rep, backends interleaved per job
ORDER="pvscsi kernel xenblock"
for rep in $(seq 0 "$XE_BENCH_REPS"); do
    if [ "$rep" = 0 ]; then
        [ "$XE_BENCH_WARMUP" -gt 0 ] || continue
        phase=w rt=$XE_BENCH_WARMUP
    else
        phase=m rt=$XE_BENCH_RUNTIME
    fi
    xe_say "rep $rep ($phase): order $ORDER"
    for j in $XE_BENCH_JOBS; do
        for b in $ORDER; do bench_job "$phase" "$b" "$j" "$rep" "$rt"; done
    done
    set -- $ORDER
    ORDER="$2 $3 $1"
done
# separate pass: strace on every QEMU thread (dom0), QEMU backends only
if [ "$XE_BENCH_STRACE" = 1 ]; then
    for j in $XE_BENCH_STRACE_JOBS; do
        for b in pvscsi xenblock; do bench_job s "$b" "$j" 0 "$XE_BENCH_RUNTIME"; done
    done
fi
# callgrind pass (QEMU under valgrind), QEMU backends only
if [ "$XE_BENCH_CALLGRIND" = 1 ]; then
    for j in $XE_BENCH_CG_JOBS; do
        for b in pvscsi xenblock; do bench_job c "$b" "$j" 0 "$XE_BENCH_RUNTIME"; done
    done
fi
check_eq bench-jobs-ok "$NFAIL" 0 "failed fio runs of $NJOBS"
EOF_GUEST

if [ -n "$SCSIFRONT" ]; then
    domu_scsifront bench "$SCSIFRONT" || exit 1
    xe_say "guest xen-scsifront: contrib/linux's $SCSIFRONT"
fi
domu_create bench --fat --vcpus "$GVCPUS" XE_BENCH_REPS="$REPS" XE_BENCH_RUNTIME="$RT" XE_BENCH_RAMP="$RAMP" \
    XE_BENCH_WARMUP="$WARMUP" XE_BENCH_JOBS="$JOBS" XE_BENCH_STRACE="$([ -n "$ST" ] && echo 1 || echo 0)" \
    XE_BENCH_STRACE_JOBS="$STRACE_JOBS" XE_BENCH_CALLGRIND="$CALLGRIND" XE_BENCH_CG_JOBS="$CG_JOBS" || exit 1
check vscsi-nodes vscsi_attach vscsi "$DOMID" 9 "$WWN:0=9:0:0:0" || exit 1
IOT=() PIOT="" BIOT=""
if [ "$IOTHREAD" = 1 ]; then
    # XE_BENCH_POLL_MAX_NS: both I/O threads' poll-max-ns (QEMU's default
    # 32768 when unset)
    POLL=${XE_BENCH_POLL_MAX_NS:+,poll-max-ns=$XE_BENCH_POLL_MAX_NS}
    IOT=(-object "iothread,id=io0$POLL" -object "iothread,id=io1$POLL")
    PIOT=,iothread=io0 BIOT=,iothread=io1
fi
qemu_start bench "${IOT[@]}" \
    -drive if=none,id=p0,file=/tmp/bench-pvscsi.img,format=raw,$QOPTS \
    -device xen-pvscsi,id=vs0,vhost=0$PIOT \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=p0 \
    -drive if=none,id=b0,file=/tmp/bench-xenblock.img,format=raw,$QOPTS \
    -device xen-disk,vdev=xvda,drive=b0$BIOT || exit 1
QPID=${XE_QEMU_PID[bench]}
HZ=$(getconf CLK_TCK)
LOG=$(domu_console bench)
TTY=""
domu_unpause bench || exit 1
for _ in $(seq 60); do
    TTY=$(xs_read "/local/domain/$DOMID/console/tty")
    [ -n "$TTY" ] && break
    sleep 0.5
done

# ------------------------------------------------------ dom0 monitor --------
# bm_stat: dom0's CPU ticks (all CPUs) and QEMU's, and the backends'
# event-channel interrupts, without forking.
read -r -a BM_HDR < /proc/interrupts
BM_NCPU=${#BM_HDR[@]}
bm_stat() {
    local cpu u n s i w irq sirq st rest f k v
    # one read of /proc/stat: its first line (all CPUs) and, further
    # down, the context switches of all dom0 CPUs (any backend's
    # wake-ups)
    BM_CTXT=0
    {
        read -r cpu u n s i w irq sirq st rest
        while read -r k v rest; do
            [ "$k" = ctxt ] && { BM_CTXT=$v; break; }
        done
    } < /proc/stat
    BM_BUSY=$((u + n + s + irq + sirq)) BM_IDLE=$((i + w)) BM_STEAL=$st
    BM_SYS=$((s + irq + sirq))
    # interrupts of the backends' event channels: QEMU's (the evtchn
    # driver names them after the process; xen-pvscsi's and xen-block's
    # summed, only one is busy in a window) and xen-scsiback's
    BM_EVQ=0 BM_EVK=0
    local l c
    while read -r -a l; do
        [ "${#l[@]}" -gt "$BM_NCPU" ] || continue
        c=0
        for ((k = 1; k <= BM_NCPU; k++)); do c=$((c + ${l[k]:-0})); done
        case "${l[*]}" in
            *evtchn:qemu*) BM_EVQ=$((BM_EVQ + c)) ;;
            *vscsiif-backend*) BM_EVK=$((BM_EVK + c)) ;;
        esac
    done < /proc/interrupts
    read -r BM_UP rest < /proc/uptime
    if read -r -a f < "/proc/$QPID/stat"; then
        BM_Q=$((f[13] + f[14])) BM_QU=${f[13]}
    else
        BM_Q=0 BM_QU=0
    fi
}
# bm_strace_start FILE: strace -c -f -p QEMU: attaches every thread of
# QEMU ("Process N attached with M threads") and the threads created
# while it runs; 0 once attached.
STPID=""
bm_strace_start() {
    local _
    LD_LIBRARY_PATH=/run/xe/bench-tools "$ST" -c -f -o "$1" -p "$QPID" 2> "$1.err" &
    STPID=$!
    for _ in $(seq 100); do
        grep -q " attached" "$1.err" && return 0
        sleep 0.1
    done
    return 1
}
bm_release() { printf '%s\n' "$1" > "$TTY"; }

mkdir -p "$XE_OUT/strace"
echo "phase,backend,job,rep,window_s,dom0_busy_ticks,dom0_idle_ticks,dom0_steal_ticks,qemu_ticks,hz,t_start,t_end,dom0_sys_ticks,qemu_user_ticks,evtchn_qemu,evtchn_scsiback,dom0_ctxt" > "$XE_OUT/bench-samples.csv"
declare -A S0=()
exec {tfd}< <(exec tail -n +1 -F -s 0.2 "$LOG" 2>/dev/null)
TAILPID=$!
deadline=$((SECONDS + XE_SCENARIO_TIMEOUT - 120))
ok_done=0
while :; do
    if ! IFS= read -r -t $((RT + RAMP + 180)) -u "$tfd" line; then
        if [ "$SECONDS" -ge "$deadline" ]; then fail bench-guest-done "no DONE from the guest in time"; break; fi
        xl domid bench > /dev/null 2>&1 || { fail bench-guest-done "the guest vanished"; break; }
        qemu_alive bench || xe_say "QEMU is gone"
        continue
    fi
    line=${line%$'\r'}
    case $line in
        *"XE-SYNC bms."*)
            tag=${line#*XE-SYNC bms.}
            if [ "${tag%%.*}" = s ]; then
                bm_strace_start "/tmp/strace-$tag.txt" || xe_say "strace: not all QEMU threads attached for $tag"
            fi
            if [ "${tag%%.*}" = c ]; then
                vg_cmd instrumentation on
                vg_cmd zero
            fi
            bm_stat
            S0[$tag]="$BM_UP $BM_BUSY $BM_IDLE $BM_STEAL $BM_Q $BM_SYS $BM_QU $BM_EVQ $BM_EVK $BM_CTXT"
            bm_release "bms.$tag"
            ;;
        *"XE-SYNC bme."*)
            tag=${line#*XE-SYNC bme.}
            bm_stat
            if [ "${tag%%.*}" = c ]; then
                vg_cmd dump "$tag"
                vg_cmd instrumentation off
            fi
            if [ -n "$STPID" ]; then
                kill -INT "$STPID" 2>/dev/null
                wait "$STPID"
                STPID=""
                cp "/tmp/strace-$tag.txt" "$XE_OUT/strace/$tag.txt" 2>/dev/null
                cp "/tmp/strace-$tag.txt.err" "$XE_OUT/strace/$tag.err" 2>/dev/null
            fi
            if [ -n "${S0[$tag]:-}" ]; then
                read -r up0 busy0 idle0 steal0 q0 sys0 qu0 evq0 evk0 ctxt0 <<< "${S0[$tag]}"
                win=$(awk -v a="$up0" -v b="$BM_UP" 'BEGIN {printf "%.2f", b - a}')
                echo "${tag//./,},$win,$((BM_BUSY - busy0)),$((BM_IDLE - idle0)),$((BM_STEAL - steal0)),$((BM_Q - q0)),$HZ,$up0,$BM_UP,$((BM_SYS - sys0)),$((BM_QU - qu0)),$((BM_EVQ - evq0)),$((BM_EVK - evk0)),$((BM_CTXT - ctxt0))" >> "$XE_OUT/bench-samples.csv"
            fi
            bm_release "bme.$tag"
            ;;
        *"DONE rc="*) ok_done=1; break ;;
    esac
done
kill "$TAILPID" 2>/dev/null
exec {tfd}<&-
[ "$ok_done" = 1 ] && domu_wait bench 60
tr -d '\r' < "$LOG" | grep -o 'BENCH,.*' > "$XE_OUT/bench.csv"
if [ "$CALLGRIND" = 1 ]; then
    check_ge bench-results "$(grep -c '^BENCH,c,' "$XE_OUT/bench.csv")" 1 "callgrind pass result lines"
else
    check_ge bench-results "$(grep -c '^BENCH,m,' "$XE_OUT/bench.csv")" 1 "measured result lines"
fi
qemu_alive bench && xe_say "QEMU $QPID: $(grep -E '^(VmHWM|Threads)' /proc/"$QPID"/status | xe_oneline)"
qemu_stop bench
if [ "$CALLGRIND" = 1 ]; then
    mkdir -p "$XE_OUT/callgrind"
    cp /tmp/cg/out.* /tmp/cg/vgdb.err "$XE_OUT/callgrind/" 2>/dev/null
    check_ge callgrind-dumps "$(grep -l '^desc: Trigger: dump c\.' /tmp/cg/out.* 2>/dev/null | wc -l)" 1 "callgrind dumps of the pass"
fi
[ -n "${LOOP:-}" ] && losetup -d "$LOOP" 2>/dev/null

# Unit costs in dom0, nothing else running: ops x unit cost for the note
# (lib/unitcost.c, built by bench.sh).
if [ -x "$XE_HARNESS/lib/bench-tools/unitcost" ]; then
    mkdir -p /run/xe && cp "$XE_HARNESS/lib/bench-tools/unitcost" /run/xe/unitcost
    check unitcost-runs sh -c "/run/xe/unitcost /tmp > '$XE_OUT/unitcost.csv'"
else
    fail unitcost-shipped "no lib/bench-tools/unitcost on the share (bench.sh builds it)"
fi
true
