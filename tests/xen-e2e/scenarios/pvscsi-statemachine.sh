#!/bin/bash
# xen-pvscsi state machine: hot-plug during 7/8, ring state vs xenstore, vhost numbering, passthrough sense/residual
# Issue 11, items 6, 7, 9 and 13, end to end with the Linux frontend:
#  13  the guest's device/vscsi/3..1023 exist (guest-owned, written from
#      dom0 as if the guest had made them): device_add xen-pvscsi without
#      vhost= must still get a number (the lowest N with no
#      backend/qscsi/D/N, no backend/vscsi/D/N, no other xen-pvscsi: 4 here)
#   9  dom0 scsi_debug (dsense=1) through scsi-generic: the guest gets the
#      device's descriptor-format sense (0x72) and residual exactly as
#      dom0's own sg_raw shows them
#   6  vhost 0 held at 7 and 8 (guest paused, frontend state 7 written from
#      dom0): a device_add while at 8 must still reach the guest, a
#      device_del of a mounted LUN must wait for the guest (dev 5 -> 6,
#      DEVICE_DELETED after it), data intact in dom0
#  7a  vhost 1: frontend unbound, a toolstack writes backend state 7, the
#      frontend binds again: QEMU must map the ring (it is not connected,
#      whatever the backend state node says) and keep the 7 until the
#      frontend answers it (8, then 4: a 4 first can lose the LUN)
#  7b  vhost 2: a toolstack removes it (online 0, state 5) and the frontend
#      node goes back to Initialised: QEMU must not connect again
# SM_PARTS (below) selects parts while developing.
# XE_TIMEOUT=720
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

SM_PARTS=${SM_PARTS:-"13 9 6 7"}
part() { [[ " $SM_PARTS " == *" $1 "* ]]; }
xe_say "parts: $SM_PARTS"

now() { date +%s.%N; }
# peripheral ID: present in QOM
qom_has() { xe_qmp g '{"execute":"qom-list","arguments":{"path":"/machine/peripheral"}}' | grep -q "\"name\": \"$1\""; }
# wait_for T CMD...: poll CMD every 0.5 s for T seconds
wait_for() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.5
    done
}
# sense_bytes SG_RAW-OUTPUT: the raw sense bytes sg_raw -v printed, one line
sense_bytes() {
    printf '%s\n' "$1" | sed -n '/Raw sense data/,/^[[:space:]]*$/p' | sed 1d | tr -s ' \t\n' '   ' |
        sed 's/^ //; s/ $//'
}
gnt_maps() { grep -c gntdev "/proc/${XE_QEMU_PID[g]}/maps"; }
# lun_trace VHOST DEV: "TIME FROM TO" for each state QEMU wrote to DEV (trace)
lun_trace() {
    sed -n "s/^[0-9]*@\([0-9.]*\):xen_pvscsi_lun_state vhost $1 $2 state \([0-9]*\) -> \([0-9]*\)\$/\1 \2 \3/p" /tmp/sm-trace.log
}
trace_count() { grep -c "xen_pvscsi_connect vhost $1 " /tmp/sm-trace.log; }
# be_states VHOST: the states QEMU set on the vhost's backend node, in order
be_states() {
    sed -n "s/^[0-9]*@[0-9.]*:xen_device_backend_state type: xen-pvscsi name: $1 -> XenbusState//p" /tmp/sm-trace.log
}

# ------------------------------------------------------------ images, scsi_debug --
truncate -s 32M /tmp/base.img /tmp/inuse.img /tmp/v1.img /tmp/v2.img /tmp/hot-a.img \
    /tmp/hot-b.img /tmp/auto.img
check modprobe-sd-sg modprobe -a sd_mod sg || exit 1
check modprobe-scsi_debug modprobe scsi_debug dev_size_mb=16 dsense=1 || exit 1
H=$(scsi_debug_host 0:0:0/scsi_generic)
SGD=/dev/$(ls "/sys/bus/scsi/devices/$H:0:0:0/scsi_generic" 2>/dev/null | head -n 1)
check scsi_debug-sg test -c "$SGD" || exit 1

# Reference answers from dom0's own sg node (before QEMU opens it).
OOR_CDB="28 00 00 01 00 00 00 00 01 00"     # READ(10) at LBA 0x10000, past the end (16 MiB = 0x8000 blocks)
BADOP_CDB="ff 00 00 00 00 00"               # an opcode scsi_debug does not implement
INQ_CDB="12 00 00 02 00 00"                 # INQUIRY, allocation length 512
READ_CDB="28 00 00 00 00 00 00 00 01 00"    # READ(10) of one block, into a 1024-byte buffer
# shellcheck disable=SC2086
{
    REF_OOR=$(sg_raw -v -r 512 "$SGD" $OOR_CDB 2>&1); REF_OOR_RC=$?
    REF_BADOP=$(sg_raw -v -r 512 "$SGD" $BADOP_CDB 2>&1); REF_BADOP_RC=$?
    REF_INQ=$(sg_raw -r 512 "$SGD" $INQ_CDB 2>&1); REF_INQ_RC=$?
    REF_READ=$(sg_raw -r 1024 -o /tmp/read.bin "$SGD" $READ_CDB 2>&1); REF_READ_RC=$?
}
xe_say "dom0 READ past the end: rc $REF_OOR_RC: $(echo "$REF_OOR" | xe_oneline)"
xe_say "dom0 bad opcode: rc $REF_BADOP_RC: $(echo "$REF_BADOP" | xe_oneline)"
xe_say "dom0 INQUIRY 512: rc $REF_INQ_RC: $(echo "$REF_INQ" | head -n 1)"
xe_say "dom0 READ 1 block into 1024: rc $REF_READ_RC: $(echo "$REF_READ" | xe_oneline)"
check_match dom0-oor-descriptor-sense "$(sense_bytes "$REF_OOR")" '^72 05 21 00( |$)' "dom0 sense bytes"
check_match dom0-badop-descriptor-sense "$(sense_bytes "$REF_BADOP")" '^72 05 20 00( |$)' "dom0 sense bytes"
check_match dom0-inq-short "$REF_INQ" 'Received ([1-9]|[1-9][0-9]|[1-4][0-9][0-9]|50[0-9]|51[01]) bytes of data'
check_match dom0-read-short "$REF_READ" 'Writing 512 bytes of data'

# ------------------------------------------------------------------ guest --
guest_script g <<'EOF_GUEST'
xe_modprobe xen-scsifront sd_mod sg ext4
part() { case " $SM_PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
sense_bytes() {
    printf '%s\n' "$1" | sed -n '/Raw sense data/,/^[[:space:]]*$/p' | sed 1d | tr -s ' \t\n' '   ' |
        sed 's/^ //; s/ $//'
}
check luns-appear xe_wait_for 120 '[ -n "$(xe_blockdev 0:1:0)" ] && [ -n "$(xe_blockdev 0:2:0)" ] && [ -n "$(xe_sgdev 0:5:0)" ] && [ -n "$(xe_blockdev 0:6:0)" ] && [ -n "$(xe_blockdev 0:7:0)" ]' ||
    { xe_say "lsscsi: $(lsscsi | tr '\n' '|')"; xe_diag; exit 1; }
xe_say "lsscsi: $(lsscsi | tr '\n' '|')"

if part 9; then
    SGP=$(xe_sgdev 0:5:0)
    # shellcheck disable=SC2086
    out=$(sg_raw -v -r 512 "$SGP" $OOR_CDB 2>&1)
    check_eq r9-oor-exit "$?" "$REF_OOR_RC"
    check_match r9-oor-descriptor-0x72 "$(sense_bytes "$out")" '^72 ' "sense bytes"
    check_eq r9-oor-sense-as-dom0 "$(sense_bytes "$out")" "$(sense_bytes "$REF_OOR")"
    check_eq r9-oor-output-as-dom0 "$out" "$REF_OOR"
    # shellcheck disable=SC2086
    out=$(sg_raw -v -r 512 "$SGP" $BADOP_CDB 2>&1)
    check_eq r9-badop-exit "$?" "$REF_BADOP_RC"
    check_match r9-badop-descriptor-0x72 "$(sense_bytes "$out")" '^72 ' "sense bytes"
    check_eq r9-badop-sense-as-dom0 "$(sense_bytes "$out")" "$(sense_bytes "$REF_BADOP")"
    check_eq r9-badop-output-as-dom0 "$out" "$REF_BADOP"
    # shellcheck disable=SC2086
    out=$(sg_raw -r 512 "$SGP" $INQ_CDB 2>&1)
    check_eq r9-inq-residual-as-dom0 "$(echo "$out" | grep -o 'Received [0-9]* bytes')" \
        "$(echo "$REF_INQ" | grep -o 'Received [0-9]* bytes')"
    check_eq r9-inq-output-as-dom0 "$out" "$REF_INQ"
    # shellcheck disable=SC2086
    out=$(sg_raw -r 1024 -o /tmp/read.bin "$SGP" $READ_CDB 2>&1)
    check_eq r9-read-residual-as-dom0 "$out" "$REF_READ"
fi

# Data that must survive: an ext4 (no journal: dom0 reads it with debugfs)
# on 0:2:0, left mounted; 4 MiB on vhost 1's LUN.
INUSE=$(xe_blockdev 0:2:0)
check inuse-mkfs mkfs.ext4 -q -O ^has_journal "$INUSE"
mkdir -p /mnt/inuse
check inuse-mount mount -t ext4 "$INUSE" /mnt/inuse
dd if=/dev/urandom of=/mnt/inuse/data.bin bs=1M count=4 2>/dev/null
sync
xe_say "INUSE-MD5 $(md5sum < /mnt/inuse/data.bin | cut -d' ' -f1)"
dd if=/dev/urandom of=/tmp/keep1 bs=1M count=4 2>/dev/null
check v1-write-keep dd if=/tmp/keep1 of="$(xe_blockdev 0:6:0)" bs=1M count=4 oflag=direct conv=fsync
KEEP1=$(md5sum < /tmp/keep1 | cut -d' ' -f1)

if part 6; then
    xe_sync r6 600
    # dom0 paused us, added 0:3:0 (vhost 7), wrote our frontend state 7
    # (vhost 8), added 0:4:0 and device_del'd the mounted 0:2:0, unpaused us.
    check r6-lun-a-appears xe_wait_for 90 '[ -n "$(xe_blockdev 0:3:0)" ]'
    check r6-lun-b-appears xe_wait_for 90 '[ -n "$(xe_blockdev 0:4:0)" ]'
    check r6-inuse-removed-by-guest xe_wait_for 60 '[ -z "$(xe_hctl 0:2:0)" ]'
    xe_say "after r6: $(lsscsi | tr '\n' '|')"
    check r6-lun-a-io xe_rw_verify "$(xe_blockdev 0:3:0)" 0 4 512K "oflag=direct iflag=direct"
    check r6-lun-b-io xe_rw_verify "$(xe_blockdev 0:4:0)" 0 4 512K "oflag=direct iflag=direct"
    check r6-base-io xe_rw_verify "$(xe_blockdev 0:1:0)" 0 4 512K "oflag=direct iflag=direct"
    umount -l /mnt/inuse 2>/dev/null
    xe_sync r6-done 600
fi

if part 7; then
    # 7a: unbind from vhost 1; dom0 writes backend state 7; bind again.
    check r7a-unbind sh -c "echo vscsi-1 > /sys/bus/xen/drivers/vscsi/unbind"
    check r7a-lun-gone test -z "$(xe_hctl 0:6:0)"
    xe_sync r7a-unbound 600
    check r7a-bind sh -c "echo vscsi-1 > /sys/bus/xen/drivers/vscsi/bind"
    if check r7a-lun-back xe_wait_for 60 '[ -n "$(xe_blockdev 0:6:0)" ]'; then
        V1=$(xe_blockdev 0:6:0)
        check_eq r7a-data-kept "$(dd if="$V1" bs=1M count=4 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)" "$KEEP1"
        check r7a-lun-io xe_rw_verify "$V1" 8 4 512K "oflag=direct iflag=direct"
    else
        xe_diag 20
    fi
    xe_sync r7a-done 600
    # 7b: dom0 paused us, removed vhost 2 (online 0, state 5) and wrote
    # our frontend state 3; we close it when unpaused.
    xe_sync r7b 600
    check r7b-lun-gone xe_wait_for 60 '[ -z "$(xe_hctl 0:7:0)" ]'
    check r7b-base-io xe_rw_verify "$(xe_blockdev 0:1:0)" 8 4 512K "oflag=direct iflag=direct"
fi
xe_sync end 600
EOF_GUEST

domu_create g SM_PARTS="$SM_PARTS" OOR_CDB="$OOR_CDB" BADOP_CDB="$BADOP_CDB" INQ_CDB="$INQ_CDB" \
    READ_CDB="$READ_CDB" REF_OOR="$REF_OOR" REF_OOR_RC="$REF_OOR_RC" REF_BADOP="$REF_BADOP" \
    REF_BADOP_RC="$REF_BADOP_RC" REF_INQ="$REF_INQ" REF_READ="$REF_READ" || exit 1
D=$DOMID
BQ=/local/domain/0/backend/qscsi/$D
FEV=/local/domain/$D/device/vscsi
qemu_start g -msg timestamp=on -D /tmp/sm-trace.log \
    -trace enable=xen_pvscsi_connect -trace enable=xen_pvscsi_disconnect \
    -trace enable=xen_pvscsi_frontend_changed -trace enable=xen_pvscsi_lun_state \
    -trace enable=xen_pvscsi_lun_plug -trace enable=xen_pvscsi_lun_unplug \
    -trace enable=xen_device_backend_state \
    -chardev socket,id=qev,path=/run/xe-qev.sock,server=on,wait=off -mon chardev=qev,mode=control \
    -drive if=none,id=d0,file=/tmp/base.img,format=raw,cache=none,aio=native \
    -drive if=none,id=dc,file=/tmp/inuse.img,format=raw,cache=none,aio=native \
    -drive if=none,id=dp,file="$SGD",format=raw \
    -drive if=none,id=d1,file=/tmp/v1.img,format=raw,cache=none,aio=native \
    -drive if=none,id=d2,file=/tmp/v2.img,format=raw,cache=none,aio=native \
    -device xen-pvscsi,id=vs0,vhost=0,unplug-timeout=180 \
    -device scsi-hd,id=base,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0 \
    -device scsi-hd,id=inuse,bus=vs0.0,channel=0,scsi-id=2,lun=0,drive=dc \
    -device scsi-generic,id=pt,bus=vs0.0,channel=0,scsi-id=5,lun=0,drive=dp \
    -device xen-pvscsi,id=vs1,vhost=1 \
    -device scsi-hd,id=v1lun,bus=vs1.0,channel=0,scsi-id=6,lun=0,drive=d1 \
    -device xen-pvscsi,id=vs2,vhost=2 \
    -device scsi-hd,id=v2lun,bus=vs2.0,channel=0,scsi-id=7,lun=0,drive=d2 || exit 1

# QMP events (DEVICE_DELETED) on a second monitor, with QEMU's timestamps.
perl -MIO::Socket::UNIX -e '
    $| = 1;
    my $s;
    for (1 .. 100) { $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) and last; select(undef, undef, undef, 0.2) }
    $s or die "connect: $!\n";
    $s->autoflush(1);
    <$s>;
    print $s "{\"execute\":\"qmp_capabilities\"}\n";
    while (my $l = <$s>) { print $l if $l =~ /"event"/ }
' /run/xe-qev.sock > /tmp/qev.log 2>&1 &
EV_PID=$!
WATCH_PIDS=()
sm_cleanup() {
    local p
    for p in "${WATCH_PIDS[@]}" "$EV_PID"; do kill "$p" 2>/dev/null; done
    cp /tmp/qev.log "$XE_OUT/qmp-events.log" 2>/dev/null
    cp /tmp/sm-trace.log "$XE_OUT/trace-statemachine.log" 2>/dev/null
    cp /tmp/watch-*.log "$XE_OUT/" 2>/dev/null
    xenstore-ls -fp "/local/domain/0/backend/qscsi" > "$XE_OUT/xenstore-qscsi-end.txt" 2>&1
}
trap 'sm_cleanup; xe_cleanup' EXIT

# event_time DEVICE-ID: QEMU's timestamp of DEVICE_DELETED for it (empty if none)
event_time() {
    grep '"DEVICE_DELETED"' /tmp/qev.log | grep "\"device\": \"$1\"" | head -n 1 |
        sed -n 's/.*"seconds": \([0-9]*\), "microseconds": \([0-9]*\).*/\1 \2/p' |
        { read -r s u && printf '%d.%06d\n' "$s" "$u"; }
}
# xs_bulk: prints a perl script for many xenstore requests on one connection
xs_bulk() {
    cat <<'EOF_PERL'
use strict;
use warnings;
use IO::Socket::UNIX;
# xs-bulk OP FEV DOMID FROM TO: many xenstore requests on one connection.
#   create  FEV/N = "" owned by DOMID (XS_WRITE + XS_SET_PERMS "nDOMID")
#   owned   count FEV/N whose permissions are exactly "nDOMID" (XS_GET_PERMS)
#   rm      XS_RM FEV/N
my ($op, $fev, $domid, $from, $to) = @ARGV;
my $s;
for my $p (grep { defined } $ENV{XENSTORED_PATH}, '/run/xenstored/socket', '/var/run/xenstored/socket') {
    $s = IO::Socket::UNIX->new(Peer => $p) and last;
}
unless ($s) { open($s, '+<', '/dev/xen/xenbus') or die "no xenstore connection: $!\n"; }
binmode $s;
my $id = 0;
sub readn { my $n = shift; my $b = ''; while (length $b < $n) { my $r = sysread($s, $b, $n - length $b, length $b); die "read: $!\n" unless $r; } return $b; }
sub req {
    my ($type, $payload) = @_;
    my $m = pack('VVVV', $type, ++$id, 0, length $payload) . $payload;
    syswrite($s, $m) == length $m or die "write: $!\n";
    my ($t, undef, undef, $len) = unpack('VVVV', readn(16));
    my $body = readn($len);
    return ($t, $body);
}
my ($ok, $bad, $last) = (0, 0, '');
for my $n ($from .. $to) {
    my $path = "$fev/$n";
    my @r;
    if ($op eq 'create') {
        @r = req(11, "$path\0");                                  # XS_WRITE, empty value
        @r = req(14, "$path\0n$domid\0") if $r[0] != 16;         # XS_SET_PERMS
    } elsif ($op eq 'owned') {
        @r = req(3, "$path\0");                                   # XS_GET_PERMS
        @r = (16, $r[1]) if $r[0] != 16 && $r[1] ne "n$domid\0";
    } elsif ($op eq 'rm') {
        @r = req(13, "$path\0");                                  # XS_RM
    } else { die "unknown op $op\n"; }
    if ($r[0] == 16) { $bad++; ($last = $r[1]) =~ s/\0.*//s; } else { $ok++; }
}
print "$ok $bad $last\n";
EOF_PERL
}
has_event() { [ -n "$(event_time "$1")" ]; }
# watch_node NAME PATH: log "WALLCLOCK VALUE" at every change of PATH
watch_node() {
    local fifo=/tmp/watch-$1.fifo
    rm -f "$fifo"
    mkfifo "$fifo"
    xenstore-watch "$2" > "$fifo" &
    WATCH_PIDS+=($!)
    while read -r _; do echo "$(now) $(xs_read "$2" || echo absent)"; done < "$fifo" > "/tmp/watch-$1.log" &
    WATCH_PIDS+=($!)
}

# ------------------------------------------- 13: vhost numbering, guest paused --
if part 13; then
    # The guest (not yet running) "made" device/vscsi/3..1023; 0..2 are
    # QEMU's vhosts. backend/vscsi/D/3 is a kernel-backend vhost.
    t0=$SECONDS
    # One xenstore connection for the ~2000 requests (a xenstore-chmod
    # process per node takes minutes under TCG).
    xs_bulk > /tmp/xs-bulk.pl
    bulk=$(perl /tmp/xs-bulk.pl create "$FEV" "$D" 3 1023)
    owned=$(perl /tmp/xs-bulk.pl owned "$FEV" "$D" 3 1023)
    xenstore-write "/local/domain/0/backend/vscsi/$D/3/frontend" "$FEV/3" \
        "/local/domain/0/backend/vscsi/$D/3/state" 1
    nfe=$(xenstore-list "$FEV" | wc -l)
    xe_say "r13: $nfe entries under $FEV; create (ok failed last-error): $bulk; owned by dom$D only (yes no): $owned; $((SECONDS - t0)) s"
    check_eq r13-all-numbers-taken "$nfe" 1024 "entries under $FEV"
    out=$(xe_qmp g '{"execute":"device_add","arguments":{"driver":"xen-pvscsi","id":"auto"}}')
    check_match r13-device-add-no-vhost "$out" '"return"'
    out=$(xe_qmp g '{"execute":"qom-get","arguments":{"path":"/machine/peripheral/auto","property":"vhost"}}' | tr -d '\r')
    check_eq r13-vhost-chosen "$out" '{"return": 4}'
    check_eq r13-backend-frontend-path "$(xs_read "$BQ/4/frontend")" "$FEV/4"
    out=$(xe_qmp g \
        '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"auto0","file":{"driver":"file","filename":"/tmp/auto.img"}}}' \
        '{"execute":"device_add","arguments":{"driver":"scsi-hd","id":"autolun","bus":"auto.0","channel":0,"scsi-id":8,"lun":0,"drive":"auto0"}}')
    check_eq r13-lun-added "$(grep -c '"return"' <<< "$out")" 2 "QMP returns ($(echo "$out" | xe_oneline))"
    check_eq r13-lun-vdev "$(xs_read "$BQ/4/vscsi-devs/dev-0/v-dev")" 4:0:8:0
    check_eq r13-lun-state "$(xs_read "$BQ/4/vscsi-devs/dev-0/state")" 1
    # Tidy up before the guest boots: the vhost goes, and so do the nodes.
    xe_qmp g '{"execute":"device_del","arguments":{"id":"auto"}}' > /dev/null
    wait_for 30 eval '! qom_has auto' || xe_say "r13: vhost 'auto' still present after device_del"
    xe_say "r13: rm (ok failed last-error): $(perl /tmp/xs-bulk.pl rm "$FEV" "$D" 3 1023)"
    xenstore-rm "/local/domain/0/backend/vscsi/$D" 2>/dev/null
    xe_say "r13: done in $((SECONDS - t0)) s; $FEV now: $(xenstore-list "$FEV" | tr '\n' ' ')"
fi

domu_unpause g || exit 1
check_vscsi_connected "" qscsi "$D" 180

# ----------------------------------------- 6: hot-plug during 7/8 (vhost 0) --
if part 6 && domu_sync g r6 400 240; then
    B0=$BQ/0
    F0=$FEV/0
    DEVC=$(xs_dev_of "$B0" 0:0:2:0)
    xe_say "r6: in-use LUN 0:2:0 is $DEVC; $(xenstore-ls "$B0/vscsi-devs" | tr -s ' \n' ' ')"
    watch_node devc "$B0/vscsi-devs/$DEVC/state"
    domu_release g r6
    sleep 1
    xl pause g
    xe_say "r6: guest paused"
    out=$(xe_qmp g \
        '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"ha","file":{"driver":"file","filename":"/tmp/hot-a.img","aio":"native","cache":{"direct":true}}}}' \
        '{"execute":"device_add","arguments":{"driver":"scsi-hd","id":"luna","bus":"vs0.0","channel":0,"scsi-id":3,"lun":0,"drive":"ha"}}')
    check_eq r6-add-a "$(grep -c '"return"' <<< "$out")" 2 "QMP returns ($(echo "$out" | xe_oneline))"
    check_xs r6-vhost-7 "$B0/state" 7 10
    DEVA=$(xs_dev_of "$B0" 0:0:3:0)
    check_eq r6-a-state-1 "$(xs_read "$B0/vscsi-devs/$DEVA/state")" 1 "$DEVA"
    # The frontend's answer to 7, written for it while it is paused.
    xenstore-write "$F0/state" 7
    check_xs r6-vhost-8 "$B0/state" 8 10
    check_xs r6-a-state-3 "$B0/vscsi-devs/$DEVA/state" 3 10
    out=$(xe_qmp g \
        '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"hb","file":{"driver":"file","filename":"/tmp/hot-b.img","aio":"native","cache":{"direct":true}}}}' \
        '{"execute":"device_add","arguments":{"driver":"scsi-hd","id":"lunb","bus":"vs0.0","channel":0,"scsi-id":4,"lun":0,"drive":"hb"}}')
    check_eq r6-add-b-during-8 "$(grep -c '"return"' <<< "$out")" 2 "QMP returns ($(echo "$out" | xe_oneline))"
    out=$(xe_qmp g '{"execute":"device_del","arguments":{"id":"inuse"}}')
    check_match r6-del-inuse-during-8 "$out" '"return"'
    sleep 2
    # Nothing may happen to the mounted LUN while the guest cannot answer.
    check_eq r6-inuse-dev-still-4 "$(xs_read "$B0/vscsi-devs/$DEVC/state" || echo absent)" 4 "$DEVC state while paused"
    if qom_has inuse; then pass r6-inuse-still-in-qemu; else fail r6-inuse-still-in-qemu "device 'inuse' gone from QEMU while the guest is paused"; fi
    check_eq r6-no-device-deleted-while-paused "$(event_time inuse)" "" "DEVICE_DELETED inuse at"
    check_eq r6-vhost-still-8 "$(xs_read "$B0/state")" 8
    xe_say "r6 while paused: $(xenstore-ls "$B0/vscsi-devs" 2>&1 | tr -s ' \n' ' ')"
    T_UNPAUSE=$(now)
    xl unpause g
    xe_say "r6: guest unpaused"
    # The guest adds 0:3:0 on seeing 8 (its own dev-N state goes to 4);
    # Linux then skips writing Connected, which it believes it still is
    # (xenbus_switch_state() compares with its cached state): write it.
    if check_xs r6-guest-added-a "$F0/vscsi-devs/$DEVA/state" 4 90; then
        xenstore-write "$F0/state" 4
    fi
    check_xs r6-a-state-4 "$B0/vscsi-devs/$DEVA/state" 4 30
    DEVB=""
    wait_for 60 eval 'DEVB=$(xs_dev_of "$B0" 0:0:4:0)'
    check_xs r6-b-state-4 "$B0/vscsi-devs/${DEVB:-<no dev-N for 0:0:4:0>}/state" 4 60
    check_xs r6-vhost-4 "$B0/state" 4 60
    wait_for 60 has_event inuse || true
    TD=$(event_time inuse)
    xe_say "r6: unpaused at $T_UNPAUSE, DEVICE_DELETED inuse at ${TD:-none}; $DEVC states: $(tr '\n' '|' < /tmp/watch-devc.log)"
    check_match r6-inuse-device-deleted "$TD" '^[0-9]+\.[0-9]+$' "DEVICE_DELETED timestamp"
    # 5 and 6 each last only a fraction of a second (the guest acts on 5
    # at once, the LUN's nodes go after 6): a xenstore watch in dom0 reads
    # the node after the fact and can miss either (one run saw "4 6").
    # QEMU's trace has every transition it wrote (same clock as the QMP
    # event).
    TR=$(lun_trace 0 "$DEVC")
    check_match r6-inuse-dev-5-then-6 "$(awk '{print $2 "->" $3}' <<< "$TR" | tr '\n' ' ')" \
        '(^| )4->5 5->6 ' "$DEVC transitions in QEMU's trace"
    check_eq r6-guest-released-inuse "$(xs_read "$F0/vscsi-devs/$DEVC/state")" 6 "the frontend's own $DEVC state"
    T6=$(awk '$2 == 5 && $3 == 6 {print $1; exit}' <<< "$TR")
    check_sh r6-inuse-deleted-after-guest-release \
        "[ -n '$TD' ] && [ -n '$T6' ] && awk 'BEGIN { exit !($TD >= $T6 && $TD > $T_UNPAUSE) }'"
    check_sh r6-inuse-nodes-gone "! xenstore-exists $B0/vscsi-devs/$DEVC"
    # The mounted LUN's data, read from dom0.
    WANT=$(tr -d '\r' < "$(domu_console g)" | sed -n 's/.*INUSE-MD5 \([0-9a-f]*\).*/\1/p' | tail -n 1)
    check_eq r6-inuse-data-intact "$(debugfs -R 'cat /data.bin' /tmp/inuse.img 2>/dev/null | md5sum | cut -d' ' -f1)" \
        "$WANT" "md5 of data.bin in /tmp/inuse.img"
    domu_sync g r6-done 400 240 && domu_release g r6-done
fi

# ------------------------------------ 7a: ring state, not xenstore (vhost 1) --
if part 7 && domu_sync g r7a-unbound 400 240; then
    B1=$BQ/1
    check_xs r7a-fe-closed "$FEV/1/state" 6
    check_xs r7a-be-initwait "$B1/state" 2
    maps0=$(gnt_maps)
    conn0=$(trace_count 1)
    # A toolstack adding a LUN writes 7 while the frontend is away.
    xenstore-write "$B1/state" 7
    sleep 1
    check_eq r7a-be-7-written "$(xs_read "$B1/state")" 7
    bs0=$(be_states 1 | wc -l)
    domu_release g r7a-unbound
    check_xs r7a-be-connected "$B1/state" 4 60
    # The 7 stays until the frontend answers it with its own 7: our first
    # state after the bind is 8, then 4. A 4 first raced with that answer
    # (the frontend went Connected without adding the LUN).
    check_match r7a-be-reconfigured-first "$(be_states 1 | tail -n +$((bs0 + 1)) | tr '\n' ' ')" \
        '^Reconfigured Connected ' "QEMU's vhost 1 states after the bind"
    check_xs r7a-lun-connected "$B1/vscsi-devs/$(xs_dev_of "$B1" 1:0:6:0)/state" 4 30
    check_eq r7a-ring-mapped "$(gnt_maps)" $((maps0 + 1)) "gntdev mappings in QEMU (before the bind: $maps0)"
    check_eq r7a-connect-traced "$(trace_count 1)" $((conn0 + 1)) "xen_pvscsi_connect vhost 1 lines"
    domu_sync g r7a-done 400 240 && domu_release g r7a-done
fi

# ------------------------------- 7b: no reconnect during removal (vhost 2) --
if part 7 && domu_sync g r7b 400 240; then
    B2=$BQ/2
    check_eq r7b-be-connected "$(xs_read "$B2/state")" 4
    xl pause g
    maps0=$(gnt_maps)
    conn0=$(trace_count 2)
    # A toolstack removing the vhost...
    xenstore-write "$B2/online" 0 "$B2/state" 5
    sleep 1
    check_eq r7b-be-closing "$(xs_read "$B2/state")" 5
    # ...and the frontend goes back to Initialised (as a resuming Linux
    # frontend does: 4 -> 3, same ring).
    xenstore-write "$FEV/2/state" 3
    sleep 3
    st=$(xs_read "$B2/state" || echo absent)
    check_match r7b-no-reconnect-state "$st" '^(5|6|absent)$' "backend state after frontend Initialised"
    check_eq r7b-no-connect-traced "$(trace_count 2)" "$conn0" "xen_pvscsi_connect vhost 2 lines"
    check_sh r7b-no-new-mapping "[ $(gnt_maps) -le $maps0 ]"
    xl unpause g
    domu_release g r7b
    if wait_for 60 eval '! qom_has vs2'; then pass r7b-vhost-removed; else fail r7b-vhost-removed "vs2 still in QEMU 60 s after the frontend was let go (backend state $(xs_read "$B2/state"))"; fi
    if wait_for 30 eval "! xenstore-exists $B2"; then pass r7b-vhost-nodes-gone; else fail r7b-vhost-nodes-gone "$B2 still exists"; fi
fi

domu_sync g end 400 240 && domu_release g end
domu_wait g 240
check qemu-alive qemu_alive g
xe_say "final: $(xenstore-ls -f "$BQ" 2>&1 | grep -E '/state = ' | tr -s ' \n' ' ')"
