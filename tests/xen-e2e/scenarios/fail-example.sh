#!/bin/bash
# Deliberately failing checks: shows what a FAIL looks like
# XE_TIMEOUT=240
# XE_DEFAULT=0
# One dom0 check and one guest check are wrong on purpose; one of each is
# right. run.sh must print readable FAIL lines, keep the logs and exit
# non-zero.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

check_eq dom0-arithmetic $((6 * 7)) 42
check_eq dom0-wrong-on-purpose "$(xl list | wc -l)" 99 "lines of 'xl list'"

guest_script fx <<'EOF_GUEST'
check guest-has-proc test -d /proc/self
check guest-wrong-on-purpose test -b /dev/sdz
EOF_GUEST
domu_create fx || exit 1
domu_unpause fx || exit 1
domu_wait fx 120
