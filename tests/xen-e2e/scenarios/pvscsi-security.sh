#!/bin/bash
# xen-pvscsi security/robustness (issue 11): no iSCSI format probing, iSCSI+feature-host, detach with no frontend, failed LUN freed, dev-N numbering, naa p-devs
# XE_TIMEOUT=600
# One guest, one QEMU (vhost 0 on its command line with a raw LUN at
# 0:0:1:0); everything else goes through xenstore as a toolstack does,
# mostly with scripts/xen-vscsi:
#   item 1   iSCSI (tgtd in dom0) LUN 1 holds at LBA 0 a qcow2 header whose
#            backing file is a dom0 file with a marker text; attached with
#            feature-host=0 (vhost 1, 1:0:11:0), the guest must read the
#            header bytes (md5 as in dom0), never the marker. LUN 2 with
#            feature-host (vhost 2, 2:0:12:0) must connect as scsi-block:
#            the guest sees the vendor/product tgt was configured with.
#   item 2   vhost 3 (3:0:8:0 and a keeper 3:0:9:0, xen-vscsi
#            create-from-cfg): the guest unbinds
#            xen-scsifront from it (vhost state 2), dom0 detaches 3:0:8:0;
#            no trace of its dev-N in the backend's or the frontend's
#            vscsi-devs, query-block no longer lists its image; after the
#            rebind and a manual SCSI scan of that address the guest has
#            no such LUN; the same p-dev attaches again on vhost 0
#            (0:0:10:0) and reads back what the guest wrote before.
#   item 5   p-dev /dev/null's char device (not an sg node) at 0:0:3:0:
#            dev state 6 with an error node, no device or open p-dev left
#            in QEMU (query-block, /proc/PID/fd); then a good p-dev at the
#            same v-dev attaches and works.
#   item 11  dev-3000000000 written by hand keeps its number and connects
#            (0:0:7:0), no other dev-N touched; a QMP device_add
#            (0:0:2:0) on a vhost whose
#            xenstore holds a toolstack's failed dev-1 picks a dev-N that
#            does not exist and leaves dev-1's nodes alone.
#   item 14  p-dev naa.<WWN>:<LUN> of dom0 scsi_debug LUN 0 through the CLI
#            (0:0:4:0; xenstore gets its h:c:t:l), LUN 1 written by hand
#            in naa form for QEMU itself (dev-2, 0:0:5:0); an unknown WWN or a
#            wrong LUN is refused, naming the accepted forms, and changes
#            nothing in xenstore.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

CLI=${XE_VSCSI:-/xe/bin/xen-vscsi}
QIMG=${XE_QEMU_IMG:-qemu-img}
export XEN_VSCSI_TIMEOUT=45
IQN=iqn.2025-01.org.xen-pvscsi:sec
rnd() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# xs_wait_any PATH TIMEOUT VALUE...: until PATH holds one of the values;
# prints the last value read.
xs_wait_any() {
    local p=$1 end=$((SECONDS + $2)) v w
    shift 2
    while :; do
        v=$(xs_read "$p")
        for w in "$@"; do [ "$v" = "$w" ] && { echo "$v"; return 0; }; done
        [ "$SECONDS" -ge "$end" ] && { echo "${v:-<absent>}"; return 1; }
        sleep 0.5
    done
}
# cli_fails NAME REGEX... -- CLI-ARGS: exit 1 and every REGEX in the output.
cli_fails() {
    local name=$1 out rc re
    shift
    local res=()
    while [ "$1" != -- ]; do res+=("$1"); shift; done
    shift
    out=$("$CLI" "$@" 2>&1)
    rc=$?
    [ "$rc" = 1 ] || { fail "$name" "exit $rc (want 1): $(echo "$out" | xe_oneline)"; return 1; }
    for re in "${res[@]}"; do
        grep -Eq -- "$re" <<< "$out" ||
            { fail "$name" "'$(echo "$out" | xe_oneline)' does not match /$re/"; return 1; }
    done
    pass "$name"
}
xs_dump() {
    xenstore-ls -f "/local/domain/0/backend/qscsi/$DOMID" 2>&1
    xenstore-ls -f "/local/domain/$DOMID/device/vscsi" 2>&1
}

# --- fixtures -----------------------------------------------------------
# item 1: the dom0 file (a marker text, 1 MiB) and a qcow2 header naming it
MARK="XPV-DOM0-SECRET-$(rnd 8)"
yes "$MARK" | head -c 1048576 > /tmp/sec-secret.raw
truncate -s 16M /tmp/sec-probe.img /tmp/sec-fh.img
check probe-qcow2-header "$QIMG" create -q -f qcow2 -b /tmp/sec-secret.raw -F raw \
    /tmp/sec-hdr.qcow2 16M || exit 1
check probe-header-on-lun dd if=/tmp/sec-hdr.qcow2 of=/tmp/sec-probe.img conv=notrunc status=none || exit 1
# (the fixture is what a guest could write: a prober sees a qcow2 image
# backed by the dom0 file)
check_match probe-fixture-probes-as-qcow2 "$("$QIMG" info /tmp/sec-probe.img 2>&1)" \
    'backing file: /tmp/sec-secret.raw'
HDR_MD5=$(dd if=/tmp/sec-probe.img bs=64k count=1 status=none | md5sum | cut -d' ' -f1)
VEND=XPVSEC
PROD=FH-$(rnd 4)
check tgtd-start tgt_start || exit 1
check tgt-config sh -c "tgtadm --lld iscsi --mode target --op new --tid 1 -T $IQN &&
    tgtadm --lld iscsi --mode target --op bind --tid 1 -I ALL &&
    tgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 -b /tmp/sec-probe.img &&
    tgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 2 -b /tmp/sec-fh.img &&
    tgtadm --lld iscsi --mode logicalunit --op update --tid 1 --lun 2 --params vendor_id=$VEND,product_id=$PROD" || exit 1

# item 14: scsi_debug, two LUNs on one store (dom0 has no udev: sd and sg first)
check modprobe-sd-sg modprobe -a sd_mod sg || exit 1
check modprobe-scsi_debug modprobe scsi_debug dev_size_mb=16 max_luns=2 || exit 1
H=$(scsi_debug_host 0:0:1/block)
WWN0=$(tr -d ' \n' < "/sys/bus/scsi/devices/$H:0:0:0/wwid" 2>/dev/null)
WWN1=$(tr -d ' \n' < "/sys/bus/scsi/devices/$H:0:0:1/wwid" 2>/dev/null)
SD0=/dev/$(ls "/sys/bus/scsi/devices/$H:0:0:0/block" 2>/dev/null)
xe_say "scsi_debug host $H: LUN 0 $SD0 wwid $WWN0, LUN 1 wwid $WWN1"
check_match naa-scsi_debug-wwid "$WWN0 $WWN1" '^naa\.[0-9a-f]+ naa\.[0-9a-f]+$' || exit 1
dd if=/dev/urandom of=/tmp/sec-naa.pat bs=1M count=1 status=none
check naa-pattern-written dd if=/tmp/sec-naa.pat of="$SD0" bs=1M seek=2 oflag=direct conv=fsync status=none
NAA_MD5=$(md5sum < /tmp/sec-naa.pat | cut -d' ' -f1)

truncate -s 16M /tmp/sec-base.img /tmp/sec-qmp.img /tmp/sec-big.img /tmp/sec-good.img \
    /tmp/sec-det.img /tmp/sec-keep.img

# --- the guest ----------------------------------------------------------
guest_script sec <<'EOF_GUEST'
xe_modprobe xen-scsifront sd_mod sg
check base-lun xe_wait_scsi 1 90 || { xe_diag; exit 1; }
xe_sync ready 420
LUNS="0:1:0 0:2:0 0:3:0 0:4:0 0:5:0 0:7:0 0:11:0 0:12:0 0:8:0 0:9:0"
all() { for _l in $LUNS; do [ -n "$(xe_hctl "$_l")" ] || return 1; done; }
xe_wait_for 60 all
xe_say "lsscsi: $(lsscsi | tr '\n' '|')"
# md5 of COUNT MiB at OFFSET MiB of C:T:L
md5_of() { dd if="$(xe_blockdev "$1")" bs=1M skip="$2" count="$3" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }

# item 1: LBA 0 of the iSCSI LUN is the qcow2 header, never the dom0 file
if check probe-lun-visible test -n "$(xe_blockdev 0:11:0)"; then
    dd if="$(xe_blockdev 0:11:0)" of=/tmp/lba0 bs=1M count=1 iflag=direct 2>/dev/null
    check_eq probe-lba0-is-header-md5 "$(head -c 65536 /tmp/lba0 | md5sum | cut -d' ' -f1)" "$HDR_MD5"
    check_eq probe-lba0-qcow2-magic "$(head -c 3 /tmp/lba0)" QFI
    check_sh probe-no-dom0-file-text "! grep -q -F '$MARK' /tmp/lba0"
    check probe-lun-rw xe_rw_verify "$(xe_blockdev 0:11:0)" 4 1 64K "oflag=direct iflag=direct"
fi
# item 1: iSCSI + feature-host: scsi-block, the target's own INQUIRY
if check fh-lun-visible test -n "$(xe_sgdev 0:12:0)"; then
    inq=$(sg_inq "$(xe_sgdev 0:12:0)" 2>&1)
    check_eq fh-inquiry-vendor "$(echo "$inq" | sed -n 's/^ *Vendor identification: *//p' | sed 's/ *$//')" "$VEND"
    check_eq fh-inquiry-product "$(echo "$inq" | sed -n 's/^ *Product identification: *//p' | sed 's/ *$//')" "$PROD"
    check fh-lun-rw xe_rw_verify "$(xe_blockdev 0:12:0)" 0 1 64K "oflag=direct iflag=direct"
fi
# item 5: the good p-dev at the v-dev of the failed one
check failed-lun-good-visible test -n "$(xe_blockdev 0:3:0)" &&
    check failed-lun-good-rw xe_rw_verify "$(xe_blockdev 0:3:0)" 0 1
# item 14: both naa LUNs show dom0's pattern
check naa-cli-visible test -n "$(xe_blockdev 0:4:0)" &&
    check_eq naa-cli-data "$(md5_of 0:4:0 2 1)" "$NAA_MD5"
check naa-qemu-visible test -n "$(xe_blockdev 0:5:0)" &&
    check_eq naa-qemu-data "$(md5_of 0:5:0 2 1)" "$NAA_MD5"
# item 11
check big-devnum-visible test -n "$(xe_blockdev 0:7:0)" &&
    check big-devnum-rw xe_rw_verify "$(xe_blockdev 0:7:0)" 0 1
check taken-devnum-qmp-visible test -n "$(xe_blockdev 0:2:0)" &&
    check taken-devnum-qmp-rw xe_rw_verify "$(xe_blockdev 0:2:0)" 0 1

# item 2: write through 3:0:8:0, unbind the frontend of vhost 3
dd if=/dev/urandom of=/tmp/det.pat bs=1M count=1 2>/dev/null
DET_MD5=$(md5sum < /tmp/det.pat | cut -d' ' -f1)
check detach-lun-visible test -n "$(xe_blockdev 0:8:0)" &&
    check detach-lun-write dd if=/tmp/det.pat of="$(xe_blockdev 0:8:0)" bs=1M oflag=direct conv=fsync
check detach-unbind sh -c "echo vscsi-3 > /sys/bus/xen/drivers/vscsi/unbind"
check detach-luns-gone-after-unbind xe_wait_for 30 '[ -z "$(xe_hctl 0:8:0)" ] && [ -z "$(xe_hctl 0:9:0)" ]'
xe_sync unbound 300
check detach-bind sh -c "echo vscsi-3 > /sys/bus/xen/drivers/vscsi/bind"
if check detach-keeper-back xe_wait_for 60 '[ -n "$(xe_blockdev 0:9:0)" ]'; then
    # Ask for the detached address explicitly: a LUN left on QEMU's bus
    # answers a scan even without a vscsi-devs entry.
    _h=$(xe_hctl 0:9:0)
    echo "0 8 0" > "/sys/class/scsi_host/host${_h%%:*}/scan" 2>/dev/null
    sleep 2
    xe_say "after rebind and scan of 0 8 0 on host ${_h%%:*}: $(lsscsi | tr '\n' '|')"
    check_eq detach-lun-gone-after-rebind "$(xe_hctl 0:8:0)" ""
    check detach-keeper-rw xe_rw_verify "$(xe_blockdev 0:9:0)" 0 1
fi
check detach-reattached-visible xe_wait_for 30 '[ -n "$(xe_blockdev 0:10:0)" ]' &&
    check_eq detach-reattached-data "$(md5_of 0:10:0 0 1)" "$DET_MD5"
xe_sync checked 300
EOF_GUEST

domu_create sec HDR_MD5="$HDR_MD5" MARK="$MARK" VEND="$VEND" PROD="$PROD" NAA_MD5="$NAA_MD5" || exit 1
qemu_start sec -drive if=none,id=d0,file=/tmp/sec-base.img,format=raw,cache=none,aio=native \
    -device xen-pvscsi,id=vs0,vhost=0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0 || exit 1
domu_unpause sec || exit 1
domu_sync sec ready 240 || { domu_wait sec 30; exit 1; }
BE=/local/domain/0/backend/qscsi/$DOMID
FE=/local/domain/$DOMID/device/vscsi
check_xs vhost0-connected "$BE/0/state" 4 60

# --- items 11 and 14: LUNs a toolstack writes by hand, one round --------
#   dev-1            a p-dev that does not exist: fails (6 + error)
#   dev-2            naa.WWN:LUN of scsi_debug LUN 1, for QEMU to resolve
xenstore-write "$BE/0/vscsi-devs/dev-1/p-dev" /tmp/sec-not-there.img \
    "$BE/0/vscsi-devs/dev-1/v-dev" 0:0:13:0 "$BE/0/vscsi-devs/dev-1/state" 1 \
    "$BE/0/vscsi-devs/dev-2/p-dev" "$WWN1:1" \
    "$BE/0/vscsi-devs/dev-2/v-dev" 0:0:5:0 "$BE/0/vscsi-devs/dev-2/state" 1
xenstore-chmod -r "$BE/0/vscsi-devs" n0 "r$DOMID"
xenstore-write "$BE/0/state" 7
check_xs taken-devnum-entry-failed "$BE/0/vscsi-devs/dev-1/state" 6 30
check_match taken-devnum-entry-error "$(xs_read "$BE/0/vscsi-devs/dev-1/error")" 'sec-not-there'
st=$(xs_wait_any "$BE/0/vscsi-devs/dev-2/state" 30 4 6)
check_eq naa-qemu-connected "$st" 4 "dev-2 error '$(xs_read "$BE/0/vscsi-devs/dev-2/error")'"
check_xs hand-luns-vhost-connected "$BE/0/state" 4 30

# --- item 11: device_add next to the toolstack's failed dev-1 -----------
entry() { for k in p-dev v-dev state error; do echo "$k=$(xs_read "$BE/0/vscsi-devs/dev-1/$k")"; done; }
ENTRY=$(entry)
BEFORE=$(xenstore-list "$BE/0/vscsi-devs" | sort | tr '\n' ' ')
out=$(xe_qmp sec \
    '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"q0","file":{"driver":"file","filename":"/tmp/sec-qmp.img"}}}' \
    '{"execute":"device_add","arguments":{"driver":"scsi-hd","id":"qlun","bus":"vs0.0","channel":0,"scsi-id":2,"lun":0,"drive":"q0"}}')
check_eq taken-devnum-qmp-device-add "$(grep -c '"return"' <<< "$out")" 2
QDEV=$(xs_dev_of "$BE/0" 0:0:2:0)
xe_say "vscsi-devs before device_add: $BEFORE; the QMP LUN got '$QDEV'"
check_sh taken-devnum-qmp-new-dev "case ' $BEFORE' in *' $QDEV '*) exit 1 ;; esac; [ -n '$QDEV' ]"
check_xs taken-devnum-qmp-connected "$BE/0/vscsi-devs/$QDEV/state" 4 30
check_eq taken-devnum-entry-untouched "$(entry | tr '\n' ' ')" "$(echo "$ENTRY" | tr '\n' ' ')"
check_xs taken-devnum-vhost-connected "$BE/0/state" 4 30

# --- item 11: dev-3000000000 keeps its number ----------------------------
BIG=dev-3000000000
xenstore-write "$BE/0/vscsi-devs/$BIG/p-dev" /tmp/sec-big.img \
    "$BE/0/vscsi-devs/$BIG/v-dev" 0:0:7:0 "$BE/0/vscsi-devs/$BIG/state" 1
xenstore-chmod -r "$BE/0/vscsi-devs" n0 "r$DOMID"
BEFORE=$(xenstore-list "$BE/0/vscsi-devs" | sort)
NODES=$(xenstore-ls -f "$BE/0/vscsi-devs" | grep -v "/$BIG/" | sort)
xenstore-write "$BE/0/state" 7
check_xs big-devnum-connected "$BE/0/vscsi-devs/$BIG/state" 4 30
check_xs big-devnum-vhost-connected "$BE/0/state" 4 30
check_eq big-devnum-no-other-dev "$(xenstore-list "$BE/0/vscsi-devs" | sort | tr '\n' ' ')" \
    "$(echo "$BEFORE" | tr '\n' ' ')"
# (a renumbered LUN would take and rewrite another dev-N)
check_eq big-devnum-other-devs-untouched \
    "$(xenstore-ls -f "$BE/0/vscsi-devs" | grep -v "/$BIG/" | sort | md5sum)" "$(echo "$NODES" | md5sum)"

# --- item 5: a LUN that fails at realize, then a good one at its v-dev ----
# /tmp/sec-chr is /dev/null under a name of its own (c 1 3): scsi-generic
# rejects it at realize. The CLI reports state 6 with the error node's
# text, then deletes dev-N; QEMU must not keep the device (or the p-dev
# open).
check failed-lun-mknod mknod /tmp/sec-chr c 1 3
cli_fails failed-lun-state6-error 'attaching /tmp/sec-chr as 0:0:3:0 failed: .+' -- \
    attach "$DOMID" /tmp/sec-chr 0:0:3:0
check_eq failed-lun-nodes-removed "$(xs_dev_of "$BE/0" 0:0:3:0)" ""
qb=$(xe_qmp sec '{"execute":"query-block"}')
check_match failed-lun-qmp-answers "$qb" '"return"'
if grep -q '/tmp/sec-chr' <<< "$qb"; then
    fail failed-lun-not-in-query-block "query-block lists /tmp/sec-chr: $(echo "$qb" | xe_oneline)"
else
    pass failed-lun-not-in-query-block
fi
pid=${XE_QEMU_PID[sec]:-none}
check_sh failed-lun-pdev-not-open "[ -d /proc/$pid/fd ] && [ -z \"\$(find /proc/$pid/fd -lname /tmp/sec-chr)\" ]"
check failed-lun-good-same-vdev "$CLI" attach "$DOMID" raw:/tmp/sec-good.img 0:0:3:0
check_xs failed-lun-good-connected "$BE/0/vscsi-devs/$(xs_dev_of "$BE/0" 0:0:3:0)/state" 4 10

# --- item 14: naa.WWN:LUN ------------------------------------------------
NAAU="naa.$(echo "${WWN0#naa.}" | tr a-f A-F):0"
check naa-cli-attach "$CLI" attach "$DOMID" "$NAAU" 0:0:4:0
ND=$(xs_dev_of "$BE/0" 0:0:4:0)
check_eq naa-cli-pdev-hctl "$(xs_read "$BE/0/vscsi-devs/$ND/p-dev")" "$H:0:0:0"
check_eq naa-cli-pdevname "$(xs_read "$BE/0/vscsi-devs/$ND/p-devname")" "$NAAU"
check_xs naa-cli-connected "$BE/0/vscsi-devs/$ND/state" 4 10
# unknown WWN, and a known WWN with the wrong LUN: refused, nothing written
BAD=naa.60014050dead0bad
check_sh naa-unknown-wwn-absent "! grep -qix '$BAD' /sys/bus/scsi/devices/*/wwid"
xs_dump > /tmp/sec-xs-before
forms=('h:c:t:l' 'naa\.WWN:LUN' '/dev/' 'raw:' 'qcow2:' 'iscsi://')
cli_fails naa-unknown-wwn-error "$BAD" "${forms[@]}" -- attach "$DOMID" "$BAD:0" 0:0:6:0
cli_fails naa-wrong-lun-error "$WWN0" "${forms[@]}" -- attach "$DOMID" "$WWN0:1" 0:0:6:0
cli_fails naa-unknown-wwn-new-vhost-error "$BAD" -- attach "$DOMID" "$BAD:0" 5:0:6:0
xs_dump > /tmp/sec-xs-after
if cmp -s /tmp/sec-xs-before /tmp/sec-xs-after; then
    pass naa-errors-change-nothing
else
    fail naa-errors-change-nothing "xenstore changed: $(diff /tmp/sec-xs-before /tmp/sec-xs-after | grep '^[<>]' | xe_oneline)"
fi

# --- item 1: iSCSI LUNs through the toolstack path ----------------------
check probe-attach "$CLI" attach "$DOMID" "iscsi://127.0.0.1/$IQN/1" 1:0:11:0
check_eq probe-feature-host-0 "$(xs_read "$BE/1/feature-host")" 0
check_xs probe-dev-connected "$BE/1/vscsi-devs/dev-0/state" 4 10
out=$("$CLI" attach "$DOMID" "iscsi://127.0.0.1/$IQN/2" 2:0:12:0,feature-host 2>&1)
check_eq fh-attach "$?" 0 "$(echo "$out" | xe_oneline)"
check_eq fh-feature-host-1 "$(xs_read "$BE/2/feature-host")" 1
check_xs fh-dev-connected "$BE/2/vscsi-devs/dev-0/state" 4 10

# --- item 2: vhost 3 for the detach with no frontend --------------------
cat > /tmp/sec.cfg <<CFG
name = "sec"
vscsi = [ 'raw:/tmp/sec-det.img,3:0:8:0', 'raw:/tmp/sec-keep.img,3:0:9:0' ]
CFG
check detach-create-vhost "$CLI" create-from-cfg /tmp/sec.cfg
DD=$(xs_dev_of "$BE/3" 3:0:8:0)
KD=$(xs_dev_of "$BE/3" 3:0:9:0)
domu_release sec ready

# (no idle bound: where LUNs are missing the guest waits 60 s for them, silently)
if domu_sync sec unbound 420; then
    check_xs detach-vhost-initwait "$BE/3/state" 2 30
    xenstore-ls -f "$BE/3" "$FE/3" 2>&1 | sed 's/^/XE: unbound /'
    out=$(XEN_VSCSI_TIMEOUT=20 "$CLI" detach "$DOMID" 3:0:8:0 2>&1)
    check_eq detach-while-unbound "$?" 0 "$(echo "$out" | xe_oneline)"
    xenstore-ls -f "$BE/3" "$FE/3" 2>&1 | sed 's/^/XE: detached /'
    check_sh detach-backend-no-trace "[ -n '$DD' ] && ! xenstore-exists $BE/3/vscsi-devs/$DD && [ -z \"\$(xenstore-ls $BE/3 | grep -F 3:0:8:0)\" ]"
    check_sh detach-frontend-no-trace "[ -n '$DD' ] && ! xenstore-exists $FE/3/vscsi-devs/$DD"
    qb=$(xe_qmp sec '{"execute":"query-block"}')
    check_match detach-qmp-keeper-listed "$qb" '"/tmp/sec-keep.img"'
    if grep -q '"/tmp/sec-det.img"' <<< "$qb"; then
        fail detach-qmp-lun-gone "query-block still lists /tmp/sec-det.img: $(grep -o '"qdev": "[^"]*"[^}]*"/tmp/sec-det.img"' <<< "$qb" | xe_oneline)"
    else
        pass detach-qmp-lun-gone
    fi
    check detach-reattach-other-vhost "$CLI" attach "$DOMID" raw:/tmp/sec-det.img 0:0:10:0
    domu_release sec unbound
    if domu_sync sec checked 300; then
        xenstore-ls -f "$BE/3" "$FE/3" 2>&1 | sed 's/^/XE: rebound /'
        check_xs detach-vhost-reconnected "$BE/3/state" 4 30
        check_xs detach-keeper-connected "$BE/3/vscsi-devs/$KD/state" 4 10
        check_sh detach-backend-no-trace-after-rebind "! xenstore-exists $BE/3/vscsi-devs/$DD"
        check_sh detach-frontend-no-trace-after-rebind "! xenstore-exists $FE/3/vscsi-devs/$DD"
        domu_release sec checked
    fi
fi
domu_wait sec 120
check qemu-alive qemu_alive sec
grep -v '^+ ' "$XE_OUT/qemu-sec.log" | head -n 30 | while read -r l; do xe_say "qemu: $l"; done
qemu_stop sec
