# shellcheck shell=bash disable=SC2016,SC2034
# Scenario library for dom0: sourced (bash) by every scenario script, which
# lib/dom0-run.sh runs once the toolstack is up. Environment from
# dom0-run.sh: XE_OUT (results dir on the share), XE_HARNESS, XE_BOOT
# (vmlinuz, domU ramdisks), XE_QEMU / XE_QEMU_IMG (the project's binaries,
# empty if none was passed), XE_SCENARIO.
#
# Results: one line per check in $XE_OUT/checks, "PASS name" or
# "FAIL name: reason"; run.sh prints them as "PASS scenario/name".
#
#   check NAME CMD...              PASS if CMD exits 0 (lib/check.sh)
#   check_sh / check_eq / check_ge / check_match / pass / fail
#   check_xs NAME PATH VALUE [T]   xenstore PATH reaches VALUE within T s
#   guest_script NAME <<'EOF'      the domU's script (busybox sh, with
#   ...                            lib/guest.sh: check, xe_sync, ...)
#   EOF
#   domu_create NAME [--fat] [--memory MIB] [--cfg LINE]... [VAR=VALUE]...
#                                  xl create -p; sets DOMID
#   qemu_start NAME [--domid ID] QEMU-ARGS...
#                                  the project's QEMU for that domain:
#                                  -xen-domid ID -xen-attach -M xenpv
#                                  -nodefaults -display none -qmp ... ARGS
#   domu_scsifront NAME VARIANT    the guest loads xen-scsifront built
#                                  from contrib/linux (lib/linux-modules.sh)
#   domu_unpause NAME; domu_wait NAME [TIMEOUT] [PREFIX]
#   domu_sync NAME TAG [T [IDLE]]; domu_release NAME TAG
#   xe_qmp NAME JSON...            QMP commands to a started QEMU
#   tgt_start / tgt_kill / tgt_target / tgt_lun / tgt_lun_params
#                                  tgtd (iSCSI target) on 127.0.0.1
#   lio_backstore / lio_fileio / scsiback_lun / vscsi_attach   kernel xen-scsiback setup
# SPDX-License-Identifier: GPL-2.0-or-later

# shellcheck source=check.sh
. "$XE_HARNESS/lib/check.sh"
XE_CHECK_OUT=/tmp/xe-check.out
XE_GUESTS=/tmp/xe-guests
declare -A XE_DOMID=() XE_QEMU_PID=() XE_MERGED=()
DOMID=""

xe_up() { cut -d' ' -f1 /proc/uptime; }
xe_say() { echo "XE: [$(xe_up)] $*"; }
xe_record() {
    local line="$1 $2${3:+: $3}"
    echo "$line" >> "$XE_OUT/checks"
    echo "XE-CHECK $line"
}

# xs_dev_of BE VDEV: the dev-N under BE/vscsi-devs whose v-dev is VDEV.
xs_dev_of() {
    local d
    for d in $(xenstore-list "$1/vscsi-devs" 2>/dev/null); do
        [ "$(xs_read "$1/vscsi-devs/$d/v-dev")" = "$2" ] && { echo "$d"; return 0; }
    done
    return 1
}

# scsi_debug_host H_REL_PATH: the host number of dom0's scsi_debug adapter
# once /sys/bus/scsi/devices/HOST:H_REL_PATH exists (e.g. 0:0:1/block),
# waiting up to 30 s (dom0 has no udev); the number even if it never does.
scsi_debug_host() {
    local h="" _
    for _ in $(seq 60); do
        h=$(grep -lx scsi_debug /sys/class/scsi_host/host*/proc_name 2>/dev/null | head -n 1)
        h=${h%/proc_name}
        h=${h##*/host}
        [ -n "$h" ] && [ -e "/sys/bus/scsi/devices/$h:$1" ] && break
        sleep 0.5
    done
    echo "$h"
}

# ---------------------------------------------------------------- xenstore --
xs_read() { xenstore-read "$1" 2>/dev/null; }

# xs_wait PATH VALUE [TIMEOUT_S]: 0 once PATH = VALUE; else prints the last
# value and returns 1.
xs_wait() {
    local p=$1 want=$2 end=$((SECONDS + ${3:-30})) v
    while :; do
        v=$(xs_read "$p")
        [ "$v" = "$want" ] && return 0
        [ "$SECONDS" -ge "$end" ] && { echo "${v:-<absent>}"; return 1; }
        sleep 0.5
    done
}

check_xs() {
    local v
    if v=$(xs_wait "$2" "$3" "${4:-30}"); then
        pass "$1"
    else
        fail "$1" "$2 = '$v', expected '$3' (waited ${4:-30} s)"
    fi
}

# ------------------------------------------------------------------ domUs ---
# guest_script NAME: the guest script is read from stdin.
guest_script() {
    mkdir -p "$XE_GUESTS/$1/root/xe/lib"
    cat > "$XE_GUESTS/$1/root/xe/guest.sh"
}

xe_squote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# domu_create NAME [--fat] [--memory MIB] [--vcpus N] [--cfg LINE]...
#             [--may-fail] [VAR=VALUE]...
# XE_XL_VERBOSE=1: xl -vvv (libxl's debug log in $XE_OUT/xl-create-NAME.log).
# Builds the guest's ramdisk (a cpio segment with lib/check.sh,
# lib/guest.sh, its script and VAR=VALUE in /xe/env, followed by the base
# domU initramfs), writes /tmp/xe-guests/NAME/domu.cfg and runs
# "xl create -p". Sets DOMID and XE_DOMID[NAME]. Returns 1 on failure
# (recorded as FAIL NAME-create, unless --may-fail).
domu_create() {
    local name=$1 base="$XE_BOOT/domu.cpio.gz" mem=512 vcpus=1 cfg=() env=() d a quiet=0
    shift
    while [ $# -gt 0 ]; do
        case $1 in
            --fat) base="$XE_BOOT/domu-fat.cpio.gz" ;;
            --may-fail) quiet=1 ;;
            --memory) mem=$2; shift ;;
            --vcpus) vcpus=$2; shift ;;
            --cfg) cfg+=("$2"); shift ;;
            *=*) env+=("$1") ;;
            *) fail "$name-create" "domu_create: unknown argument $1"; return 1 ;;
        esac
        shift
    done
    d="$XE_GUESTS/$name"
    [ -f "$d/root/xe/guest.sh" ] || { fail "$name-create" "no guest_script for $name"; return 1; }
    cp "$XE_HARNESS/lib/check.sh" "$XE_HARNESS/lib/guest.sh" "$d/root/xe/lib/"
    {
        echo "XE_GUEST_NAME=$(xe_squote "$name")"
        echo "XE_SCENARIO=$(xe_squote "$XE_SCENARIO")"
        for a in "${env[@]}"; do echo "${a%%=*}=$(xe_squote "${a#*=}")"; done
    } > "$d/root/xe/env"
    # Uncompressed segment first: libxc then copies the ramdisk as it is
    # (it would gunzip a gzip ramdisk and only its first member), and the
    # guest kernel unpacks the segment, then the gzip'd base archive.
    (cd "$d/root" && find . | cpio -o -H newc --quiet) > "$d/ramdisk" &&
        cat "$base" >> "$d/ramdisk" || { fail "$name-create" "cannot build the ramdisk"; return 1; }
    # libxc mmaps the kernel: over 9p (no page cache) that is one round
    # trip per 4 KiB page, minutes under TCG. Read it once into RAM.
    if [ ! -s /run/xe/vmlinuz ]; then
        mkdir -p /run/xe && cp "$XE_BOOT/vmlinuz" /run/xe/vmlinuz.tmp && mv /run/xe/vmlinuz.tmp /run/xe/vmlinuz
    fi
    {
        echo "name = \"$name\""
        echo 'type = "pv"'
        echo 'kernel = "/run/xe/vmlinuz"'
        echo "ramdisk = \"$d/ramdisk\""
        echo 'extra = "console=hvc0 loglevel=4 sysrq_always_enabled=1 rdinit=/init"'
        echo "memory = $mem"
        echo "vcpus = $vcpus"
        echo 'on_poweroff = "destroy"'
        echo 'on_reboot = "destroy"'
        echo 'on_crash = "destroy"'
        for a in "${cfg[@]}"; do echo "$a"; done
    } > "$d/domu.cfg"
    cp "$d/domu.cfg" "$XE_OUT/domu-$name.cfg"
    xe_say "xl create -p $name ($(du -h "$d/ramdisk" | cut -f1) ramdisk)"
    if ! timeout 180 xl ${XE_XL_VERBOSE:+-vvv} create -p "$d/domu.cfg" > "$XE_OUT/xl-create-$name.log" 2>&1; then
        local why
        why=$(grep -i -E 'error|fail' "$XE_OUT/xl-create-$name.log" | tail -n 3)
        [ -n "$why" ] || why="$(tail -n 3 "$XE_OUT/xl-create-$name.log") (exit status or timeout after 180 s)"
        if [ "$quiet" = 1 ]; then
            xe_say "xl create $name failed: $(echo "$why" | xe_oneline)"
        else
            fail "$name-create" "xl create failed: $why"
        fi
        return 1
    fi
    DOMID=$(xl domid "$name")
    XE_DOMID[$name]=$DOMID
    xe_say "domain $name created paused, domid $DOMID"
}

# domu_scsifront NAME VARIANT: guest NAME gets xen-scsifront-VARIANT.ko,
# built from contrib/linux on the host for a scenario with the header
# "# XE_LINUX_MODULES=VARIANT[,...]" (lib/linux-modules.sh), as
# /xe/modules/xen-scsifront.ko, which xe_load_scsifront (lib/guest.sh)
# loads instead of its kernel's module. Call it after guest_script, before
# domu_create. Records FAIL NAME-scsifront-VARIANT if there is no such module.
domu_scsifront() {
    local ko="$XE_BOOT/modules/xen-scsifront-$2.ko"
    if [ ! -f "$ko" ]; then
        fail "$1-scsifront-$2" "no $ko on the share (contrib/linux/build-module.sh $2 failed on the host, or no '# XE_LINUX_MODULES=$2' header)"
        return 1
    fi
    mkdir -p "$XE_GUESTS/$1/root/xe/modules" &&
        cp "$ko" "$XE_GUESTS/$1/root/xe/modules/xen-scsifront.ko"
}

domu_domid() { echo "${XE_DOMID[$1]}"; }
domu_console() { echo "$XE_OUT/console/guest-$1.log"; }

domu_unpause() {
    xl unpause "$1" || { fail "$1-unpause" "xl unpause failed"; return 1; }
    xe_say "domain $1 unpaused"
}

domu_destroy() { xl destroy "$1" 2>/dev/null; true; }

# xe_domu_diag NAME: for a guest that stopped answering: its vCPU state
# (CPU time growing = spinning) and the guest kernel's blocked tasks and
# CPU backtraces (sysrq w and l, printed on its console).
xe_domu_diag() {
    xe_say "diagnostics for $1: $(xl list "$1" 2>&1 | tail -n 1 | tr -s ' ')"
    xl vcpu-list "$1" 2>&1 | tail -n +2 | while read -r l; do xe_say "  vcpu: $l"; done
    xl sysrq "$1" w 2>/dev/null
    xl sysrq "$1" l 2>/dev/null
    sleep 3
    xe_say "diagnostics for $1 (after 3 s): $(xl list "$1" 2>&1 | tail -n 1 | tr -s ' '); sysrq w+l output is in its console log"
}

# domu_sync NAME TAG [TIMEOUT_S] [IDLE_S]: wait until the guest called
# xe_sync TAG. With IDLE_S, give up early if the guest's console stays
# silent that long (a hung guest).
domu_sync() {
    local log end=$((SECONDS + ${3:-120})) idle=${4:-0} size last_size=-1 quiet_since=$SECONDS
    log=$(domu_console "$1")
    while ! tr -d '\r' < "$log" 2>/dev/null | grep -qx "XE-SYNC $2"; do
        if [ "$SECONDS" -ge "$end" ] || grep -q 'DONE rc=' "$log" 2>/dev/null; then
            fail "$1-sync-$2" "the guest did not reach '$2' (${3:-120} s)"
            grep -q 'DONE rc=' "$log" 2>/dev/null || xe_domu_diag "$1"
            return 1
        fi
        size=$(stat -c %s "$log" 2>/dev/null || echo 0)
        [ "$size" != "$last_size" ] && { last_size=$size; quiet_since=$SECONDS; }
        if [ "$idle" -gt 0 ] && [ $((SECONDS - quiet_since)) -ge "$idle" ]; then
            fail "$1-sync-$2" "the guest's console was silent for $idle s before reaching '$2' (hung?)"
            xe_domu_diag "$1"
            return 1
        fi
        sleep 1
    done
}

# domu_release NAME TAG: answer the guest's xe_sync TAG (via its console).
domu_release() {
    local tty
    tty=$(xs_read "/local/domain/${XE_DOMID[$1]}/console/tty")
    [ -n "$tty" ] && printf '%s\n' "$2" > "$tty"
}

# domu_wait NAME [TIMEOUT_S] [PREFIX]: wait for the guest's "DONE rc=N",
# then merge its CHECK lines into the results (names prefixed by PREFIX).
domu_wait() {
    local name=$1 to=${2:-300} prefix=${3:-} log end gone=0 why="" rc n st rest nfail=0
    log=$(domu_console "$name")
    end=$((SECONDS + to))
    while ! grep -q 'DONE rc=' "$log" 2>/dev/null; do
        if xl domid "$name" >/dev/null 2>&1; then
            gone=0
        else
            gone=$((gone + 1))
            [ "$gone" -ge 3 ] && { why="domain $name vanished without DONE (crashed?)"; break; }
        fi
        [ "$SECONDS" -ge "$end" ] && { why="no DONE from $name within $to s"; xe_domu_diag "$name"; break; }
        sleep 2
    done
    n=0
    while read -r st rest; do
        n=$((n + 1))
        [ "$n" -le "${XE_MERGED[$name]:-0}" ] && continue
        if [ "$st" = PASS ]; then
            xe_record PASS "$prefix$rest"
        else
            nfail=$((nfail + 1))
            xe_record FAIL "$prefix${rest%%: *}" "${rest#*: }"
        fi
    done < <(tr -d '\r' < "$log" 2>/dev/null | grep -o 'CHECK \(PASS\|FAIL\) .*' | cut -d' ' -f2-)
    XE_MERGED[$name]=$n
    echo "$n" > "$XE_OUT/console/.merged-$name"
    if [ -n "$why" ]; then
        fail "${prefix}$name-done" "$why; console: $(tr -d '\r' < "$log" 2>/dev/null | grep -v '^$' | tail -n 2 | xe_oneline)"
        return 1
    fi
    rc=$(tr -d '\r' < "$log" | sed -n 's/.*DONE rc=\([0-9]*\).*/\1/p' | tail -n 1)
    if [ "$rc" != 0 ] && [ "$nfail" = 0 ]; then
        fail "${prefix}$name-done" "guest script exited with $rc"
        return 1
    fi
    [ "$rc" = 0 ]
}

# ------------------------------------------------------------------- QEMU ---
# XE_TWO_LUNS: QEMU arguments for the usual vhost vs0 with a raw LUN at
# 0:1:0 (/tmp/disk0.img) and a qcow2 LUN at 0:2:0 (/tmp/disk1.qcow2),
# cache=none, aio=native. xe_two_lun_images creates the two images.
# xe_two_lun_images RAW_MB QCOW2_MB: the images of XE_TWO_LUNS (records
# the check qemu-img-create).
xe_two_lun_images() {
    truncate -s "$1M" /tmp/disk0.img &&
        check qemu-img-create "$XE_QEMU_IMG" create -q -f qcow2 /tmp/disk1.qcow2 "$2M"
}
# shellcheck disable=SC2054
XE_TWO_LUNS=(-drive if=none,id=d0,file=/tmp/disk0.img,format=raw,cache=none,aio=native
             -drive if=none,id=d1,file=/tmp/disk1.qcow2,format=qcow2,cache=none,aio=native
             -device xen-pvscsi,id=vs0
             -device scsi-hd,bus=vs0.0,channel=0,scsi-id=1,lun=0,drive=d0
             -device scsi-hd,bus=vs0.0,channel=0,scsi-id=2,lun=0,drive=d1)

# qemu_start NAME [--domid ID] QEMU-ARGS...: start the project's QEMU in the
# background as a backend for domain ID (default: $DOMID); stdout+stderr
# in $XE_OUT/qemu-NAME.log. Records PASS/FAIL qemu-NAME-start once QMP
# answers (devices are realized by then) or QEMU has exited.
qemu_start() {
    local name=$1 domid=$DOMID log sock pid i
    shift
    if [ "${1:-}" = --domid ]; then domid=$2; shift 2; fi
    if [ -z "${XE_QEMU:-}" ]; then
        fail "qemu-$name-start" "no project QEMU on the share (build it: scripts/xen-pvscsi/build.sh)"
        return 1
    fi
    log="$XE_OUT/qemu-$name.log"
    sock="/run/xe-qmp-$name.sock"
    rm -f "$sock"
    local args=(-xen-domid "$domid" -xen-attach -M xenpv -nodefaults -display none
                -qmp "unix:$sock,server=on,wait=off" "$@")
    # XE_QEMU_WRAP: words run before QEMU (a tool that execs it in the
    # same process, as valgrind does); XE_QEMU_START_S: how long its QMP
    # may take to answer [30]
    local wrap=()
    read -r -a wrap <<< "${XE_QEMU_WRAP:-}"
    echo "+ ${wrap[*]}${wrap[*]:+ }qemu-system-x86_64 ${args[*]}" > "$log"
    xe_say "starting QEMU $name: ${wrap[*]}${wrap[*]:+ $XE_QEMU }${args[*]}"
    "${wrap[@]}" "$XE_QEMU" "${args[@]}" >> "$log" 2>&1 &
    pid=$!
    XE_QEMU_PID[$name]=$pid
    for i in $(seq $((${XE_QEMU_START_S:-30} * 2))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            local rc=$?
            unset "XE_QEMU_PID[$name]"
            fail "qemu-$name-start" "QEMU exited with $rc: $(grep -v '^+ ' "$log" | tail -n 3 | xe_oneline)"
            return 1
        fi
        if [ -S "$sock" ] && xe_qmp "$name" '{"execute":"query-status"}' 2>/dev/null | grep -q '"return"'; then
            pass "qemu-$name-start"
            return 0
        fi
        sleep 0.5
    done
    fail "qemu-$name-start" "QMP of QEMU $name did not answer within ${XE_QEMU_START_S:-30} s"
    return 1
}

qemu_alive() { [ -n "${XE_QEMU_PID[$1]:-}" ] && kill -0 "${XE_QEMU_PID[$1]}" 2>/dev/null; }

# qemu_stop NAME: FAIL qemu-NAME-alive if it died on its own; else stop it.
qemu_stop() {
    local name=$1 pid=${XE_QEMU_PID[$1]:-} rc i
    [ -n "$pid" ] || return 0
    unset "XE_QEMU_PID[$name]"
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        rc=$?
        fail "qemu-$name-alive" "QEMU exited by itself with $rc: $(grep -v '^+ ' "$XE_OUT/qemu-$name.log" | tail -n 3 | xe_oneline)"
        return 1
    fi
    kill -TERM "$pid"
    for i in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    return 0
}

# xe_qmp NAME JSON...: send QMP commands, print one reply line per command
# (events, which QEMU prints as {"timestamp": ..., "event": ...}, skipped).
xe_qmp() {
    local name=$1
    shift
    timeout 30 perl -MIO::Socket::UNIX -e '
        my $s = IO::Socket::UNIX->new(Peer => shift @ARGV) or die "connect: $!\n";
        $s->autoflush(1);
        my $g = <$s>;
        sub reply { while (my $l = <$s>) { return $l unless $l =~ /^\{"(event|timestamp)"/ } return "" }
        print $s "{\"execute\":\"qmp_capabilities\"}\n"; reply();
        for my $c (@ARGV) { print $s "$c\n"; print reply(); }
    ' "/run/xe-qmp-$name.sock" "$@"
}

# Stop what the scenario left running; a QEMU that died is a failure.
xe_cleanup() {
    local n
    for n in "${!XE_QEMU_PID[@]}"; do qemu_stop "$n"; done
    [ -n "$XE_TGTD_PID" ] && tgt_kill
    return 0
}
trap xe_cleanup EXIT

# ------------------------------------------------ tgt (userspace iSCSI target) --
# tgtd runs in the foreground as a child of the scenario (its messages in
# $XE_OUT/tgtd.log), listening on 127.0.0.1:3260 (lo is brought up: dom0
# has no other network). tgtd ignores SIGTERM: tgt_kill uses SIGKILL, which
# is also how a scenario makes the target vanish mid-I/O.
XE_TGTD_PID=""

# tgt_start: start tgtd; 0 once tgtadm answers.
tgt_start() {
    local i
    ip link set lo up || return 1
    echo "--- tgtd started at $(xe_up)" >> "$XE_OUT/tgtd.log"
    tgtd -f >> "$XE_OUT/tgtd.log" 2>&1 &
    XE_TGTD_PID=$!
    for i in $(seq 60); do
        tgtadm --lld iscsi --mode target --op show >/dev/null 2>&1 && return 0
        kill -0 "$XE_TGTD_PID" 2>/dev/null || { echo "tgtd exited: $(tail -n 2 "$XE_OUT/tgtd.log" | xe_oneline)"; XE_TGTD_PID=""; return 1; }
        sleep 0.5
    done
    echo "tgtadm got no answer from tgtd within 30 s"
    return 1
}

# tgt_kill: SIGKILL tgtd (connections drop without a logout).
tgt_kill() {
    [ -n "$XE_TGTD_PID" ] || return 0
    kill -KILL "$XE_TGTD_PID" 2>/dev/null
    wait "$XE_TGTD_PID" 2>/dev/null
    echo "--- tgtd killed at $(xe_up)" >> "$XE_OUT/tgtd.log"
    XE_TGTD_PID=""
}

# tgt_target TID IQN: a target that accepts every initiator.
tgt_target() {
    tgtadm --lld iscsi --mode target --op new --tid "$1" -T "$2" &&
        tgtadm --lld iscsi --mode target --op bind --tid "$1" -I ALL
}

# tgt_lun TID LUN TGTADM-ARGS...: a logical unit (e.g. -b FILE, or
# --device-type tape --bstype ssc -b FILE).
tgt_lun() {
    local tid=$1 lun=$2
    shift 2
    tgtadm --lld iscsi --mode logicalunit --op new --tid "$tid" --lun "$lun" "$@"
}

# tgt_lun_params TID LUN PARAMS: tgtadm --op update --params PARAMS.
tgt_lun_params() {
    tgtadm --lld iscsi --mode logicalunit --op update --tid "$1" --lun "$2" --params "$3"
}

# ------------------------------------------------- kernel xen-scsiback (LIO) --
XE_LIO=/sys/kernel/config/target

# lio_backstore MODULE HBA/NAME CONTROL: a LIO backstore (core/HBA/NAME)
# of the target_core_MODULE backend, configured with CONTROL, enabled.
lio_backstore() {
    modprobe -a target_core_mod "target_core_$1" xen-scsiback || return 1
    mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config || return 1
    mkdir -p "$XE_LIO/core/$2" &&
        echo "$3" > "$XE_LIO/core/$2/control" &&
        echo 1 > "$XE_LIO/core/$2/enable"
}

# lio_fileio NAME FILE [PARAMS]: a LIO fileio backstore on FILE (whole
# file); PARAMS: more control parameters (",fd_buffered_io=1").
lio_fileio() {
    lio_backstore file "fileio_0/$1" "fd_dev_name=$2,fd_dev_size=$(stat -c %s "$2")${3:-}"
}

# scsiback_lun WWN LUN BACKSTORE: export the backstore (NAME of
# lio_fileio, or HBA/NAME for any other) as LUN of the xen-pvscsi target
# port WWN (p-dev "WWN:LUN" in xenstore).
scsiback_lun() {
    local t="$XE_LIO/xen-pvscsi/$1/tpgt_1" bs=$3
    [ "${bs#*/}" = "$bs" ] && bs=fileio_0/$bs
    mkdir -p "$t/lun/lun_$2" &&
        ln -s "$XE_LIO/core/$bs" "$t/lun/lun_$2/port" || return 1
    if [ -z "$(cat "$t/nexus" 2>/dev/null)" ]; then
        echo "naa.60014050000000ff" > "$t/nexus" || return 1
    fi
    [ -e "$t/enable" ] && echo 1 > "$t/enable"
    return 0
}

# vscsi_attach TYPE DOMID VHOST P-DEV=V-DEV...: write the xenstore nodes a
# toolstack writes for a PV SCSI host (xl 4.17 has no vscsi support):
# backend/TYPE/DOMID/VHOST with vscsi-devs/dev-N, and the frontend
# device/vscsi/VHOST. TYPE is vscsi for the kernel xen-scsiback.
vscsi_attach() {
    local type=$1 domid=$2 vhost=$3 be fe n=0 d args=()
    shift 3
    be=/local/domain/0/backend/$type/$domid/$vhost
    fe=/local/domain/$domid/device/vscsi/$vhost
    args+=("$be/frontend" "$fe" "$be/frontend-id" "$domid" "$be/online" 1 "$be/state" 1
           "$be/feature-host" 0)
    for d in "$@"; do
        args+=("$be/vscsi-devs/dev-$n/p-dev" "${d%%=*}" "$be/vscsi-devs/dev-$n/v-dev" "${d#*=}"
               "$be/vscsi-devs/dev-$n/state" 1)
        n=$((n + 1))
    done
    args+=("$fe/backend" "$be" "$fe/backend-id" 0 "$fe/state" 1)
    xenstore-write "${args[@]}" &&
        xenstore-chmod -r "$be" n0 "r$domid" &&
        xenstore-chmod -r "$fe" "n$domid" r0
}

# ------------------------------------------------------- xen-pvscsi states --
# check_vscsi_connected PREFIX TYPE DOMID [TIMEOUT]: every vhost under
# backend/TYPE/DOMID has state 4 and every vscsi-devs/dev-N/state is 4.
check_vscsi_connected() {
    local pfx=$1 type=$2 domid=$3 to=${4:-30} base v d
    base=/local/domain/0/backend/$type/$domid
    v=$(xenstore-list "$base" 2>/dev/null)
    [ -n "$v" ] || { fail "${pfx}xs-vhost" "no vhost under $base"; return 1; }
    for v in $v; do
        check_xs "${pfx}xs-$v-state" "$base/$v/state" 4 "$to"
        d=$(xenstore-list "$base/$v/vscsi-devs" 2>/dev/null)
        [ -n "$d" ] || fail "${pfx}xs-$v-devs" "no $base/$v/vscsi-devs"
        for d in $d; do
            check_xs "${pfx}xs-$v-$d-state" "$base/$v/vscsi-devs/$d/state" 4 "$to"
        done
    done
}
