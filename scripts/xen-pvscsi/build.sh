#!/bin/bash
# Configure (once) and build QEMU with the xen-pvscsi overlay.
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
. "$(dirname "$0")/common.sh"

bash "$XPV_ROOT/scripts/xen-pvscsi/fetch-qemu.sh"

build="$XPV_BUILD"
cfg_args=("${XPV_QEMU_CFG_ARGS[@]}")
if [ "${XPV_SANITIZERS:-}" = 1 ]; then
    cfg_args+=(--enable-asan --enable-ubsan --cc=clang --cxx=clang++)
fi
cfg_key=$(printf '%s\n' "${cfg_args[@]}" | sha256sum | cut -c1-16)
if [ "$(cat "$build/.xpv-config" 2>/dev/null)" != "$cfg_key" ]; then
    xpv_log "configuring QEMU in $build"
    rm -rf "$build"
    mkdir -p "$build"
    (cd "$build" && "$XPV_QEMU_SRC/configure" "${cfg_args[@]}" > configure.log 2>&1) || {
        tail -n 30 "$build/configure.log" >&2
        xpv_die "QEMU configure failed; full log: $build/configure.log"
    }
    echo "$cfg_key" > "$build/.xpv-config"
fi
xpv_log "building (ninja in $build)"
start=$(date +%s)
ninja -C "$build" qemu-system-x86_64 qemu-img ${XPV_EXTRA_TARGETS:-} > "$build/ninja.log" 2>&1 || {
    grep -E -B2 -A12 'error|FAILED' "$build/ninja.log" | head -n 80 >&2
    xpv_die "build failed; full log: $build/ninja.log"
}
xpv_log "build done in $(( $(date +%s) - start )) s: $build/qemu-system-x86_64"
