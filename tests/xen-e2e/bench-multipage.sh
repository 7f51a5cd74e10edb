#!/bin/bash
# Benchmark for issue 15 (multi-page rings): xen-pvscsi with the patched
# xen-scsifront (contrib/linux 0001 + 0002) at 1, 4 and 16 ring pages vs
# the kernel's xen-scsiback (LIO fileio, one page) vs QEMU's xen-block
# (xen-disk; xen-blkfront with max_ring_page_order=BLK_ORDER), one boot,
# one guest, all five backends at the same time (scenarios/bench-multipage.sh).
#
#   tests/xen-e2e/bench-multipage.sh
#   XE_QEMU_BIN=$HOME/.cache/xen-pvscsi/snap-v1/qemu-system-x86_64 tests/xen-e2e/bench-multipage.sh
#   REPS=1 WARMUP=0 RUNTIME=2 QDS="16 128" NJOBS=1 RWS=randread tests/xen-e2e/bench-multipage.sh   (quick try)
#
# Variables (defaults in brackets):
#   REPS        measured repetitions [3]; backend order rotated per rep
#   RUNTIME     seconds measured per fio job [3]
#   RAMP        seconds of fio ramp_time before each measured job [1]
#   WARMUP      seconds of the discarded warm-up rep's job (iodepth 32,
#               numjobs 1, no ramp; one per backend and RW) [2]; 0: none
#   RWS         fio rw modes [randread randwrite]
#   QDS         fio iodepth per job [16 32 64 128]
#   NJOBS       fio numjobs (group_reporting) [1 4]
#   BENCH_SIZE_MB  size of each backend's file on dom0's /tmp [64]
#   BLK_ORDER   xen-blkfront's max_ring_page_order in the guest [4]
#               (its default is 0, one page; QEMU's xen-disk allows 4)
#   LUN_QD      default: the LUNs keep the frontend's queue depth
#               (cmd_per_lun); max: set to can_queue (ring size) [default]
#   XE_QEMU_BIN the project's QEMU [$XPV_BUILD/qemu-system-x86_64]
#   XE_SCENARIO_TIMEOUT  bound of the dom0 part [computed]
#   and lib/host.sh's XE_* (XE_CACHE, XE_MEM, ...).
#
# Every job: 4k, direct=1, libaio, time_based, norandommap, the whole
# device. Output: the configuration and a table of median IOPS per backend
# (min-max in the CSV) with the ratios N pages / 1 page and against the
# kernel backend and xen-block, on stdout and in the run directory
# (printed): bench-multipage.txt, bench-multipage-raw.csv (one row per fio
# job group), bench-multipage.csv (medians and ratios). Everything runs
# nested under TCG: the numbers compare the backends on this setup only.
# SPDX-License-Identifier: GPL-2.0-or-later
set -uo pipefail
# shellcheck source=lib/host.sh
. "$(dirname "$0")/lib/host.sh"
# shellcheck source=lib/boot.sh
. "$XE_DIR/lib/boot.sh"

REPS=${REPS:-3}
RUNTIME=${RUNTIME:-3}
RAMP=${RAMP:-1}
WARMUP=${WARMUP:-2}
RWS=${RWS:-randread randwrite}
QDS=${QDS:-16 32 64 128}
NJOBS=${NJOBS:-1 4}
BENCH_SIZE_MB=${BENCH_SIZE_MB:-64}
BLK_ORDER=${BLK_ORDER:-4}
LUN_QD=${LUN_QD:-default}
for v in REPS RUNTIME RAMP WARMUP BENCH_SIZE_MB BLK_ORDER; do
    [[ ${!v} =~ ^[0-9]+$ ]] || xe_die "$v=${!v}: a number"
done
for v in $QDS $NJOBS; do [[ $v =~ ^[0-9]+$ ]] || xe_die "QDS/NJOBS: numbers, not '$v'"; done
for v in $RWS; do [[ $v =~ ^(randread|randwrite|read|write)$ ]] || xe_die "RWS: bad mode '$v'"; done
case $LUN_QD in default | max) ;; *) xe_die "LUN_QD=$LUN_QD: default or max" ;; esac
xe_bench_prepare bench-multipage
XE_DIR=$STAGE

# Time bound: per fio run (5 backends x RWS per rep) its jobs at ramp +
# runtime + 1 s each (start-up, draining a deep queue), plus 5 s; 300 s
# for the guest's start and the backing files; x1.5 for a loaded host.
# (Measured 2026-11-30 on a quiet host: a run of 8 jobs of 1 + 3 s took
# 36-38 s; the defaults took 1208 s in dom0, 1219 s with the boot.)
nrw=$(echo "$RWS" | wc -w)
njobs=$(($(echo "$QDS" | wc -w) * $(echo "$NJOBS" | wc -w)))
est=$((5 * nrw * REPS * (njobs * (RAMP + RUNTIME + 1) + 5) + 300))
[ "$WARMUP" -gt 0 ] && est=$((est + 5 * nrw * (WARMUP + 7)))
export XE_SCENARIO_TIMEOUT=${XE_SCENARIO_TIMEOUT:-$((est * 3 / 2))}

commit=$(git -C "$XE_DIR_TREE" rev-parse --short HEAD 2>/dev/null)
binsum=$(sha256sum "$XE_QEMU_BIN" | cut -c1-12)
config="reps=$REPS runtime=${RUNTIME}s ramp=${RAMP}s warmup=${WARMUP}s rw='$RWS' qd='$QDS' numjobs='$NJOBS' bs=4k size=${BENCH_SIZE_MB}MiB/backend blkfront-max_ring_page_order=$BLK_ORDER lun-queue-depth=$LUN_QD"
xe_log "bench-multipage: $config; about $((est / 60 + 1)) min plus the boot (bound $((XE_SCENARIO_TIMEOUT / 60)) min); run directory $RUN"
attempt=1
while :; do
    xe_boot "$RUN" bench-multipage XE_MPB_REPS="$REPS" XE_MPB_RUNTIME="$RUNTIME" XE_MPB_RAMP="$RAMP" \
        XE_MPB_WARMUP="$WARMUP" XE_MPB_RWS="$RWS" XE_MPB_QDS="$QDS" XE_MPB_NJOBS="$NJOBS" \
        XE_MPB_SIZE_MB="$BENCH_SIZE_MB" XE_MPB_BLK_ORDER="$BLK_ORDER" XE_MPB_LUN_QD="$LUN_QD"
    xe_log "bench-multipage: $XE_BOOT_STATUS after $XE_BOOT_SECONDS s ($XE_BOOT_REASON)"
    [ "$XE_BOOT_STATUS" = infra ] && [ $attempt = 1 ] && { echo "INFRA bench-multipage: $XE_BOOT_REASON -- retrying once"; attempt=2; continue; }
    break
done
out="$RUN/share/out"
{
    echo "config: $config"
    echo "backends: pv1/pv4/pv16 = xen-pvscsi max-ring-page-order 0/2/4 (QEMU cache=none,aio=native), patched xen-scsifront (contrib/linux 0001+0002);"
    echo "  kernel = LIO fileio + xen-scsiback (1 page); xenblock = QEMU xen-disk cache=none,aio=native, xen-blkfront max_ring_page_order=$BLK_ORDER"
    echo "QEMU: $XE_QEMU_BIN (sha256 $binsum); tree $commit; run $STAMP ($XE_BOOT_SECONDS s, $XE_BOOT_STATUS)"
    sed 's/^/guest: /' "$out/mpbench-conf.txt" 2>/dev/null
    grep -o 'CONF .*' "$out/scenario.log" 2>/dev/null | sed 's/^/dom0: /'
} > "$RUN/bench-multipage-config.txt"
cat "$RUN/bench-multipage-config.txt"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" - "$RUN" <<'EOF_PY'
import csv, statistics, sys, os
run = sys.argv[1]
src = os.path.join(run, "share", "out", "mpbench.csv")
rows = []
try:
    with open(src) as f:
        for line in f:
            p = line.strip().split(",")
            if len(p) != 13 or p[0] != "MPB":
                continue
            # IOPS from the bandwidth (4 KiB blocks): with group_reporting
            # fio's own IOPS field of a numjobs > 1 group is not the
            # group's I/O count over its runtime, its bandwidth is
            rows.append(dict(phase=p[1], backend=p[2], rw=p[3], qd=int(p[4]), nj=int(p[5]), rep=int(p[6]),
                             iops=float(p[8]) / 4, fio_iops=p[7], bw_kib=p[8], lat_mean_us=p[9], clat_p99_us=p[10],
                             io_kib=p[11], runtime_ms=p[12]))
except OSError as e:
    print(f"bench-multipage: no results: {e}")
    sys.exit(1)
with open(os.path.join(run, "bench-multipage-raw.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["phase", "backend", "rw", "qd", "numjobs", "rep", "iops", "fio_iops", "bw_kib", "lat_mean_us", "clat_p99_us", "io_kib", "runtime_ms"])
    for r in rows:
        w.writerow([r[k] for k in ("phase", "backend", "rw", "qd", "nj", "rep", "iops", "fio_iops", "bw_kib", "lat_mean_us", "clat_p99_us", "io_kib", "runtime_ms")])
B = ["pv1", "pv4", "pv16", "kernel", "xenblock"]
m = [r for r in rows if r["phase"] == "m"]
keys = sorted({(r["rw"], r["nj"], r["qd"]) for r in m}, key=lambda k: (k[0], k[1], k[2]))
def stats(rw, nj, qd, b):
    v = sorted(r["iops"] for r in m if (r["rw"], r["nj"], r["qd"], r["backend"]) == (rw, nj, qd, b))
    return (statistics.median(v), v[0], v[-1], len(v)) if v else None
def ratio(a, b):
    return a / b if a is not None and b else None
fmt = lambda x, d=0: "-" if x is None else f"{x:.{d}f}"
ratios = [("pv4/pv1", "pv4", "pv1"), ("pv16/pv1", "pv16", "pv1"), ("pv1/kern", "pv1", "kernel"),
          ("pv4/kern", "pv4", "kernel"), ("pv16/kern", "pv16", "kernel"), ("pv16/xblk", "pv16", "xenblock"),
          ("xblk/kern", "xenblock", "kernel")]
lines = []
hdr = f"{'rw':<10}{'nj':>3}{'qd':>5} " + "".join(f"{b:>9}" for b in B) + "  " + "".join(f"{n:>10}" for n, _, _ in ratios)
lines.append("median IOPS (4k, %d measured reps; min-max in bench-multipage.csv)" % max([r["rep"] for r in m] or [0]))
lines.append(hdr)
lines.append("-" * len(hdr))
with open(os.path.join(run, "bench-multipage.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["rw", "numjobs", "qd"] + [f"{b}_{s}" for b in B for s in ("median", "min", "max", "n")] + [n for n, _, _ in ratios])
    for rw, nj, qd in keys:
        st = {b: stats(rw, nj, qd, b) for b in B}
        med = {b: (st[b][0] if st[b] else None) for b in B}
        rs = [ratio(med[a], med[c]) for _, a, c in ratios]
        lines.append(f"{rw:<10}{nj:>3}{qd:>5} " + "".join(f"{fmt(med[b]):>9}" for b in B) + "  " + "".join(f"{fmt(x, 2):>10}" for x in rs))
        row = [rw, nj, qd]
        for b in B:
            row += list(st[b]) if st[b] else ["", "", "", 0]
        row += ["" if x is None else f"{x:.3f}" for x in rs]
        w.writerow(row)
txt = "\n".join(lines)
print(txt)
with open(os.path.join(run, "bench-multipage.txt"), "w") as f:
    f.write(open(os.path.join(run, "bench-multipage-config.txt")).read() + "\n" + txt + "\n")
EOF_PY
rc=$?
echo "run directory: $RUN (bench-multipage.txt, bench-multipage.csv, bench-multipage-raw.csv)"
nf=$(grep -c '^FAIL' "$out/checks" 2>/dev/null)
np=$(grep -c '^PASS' "$out/checks" 2>/dev/null)
echo "checks: ${np:-0} passed, ${nf:-0} failed"
[ "${nf:-0}" = 0 ] || { grep '^FAIL' "$out/checks"; rc=1; }
[ "$XE_BOOT_STATUS" = "done" ] || { echo "bench-multipage: run $XE_BOOT_STATUS ($XE_BOOT_REASON); logs: $RUN/serial.log, $out/"; rc=1; }
exit $rc
