#!/bin/bash
# The newcomer's demo: real Xen 4.17 (nested under QEMU, TCG), a Linux PV
# guest whose disk is a qcow2 image served by the project's xen-pvscsi.
#
#   tests/xen-e2e/demo.sh                 (or: make demo)
#   DEMO_SHELL=1 tests/xen-e2e/demo.sh    stay in dom0 afterwards: the
#                                         serial console is this terminal
#
# Steps: host packages and the project's QEMU if missing
# (scripts/xen-pvscsi/deps.sh, build.sh), the Xen/dom0/domU images
# (images.sh, cached), then one boot: dom0 starts the QEMU with
#   -device xen-pvscsi,id=vs0 -device scsi-hd,bus=vs0.0,scsi-id=1,drive=...
# for the guest, which shows lsscsi, makes ext4 on the disk, writes a file,
# remounts and reads it back (scenarios/demo.sh). A summary follows.
# With DEMO_SHELL=1 you get a dom0 shell at the end: "xl console demo" is
# the guest's shell (Ctrl-] leaves it), "xe-exit" stops everything.
# SPDX-License-Identifier: GPL-2.0-or-later
set -uo pipefail
# shellcheck source=lib/host.sh
. "$(dirname "$0")/lib/host.sh"
# shellcheck source=lib/boot.sh
. "$XE_DIR/lib/boot.sh"

T0=$SECONDS
say() { printf '\n==> %s\n' "$*"; }

has_device() { [ -x "$XE_QEMU_BIN" ] && "$XE_QEMU_BIN" -device help 2>/dev/null | grep -q '"xen-pvscsi"'; }
if ! has_device; then
    say "building the project's QEMU (first time: several minutes)"
    if pgrep -f "ninja -C $XPV_BUILD" > /dev/null; then
        xe_log "a build is already running in $XPV_BUILD; waiting for it"
        while pgrep -f "ninja -C $XPV_BUILD" > /dev/null; do sleep 5; done
    fi
    has_device || { bash "$XPV_ROOT/scripts/xen-pvscsi/deps.sh" && bash "$XPV_ROOT/scripts/xen-pvscsi/build.sh"; } ||
        xe_die "the QEMU build failed"
    has_device || xe_die "$XE_QEMU_BIN has no xen-pvscsi device"
fi
for p in qemu-system-x86 busybox-static cpio debootstrap kmod; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
        { bash "$XPV_ROOT/scripts/xen-pvscsi/deps.sh" || xe_die "deps.sh failed"; break; }
done

say "Xen, dom0 and guest images (cached under $XE_CACHE; first time about 3-4 minutes)"
bash "$XE_DIR/images.sh" || xe_die "images.sh failed"
# shellcheck disable=SC1091
. "$XE_CACHE/images.env"

RUN="$XE_CACHE/runs/demo-$(date +%Y%m%d-%H%M%S)"
if [ "${DEMO_SHELL:-0}" = 1 ]; then
    say "booting Xen; the serial console (Xen + dom0) is this terminal; dom0 shell at the end"
    XE_INTERACTIVE=1 XE_SHELL=1 xe_boot "$RUN" demo
else
    say "booting Xen 4.17 under QEMU (TCG, about 2-3 minutes); serial log: $RUN/serial.log"
    XE_BOOT_VERBOSE=1 xe_boot "$RUN" demo
fi
out="$RUN/share/out"

say "summary"
if [ -s "$out/demo.txt" ]; then
    sed 's/^DEMO: /  /' "$out/demo.txt"
else
    echo "  (no demo output)"
fi
np=$(grep -c '^PASS' "$out/checks" 2>/dev/null)
nf=$(grep -c '^FAIL' "$out/checks" 2>/dev/null)
echo
grep '^FAIL' "$out/checks" 2>/dev/null | sed 's/^/  /'
echo "  checks: ${np:-0} passed, ${nf:-0} failed; outer VM: $XE_BOOT_STATUS ($XE_BOOT_REASON)"
echo "  took $((SECONDS - T0)) s; logs: $RUN/serial.log, $out/"
[ "$XE_BOOT_STATUS" = "done" ] || [ "${DEMO_SHELL:-0}" = 1 ] || exit 1
[ "${nf:-0}" = 0 ] && [ "${np:-0}" -gt 0 ]
