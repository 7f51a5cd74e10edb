#!/bin/bash
# The QEMU functional test of xen-pvscsi,
# tests/functional/test_x86_64_xen_pvscsi.py: real Xen 4.17 nested under
# TCG, this QEMU as the outer VM and as dom0's device model, a PV guest
# that sees a xen-pvscsi LUN (lsscsi) and reads back what it wrote (md5);
# plus the same guest checks under KVM's Xen emulation if the host has it.
#
# Through QEMU's own runner (meson test, setup "thorough", test
# func-x86_64-x86_64_xen_pvscsi) once the build registers the test
# (tests/functional/meson.build; contrib/functional-meson.diff until that
# is a patch in patches/). Otherwise, or with XPV_FT_QEMU / XPV_FT_DIRECT,
# the test file runs directly with the build's pyvenv python and the
# environment meson sets for it (tests/functional/meson.build).
#
#   XPV_FT_QEMU=PATH  the qemu-system-x86_64 under test (default: the
#                     build's; meson always uses the build's, so this
#                     implies the direct run)
#   XPV_FT_DIRECT=1   direct run with the build's binary
#   XPV_FT_QEMU_LUN=C:T:L  the LUN's address on dom0's QEMU command line
#                     (the guest looks for 0:1:0): shows a failure
#   XE_PRIORITY=1     go before runs waiting on outer-vm.hold (lib/boot.sh)
#   XPV_FT_TIMEOUT_MULTIPLIER  meson's --timeout-multiplier (default 1:
#                     the test's own 900 s)
# Needs the e2e images and their manifest (tests/xen-e2e/images.sh);
# without them the test reports a skip with the reason.
# Prints the TAP output, the result and the time; exit status 0 if the
# test passed or skipped.
# SPDX-License-Identifier: GPL-2.0-or-later
set -uo pipefail
. "$(dirname "$0")/common.sh"

test=x86_64_xen_pvscsi
name=func-x86_64-$test
file="$XPV_ROOT/tests/functional/test_$test.py"
py="$XPV_BUILD/pyvenv/bin/python3"
[ -x "$py" ] || xpv_die "no $py: build QEMU first (make build)"
[ -f "$file" ] || xpv_die "$file missing"
qemu=${XPV_FT_QEMU:-$XPV_BUILD/qemu-system-x86_64}
[ -x "$qemu" ] || xpv_die "no QEMU binary $qemu"
# no __pycache__ in the clone (its untracked files are overlaid into QEMU)
export PYTHONDONTWRITEBYTECODE=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# The test boots nested Xen under the e2e harness's lock
# (tests/xen-e2e/lib/boot.sh): $XE_CACHE/outer-vm.lock, and while
# outer-vm.hold names a live process only XE_PRIORITY=1 runs go. Run by
# itself, the test takes that lock; here this script takes it for the
# test (XPV_FT_OUTER_VM_LOCKED=1), so that meson's timeout does not count
# the wait for another nested-Xen run.
: "${XE_CACHE:=$XPV_CACHE/e2e}"
hold_active() {
    local p
    p=$(cat "$XE_CACHE/outer-vm.hold" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}
if [ -d "$XE_CACHE" ]; then
    wait_start=$(date +%s)
    exec {lockfd}> "$XE_CACHE/outer-vm.lock"
    while :; do
        if [ "${XE_PRIORITY:-0}" != 1 ] && hold_active; then
            xpv_log "waiting: priority runs first ($XE_CACHE/outer-vm.hold)"
            while hold_active; do sleep 10; done
        fi
        if ! flock -n "$lockfd"; then
            xpv_log "another nested-Xen run holds $XE_CACHE/outer-vm.lock; waiting for it"
            flock "$lockfd"
        fi
        if [ "${XE_PRIORITY:-0}" = 1 ] || ! hold_active; then
            break
        fi
        flock -u "$lockfd"
    done
    xpv_log "outer-VM lock taken after $(( $(date +%s) - wait_start )) s"
    export XPV_FT_OUTER_VM_LOCKED=1
fi

start=$(date +%s)
if [ -z "${XPV_FT_QEMU:-}" ] && [ "${XPV_FT_DIRECT:-0}" != 1 ] &&
   grep -q "\"$name\"" "$XPV_BUILD/meson-info/intro-tests.json" 2>/dev/null; then
    xpv_log "meson test $name (setup thorough) in $XPV_BUILD"
    (cd "$XPV_BUILD" && "$XPV_BUILD/pyvenv/bin/meson" test --no-rebuild \
        --setup thorough --verbose --print-errorlogs \
        --timeout-multiplier "${XPV_FT_TIMEOUT_MULTIPLIER:-1}" "$name") 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    # meson's summary has no skip reasons: the TAP lines, from its log
    grep -h -E '^(not )?ok ' "$XPV_BUILD/meson-logs/testlog-thorough.txt" 2>/dev/null | tee -a "$out"
else
    if [ -z "${XPV_FT_QEMU:-}" ] && [ "${XPV_FT_DIRECT:-0}" != 1 ]; then
        xpv_log "$name is not registered in $XPV_BUILD (contrib/functional-meson.diff not applied): running it directly"
    fi
    xpv_log "direct run: $file with $qemu"
    # what tests/functional/meson.build sets for the test
    (cd "$XPV_BUILD" &&
     env QEMU_TEST_QEMU_IMG="$XPV_BUILD/qemu-img" \
         QEMU_TEST_QEMU_BINARY="$qemu" \
         QEMU_BUILD_ROOT="$XPV_BUILD" \
         PYTHONPATH="$XPV_QEMU_SRC/python:$XPV_QEMU_SRC/tests/functional" \
         SPEED=thorough G_TEST_SLOW=1 \
         "$py" "$file") 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
fi
t=$(( $(date +%s) - start ))
if [ "$rc" != 0 ]; then
    echo "FAIL functional/$test (${t} s)"
elif grep -q '^ok .*# SKIP' "$out" && ! grep -q '^ok [0-9]* [^#]*$' "$out"; then
    echo "SKIP functional/$test (${t} s): $(sed -n 's/^ok .*# SKIP *//p' "$out" | paste -sd';' | sed 's/;/; /g')"
else
    echo "PASS functional/$test (${t} s)"
fi
exit "$rc"
