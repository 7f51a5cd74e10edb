#!/bin/bash
# Build and run the libFuzzer harness of the xen-pvscsi request engine
# (tests/fuzz/xen-pvscsi-proto-fuzz.c + hw/scsi/xen-pvscsi-proto.c), with
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Environment:
#   FUZZ_RUNS     number of executions (default 200000; "make fuzz" uses
#                 10000000, "make check" a short run)
#   FUZZ_MAX_LEN  largest input in bytes (default: slot + control + 2 SG
#                 pages = 8508)
#   FUZZ_ARGS     extra libFuzzer options, e.g. "-jobs=4 -workers=4"
#   FUZZ_VERBOSE  1: show libFuzzer's output as it runs
#   CC            clang (default: clang)
#
# Everything is kept outside the clone, in $XPV_CACHE/fuzz:
#   xen-pvscsi-proto-fuzz   the fuzzer binary
#   seeds/                  seed corpus, regenerated on every run
#   corpus/                 the growing corpus (kept between runs)
#   artifacts/              crash-*, leak-*, timeout-* inputs
#   last-run.log            libFuzzer's output of the last run
#
# Exit status: 0 when the run ended without a finding, non-zero otherwise
# (a crash, a violated invariant, a sanitizer report, or a build failure).
# Re-run one input: $XPV_CACHE/fuzz/xen-pvscsi-proto-fuzz FILE
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
. "$(dirname "$0")/common.sh"

runs=${FUZZ_RUNS:-200000}
max_len=${FUZZ_MAX_LEN:-$((252 + 64 + 2 * 4096))}
cc=${CC:-clang}
case "$runs" in ''|*[!0-9]*) xpv_die "FUZZ_RUNS must be a number, not '$runs'" ;; esac

# Toolchain: clang with the libFuzzer/sanitizer runtimes (deps.sh installs
# Debian's clang and libclang-rt-14-dev).
command -v "$cc" >/dev/null || xpv_die "$cc not found; run scripts/xen-pvscsi/deps.sh"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
    "$cc" -x c - -fsanitize=fuzzer,address,undefined -o /dev/null 2>/dev/null ||
    xpv_die "$cc cannot link -fsanitize=fuzzer,address,undefined (Debian: clang and libclang-rt-14-dev); run scripts/xen-pvscsi/deps.sh"

# qemu/osdep.h needs the QEMU tree and the configured build's config-host.h.
bash "$XPV_ROOT/scripts/xen-pvscsi/fetch-qemu.sh"
[ -f "$XPV_BUILD/config-host.h" ] ||
    xpv_die "$XPV_BUILD/config-host.h missing: configure QEMU first (scripts/xen-pvscsi/build.sh)"

fz="$XPV_CACHE/fuzz"
bin="$fz/xen-pvscsi-proto-fuzz"
mkdir -p "$fz/corpus" "$fz/artifacts" "$fz/obj"

# The project headers are reached through the overlay (vscsiif.h includes
# "ring.h" from its own directory of the QEMU tree).
incs=(-I "$XPV_BUILD" -I "$XPV_QEMU_SRC/include"
      -I "$XPV_QEMU_SRC" -I "$XPV_QEMU_SRC/host/include/x86_64"
      -I "$XPV_QEMU_SRC/host/include/generic")
# shellcheck disable=SC2207
glib_cflags=($(pkg-config --cflags glib-2.0))
# shellcheck disable=SC2207
glib_libs=($(pkg-config --libs glib-2.0))
cflags=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE
        -D_FILE_OFFSET_BITS=64 -D_LARGEFILE_SOURCE -Wall -Werror
        -Wno-unused-function "${incs[@]}" "${glib_cflags[@]}")
# shellcheck disable=SC2054  # commas separate sanitizers, not elements
san=(-fsanitize=address,undefined -fno-sanitize-recover=all)
# The engine also traps on any silent integer truncation or unsigned
# wrap-around: all its arithmetic on guest values must fit its types.
# shellcheck disable=SC2054
san_engine=("${san[@]}" -fsanitize=implicit-integer-truncation,unsigned-integer-overflow)

engine="$XPV_ROOT/hw/scsi/xen-pvscsi-proto.c"
harness="$XPV_ROOT/tests/fuzz/xen-pvscsi-proto-fuzz.c"
xpv_log "building $bin"
"$cc" "${cflags[@]}" "${san_engine[@]}" -fsanitize=fuzzer-no-link \
    -c "$engine" -o "$fz/obj/xen-pvscsi-proto.o"
# The harness gets no coverage instrumentation: its loops (the oracle) would
# slow every run down and the coverage that matters is the engine's.
"$cc" "${cflags[@]}" "${san[@]}" \
    -c "$harness" -o "$fz/obj/xen-pvscsi-proto-fuzz.o"
"$cc" "${san[@]}" -fsanitize=fuzzer "$fz/obj/xen-pvscsi-proto.o" \
    "$fz/obj/xen-pvscsi-proto-fuzz.o" "${glib_libs[@]}" -o "$bin.new"
mv "$bin.new" "$bin"

rm -rf "$fz/seeds"
nseeds=$(python3 "$XPV_ROOT/tests/fuzz/xen-pvscsi-proto-seeds.py" "$fz/seeds")
xpv_log "seeds: $nseeds in $fz/seeds; corpus: $(find "$fz/corpus" -type f | wc -l) files in $fz/corpus"

xpv_log "fuzzing: $runs executions (max_len $max_len)"
log="$fz/last-run.log"
start=$(date +%s.%N)
set +e
# shellcheck disable=SC2086
if [ "${FUZZ_VERBOSE:-0}" = 1 ]; then
    "$bin" -runs="$runs" -max_len="$max_len" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$fz/artifacts/" \
        ${FUZZ_ARGS:-} "$fz/corpus" "$fz/seeds" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
else
    "$bin" -runs="$runs" -max_len="$max_len" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$fz/artifacts/" \
        ${FUZZ_ARGS:-} "$fz/corpus" "$fz/seeds" > "$log" 2>&1
    rc=$?
fi
set -e
secs=$(awk "BEGIN { print $(date +%s.%N) - $start }")

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
[ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n1)
rate=$(awk -v n="${execs:-0}" -v t="$secs" 'BEGIN { if (t > 0 && n > 0) printf "%d", n / t; else print "?" }')
if [ "$rc" -ne 0 ] || grep -qE '^==[0-9]+==ERROR|runtime error:|invariant violated|^SUMMARY: ' "$log"; then
    grep -E -A25 'invariant violated|^==[0-9]+==ERROR|runtime error:|deadly signal' "$log" | head -n 60 >&2 || tail -n 40 "$log" >&2
    grep -E 'Test unit written to' "$log" >&2 || true
    xpv_die "fuzzer found a problem (exit $rc) after ${execs:-?} executions; log: $log; reproduce: $bin <artifact>"
fi
grep -E '^Done [0-9]+ runs' "$log" | tail -n1
printf 'xen-pvscsi-proto-fuzz: %s executions in %.1f s (%s exec/s), 0 crashes; corpus %s files (%s)\n' \
    "${execs:-?}" "$secs" "${rate:-?}" "$(find "$fz/corpus" -type f | wc -l)" "$fz/corpus"
