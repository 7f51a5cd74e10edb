#!/bin/bash
# xen-pvscsi on iSCSI LUNs (libiscsi -> tgtd in dom0): scsi-hd and scsi-block, fio verify, target outages
# XE_TIMEOUT=600
# tgtd on 127.0.0.1 with three file-backed LUNs; the project's QEMU drives
# them through libiscsi:
#   0:1:0  scsi-hd     iscsi://127.0.0.1/IQN/1 (default werror/rerror)
#   0:2:0  scsi-block  iscsi://127.0.0.1/IQN/2
#   0:3:0  scsi-hd     -blockdev driver=iscsi,...,lun=3,timeout=3 with
#                      werror=stop,rerror=stop
# fio verify=crc32c on 0:1:0 and 0:2:0. Outage A: tgtd is killed (SIGKILL)
# while fio writes and verifies 0:1:0, and restarted 10 s later with the
# same configuration: the guest sees a stall and no error, fio's verify is
# clean, a second verify-only pass after recovery is clean. Outage B: tgtd
# is killed, the guest writes to 0:3:0 (stall, QEMU keeps running); tgtd
# comes back without LUN 3: the WRITE fails, werror=stop stops QEMU (run
# state io-error); LUN 3 is added back, QMP "cont" retries the write, which
# completes and reads back intact.
# QEMU and the guest are never restarted.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

IQN=iqn.2025-01.org.xen-pvscsi:disks
OUTAGE=10
truncate -s 96M /tmp/iscsi-hd.img
truncate -s 64M /tmp/iscsi-block.img
truncate -s 32M /tmp/iscsi-stop.img
iscsi_config() {
    tgt_target 1 "$IQN" &&
    tgt_lun 1 1 -b /tmp/iscsi-hd.img &&
    tgt_lun 1 2 -b /tmp/iscsi-block.img &&
    tgt_lun 1 3 -b /tmp/iscsi-stop.img
}
check tgtd-start tgt_start || exit 1
check tgt-config iscsi_config || exit 1

guest_script is <<'EOF_GUEST'
xe_modprobe xen-scsifront sd_mod sg
check luns-appear xe_wait_scsi 3 90 || { xe_diag; exit 1; }
xe_say "lsscsi: $(lsscsi | tr '\n' '|')"
HD=$(xe_blockdev 0:1:0)
BLK=$(xe_blockdev 0:2:0)
STOP=$(xe_blockdev 0:3:0)
# The outages last longer than sd's 30 s command timeout could allow for:
# give every LUN 300 s, so that what the guest sees is QEMU's behaviour,
# not its own error handling.
for d in "$HD" "$BLK" "$STOP"; do echo 300 > "/sys/block/${d#/dev/}/device/timeout"; done
check_sh lsscsi-scsi-hd "lsscsi | grep -Eq '^\[[0-9]+:0:1:0\] +disk +QEMU '"
check_sh lsscsi-scsi-block "lsscsi | grep -Eq '^\[[0-9]+:0:2:0\] +disk +IET '"
check_sh sg_inq-scsi-block-vendor "sg_inq $(xe_sgdev 0:2:0) | grep -q 'Vendor identification: IET'"
check_eq readcap-scsi-hd "$(blockdev --getsize64 "$HD")" $((96 << 20))
check_eq readcap-scsi-block "$(blockdev --getsize64 "$BLK")" $((64 << 20))

# fio_check NAME FIO-ARGS...: fio with crc32c verify; PASS if clean.
fio_check() {
    _n=$1
    shift
    if fio --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 "$@" \
           --output="/tmp/$_n.out" > /dev/null 2>&1 &&
       ! grep -q 'verify: bad\|bad magic\|err=[ ]*[1-9]' "/tmp/$_n.out"; then
        pass "$_n"
    else
        fail "$_n" "$(grep -i -m 3 -E 'verify|error|err=' "/tmp/$_n.out" | xe_oneline)"
    fi
}
for d in hd block; do
    [ $d = hd ] && dev=$HD || dev=$BLK
    fio_check "fio-$d-write-verify" --name=w --filename="$dev" --rw=write --bs=64k \
        --iodepth=16 --size=16M
    fio_check "fio-$d-randrw-verify" --name=r --filename="$dev" --rw=randrw --bs=4k \
        --iodepth=8 --offset=32M --size=8M --verify_backlog=64
done

# --- outage A: tgtd killed while fio writes and verifies 0:1:0 ---------
OUTJOB="--name=outage --filename=$HD --rw=write --bs=64k --iodepth=8 --offset=40M --size=48M"
t0=$(cut -d. -f1 /proc/uptime)
# shellcheck disable=SC2086
(fio --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 $OUTJOB \
     --output=/tmp/outage.out > /dev/null 2>&1; echo $? > /tmp/outage.rc) &
sleep 2
xe_sync outage-a 60              # dom0 kills tgtd and answers at once
check outage-a-fio-done xe_wait_for 200 '[ -e /tmp/outage.rc ]'
t1=$(cut -d. -f1 /proc/uptime)
xe_say "outage A: fio took $((t1 - t0)) s: $(grep -E '^ +(read|write):' /tmp/outage.out | sed 's/(.*//' | tr -s ' ' | tr '\n' ' ')"
check_eq outage-a-fio-exit "$(cat /tmp/outage.rc 2>/dev/null)" 0
check_sh outage-a-fio-verify-clean "! grep -q 'verify: bad\|bad magic\|err=[ ]*[1-9]' /tmp/outage.out"
# fio was still running when the target vanished (it spans the outage).
check_ge outage-a-fio-spanned-outage "$((t1 - t0))" "$OUTAGE"
check_sh outage-a-no-guest-errors "! dmesg | grep -Eq 'I/O error|critical target error|Medium Error|Aborted Command|abort'"
# shellcheck disable=SC2086
fio_check outage-a-verify-after-recovery $OUTJOB --verify_only
fio_check outage-a-block-after-recovery --name=b --filename="$BLK" --rw=randrw --bs=4k \
    --iodepth=8 --offset=48M --size=8M --verify_backlog=64
check outage-a-md5-after-recovery xe_rw_verify "$HD" 88 4 512K "oflag=direct iflag=direct"
xe_sync outage-a-checked 120

# --- outage B: werror=stop,rerror=stop on 0:3:0 -------------------------
dd if=/dev/urandom of=/tmp/stop.pat bs=1M count=4 2>/dev/null
xe_sync outage-b 120              # dom0 kills tgtd first
(dd if=/tmp/stop.pat of="$STOP" bs=64k oflag=direct conv=fsync 2>/tmp/stop.err; echo $? > /tmp/stop.rc) &
sleep 1
xe_sync outage-b-writing 300      # dom0: run state, tgtd back, cont
check outage-b-write-done xe_wait_for 120 '[ -e /tmp/stop.rc ]'
check_eq outage-b-write-exit "$(cat /tmp/stop.rc 2>/dev/null)" 0
check_eq outage-b-readback-md5 "$(dd if="$STOP" bs=1M count=4 iflag=direct 2>/dev/null | md5sum)" "$(md5sum < /tmp/stop.pat)"
check_sh outage-b-no-guest-errors "! dmesg | grep -Eq 'I/O error|critical target error|Aborted Command|abort'"
check outage-b-md5-hd-after xe_rw_verify "$HD" 80 4
xe_diag 20
xe_sync checked 120
EOF_GUEST

domu_create is --fat OUTAGE="$OUTAGE" || exit 1
qemu_start is \
    -drive "file=iscsi://127.0.0.1/$IQN/1,if=none,id=ih,format=raw,cache=none" \
    -drive "file=iscsi://127.0.0.1/$IQN/2,if=none,id=ib,format=raw,cache=none" \
    -blockdev "driver=iscsi,node-name=is,transport=tcp,portal=127.0.0.1,target=$IQN,lun=3,timeout=3" \
    -device xen-pvscsi,id=vs0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=ih \
    -device scsi-block,bus=vs0.0,channel=0,scsi-id=2,lun=0,drive=ib \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=3,lun=0,drive=is,werror=stop,rerror=stop || exit 1
domu_unpause is || exit 1

qstatus() { xe_qmp is '{"execute":"query-status"}' 2>/dev/null | sed -n 's/.*"status": *"\([a-z-]*\)".*/\1/p'; }

if ! domu_sync is outage-a 300 200; then domu_wait is 30; exit 1; fi
check_vscsi_connected "" qscsi "$DOMID"
tgt_kill
xe_say "outage A: tgtd killed"
domu_release is outage-a
sleep "$OUTAGE"
check qemu-alive-during-outage-a qemu_alive is
check tgtd-restart-a tgt_start
check tgt-config-a iscsi_config
xe_say "outage A: tgtd back"
check_eq status-after-outage-a "$(qstatus)" running

if ! domu_sync is outage-a-checked 300 200; then domu_wait is 30; exit 1; fi
domu_release is outage-a-checked
if ! domu_sync is outage-b 60; then domu_wait is 30; exit 1; fi
tgt_kill
xe_say "outage B: tgtd killed"
domu_release is outage-b
if domu_sync is outage-b-writing 60; then
    # The guest's write to 0:3:0 waits in QEMU while libiscsi reconnects
    # (a missing target is never an error by itself: libiscsi holds the
    # request across reconnects, timeout= included). tgtd comes back
    # without LUN 3: the retried WRITE fails with ILLEGAL REQUEST, and
    # werror=stop stops QEMU (run state io-error) instead of reporting.
    sleep 5
    check_eq outage-b-status-while-down "$(qstatus)" running
    check tgtd-restart-b tgt_start
    check tgt-config-b-without-lun3 sh -c "tgtadm --lld iscsi --mode target --op new --tid 1 -T $IQN &&
        tgtadm --lld iscsi --mode target --op bind --tid 1 -I ALL &&
        tgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 -b /tmp/iscsi-hd.img &&
        tgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 2 -b /tmp/iscsi-block.img"
    st=""
    for i in $(seq 60); do
        st=$(qstatus)
        [ "$st" = io-error ] && break
        sleep 1
    done
    xe_say "outage B: QEMU run state '$st' $i s after tgtd came back without LUN 3"
    check_eq outage-b-status-io-error "$st" io-error
    check qemu-alive-during-outage-b qemu_alive is
    check tgt-lun3-back tgt_lun 1 3 -b /tmp/iscsi-stop.img
    check_match outage-b-cont "$(xe_qmp is '{"execute":"cont"}')" '"return"'
    sleep 1
    check_eq outage-b-status-running "$(qstatus)" running
    domu_release is outage-b-writing
fi
if domu_sync is checked 300 200; then
    domu_release is checked
fi
domu_wait is 120
grep -i 'iscsi' "$XE_OUT/qemu-is.log" | head -n 20 | while read -r l; do xe_say "qemu: $l"; done
check qemu-alive-at-end qemu_alive is
