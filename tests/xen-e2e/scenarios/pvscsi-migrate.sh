#!/bin/bash
# xen-pvscsi across xl save/restore and xl migrate (localhost): libxl-managed QEMU LUNs and xen-vscsi save/restore/migrate, fio verify mid-write
# XE_DEFAULT=0 (until it passes)
# XE_TIMEOUT=1800
# One PV guest (2 vCPUs, 320 MiB), QEMU started by libxl
# (device_model_override + device_model_args_pv, a qdisk disk so that libxl
# starts it): vhost 0 with a raw LUN (0:1:0, cache=none) and a qcow2 LUN
# (0:2:0, cache=directsync), writes throttled to 40 IOPS so that commands
# are queued when the guest suspends. A third LUN, qcow2 with cache=none
# (0:4:0), is only observed (xe_say, no check): its qcow2 metadata stays in
# the old QEMU's cache while the new QEMU opens the image during xl migrate.
# Each cycle runs fio verify=crc32c (randwrite 64k, iodepth 16, one fio per
# LUN) in the guest and moves the guest in the middle of the write phase:
#   save1   xl save + xl restore (libxl only)
#   mig1    xl migrate to localhost (xl's -s '': the receiver runs here);
#           on a Xen without shadow paging (no PV log-dirty, so no live
#           migration of a PV guest: Debian's 4.17) the xl migrate steps
#           without the live phase: xl save -p, xl rename, xl restore while
#           the old domain and its QEMU still exist, xl destroy of the old
#   then xen-vscsi attach of dom0 scsi_debug H:0:2:0 (feature-host) as 1:0:3:0
#   save2   xen-vscsi save, xl save, scsi_debug reloaded (its h:c:t:l
#           changes), xl restore -p, xen-vscsi restore (finds it by its
#           naa identity), xl unpause
#   mig2    xen-vscsi migrate DOMID localhost (save, xl migrate -p, wait
#           for the old QEMU, restore, unpause; without live migration the
#           same steps around xl save -p / xl restore -p, and xen-vscsi
#           restore refuses while the old domain exists); data on the
#           scsi_debug LUN
#   ckpt    xl save -c (cancelled suspend: the guest goes on with the same
#           backend): xen-scsifront stays paused until xen-vscsi kick
#   gone    scsi_debug removed between save and restore: xen-vscsi restore
#           refuses and writes nothing; with the device back it restores
# After every cycle: fio finished clean, writes completed after the resume,
# the guest's LUNs at the same h:c:t:l, the old QEMU gone, no xenstore
# nodes of the old domain left.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

CLI=${XE_VSCSI:-/xe/bin/xen-vscsi}
export XEN_VSCSI_TIMEOUT=60
NAME=mig
SAVE=/tmp/mig.save
CON="$XE_OUT/console"
BE=/local/domain/0/backend/qscsi

[ -n "$XE_QEMU" ] || { fail libxl-dm "no project QEMU on the share"; exit 1; }
truncate -s 16M /tmp/qdisk.img
xe_two_lun_images 128 128 || exit 1
check qemu-img-create-wb "$XE_QEMU_IMG" create -q -f qcow2 /tmp/disk2.qcow2 128M || exit 1

# dom0 scsi_debug: 3 targets on host H; the LUN used is H:0:2:0. Its VPD
# 0x83 NAA designator is 0x3333333000000000 + (H + 1) * 2000 + target *
# 1000 + lun, so after a reload with 1 target on 2 hosts (H, H + 1) the
# same identity is H+1:0:0:0.
check modprobe-sd-sg modprobe -a sd_mod sg || exit 1
check scsi_debug-load modprobe scsi_debug dev_size_mb=16 num_tgts=3 || exit 1
H=$(scsi_debug_host 0:2:0/block)
SD_HCTL=$H:0:2:0
SD_WWID=$(tr -d ' \n' < "/sys/bus/scsi/devices/$SD_HCTL/wwid")
SD_ID="$SD_WWID:0"
xe_say "scsi_debug: $SD_HCTL wwid $SD_WWID"
check_match scsi_debug-naa "$SD_WWID" '^naa\.[0-9a-f]+$' || exit 1

# ------------------------------------------------------------------ guest --
guest_script "$NAME" <<'EOF_GUEST'
xe_modprobe xen-blkfront xen-scsifront sd_mod sg
check luns-appear xe_wait_for 120 '[ -n "$(xe_blockdev 0:1:0)" ] && [ -n "$(xe_blockdev 0:2:0)" ] && [ -n "$(xe_blockdev 0:4:0)" ]' || { xe_diag; exit 1; }
RAW=$(xe_blockdev 0:1:0)
QCOW=$(xe_blockdev 0:2:0)
QWB=$(xe_blockdev 0:4:0)
HCTL=$(xe_scsi_devices | tr '\n' ' ')
xe_say "raw $RAW, qcow2 $QCOW, qcow2 (writeback metadata) $QWB; LUNs $HCTL"
xe_writes() { echo $(( $(awk '{print $5}' "/sys/block/${RAW#/dev/}/stat") + $(awk '{print $5}' "/sys/block/${QCOW#/dev/}/stat") )); }
xe_inflight() { for _d in "$RAW" "$QCOW" "$QWB"; do printf '%s ' "$(tr -s ' ' < "/sys/block/${_d#/dev/}/inflight")"; done; }

# fio_round TAG OFFSET [SIZE]: fio verify on each LUN; dom0 moves the guest
# while the write phase runs (xe_sync TAG), then the results. SIZE (48M)
# at 40 writes/s of 64 KiB per LUN: the write phase must outlast what dom0
# does between the sync and the save (longer with xen-vscsi save).
fio_round() {
    _tag=$1
    for _l in raw qcow2 qwb; do
        case $_l in raw) _d=$RAW ;; qcow2) _d=$QCOW ;; qwb) _d=$QWB ;; esac
        rm -f "/tmp/fio-$_tag-$_l.out"
        fio --output="/tmp/fio-$_tag-$_l.out" --name="$_l" --filename="$_d" --ioengine=libaio \
            --direct=1 --iodepth=16 --rw=randwrite --bs=64k --size="${3:-48M}" --offset="$2" \
            --verify=crc32c --verify_fatal=1 --do_verify=1 > /dev/null 2>&1 &
        eval "_fio_$_l=\$!"
    done
    _w0=$(xe_writes)
    sleep 2
    xe_say "$_tag: fio running, $(( $(xe_writes) - _w0 )) writes done, in flight (r w per LUN): $(xe_inflight)"
    xe_sync "$_tag" 900
    _alive=0
    kill -0 "$_fio_raw" 2>/dev/null && kill -0 "$_fio_qcow2" 2>/dev/null && _alive=1
    _w1=$(xe_writes)
    xe_say "$_tag: released; $((_w1 - _w0)) writes done so far, in flight $(xe_inflight); kernel: $(dmesg | tail -n 6 | tr '\n' '|')"
    for _l in raw qcow2 qwb; do
        eval "wait \$_fio_$_l"
        eval "_rc_$_l=\$?"
    done
    _w2=$(xe_writes)
    xe_say "$_tag: writes $((_w1 - _w0)) before the release, $((_w2 - _w1)) after; fio exit raw $_rc_raw qcow2 $_rc_qcow2 qcow2-writeback $_rc_qwb"
    check_eq "$_tag-fio-running-at-release" "$_alive" 1
    check_sh "$_tag-writes-after-resume" "[ $_w2 -gt $_w1 ]"
    for _l in raw qcow2 qwb; do
        eval "_rc=\$_rc_$_l"
        _bad=$(grep -i -m 3 -E 'verify|error|err=[ ]*[1-9]' "/tmp/fio-$_tag-$_l.out" | xe_oneline)
        if [ "$_l" = qwb ]; then
            xe_say "EVIDENCE $_tag qcow2 cache=none (metadata cached in QEMU): fio exit $_rc${_bad:+: $_bad}"
            continue
        fi
        check_sh "$_tag-fio-$_l-verify-clean" "[ $_rc = 0 ] && ! grep -q 'verify: bad\|bad magic\|err=[ ]*[1-9]' /tmp/fio-$_tag-$_l.out"
        [ "$_rc" = 0 ] || xe_say "$_tag $_l: $_bad"
    done
    check_eq "$_tag-luns-same-hctl" "$(xe_scsi_devices | tr '\n' ' ')" "$HCTL"
}

# ts_wwid: the toolstack LUN's VPD 0x83 designator as the guest reads it
# now (rescan: the kernel reads the VPD pages again).
ts_wwid() {
    _h=$(xe_hctl 0:3:0)
    echo 1 > "/sys/bus/scsi/devices/$_h/rescan"
    tr -d ' \n' < "/sys/bus/scsi/devices/$_h/wwid"
}

fio_round save1 0
fio_round mig1 64M

xe_sync attach 300
check ts-lun-appears xe_wait_for 60 '[ -n "$(xe_blockdev 0:3:0)" ]'
TS=$(xe_blockdev 0:3:0)
HCTL=$(xe_scsi_devices | tr '\n' ' ')
xe_say "toolstack LUN $TS; LUNs $HCTL"
check_eq ts-lun-wwid "$(ts_wwid)" "$SD_WWID"
check ts-lun-io xe_rw_verify "$TS" 0 2 64K "oflag=direct iflag=direct"

fio_round save2 0 112M
check_eq save2-ts-lun-wwid "$(ts_wwid)" "$SD_WWID"
check save2-ts-lun-io xe_rw_verify "$TS" 0 2 64K "oflag=direct iflag=direct"

# Data on the toolstack LUN across xen-vscsi migrate (same device).
dd if=/dev/urandom of=/tmp/ts.pat bs=1M count=2 2>/dev/null
dd if=/tmp/ts.pat of="$TS" bs=1M seek=4 oflag=direct conv=fsync 2>/dev/null
TSMD5=$(md5sum < /tmp/ts.pat | cut -d' ' -f1)
fio_round mig2 64M 64M
check_eq mig2-ts-lun-wwid "$(ts_wwid)" "$SD_WWID"
check_eq mig2-ts-lun-data "$(dd if="$TS" bs=1M skip=4 count=2 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)" "$TSMD5"

# Cancelled suspend: the same backend goes on.
xe_sync ckpt 600
dd if=/dev/urandom of="$RAW" bs=64k count=16 seek=912 oflag=direct 2>/dev/null &
DD=$!
sleep 15
BLOCKED=0
kill -0 "$DD" 2>/dev/null && BLOCKED=1
xe_say "ckpt: a 1 MiB write 15 s after the cancelled suspend: $([ $BLOCKED = 1 ] && echo still blocked || echo done)"
check_eq ckpt-frontend-paused-until-kick "$BLOCKED" 1
xe_sync kick 120
check ckpt-write-after-kick xe_wait_for 60 "! kill -0 $DD 2>/dev/null"
check ckpt-raw-io xe_rw_verify "$RAW" 58 2 64K "oflag=direct iflag=direct"

# The device is gone at restore: refused; restored once it is back.
xe_sync gone 900
check gone-raw-io xe_rw_verify "$RAW" 61 2 64K "oflag=direct iflag=direct"
check_eq gone-luns-same-hctl "$(xe_scsi_devices | tr '\n' ' ')" "$HCTL"
check_eq gone-ts-lun-wwid "$(ts_wwid)" "$SD_WWID"
check gone-ts-lun-io xe_rw_verify "$TS" 0 2 64K "oflag=direct iflag=direct"
xe_sync checked 120
EOF_GUEST

# -------------------------------------------------------------- dom0 side --
# The console of a domain received by xl migrate is logged under
# NAME--incoming, of a restored one under NAME again: look in both.
con_all() { cat "$CON/guest-$NAME.log" "$CON/guest-$NAME--incoming.log" 2>/dev/null | tr -d '\r'; }
# msync TAG TIMEOUT: wait for the guest's xe_sync TAG. After one miss the
# later phases are skipped (the guest is not where they expect it).
SYNC_LOST=""
msync() {
    local end=$((SECONDS + $2))
    [ -z "$SYNC_LOST" ] || { xe_say "skipping $1 (the guest missed $SYNC_LOST)"; return 1; }
    while ! con_all | grep -qx "XE-SYNC $1"; do
        if [ "$SECONDS" -ge "$end" ] || con_all | grep -q 'DONE rc='; then
            fail "sync-$1" "the guest did not reach '$1' ($2 s)"
            SYNC_LOST=$1
            return 1
        fi
        sleep 1
    done
}
# release TAG: answer the guest's xe_sync TAG (its console tty may be new).
release() {
    local _
    for _ in $(seq 60); do
        [ -n "$(xs_read "/local/domain/$DOMID/console/tty")" ] && break
        sleep 0.5
    done
    domu_release "$NAME" "$1"
}
newdom() {
    DOMID=$(xl domid "$NAME") || { fail "$1-domid" "no domain $NAME"; return 1; }
    # shellcheck disable=SC2034  # (lib/dom0.sh's)
    XE_DOMID[$NAME]=$DOMID
    xe_say "$1: domain $NAME is now domid $DOMID"
}
dmpid() { xs_read "/local/domain/$1/image/device-model-pid"; }
gone_within() {   # gone_within PID SECONDS
    local end=$((SECONDS + $2))
    while [ -d "/proc/$1" ]; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.2; done
}
# old_qemu_gone TAG PID: the old domain's QEMU exits (libxl only sends it
# SIGHUP); nothing may start on the same images before that.
old_qemu_gone() {
    local t0=$SECONDS
    check "$1-old-qemu-exits" gone_within "${2:-0}" 60
    xe_say "$1: old QEMU ${2:-?} gone after $((SECONDS - t0)) s"
}
# leftovers TAG OLDDOMID: the old domain left nothing in dom0.
leftovers() {
    local tag=$1 old=$2 t left=""
    for t in $(xenstore-list /local/domain/0/backend 2>/dev/null); do
        xenstore-exists "/local/domain/0/backend/$t/$old" 2>/dev/null && left+=" backend/$t/$old"
    done
    xenstore-exists "/local/domain/$old" 2>/dev/null && left+=" /local/domain/$old"
    check_eq "$tag-no-xenstore-leftovers" "${left:-none}" none
    check_eq "$tag-no-old-qemu" "$(pgrep -f -- "-xen-domid $old " | tr '\n' ' ')" ""
    check_eq "$tag-no-old-domain" "$(xl list | awk -v d="$old" '$2 == d')" ""
}
# logged FILE CMD...: CMD's output in FILE (its last lines on failure).
logged() {
    local f=$1 rc
    shift
    "$@" > "$f" 2>&1 && return 0
    rc=$?
    grep -v ': debug: ' "$f" | tail -n 3
    return "$rc"
}
# xsdump TAG: the new domain's vscsi nodes, both ends, into xs-TAG.txt.
xsdump() {
    { xenstore-ls -fp "$BE/$DOMID"; xenstore-ls -fp "/local/domain/$DOMID/device/vscsi"; } > "$XE_OUT/xs-$1.txt" 2>&1
}
ts() { date +%H:%M:%S.%N | cut -c1-12; }

# One QEMU per domain, started by libxl; the same arguments for every
# domain libxl builds from this configuration (restore, migrate).
# file.locking=off: during xl migrate the receiver's QEMU opens the images
# while the sender's still has them (libxl stops the old one only after the
# new domain runs). cache=directsync for the qcow2 LUN: a flush after
# every write, so no qcow2 metadata waits in a QEMU's cache when the other
# QEMU opens the image. The trace events (with timestamps) go to libxl's
# qemu-dm log.
DMARGS='"-msg", "timestamp=on", "-drive", "if=none,id=d0,file=/tmp/disk0.img,format=raw,cache=none,aio=native,file.locking=off,iops_wr=40", "-drive", "if=none,id=d1,file=/tmp/disk1.qcow2,format=qcow2,cache=directsync,aio=native,file.locking=off,iops_wr=40", "-drive", "if=none,id=d2,file=/tmp/disk2.qcow2,format=qcow2,cache=none,aio=native,file.locking=off,iops_wr=40", "-device", "xen-pvscsi,id=vs0", "-device", "scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0", "-device", "scsi-hd,bus=vs0.0,channel=0,scsi-id=2,lun=0,drive=d1", "-device", "scsi-hd,bus=vs0.0,channel=0,scsi-id=4,lun=0,drive=d2", "-trace", "xen_pvscsi_realize", "-trace", "xen_pvscsi_unrealize", "-trace", "xen_pvscsi_frontend_changed", "-trace", "xen_pvscsi_connect", "-trace", "xen_pvscsi_disconnect", "-trace", "xen_pvscsi_lun_state", "-trace", "xen_pvscsi_cancel", "-trace", "xen_pvscsi_request", "-trace", "xen_pvscsi_complete"'
# libxl gives QEMU 10 s after its start for two QMP queries; a loaded
# 2-core host running TCG can miss that: a second attempt.
export XE_XL_VERBOSE=1
create() {
    domu_create "$NAME" "$@" --fat --memory 320 --vcpus 2 "SD_WWID=$SD_WWID" \
        --cfg 'device_model_version = "qemu-xen"' \
        --cfg "device_model_override = \"$XE_QEMU\"" \
        --cfg "device_model_args_pv = [ $DMARGS ]" \
        --cfg 'disk = [ "format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=/tmp/qdisk.img" ]'
}
if ! create --may-fail; then
    xe_say "xl create failed: $(grep -E 'error' "$XE_OUT/xl-create-$NAME.log" | head -n 3 | xe_oneline); again"
    xl destroy "$NAME" 2>/dev/null
    sleep 5
    create || exit 1
fi
# retry2 LOG CMD...: CMD, once more if libxl gave up on the device model.
retry2() {
    local f=$1
    shift
    logged "$f" "$@" && return 0
    grep -q 'device model did not start\|Post DM startup configs failed' "$f" || return 1
    xe_say "$*: the device model missed libxl's start-up bound; again"
    xl destroy "$NAME" 2>/dev/null
    sleep 5
    logged "$f.2" "$@"
}
domu_unpause "$NAME" || exit 1

# save1: xl save + xl restore. libxl saves no device model state for a PV
# guest; the restored domain gets a fresh QEMU with the same arguments.
if msync save1 300; then
    sleep 1
    OLD=$DOMID; OQ=$(dmpid "$OLD")
    xe_say "save1: xl save at $(ts)"
    check save1-xl-save logged "$XE_OUT/xl-save1.log" xl -T -vvv save "$NAME" "$SAVE"
    xe_say "save1: xl save done at $(ts) ($(du -m "$SAVE" | cut -f1) MiB)"
    old_qemu_gone save1 "$OQ"
    check save1-xl-restore retry2 "$XE_OUT/xl-restore1.log" xl -T -vvv restore "$SAVE"
    xe_say "save1: xl restore done at $(ts)"
    rm -f "$SAVE"
    newdom save1 && release save1
    leftovers save1 "$OLD"
    check_vscsi_connected save1- qscsi "$DOMID" 60
    xsdump save1-connected
fi

# xl migrate is always live: it needs log-dirty mode, which Xen offers a
# PV guest only with shadow paging ("shadow" in xl info's virt_caps).
# Without it (Debian's 4.17 hypervisor), xl migrate of any PV guest fails
# before the guest is suspended, and the migrations are run as xl runs
# them, minus the live phase: xl save -p (the old domain stays, paused,
# its QEMU running), xl rename, xl restore (the new QEMU opens the images
# while the old one has them; the new domain runs), xl destroy of the old
# domain (SIGHUP to its QEMU).
LIVE=1
xl info | grep '^virt_caps' | grep -qw shadow || LIVE=0
xe_say "virt_caps: $(xl info | sed -n 's/^virt_caps *: //p'); live migration $([ $LIVE = 1 ] && echo possible || echo impossible: xl migrate steps are emulated)"
[ "$LIVE" = 1 ] || fail xl-migrate-live "this Xen has no shadow paging: xl migrate of a PV guest cannot enable log-dirty mode (EOPNOTSUPP); migrations emulated with xl save -p + xl restore"

# migrate_emulated TAG [vscsi]: the non-live equivalent of xl migrate to
# this host (with xen-vscsi restore before the unpause for "vscsi").
migrate_emulated() {
    local tag=$1 mode=${2:-} old=$DOMID
    check "$tag-xl-save-p" logged "$XE_OUT/xl-$tag-save.log" xl -T -vvv save -p "$NAME" "$SAVE"
    check "$tag-xl-rename" xl rename "$NAME" "$NAME--migratedaway"
    if [ "$mode" = vscsi ]; then
        check "$tag-xl-restore-p" retry2 "$XE_OUT/xl-$tag-restore.log" xl -T -vvv restore -p "$SAVE"
        newdom "$tag"
        out=$("$CLI" restore "$DOMID" /tmp/mig.vscsi 2>&1)
        check_match "$tag-vscsi-restore-refused-while-old-exists" "$out" "domain $old .* still exists"
        check "$tag-xl-destroy-old" xl destroy "$NAME--migratedaway"
        check "$tag-vscsi-restore" logged "$XE_OUT/xen-vscsi-$tag-restore.log" "$CLI" restore "$DOMID" /tmp/mig.vscsi
        sed "s/^/XE: $tag restore: /" "$XE_OUT/xen-vscsi-$tag-restore.log"
        check "$tag-xl-unpause" xl unpause "$NAME"
    else
        check "$tag-xl-restore" retry2 "$XE_OUT/xl-$tag-restore.log" xl -T -vvv restore "$SAVE"
        newdom "$tag"
        check "$tag-xl-destroy-old" xl destroy "$NAME--migratedaway"
    fi
    rm -f "$SAVE"
}

# mig1: xl migrate to localhost; the receiver (xl migrate-receive) is the
# command xl runs instead of ssh (-s '').
if msync mig1 600; then
    sleep 1
    OLD=$DOMID; OQ=$(dmpid "$OLD")
    xe_say "mig1: migrate at $(ts)"
    if [ "$LIVE" = 1 ]; then
        check mig1-xl-migrate logged "$XE_OUT/xl-migrate1.log" xl -T -vvv migrate -s '' "$NAME" 'xl -T -vvv migrate-receive -e'
        newdom mig1
    else
        migrate_emulated mig1
    fi
    xe_say "mig1: migrate done at $(ts)"
    release mig1
    old_qemu_gone mig1 "$OQ"
    leftovers mig1 "$OLD"
    check_vscsi_connected mig1- qscsi "$DOMID" 60
fi

# The toolstack LUN: scsi_debug by h:c:t:l, feature-host (passthrough).
if msync attach 600; then
    check ts-attach "$CLI" attach "$DOMID" "$SD_HCTL" 1:0:3:0,feature-host
    release attach
fi

# save2: the toolstack sequence around xl save / xl restore -p.
if msync save2 600; then
    sleep 1
    OLD=$DOMID; OQ=$(dmpid "$OLD")
    check save2-vscsi-save "$CLI" save "$OLD" /tmp/mig.vscsi
    cp /tmp/mig.vscsi "$XE_OUT/save2.vscsi"
    sed 's/^/XE: save2.vscsi: /' /tmp/mig.vscsi
    check_match save2-vscsi-saved-identity "$(cat /tmp/mig.vscsi)" "'$SD_ID,1:0:3:0,feature-host'"
    xe_say "save2: xl save at $(ts)"
    check save2-xl-save logged "$XE_OUT/xl-save2.log" xl -T -vvv save "$NAME" "$SAVE"
    old_qemu_gone save2 "$OQ"
    # reload scsi_debug: 1 target on 2 hosts; the saved LUN is H+1:0:0:0 now
    check save2-scsi_debug-unload rmmod scsi_debug
    check save2-scsi_debug-reload modprobe scsi_debug dev_size_mb=16 num_tgts=1 add_host=2
    NH=$(scsi_debug_host 0:0:0/block)
    sleep 2
    NEW_HCTL=$(grep -lx "$SD_WWID" /sys/bus/scsi/devices/*/wwid 2>/dev/null | head -n 1 | xargs -r dirname | xargs -r basename)
    xe_say "save2: scsi_debug hosts from $NH: $(lsscsi 2>&1 | tr '\n' '|'); $SD_WWID is now ${NEW_HCTL:-nowhere}"
    check_sh save2-hctl-changed "[ -n '$NEW_HCTL' ] && [ '$NEW_HCTL' != '$SD_HCTL' ]"
    check save2-xl-restore-p retry2 "$XE_OUT/xl-restore2.log" xl -T -vvv restore -p "$SAVE"
    rm -f "$SAVE"
    newdom save2
    check save2-vscsi-restore logged "$XE_OUT/xen-vscsi-restore2.log" "$CLI" restore "$DOMID" /tmp/mig.vscsi
    sed 's/^/XE: restore2: /' "$XE_OUT/xen-vscsi-restore2.log"
    d=$(xs_dev_of "$BE/$DOMID/1" 1:0:3:0)
    check_eq save2-restored-pdev "$(xs_read "$BE/$DOMID/1/vscsi-devs/$d/p-dev")" "$NEW_HCTL"
    check_eq save2-restored-pdevname "$(xs_read "$BE/$DOMID/1/vscsi-devs/$d/p-devname")" "$SD_ID"
    xsdump save2-before-unpause
    check save2-xl-unpause xl unpause "$NAME"
    release save2
    check_vscsi_connected save2- qscsi "$DOMID" 60
    xsdump save2-connected
    leftovers save2 "$OLD"
    SD_HCTL=$NEW_HCTL
fi

# mig2: xen-vscsi migrate to localhost (or its steps, see above).
if msync mig2 600; then
    sleep 1
    OLD=$DOMID; OQ=$(dmpid "$OLD")
    xe_say "mig2: migrate at $(ts)"
    if [ "$LIVE" = 1 ]; then
        check mig2-vscsi-migrate logged "$XE_OUT/xen-vscsi-migrate2.log" "$CLI" migrate "$OLD" localhost
        sed 's/^/XE: migrate2: /' "$XE_OUT/xen-vscsi-migrate2.log" | grep -v ': debug: ' | tail -n 20
        newdom mig2
    else
        check mig2-vscsi-save "$CLI" save "$OLD" /tmp/mig.vscsi
        migrate_emulated mig2 vscsi
    fi
    xe_say "mig2: done at $(ts)"
    release mig2
    old_qemu_gone mig2 "$OQ"
    leftovers mig2 "$OLD"
    check_vscsi_connected mig2- qscsi "$DOMID" 60
    d=$(xs_dev_of "$BE/$DOMID/1" 1:0:3:0)
    check_eq mig2-restored-pdev "$(xs_read "$BE/$DOMID/1/vscsi-devs/$d/p-dev")" "$SD_HCTL"
fi

# ckpt: xl save -c suspends the guest, saves it and lets it go on (a
# cancelled suspend: same domain, same backend).
if msync ckpt 600; then
    check ckpt-xl-save-c logged "$XE_OUT/xl-save-ckpt.log" xl -T -vvv save -c "$NAME" "$SAVE"
    rm -f "$SAVE"
    xsdump ckpt-after-save-c
    release ckpt
    if msync kick 120; then
        check ckpt-kick "$CLI" kick "$DOMID"
        release kick
        sleep 2
        xsdump ckpt-after-kick
    fi
fi

# gone: the device is not there when the guest is restored.
if msync gone 600; then
    OLD=$DOMID; OQ=$(dmpid "$OLD")
    check gone-vscsi-save "$CLI" save "$OLD" /tmp/mig.vscsi
    check gone-xl-save xl save "$NAME" "$SAVE"
    old_qemu_gone gone "$OQ"
    check gone-scsi_debug-unload rmmod scsi_debug
    check gone-xl-restore-p retry2 "$XE_OUT/xl-restore-gone.log" xl -T -vvv restore -p "$SAVE"
    rm -f "$SAVE"
    newdom gone
    out=$("$CLI" restore "$DOMID" /tmp/mig.vscsi 2>&1)
    rc=$?
    xe_say "gone: xen-vscsi restore without the device: exit $rc: $out"
    check_sh gone-restore-refused "[ $rc != 0 ]"
    check_match gone-restore-message "$out" "$SD_ID.* is not here"
    check_sh gone-restore-wrote-nothing "! xenstore-exists $BE/$DOMID/1 && ! xenstore-exists /local/domain/$DOMID/device/vscsi/1"
    check gone-scsi_debug-back modprobe scsi_debug dev_size_mb=16 num_tgts=1 add_host=2
    scsi_debug_host 0:0:0/block > /dev/null
    sleep 2
    check gone-restore-with-device "$CLI" restore "$DOMID" /tmp/mig.vscsi
    check gone-xl-unpause xl unpause "$NAME"
    release gone
    check_vscsi_connected gone- qscsi "$DOMID" 60
    leftovers gone "$OLD"
fi

if msync checked 300; then
    release checked
fi
# Guest results: wait for DONE in either console log, then merge both.
end=$((SECONDS + 300))
[ -n "$SYNC_LOST" ] && end=$((SECONDS + 30))
while ! con_all | grep -q 'DONE rc=' && [ "$SECONDS" -lt "$end" ]; do sleep 2; done
cat "$CON/guest-$NAME.log" "$CON/guest-$NAME--incoming.log" > "$CON/guest-$NAME-all.log" 2>/dev/null
domu_console() { echo "$CON/guest-$1-all.log"; }
domu_wait "$NAME" 30
# (the per-file logs are merged through guest-NAME-all.log)
for f in "$NAME" "$NAME--incoming" "$NAME-all"; do
    tr -d '\r' < "$CON/guest-$f.log" 2>/dev/null | grep -c 'CHECK \(PASS\|FAIL\) ' > "$CON/.merged-$f"
done
mkdir -p "$XE_OUT/xenlogs" && cp /var/log/xen/* "$XE_OUT/xenlogs/" 2>/dev/null
true
