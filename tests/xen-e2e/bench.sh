#!/bin/bash
# Benchmark: xen-pvscsi vs the kernel's xen-scsiback (LIO fileio) vs QEMU's
# xen-block (xen-disk/qdisk), in one boot, one guest, one RAM-backed file
# in dom0 (scenarios/bench.sh). fio in the guest: read 1M QD4, randread 4k
# QD16, write 1M QD4, randwrite 4k QD16, randread 4k QD1 (latency).
#
#   tests/xen-e2e/bench.sh            REPS=3 RUNTIME=10 (seconds per job)
#   REPS=5 RUNTIME=20 tests/xen-e2e/bench.sh
#
# Prints a table of medians and the ratios pvscsi/kernel and
# pvscsi/xen-block, and writes the raw results and the table as CSV (paths
# printed at the end). Everything runs under TCG, nested: the numbers
# compare the backends on this setup only, never absolute performance.
# Backends as configured: QEMU with cache=none,aio=native (O_DIRECT on the
# file); LIO fileio with its default (buffered, write-through).
# SPDX-License-Identifier: GPL-2.0-or-later
set -uo pipefail
# shellcheck source=lib/host.sh
. "$(dirname "$0")/lib/host.sh"
# shellcheck source=lib/boot.sh
. "$XE_DIR/lib/boot.sh"

REPS=${REPS:-3}
RUNTIME=${RUNTIME:-10}
[ -x "$XE_QEMU_BIN" ] || xe_die "no project QEMU at $XE_QEMU_BIN (make build)"
bash "$XE_DIR/images.sh" || xe_die "images.sh failed"
# shellcheck disable=SC1091
. "$XE_CACHE/images.env"

RUN="$XE_CACHE/runs/bench-$(date +%Y%m%d-%H%M%S)"
# 3 backends x 5 jobs x REPS x (RUNTIME + ~8 s fio start-up under TCG) + set-up
export XE_SCENARIO_TIMEOUT=$((15 * REPS * (RUNTIME + 8) + 300))
xe_log "bench: REPS=$REPS RUNTIME=${RUNTIME}s (about $((XE_SCENARIO_TIMEOUT / 60 + 1)) min); run directory $RUN"
attempt=1
while :; do
    xe_boot "$RUN" bench XE_BENCH_REPS="$REPS" XE_BENCH_RUNTIME="$RUNTIME"
    xe_log "bench: $XE_BOOT_STATUS after $XE_BOOT_SECONDS s ($XE_BOOT_REASON)"
    [ "$XE_BOOT_STATUS" = infra ] && [ $attempt = 1 ] && { echo "INFRA bench: $XE_BOOT_REASON -- retrying once"; attempt=2; continue; }
    break
done
out="$RUN/share/out"
csv="$RUN/bench.csv"
summary="$RUN/bench-summary.csv"
{ echo "backend,job,rep,bw_kib_s,iops,lat_us"; sed 's/^BENCH,//' "$out/bench.csv" 2>/dev/null; } > "$csv"
if [ "$(wc -l < "$csv")" -le 1 ]; then
    echo "bench: no results; logs: $RUN/serial.log, $out/"
    grep '^FAIL' "$out/checks" 2>/dev/null | head
    exit 1
fi

# Medians per backend and job.
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
jobs="read-1M-qd4 randread-4k-qd16 write-1M-qd4 randwrite-4k-qd16 randread-4k-qd1"
echo "job,metric,pvscsi,kernel,xenblock,pvscsi/kernel,pvscsi/xenblock" > "$summary"
printf '\n%-18s %-9s %12s %12s %12s %10s %12s\n' job metric xen-pvscsi kernel xen-block pv/kernel pv/xen-block
for j in $jobs; do
    case $j in
        *-1M-*) metric=MiB/s col=4 ;;
        *-qd1) metric=lat_us col=6 ;;
        *) metric=IOPS col=5 ;;
    esac
    vals=()
    for b in pvscsi kernel xenblock; do
        v=$(awk -F, -v b="$b" -v j="$j" -v c="$col" 'NR > 1 && $1 == b && $2 == j {print $c}' "$csv" | median)
        [ "$metric" = MiB/s ] && [ -n "$v" ] && v=$(awk -v v="$v" 'BEGIN {printf "%.1f", v / 1024}')
        vals+=("${v:-NA}")
    done
    r1=$(awk -v a="${vals[0]}" -v b="${vals[1]}" 'BEGIN {if (b + 0 > 0 && a != "NA") printf "%.2f", a / b; else print "NA"}')
    r2=$(awk -v a="${vals[0]}" -v b="${vals[2]}" 'BEGIN {if (b + 0 > 0 && a != "NA") printf "%.2f", a / b; else print "NA"}')
    printf '%-18s %-9s %12s %12s %12s %10s %12s\n' "$j" "$metric" "${vals[0]}" "${vals[1]}" "${vals[2]}" "$r1" "$r2"
    echo "$j,$metric,${vals[0]},${vals[1]},${vals[2]},$r1,$r2" >> "$summary"
done
echo
echo "medians of $REPS repetitions x ${RUNTIME}s; for lat_us lower is better (ratio < 1 = pvscsi faster)"
echo "raw results: $csv"
echo "summary:     $summary"
nf=$(grep -c '^FAIL' "$out/checks" 2>/dev/null)
[ "${nf:-0}" = 0 ] || { echo "bench: $nf checks failed:"; grep '^FAIL' "$out/checks"; exit 1; }
