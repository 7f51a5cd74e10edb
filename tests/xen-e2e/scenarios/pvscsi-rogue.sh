#!/bin/bash
# xen-pvscsi under a hostile userspace frontend (xen-vscsi-rogue): asserted attack cases
# XE_TIMEOUT=420
# The domU does not load xen-scsifront: tests/rogue/xen-vscsi-rogue binds
# vhost 0 (attacked, raw 16 MiB at 0:1:0) and vhost 1 (healthy, 0:1:0)
# itself with gntalloc, evtchn and xenstore, and plays the attack cases
# (fields, grants, TMFs, ring, xenstore), each with its expected result.
# Its "PASS case" / "FAIL case: reason" lines become checks rogue-CASE.
# dom0 then checks QEMU: alive, QMP running, exactly one "halting this
# ring" line per halted ring, guest-triggered warnings rate-limited.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

ROGUE="$XE_SHARE/bin/xen-vscsi-rogue"
if [ ! -x "$ROGUE" ]; then
    fail rogue-binary "no xen-vscsi-rogue on the share (scripts/xen-pvscsi/build-rogue.sh failed? needs libxen-dev)"
    exit 1
fi
truncate -s 16M /tmp/attack.img
truncate -s 16M /tmp/healthy.img

guest_script rogue <<'EOF_GUEST'
xe_modprobe xen-evtchn xen-gntalloc
check_sh no-scsifront '! grep -q "^xen_scsifront " /proc/modules'
check_sh dev-xen-nodes 'test -c /dev/xen/xenbus && test -c /dev/xen/evtchn && test -c /dev/xen/gntalloc'
# One line per case; "ROGUE-EXIT n" last. The loop runs in a subshell:
# the failures are counted again from the copy in /tmp/rogue.out.
{ /xe/bin/xen-vscsi-rogue -v 0 1 2>&1; echo "ROGUE-EXIT $?"; } | tee /tmp/rogue.out |
while IFS= read -r l; do
    case $l in
        "PASS "*) pass "rogue-${l#PASS }" ;;
        "FAIL "*) r=${l#FAIL }; fail "rogue-${r%%: *}" "${r#*: }" ;;
        *) echo "$l" ;;
    esac
done
XE_FAILS=$((XE_FAILS + $(grep -c '^FAIL ' /tmp/rogue.out)))
check_sh rogue-summary "grep -q '^ROGUE-SUMMARY ' /tmp/rogue.out"
check_eq rogue-exit "$(sed -n 's/^ROGUE-EXIT //p' /tmp/rogue.out)" 0 "exit status of xen-vscsi-rogue"
check_ge rogue-cases "$(grep -c '^PASS ' /tmp/rogue.out)" 25 "cases passed"
xe_sync checked 120
EOF_GUEST
mkdir -p "$XE_GUESTS/rogue/root/xe/bin"
cp "$ROGUE" "$XE_GUESTS/rogue/root/xe/bin/xen-vscsi-rogue"

domu_create rogue || exit 1
qemu_start rogue \
    -drive if=none,id=d0,file=/tmp/attack.img,format=raw,cache=none,aio=native \
    -drive if=none,id=d1,file=/tmp/healthy.img,format=raw,cache=none,aio=native \
    -device xen-pvscsi,id=vs0,vhost=0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0 \
    -device xen-pvscsi,id=vs1,vhost=1 \
    -device scsi-hd,bus=vs1.0,channel=0,scsi-id=1,lun=0,drive=d1 || exit 1
domu_unpause rogue || exit 1
if domu_sync rogue checked 330 120; then
    log="$XE_OUT/qemu-rogue.log"
    con=$(domu_console rogue)
    check qemu-alive qemu_alive rogue
    check_match qmp-status "$(xe_qmp rogue '{"execute":"query-status"}')" '"status": *"running"'
    summary=$(tr -d '\r' < "$con" | grep -o 'ROGUE-SUMMARY .*' | tail -n 1)
    halts=$(echo "$summary" | sed -n 's/.* halts=\([0-9]*\).*/\1/p')
    bad=$(echo "$summary" | sed -n 's/.* bad-requests=\([0-9]*\).*/\1/p')
    # Exactly one log line per halted ring, however often it was kicked.
    check_eq halt-log-lines "$(grep -c 'bogus ring request producer' "$log")" "${halts:-missing}" \
        "'halting this ring' lines vs rings the rogue halted"
    # Guest-triggered warnings are rate-limited (10 per second per vhost).
    nwarn=$(grep -c 'xen-pvscsi: dom[0-9]* vhost [0-9]*: ' "$log")
    xe_say "QEMU log: $nwarn guest-triggered warnings for $bad bad requests; $(grep -c 'similar messages suppressed' "$log") 'suppressed' lines"
    check_sh warnings-rate-limited "[ $nwarn -lt ${bad:-0} ] && grep -q 'similar messages suppressed' '$log'"
    # Failed connects (bad ring-ref/event-channel, flapping) are rate-limited
    # too: without the limit the 100 flaps of xs-ring-ref-bad alone log ~100.
    nconn=$(grep -c 'cannot connect: \|frontend change error' "$log")
    xe_say "QEMU log: $nconn lines about failed connects"
    check_sh connect-errors-rate-limited "[ $nconn -le 60 ]"
    check_sh qemu-no-abort "! grep -E -q 'Assertion|assertion failed|Aborted|Segmentation|AddressSanitizer|runtime error' '$log'"
    domu_release rogue checked
fi
domu_wait rogue 180
qemu_stop rogue
