#!/bin/bash
# Benchmark (bench.sh): xen-pvscsi vs kernel xen-scsiback vs QEMU xen-block, one guest, same file
# XE_TIMEOUT=1500
# XE_DEFAULT=0
# One RAM-backed file in dom0 (/tmp: ext4 on brd), served three ways to
# one guest at the same time:
#   pvscsi    the project's QEMU: xen-pvscsi + scsi-hd (cache=none, aio=native)
#   kernel    LIO fileio + xen-scsiback (backend type vscsi, vhost 9)
#   xenblock  the same QEMU: xen-disk (qdisk; cache=none, aio=native)
# fio in the guest, each job XE_BENCH_RUNTIME s (10), XE_BENCH_REPS
# repetitions (3), backends interleaved within each repetition. Results:
# "BENCH,backend,job,rep,bw_kib,iops,lat_us" lines on the guest console,
# collected into $XE_OUT/bench.csv; tests/xen-e2e/bench.sh prints medians.
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

WWN=naa.6001405000000001
truncate -s 256M /tmp/bench.img
check lio-fileio lio_fileio bench /tmp/bench.img || exit 1
check lio-lun scsiback_lun $WWN 0 bench || exit 1

guest_script bench <<'EOF_GUEST'
xe_modprobe xen-scsifront xen-blkfront sd_mod sg
check devices-appear xe_wait_for 90 '[ -n "$(xe_blockdev 0:1:0)" ] && [ -n "$(xe_blockdev 0:0:0)" ] && [ -b /dev/xvda ]' ||
    { xe_diag; exit 1; }
PVSCSI=$(xe_blockdev 0:1:0)
KERNEL=$(xe_blockdev 0:0:0)
XENBLOCK=/dev/xvda
xe_say "pvscsi $PVSCSI ($(cat /sys/block/${PVSCSI#/dev/}/device/vendor)), kernel $KERNEL ($(cat /sys/block/${KERNEL#/dev/}/device/vendor)), xen-block $XENBLOCK"
check_sh pvscsi-is-qemu "grep -q QEMU /sys/block/${PVSCSI#/dev/}/device/vendor"
check_sh kernel-is-lio "grep -q LIO /sys/block/${KERNEL#/dev/}/device/vendor"
# Lay the file out once (reads of never-written blocks are not I/O on a
# sparse file).
dd if=/dev/urandom of=/tmp/rnd bs=1M count=8 2>/dev/null
for i in $(seq 0 23); do dd if=/tmp/rnd of="$PVSCSI" bs=1M seek=$((i * 8)) oflag=direct 2>/dev/null; done
rm -f /tmp/rnd
RT=${XE_BENCH_RUNTIME:-10}
for rep in $(seq "${XE_BENCH_REPS:-3}"); do
    for b in pvscsi kernel xenblock; do
        case $b in pvscsi) dev=$PVSCSI ;; kernel) dev=$KERNEL ;; xenblock) dev=$XENBLOCK ;; esac
        for job in "read 1M 4" "randread 4k 16" "write 1M 4" "randwrite 4k 16" "randread 4k 1"; do
            set -- $job
            name="$1-$2-qd$3"
            if fio --name=b --filename="$dev" --rw="$1" --bs="$2" --iodepth="$3" --direct=1 \
                   --ioengine=libaio --size=192M --runtime="$RT" --time_based \
                   --output-format=terse --terse-version=3 --output=/tmp/b.out > /dev/null 2>&1; then
                # terse v3: read bw/iops/lat-mean = 7/8/40, write = 48/49/81
                line=$(grep '^3;' /tmp/b.out | awk -F';' -v b="$b" -v n="$name" -v r="$rep" '{
                    if ($48 + 0 > 0) printf "BENCH,%s,%s,%s,%s,%s,%.0f\n", b, n, r, $48, $49, $81;
                    else printf "BENCH,%s,%s,%s,%s,%s,%.0f\n", b, n, r, $7, $8, $40 }')
                echo "$line"
                check_ge "bench-$b-$name-rep$rep" "$(echo "$line" | cut -d, -f6 | cut -d. -f1)" 1 iops
            else
                fail "bench-$b-$name-rep$rep" "fio failed: $(tail -n 2 /tmp/b.out | xe_oneline)"
            fi
        done
    done
done
EOF_GUEST

domu_create bench --fat XE_BENCH_REPS="${XE_BENCH_REPS:-3}" XE_BENCH_RUNTIME="${XE_BENCH_RUNTIME:-10}" || exit 1
check vscsi-nodes vscsi_attach vscsi "$DOMID" 9 "$WWN:0=9:0:0:0" || exit 1
qemu_start bench \
    -drive if=none,id=p0,file=/tmp/bench.img,format=raw,cache=none,aio=native,file.locking=off \
    -device xen-pvscsi,id=vs0,vhost=0 \
    -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=p0 \
    -drive if=none,id=b0,file=/tmp/bench.img,format=raw,cache=none,aio=native,file.locking=off \
    -device xen-disk,vdev=xvda,drive=b0 || exit 1
domu_unpause bench || exit 1
domu_wait bench $((XE_SCENARIO_TIMEOUT - 120))
tr -d '\r' < "$(domu_console bench)" | grep -o 'BENCH,.*' > "$XE_OUT/bench.csv"
check_ge bench-results "$(wc -l < "$XE_OUT/bench.csv")" 15 "result lines"
qemu_stop bench
