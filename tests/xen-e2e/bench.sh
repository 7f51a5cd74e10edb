#!/bin/bash
# Benchmark (make bench): xen-pvscsi vs the kernel's xen-scsiback (LIO) vs
# QEMU's xen-block (xen-disk), one boot, one guest, speed and cost per I/O.
#
#   tests/xen-e2e/bench.sh
#   BENCH_MODE=buffered BENCH_IOTHREAD=1 tests/xen-e2e/bench.sh
#   XE_QEMU_BIN=$HOME/.cache/xen-pvscsi/snap-before/qemu-system-x86_64 make bench
#   REPS=1 RUNTIME=3 WARMUP=0 BENCH_JOBS=randread-4k-qd16 tests/xen-e2e/bench.sh   (quick try)
#
# Variables (defaults in brackets):
#   BENCH_MODE      direct | buffered [direct]; matched configurations:
#                   direct:   LIO iblock on a loop device with direct I/O
#                             (losetup --direct-io=on)  vs  QEMU
#                             cache=none,aio=native on both QEMU backends
#                   buffered: LIO fileio with fd_buffered_io=1 (page cache,
#                             write cache emulated)  vs  QEMU
#                             cache=writeback,aio=threads; every file
#                             read into the page cache before the guest
#                             starts (reads are cache hits)
#   BENCH_AIO       direct mode's QEMU aio=: native | io_uring [native]
#                   (the kernel side stays LIO iblock on the direct-I/O
#                   loop device)
#   BENCH_IOTHREAD  1: xen-pvscsi and xen-disk each on an -object iothread [0]
#   BENCH_POLL_MAX_NS  those I/O threads' poll-max-ns [QEMU's default, 32768]
#   REPS            measured repetitions [5]; backend order rotated per rep
#   RUNTIME         seconds per measured fio job [8]
#   RAMP            seconds of unreported I/O before each measured job [2]
#                   (a separate fio job: fio's ramp_time has no hook at its
#                   end, and the dom0 CPU window must hold exactly the I/Os
#                   fio reports)
#   WARMUP          seconds per job of the discarded warm-up rep [RUNTIME];
#                   0: no warm-up rep
#   BENCH_JOBS      fio jobs, RW-BS-qdN [read-1M-qd4 write-1M-qd4
#                   randread-4k-qd16 randwrite-4k-qd16 randread-4k-qd1]
#   BENCH_SIZE_MB   size of each backend's file on dom0's /tmp [128]
#   BENCH_GUEST_VCPUS  the guest's vCPUs [1]; the 4 KiB rows at queue
#                   depth 16 are bound by one vCPU (the report's vcpu column)
#   BENCH_SCSIFRONT  the guest's xen-scsifront: empty for its own (the
#                   unmodified Debian module), or a variant of
#                   contrib/linux/build-module.sh (e.g. hardirq), built
#                   on the host and loaded instead, for xen-pvscsi and the
#                   kernel backend alike []
#   BENCH_STRACE    1: the strace pass after the timed reps [1]
#   BENCH_STRACE_JOBS  jobs of the strace pass [randread-4k-qd16 read-1M-qd4]
#   BENCH_CALLGRIND 1: a run of its own that counts instructions instead
#                   of timing: QEMU in dom0 runs under valgrind's callgrind
#                   (the host's, shipped like strace), no timed reps, no
#                   strace pass; for BENCH_CG_JOBS on the two QEMU
#                   backends, the user-space instructions QEMU executes
#                   per I/O (all threads; the count does not depend on TCG's
#                   speed or the host's load) and where they go (per
#                   function): bench-callgrind.csv, bench-callgrind-fn.txt
#                   [0]
#   BENCH_CG_JOBS   jobs of that pass [randread-4k-qd16 randread-4k-qd1]
#   XE_QEMU_BIN     the project's QEMU binary [$XPV_BUILD/qemu-system-x86_64]
#   XE_SCENARIO_TIMEOUT  bound of the dom0 part [computed from the above]
#   and lib/host.sh's XE_* (XE_CACHE, XE_MEM, ...).
#
# Every job: fio in the guest, direct=1, ioengine=libaio, on the whole
# device (BENCH_SIZE_MB), time_based. Each backend has its own file of
# that size on dom0's RAM-backed /tmp (ext4 on brd), written once with
# random data before the guest starts. A discarded warm-up rep, then REPS
# reps; within a rep each job runs on the three backends one after the
# other, the order rotated by one each rep.
#
# Cost per I/O: dom0 samples /proc/stat (busy = user+nice+system+irq+
# softirq, all CPUs; steal and idle excluded) and QEMU's /proc/PID/stat
# (utime+stime of all threads) right before and after each measured fio
# job (a console handshake from fio's exec_prerun/exec_postrun; see
# scenarios/bench.sh) and divides by the I/O count fio reports: dom0
# CPU-us/IO for the three backends, QEMU CPU-us/IO (for the kernel
# backend that is QEMU idling). QEMU's utime+stime include the time its
# vCPU was stolen (a Xen PV dom0's sched_clock runs in wall time; Debian's
# 6.1 kernel has no CONFIG_PARAVIRT_TIME_ACCOUNTING) while /proc/stat's
# busy time does not, so the table also shows it scaled by dom0's
# busy/(busy+steal) of the same window ("QEMU~"). One QEMU process serves both QEMU
# backends; only one backend has I/O at a time. dom0's background load
# (guest asleep for RUNTIME s) is printed and subtracted in the "net"
# column. Then a separate, untimed pass: strace -c -f attached to every
# QEMU thread for BENCH_STRACE_JOBS on the two QEMU backends: syscalls per
# I/O and the top syscalls (the host's strace, shipped to dom0 through
# the share: dom0's image has none).
#
# Output: the config and the tables on stdout; in the run directory
# (printed): bench-raw.csv (one row per fio job), bench-summary.csv (min /
# median / max per backend and job, ratios of the medians),
# bench-paired.csv (xen-pvscsi against each backend within each rep, where
# they ran back to back: median and range of the per-rep ratios of speed
# and of dom0's CPU per I/O, and in how many reps xen-pvscsi was as fast
# or as cheap; TCG's speed can change by 2x from one rep to the next on a
# loaded host, which a ratio of medians does not cancel), bench-cost.csv,
# bench-strace.csv, bench-unitcost.csv (dom0's unit costs: a syscall, a
# clock read, a thread wake-up, page-cache reads and writes, memcpy;
# lib/unitcost.c, run in dom0 once the guest has stopped),
# bench-ratios.png (the paired medians; gnuplot; skipped without gnuplot:
# apt-get install gnuplot-nox). Everything runs under TCG, nested: the
# numbers compare the backends on this setup only; cost per I/O is in
# TCG microseconds (only ratios mean anything). The cost table's "cores"
# column is QEMU's CPU time per second of the measured window: near 1
# with an I/O thread that polls (BENCH_IOTHREAD=1 and a large
# BENCH_POLL_MAX_NS), and then QEMU's and dom0's CPU per I/O are one
# core divided by the rate, not the work per I/O (bench-native and the
# syscall counts measure that).
# SPDX-License-Identifier: GPL-2.0-or-later
set -uo pipefail
# shellcheck source=lib/host.sh
. "$(dirname "$0")/lib/host.sh"
# shellcheck source=lib/boot.sh
. "$XE_DIR/lib/boot.sh"

BENCH_MODE=${BENCH_MODE:-direct}
BENCH_AIO=${BENCH_AIO:-native}
BENCH_GUEST_VCPUS=${BENCH_GUEST_VCPUS:-1}
BENCH_IOTHREAD=${BENCH_IOTHREAD:-0}
REPS=${REPS:-5}
RUNTIME=${RUNTIME:-8}
RAMP=${RAMP:-2}
WARMUP=${WARMUP:-$RUNTIME}
BENCH_JOBS=${BENCH_JOBS:-read-1M-qd4 write-1M-qd4 randread-4k-qd16 randwrite-4k-qd16 randread-4k-qd1}
BENCH_SIZE_MB=${BENCH_SIZE_MB:-128}
BENCH_STRACE=${BENCH_STRACE:-1}
BENCH_SCSIFRONT=${BENCH_SCSIFRONT:-}
BENCH_STRACE_JOBS=${BENCH_STRACE_JOBS:-randread-4k-qd16 read-1M-qd4}
BENCH_CALLGRIND=${BENCH_CALLGRIND:-0}
BENCH_CG_JOBS=${BENCH_CG_JOBS:-randread-4k-qd16 randread-4k-qd1}
if [ "$BENCH_CALLGRIND" = 1 ]; then
    # under valgrind QEMU is many times slower: nothing is timed
    REPS=0 WARMUP=0 BENCH_STRACE=0
    command -v valgrind > /dev/null && command -v vgdb > /dev/null &&
        command -v callgrind_annotate > /dev/null ||
        xe_die "BENCH_CALLGRIND=1 needs valgrind (make deps)"
else
    BENCH_CG_JOBS=""
fi
case $BENCH_MODE in direct | buffered) ;; *) xe_die "BENCH_MODE=$BENCH_MODE: direct or buffered" ;; esac
case $BENCH_AIO in native | io_uring) ;; *) xe_die "BENCH_AIO=$BENCH_AIO: native or io_uring" ;; esac
[ -z "$BENCH_SCSIFRONT" ] || grep -q "^$BENCH_SCSIFRONT:" "$XPV_ROOT/contrib/linux/6.1/series" 2>/dev/null ||
    xe_die "BENCH_SCSIFRONT=$BENCH_SCSIFRONT: not a variant of contrib/linux/6.1/series"
case $BENCH_GUEST_VCPUS in [1-9]) ;; *) xe_die "BENCH_GUEST_VCPUS=$BENCH_GUEST_VCPUS: 1 to 9" ;; esac
[ "$BENCH_MODE" = direct ] || [ "$BENCH_AIO" = native ] ||
    xe_die "BENCH_AIO=$BENCH_AIO is for BENCH_MODE=direct (buffered is aio=threads)"
for j in $BENCH_JOBS $BENCH_STRACE_JOBS $BENCH_CG_JOBS; do
    [[ $j =~ ^(read|write|randread|randwrite)-[0-9]+[kM]-qd[0-9]+$ ]] || xe_die "bad job '$j' (RW-BS-qdN, e.g. randread-4k-qd16)"
done
xe_bench_prepare bench
# dom0 gets the host's strace and its libraries in the staged harness
if [ "$BENCH_STRACE" = 1 ]; then
    if command -v strace > /dev/null; then
        mkdir -p "$STAGE/lib/bench-tools"
        cp "$(command -v strace)" "$STAGE/lib/bench-tools/strace"
        ldd "$(command -v strace)" | awk '/=> \// {print $3}' | grep -v -E '/(libc|libm|libpthread|libdl|ld-linux[^/]*)\.so' |
            while read -r l; do cp -L "$l" "$STAGE/lib/bench-tools/"; done
    else
        xe_log "bench: no strace on this machine (apt-get install strace): no strace pass"
        BENCH_STRACE=0
    fi
fi
# the callgrind pass: the host's valgrind, and QEMU without its DWARF
if [ "$BENCH_CALLGRIND" = 1 ]; then
    # Debian's valgrind: /usr/bin/valgrind is a wrapper script of the
    # launcher valgrind.bin, the tools are in /usr/libexec/valgrind
    vgl=/usr/libexec/valgrind
    mkdir -p "$STAGE/lib/vg-tools/lib"
    vgb=$(command -v valgrind.bin || command -v valgrind)
    cp "$vgb" "$STAGE/lib/vg-tools/valgrind" && cp "$(command -v vgdb)" "$STAGE/lib/vg-tools/" &&
        cp "$vgl/callgrind-amd64-linux" "$vgl/vgpreload_core-amd64-linux.so" "$vgl/default.supp" \
            "$STAGE/lib/vg-tools/lib/" &&
        objcopy --strip-debug "$XE_QEMU_BIN" "$STAGE/lib/vg-tools/qemu-system-x86_64" ||
        xe_die "bench: cannot stage valgrind and QEMU for the callgrind pass"
fi
# and the unit-cost probe (lib/unitcost.c), run in dom0 after the guest
mkdir -p "$STAGE/lib/bench-tools"
cc -O2 -pthread -o "$STAGE/lib/bench-tools/unitcost" "$XE_DIR/lib/unitcost.c" ||
    xe_die "bench: cannot build lib/unitcost.c (make deps installs gcc)"
XE_DIR=$STAGE

# Time: a fio run takes RAMP + its runtime + about 4 s (fio's start, two
# console handshakes; measured 2026-11-30, REPS=1 RUNTIME=3), 3 backends;
# the strace pass about 15 s more per run, the unit costs about 30 s. The
# bound (XE_SCENARIO_TIMEOUT) allows twice that plus 5 min: a loaded host
# doubles TCG times.
nj=$(echo "$BENCH_JOBS" | wc -w)
ns=$(echo "$BENCH_STRACE_JOBS" | wc -w)
[ "$BENCH_STRACE" = 1 ] || ns=0
est=$((3 * nj * REPS * (RAMP + RUNTIME + 4) + 2 * ns * (RAMP + RUNTIME + 19) + RUNTIME + 270))
[ "$WARMUP" -gt 0 ] && est=$((est + 3 * nj * (RAMP + WARMUP + 4)))
# callgrind pass: QEMU starts under valgrind in about 13 s, a job takes
# RAMP + RUNTIME + about 8 s (measured 2026-12-01, 3 jobs: 179 s in all)
nc=$(echo "$BENCH_CG_JOBS" | wc -w)
[ "$nc" -gt 0 ] && est=$((est + 60 + 2 * nc * (RAMP + RUNTIME + 15)))
export XE_SCENARIO_TIMEOUT=${XE_SCENARIO_TIMEOUT:-$((est * 2 + 300))}

# cg_report: the callgrind pass's table. Each dump (share/out/callgrind/
# out.N) is named after its job's tag (c.BACKEND.JOB.0); fio's line for
# that tag gives the I/O count. bench-callgrind.csv: instructions per I/O,
# and the passes of QEMU's event loops per I/O (main loop and I/O
# threads: each pass has a fixed cost, and how many a request takes at
# QD1 depends on timing, e.g. whether its I/O completed within
# io_submit); bench-callgrind-fn.txt: per function, per I/O, largest
# first.
cg_report() {
    local f tag b j ios ir loops csv="$RUN/bench-callgrind.csv" fn="$RUN/bench-callgrind-fn.txt"
    echo "backend,job,ios,instructions,instructions_per_io,loops_per_io" > "$csv"
    : > "$fn"
    for f in "$out"/callgrind/out.*; do
        [ -f "$f" ] || continue
        tag=$(sed -n 's/^desc: Trigger: dump //p' "$f")
        [ "${tag%%.*}" = c ] || continue
        IFS=. read -r _ b j _ <<< "$tag"
        ios=$(awk -F, -v b="$b" -v j="$j" '$2 == "c" && $3 == b && $4 == j { print $6 }' "$out/bench.csv" | head -n 1)
        ir=$(sed -n 's/^totals: //p' "$f")
        [ -n "$ios" ] && [ "$ios" -gt 0 ] && [ -n "$ir" ] || { echo "bench: no I/O count or total for $tag ($f)"; continue; }
        loops=$(($(xpv_callgrind_calls "$f" qemu_main_loop main_loop_wait) + \
            $(xpv_callgrind_calls "$f" iothread_run aio_poll)))
        echo "$b,$j,$ios,$ir,$(awk -v i="$ir" -v n="$ios" -v l="$loops" 'BEGIN { printf "%.0f,%.2f", i / n, l / n }')" >> "$csv"
        {
            echo "== $b $j: $ios I/Os, instructions per I/O by function (self, >= 20)"
            xpv_callgrind_self "$f" 2>/dev/null |
                awk -F'\t' -v n="$ios" '{ v = $1 / n; if (v >= 20) printf "%8.0f  %s\n", v, $2 }'
        } >> "$fn"
    done
    echo "QEMU user-space instructions per I/O (callgrind, all threads):"
    column -s, -t "$csv"
    echo "per function: $fn"
    [ "$(wc -l < "$csv")" -gt 1 ]
}

commit=$(git -C "$XE_DIR_TREE" rev-parse --short HEAD 2>/dev/null)
bincommit=$(cat "$(dirname "$XE_QEMU_BIN")/COMMIT" 2>/dev/null | cut -c1-12)
binsum=$(sha256sum "$XE_QEMU_BIN" | cut -c1-12)
config="mode=$BENCH_MODE$([ "$BENCH_AIO" = native ] || echo " aio=$BENCH_AIO") iothread=$BENCH_IOTHREAD${BENCH_POLL_MAX_NS:+ poll-max-ns=$BENCH_POLL_MAX_NS}$([ "$BENCH_GUEST_VCPUS" = 1 ] || echo " guest-vcpus=$BENCH_GUEST_VCPUS")${BENCH_SCSIFRONT:+ scsifront=$BENCH_SCSIFRONT} reps=$REPS runtime=${RUNTIME}s ramp=${RAMP}s warmup=${WARMUP}s size=${BENCH_SIZE_MB}MiB/backend strace=$BENCH_STRACE${BENCH_CG_JOBS:+ callgrind=$BENCH_CG_JOBS}"
xe_log "bench: $config; about $((est / 60 + 1)) min (bound $((XE_SCENARIO_TIMEOUT / 60)) min); run directory $RUN"
export XE_LINUX_MODULES_EXTRA=$BENCH_SCSIFRONT
attempt=1
while :; do
    xe_boot "$RUN" bench XE_BENCH_MODE="$BENCH_MODE" XE_BENCH_AIO="$BENCH_AIO" XE_BENCH_IOTHREAD="$BENCH_IOTHREAD" \
        XE_BENCH_REPS="$REPS" XE_BENCH_RUNTIME="$RUNTIME" XE_BENCH_RAMP="$RAMP" XE_BENCH_WARMUP="$WARMUP" \
        XE_BENCH_JOBS="$BENCH_JOBS" XE_BENCH_SIZE_MB="$BENCH_SIZE_MB" XE_BENCH_STRACE="$BENCH_STRACE" \
        XE_BENCH_STRACE_JOBS="$BENCH_STRACE_JOBS" XE_BENCH_POLL_MAX_NS="${BENCH_POLL_MAX_NS:-}" \
        XE_BENCH_CALLGRIND="$BENCH_CALLGRIND" XE_BENCH_CG_JOBS="$BENCH_CG_JOBS" \
        XE_BENCH_GUEST_VCPUS="$BENCH_GUEST_VCPUS" XE_BENCH_SCSIFRONT="$BENCH_SCSIFRONT"
    xe_log "bench: $XE_BOOT_STATUS after $XE_BOOT_SECONDS s ($XE_BOOT_REASON)"
    [ "$XE_BOOT_STATUS" = infra ] && [ $attempt = 1 ] && { echo "INFRA bench: $XE_BOOT_REASON -- retrying once"; attempt=2; continue; }
    break
done
out="$RUN/share/out"
{
    echo "config: $config"
    echo "jobs: $BENCH_JOBS; strace pass: $([ "$BENCH_STRACE" = 1 ] && echo "$BENCH_STRACE_JOBS" || echo none)${BENCH_CG_JOBS:+; callgrind pass: $BENCH_CG_JOBS}"
    echo "QEMU: $XE_QEMU_BIN (sha256 $binsum${bincommit:+, COMMIT $bincommit}); tree $commit; run $STAMP ($XE_BOOT_SECONDS s, $XE_BOOT_STATUS)"
} > "$RUN/bench-config.txt"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ "$BENCH_CALLGRIND" = 1 ]; then
    cg_report
    rc=$?
else
    "$PY" "$XE_DIR_TREE/lib/bench-report.py" "$RUN" "$XE_DIR_TREE/bench.gp"
    rc=$?
fi
nf=$(grep -c '^FAIL' "$out/checks" 2>/dev/null)
[ "${nf:-0}" = 0 ] || { echo "bench: $nf checks failed:"; grep '^FAIL' "$out/checks"; rc=1; }
[ "$XE_BOOT_STATUS" = done ] || { echo "bench: run $XE_BOOT_STATUS ($XE_BOOT_REASON); logs: $RUN/serial.log, $out/"; rc=1; }
exit $rc
