#!/bin/bash
# xl vscsi=, scsi-attach/-detach/-list (contrib/xen libxl/xl series, backend qscsi) with the project's QEMU
# Needs scripts/xen-pvscsi/build-xen-tools.sh: run.sh builds it (cached)
# whenever this scenario is in its list, as it is by default.
# XE_TIMEOUT=600
# dom0 runs the xl/libxenlight/libxlutil built from Debian's xen 4.17
# source with contrib/xen/*.patch (from the share's xen-tools/, with
# LD_LIBRARY_PATH; dom0's own xl is untouched). The guest's domU.cfg has
# two vscsi= entries: a raw image on vhost 0 and dom0's scsi_debug LUN by
# h:c:t:l with feature-host on vhost 1; libxl starts the project's QEMU
# (device_model_override) for the PV guest because of them. Checks: the
# xenstore layout libxl wrote, the guest sees both LUNs at their v-devs
# (scsi_debug's own INQUIRY through feature-host) and fio verifies on
# both; xl scsi-attach adds a qcow2 LUN to vhost 0 of the running guest
# (state-7 reconfiguration), xl scsi-list shows the three with state 4,
# xl list -l carries them; each bad input (malformed v-dev, unknown
# option, missing p-dev, p-dev attached twice, v-dev in use, unknown
# h:c:t:l, malformed and duplicate entries in a domU.cfg, detach of an
# unknown v-dev) fails with its message and leaves xenstore as it was;
# xl scsi-detach removes the LUN (gone in the guest, nodes removed);
# xl destroy leaves no xenstore node and no QEMU.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

[ -n "$XE_QEMU" ] || { fail xl-dm "no project QEMU on the share"; exit 1; }
[ -x /xe/xen-tools/bin/xl ] || { fail patched-xl "no /xe/xen-tools/bin/xl on the share (scripts/xen-pvscsi/build-xen-tools.sh)"; exit 1; }

# The patched xl, for this scenario only: first in PATH (domu_create,
# domu_wait etc. call "xl").
mkdir -p /tmp/xen-tools /tmp/xlbin
cp -a /xe/xen-tools/bin /xe/xen-tools/lib /tmp/xen-tools/
cat > /tmp/xlbin/xl <<'EOF'
#!/bin/sh
LD_LIBRARY_PATH=/tmp/xen-tools/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec /tmp/xen-tools/bin/xl "$@"
EOF
chmod +x /tmp/xlbin/xl
export PATH=/tmp/xlbin:$PATH
xe_say "patched xl: $(LD_LIBRARY_PATH=/tmp/xen-tools/lib ldd /tmp/xen-tools/bin/xl 2>&1 | grep -E 'xenlight|xlutil|not found' | xe_oneline); $(xl help 2>&1 | grep scsi | xe_oneline)"
check_sh patched-xl-loads "xl help 2>&1 | grep -q scsi-attach && LD_LIBRARY_PATH=/tmp/xen-tools/lib ldd /tmp/xen-tools/bin/xl | grep -q '/tmp/xen-tools/lib/libxenlight'"

check modprobe-sd-sg modprobe -a sd_mod sg || exit 1
check modprobe-scsi_debug modprobe scsi_debug dev_size_mb=64 max_luns=1 || exit 1
H=$(scsi_debug_host 0:0:0/block)
SD="$H:0:0:0"
check_sh scsi_debug-present "[ -e /sys/bus/scsi/devices/$SD/block ]" || exit 1
truncate -s 64M /tmp/a.img /tmp/d.img
"$XE_QEMU_IMG" create -q -f qcow2 /tmp/c.qcow2 32M

guest_script xv <<'EOF_GUEST'
xe_modprobe xen-scsifront sd_mod sg
check luns-appear xe_wait_for 120 '[ -n "$(xe_blockdev 0:1:0)" ] && [ -n "$(xe_blockdev 0:2:0)" ]' || { xe_diag 30; exit 1; }
xe_say "lsscsi: $(lsscsi | tr '\n' '|')"
check_sh image-lun-at-vdev "lsscsi | grep -E '^\[[0-9]+:0:1:0\]' | grep -q QEMU"
check_sh scsi_debug-lun-at-vdev "lsscsi | grep -E '^\[[0-9]+:0:2:0\]' | grep -q scsi_debug"
A=$(xe_blockdev 0:1:0)
B=$(xe_blockdev 0:2:0)
check fio-image-verify fio --name=a --filename="$A" --rw=write --bs=64k \
    --iodepth=16 --size=16M --ioengine=libaio --direct=1 \
    --verify=crc32c --verify_fatal=1 --output=/tmp/fa.out
check fio-scsi_debug-verify fio --name=b --filename="$B" --rw=randrw --bs=4k \
    --iodepth=8 --size=8M --ioengine=libaio --direct=1 \
    --verify=crc32c --verify_fatal=1 --verify_backlog=64 --output=/tmp/fb.out
xe_sync attach 300
check hotplug-lun-appears xe_wait_for 60 '[ -n "$(xe_blockdev 0:3:0)" ]' || xe_diag 20
xe_say "lsscsi: $(lsscsi | tr '\n' '|')"
check hotplug-lun-io xe_rw_verify "$(xe_blockdev 0:3:0)" 0 4
xe_sync detach 300
check detached-lun-gone xe_wait_for 60 '[ -z "$(xe_hctl 0:3:0)" ]'
xe_say "lsscsi: $(lsscsi | tr '\n' '|')"
check other-luns-still-io xe_rw_verify "$A" 32 4
EOF_GUEST

BE0=/local/domain/0/backend/qscsi
# xenstore as the checks compare it: every qscsi backend, the guest's
# vscsi frontends, libxl's own records.
snap() {
    xenstore-ls -f "$BE0" 2>/dev/null
    [ -n "$DOMID" ] && xenstore-ls -f "/local/domain/$DOMID/device/vscsi" 2>/dev/null
    [ -n "$DOMID" ] && xenstore-ls -f "/libxl/$DOMID/device/vscsi" 2>/dev/null
}

start=$SECONDS
# XE_GUEST_SHELL=1: the guest stays up after its DONE, for xl destroy.
domu_create xv --fat XE_GUEST_SHELL=1 \
    --cfg 'device_model_version = "qemu-xen"' \
    --cfg "device_model_override = \"$XE_QEMU\"" \
    --cfg "vscsi = [ 'raw:/tmp/a.img,0:0:1:0', '$SD,1:0:2:0,feature-host' ]" || exit 1
pass xl-create-with-vscsi "$((SECONDS - start)) s"
QPID=$(pgrep -f -- "-xen-domid $DOMID " | head -n 1)
check_match dm-started-for-vscsi "$QPID" '^[0-9]+$' "QEMU pid"
xenstore-ls -fp "$BE0/$DOMID" | sed 's/^/XE: be /'
xenstore-ls -fp "/local/domain/$DOMID/device/vscsi" | sed 's/^/XE: fe /'
check_eq xs-vhost0-pdev "$(xs_read "$BE0/$DOMID/0/vscsi-devs/dev-0/p-dev")" "raw:/tmp/a.img"
check_eq xs-vhost0-vdev "$(xs_read "$BE0/$DOMID/0/vscsi-devs/dev-0/v-dev")" "0:0:1:0"
check_eq xs-vhost0-feature-host "$(xs_read "$BE0/$DOMID/0/feature-host")" 0
check_eq xs-vhost1-pdev "$(xs_read "$BE0/$DOMID/1/vscsi-devs/dev-0/p-dev")" "$SD"
check_eq xs-vhost1-feature-host "$(xs_read "$BE0/$DOMID/1/feature-host")" 1
check_eq xs-frontend-backend "$(xs_read "/local/domain/$DOMID/device/vscsi/1/backend")" "$BE0/$DOMID/1"

domu_unpause xv || exit 1
if ! domu_sync xv attach 400; then domu_wait xv 30; xl destroy xv; exit 1; fi
check_vscsi_connected "" qscsi "$DOMID" 60
check_sh xl-list-l-has-vscsi "xl list -l xv | tr -d ' \n' | grep -q '\"vscsictrls\":\[' && xl list -l xv | grep -q '\"pdev\": \"$SD\"'"

# Hot-add a third LUN (vhost 0, state-7 reconfiguration).
start=$SECONDS
out=$(xl scsi-attach xv qcow2:/tmp/c.qcow2 0:0:3:0 2>&1)
rc=$?
xe_say "xl scsi-attach: rc $rc $(echo "$out" | xe_oneline) ($((SECONDS - start)) s)"
check_eq scsi-attach-rc "$rc" 0
D3=$(xs_dev_of "$BE0/$DOMID/0" 0:0:3:0)
check_xs scsi-attach-lun-state "$BE0/$DOMID/0/vscsi-devs/${D3:-none}/state" 4 10
check_xs scsi-attach-vhost-back-to-4 "$BE0/$DOMID/0/state" 4 10
domu_release xv attach
domu_sync xv detach 300 || { domu_wait xv 30; xl destroy xv; exit 1; }

export list
list=$(xl scsi-list xv 2>&1)
echo "$list" | sed 's/^/XE: scsi-list: /'
check_eq scsi-list-three-luns "$(echo "$list" | awk 'NR > 1 && $8 == 4' | wc -l)" 3
check_sh scsi-list-shows-pdevs "echo \"\$list\" | grep -q 'raw:/tmp/a.img' && echo \"\$list\" | grep -q ' $SD\$' && echo \"\$list\" | grep -q 'qcow2:/tmp/c.qcow2'"
check_sh xl-list-l-has-hotplugged "xl list -l xv | grep -q '/tmp/c.qcow2'"

# Bad input: exit status, message, xenstore unchanged.
bad() {
    local name=$1 re=$2 out rc before after
    shift 2
    before=$(snap)
    out=$("$@" 2>&1)
    rc=$?
    sleep 1
    after=$(snap)
    if [ "$rc" = 0 ]; then
        fail "bad-$name" "exit 0: $(echo "$out" | xe_oneline)"
    elif ! echo "$out" | grep -qE "$re"; then
        fail "bad-$name" "exit $rc, message not matching '$re': $(echo "$out" | xe_oneline)"
    elif [ "$before" != "$after" ]; then
        fail "bad-$name" "xenstore changed: $(diff <(echo "$before") <(echo "$after") | xe_oneline)"
    else
        pass "bad-$name" "exit $rc: $(echo "$out" | grep -E "$re" | head -n 1 | xe_oneline)"
    fi
}
bad malformed-vdev "bad v-dev '0:0:x:0'" xl scsi-attach xv /tmp/d.img 0:0:x:0
bad vdev-channel "channel must be 0" xl scsi-attach xv /tmp/d.img 0:1:4:0
bad unknown-option "unknown option 'bogus'" xl scsi-attach xv /tmp/d.img 0:0:4:0,bogus
bad missing-pdev "p-dev /tmp/none.img does not exist" xl scsi-attach xv /tmp/none.img 0:0:4:0
bad unknown-hctl "p-dev 9:9:9:9: no such SCSI device" xl scsi-attach xv 9:9:9:9 0:0:4:0
bad duplicate-pdev "p-dev raw:/tmp/a.img is already attached" xl scsi-attach xv raw:/tmp/a.img 0:0:4:0
bad duplicate-hctl-pdev "p-dev $SD is already attached" xl scsi-attach xv "$SD" 2:0:4:0
bad vdev-in-use "v-dev 0:0:1:0 is already in use" xl scsi-attach xv /tmp/d.img 0:0:1:0
bad detach-unknown-vdev "has no v-dev 0:0:9:0" xl scsi-detach xv 0:0:9:0
bad detach-unknown-vhost "has no vscsi vhost 7" xl scsi-detach xv 7:0:1:0
# domU.cfg entries: nothing created at all.
mk_cfg() { sed -e "s/^name = .*/name = \"$1\"/" -e '/^vscsi/d' "$XE_OUT/domu-xv.cfg" > "/tmp/$1.cfg"; echo "vscsi = [ $2 ]" >> "/tmp/$1.cfg"; }
mk_cfg xb1 "'/tmp/d.img,0:0:1'"
bad cfg-malformed-vdev "bad v-dev '0:0:1'" xl create -p /tmp/xb1.cfg
mk_cfg xb2 "'/tmp/d.img,0:0:1:0', '/tmp/d.img,0:0:2:0'"
bad cfg-duplicate-pdev "p-dev /tmp/d.img given twice" xl create -p /tmp/xb2.cfg
mk_cfg xb3 "'/tmp/d.img,0:0:1:0,fast'"
bad cfg-unknown-option "unknown option 'fast'" xl create -p /tmp/xb3.cfg
mk_cfg xb4 "'/tmp/none.img,0:0:1:0'"
bad cfg-missing-pdev "p-dev /tmp/none.img does not exist" xl create -p /tmp/xb4.cfg
check_sh cfg-bad-no-domain "! xl domid xb1 && ! xl domid xb2 && ! xl domid xb3 && ! xl domid xb4" 

# Detach the hot-added LUN.
start=$SECONDS
out=$(xl scsi-detach xv 0:0:3:0 2>&1)
rc=$?
xe_say "xl scsi-detach: rc $rc $(echo "$out" | xe_oneline) ($((SECONDS - start)) s)"
check_eq scsi-detach-rc "$rc" 0
check_sh scsi-detach-be-node-gone "! xenstore-exists $BE0/$DOMID/0/vscsi-devs/${D3:-none}"
check_sh scsi-detach-fe-node-gone "! xenstore-exists /local/domain/$DOMID/device/vscsi/0/vscsi-devs/${D3:-none}"
check_sh scsi-detach-others-stay "xenstore-exists $BE0/$DOMID/0/vscsi-devs/dev-0 && xenstore-exists $BE0/$DOMID/1/vscsi-devs/dev-0"
check_sh xl-list-l-after-detach "! xl list -l xv | grep -q '/tmp/c.qcow2'"
domu_release xv detach
domu_wait xv 300 || true

# xl destroy of the running guest.
check xl-destroy xl destroy xv
for _ in $(seq 30); do kill -0 "${QPID:-0}" 2>/dev/null || break; sleep 1; done
# (pgrep here, not in check_sh: its sh -c line would match the pattern)
left=$(pgrep -f -- "-xen-domid $DOMID " | tr '\n' ' ')
kill -0 "${QPID:-0}" 2>/dev/null && left="$left(pid $QPID alive)"
check_eq destroy-no-qemu "$left" "" "QEMU processes of domain $DOMID"
check_sh destroy-no-backend-nodes "! xenstore-exists $BE0/$DOMID"
check_sh destroy-no-frontend-nodes "! xenstore-exists /local/domain/$DOMID"
check_sh destroy-no-libxl-nodes "! xenstore-exists /libxl/$DOMID"
xenstore-ls -f "$BE0" 2>/dev/null | sed 's/^/XE: left: /'
