#!/bin/bash
# issue 17: sg_reset -d storm under fio on a 1-vCPU guest, kernel xen-scsiback vs xen-pvscsi
# XE_TIMEOUT=1200
# XE_DEFAULT=0
# One boot, two 1-vCPU Linux 6.1 guests, each with a kernel xen-scsiback
# LUN (LIO fileio, vhost 9, 0:0:0) and a xen-pvscsi LUN (scsi-hd on a raw
# file, vhost 0, 0:1:0). On each LUN in turn: fio verify=crc32c
# (randwrite, bsrange 512-256k, iodepth 32, 4 jobs, time based, verify
# backlog) while "sg_reset -d" fires every 4 s, 4 times.
#   guest r1k: kernel LUN first, then xen-pvscsi
#   guest r1p: xen-pvscsi first, then kernel
# (R1_GUESTS="r1k r1p" by default; R1_VCPUS to change the vCPU count;
# R1_SCSIFRONT=VARIANT: the guests load contrib/linux's xen-scsifront
# of that variant (built on the host: XE_LINUX_MODULES_EXTRA=VARIANT)
# instead of the kernel's own, e.g.
#   XE_LINUX_MODULES_EXTRA=hardirq XE_SCENARIO_VARS=R1_SCSIFRONT=hardirq \
#       tests/xen-e2e/run.sh pvscsi-reset-1vcpu
# R1_SCSIFRONT=fix is contrib/linux's fix of the hang below.)
# A hang is a console without the guest's 2-s heartbeat (R1_IDLE s); it
# is then examined from dom0 into $XE_OUT/hang-NAME/: vCPU time growth
# (xl vcpu-list), registers and a stack trace with symbols (xenctx; dom0
# runs the same PV kernel, so its core kallsyms plus the module symbols
# the guest printed name the addresses), Xen's 'd'/'q' debug keys, the
# guest's sysrq l/w, QEMU's CPU time and its notify rate (the full
# xen_pvscsi_* trace is kept in $XE_OUT/trace-NAME.log.gz).
# With the stock Linux 6.1 xen-scsifront both backends hang the guest at
# the first reset: the guest's only vCPU spins in scsi_dec_host_busy() on
# the host lock that scsifront_ring_drain() already holds (issue 17;
# contrib/linux has the frontend fix).
# SPDX-License-Identifier: GPL-2.0-or-later
. "$XE_HARNESS/lib/dom0.sh"

WWN=naa.6001405000000001
R1_IDLE=${R1_IDLE:-60}
R1_PHASE_TIMEOUT=${R1_PHASE_TIMEOUT:-240}

guest_script_body() {
cat <<'EOF_GUEST'
XE_CHECK_TIMEOUT=200
# Heartbeat: a hung guest falls silent.
( while :; do echo "XE-HB $(cut -d' ' -f1 /proc/uptime)"; sleep 2; done ) &
hb=$!
# the kernel's own xen-scsifront, or contrib/linux's (R1_SCSIFRONT)
xe_load_scsifront
check luns-appear xe_wait_for 90 '[ -n "$(xe_blockdev 0:0:0)" ] && [ -n "$(xe_blockdev 0:1:0)" ]' ||
    { xe_diag; exit 1; }
xe_say "vcpus: $(grep -c ^processor /proc/cpuinfo); kernel $(uname -r); devices: $(xe_scsi_devices | tr '\n' ' ')"
# Symbols of the SCSI modules, for dom0's xenctx (core symbols: dom0's).
grep -E '\[(xen_scsifront|scsi_mod|sd_mod|sg|scsi_common)\]' /proc/kallsyms |
    grep ' [tT] ' | sed 's/^/KSYM /; s/[[:space:]]*\[[^]]*\]$//'
storm() {   # storm NAME C:T:L
    _dev=$(xe_blockdev "$2")
    _sg=$(xe_sgdev "$2")
    xe_say "$1: fio + sg_reset storm on $_dev ($_sg, $(cat /sys/block/${_dev#/dev/}/device/vendor))"
    fio --name="$1" --filename="$_dev" --rw=randwrite --bsrange=512-256k --iodepth=32 \
        --numjobs=4 --size=16M --offset_increment=16M --ioengine=libaio --direct=1 \
        --time_based --runtime="${R1_RUNTIME:-24}" --verify=crc32c --verify_backlog=64 \
        --verify_fatal=1 --do_verify=1 --group_reporting \
        --output="/tmp/fio-$1.out" > /dev/null 2>&1 &
    _fio=$!
    _n=0
    for _i in 1 2 3 4; do
        sleep 4
        _xe_running "$_fio" || { xe_say "$1: fio ended before reset $_i"; break; }
        _t0=$(cut -d' ' -f1 /proc/uptime)
        sg_reset -d "$_sg" > /tmp/sg_reset.out 2>&1
        _rc=$?
        xe_say "$1: reset $_i rc $_rc at $_t0 s, returned at $(cut -d' ' -f1 /proc/uptime) s $(xe_oneline < /tmp/sg_reset.out)"
        check_eq "$1-reset-$_i-rc" "$_rc" 0
        _n=$_i
    done
    check_ge "$1-resets-under-load" "$_n" 4
    check "$1-fio-finishes" xe_wait_for 180 "! _xe_running $_fio"
    wait "$_fio"
    check_eq "$1-fio-exit" "$?" 0
    check_sh "$1-fio-verify-clean" "! grep -q 'verify: bad\|bad magic\|err=[ ]*[1-9]' /tmp/fio-$1.out"
    xe_say "$1: $(grep -E '^ +(read|write):' "/tmp/fio-$1.out" | tr -s ' ' | tr '\n' ' ')"
    check "$1-tur-after" sh -c "sg_turs $_sg || sg_turs $_sg"
    dmesg | grep -i -E 'scsi|reset|abort|timing out|xen' | tail -n 15 | sed "s/^/XE-KMSG $1: /"
}

n=0
for b in $R1_ORDER; do
    n=$((n + 1))
    case $b in
        kernel) storm "kernel$n" 0:0:0 ;;
        pvscsi) storm "pvscsi$n" 0:1:0 ;;
    esac
    xe_sync "$b-$n-done" 300
done
kill "$hb"
EOF_GUEST
}

# hang_diag NAME QEMU-NAME: a guest that stopped answering, examined from dom0.
hang_diag() {
    local name=$1 qn=$2 d=${XE_DOMID[$1]} out="$XE_OUT/hang-$1" pid a b x i
    pid=${XE_QEMU_PID[$qn]:-}
    mkdir -p "$out"
    xe_say "hang diagnostics for $name (domid $d) into $out"
    { xl vcpu-list "$name"; sleep 5; xl vcpu-list "$name"; } > "$out/vcpu-list.txt" 2>&1
    xe_say "  vcpu-list: $(grep -v '^Name' "$out/vcpu-list.txt" | tr -s ' ' | xe_oneline)"
    if [ -n "$pid" ] && [ -r "/proc/$pid/stat" ]; then
        a=$(awk '{print $14 + $15}' "/proc/$pid/stat"); sleep 5
        b=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        echo "QEMU pid $pid: $((b - a)) ticks of CPU in 5 s (CLK_TCK $(getconf CLK_TCK))" > "$out/qemu-cpu.txt"
        xe_say "  $(cat "$out/qemu-cpu.txt")"
    fi
    # Symbols: dom0's core kernel (same image, PV: no KASLR) + the guest's modules.
    { grep -v '\[' /proc/kallsyms
      tr -d '\r' < "$(domu_console "$name")" | sed -n 's/^KSYM //p'
    } | awk 'NF == 3' | sort > "$out/symbols"
    x=$(command -v xenctx)
    if [ -n "$x" ]; then
        "$x" --help > "$out/xenctx-help.txt" 2>&1
        for i in 1 2 3 4 5; do
            echo "=== sample $i $(xe_up)"
            timeout 60 "$x" -s "$out/symbols" -a "$d" 0 2>&1
            sleep 1
        done > "$out/xenctx.txt" 2>&1
        timeout 60 "$x" -s "$out/symbols" -f "$d" 0 > "$out/xenctx-f.txt" 2>&1
        xe_say "  xenctx rip: $(grep -i -m 5 -E '^ *rip' "$out/xenctx.txt" | xe_oneline)"
    else
        xe_say "  no xenctx in dom0"
    fi
    xl debug-keys d; xl debug-keys q
    sleep 2
    xl dmesg > "$out/xl-dmesg.txt" 2>&1
    xl sysrq "$name" l; sleep 2; xl sysrq "$name" w; sleep 5
    xe_say "  console tail: $(tr -d '\r' < "$(domu_console "$name")" | tail -n 3 | xe_oneline)"
}

# trace_stats NAME: what QEMU sent around the resets (notify rate, TMFs).
trace_stats() {
    local t="/tmp/trace-$1.log"
    [ -s "$t" ] || return 0
    xe_say "$1 trace: $(wc -l < "$t") lines, $(grep -c xen_pvscsi_tmf_done "$t") TMF answers, $(grep -c 'xen_pvscsi_tmf rqid' "$t") TMFs, $(grep -c xen_pvscsi_notify "$t") pushes"
    grep -E 'xen_pvscsi_tmf|xen_pvscsi_cancel' "$t" | head -n 40 > "$XE_OUT/trace-$1-tmf.txt"
    # pushes per second over the last 20 s of the trace
    # trace lines are PID@SEC.USEC:event ...
    awk '/xen_pvscsi_notify/ { split($1, a, "[@.]"); n[a[2]]++ }
         END { for (k in n) print k, n[k] }' "$t" | sort -n > "$XE_OUT/trace-$1-notify-per-s.txt"
    grep -n -B 12 -A 40 'xen_pvscsi_tmf rqid' "$t" | grep -v xen_pvscsi_transfer > "$XE_OUT/trace-$1-around-tmf.txt"
}

# run_guest NAME ORDER DISK-SUFFIX LIO-LUN
run_guest() {
    local name=$1 order=$2 sfx=$3 lun=$4 b n=0 ok=1
    truncate -s 96M "/tmp/k$sfx.img" "/tmp/p$sfx.img"
    check "$name-lio-fileio" lio_fileio "k$sfx" "/tmp/k$sfx.img" || return 1
    check "$name-lio-lun" scsiback_lun $WWN "$lun" "k$sfx" || return 1
    guest_script_body | guest_script "$name"
    if [ -n "${R1_SCSIFRONT:-}" ]; then
        domu_scsifront "$name" "$R1_SCSIFRONT" || return 1
    fi
    domu_create "$name" --fat --vcpus "${R1_VCPUS:-1}" R1_ORDER="$order" R1_RUNTIME="${R1_RUNTIME:-24}" || return 1
    check "$name-vscsi-nodes" vscsi_attach vscsi "$DOMID" 9 "$WWN:$lun=9:0:0:0" || return 1
    qemu_start "$name" -msg timestamp=on -D "/tmp/trace-$name.log" -trace 'xen_pvscsi_*' \
        -drive if=none,id=d0,file="/tmp/p$sfx.img",format=raw,cache=none,aio=native \
        -device xen-pvscsi,id=vs0,vhost=0 \
        -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0 || return 1
    domu_unpause "$name" || return 1
    for b in $order; do
        n=$((n + 1))
        if domu_sync "$name" "$b-$n-done" "$R1_PHASE_TIMEOUT" "$R1_IDLE"; then
            pass "$name-$b-$n-no-hang"
            domu_release "$name" "$b-$n-done"
        else
            fail "$name-$b-$n-no-hang" "guest $name hung during storm $n ($b)"
            hang_diag "$name" "$name"
            ok=0
            break
        fi
    done
    if [ "$ok" = 1 ]; then
        domu_wait "$name" 120
    else
        domu_wait "$name" 5
        xl destroy "$name" 2>/dev/null
    fi
    qemu_stop "$name"
    trace_stats "$name"
    gzip -c "/tmp/trace-$name.log" > "$XE_OUT/trace-$name.log.gz" 2>/dev/null
}

for g in ${R1_GUESTS:-r1k r1p}; do
    case $g in
        r1k) run_guest r1k "kernel pvscsi" a 0 ;;
        r1p) run_guest r1p "pvscsi kernel" b 1 ;;
        r1kk) run_guest r1kk "kernel kernel" c 2 ;;
        r1pp) run_guest r1pp "pvscsi pvscsi" d 3 ;;
        r1pp2) run_guest r1pp2 "pvscsi pvscsi" e 4 ;;
    esac
done
true
