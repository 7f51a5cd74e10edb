#!/bin/bash
# Install every build and test dependency of xen-pvscsi from Debian's
# packages. Idempotent: a fast no-op when everything is present.
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
. "$(dirname "$0")/common.sh"

# Build of QEMU (x86_64-softmmu with xen, kvm, libiscsi, linux-aio, io_uring).
BUILD_PKGS="gcc make ninja-build pkg-config python3 python3-venv ccache
 libglib2.0-dev zlib1g-dev libfdt-dev libpixman-1-dev libxen-dev libiscsi-dev libaio-dev liburing-dev
 dpkg-dev xz-utils bzip2 git perl rsync patch"
# Unit tests, fuzzing, sanitizers; make bench-native: valgrind (instructions
# per request).
TEST_PKGS="clang libclang-rt-14-dev valgrind"
# The nested-Xen end-to-end harness (outer VM, images built from packages).
# make bench: strace (copied into dom0 for its syscall pass) and gnuplot-nox
# (the ratio chart).
E2E_PKGS="qemu-system-x86 qemu-utils busybox-static cpio debootstrap kmod
 sg3-utils strace gnuplot-nox"
# From bookworm-backports (QEMU 10.0 needs meson >= 1.5).
BPO_PKGS="meson python3-pycotap"

missing=()
for p in $BUILD_PKGS $TEST_PKGS $E2E_PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
meson_ok() {
    command -v /usr/bin/meson >/dev/null &&
        dpkg --compare-versions "$(dpkg-query -W -f='${Version}' meson 2>/dev/null || echo 0)" ge 1.5 &&
        dpkg-query -W -f='${Status}\n' python3-pycotap 2>/dev/null | grep -q 'ok installed'
}
if [ ${#missing[@]} -eq 0 ] && meson_ok; then
    xpv_log "dependencies: all present"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
    xpv_log "installing: ${missing[*]}"
    apt-get -q update >/dev/null || apt-get update
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
if ! meson_ok; then
    xpv_private_apt
    xpv_log "installing from bookworm-backports: $BPO_PKGS"
    d="$XPV_CACHE/apt/archives"
    # shellcheck disable=SC2086
    (cd "$d" && apt-get "${XPV_APT_OPTS[@]}" -q download $BPO_PKGS >&2)
    debs=()
    for p in $BPO_PKGS; do
        f=$(ls -t "$d"/"${p}"_*.deb | head -n1)
        debs+=("$f")
    done
    apt-get install -y -q --no-install-recommends "${debs[@]}" >&2
    meson_ok || xpv_die "meson >= 1.5 / python3-pycotap still missing after install"
fi
xpv_log "dependencies: done"
