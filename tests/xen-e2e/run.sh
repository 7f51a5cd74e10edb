#!/bin/bash
# Nested-Xen end-to-end runner.
#
#   tests/xen-e2e/run.sh [SCENARIO...]     default: every scenario in
#                                          scenarios/ without "# XE_DEFAULT=0"
#   tests/xen-e2e/run.sh --list            list the scenarios
#
# For each scenario: builds/reuses the images (images.sh), boots the outer
# VM once (Debian's QEMU, TCG) -> Xen 4.17 -> dom0, which runs
# scenarios/SCENARIO.sh with lib/dom0.sh; the per-check results come back
# through the 9p share. One boot per scenario: a boot costs about 25 s,
# and a fresh dom0 keeps the scenarios independent (kernel backend,
# leftover domains or QEMUs cannot leak from one into the next).
#
# Output: one line per check, "PASS scenario/check" or
# "FAIL scenario/check: reason", and last "N passed, M failed". Exit status
# 0 only if nothing failed. An infrastructure fault before the scenario
# started (dom0 not up, toolstack failed, time bound hit) is printed as
# "INFRA scenario: reason" and retried once; a second one is a FAIL.
# On failure the serial log, the QEMU logs and the guest consoles are kept
# and their paths printed; runs live in $XE_CACHE/runs/ (the newest
# $XE_KEEP_RUNS, default 10, are kept, and any run younger than 2 h).
#
# Environment: XE_SCENARIO_TIMEOUT (overrides the scenarios' XE_TIMEOUT
# headers), XE_BOOT_TIMEOUT, XE_TOOLSTACK_TIMEOUT, XE_CPU, XE_MEM, XE_SMP,
# XE_DOM0_MEM, XE_SKIP_IMAGES=1 (do not run images.sh), XE_CACHE,
# XE_SCENARIO_VARS="VAR=VALUE ..." (set in every scenario's environment
# in dom0, e.g. "R1_SCSIFRONT=hardirq" for pvscsi-reset-1vcpu; no spaces
# in a value), XE_LINUX_MODULES_EXTRA (lib/linux-modules.sh).
# SPDX-License-Identifier: GPL-2.0-or-later
set -uo pipefail
# shellcheck source=lib/host.sh
. "$(dirname "$0")/lib/host.sh"
# shellcheck source=lib/boot.sh
. "$XE_DIR/lib/boot.sh"

all_scenarios() {
    local f
    for f in "$XE_DIR"/scenarios/*.sh; do
        [ "$1" = default ] && grep -q '^# XE_DEFAULT=0' "$f" && continue
        basename "$f" .sh
    done
}

if [ "${1:-}" = --list ]; then
    for s in $(all_scenarios all); do
        printf '%-18s %s%s\n' "$s" "$(sed -n '2s/^# //p' "$XE_DIR/scenarios/$s.sh")" \
            "$(grep -q '^# XE_DEFAULT=0' "$XE_DIR/scenarios/$s.sh" && echo ' [not in the default list]')"
    done
    exit 0
fi
if [ $# -gt 0 ]; then
    SCENARIOS=("$@")
else
    mapfile -t SCENARIOS < <(all_scenarios default)
fi
for s in "${SCENARIOS[@]}"; do
    [ -f "$XE_DIR/scenarios/$s.sh" ] || xe_die "no scenario '$s' (see --list)"
done

NPASS=0
NFAIL=0
report() {   # report STATUS NAME [REASON]
    if [ "$1" = PASS ]; then
        NPASS=$((NPASS + 1))
        echo "PASS $2"
    else
        NFAIL=$((NFAIL + 1))
        echo "FAIL $2: ${3:-failed}"
    fi
}

T0=$SECONDS
if [ "${XE_SKIP_IMAGES:-0}" != 1 ]; then
    if ! bash "$XE_DIR/images.sh"; then
        report FAIL "images/build" "images.sh failed (see its output above)"
        echo "$NPASS passed, $NFAIL failed"
        exit 1
    fi
fi
# shellcheck disable=SC1091
. "$XE_CACHE/images.env" || xe_die "no $XE_CACHE/images.env"
T_IMAGES=$((SECONDS - T0))
[ -x "$XE_QEMU_BIN" ] || xe_log "note: no project QEMU at $XE_QEMU_BIN (scenarios that need it will fail)"
xe_log "project QEMU: $XE_QEMU_BIN${XPV_SANITIZERS:+ (ASan+UBSan build)}"
# The hostile frontend of pvscsi-rogue (cheap; a failure only fails that one).
bash "$XPV_ROOT/scripts/xen-pvscsi/build-rogue.sh" ||
    xe_log "note: xen-vscsi-rogue could not be built (pvscsi-rogue will fail)"
# libxl/xl with the contrib/xen vscsi series, for xl-vscsi only (cached:
# a no-op when built; the first build takes a few minutes).
case " ${SCENARIOS[*]} " in *" xl-vscsi "*)
    bash "$XPV_ROOT/scripts/xen-pvscsi/build-xen-tools.sh" ||
        xe_log "note: the patched xl could not be built (xl-vscsi will fail)" ;;
esac

RUN="$XE_CACHE/runs/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN"
# Prune old runs: beyond the newest $XE_KEEP_RUNS, those untouched for 2 h
# (another runner may be using a recent one).
find "$XE_CACHE/runs" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn |
    tail -n +$(( ${XE_KEEP_RUNS:-10} + 1 )) | cut -d' ' -f2- |
    while read -r d; do [ -n "$(find "$d" -maxdepth 0 -mmin +120)" ] && rm -rf "$d"; done
xe_log "run directory: $RUN"

TIMINGS=""
for s in "${SCENARIOS[@]}"; do
    attempt=1
    dir="$RUN/$s"
    while :; do
        xe_log "$s: booting Xen (attempt $attempt)"
        # shellcheck disable=SC2086
        xe_boot "$dir" "$s" ${XE_SCENARIO_VARS:-}
        xe_log "$s: $XE_BOOT_STATUS after ${XE_BOOT_SECONDS} s (stages:$XE_BOOT_STAGES)"
        if [ "$XE_BOOT_STATUS" = infra ] && [ "$attempt" = 1 ]; then
            echo "INFRA $s: $XE_BOOT_REASON -- retrying once (logs of this attempt: $dir)"
            attempt=2
            dir="$RUN/$s.retry"
            continue
        fi
        break
    done
    TIMINGS="$TIMINGS $s=${XE_BOOT_SECONDS}s"
    out="$dir/share/out"
    failed=0
    if [ "$XE_BOOT_STATUS" = infra ]; then
        echo "INFRA $s: $XE_BOOT_REASON (second attempt)"
        report FAIL "$s/infra" "$XE_BOOT_REASON"
        failed=1
    else
        while IFS= read -r line; do
            case $line in
                PASS\ *) report PASS "$s/${line#PASS }" ;;
                FAIL\ *) rest=${line#FAIL }
                         report FAIL "$s/${rest%%: *}" "${rest#*: }"
                         failed=1 ;;
            esac
        done < "$out/checks"
        grep -q '^PASS\|^FAIL' "$out/checks" 2>/dev/null ||
            { report FAIL "$s/no-checks" "the scenario recorded no check"; failed=1; }
        end_rc=$(sed -n 's/^scenario-end \([0-9]*\).*/\1/p' "$out/stage")
        if grep -q '^XE_SANITIZERS=1$' "$dir/share/run.env"; then
            # ASan/UBSan reports (log_path files written in dom0). Files
            # with only warnings (ASan's makecontext note) are not reports.
            reps=$(grep -l -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' \
                   "$out"/sanitizers/* 2>/dev/null | sort)
            if [ -n "$reps" ]; then
                # shellcheck disable=SC2086
                report FAIL "$s/sanitizers" "$(echo "$reps" | wc -l) sanitizer report(s), first: $(grep -h -m1 -E 'ERROR: |runtime error' $reps | head -n1 | cut -c1-200) ($out/sanitizers/)"
                failed=1
            elif [ "$XE_BOOT_STATUS" = "done" ]; then
                report PASS "$s/sanitizers-clean"
            fi
        fi
        if [ "$XE_BOOT_STATUS" != "done" ]; then
            report FAIL "$s/outer-vm" "$XE_BOOT_REASON"
            failed=1
        elif [ "$end_rc" != 0 ] && [ "$end_rc" != 124 ] && [ "$failed" = 0 ]; then
            report FAIL "$s/script" "the scenario script exited with $end_rc (see $out/scenario.log)"
            failed=1
        fi
    fi
    if [ "$failed" = 1 ]; then
        echo "  logs of $s:"
        echo "    serial console (Xen + dom0): $dir/serial.log"
        [ -e "$out/scenario.log" ] && echo "    scenario output in dom0:     $out/scenario.log"
        for f in "$out"/qemu-*.log; do [ -e "$f" ] && echo "    dom0 QEMU stderr:            $f"; done
        for f in "$out"/sanitizers/*; do [ -e "$f" ] && echo "    sanitizer report:            $f"; done
        for f in "$out"/console/guest-*.log; do [ -e "$f" ] && echo "    guest console:               $f"; done
        echo "    all results:                 $out/"
    fi
done
xe_log "timings: images ${T_IMAGES}s$TIMINGS; total $((SECONDS - T0)) s"
echo "$NPASS passed, $NFAIL failed"
[ "$NFAIL" = 0 ]
