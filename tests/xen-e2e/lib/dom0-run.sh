#!/bin/bash
# Run by dom0's /init from the 9p share (/xe/harness/lib/dom0-run.sh).
#  1. scratch disk on /tmp, the Xen toolstack, the project's QEMU
#  2. the scenario (/xe/harness/scenarios/$XE_SCENARIO.sh) under a timeout
#  3. collects logs and stops the outer VM through isa-debug-exit:
#     value 0 = scenario passed, 1 = it failed, 2 = infrastructure fault
#     before the scenario started (the runner retries those once).
# Progress markers go to /xe/out/stage, one "NAME UPTIME" line each:
#   dom0-up, toolstack-up, scenario-start, scenario-end RC; or infra.
# /xe/run.env (written by run.sh) sets XE_SCENARIO, XE_SCENARIO_TIMEOUT,
# XE_SCRATCH_MB, XE_SHELL (1: keep dom0 running with a console shell)
# and any XE_* knobs for the scenario.
# SPDX-License-Identifier: GPL-2.0-or-later
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin
export XE_SHARE=/xe XE_OUT=/xe/out XE_HARNESS=/xe/harness XE_BOOT=/xe/boot
# shellcheck disable=SC1091
set -a   # every run.env variable reaches the scenario
. /xe/run.env
set +a
: "${XE_SCENARIO:?}" "${XE_SCENARIO_TIMEOUT:=600}" "${XE_SCRATCH_MB:=1024}" "${XE_SHELL:=0}"
export XE_SCENARIO XE_SCENARIO_TIMEOUT XE_SHELL
mkdir -p "$XE_OUT/console"
# devtmpfs has no /dev/fd (bash process substitution needs it)
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr

up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "XE-DOM0: [$(up)] $*"; }
stage() { echo "$* $(up)" >> "$XE_OUT/stage"; say "stage $*"; }
xe_exit() {
    sync
    [ "$XE_SHELL" = 1 ] && { touch /xe/shell; say "XE_SHELL=1: not stopping (exit value would be $1)"; exit 0; }
    printf "\\$(printf '%03o' "$1")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
    sleep 10
    say "isa-debug-exit did not stop the outer VM"
    exit 1
}
infra() {
    echo "$*" > "$XE_OUT/infra"
    stage infra
    say "INFRA: $*"
    collect
    xe_exit 2
}
collect() {
    dmesg > "$XE_OUT/dom0-dmesg.txt" 2>&1
    xl dmesg > "$XE_OUT/xen-dmesg.txt" 2>&1
    xenstore-ls -fp > "$XE_OUT/xenstore.txt" 2>&1
    ps -eo pid,stat,etime,rss,args > "$XE_OUT/dom0-ps.txt" 2>&1
    cp /var/log/xen/*.log "$XE_OUT/" 2>/dev/null
}

stage dom0-up
# The outer VM has a virtio-rng: without it, getrandom() (QEMU, mkfs)
# blocks for tens of seconds under TCG until the kernel's crng is ready.
modprobe virtio-rng 2>/dev/null
say "dom0 cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(grep -c ^processor /proc/cpuinfo) vcpus, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"

# ---- scratch disk: ext4 on a RAM block device ----------------------------
# tmpfs has no O_DIRECT in Linux 6.1, and the scenarios use cache=none.
ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
t0=$(ms)
if modprobe brd rd_nr=1 rd_size=$((XE_SCRATCH_MB * 1024)) max_part=0 && t1=$(ms) &&
   mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1,nodiscard /dev/ram0 && t2=$(ms) &&
   mount -o noatime /dev/ram0 /tmp; then
    chmod 1777 /tmp
    say "scratch: ext4 on /dev/ram0 (${XE_SCRATCH_MB} MiB, RAM) on /tmp (modprobe $((t1 - t0)) ms, mkfs $((t2 - t1)) ms, mount $(( $(ms) - t2 )) ms)"
else
    infra "scratch disk (brd + ext4) setup failed"
fi

# ---- the Xen toolstack ----------------------------------------------------
[ -e /proc/xen/privcmd ] || infra "xenfs not mounted (not running as Xen dom0?)"
mkdir -p /run/xen /run/xenstored /var/run/xen /var/log/xen /var/lib/xen
export XENSTORED_ROOTDIR=/run/xenstored
xenstored --pid-file /run/xenstored.pid || infra "xenstored did not start"
for _ in $(seq 60); do xenstore-read -s / >/dev/null 2>&1 && break; sleep 0.5; done
xenstore-read -s / >/dev/null 2>&1 || infra "xenstored does not answer"
timeout 60 xen-init-dom0 > "$XE_OUT/xen-init-dom0.log" 2>&1 || infra "xen-init-dom0 failed: $(tail -n1 "$XE_OUT/xen-init-dom0.log")"
xenconsoled --pid-file /run/xenconsoled.pid --log=guest --log-dir="$XE_OUT/console" ||
    infra "xenconsoled did not start"
timeout 60 xl info > "$XE_OUT/xl-info.txt" 2>&1 || infra "xl info failed: $(tail -n1 "$XE_OUT/xl-info.txt")"
say "$(grep -E '^xen_version' "$XE_OUT/xl-info.txt" | tr -s ' ')"

# ---- sanitizer build: reports go to the share, run.sh fails on any -------
# Leaks are not checked (QEMU's exit path leaks by design; the request
# engine's leaks are covered by the libFuzzer run with LeakSanitizer).
if [ "${XE_SANITIZERS:-0}" = 1 ]; then
    mkdir -p "$XE_OUT/sanitizers"
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=0:log_path=$XE_OUT/sanitizers/asan"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$XE_OUT/sanitizers/ubsan"
    say "sanitizer build: ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS"
fi

# ---- the project's QEMU (from the share; copied, so a host rebuild during
# the run cannot change it under us) ----------------------------------------
say "toolstack up; copying the project's QEMU"
for b in qemu-system-x86_64 qemu-img; do
    if [ -x "/xe/bin/$b" ]; then
        cp "/xe/bin/$b" "/usr/local/bin/$b"
    fi
done
if [ -d /xe/bin/keymaps ]; then
    mkdir -p /usr/local/share/qemu && cp -r /xe/bin/keymaps /usr/local/share/qemu/
fi
if [ -x /usr/local/bin/qemu-system-x86_64 ]; then
    export XE_QEMU=/usr/local/bin/qemu-system-x86_64 XE_QEMU_IMG=/usr/local/bin/qemu-img
    missing=$(ldd "$XE_QEMU" /usr/local/bin/qemu-img 2>&1 | grep 'not found' | sort -u | tr "\n" " ")
    [ -z "$missing" ] || say "WARNING: the project's QEMU misses libraries in dom0: $missing"
    "$XE_QEMU" -version | head -n1 > "$XE_OUT/qemu-version.txt" 2>&1
    say "QEMU: $(cat "$XE_OUT/qemu-version.txt")"
else
    export XE_QEMU="" XE_QEMU_IMG=""
    say "no project QEMU on the share (scenarios that need it will fail)"
fi
cat > /usr/local/bin/xe-exit <<'EOF'
#!/bin/sh
# xe-exit [VALUE]: stop the outer VM (isa-debug-exit; QEMU exits with 2*VALUE+1)
printf "\\$(printf '%03o' "${1:-0}")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
EOF
chmod +x /usr/local/bin/xe-exit
stage toolstack-up

# ---- the scenario -----------------------------------------------------------
scen="$XE_HARNESS/scenarios/$XE_SCENARIO.sh"
[ -f "$scen" ] || infra "no scenario $XE_SCENARIO on the share"
stage scenario-start
touch "$XE_OUT/checks"
cd /tmp || true
timeout -k 10 "$XE_SCENARIO_TIMEOUT" bash "$scen" > >(tee "$XE_OUT/scenario.log") 2>&1
rc=$?
[ "$rc" = 124 ] && echo "FAIL timeout: scenario still running after ${XE_SCENARIO_TIMEOUT} s (dom0 timeout)" >> "$XE_OUT/checks"
# Guest checks the scenario did not get to merge (it failed or timed out
# before domu_wait): merge them now, so that no result is lost.
for log in "$XE_OUT"/console/guest-*.log; do
    [ -e "$log" ] || continue
    g=${log##*/guest-}
    g=${g%.log}
    done_n=$(cat "$XE_OUT/console/.merged-$g" 2>/dev/null || echo 0)
    tr -d '\r' < "$log" | grep -o 'CHECK \(PASS\|FAIL\) .*' | cut -d' ' -f2- | tail -n +$((done_n + 1)) |
    while read -r st rest; do
        if [ "$st" = PASS ]; then echo "PASS $rest"; else echo "FAIL ${rest%%: *}: ${rest#*: }"; fi
    done >> "$XE_OUT/checks"
    if [ ! -e "$XE_OUT/console/.merged-$g" ] && [ -s "$log" ] && ! grep -q 'DONE rc=' "$log"; then
        echo "FAIL $g-done: the scenario ended before guest $g finished; its last line: $(tr -d '\r' < "$log" | grep -v '^$' | tail -n 1 | cut -c1-200)" >> "$XE_OUT/checks"
    fi
done
stage "scenario-end $rc"
collect
sleep 1
if [ "$rc" = 0 ] && ! grep -q '^FAIL' "$XE_OUT/checks" && grep -q '^PASS' "$XE_OUT/checks"; then
    xe_exit 0
fi
xe_exit 1
