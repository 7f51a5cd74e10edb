#!/bin/bash
# xen-pvscsi tape + changer passthrough: tgt's virtual tape library over libiscsi, scsi-generic
# XE_TIMEOUT=360
# Linux 6.1's scsi_debug has no tape (SSC) emulation, so the tape drive and
# the medium changer come from tgt in dom0 (tgtd on 127.0.0.1: bstype ssc
# and smc), reached by the project's QEMU through libiscsi
# (-drive file=iscsi://...) and given to the guest with scsi-generic. In
# the guest: st binds, mt status/rewind/weof/fsf, two tape files written
# and read back (md5), a tar archive from the tape, and the changer's
# INQUIRY type and READ ELEMENT STATUS (with the slot's barcode).
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

IQN=iqn.2025-01.org.xen-pvscsi:vtl
T=/tmp/tapes
mkdir -p "$T"
check tgtimg-tape1 tgtimg --op new --device-type tape --barcode TAPE0001 --type data \
    --size 64 --file "$T/TAPE0001" || exit 1
check tgtimg-tape2 tgtimg --op new --device-type tape --barcode TAPE0002 --type data \
    --size 64 --file "$T/TAPE0002" || exit 1
dd if=/dev/zero of="$T/smc" bs=1k count=1 2>/dev/null
check tgtd-start tgt_start || exit 1
# Target 1: LUN 1 a tape drive with TAPE0001 loaded; LUN 2 a changer with
# that drive as data transfer element 1, a picker (16) and two slots
# (1024 holds TAPE0002, 1025 is empty).
vtl_config() {
    tgt_target 1 "$IQN" &&
    tgt_lun 1 1 --device-type tape --bstype ssc -b "$T/TAPE0001" &&
    tgt_lun 1 2 --device-type changer --bstype smc -b "$T/smc" &&
    tgt_lun_params 1 2 element_type=4,start_address=1,quantity=1 &&
    tgt_lun_params 1 2 element_type=4,address=1,tid=1,lun=1 &&
    tgt_lun_params 1 2 element_type=1,start_address=16,quantity=1 &&
    tgt_lun_params 1 2 "media_home=$T" &&
    tgt_lun_params 1 2 element_type=2,start_address=1024,quantity=2 &&
    tgt_lun_params 1 2 element_type=2,address=1024,barcode=TAPE0002,sides=1
}
check tgt-config vtl_config || exit 1
tgtadm --lld iscsi --mode target --op show > "$XE_OUT/tgt-show.txt" 2>&1

guest_script tape <<'EOF_GUEST'
xe_modprobe xen-scsifront sg st
check luns-appear xe_wait_scsi 2 90 || { xe_diag; exit 1; }
xe_say "lsscsi: $(lsscsi | tr '\n' '|')"
TAPE=$(xe_hctl 0:1:0)
TSG=$(xe_sgdev 0:1:0)
CSG=$(xe_sgdev 0:2:0)
xe_say "tape $TAPE ($TSG), changer $CSG"
check_sh lsscsi-tape "lsscsi | grep -Eq '^\[[0-9]+:0:1:0\] +tape +IET '"
check_sh lsscsi-changer "lsscsi | grep -Eq '^\[[0-9]+:0:2:0\] +mediumx +IET '"
check_sh sg_inq-tape-pdt "sg_inq $TSG | grep -Eq 'PDT=1 '"
check_sh sg_inq-tape-vendor "sg_inq $TSG | grep -q 'Vendor identification: IET'"
check_sh sg_inq-changer-pdt "sg_inq $CSG | grep -Eq 'PDT=8 '"
check st-bound xe_wait_for 30 '[ -c /dev/nst0 ] && [ -c /dev/st0 ]'
check_eq st-driver "$(basename "$(readlink "/sys/bus/scsi/devices/$TAPE/driver")")" st

# The changer's first command after the login gets its power-on UNIT
# ATTENTION, as from a real changer (st handles the drive's on open).
check_sh changer-unit-attention "sg_turs $CSG 2>&1 | grep -q 'Power on, reset'"
check changer-ready sg_turs "$CSG"
# READ ELEMENT STATUS (0xb8), all element types, with volume tags.
check sg_raw-read-element-status sg_raw -r 4096 -o /tmp/res.bin "$CSG" \
    b8 10 00 00 ff ff 00 00 10 00 00 00
check_sh res-slot-barcode "grep -q TAPE0002 /tmp/res.bin"
# Element status header, bytes 2-3: elements reported = 4 (drive, picker,
# two slots).
check_eq res-element-count "$(od -An -tu1 -j2 -N2 /tmp/res.bin | awk '{print $1 * 256 + $2}')" 4

mtst() { mt -f /dev/nst0 status 2>&1; }
xe_say "mt status: $(mtst | tr '\n' '|')"
check_sh mt-status-online "mt -f /dev/nst0 status | grep -q ONLINE"
check mt-rewind mt -f /dev/nst0 rewind
check_sh mt-status-bot "mt -f /dev/nst0 status | grep -q 'File number=0, block number=0' && mt -f /dev/nst0 status | grep -q BOT"

# file 1: a tar archive; file 2: raw random data; then one more filemark.
mkdir -p /tmp/src/d /tmp/out
dd if=/dev/urandom of=/tmp/src/d/random bs=64k count=16 2>/dev/null
echo "xen-pvscsi tape" > /tmp/src/d/text
tar -cf /tmp/f1.tar -C /tmp/src d
dd if=/dev/urandom of=/tmp/f2.bin bs=64k count=24 2>/dev/null
check tape-write-file1 dd if=/tmp/f1.tar of=/dev/nst0 bs=64k
check tape-write-file2 dd if=/tmp/f2.bin of=/dev/nst0 bs=64k
check mt-weof mt -f /dev/nst0 weof 1
xe_say "after writing: $(mtst | tr '\n' '|')"
check_sh mt-status-after-write "mt -f /dev/nst0 status | grep -q 'File number=3, block number=0'"

check mt-rewind-2 mt -f /dev/nst0 rewind
check tape-read-file1 dd if=/dev/nst0 of=/tmp/r1.tar bs=64k
check_eq tape-file1-md5 "$(md5sum < /tmp/r1.tar)" "$(md5sum < /tmp/f1.tar)"
check tar-extract tar -xf /tmp/r1.tar -C /tmp/out
check_eq tar-file-md5 "$(md5sum < /tmp/out/d/random)" "$(md5sum < /tmp/src/d/random)"
check_eq tar-text "$(cat /tmp/out/d/text)" "xen-pvscsi tape"

check mt-rewind-3 mt -f /dev/nst0 rewind
check mt-fsf-1 mt -f /dev/nst0 fsf 1
check_sh mt-status-file1 "mt -f /dev/nst0 status | grep -q 'File number=1, block number=0'"
check tape-read-file2 dd if=/dev/nst0 of=/tmp/r2.bin bs=64k
check_eq tape-file2-md5 "$(md5sum < /tmp/r2.bin)" "$(md5sum < /tmp/f2.bin)"
# The filemark written by "mt weof" ends an empty third file.
check tape-read-file3 dd if=/dev/nst0 of=/tmp/r3.bin bs=64k
check_eq tape-file3-empty "$(wc -c < /tmp/r3.bin)" 0

# tar straight from the tape (rewinding device, then file 1 again).
check tar-from-tape sh -c "mt -f /dev/nst0 rewind && dd if=/dev/st0 bs=64k 2>/dev/null | tar -tf - | grep -qx d/random"
xe_sync checked 120
EOF_GUEST

domu_create tape || exit 1
qemu_start tape \
    -drive "file=iscsi://127.0.0.1/$IQN/1,if=none,id=t0,format=raw" \
    -drive "file=iscsi://127.0.0.1/$IQN/2,if=none,id=c0,format=raw" \
    -device xen-pvscsi,id=vs0 \
    -device scsi-generic,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=t0 \
    -device scsi-generic,bus=vs0.0,channel=0,scsi-id=2,lun=0,drive=c0 || exit 1
domu_unpause tape || exit 1
if domu_sync tape checked 240 120; then
    check_vscsi_connected "" qscsi "$DOMID"
    # The tape image now holds the guest's two files and three filemarks.
    tgtimg --op show --device-type tape --file "$T/TAPE0001" > "$XE_OUT/tape-show.txt" 2>&1
    check_eq tape-image-filemarks "$(grep -c 'Filemark' "$XE_OUT/tape-show.txt")" 3
    # One tape block per write(): 16 + 24 full 64 KiB blocks, and the
    # tar archive's short last block.
    check_eq tape-image-64k-blocks "$(grep -c 'sz 65536$' "$XE_OUT/tape-show.txt")" 40
    check_eq tape-image-data-blocks "$(grep -c 'Uncompressed data' "$XE_OUT/tape-show.txt")" 41
    domu_release tape checked
fi
domu_wait tape 120
qemu_stop tape
