#!/bin/bash
# libxl route: xl starts the project's QEMU (device_model_override) with xen-pvscsi in device_model_args_pv
# XE_TIMEOUT=420
# libxl starts a QEMU for a PV guest only if the guest needs one, so the
# guest also gets a qdisk disk (backendtype=qdisk). device_model_override
# points at a wrapper that records the exact argv libxl passes, then runs
# the project's QEMU with it. Checks: our QEMU accepts libxl's argv as it
# is (libxl-argv-accepted; if not, the reason is QEMU's own message, and
# the rest runs with a second domain whose wrapper drops "-vnc ARG"),
# xl create succeeds (libxl accepted QEMU's start-up: QMP and the xenstore
# device-model state), the qdisk and the xen-pvscsi LUN work in the guest,
# the xenstore states, and QEMU is gone once the domain is destroyed.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"
export XE_XL_VERBOSE=1   # libxl's debug log for each xl create

[ -n "$XE_QEMU" ] || { fail libxl-dm "no project QEMU on the share"; exit 1; }
truncate -s 64M /tmp/qdisk.img
truncate -s 64M /tmp/disk0.img

# wrapper PATH DROP_VNC: a device_model_override that records libxl's argv
# (one argument per line) and runs our QEMU with it, without "-vnc ARG"
# if DROP_VNC is 1.
# shellcheck disable=SC2016,SC2028  # generated with echo + single quotes
wrapper() {
    {
        echo '#!/bin/bash'
        echo "printf '%s\\n' \"\$@\" > $XE_OUT/libxl-dm-argv-\$(basename \"\$0\").txt"
        echo 'args=()'
        echo 'while [ $# -gt 0 ]; do'
        [ "$2" = 1 ] && echo '    if [ "$1" = -vnc ]; then shift 2; continue; fi'
        echo '    args+=("$1"); shift'
        echo 'done'
        echo "exec $XE_QEMU \"\${args[@]}\""
    } > "$1"
    chmod +x "$1"
}
wrapper /tmp/dm-strict 0
wrapper /tmp/dm-novnc 1

guest() {
    guest_script "$1" <<'EOF_GUEST'
xe_modprobe xen-blkfront xen-scsifront sd_mod sg
check xvda-appears xe_wait_for 60 '[ -b /dev/xvda ]'
check pvscsi-lun-appears xe_wait_scsi 1 60
xe_say "lsscsi: $(lsscsi | tr '\n' '|')"
check qdisk-data-md5 xe_rw_verify /dev/xvda 8 8
check pvscsi-data-md5 xe_rw_verify "$(xe_blockdev 0:1:0)" 8 8 512K "oflag=direct iflag=direct"
xe_sync checked 120
EOF_GUEST
}

# create NAME WRAPPER [--may-fail]: xl create -p; libxl starts WRAPPER as
# the device model.
create() {
    guest "$1"
    domu_create "$1" ${3:-} \
        --cfg 'device_model_version = "qemu-xen"' \
        --cfg "device_model_override = \"$2\"" \
        --cfg 'device_model_args_pv = [ "-drive", "if=none,id=d0,file=/tmp/disk0.img,format=raw,cache=none,aio=native", "-device", "xen-pvscsi,id=vs0", "-device", "scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0" ]' \
        --cfg 'disk = [ "format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=/tmp/qdisk.img" ]'
}

# 1. libxl's argv exactly as libxl passes it.
if create lx /tmp/dm-strict --may-fail; then
    pass libxl-argv-accepted
    name=lx
else
    fail libxl-argv-accepted "our QEMU refused libxl's argv: $(grep -v '^$' /var/log/xen/qemu-dm-lx.log 2>/dev/null | tail -n 2 | xe_oneline)"
    # 2. The same without "-vnc none" (a build without VNC has no -vnc).
    # First make sure the failed domain is gone.
    xl destroy lx 2>/dev/null
    for _ in $(seq 30); do xl domid lx >/dev/null 2>&1 || break; sleep 1; done
    xe_say "domains before the second attempt: $(xl list | tail -n +2 | awk '{print $1 "/" $2 "/" $3 "MiB"}' | tr '\n' ' ')"
    create lx-novnc /tmp/dm-novnc || { xe_say "xl list: $(xl list | tail -n +2 | tr -s ' ' | tr '\n' '|')"; exit 1; }
    pass libxl-create-without-vnc
    name=lx-novnc
fi
for f in "$XE_OUT"/libxl-dm-argv-*.txt; do
    [ -e "$f" ] && xe_say "libxl's device model argv ($(basename "$f" .txt)): $(tr '\n' ' ' < "$f")"
done
qpid=$(pgrep -f -- "-xen-domid $DOMID " | head -n 1)
check_match libxl-dm-running "$qpid" '^[0-9]+$' "QEMU pid"
domu_unpause "$name" || exit 1
if domu_sync "$name" checked 150; then
    check_xs xs-qdisk-state "/local/domain/0/backend/qdisk/$DOMID/51712/state" 4
    check_vscsi_connected "" qscsi "$DOMID"
    check_xs xs-dm-state "/local/domain/0/device-model/$DOMID/state" running
    domu_release "$name" checked
fi
domu_wait "$name" 120
# on_poweroff=destroy: libxl tears the domain down and must stop its QEMU.
for _ in $(seq 30); do
    if [ -z "$qpid" ] || ! kill -0 "$qpid" 2>/dev/null; then break; fi
    sleep 1
done
check_sh libxl-dm-gone-after-destroy "! kill -0 ${qpid:-0} 2>/dev/null"
