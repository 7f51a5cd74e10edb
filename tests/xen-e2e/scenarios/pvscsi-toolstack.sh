#!/bin/bash
# xen-pvscsi: a vhost created by a toolstack (xen-vscsi create-from-cfg) for a running guest
# XE_DEFAULT=0 (pvscsi-hotplug covers this too; a quick check of create-from-cfg)
# XE_TIMEOUT=300
# The guest runs with xen-scsifront loaded and no vhost; dom0 writes a
# vhost with a raw and a qcow2 LUN from a domU.cfg vscsi=[...] list; QEMU
# (attached to the domain, no xen-pvscsi on its command line) creates the
# vhost from xenstore; the guest sees both LUNs and does I/O.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

CLI=${XE_VSCSI:-/xe/bin/xen-vscsi}
export XEN_VSCSI_TIMEOUT=60
truncate -s 32M /tmp/ts.img
"$XE_QEMU_IMG" create -q -f qcow2 /tmp/ts.qcow2 32M

guest_script ts <<'EOF_GUEST'
xe_modprobe xen-scsifront sd_mod sg
xe_sync ready 120
check ts-luns-appear xe_wait_for 90 '[ -n "$(xe_blockdev 0:5:0)" ] && [ -n "$(xe_blockdev 0:6:0)" ]' || xe_diag 30
check ts-lun-raw-io xe_rw_verify "$(xe_blockdev 0:5:0)" 0 4
check ts-lun-qcow2-io xe_rw_verify "$(xe_blockdev 0:6:0)" 0 4
for f in /sys/bus/xen/devices/vscsi-*; do xe_say "$f: state $(cat "$f/state" 2>/dev/null) driver $(basename "$(readlink "$f/driver" 2>/dev/null)")"; done
EOF_GUEST

domu_create ts || exit 1
qemu_start ts || exit 1
domu_unpause ts || exit 1
domu_sync ts ready 180 || { domu_wait ts 30; exit 1; }
cat > /tmp/ts.cfg <<CFG
name = "ts"
vscsi = [ 'raw:/tmp/ts.img,1:0:5:0', 'qcow2:/tmp/ts.qcow2,1:0:6:0' ]
CFG
check ts-create "$CLI" create-from-cfg /tmp/ts.cfg
BE=/local/domain/0/backend/qscsi/$DOMID
xenstore-ls -fp "$BE" | sed 's/^/XE: be /'
xenstore-ls -fp "/local/domain/$DOMID/device" | sed 's/^/XE: fe /'
check_xs ts-vhost-connected "$BE/1/state" 4 30
domu_release ts ready
domu_wait ts 180
qemu_stop ts
