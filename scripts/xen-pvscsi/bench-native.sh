#!/bin/bash
# make bench-native: what one request costs the xen-pvscsi dataplane, with
# no Xen and no TCG. xen-pvscsi-bench (hw/scsi/xen-pvscsi-bench.c, built
# into the project's QEMU only) runs the real dataplane, request engine and
# SCSI layer (scsi-hd on a null-co node) behind a loopback transport; a
# frontend thread in QEMU keeps QD requests on the ring. Beside each row,
# `qemu-img bench` on the same kind of node: the block layer's own floor.
#
#   scripts/xen-pvscsi/bench-native.sh            full table (about 1 min)
#   scripts/xen-pvscsi/bench-native.sh --smoke    short run for make check:
#       asserts the counts (never the times): no errors; grant copy calls
#       per request <= 1 at QD1 and <= 0.3 at QD16 (batched); notifies per
#       request <= 0.3 at QD16; kicks per request <= 0.03 at QD16 in an
#       I/O thread polling for up to 327680 ns (polled: no notification
#       asked for, patches 0018 and 0019); allocations per request
#       <= XPV_ALLOCS_MAX
#       (0: the dataplane itself allocates nothing per request, and the
#       carried patches 0012, 0013 and 0016 keep QEMU from allocating:
#       a coroutine pool batch per coroutine, the AIOCBs, dma_blk_io()'s
#       iovec array, null-co's completion BH, the SCSIRequest); an
#       ABORT stress (abort-every=5 at QD15): no errors, aborts seen;
#       a teardown run; and a slow LUN (slow-node: one request in
#       flight for 2 s on LUN 1): LUN 0's 500 requests, notified only
#       when the ring asks for it, are all answered before it; main
#       loop iterations per 4 KiB request <= 2.05 at QD1 and <= 0.15 at
#       QD16 (2 per batch: the kick's, the completion BH's)
#   scripts/xen-pvscsi/bench-native.sh --profile [CTX RW BS QD]
#       where one request's instructions go (default iothread randread
#       4096 16): callgrind's self cost per function in two runs (2000
#       and 6000 requests), the difference per request, largest first,
#       and the sum per source file
#   REQUESTS=N (200000 per row; 4 % of them for 508 KiB rows)
#   FE_POLL_NS=N (100000): how long the frontend of the iothread-fp rows
#       polls the ring for a response before it sleeps
#   XPV_BENCH_INSNS=0: no instruction counts (the full table has them
#       when valgrind is installed; the smoke never)
#
# Contexts: main (QEMU's main loop), iothread (an IOThread, which polls
# for up to its poll-max-ns, 32 us by default), iothread-fp (the same,
# with a frontend that polls the ring for responses before it sleeps).
# The backend's notification is one eventfd write, as Xen's is one
# ioctl; the frontend of main and iothread rows sleeps in poll() until
# it comes. At QD1 a polling IOThread spins while that frontend wakes
# up (a few us of scheduler latency, which is the harness's, not the
# backend's), and that spinning counts as backend CPU; iothread-fp rows
# show the backend's cost when the other end answers at once.
# iothread-fpn (fe-notify=off): the same, but the frontend asks for a
# notification only before it sleeps, as a frontend that polls may (the
# Linux frontend does not poll, and asks after each batch of responses):
# the backend's cost without the notification (one write() here, one
# event-channel hypercall under Xen) at QD1.
# Columns: wall ns and backend CPU ns per request (process CPU minus the
# frontend thread's), requests per second per core of backend CPU, grant
# copy calls, copied segments, notifies (backend to frontend), kicks
# (frontend to backend, when req_event asks for one) and allocations
# (malloc family, counted by an LD_PRELOAD shim,
# tests/bench/alloc-count.c) per request; loops (main rows): iterations
# of QEMU's main loop per request, each one poll() and one round of
# dispatch (a wake-up when it sleeps).
# Instructions per request (full table): user-space instructions of all
# of QEMU's threads, counted by valgrind (cachegrind, no cache
# simulation) in two runs of 2000 and 6000 requests (80 and 240 for
# 508 KiB rows), the difference divided by the 4000 (160): start-up and
# teardown cancel out, and unlike the times the count does not depend on
# the machine's load. It includes the loopback transport's memcpy, which
# stands for Xen's grant copy, and the frontend thread's few hundred.
# qemu-img_insns: the same for qemu-img bench on the same node.
# Results: CSV in $XPV_CACHE/bench-native/ (path printed).
# SPDX-License-Identifier: GPL-2.0-or-later
set -uo pipefail
. "$(dirname "$0")/common.sh"

smoke=0 profile=0
FE_POLL_NS=${FE_POLL_NS:-100000}
[ "${1:-}" = --smoke ] && smoke=1
[ "${1:-}" = --profile ] && profile=1
QEMU="$XPV_BUILD/qemu-system-x86_64"
QIMG="$XPV_BUILD/qemu-img"
[ -x "$QEMU" ] && [ -x "$QIMG" ] || xpv_die "no QEMU build in $XPV_BUILD (make build)"
"$QEMU" -device help 2>/dev/null | grep -q '"xen-pvscsi-bench"' ||
    xpv_die "$QEMU has no xen-pvscsi-bench device (make build)"
out="$XPV_CACHE/bench-native"
mkdir -p "$out"
shim="$out/alloc-count.so"
src="$XPV_ROOT/tests/bench/alloc-count.c"
if [ ! -f "$shim" ] || [ "$src" -nt "$shim" ]; then
    cc -O2 -shared -fPIC -o "$shim" "$src" || xpv_die "cannot build $shim"
fi

# bench_args CTX DEVICE-OPTIONS: sets QARGS to QEMU's arguments for one
# run of the bench device in CTX (main or iothread) on a null-co node
bench_args() {
    local it=
    case $1 in
    iothread) it=",iothread=io0" ;;
    iothread-fp) it=",iothread=io0,fe-poll-ns=$FE_POLL_NS" ;;
    iothread-fpn) it=",iothread=io0,fe-poll-ns=$FE_POLL_NS,fe-notify=off" ;;
    esac
    QARGS=(-machine none -nodefaults -display none -object "iothread,id=io0${IOT_OPTS:-$IOT_DEFAULT}"
           -blockdev "${NODE0:-null-co},node-name=n0,size=1073741824"
           "${EXTRA_ARGS[@]}" -device "xen-pvscsi-bench,node=n0,$2$it")
}
# for smoke runs that need them: options of the IOThread, the node's
# driver and options, more arguments
IOT_OPTS= NODE0= EXTRA_ARGS=()
# The smoke's I/O thread polls for up to ten times QEMU's default (32 us),
# so that its kick count shows whether the polled ring asks for kicks, not
# how fast this host wakes the frontend thread: when the thread takes
# longer than the poll window to wake up, the I/O thread rightly stops
# polling and arms req_event, and the frontend kicks (seen with the
# default on an idle 2-core VM: up to 0.062 kicks per request at QD16,
# above 0.03 in 5 of 30 runs; 0.000-0.001 in 30 runs with the longer
# window). Under ASan, where everything takes ~10 times
# as long, the full table's rows poll that long too.
IOT_DEFAULT=
{ [ $smoke = 1 ] || [ "${XPV_SANITIZERS:-}" = 1 ]; } && IOT_DEFAULT=,poll-max-ns=327680
# two_runs BS: the request counts N1 < N2 of the two runs whose
# difference gives a count per request (see above)
two_runs() {
    n1=2000 n2=6000
    [ "$1" -gt 65536 ] && n1=80 n2=240
}
# img_args RW BS QD N: sets IARGS to qemu-img bench's arguments for N
# requests on the same kind of null-co node as bench_args
img_args() {
    IARGS=(bench --image-opts driver=null-co,size=1073741824 -c "$4" -d "$3" -s "$2" -t none)
    if [ "${1#rand}" = write ]; then
        IARGS+=(-w)
    fi
}

if [ $profile = 1 ]; then
    command -v valgrind > /dev/null || xpv_die "--profile needs valgrind (make deps)"
    ctx=${2:-iothread} rw=${3:-randread} bs=${4:-4096} qd=${5:-16}
    two_runs "$bs"
    tmp=$(mktemp -d)
    for n in $n1 $n2; do
        bench_args "$ctx" "rw=$rw,bs=$bs,qd=$qd,requests=$n,warmup=$((n1 / 4))"
        valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$n" "$QEMU" "${QARGS[@]}" \
            > /dev/null 2>&1 || xpv_die "callgrind run failed ($tmp)"
        # self cost per function: "COUNT<TAB>file:function"
        xpv_callgrind_self "$tmp/cg.$n" | sed 's|\t.*/|\t|' > "$tmp/fn.$n"
    done
    echo "instructions per request, $ctx $rw $bs QD$qd (callgrind, all threads; $((n2 - n1)) requests):"
    awk -F'\t' -v n=$((n2 - n1)) 'NR == FNR { a[$2] = $1; next }
        { d = ($1 - a[$2]) / n; if (d >= 0.5) { t += d; f = $2; sub(/:.*/, "", f); byf[f] += d;
          printf "%8.0f  %s\n", d, $2 } }
        END { printf "%8.0f  TOTAL\n", t > "/dev/stderr";
              for (f in byf) printf "%8.0f  %s (file)\n", byf[f], f > "/dev/stderr" }' \
        "$tmp/fn.$n1" "$tmp/fn.$n2" 2> "$tmp/files" | sort -rn | head -"${TOP:-40}"
    echo "per source file:"
    sort -rn "$tmp/files" | head -"${TOP:-40}"
    rm -rf "$tmp"
    exit 0
fi

# Under ASan (make check-asan) the sanitizer owns malloc: no counting.
preload=$shim
[ "${XPV_SANITIZERS:-}" = 1 ] && preload=
N=${REQUESTS:-200000}
[ $smoke = 1 ] && N=${REQUESTS:-20000}
insns=0
if [ $smoke = 0 ] && [ "${XPV_BENCH_INSNS:-1}" = 1 ] && [ "${XPV_SANITIZERS:-}" != 1 ]; then
    if command -v valgrind > /dev/null; then
        insns=1
    else
        echo "bench-native: no valgrind: no instruction counts (make deps installs it)"
    fi
fi
csv="$out/results-$(date +%Y%m%d-%H%M%S).csv"
echo "ctx,rw,bs,qd,wall_ns,cpu_ns,req_per_s_core,copies,segs,notifies,kicks,allocs,errors,qemu_img_cpu_ns,insns,qemu_img_insns,loops" > "$csv"
fails=0
check() {    # NAME VALUE OP LIMIT (no VALUE: a count missing, a failure)
    if [ -z "$2" ]; then
        echo "FAIL bench-native/$1: no value"
        fails=$((fails + 1))
    elif awk -v v="$2" -v l="$4" "BEGIN { exit !(v $3 l) }"; then
        echo "PASS bench-native/$1 ($2 $3 $4)"
    else
        echo "FAIL bench-native/$1: $2, want $3 $4"
        fails=$((fails + 1))
    fi
}
sanitizer() {    # NAME OUTPUT: a sanitizer's report fails the row
    if grep -q -E "$XPV_SANITIZER_RE" <<< "$2"; then
        echo "FAIL bench-native/$1: sanitizer report:"
        grep -E -A12 "$XPV_SANITIZER_RE" <<< "$2" | head -40
        fails=$((fails + 1))
    fi
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$2"; }

# qemu-img bench: CPU ns per request, same null-co node size, same bs/qd
img_cpu() {    # RW BS QD N
    local t
    img_args "$@"
    t=$( { /usr/bin/time -f '%U %S' "$QIMG" "${IARGS[@]}" > /dev/null; } 2>&1 | tail -n 1)
    awk -v t="$t" -v n="$4" 'BEGIN { split(t, a, " "); printf "%.0f", (a[1] + a[2]) * 1e9 / n }'
}

# icount CMD...: user-space instructions CMD executes (all threads)
icount() {
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@" 2>&1 > /dev/null |
        sed -n 's/^==[0-9]*== I *refs: *//p' | tr -d ,
}
# per_req A B: (B - A) / (n2 - n1), NA if a count is missing
per_req() {
    awk -v a="$1" -v b="$2" -v n=$((n2 - n1)) \
        'BEGIN { if (a == "" || b == "") print "NA"; else printf "%.0f", (b - a) / n }'
}
# insns_per_req CTX RW BS QD / img_insns RW BS QD: instructions per request
# (two runs, see above); NA if a run failed
insns_per_req() {
    local a b
    two_runs "$3"
    bench_args "$1" "rw=$2,bs=$3,qd=$4,requests=$n1,warmup=$((n1 / 4))"
    a=$(icount "$QEMU" "${QARGS[@]}")
    bench_args "$1" "rw=$2,bs=$3,qd=$4,requests=$n2,warmup=$((n1 / 4))"
    b=$(icount "$QEMU" "${QARGS[@]}")
    per_req "$a" "$b"
}
img_insns() {
    local a b
    two_runs "$2"
    img_args "$1" "$2" "$3" $n1
    a=$(icount "$QIMG" "${IARGS[@]}")
    img_args "$1" "$2" "$3" $n2
    b=$(icount "$QIMG" "${IARGS[@]}")
    per_req "$a" "$b"
}

if [ $smoke = 1 ]; then
    rows="main:randread:4096:1 main:randread:4096:16 main:randwrite:4096:16 iothread:randread:4096:16 main:read:520192:4"
else
    rows=""
    for ctx in main iothread; do
        rows+=" $ctx:randread:4096:1 $ctx:randread:4096:16 $ctx:randwrite:4096:1 $ctx:randwrite:4096:16 $ctx:read:520192:4 $ctx:write:520192:4"
    done
    for ctx in iothread-fp iothread-fpn; do
        rows+=" $ctx:randread:4096:1 $ctx:randread:4096:16 $ctx:randwrite:4096:1 $ctx:randwrite:4096:16"
    done
fi
printf '%-12s %-10s %7s %3s %9s %9s %10s %7s %7s %8s %6s %7s %11s %7s %10s %6s\n' ctx rw bs qd wall_ns cpu_ns req/s/core copies segs notifies kicks allocs qemu-img_ns insns qemu-img_i loops
for row in $rows; do
    IFS=: read -r ctx rw bs qd <<< "$row"
    n=$N
    [ "$bs" -gt 65536 ] && n=$((N / 25))
    bench_args "$ctx" "rw=$rw,bs=$bs,qd=$qd,requests=$n,warmup=$((n / 10))"
    line=$(LD_PRELOAD="$preload" timeout 300 "$QEMU" "${QARGS[@]}" 2>&1)
    sanitizer "$ctx-$rw-$bs-qd$qd" "$line"
    line=$(grep '^XPVBENCH' <<< "$line")
    if [ -z "$line" ]; then
        echo "FAIL bench-native/$ctx-$rw-$bs-qd$qd: no result"
        fails=$((fails + 1))
        continue
    fi
    img=$(img_cpu "$rw" "$bs" "$qd" "$n")
    ins=- img_ins=-
    # iothread-fp(n) runs the same code as iothread: under valgrind its
    # count would be mostly the frontend's spinning
    if [ $insns = 1 ] && [ "${ctx#iothread-fp}" = "$ctx" ]; then
        ins=$(insns_per_req "$ctx" "$rw" "$bs" "$qd")
        img_ins=$(img_insns "$rw" "$bs" "$qd")
    fi
    v() { field "$1" "$line"; }
    loops=-
    [ "$ctx" = main ] && loops=$(v loop_iters_per_req)
    printf '%-12s %-10s %7s %3s %9s %9s %10s %7s %7s %8s %6s %7s %11s %7s %10s %6s\n' "$ctx" "$rw" "$bs" "$qd" \
        "$(v wall_ns_per_req)" "$(v backend_cpu_ns_per_req)" "$(v req_per_s_per_core)" \
        "$(v copy_calls_per_req)" "$(v copy_segs_per_req)" "$(v notifies_per_req)" \
        "$(v kicks_per_req)" "$(v allocs_per_req)" "$img" "$ins" "$img_ins" "$loops"
    echo "$ctx,$rw,$bs,$qd,$(v wall_ns_per_req),$(v backend_cpu_ns_per_req),$(v req_per_s_per_core),$(v copy_calls_per_req),$(v copy_segs_per_req),$(v notifies_per_req),$(v kicks_per_req),$(v allocs_per_req),$(v errors),$img,$ins,$img_ins,$loops" >> "$csv"
    if [ $smoke = 1 ]; then
        name="$ctx-$rw-$bs-qd$qd"
        check "$name-errors" "$(v errors)" == 0
        if [ "$qd" = 1 ]; then
            check "$name-copy-calls-per-req" "$(v copy_calls_per_req)" '<=' 1
        elif [ "$qd" -ge 16 ]; then
            check "$name-copy-calls-per-req" "$(v copy_calls_per_req)" '<=' 0.3
            check "$name-notifies-per-req" "$(v notifies_per_req)" '<=' 0.3
            # polled (I/O thread): the ring asks for no kick while
            # polled; 1/16 (a kick per refill) if it re-armed req_event
            # at every pass
            [ "$ctx" = iothread ] &&
                check "$name-kicks-per-req" "$(v kicks_per_req)" '<=' 0.03
        fi
        # main loop iterations (polls) per request: the frontend's kick,
        # then the block layer's completion BH (null-co completes in its
        # coroutine); the copy-out and the push in that iteration when
        # nothing else is in flight (QD1) or when the batch's last
        # request completes (QD16): 2 per batch, not 3
        if [ "$ctx" = main ] && [ "$bs" = 4096 ]; then
            case $qd in
            1) check "$name-loop-iterations-per-req" "$(v loop_iters_per_req)" '<=' 2.05 ;;
            16) check "$name-loop-iterations-per-req" "$(v loop_iters_per_req)" '<=' 0.15 ;;
            esac
        fi
        [ -n "$preload" ] &&
            check "$name-allocs-per-req" "$(v allocs_per_req)" '<=' "${XPV_ALLOCS_MAX:-0}"
    fi
done
# smoke_run NAME CTX DEVICE-OPTIONS: one smoke run of the bench device in
# CTX (main or iothread); its exit status, no sanitizer report, no error.
# Sets $line to its XPVBENCH line.
smoke_run() {
    local out rc
    bench_args "$2" "$3"
    out=$(timeout 300 "$QEMU" "${QARGS[@]}" 2>&1)
    rc=$?
    check "$2-$1-exit" "$rc" == 0
    sanitizer "$2-$1" "$out"
    line=$(grep '^XPVBENCH' <<< "$out")
    check "$2-$1-errors" "$(field errors "$line")" == 0
}
if [ $smoke = 1 ]; then
    for ctx in main iothread; do
        # ABORTs while requests are in flight and copies are batched:
        # every request answered once, the aborted ones with HOST_ABORT,
        # no other error (also the thing to run under ASan: make
        # check-asan runs this)
        smoke_run abort-stress "$ctx" "rw=randwrite,qd=15,abort-every=5,requests=$N,warmup=100"
        check "$ctx-abort-stress-aborted" "$(field aborted "$line")" '>' 0
        # Dataplanes started and destroyed before the run, their teardown
        # (data buffers freed through RCU) waited for, as a device unplug
        # does.
        smoke_run teardown "$ctx" "rw=randread,qd=4,cycles=3,requests=2000,warmup=100"
        # A request that stays in flight for 2 s on LUN 1 while 500 run
        # on LUN 0 (20 us each), not polled, the frontend notifying only
        # when req_event asks for it: one ring serves all LUNs, so a
        # slow one must not keep it from taking the others' requests
        # (as it would if req_event were left behind while requests
        # are in flight, xen-block's way, without a watchdog). All 500
        # are answered before LUN 1's request.
        IOT_OPTS=,poll-max-ns=0 NODE0=null-aio,latency-ns=20000
        EXTRA_ARGS=(-blockdev null-aio,node-name=slow,size=1073741824,latency-ns=2000000000)
        smoke_run slow-lun "$ctx" "rw=randread,qd=1,requests=500,warmup=10,slow-node=slow"
        check "$ctx-slow-lun-answered-first" "$(field slow_before_end "$line")" == 0
        check "$ctx-slow-lun-rslt" "$(field slow_rslt "$line")" == 0x0
        IOT_OPTS= NODE0= EXTRA_ARGS=()
    done
fi
echo "results: $csv"
echo "(times are of this machine only; counts are per request, after $((N / 10)) warm-up requests)"
[ $fails = 0 ]
