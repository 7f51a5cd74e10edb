#!/bin/bash
# make check-series: every patch of the series (make patches) applies and
# builds in order, passes the engine's unit test where it exists, passes
# checkpatch, and has a subject of at most 72 characters. Builds are
# incremental in $XPV_CACHE/series/build: the first run builds QEMU once
# (about 5 minutes on 2 cores), later ones only what each patch changes.
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
. "$(dirname "$0")/common.sh"

bash "$XPV_ROOT/scripts/xen-pvscsi/format-patches.sh" >/dev/null
out=${XPV_PATCH_OUT:-$XPV_ROOT/out/patches}
src="$XPV_CACHE/series/qemu-src"
build="$XPV_CACHE/series/build"
export GIT_DIR="$XPV_CACHE/series/git" GIT_WORK_TREE="$src"
cd "$src"
commits=$(git rev-list --reverse xpv-base..series)
total=$(wc -w <<< "$commits")
fails=0 i=0

# The patches as generated must apply, in order, to the pristine base.
git checkout -q -f --detach xpv-base
for p in "$out"/0*.patch; do
    case "$p" in */0000-cover-letter.patch) continue ;; esac
    if ! git apply --index --check "$p" 2>/tmp/xpv-apply.$$ ||
       ! git apply --index "$p" 2>/dev/null; then
        xpv_log "FAIL $(basename "$p") does not apply: $(head -n 3 /tmp/xpv-apply.$$)"
        fails=$((fails + 1))
        break
    fi
done
rm -f /tmp/xpv-apply.$$
if [ -n "$(git diff --cached series --stat)" ]; then
    xpv_log "FAIL the applied patches differ from the series branch"
    fails=$((fails + 1))
fi
git checkout -q -f series

# Upstream files warn with this compiler; warnings in the project's files
# fail the check below instead.
cfg_args=("${XPV_QEMU_CFG_ARGS[@]}" --disable-werror)
for c in $commits; do
    i=$((i + 1))
    subj=$(git log -1 --format=%s "$c")
    xpv_log "[$i/$total] $subj"
    git checkout -q -f "$c"
    if [ "${#subj}" -gt 72 ]; then
        xpv_log "FAIL [$i] subject has ${#subj} characters"
        fails=$((fails + 1))
    fi
    if ! cp_out=$(git format-patch -1 --stdout "$c" | ./scripts/checkpatch.pl -q - 2>&1); then
        echo "$cp_out" | head -n 20 >&2
        xpv_log "FAIL [$i] checkpatch"
        fails=$((fails + 1))
    fi
    if [ ! -f "$build/build.ninja" ]; then
        mkdir -p "$build"
        xpv_log "configuring $build (once; later runs are incremental)"
        (cd "$build" && "$src/configure" "${cfg_args[@]}" > configure.log 2>&1) || {
            tail -n 20 "$build/configure.log" >&2
            xpv_die "configure failed in $build"
        }
    fi
    targets=(qemu-system-x86_64)
    [ -f hw/scsi/xen-pvscsi-proto.c ] && targets+=(tests/unit/test-xen-pvscsi-proto)
    start=$(date +%s)
    if ! ninja -C "$build" "${targets[@]}" > "$build/ninja-$i.log" 2>&1; then
        grep -E -A8 'error|FAILED' "$build/ninja-$i.log" | head -n 30 >&2
        xpv_log "FAIL [$i] build; log: $build/ninja-$i.log"
        fails=$((fails + 1))
        continue
    fi
    if grep -E 'xen-pvscsi[^ ]*:[0-9]+:[0-9]+: warning' "$build/ninja-$i.log" >&2; then
        xpv_log "FAIL [$i] compiler warnings in the project's files"
        fails=$((fails + 1))
    fi
    if [ -f hw/scsi/xen-pvscsi-proto.c ]; then
        if ! "$build/tests/unit/test-xen-pvscsi-proto" > "$build/unit-$i.log" 2>&1; then
            xpv_log "FAIL [$i] unit test; log: $build/unit-$i.log"
            fails=$((fails + 1))
        fi
    fi
    xpv_log "ok [$i] built in $(( $(date +%s) - start )) s"
done
git checkout -q -f series
[ "$fails" -eq 0 ] || xpv_die "check-series: $fails failures in $total patches"
xpv_log "check-series: all $total patches apply, build, pass checkpatch and the unit test"
