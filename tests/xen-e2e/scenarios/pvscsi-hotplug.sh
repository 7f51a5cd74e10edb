#!/bin/bash
# xen-pvscsi LUN hot-plug: xen-vscsi CLI, QMP device_add/del, toolstack vhost, 50 cycles
# The toolstack protocol (vhost state 7, dev-N
# 1 -> 4 and 5 -> 6) through scripts/xen-vscsi and through QMP
# device_add/device_del; a vhost created by a toolstack; CLI errors;
# attach/detach cycles without leaks; several LUNs changed in one
# reconfiguration.
# XE_TIMEOUT=900
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

CLI=${XE_VSCSI:-/xe/bin/xen-vscsi}
CYCLES=${XE_HOTPLUG_CYCLES:-50}
export XEN_VSCSI_TIMEOUT=60
truncate -s 64M /tmp/base.img
truncate -s 32M /tmp/cli.img
truncate -s 32M /tmp/qmp.img
truncate -s 16M /tmp/cycle.img
"${XE_QEMU_IMG:-qemu-img}" create -q -f qcow2 /tmp/ts.qcow2 48M

# cli_err NAME EXPECTED-EXIT MESSAGE-REGEX CLI-ARGS...: the CLI fails with
# that exit code and says why.
cli_err() {
    local name=$1 want=$2 re=$3 out rc
    shift 3
    out=$("$CLI" "$@" 2>&1)
    rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$name" "exit $rc (want $want): $(echo "$out" | xe_oneline)"
    elif ! grep -Eq "$re" <<< "$out"; then
        fail "$name" "message '$(echo "$out" | xe_oneline)' does not match /$re/"
    else
        pass "$name"
    fi
}

guest_script hp <<'EOF'
xe_modprobe xen-scsifront sd_mod sg
check base-lun xe_wait_scsi 1 60 || { xe_diag; exit 1; }
check base-lun-io xe_rw_verify "$(xe_blockdev 0:1:0)" 0 4
xe_sync ready 180

check cli-lun-appears xe_wait_for 60 '[ -n "$(xe_blockdev 0:2:0)" ]'
check cli-lun-io xe_rw_verify "$(xe_blockdev 0:2:0)" 0 8
xe_sync cli-added 180

check cli-lun-gone xe_wait_for 60 '[ -z "$(xe_hctl 0:2:0)" ]'
check base-lun-still-works xe_rw_verify "$(xe_blockdev 0:1:0)" 8 4
xe_sync cli-removed 180

check qmp-lun-appears xe_wait_for 60 '[ -n "$(xe_blockdev 0:3:0)" ]'
check qmp-lun-io xe_rw_verify "$(xe_blockdev 0:3:0)" 0 8
xe_sync qmp-added 180

check qmp-lun-gone xe_wait_for 60 '[ -z "$(xe_hctl 0:3:0)" ]'
xe_sync qmp-removed 180

# dom0 attaches/detaches 0:0:4:0 in a loop while fio writes and verifies
# the base LUN, run after run.
_dev=$(xe_blockdev 0:1:0)
rm -f /tmp/stop /tmp/fio-failed
echo 0 > /tmp/fio-runs
(
    _n=0
    while [ ! -e /tmp/stop ]; do
        if ! fio --name=verify --filename="$_dev" --rw=randwrite --bs=4k \
                --offset=32M --size=16M --verify=crc32c --verify_fatal=1 \
                --ioengine=libaio --iodepth=4 --direct=1 \
                --output=/tmp/fio.out > /dev/null 2>&1; then
            cp /tmp/fio.out /tmp/fio-failed
            break
        fi
        _n=$((_n + 1))
        echo "$_n" > /tmp/fio-runs
    done
) &
_fio=$!
xe_sync cycles-done 1200
touch /tmp/stop
wait "$_fio"
check fio-verify-during-cycles test ! -e /tmp/fio-failed
[ -e /tmp/fio-failed ] && xe_say "fio: $(grep -i -m3 'err\|verify' /tmp/fio-failed | tr '\n' ' ')"
check_ge fio-runs-during-cycles "$(cat /tmp/fio-runs)" 1
check base-lun-io-during-cycles xe_rw_verify "$(xe_blockdev 0:1:0)" 16 4
xe_say "SCSI devices after cycles: $(xe_scsi_devices | tr '\n' ' ')"
check_eq lsscsi-after-cycles "$(xe_scsi_devices | sed 's/^[0-9]*://' | tr '\n' ' ')" "0:1:0 "
xe_sync cycles-checked 600

# A vhost created by the toolstack (dom0: xen-vscsi create-from-cfg).
check ts-luns-appear xe_wait_for 90 '[ -n "$(xe_blockdev 0:5:0)" ] && [ -n "$(xe_blockdev 0:6:0)" ]'
check ts-lun-raw-io xe_rw_verify "$(xe_blockdev 0:5:0)" 0 4
check ts-lun-qcow2-io xe_rw_verify "$(xe_blockdev 0:6:0)" 0 4
check ts-bad-lun-absent test -z "$(xe_hctl 0:7:0)"
xe_sync ts-checked 300

# One reconfiguration adds two LUNs and removes one (dom0 wrote all three
# changes, then vhost state 7 once).
check multi-luns-added xe_wait_for 90 '[ -n "$(xe_blockdev 0:8:0)" ] && [ -n "$(xe_blockdev 0:9:0)" ]'
check multi-lun-removed xe_wait_for 90 '[ -z "$(xe_hctl 0:5:0)" ]'
check multi-lun-a-io xe_rw_verify "$(xe_blockdev 0:8:0)" 0 4
check multi-lun-b-io xe_rw_verify "$(xe_blockdev 0:9:0)" 0 4
check multi-kept-lun-io xe_rw_verify "$(xe_blockdev 0:6:0)" 8 4
EOF

domu_create hp --fat || exit 1
BE=/local/domain/0/backend/qscsi/$DOMID
qemu_start hp -drive if=none,id=d0,file=/tmp/base.img,format=raw,cache=none,aio=native \
    -device xen-pvscsi,id=vs0,vhost=0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0 || exit 1
domu_unpause hp || exit 1
domu_sync hp ready 180 || { domu_wait hp 30; exit 1; }
check_vscsi_connected "" qscsi "$DOMID"

# --- CLI errors (the guest is idle) ------------------------------------
cli_err cli-err-bad-vdev 1 "bad vdev '0:0:x:0'" attach "$DOMID" /tmp/cli.img 0:0:x:0
cli_err cli-err-bad-channel 1 "channel 0 only" attach "$DOMID" /tmp/cli.img 0:1:2:0
cli_err cli-err-vdev-in-use 1 "vdev 0:0:1:0 is already in use" attach "$DOMID" /tmp/cli.img 0:0:1:0
cli_err cli-err-missing-pdev 1 "pdev /tmp/nonexistent.img does not exist" attach "$DOMID" /tmp/nonexistent.img 0:0:2:0
cli_err cli-err-bad-domain 1 "domain 999 does not exist" attach 999 /tmp/cli.img 0:0:2:0
cli_err cli-err-detach-unknown 1 "has no vdev 0:0:9:0" detach "$DOMID" 0:0:9:0
cli_err cli-err-usage 2 "Usage|xen-vscsi attach" attach
cli_err cli-err-unknown-option 1 "unknown option 'bogus'" attach "$DOMID" /tmp/cli.img 0:0:2:0,bogus
# A domain with no xen-pvscsi QEMU: nothing answers, the CLI times out.
XEN_VSCSI_TIMEOUT=5 cli_err cli-err-no-backend 1 "did not connect vhost 0 within 5 s" \
    attach 0 /tmp/cli.img 0:0:2:0
xenstore-rm /local/domain/0/backend/qscsi/0 /local/domain/0/device/vscsi 2>/dev/null

# --- CLI attach / detach -----------------------------------------------
check cli-attach "$CLI" attach "$DOMID" /tmp/cli.img 0:0:2:0
check_xs cli-attach-xs-vhost "$BE/0/state" 4
cli_err cli-err-duplicate-pdev 1 "already attached to domain $DOMID as 0:0:2:0" \
    attach "$DOMID" /tmp/cli.img 0:0:3:0
check_sh cli-list "'$CLI' list $DOMID | grep -Eq ' 0:0:2:0 +4 +/tmp/cli.img\$'"
domu_release hp ready
domu_sync hp cli-added 180 || { domu_wait hp 30; exit 1; }
check cli-detach "$CLI" detach "$DOMID" 0:0:2:0
check_sh cli-detach-nodes-gone "! '$CLI' list $DOMID | grep -q ' 0:0:2:0 '"
check_xs cli-detach-xs-vhost "$BE/0/state" 4
domu_release hp cli-added
domu_sync hp cli-removed 180 || { domu_wait hp 30; exit 1; }

# --- QMP device_add / device_del ---------------------------------------
out=$(xe_qmp hp \
    '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"q0","file":{"driver":"file","filename":"/tmp/qmp.img"}}}' \
    '{"execute":"device_add","arguments":{"driver":"scsi-hd","id":"qlun","bus":"vs0.0","channel":0,"scsi-id":3,"lun":0,"drive":"q0"}}')
check_eq qmp-device-add "$(grep -c '"return"' <<< "$out")" 2
QDEV=$(for d in $(xenstore-list "$BE/0/vscsi-devs"); do
           [ "$(xs_read "$BE/0/vscsi-devs/$d/v-dev")" = 0:0:3:0 ] && echo "$d"; done)
check_match qmp-dev-node "$QDEV" '^dev-[0-9]+$'
check_xs qmp-dev-connected "$BE/0/vscsi-devs/$QDEV/state" 4 60
domu_release hp cli-removed
domu_sync hp qmp-added 180 || { domu_wait hp 30; exit 1; }
out=$(xe_qmp hp '{"execute":"device_del","arguments":{"id":"qlun"}}')
check_match qmp-device-del "$out" '"return"'
gone() { ! xe_qmp hp '{"execute":"qom-list","arguments":{"path":"/machine/peripheral"}}' | grep -q '"qlun"'; }
t=0; while ! gone && [ $t -lt 60 ]; do sleep 1; t=$((t + 1)); done
check qmp-device-deleted gone
check_sh qmp-dev-node-removed "! xenstore-exists $BE/0/vscsi-devs/$QDEV"
domu_release hp qmp-added
domu_sync hp qmp-removed 180 || { domu_wait hp 30; exit 1; }
domu_release hp qmp-removed
domu_sync hp cycles-done 180 || { domu_wait hp 30; exit 1; }

# --- hot-plug script (block-script contract) ----------------------------
# The script prepares the p-dev ("add"), hands back the device to use in
# physical-device-path, and is called again with "remove" after detach.
truncate -s 16M /tmp/script-src.img /tmp/script-target.img
cat > /tmp/hp-script <<'SCRIPT'
#!/bin/sh
echo "$1 $XENBUS_PATH" >> /tmp/hp-script.log
[ "$1" = add ] && xenstore-write "$XENBUS_PATH/physical-device-path" /tmp/script-target.img
exit 0
SCRIPT
chmod +x /tmp/hp-script
rm -f /tmp/hp-script.log
check script-attach "$CLI" attach "$DOMID" /tmp/script-src.img 0:0:5:0,script=/tmp/hp-script
SDEV=$(for d in $(xenstore-list "$BE/0/vscsi-devs"); do
           [ "$(xs_read "$BE/0/vscsi-devs/$d/v-dev")" = 0:0:5:0 ] && echo "$d"; done)
check_eq script-pdev-from-script "$(xs_read "$BE/0/vscsi-devs/$SDEV/p-dev")" /tmp/script-target.img
check_eq script-pdevname-kept "$(xs_read "$BE/0/vscsi-devs/$SDEV/p-devname")" /tmp/script-src.img
check_xs script-lun-connected "$BE/0/vscsi-devs/$SDEV/state" 4
check script-detach "$CLI" detach "$DOMID" 0:0:5:0
check_eq script-calls "$(tr '\n' '|' < /tmp/hp-script.log)" "add $BE/0/vscsi-devs/$SDEV|remove $BE/0/vscsi-devs/$SDEV|"
cli_err script-err-failing 1 "script /bin/false add failed" \
    attach "$DOMID" /tmp/script-src.img 0:0:5:0,script=/bin/false
check_sh script-err-nothing-left "! '$CLI' list $DOMID | grep -q ' 0:0:5:0 '"

# --- attach/detach cycles: no leaks ------------------------------------
pid=${XE_QEMU_PID[hp]}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
cycle_fail=""
for i in $(seq "$CYCLES"); do
    if ! o=$("$CLI" attach "$DOMID" /tmp/cycle.img 0:0:4:0 2>&1); then
        cycle_fail="attach $i: $o"; break
    fi
    if ! o=$("$CLI" detach "$DOMID" 0:0:4:0 2>&1); then
        cycle_fail="detach $i: $o"; break
    fi
    [ "$i" = 5 ] && { rss0=$(rss); fds0=$(fds); }
done
rss1=$(rss); fds1=$(fds)
xe_say "cycles: RSS ${rss0:-?} -> $rss1 KiB, fds ${fds0:-?} -> $fds1"
if [ -n "$cycle_fail" ]; then
    fail cycles "$cycle_fail"
else
    pass "cycles-$CYCLES"
    # 45 cycles after warm-up: allow 2 MiB of allocator noise.
    check_sh cycles-rss-stable "[ $((rss1 - rss0)) -lt 2048 ]"
    check_eq cycles-fds-stable "$fds1" "$fds0"
fi
check_sh cycles-list-clean "! '$CLI' list $DOMID | grep -q ' 0:0:4:0 '"
domu_release hp cycles-done
domu_sync hp cycles-checked 600 || { domu_wait hp 30; exit 1; }

# --- a vhost created by the toolstack ----------------------------------
cat > /tmp/ts.cfg <<CFG
name = "hp"
vscsi = [ 'raw:/tmp/cli.img,1:0:5:0', 'qcow2:/tmp/ts.qcow2,1:0:6:0',
          '/tmp/not-there.img,1:0:7:0' ]
CFG
# The CLI refuses the missing file before writing anything...
cli_err ts-cfg-missing-pdev 1 "pdev /tmp/not-there.img does not exist" create-from-cfg /tmp/ts.cfg
check_sh ts-cfg-nothing-written "! xenstore-exists $BE/1"
# ...so write that entry by hand, as another toolstack might.
sed -i '/not-there/d; s/,$/ ]/' /tmp/ts.cfg
check ts-create "$CLI" create-from-cfg /tmp/ts.cfg
xenstore-write "$BE/1/vscsi-devs/dev-9/p-dev" /tmp/not-there.img \
    "$BE/1/vscsi-devs/dev-9/v-dev" 1:0:7:0 "$BE/1/vscsi-devs/dev-9/state" 1 \
    "$BE/1/state" 7
check_xs ts-bad-lun-closed "$BE/1/vscsi-devs/dev-9/state" 6 60
check_match ts-bad-lun-error "$(xs_read "$BE/1/vscsi-devs/dev-9/error")" 'not-there.img'
check_xs ts-vhost-connected "$BE/1/state" 4 60
check_xs ts-dev0-connected "$BE/1/vscsi-devs/dev-0/state" 4 60
check_xs ts-dev1-connected "$BE/1/vscsi-devs/dev-1/state" 4 60
domu_release hp cycles-checked
domu_sync hp ts-checked 300 || { domu_wait hp 30; exit 1; }

# --- several LUNs changed in one reconfiguration -----------------------
truncate -s 16M /tmp/multi-a.img /tmp/multi-b.img
xenstore-write "$BE/1/vscsi-devs/dev-10/p-dev" /tmp/multi-a.img \
    "$BE/1/vscsi-devs/dev-10/v-dev" 1:0:8:0 "$BE/1/vscsi-devs/dev-10/state" 1 \
    "$BE/1/vscsi-devs/dev-11/p-dev" /tmp/multi-b.img \
    "$BE/1/vscsi-devs/dev-11/v-dev" 1:0:9:0 "$BE/1/vscsi-devs/dev-11/state" 1 \
    "$BE/1/vscsi-devs/dev-0/state" 5
xenstore-chmod -r "$BE/1/vscsi-devs" n0 "r$DOMID"
xenstore-write "$BE/1/state" 7
check_xs multi-dev10-connected "$BE/1/vscsi-devs/dev-10/state" 4 60
check_xs multi-dev11-connected "$BE/1/vscsi-devs/dev-11/state" 4 60
check_xs multi-dev0-closed "$BE/1/vscsi-devs/dev-0/state" 6 60
check_xs multi-vhost-connected "$BE/1/state" 4 60
check_xs multi-dev1-untouched "$BE/1/vscsi-devs/dev-1/state" 4
# the toolstack deletes a removed LUN's nodes
xenstore-rm "$BE/1/vscsi-devs/dev-0"
domu_release hp ts-checked
domu_wait hp 240
check qemu-alive qemu_alive hp
