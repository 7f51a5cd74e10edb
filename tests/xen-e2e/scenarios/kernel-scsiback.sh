#!/bin/bash
# Anchor: Linux xen-scsiback + LIO fileio (backend type vscsi) to a PV domU
# XE_TIMEOUT=300
# Proves the harness (toolstack, hand-written vscsi xenstore nodes, guest
# checks through the console) independently of the project's QEMU.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

WWN=naa.6001405000000001
SIZE_MB=128
truncate -s ${SIZE_MB}M /tmp/disk0.img
check lio-fileio lio_fileio disk0 /tmp/disk0.img || exit 1
check lio-lun scsiback_lun $WWN 0 disk0 || exit 1

guest_script anchor <<'EOF'
xe_modprobe xen-scsifront sd_mod sg
check scsi-lun-appears xe_wait_scsi 1 60 || { xe_diag; exit 1; }
xe_say "SCSI devices: $(xe_scsi_devices | tr '\n' ' ')"
check lun-0:0:0 test -n "$(xe_hctl 0:0:0)"
DEV=$(xe_blockdev 0:0:0)
check_sh inquiry-lio "sg_inq $DEV | grep -q 'Vendor identification: LIO-ORG'"
check_eq readcap-size "$(sg_readcap $DEV | sed -n 's/.*Device size: \([0-9]*\) bytes.*/\1/p')" "$DISK_BYTES"
check data-md5 xe_rw_verify "$DEV" 16 8
check data-md5-direct xe_rw_verify "$DEV" 40 8 512K "oflag=direct iflag=direct"
xe_sync checked 120
EOF

domu_create anchor DISK_BYTES=$((SIZE_MB << 20)) || exit 1
check vscsi-nodes vscsi_attach vscsi "$DOMID" 0 "$WWN:0=0:0:0:0" || exit 1
domu_unpause anchor || exit 1
if domu_sync anchor checked 150; then
    check_vscsi_connected "" vscsi "$DOMID"
    check_ge xs-feature-sg-grant "$(xs_read "/local/domain/0/backend/vscsi/$DOMID/0/feature-sg-grant")" 128
    domu_release anchor checked
fi
domu_wait anchor 120
