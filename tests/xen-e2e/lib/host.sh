# shellcheck shell=bash disable=SC2034
# Host-side settings and helpers of the nested-Xen end-to-end harness.
# Sourced (bash) by images.sh, run.sh, demo.sh and bench.sh; not run.
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Layout under $XE_CACHE (default $XPV_CACHE/e2e):
#   debs/              downloaded .debs (xen hypervisor, kernel)
#   kernel/            xen.elf, vmlinuz, config, lib/modules/KV (unpacked)
#   rootfs/            debootstrap tree: dom0's root and the source of the
#                      domU binaries
#   dom0.cpio          dom0 initramfs (uncompressed newc: rootfs + overlay)
#   domu.cpio.gz       small domU initramfs;  domu-fat.cpio.gz: + fio
#   *.key              what each artefact was built from (rebuilt when the
#                      key changes)
#   images.env         paths of the current artefacts, read by run.sh
#   runs/STAMP/SCEN/   one directory per outer-VM boot (share, logs)

# shellcheck source=../../../scripts/xen-pvscsi/common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/scripts/xen-pvscsi/common.sh"

XE_DIR="$XPV_ROOT/tests/xen-e2e"
: "${XE_CACHE:=$XPV_CACHE/e2e}"
XE_SUITE=bookworm

# Outer VM: Debian's qemu-system-x86_64 with TCG. KVM cannot run Xen on
# this kind of machine, and -cpu max crashes dom0 (SMAP) or is flaky; see
# the nested-xen reference report. qemu64 was reliable.
: "${XE_OUTER_QEMU:=/usr/bin/qemu-system-x86_64}"
: "${XE_ACCEL:=tcg,thread=multi}"
: "${XE_CPU:=qemu64}"
: "${XE_MEM:=3072}"
: "${XE_SMP:=2}"
: "${XE_DOM0_MEM:=1536M}"

xe_log() { printf '[xen-e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
xe_die() { printf '[xen-e2e] ERROR: %s\n' "$*" >&2; exit 1; }

# Short content hash of files and/or strings (stdin).
xe_hash() { sha256sum | cut -c1-16; }

# The kernel package linux-image-amd64 currently points to.
xe_kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

# "pkg version" lines for the apt candidates of the given packages.
xe_candidates() {
    apt-cache policy "$@" 2>/dev/null |
        awk '/^[^ ]/ {p = $1; sub(/:$/, "", p)} /Candidate:/ {print p, $2}'
}

# The project's QEMU binaries (passed to dom0 through 9p; never baked in).
# XE_QEMU_BIN may name another build of the device, e.g. a saved copy of an
# earlier commit's binary, to show that a new check fails without a fix.
: "${XE_QEMU_BIN:=$XPV_BUILD/qemu-system-x86_64}"
: "${XE_QEMU_IMG:=$XPV_BUILD/qemu-img}"

# Debian packages providing the shared libraries of the project's QEMU and
# qemu-img, as installed on this (bookworm) machine. dom0 must have them.
# The dom0 image is keyed on this package list, not on the binary, so a
# rebuild of QEMU does not rebuild images unless its libraries change.
XE_QEMU_PKGS_FALLBACK="libglib2.0-0 libiscsi7 liburing2 libaio1 libfdt1 zlib1g
 libibverbs1 librdmacm1 libxenmisc4.17 libxenstore4"
xe_qemu_runtime_pkgs() {
    local b l p
    for b in "$XE_QEMU_BIN" "$XE_QEMU_IMG"; do
        [ -x "$b" ] || { echo "$XE_QEMU_PKGS_FALLBACK" | tr ' ' '\n'; continue; }
        ldd "$b" | awk '/=> \// {print $3}' | while read -r l; do
            p=$(dpkg -S "$l" 2>/dev/null || dpkg -S "$(realpath "$l")" 2>/dev/null ||
                dpkg -S "/usr$l" 2>/dev/null) || { xe_log "warning: no package owns $l"; continue; }
            p=${p%%:*}
            p=${p%%,*}
            echo "$p"
        done
    # libgcc-s1 is in every minbase (and only the ASan build links it: it
    # must not change the rootfs key between the two builds)
    done | grep -v -x -E 'libc6|libgcc-s1|' | sort -u
}

# xe_bench_prepare NAME: what a bench run needs first: the project QEMU
# and the images (images.env sourced). Sets STAMP, RUN (its run directory
# runs/NAME-STAMP), XE_DIR_TREE (this tree) and STAGE: a copy of the
# harness (lib, scenarios), removed at exit. Point XE_DIR at STAGE before
# xe_boot: edits to the tree while the run waits for the outer-VM lock
# then do not reach it.
xe_bench_prepare() {
    [ -x "$XE_QEMU_BIN" ] || xe_die "no project QEMU at $XE_QEMU_BIN (make build)"
    bash "$XE_DIR/images.sh" || xe_die "images.sh failed"
    # shellcheck disable=SC1091
    . "$XE_CACHE/images.env"
    STAMP=$(date +%Y%m%d-%H%M%S)
    RUN="$XE_CACHE/runs/$1-$STAMP"
    STAGE=$(mktemp -d "/tmp/xe-$1-stage.XXXXXX") || xe_die "mktemp failed"
    # shellcheck disable=SC2064
    trap "rm -rf '$STAGE'" EXIT
    cp -r "$XE_DIR/lib" "$XE_DIR/scenarios" "$STAGE/"
    XE_DIR_TREE=$XE_DIR
}
