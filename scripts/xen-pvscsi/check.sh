#!/bin/bash
# make check: every test group of xen-pvscsi, each named, with a final
# "N passed, M failed" line. Exit status non-zero if anything failed.
#   XPV_CHECK_GROUPS  space-separated subset of: build help unit checkpatch
#                     warnings fuzz bench-native series e2e functional
#                     (default: all
#                     but series: make check-series builds QEMU once per
#                     Kconfig change of the series, about 25 minutes on 2
#                     cores, more than make check can spend in CI)
#   XPV_E2E_SCENARIOS passed to tests/xen-e2e/run.sh (default: its list)
# SPDX-License-Identifier: GPL-2.0-or-later
set -uo pipefail
. "$(dirname "$0")/common.sh"

groups=${XPV_CHECK_GROUPS:-"build help unit checkpatch warnings fuzz bench-native e2e functional"}
passed=0
failed=0
failures=()
logdir="$XPV_CACHE/check-logs"
mkdir -p "$logdir"

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); failures+=("$1"); }
group() { echo; echo "=== $1 ==="; }
want() { [[ " $groups " == *" $1 "* ]]; }

QEMU="$XPV_BUILD/qemu-system-x86_64"
our_c_files() {
    (cd "$XPV_ROOT" && git ls-files --cached --others --exclude-standard \
        -- 'hw/*.c' 'hw/*.h' 'include/*.h' 'tests/unit/*.c' 'tests/fuzz/*.c')
}

if want build; then
    group "build: dependencies, QEMU $XPV_QEMU_DEB_VERSION base, overlay, compile"
    if bash "$XPV_ROOT/scripts/xen-pvscsi/deps.sh" &&
       XPV_EXTRA_TARGETS="tests/unit/test-xen-pvscsi-proto qemu-io qemu-nbd storage-daemon/qemu-storage-daemon" \
       bash "$XPV_ROOT/scripts/xen-pvscsi/build.sh"; then
        pass build/qemu
    else
        fail build/qemu "build failed (see above)"
        echo; echo "$passed passed, $failed failed"
        exit 1
    fi
fi

if want help; then
    group "help: the device is registered"
    out=$("$QEMU" -device help 2>&1)
    if grep -q '^name "xen-pvscsi", bus xen-bus' <<< "$out"; then
        pass help/device-listed
    else
        fail help/device-listed "'-device help' does not list xen-pvscsi on xen-bus"
    fi
    props=$("$QEMU" -device xen-pvscsi,help 2>&1)
    for p in vhost feature-sg-grant feature-host iothread frontend-id; do
        if grep -q "^  $p=" <<< "$props"; then
            pass "help/property-$p"
        else
            fail "help/property-$p" "property $p missing"
        fi
    done
fi

if want unit; then
    group "unit: request engine (tests/unit/test-xen-pvscsi-proto)"
    t="$XPV_BUILD/tests/unit/test-xen-pvscsi-proto"
    if [ ! -x "$t" ]; then
        ninja -C "$XPV_BUILD" tests/unit/test-xen-pvscsi-proto >/dev/null 2>&1
    fi
    if out=$("$t" --tap 2>&1); then
        n=$(grep -c '^ok ' <<< "$out")
        pass "unit/test-xen-pvscsi-proto ($n cases)"
    else
        grep -E '^not ok|ERROR|Bail' <<< "$out" | head -20
        fail unit/test-xen-pvscsi-proto "$(grep -c '^not ok' <<< "$out") cases failed"
    fi
fi

if want unit; then
    group "unit: carried QEMU patches, in QEMU's own test framework"
    # patches/0021 (the main loop's dispatch leaves notify_me clear):
    # QEMU's AioContext unit test, with the patch's new case
    # /aio-gsource/bh/schedule-no-notify and the case it changes
    log="$logdir/test-aio.log"
    if ninja -C "$XPV_BUILD" tests/unit/test-aio > "$log" 2>&1 &&
       "$XPV_BUILD/tests/unit/test-aio" >> "$log" 2>&1; then
        if grep -q '^ok .* /aio-gsource/bh/schedule-no-notify$' "$log"; then
            pass "unit/test-aio ($(grep -c '^ok' "$log") cases)"
        else
            fail unit/test-aio "no /aio-gsource/bh/schedule-no-notify case; log: $log"
        fi
    else
        grep -E 'not ok|ERROR|Bail out' "$log" | head -5
        fail unit/test-aio "failed; log: $log"
    fi
    # patches/0017 (file-posix reads page cache hits in the calling
    # thread): its iotest, raw on a file in the build directory's scratch
    # directory, with the build's qemu-io. "not run" (a file system without
    # RWF_NOWAIT, tmpfs) fails: this test must run where make check runs.
    if [ ! -x "$XPV_BUILD/qemu-io" ] || [ ! -x "$XPV_BUILD/qemu-nbd" ] ||
       [ ! -x "$XPV_BUILD/storage-daemon/qemu-storage-daemon" ]; then
        ninja -C "$XPV_BUILD" qemu-io qemu-nbd storage-daemon/qemu-storage-daemon \
            >/dev/null 2>&1
    fi
    log="$logdir/iotest-file-posix-cached-read.log"
    # Under ASan (make check-asan) the sanitizers report to files, not
    # into the output the iotest compares (ASan's warning about
    # swapcontext alone would fail it); a report in them fails the test.
    san=()
    if [ "${XPV_SANITIZERS:-}" = 1 ]; then
        rm -f "$logdir"/iotest-sanitizer.*
        san=(env "ASAN_OPTIONS=log_path=$logdir/iotest-sanitizer"
             "UBSAN_OPTIONS=log_path=$logdir/iotest-sanitizer")
    fi
    (cd "$XPV_BUILD/tests/qemu-iotests" &&
        "${san[@]}" ./check -raw -file file-posix-cached-read) > "$log" 2>&1
    if [ ${#san[@]} -gt 0 ] &&
       cat "$logdir"/iotest-sanitizer.* 2>/dev/null |
           grep -q -E "$XPV_SANITIZER_RE"; then
        fail iotests/file-posix-cached-read "sanitizer report: $logdir/iotest-sanitizer.*"
    elif grep -q '^Passed all 1 iotests' "$log"; then
        pass iotests/file-posix-cached-read
    else
        grep -E 'not run|fail|^[-+]' "$log" | head -20
        fail iotests/file-posix-cached-read "did not pass; log: $log"
    fi
fi

if want checkpatch; then
    group "checkpatch: QEMU style on the project's C files"
    while read -r f; do
        # Run on the overlay link so checkpatch sees the path QEMU would.
        if out=$(cd "$XPV_QEMU_SRC" && ./scripts/checkpatch.pl -q -f "$f" 2>&1); then
            pass "checkpatch/$f"
        else
            echo "$out" | head -20
            fail "checkpatch/$f" "style errors"
        fi
    done < <(our_c_files)
fi

if want warnings; then
    group "warnings: no compiler warnings in the project's files"
    # Recompile our objects and look at what the compiler said about them.
    objs=$(ninja -C "$XPV_BUILD" -t targets all 2>/dev/null |
           sed -n 's/^\([^:]*xen-pvscsi[^:]*\.o\):.*/\1/p')
    # shellcheck disable=SC2086
    (cd "$XPV_BUILD" && rm -f $objs)
    # shellcheck disable=SC2086
    out=$(ninja -C "$XPV_BUILD" $objs 2>&1)
    if grep -E 'xen-pvscsi[^ ]*:[0-9]+:[0-9]+: (warning|error)' <<< "$out"; then
        fail warnings/compile "the compiler warns about project files (above)"
    else
        pass "warnings/compile ($(wc -w <<< "$objs") objects)"
    fi
fi

if want fuzz; then
    group "fuzz: short libFuzzer run over the request engine"
    if [ -f "$XPV_ROOT/scripts/xen-pvscsi/fuzz.sh" ]; then
        if FUZZ_RUNS=${FUZZ_RUNS:-200000} bash "$XPV_ROOT/scripts/xen-pvscsi/fuzz.sh" > "$logdir/fuzz.log" 2>&1; then
            pass "fuzz/request-engine ($(grep -Eo 'Done [0-9]+ runs' "$logdir/fuzz.log" | tail -1))"
        else
            tail -30 "$logdir/fuzz.log"
            fail fuzz/request-engine "fuzzer failed; log: $logdir/fuzz.log"
        fi
    else
        fail fuzz/request-engine "scripts/xen-pvscsi/fuzz.sh missing"
    fi
fi

if want bench-native; then
    group "bench-native: per-request counts of the dataplane without Xen (smoke)"
    if bash "$XPV_ROOT/scripts/xen-pvscsi/bench-native.sh" --smoke > "$logdir/bench-native.log" 2>&1; then
        pass "bench-native/smoke ($(grep -c '^PASS' "$logdir/bench-native.log") counts)"
    else
        grep -E '^FAIL|ERROR' "$logdir/bench-native.log" | head -20
        fail bench-native/smoke "log: $logdir/bench-native.log"
    fi
fi

if want series; then
    group "series: every patch of make patches applies, builds, passes checkpatch and the unit test"
    start=$(date +%s)
    if bash "$XPV_ROOT/scripts/xen-pvscsi/check-series.sh" > "$logdir/series.log" 2>&1; then
        pass "series/check-series ($(grep -c '\] ok \[' "$logdir/series.log") patches, $(( $(date +%s) - start )) s)"
    else
        grep -E 'FAIL|ERROR' "$logdir/series.log" | head -20
        fail series/check-series "log: $logdir/series.log"
    fi
fi

if want e2e; then
    group "e2e: real Xen 4.17 nested under QEMU TCG, Linux xen-scsifront guest"
    runner="$XPV_ROOT/tests/xen-e2e/run.sh"
    if [ ! -f "$runner" ]; then
        fail e2e/harness "tests/xen-e2e/run.sh missing"
    else
        # shellcheck disable=SC2086
        bash "$runner" ${XPV_E2E_SCENARIOS:-} 2>&1 | tee "$logdir/e2e.log"
        rc=${PIPESTATUS[0]}
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$logdir/e2e.log" | tail -1)
        if [ -n "$line" ]; then
            p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
            passed=$((passed + p)); failed=$((failed + f))
            [ "$f" -gt 0 ] && failures+=("e2e ($f checks)")
            if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
                fail e2e/runner "runner exited $rc"
            fi
        else
            fail e2e/runner "runner exited $rc without a result line; log: $logdir/e2e.log"
        fi
    fi
fi

if want functional; then
    group "functional: QEMU's functional test (tests/functional/test_x86_64_xen_pvscsi.py)"
    if bash "$XPV_ROOT/scripts/xen-pvscsi/functional.sh" > "$logdir/functional.log" 2>&1; then
        # The nested-Xen test must have run and passed; the KVM Xen one
        # may skip (no KVM_CAP_XEN_HVM on our machines), saying why.
        if grep -Eq '^ok [0-9]+ [^#]*test_pvscsi_nested_xen *$' "$logdir/functional.log"; then
            pass "functional/xen-pvscsi (nested Xen: ok; $(grep -Eo 'test_pvscsi_kvm_xen.*' "$logdir/functional.log" | tail -1 | cut -c1-90))"
        else
            grep -E '^(ok|not ok)|SKIP' "$logdir/functional.log" | head -5
            fail functional/xen-pvscsi "the nested-Xen test did not pass (above); log: $logdir/functional.log"
        fi
    else
        tail -n 30 "$logdir/functional.log"
        fail functional/xen-pvscsi "log: $logdir/functional.log"
    fi
fi

echo
if [ "$failed" -gt 0 ]; then
    echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
