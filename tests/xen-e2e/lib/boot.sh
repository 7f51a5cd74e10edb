# shellcheck shell=bash disable=SC2034,SC2054
# Host side: boot the outer VM (Debian's QEMU, TCG) -> Xen -> dom0, which
# runs one scenario. Sourced by run.sh, demo.sh and bench.sh after
# lib/host.sh and images.env.
#
#   xe_boot DIR SCENARIO [VAR=VALUE]...
#
# DIR/share is the 9p share (tag "xe", /xe in dom0):
#   harness/   lib/ and scenarios/ of this tree (copied)
#   bin/       the project's qemu-system-x86_64 (without debug info),
#              qemu-img, QEMU's keymaps and scripts/xen-vscsi
#   xen-tools/ bin/xl, lib/libxenlight.so.4.17*, lib/libxlutil.so.4.17*
#              with the contrib/xen series, if built (xl-vscsi)
#   boot/      vmlinuz (the domU kernel: the uncompressed ELF vmlinux if
#              images.sh could extract it), domu.cpio.gz, domu-fat.cpio.gz,
#              modules/xen-scsifront-VARIANT.ko for a scenario with
#              "# XE_LINUX_MODULES=VARIANT" (lib/linux-modules.sh)
#   run.env    XE_SCENARIO, XE_SCENARIO_TIMEOUT, VAR=VALUE...
#   out/       results written by dom0: stage, checks, scenario.log,
#              console/guest-*.log, qemu-*.log, dmesg, xenstore dump
# DIR/serial.log is the outer VM's serial console (Xen + dom0), each line
# prefixed with seconds since the start.
#
# Sets XE_BOOT_STATUS (done | infra | timeout | crashed), XE_BOOT_REASON,
# XE_BOOT_SECONDS and XE_BOOT_STAGES ("stage@seconds ...").
# Time bounds (seconds, env): XE_BOOT_TIMEOUT (outer VM start -> dom0
# userspace, 300), XE_TOOLSTACK_TIMEOUT (-> toolstack up, 180), the
# scenario's own XE_TIMEOUT header + 90 s of grace. XE_INTERACTIVE=1: the
# serial console is this terminal (demo), no time bounds after the start.
# XE_BOOT_VERBOSE=1 logs each stage as it is reached.
# SPDX-License-Identifier: GPL-2.0-or-later

# shellcheck source=linux-modules.sh
. "$(dirname "${BASH_SOURCE[0]}")/linux-modules.sh"

: "${XE_BOOT_TIMEOUT:=300}"
: "${XE_TOOLSTACK_TIMEOUT:=180}"

# Link (or copy) a file into the share.
xe_link() { ln -f "$1" "$2" 2>/dev/null || cp "$1" "$2"; }

# Value of a "# XE_NAME=value" header line of a scenario.
xe_scenario_header() {
    sed -n "s/^# $2=\([^ ]*\).*/\1/p" "$XE_DIR/scenarios/$1.sh" | head -n 1
}

# Prefix each line with the seconds since the start (0.1 s resolution).
xe_timestamp() {
    local start=${EPOCHREALTIME/./} line d
    while IFS= read -r line; do
        d=$(( (${EPOCHREALTIME/./} - start) / 100000 ))
        printf '%5d.%d %s\n' $((d / 10)) $((d % 10)) "${line%$'\r'}"
    done
}

# xe_hold_active: outer-vm.hold holds the pid of a live process (who
# asked for the next nested-Xen slots).
xe_hold_active() {
    local p
    p=$(cat "$XE_CACHE/outer-vm.hold" 2>/dev/null) || return 1
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

xe_boot() {
    local dir=$1 scen=$2 share timeout rc pid stage t0 now last_stage kill_reason=""
    shift 2
    share="$dir/share"
    # guest modules from contrib/linux (lib/linux-modules.sh), built
    # before the wait: a build holds no nested-Xen slot
    xe_linux_modules_build "$scen"
    # One nested Xen at a time on this machine: two TCG VMs on 2 cores push
    # xl create past its time bounds. Other runners wait here, visibly. The
    # lock comes before the share is assembled, so that a run that waited
    # boots the binaries of when it starts, not of when it began to wait.
    # flock is not first-come first-served: XE_PRIORITY=1 runs go first
    # while $XE_CACHE/outer-vm.hold names a live process (xe_hold_active).
    local lockfd
    exec {lockfd}> "$XE_CACHE/outer-vm.lock"
    while :; do
        if [ "${XE_PRIORITY:-0}" != 1 ] && xe_hold_active; then
            xe_log "$scen: waiting: priority runs first ($XE_CACHE/outer-vm.hold)"
            while xe_hold_active; do sleep 10; done
        fi
        if ! flock -n "$lockfd"; then
            xe_log "$scen: another nested-Xen run holds $XE_CACHE/outer-vm.lock; waiting for it"
            flock "$lockfd"
            xe_log "$scen: lock acquired"
        fi
        if [ "${XE_PRIORITY:-0}" = 1 ] || ! xe_hold_active; then
            break
        fi
        flock -u "$lockfd"
    done
    rm -rf "$dir"
    mkdir -p "$share"/{harness,bin,boot,out}
    cp -r "$XE_DIR/lib" "$XE_DIR/scenarios" "$share/harness/"
    # Without its debug info (73 -> 28 MB): dom0 copies it over 9p at
    # every boot, under TCG. Symbols stay for backtraces.
    if [ -x "$XE_QEMU_BIN" ]; then
        objcopy --strip-debug "$XE_QEMU_BIN" "$share/bin/qemu-system-x86_64" 2>/dev/null ||
            xe_link "$XE_QEMU_BIN" "$share/bin/qemu-system-x86_64"
    fi
    [ -x "$XE_QEMU_IMG" ] && xe_link "$XE_QEMU_IMG" "$share/bin/qemu-img"
    # QEMU's data files that a VNC-enabled build needs at run time (libxl
    # passes -vnc none; without keymaps QEMU exits: "could not read keymap
    # file: 'en-us'"). dom0-run.sh installs them in /usr/local/share/qemu.
    if [ -d "$XPV_QEMU_SRC/pc-bios/keymaps" ]; then
        mkdir -p "$share/bin/keymaps"
        find "$XPV_QEMU_SRC/pc-bios/keymaps" -maxdepth 1 -type f ! -name meson.build -exec cp {} "$share/bin/keymaps/" \;
    fi
    # the hostile userspace frontend of pvscsi-rogue (scripts/xen-pvscsi/build-rogue.sh)
    [ -x "$XPV_CACHE/rogue/xen-vscsi-rogue" ] && xe_link "$XPV_CACHE/rogue/xen-vscsi-rogue" "$share/bin/xen-vscsi-rogue"
    # the project's xl-style PV SCSI toolstack CLI, if present
    [ -f "$XPV_ROOT/scripts/xen-vscsi" ] && install -m 0755 "$XPV_ROOT/scripts/xen-vscsi" "$share/bin/xen-vscsi"
    # xl + libxenlight + libxlutil with the contrib/xen vscsi series
    # (build-xen-tools.sh), if built: xen-tools/{bin,lib}; dom0's own xl is
    # left alone, the xl-vscsi scenario runs this one with LD_LIBRARY_PATH.
    if [ -x "$XPV_CACHE/xen-tools/out/bin/xl" ]; then
        mkdir -p "$share/xen-tools"
        cp -a "$XPV_CACHE/xen-tools/out/bin" "$XPV_CACHE/xen-tools/out/lib" "$share/xen-tools/"
    fi
    xe_link "${XE_IMG_VMLINUX:-$XE_IMG_VMLINUZ}" "$share/boot/vmlinuz"
    xe_link "$XE_IMG_DOMU" "$share/boot/domu.cpio.gz"
    xe_link "$XE_IMG_DOMU_FAT" "$share/boot/domu-fat.cpio.gz"
    xe_linux_modules_share "$share"
    timeout=$(xe_scenario_header "$scen" XE_TIMEOUT)
    timeout=${XE_SCENARIO_TIMEOUT:-${timeout:-600}}
    {
        echo "XE_SCENARIO=$scen"
        echo "XE_SCENARIO_TIMEOUT=$timeout"
        echo "XE_SHELL=${XE_SHELL:-0}"
        # 1: the QEMU is the ASan+UBSan build; dom0 sets ASAN_OPTIONS and
        # UBSAN_OPTIONS, reports land in out/sanitizers/ (run.sh fails on any)
        echo "XE_SANITIZERS=${XPV_SANITIZERS:-0}"
        local a
        for a in "$@"; do echo "${a%%=*}=$(printf '%q' "${a#*=}")"; done
    } > "$share/run.env"

    local xen_cmd="console=com1 com1=115200,8n1 dom0_mem=$XE_DOM0_MEM,max:$XE_DOM0_MEM dom0_max_vcpus=$XE_SMP loglvl=all guest_loglvl=all"
    local dom0_cmd="console=hvc0 earlyprintk=xen rdinit=/init"
    local qemu=("$XE_OUTER_QEMU" -accel "$XE_ACCEL" -cpu "$XE_CPU" -m "$XE_MEM" -smp "$XE_SMP"
        -display none -nodefaults -no-reboot -monitor none
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -device virtio-rng-pci
        -virtfs "local,path=$share,mount_tag=xe,security_model=none,id=xe"
        -kernel "$XE_IMG_XEN" -append "$xen_cmd"
        -initrd "$XE_IMG_VMLINUZ $dom0_cmd,$XE_IMG_DOM0"
        -pidfile "$dir/outer-qemu.pid")
    echo "${qemu[*]}" > "$dir/outer-qemu.cmd"
    t0=$SECONDS
    XE_BOOT_STAGES=""
    if [ "${XE_INTERACTIVE:-0}" = 1 ]; then
        "${qemu[@]}" -chardev "stdio,id=ser0,signal=off,logfile=$dir/serial.log" -serial chardev:ser0
        echo "$?" > "$dir/outer-qemu.rc"
    else
        { timeout -k 10 $((XE_BOOT_TIMEOUT + XE_TOOLSTACK_TIMEOUT + timeout + 120)) \
              "${qemu[@]}" -serial stdio < /dev/null 2>&1
          echo "$?" > "$dir/outer-qemu.rc"; } | xe_timestamp > "$dir/serial.log" &
        pid=$!
        last_stage=""
        local t_up="" t_ts="" t_start=""
        while [ ! -s "$dir/outer-qemu.rc" ]; do
            sleep 1
            now=$((SECONDS - t0))
            stage=$(tail -n 1 "$share/out/stage" 2>/dev/null | cut -d' ' -f1)
            if [ "$stage" != "$last_stage" ]; then
                XE_BOOT_STAGES="$XE_BOOT_STAGES $stage@${now}s"
                [ "${XE_BOOT_VERBOSE:-0}" = 1 ] && xe_log "$scen: ${now}s: $stage"
                last_stage=$stage
                case $stage in
                    dom0-up) t_up=$now ;;
                    toolstack-up) t_ts=$now ;;
                    scenario-start) t_start=$now ;;
                esac
            fi
            [ -n "$kill_reason" ] && continue
            if [ -z "$t_up" ] && [ "$now" -ge "$XE_BOOT_TIMEOUT" ]; then
                kill_reason="dom0 did not reach userspace within $XE_BOOT_TIMEOUT s"
            elif [ -n "$t_up" ] && [ -z "$t_ts" ] && [ -z "$t_start" ] && [ "$stage" != infra ] &&
                 [ "$now" -ge $((t_up + XE_TOOLSTACK_TIMEOUT)) ]; then
                kill_reason="toolstack not up within $XE_TOOLSTACK_TIMEOUT s of dom0 start"
            elif [ -n "$t_start" ] && [ "$now" -ge $((t_start + timeout + 90)) ]; then
                kill_reason="scenario still running $((timeout + 90)) s after its start"
            fi
            if [ -n "$kill_reason" ]; then
                xe_log "$scen: $kill_reason: stopping the outer VM"
                kill "$(cat "$dir/outer-qemu.pid" 2>/dev/null)" 2>/dev/null
            fi
        done
        wait "$pid"
    fi
    exec {lockfd}>&-
    rc=$(cat "$dir/outer-qemu.rc")
    XE_BOOT_SECONDS=$((SECONDS - t0))
    [ -n "$XE_BOOT_STAGES" ] || XE_BOOT_STAGES=$(awk '{printf " %s@dom0:%ss", $1, $NF}' "$share/out/stage" 2>/dev/null)
    if ! grep -q '^scenario-start' "$share/out/stage" 2>/dev/null; then
        XE_BOOT_STATUS=infra
        if [ -s "$share/out/infra" ]; then
            XE_BOOT_REASON=$(head -n 1 "$share/out/infra")
        elif [ -n "$kill_reason" ]; then
            XE_BOOT_REASON=$kill_reason
        elif [ ! -s "$share/out/stage" ]; then
            XE_BOOT_REASON="outer VM exited ($rc) before dom0 reached the harness"
        else
            XE_BOOT_REASON="outer VM exited ($rc) at stage '$(tail -n 1 "$share/out/stage" | cut -d' ' -f1)'"
        fi
    elif [ -n "$kill_reason" ]; then
        XE_BOOT_STATUS=timeout
        XE_BOOT_REASON=$kill_reason
    elif ! grep -q '^scenario-end' "$share/out/stage"; then
        XE_BOOT_STATUS=crashed
        XE_BOOT_REASON="outer VM exited ($rc) while the scenario ran (Xen/dom0 crash? see serial.log)"
    else
        XE_BOOT_STATUS="done"
        XE_BOOT_REASON="outer VM exit status $rc"
    fi
}
