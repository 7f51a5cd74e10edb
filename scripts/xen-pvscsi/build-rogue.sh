#!/bin/bash
# Build tests/rogue/xen-vscsi-rogue (the hostile vscsiif frontend that runs
# in the e2e domU) into $XPV_CACHE/rogue/. Linked statically against
# Debian's libxen-dev 4.17 (libxenstore, libxengnttab, libxenevtchn), so the
# domU needs no Xen libraries: the e2e harness ships the one file.
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
. "$(dirname "$0")/common.sh"

src="$XPV_ROOT/tests/rogue/xen-vscsi-rogue.c"
out="$XPV_CACHE/rogue"
bin="$out/xen-vscsi-rogue"
mkdir -p "$out"
for l in xenstore xengnttab xenevtchn xentoolcore xentoollog; do
    [ -f "/usr/lib/x86_64-linux-gnu/lib$l.a" ] ||
        xpv_die "lib$l.a missing: install libxen-dev (scripts/xen-pvscsi/deps.sh)"
done
if [ "$bin" -nt "$src" ] && [ "$bin" -nt "$0" ]; then
    exit 0
fi
${CC:-cc} -O2 -g -Wall -Wextra -Werror -static -o "$bin.tmp" "$src" \
    -lxenstore -lxengnttab -lxenevtchn -lxentoolcore -lxentoollog -lpthread ||
    xpv_die "building $bin failed"
mv "$bin.tmp" "$bin"
xpv_log "built $bin"
