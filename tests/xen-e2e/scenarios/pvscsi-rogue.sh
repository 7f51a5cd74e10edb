#!/bin/bash
# xen-pvscsi under a hostile userspace frontend (xen-vscsi-rogue): asserted attack cases
# XE_TIMEOUT=900
# The domU does not load xen-scsifront: tests/rogue/xen-vscsi-rogue binds
# vhost 0 (attacked, raw 16 MiB at 0:1:0) and vhost 1 (healthy, 0:1:0)
# itself with gntalloc, evtchn and xenstore, and plays the attack cases
# (fields, grants, TMFs, ring, xenstore), each with its expected result.
# Two more vhosts: 2 runs in an iothread (io0) on a raw LUN throttled to
# 20 IOPS, so that a close finds requests in flight (case
# iothread-close-storm); 3 serves an iSCSI LUN of tgtd in dom0, which an
# agent here stops and continues on the rogue's request (cases
# close-stalled-lun, stale-rqid-reconnect). The agent (xenstore nodes
# data/xpv-rogue/{req,ack} of the domU) also times QMP query-status once a
# second while a case runs (checks CASE-qmp-latency: every answer within
# 1 s).
# Vhost 4 runs with max-ring-page-order=0 (case mp-order-max0). QEMU traces
# xen_pvscsi_connect/disconnect/frontend_changed/ready_for_reconnect into
# its log; the agent's "connects VHOST" counts the connect lines of a vhost
# (the mp-* cases: a refused ring is never mapped, a good one maps exactly
# its pages).
# Its "PASS case" / "FAIL case: reason" lines become checks rogue-CASE.
# dom0 then checks QEMU: alive, QMP running, exactly one "halting this
# ring" line per halted ring, guest-triggered warnings rate-limited.
# XE_ROGUE_CASES (a wrapper scenario may set it): only these cases.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

ROGUE="$XE_SHARE/bin/xen-vscsi-rogue"
if [ ! -x "$ROGUE" ]; then
    fail rogue-binary "no xen-vscsi-rogue on the share (scripts/xen-pvscsi/build-rogue.sh failed? needs libxen-dev)"
    exit 1
fi
truncate -s 16M /tmp/attack.img
truncate -s 16M /tmp/healthy.img
truncate -s 16M /tmp/iothread.img
truncate -s 16M /tmp/iscsi.img
truncate -s 16M /tmp/max0.img
IQN=iqn.2025-01.org.xen-pvscsi:rogue
check tgtd-start tgt_start || exit 1
check tgt-config sh -c "tgtadm --lld iscsi --mode target --op new --tid 1 -T $IQN &&
    tgtadm --lld iscsi --mode target --op bind --tid 1 -I ALL &&
    tgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 -b /tmp/iscsi.img" || exit 1

guest_script rogue <<'EOF_GUEST'
xe_modprobe xen-evtchn xen-gntalloc
check_sh no-scsifront '! grep -q "^xen_scsifront " /proc/modules'
check_sh dev-xen-nodes 'test -c /dev/xen/xenbus && test -c /dev/xen/evtchn && test -c /dev/xen/gntalloc'
# One line per case; "ROGUE-EXIT n" last. The loop runs in a subshell:
# the failures are counted again from the copy in /tmp/rogue.out.
# shellcheck disable=SC2086
{ /xe/bin/xen-vscsi-rogue -v -i 2 -t 3 -m 4 0 1 $ROGUE_CASES 2>&1; echo "ROGUE-EXIT $?"; } | tee /tmp/rogue.out |
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
if [ -n "$ROGUE_CASES" ]; then
    check_ge rogue-cases "$(grep -c '^PASS ' /tmp/rogue.out)" 2 "cases passed"
else
    check_ge rogue-cases "$(grep -c '^PASS ' /tmp/rogue.out)" 25 "cases passed"
fi
xe_sync checked 120
EOF_GUEST
mkdir -p "$XE_GUESTS/rogue/root/xe/bin"
cp "$ROGUE" "$XE_GUESTS/rogue/root/xe/bin/xen-vscsi-rogue"

# QMP prober: one connection; query-status every INTERVAL s until STOPFILE
# exists; "probe N MS STATUS" per answer, then "summary n=N max_ms=M
# late=L" (late: answers after more than 1 s; an answer still missing
# after 120 s ends it as "noreply").
cat > /tmp/qmp-probe.pl <<'EOF_PL'
use strict;
use IO::Socket::UNIX;
use IO::Select;
my $hires = eval { require Time::HiRes; 1 };
sub now { return $hires ? Time::HiRes::time() : time(); }
my ($path, $stop, $interval) = @ARGV;
$| = 1;
my $s = IO::Socket::UNIX->new(Peer => $path) or die "connect $path: $!\n";
my $sel = IO::Select->new($s);
my $buf = "";
sub reply {
    my ($deadline) = @_;
    while (1) {
        while ($buf =~ s/^([^\n]*)\n//) {
            my $l = $1;
            return $l unless $l =~ /^\{"(event|timestamp)"/;
        }
        my $left = $deadline - now();
        return undef if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($s, $buf, 65536, length $buf);
        return undef unless $n;
    }
}
defined reply(now() + 30) or die "no QMP greeting\n";
print $s "{\"execute\":\"qmp_capabilities\"}\n";
defined reply(now() + 30) or die "no answer to qmp_capabilities\n";
print "connected hires=", ($hires ? 1 : 0), "\n";
my ($n, $max, $late) = (0, 0, 0);
while (1) {
    my $t0 = now();
    print $s "{\"execute\":\"query-status\"}\n";
    my $r = reply($t0 + 120);
    my $dt = now() - $t0;
    if (!defined $r) {
        printf "noreply after %.0f ms\n", $dt * 1000;
        $late++;
        $max = $dt if $dt > $max;
        last;
    }
    $n++;
    $max = $dt if $dt > $max;
    $late++ if $dt > 1.0;
    my ($st) = $r =~ /"status": *"([a-z-]+)"/;
    printf "probe %d %.0f ms %s\n", $n, $dt * 1000, $st // $r;
    last if -e $stop;
    my $sl = $interval - (now() - $t0);
    select(undef, undef, undef, $sl) if $sl > 0;
}
printf "summary n=%d max_ms=%.0f late=%d\n", $n, $max * 1000, $late;
EOF_PL

# agent_do CMD [ARG]: one request of the rogue; prints the answer.
agent_do() {
    local f i
    case $1 in
        tgt-stop|tgt-cont)
            f=STOP
            [ "$1" = tgt-cont ] && f=CONT
            if [ -n "$XE_TGTD_PID" ] && kill -"$f" "$XE_TGTD_PID"; then
                xe_say "agent: tgtd (pid $XE_TGTD_PID) SIG$f" >&2
                echo ok
            else
                echo "fail: no tgtd to SIG$f"
            fi ;;
        pin)
            # intake-storm: the domU's vCPU alone on pCPU 1, dom0 on pCPU 0
            if xl vcpu-pin Domain-0 all 0 >&2 && xl vcpu-pin "$DOMID" all 1 >&2; then
                xe_say "agent: dom0 pinned to pCPU 0, domain $DOMID to pCPU 1" >&2
                echo ok
            else
                echo "fail: xl vcpu-pin"
            fi ;;
        unpin)
            if xl vcpu-pin Domain-0 all all >&2 && xl vcpu-pin "$DOMID" all all >&2; then
                echo ok
            else
                echo "fail: xl vcpu-pin ... all"
            fi ;;
        probe-start)
            f=/tmp/probe-$2
            rm -f "$f.stop"
            perl /tmp/qmp-probe.pl "/run/xe-qmp-rogue.sock" "$f.stop" 1 > "$f.out" 2>&1 &
            echo $! > "$f.pid"
            for i in $(seq 150); do
                grep -q '^probe 1 ' "$f.out" && { xe_say "agent: QMP probe $2 started" >&2; echo ok; return; }
                kill -0 "$(cat "$f.pid")" 2>/dev/null || break
                sleep 0.2
            done
            echo "fail: QMP prober did not start: $(xe_oneline < "$f.out")" ;;
        probe-result)
            f=/tmp/probe-$2
            touch "$f.stop"
            for i in $(seq 750); do
                kill -0 "$(cat "$f.pid" 2>/dev/null)" 2>/dev/null || break
                sleep 0.2
            done
            kill "$(cat "$f.pid" 2>/dev/null)" 2>/dev/null
            cp "$f.out" "$XE_OUT/qmp-probe-$2.txt"
            local sum n max late
            sum=$(grep '^summary ' "$f.out")
            n=$(echo "$sum" | sed -n 's/.* n=\([0-9]*\).*/\1/p')
            max=$(echo "$sum" | sed -n 's/.* max_ms=\([0-9]*\).*/\1/p')
            late=$(echo "$sum" | sed -n 's/.* late=\([0-9]*\).*/\1/p')
            if [ -n "$sum" ] && [ "$late" = 0 ] && [ "$n" -ge 2 ] && [ "$max" -le 1000 ]; then
                pass "$2-qmp-latency" >&2
                echo "PASS $n answers, slowest $max ms"
            else
                fail >&2 "$2-qmp-latency" "query-status: ${sum:-no summary} ($(grep -v '^probe ' "$f.out" | grep -v '^summary' | xe_oneline); slowest answers: $(grep '^probe ' "$f.out" | sort -k3,3n | tail -n 2 | xe_oneline))"
                echo "FAIL ${sum:-no summary: $(xe_oneline < "$f.out")}"
            fi ;;
        connects)
            # xen_pvscsi_connect trace lines of vhost $2 in QEMU's log:
            # "ok COUNT PAGES-OF-THE-LAST" (a connect maps the ring)
            local cn cp
            cn=$(grep -c "xen_pvscsi_connect vhost $2 " "$XE_OUT/qemu-rogue.log")
            cp=$(grep "xen_pvscsi_connect vhost $2 " "$XE_OUT/qemu-rogue.log" | tail -n 1 |
                sed -n 's/.* pages \([0-9]*\) .*/\1/p')
            echo "ok $cn ${cp:-0}" ;;
        *) echo "fail: unknown request '$*'" ;;
    esac
}

# rogue_agent DOMID: serve data/xpv-rogue/req ("SEQ CMD") with ack ("SEQ
# ANSWER") until killed.
rogue_agent() {
    local dir=/local/domain/$1/data/xpv-rogue req last="" ans
    while :; do
        req=$(xs_read "$dir/req")
        if [ -n "$req" ] && [ "$req" != "$last" ]; then
            last=$req
            # shellcheck disable=SC2086
            ans=$(agent_do ${req#* })
            xenstore-write "$dir/ack" "${req%% *} $ans"
        fi
        sleep 0.2
    done
}

domu_create rogue ROGUE_CASES="${XE_ROGUE_CASES:-}" || exit 1
xenstore-write "/local/domain/$DOMID/data/xpv-rogue/req" "" "/local/domain/$DOMID/data/xpv-rogue/ack" "" &&
    xenstore-chmod -r "/local/domain/$DOMID/data/xpv-rogue" "n$DOMID" ||
    fail agent-nodes "cannot create /local/domain/$DOMID/data/xpv-rogue"
rogue_agent "$DOMID" &
AGENT_PID=$!
qemu_start rogue \
    -trace xen_pvscsi_connect -trace xen_pvscsi_disconnect \
    -trace xen_pvscsi_frontend_changed -trace xen_pvscsi_ready_for_reconnect \
    -object iothread,id=io0 \
    -drive if=none,id=d0,file=/tmp/attack.img,format=raw,cache=none,aio=native \
    -drive if=none,id=d1,file=/tmp/healthy.img,format=raw,cache=none,aio=native \
    -drive if=none,id=d2,file=/tmp/iothread.img,format=raw,cache=none,aio=native,throttling.iops-total=20 \
    -drive "file=iscsi://127.0.0.1/$IQN/1,if=none,id=d3,format=raw,cache=none" \
    -drive if=none,id=d4,file=/tmp/max0.img,format=raw,cache=none,aio=native \
    -device xen-pvscsi,id=vs0,vhost=0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0 \
    -device xen-pvscsi,id=vs1,vhost=1 \
    -device scsi-hd,bus=vs1.0,channel=0,scsi-id=1,lun=0,drive=d1 \
    -device xen-pvscsi,id=vs2,vhost=2,iothread=io0 \
    -device scsi-hd,bus=vs2.0,channel=0,scsi-id=1,lun=0,drive=d2 \
    -device xen-pvscsi,id=vs3,vhost=3 \
    -device scsi-hd,bus=vs3.0,channel=0,scsi-id=1,lun=0,drive=d3 \
    -device xen-pvscsi,id=vs4,vhost=4,max-ring-page-order=0 \
    -device scsi-hd,bus=vs4.0,channel=0,scsi-id=1,lun=0,drive=d4 || exit 1
domu_unpause rogue || exit 1
if domu_sync rogue checked 780 120; then
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
    # Guest-triggered messages (bad requests, failed connects) go through
    # qemu_log_mask(LOG_GUEST_ERROR): none without -d guest_errors, however
    # hard the guest tries. The one-time halt line above is an error_report.
    nwarn=$(grep -c 'xen-pvscsi: dom[0-9]* vhost [0-9]*: rqid\|cannot connect: ' "$log")
    xe_say "QEMU log: $nwarn guest-triggered lines for ${bad:-?} bad requests (no -d guest_errors)"
    check_eq guest-errors-not-logged-by-default "$nwarn" 0 "guest-triggered lines in QEMU's log"
    nconn=$(grep -c 'frontend change error' "$log")
    xe_say "QEMU log: $nconn 'frontend change error' lines"
    check_sh connect-errors-not-logged "[ $nconn -eq 0 ]"
    check_sh qemu-no-abort "! grep -E -q 'Assertion|assertion failed|Aborted|Segmentation|AddressSanitizer|runtime error' '$log'"
    domu_release rogue checked
fi
domu_wait rogue 180
kill "$AGENT_PID" 2>/dev/null
qemu_stop rogue
