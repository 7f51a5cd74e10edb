# shellcheck shell=sh
# Guest (domU) side of the harness: sourced before the scenario's guest
# script (/xe/guest.sh), both run by dash (/bin/sh); the other commands are
# busybox applets or the real tools copied in by images.sh (lsscsi, mt,
# sg3-utils, e2fsprogs, fio).
#
# Results go to the console, which xenconsoled logs in dom0:
#   CHECK PASS name
#   CHECK FAIL name: reason
#   XE-GUEST: [uptime] message          (xe_say)
#   XE-SYNC tag                         (xe_sync: waits for dom0's answer)
# lib/dom0.sh turns the CHECK lines into the scenario's results.
# SPDX-License-Identifier: GPL-2.0-or-later

. /xe/lib/check.sh
# shellcheck disable=SC1091
[ -f /xe/env ] && . /xe/env

XE_FAILS=0
xe_record() {
    if [ "$1" = FAIL ]; then
        XE_FAILS=$((XE_FAILS + 1))
        echo "CHECK FAIL $2: ${3:-failed}"
    else
        echo "CHECK PASS $2"
    fi
}
xe_guest_exit() { [ "$XE_FAILS" -gt 200 ] && XE_FAILS=200; exit "$XE_FAILS"; }

# In the guest, check runs its command in the background with a time bound
# (XE_CHECK_TIMEOUT, default 240 s): a command stuck in the kernel (state
# D: no signal helps) is left behind, the check FAILs with the list of
# blocked tasks on the console, and the script goes on. The command runs
# in a subshell: variables it sets are not seen by the script.
: "${XE_CHECK_TIMEOUT:=240}"
_xe_running() {
    [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat" 2>/dev/null
}
check() {
    _xe_n=$1
    shift
    ("$@") > "$XE_CHECK_OUT" 2>&1 &
    _xe_pid=$!
    _xe_end=$(($(cut -d. -f1 /proc/uptime) + XE_CHECK_TIMEOUT))
    _xe_i=0
    while _xe_running "$_xe_pid"; do
        _xe_i=$((_xe_i + 1))
        if [ "$_xe_i" -le 20 ]; then sleep 0.1; else sleep 1; fi
        if [ "$(cut -d. -f1 /proc/uptime)" -ge "$_xe_end" ] && _xe_running "$_xe_pid"; then
            fail "$_xe_n" "still running after $XE_CHECK_TIMEOUT s, left behind: $*"
            xe_blocked 60
            return 1
        fi
    done
    wait "$_xe_pid"
    _xe_rc=$?
    if [ "$_xe_rc" = 0 ]; then
        pass "$_xe_n"
    else
        _xe_last=$(grep -v '^[[:space:]]*$' "$XE_CHECK_OUT" | tail -n 2 | xe_oneline)
        fail "$_xe_n" "exit $_xe_rc from: $*${_xe_last:+ -- $_xe_last}"
    fi
}

xe_up() { cut -d' ' -f1 /proc/uptime; }
xe_say() { echo "XE-GUEST: [$(xe_up)] $*"; }

# xe_modprobe MODULE...: load modules (busybox modprobe), report failures.
xe_modprobe() {
    for _m in "$@"; do
        modprobe "$_m" || xe_say "modprobe $_m failed"
    done
}

# xe_load_scsifront [PARAM=VALUE...]: xen-scsifront, sd_mod and sg. The
# module is /xe/modules/xen-scsifront.ko (built from contrib/linux, put
# there by dom0's domu_scsifront) with the given parameters if the guest
# has one, else the kernel's own.
xe_load_scsifront() {
    if [ -f /xe/modules/xen-scsifront.ko ]; then
        xe_modprobe scsi_mod
        insmod /xe/modules/xen-scsifront.ko "$@" || xe_say "insmod xen-scsifront.ko $* failed"
        xe_say "xen-scsifront from contrib/linux, srcversion $(cat /sys/module/xen_scsifront/srcversion 2>/dev/null)"
    else
        xe_modprobe xen-scsifront
    fi
    xe_modprobe sd_mod sg
}

# xe_wait_for TIMEOUT_S SHELL-CONDITION: poll every 0.5 s.
xe_wait_for() {
    _t=$(($1 * 2))
    shift
    while ! eval "$*" 2>/dev/null; do
        _t=$((_t - 1))
        [ "$_t" -le 0 ] && return 1
        sleep 0.5
    done
}

# SCSI devices as "H:C:T:L" (one per line), sorted.
xe_scsi_devices() { ls /sys/bus/scsi/devices 2>/dev/null | grep -E '^[0-9]+:[0-9]+:[0-9]+:[0-9]+$' | sort -t: -k1,1n -k2,2n -k3,3n -k4,4n; }
# xe_scsi_count: number of SCSI devices
xe_scsi_count() { xe_scsi_devices | wc -l; }
# xe_hctl C:T:L: the full H:C:T:L of the first device with that C:T:L
xe_hctl() { xe_scsi_devices | grep -E "^[0-9]+:$1\$" | head -n 1; }
# xe_blockdev C:T:L -> /dev/sdX (empty if none)
xe_blockdev() {
    _h=$(xe_hctl "$1")
    [ -n "$_h" ] || return 1
    _b=$(ls "/sys/bus/scsi/devices/$_h/block" 2>/dev/null | head -n 1)
    [ -n "$_b" ] && echo "/dev/$_b"
}
# xe_sgdev C:T:L -> /dev/sgN
xe_sgdev() {
    _h=$(xe_hctl "$1")
    [ -n "$_h" ] || return 1
    _s=$(ls "/sys/bus/scsi/devices/$_h/scsi_generic" 2>/dev/null | head -n 1)
    [ -n "$_s" ] && echo "/dev/$_s"
}
# xe_wait_scsi COUNT TIMEOUT_S: wait until COUNT SCSI devices exist and the
# block devices of all disks have appeared.
xe_wait_scsi() {
    xe_wait_for "$2" '[ "$(xe_scsi_count)" -ge '"$1"' ]' || return 1
    for _h in $(xe_scsi_devices); do
        [ "$(cat "/sys/bus/scsi/devices/$_h/type" 2>/dev/null)" = 0 ] || continue
        xe_wait_for 10 '[ -n "$(ls /sys/bus/scsi/devices/'"$_h"'/block 2>/dev/null)" ]'
        _b=$(ls "/sys/bus/scsi/devices/$_h/block" 2>/dev/null)
        xe_wait_for 10 "[ -b /dev/$_b ]"
    done
    return 0
}

# xe_rw_verify DEV OFFSET_MIB SIZE_MIB [BS [DD_FLAGS]]: write SIZE_MIB of
# random data at OFFSET_MIB, drop the caches, read it back and compare md5
# sums. BS defaults to 1M. DD_FLAGS e.g. "oflag=direct iflag=direct".
xe_rw_verify() {
    _dev=$1 _off=$2 _size=$3 _bs=${4:-1M} _fl=${5:-}
    case $_bs in
        *K|*k) _bsk=${_bs%?} ;;
        *M|*m) _bsk=$((${_bs%?} * 1024)) ;;
        *) _bsk=$((_bs / 1024)) ;;
    esac
    _n=$((_size * 1024 / _bsk))
    _sk=$((_off * 1024 / _bsk))
    dd if=/dev/urandom of=/tmp/xe-pattern bs=1M count="$_size" 2>/dev/null || return 2
    _w=""
    _r=""
    for _f in $_fl; do
        case $_f in oflag=*) _w="$_w $_f" ;; iflag=*) _r="$_r $_f" ;; esac
    done
    # shellcheck disable=SC2086
    dd if=/tmp/xe-pattern of="$_dev" bs="$_bs" count="$_n" seek="$_sk" conv=fsync $_w 2>/tmp/xe-dd.err ||
        { echo "write failed: $(tail -n1 /tmp/xe-dd.err)"; return 1; }
    echo 3 > /proc/sys/vm/drop_caches
    # shellcheck disable=SC2086
    dd if="$_dev" of=/tmp/xe-readback bs="$_bs" count="$_n" skip="$_sk" $_r 2>/tmp/xe-dd.err ||
        { echo "read failed: $(tail -n1 /tmp/xe-dd.err)"; return 1; }
    _a=$(md5sum < /tmp/xe-pattern | cut -d' ' -f1)
    _b=$(md5sum < /tmp/xe-readback | cut -d' ' -f1)
    rm -f /tmp/xe-pattern /tmp/xe-readback
    [ "$_a" = "$_b" ] || { echo "md5 mismatch: wrote $_a, read $_b"; return 1; }
    echo "md5 $_a ok"
}

# xe_sync TAG [TIMEOUT_S]: tell dom0 we reached TAG and wait (default 120 s)
# until dom0 answers with domu_release (a line "TAG" on the console).
xe_sync() {
    _tag=$1 _to=${2:-120}
    echo "XE-SYNC $_tag"
    _end=$(($(cut -d. -f1 /proc/uptime) + _to))
    while [ "$(cut -d. -f1 /proc/uptime)" -lt "$_end" ]; do
        # (the braces keep the shell's "Terminated" off the console)
        _line=$( { timeout 5 head -n 1 < /dev/console | tr -d '\r'; } 2>/dev/null)
        [ "$_line" = "$_tag" ] && return 0
    done
    xe_say "xe_sync $_tag: no answer from dom0 in $_to s"
    return 1
}

# xe_diag: kernel messages about SCSI/Xen, prefixed, for failure analysis.
xe_diag() {
    dmesg | grep -i -E 'scsi|xen|sd |blk|I/O error|reset' | tail -n "${1:-30}" | sed 's/^/XE-KMSG /'
}

# xe_blocked: the kernel's list of blocked tasks (sysrq w), for hangs.
xe_blocked() {
    echo w > /proc/sysrq-trigger 2>/dev/null
    sleep 1
    dmesg | tail -n "${1:-80}" | sed 's/^/XE-KMSG /'
}
