#!/bin/bash
# Build (or reuse) the images of the nested-Xen end-to-end harness, from
# Debian packages only. Everything lands under $XE_CACHE (default
# ~/.cache/xen-pvscsi/e2e); each artefact is rebuilt only when what it was
# built from changes:
#
#   kernel/    xen.elf (gunzipped hypervisor: QEMU's multiboot loader cannot
#              read xen.gz), vmlinuz and its modules, from the .debs of
#              xen-hypervisor-4.17-amd64 and the kernel linux-image-amd64
#              points to ("apt-get download" + "dpkg-deb -x": nothing is
#              installed on the host). Key: the two package versions.
#   rootfs/    debootstrap --variant=minbase bookworm with the dom0 package
#              list plus the runtime libraries of the project's QEMU (found
#              with ldd + dpkg -S on this machine), then brought to this
#              machine's apt candidate versions. Key: the package list and
#              the candidate versions of its packages.
#   dom0.cpio  rootfs + kernel modules + lib/dom0-init as /init, one
#              uncompressed newc initramfs (unpacking is cheaper than
#              decompressing under TCG). Key: rootfs + kernel + module list
#              + dom0-init + this script.
#   domu.cpio.gz / domu-fat.cpio.gz
#              busybox, the frontends and the SCSI/ext4 tools (fat: + fio)
#              with lib/guest-init as /init. Key: rootfs + kernel + guest
#              module/tool lists + guest-init + this script.
#
# The project's QEMU is NOT in any image: run.sh passes it to dom0 through
# the 9p share on every run, with the scenario scripts. A QEMU rebuild
# changes no image unless it starts to need other shared libraries.
#
# images.sha256, next to images.env: the sha256 of each image (sha256sum
# format, paths relative to $XE_CACHE), rewritten when an image is newer.
# The images are not reproducible (debootstrap, timestamps), so the QEMU
# functional test tests/functional/test_x86_64_xen_pvscsi.py pins its
# assets against this manifest.
#
# Usage: tests/xen-e2e/images.sh [--force]   (--force: rebuild everything)
#        tests/xen-e2e/images.sh --manifest  (only (re)write images.sha256)
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
# shellcheck source=lib/host.sh
. "$(dirname "$0")/lib/host.sh"

FORCE=0
[ "${1:-}" = --force ] && FORCE=1

# write_manifest: $XE_CACHE/images.sha256 for the images images.env names,
# unless it exists and no image is newer than it.
MANIFEST_FILES="kernel/xen.elf kernel/vmlinuz kernel/vmlinux dom0.cpio domu.cpio.gz domu-fat.cpio.gz"
write_manifest() {
    local m="$XE_CACHE/images.sha256" f stale=0
    for f in $MANIFEST_FILES; do
        [ -f "$XE_CACHE/$f" ] || xe_die "manifest: $XE_CACHE/$f missing (build the images first)"
        [ -f "$m" ] && [ ! "$XE_CACHE/$f" -nt "$m" ] || stale=1
    done
    if [ "$stale" = 0 ] && [ "$FORCE" = 0 ]; then
        xe_log "manifest: up to date ($m)"
        return
    fi
    # shellcheck disable=SC2086
    (cd "$XE_CACHE" && sha256sum $MANIFEST_FILES) > "$m.tmp"
    mv "$m.tmp" "$m"
    xe_log "manifest: $m"
}

# dom0 userland. xen-utils-4.17: xl, xenstored, xenconsoled, libxl;
# xenstore-utils: xenstore-read/write/ls/chmod; cpio: per-scenario domU
# ramdisk segments; the rest are test tools.
DOM0_PKGS="xen-utils-4.17 xenstore-utils busybox-static kmod cpio sg3-utils fio tgt
 lsscsi mt-st e2fsprogs iproute2 procps libiscsi7 liburing2 libaio1
 libglib2.0-0 libfdt1"
DOM0_MODS="xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xen-blkback
 xen-scsiback target_core_mod target_core_file target_core_iblock
 target_core_user scsi_debug sd_mod sg st sr_mod loop brd null_blk ext4
 crc32c_generic configfs virtio_pci virtio-rng 9p 9pnet_virtio"
# xen-evtchn, xen-gntalloc: the userspace frontend of pvscsi-rogue
# (/dev/xen/evtchn, /dev/xen/gntalloc; /dev/xen/xenbus is built in).
DOMU_MODS="xen-scsifront xen-blkfront sd_mod sg st ext4 crc32c_generic
 xen-evtchn xen-gntalloc"
# Binaries copied into the domU (from rootfs), with their libraries.
# /bin/sh is dash: Debian's static busybox prefers its own applets over
# PATH in its shell, so "lsscsi" or "mt" there would not be the real tools.
DOMU_BINS="/usr/bin/dash /usr/bin/lsscsi /bin/mt-st /sbin/stinit /sbin/mke2fs /sbin/e2fsck
 /sbin/tune2fs /sbin/dumpe2fs /usr/bin/sg_inq /usr/bin/sg_readcap
 /usr/bin/sg_luns /usr/bin/sg_vpd /usr/bin/sg_reset /usr/bin/sg_turs
 /usr/bin/sg_requests /usr/bin/sg_modes /usr/bin/sg_logs /usr/bin/sg_raw
 /usr/bin/sg_dd /usr/bin/sg_sync /usr/bin/sg_unmap /usr/bin/sg_write_same
 /usr/bin/sg_get_lba_status /usr/bin/sg_opcodes /usr/bin/sg_start
 /usr/bin/sg_verify /usr/bin/sg_map26 /usr/bin/sg_scan /usr/bin/sg_persist
 /usr/bin/sg_rtpg /usr/bin/sg_senddiag /usr/bin/sg_prevent /usr/bin/sg_rbuf
 /usr/bin/sg_read_buffer /usr/bin/sg_write_buffer /usr/bin/sg_decode_sense
 /usr/bin/sg_compare_and_write /usr/bin/sg_read_block_limits /usr/bin/sg_ident"
DOMU_FAT_BINS="/usr/bin/fio"

mkdir -p "$XE_CACHE"
exec 9>"$XE_CACHE/.images.lock"
flock -w 3600 9 || xe_die "another images.sh holds $XE_CACHE/.images.lock"
if [ "${1:-}" = --manifest ]; then
    write_manifest
    exit 0
fi

SELF_HASH=$(xe_hash < "$0")
stamp() { date +%s; }
took() { echo "$(( $(stamp) - $1 )) s"; }
uptodate() { [ "$FORCE" = 0 ] && [ -e "$1" ] && [ "$(cat "$2" 2>/dev/null)" = "$3" ]; }

case "$(apt-cache policy xen-hypervisor-4.17-amd64 2>/dev/null)" in *"Candidate: "[0-9]*) ;; *)
    xe_log "apt lists do not know xen-hypervisor-4.17-amd64: running apt-get update"
    apt-get -q update >/dev/null;;
esac

# --------------------------------------------------------------- kernel/ ---
K="$XE_CACHE/kernel"
KPKG=$(xe_kernel_pkg)
[ -n "$KPKG" ] || xe_die "cannot resolve the kernel package of linux-image-amd64 (apt-get update?)"
KERNEL_KEY=$(xe_candidates xen-hypervisor-4.17-amd64 "$KPKG" | tr '\n' ' ')
if uptodate "$K/xen.elf" "$K.key" "$KERNEL_KEY"; then
    xe_log "kernel: up to date ($KERNEL_KEY)"
else
    t0=$(stamp)
    xe_log "kernel: downloading $KERNEL_KEY"
    mkdir -p "$XE_CACHE/debs"
    # shellcheck disable=SC2046
    (cd "$XE_CACHE/debs" && apt-get -q -o APT::Sandbox::User=root download \
        $(echo "$KERNEL_KEY" | awk '{for (i = 1; i < NF; i += 2) printf "%s=%s ", $i, $(i+1)}') >/dev/null) ||
        xe_die "apt-get download of the hypervisor/kernel failed"
    rm -rf "$K.tmp"
    mkdir -p "$K.tmp/root"
    xe_log "kernel: unpacking"
    for p in xen-hypervisor-4.17-amd64 "$KPKG"; do
        v=$(echo "$KERNEL_KEY" | tr ' ' '\n' | grep -A1 -x "$p" | tail -n1)
        dpkg-deb -x "$XE_CACHE/debs/${p}_${v#*:}_amd64.deb" "$K.tmp/root"
    done
    zcat "$K.tmp"/root/boot/xen-4.17-amd64.gz > "$K.tmp/xen.elf"
    cp "$K.tmp"/root/boot/vmlinuz-* "$K.tmp/vmlinuz"
    kv=$(ls "$K.tmp/root/lib/modules")
    cp "$K.tmp/root/boot/config-$kv" "$K.tmp/config"
    echo "$kv" > "$K.tmp/kver"
    depmod -b "$K.tmp/root" "$kv"
    grep -q '^CONFIG_XEN_SCSI_FRONTEND=m' "$K.tmp/config" || xe_die "kernel $kv has no xen-scsifront module"
    rm -rf "$K"
    mv "$K.tmp" "$K"
    echo "$KERNEL_KEY" > "$K.key"
    rm -f "$XE_CACHE/debs/"*.deb
    xe_log "kernel: $kv ready in $(took "$t0")"
fi
KV=$(cat "$K/kver")
MODROOT="$K/root"

# The domUs boot vmlinux, the ELF inside vmlinuz, uncompressed: otherwise
# libxc in dom0 unxz's the kernel at every "xl create", about 5-10 s under
# TCG. (dom0's kernel is loaded by Xen itself and stays vmlinuz.)
if ! uptodate "$K/vmlinux" "$K/vmlinux.key" "$KERNEL_KEY"; then
    off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$K/vmlinuz" | head -n 1 | cut -d: -f1)
    { [ -n "$off" ] && tail -c +$((off + 1)) "$K/vmlinuz" | xz -dc --single-stream > "$K/vmlinux.tmp" 2>/dev/null; } || true
    if [ "$(head -c 4 "$K/vmlinux.tmp" 2>/dev/null | od -An -c | tr -d ' ')" = 177ELF ]; then
        mv "$K/vmlinux.tmp" "$K/vmlinux"
        xe_log "kernel: extracted the uncompressed vmlinux for the domUs ($(du -h "$K/vmlinux" | cut -f1))"
    else
        xe_log "kernel: could not extract vmlinux (not an xz bzImage?); domUs boot vmlinuz"
        rm -f "$K/vmlinux.tmp"
        cp "$K/vmlinuz" "$K/vmlinux"
    fi
    echo "$KERNEL_KEY" > "$K/vmlinux.key"
fi

# --------------------------------------------------------------- rootfs/ ---
R="$XE_CACHE/rootfs"
QEMU_PKGS=$(xe_qemu_runtime_pkgs | tr '\n' ' ')
# shellcheck disable=SC2086
ALL_PKGS=$(printf '%s\n' $DOM0_PKGS $QEMU_PKGS | sort -u | tr '\n' ' ')
# shellcheck disable=SC2086
ROOTFS_KEY=$( { echo "$XE_SUITE $ALL_PKGS"; xe_candidates $ALL_PKGS; } | xe_hash)
if uptodate "$R/usr/sbin/xl" "$R.key" "$ROOTFS_KEY"; then
    xe_log "rootfs: up to date"
else
    t0=$(stamp)
    uri=$(xpv_debian_uri)
    [ -n "$uri" ] || xe_die "no Debian archive in this machine's apt sources (apt-get update, or set XPV_DEBIAN_URI)"
    rm -rf "$R.tmp"
    xe_log "rootfs: debootstrap $XE_SUITE minbase + $(echo "$ALL_PKGS" | wc -w) packages (about 1-2 min)"
    debootstrap --variant=minbase --include="$(echo "$ALL_PKGS" | tr ' ' ',' | sed 's/,$//')" \
        "$XE_SUITE" "$R.tmp" "$uri" > "$XE_CACHE/debootstrap.log" 2>&1 || {
        tail -n 20 "$XE_CACHE/debootstrap.log" >&2
        xe_die "debootstrap failed; log: $XE_CACHE/debootstrap.log"
    }
    xe_log "rootfs: debootstrap done in $(took "$t0")"
    # debootstrap only sees the suite itself; bring the packages to the
    # versions this machine's apt would install (e.g. security updates),
    # downloading them with the host's apt configuration.
    dpkg-query --admindir="$R.tmp/var/lib/dpkg" -W -f '${Package} ${Version}\n' | sort > "$R.tmp/.have"
    # shellcheck disable=SC2046
    xe_candidates $(cut -d' ' -f1 "$R.tmp/.have") | sort > "$R.tmp/.want"
    upd=$(join "$R.tmp/.have" "$R.tmp/.want" | awk '$2 != $3 && $3 != "(none)" {print $1 "=" $3}')
    if [ -n "$upd" ]; then
        xe_log "rootfs: updating $(echo "$upd" | wc -l) packages to this machine's candidate versions"
        mkdir -p "$R.tmp/var/cache/xe-upd"
        # dpkg -i unpacks all the archives before it configures any, so
        # it refuses a package that pre-depends on the newer version of
        # another (libpam-modules on libpam-modules-bin: unpacked, not yet
        # configured); a second pass installs what the first refused.
        # shellcheck disable=SC2086
        if ! (cd "$R.tmp/var/cache/xe-upd" && apt-get -q -o APT::Sandbox::User=root download $upd >/dev/null); then
            xe_log "rootfs: WARNING: could not download the updates; keeping the suite versions"
        elif ! chroot "$R.tmp" sh -c 'dpkg -i /var/cache/xe-upd/*.deb ||
                 { echo "== second pass"; dpkg -i /var/cache/xe-upd/*.deb; }' \
                 > "$XE_CACHE/rootfs-update.log" 2>&1; then
            xe_log "rootfs: WARNING: update failed twice (see $XE_CACHE/rootfs-update.log); some packages may be at the suite's versions"
        fi
        rm -rf "$R.tmp/var/cache/xe-upd"
    fi
    rm -f "$R.tmp/.have" "$R.tmp/.want"
    # Not needed at run time: documentation, locales, apt's caches.
    rm -rf "$R.tmp"/usr/share/doc "$R.tmp"/usr/share/man "$R.tmp"/usr/share/info \
        "$R.tmp"/usr/share/locale "$R.tmp"/var/cache/apt/archives/*.deb \
        "$R.tmp"/var/cache/apt/*.bin "$R.tmp"/var/lib/apt/lists/*
    rm -rf "$R"
    mv "$R.tmp" "$R"
    echo "$ROOTFS_KEY" > "$R.key"
    xe_log "rootfs: ready in $(took "$t0"), $(du -sh "$R" | cut -f1)"
fi

# Copy the dependency closure of kernel modules into DEST/usr/lib/modules.
copy_modules() {
    local dest=$1 ko rel; shift
    mkdir -p "$dest/usr/lib/modules/$KV"
    for m in "$@"; do
        modprobe -d "$MODROOT" -S "$KV" --show-depends "$m" ||
            xe_die "module $m not found in $KV"
    done | awk '$1 == "insmod" {print $2}' | sort -u | while read -r ko; do
        rel=${ko#"$MODROOT/lib/modules/$KV/"}
        mkdir -p "$dest/usr/lib/modules/$KV/$(dirname "$rel")"
        cp "$ko" "$dest/usr/lib/modules/$KV/$rel"
    done
    cp "$MODROOT/lib/modules/$KV"/modules.{order,builtin,builtin.modinfo} "$dest/usr/lib/modules/$KV/"
    depmod -b "$dest/usr" "$KV"
}

# ------------------------------------------------------------- dom0.cpio ---
D0="$XE_CACHE/dom0.cpio"
DOM0_KEY=$( { echo "$ROOTFS_KEY $KERNEL_KEY $DOM0_MODS $SELF_HASH"; cat "$XE_DIR/lib/dom0-init"; } | xe_hash)
if uptodate "$D0" "$D0.key" "$DOM0_KEY"; then
    xe_log "dom0 initramfs: up to date"
else
    t0=$(stamp)
    xe_log "dom0 initramfs: packing"
    ov="$XE_CACHE/dom0-overlay"
    rm -rf "$ov"
    mkdir -p "$ov"
    # shellcheck disable=SC2086
    copy_modules "$ov" $DOM0_MODS
    install -m 0755 "$XE_DIR/lib/dom0-init" "$ov/init"
    mkdir -p "$ov/var/lib/xen" "$ov/var/log/xen/console" "$ov/var/lib/xenstored" \
        "$ov/etc/xen" "$ov/xe" "$ov/usr/local/bin"
    # Two newc archives back to back: the kernel unpacks both, the second
    # (modules, /init) over the first (the debootstrap tree), so the tree is
    # never copied. The overlay uses usr/lib (lib is a symlink in rootfs).
    # Left out of dom0 (unused, about 55 MB less to copy under TCG at each
    # boot): udev's hwdb, python (pygrub), HVM firmware.
    { (cd "$XE_CACHE/rootfs" && find . \( -path ./usr/lib/udev/hwdb.bin -o -path './usr/lib/python3*' \
            -o -path ./usr/lib/xen-4.17/boot \) -prune -o -print0 | cpio --null -o -H newc --quiet)
      (cd "$ov" && find . -print0 | cpio --null -o -H newc --quiet); } > "$D0.tmp"
    mv "$D0.tmp" "$D0"
    echo "$DOM0_KEY" > "$D0.key"
    rm -rf "$ov"
    xe_log "dom0 initramfs: $(du -h "$D0" | cut -f1) in $(took "$t0")"
fi

# ---------------------------------------------------------- domU images ---
# Copy binaries with their shared libraries (resolved inside rootfs).
copy_bins() {
    local dest=$1 b lib; shift
    for b in "$@"; do
        [ -e "$R$b" ] || xe_die "$b is not in the rootfs"
        mkdir -p "$dest$(dirname "$b")"
        cp -L "$R$b" "$dest$b"
        chroot "$R" ldd "$b" | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}' |
        while read -r lib; do
            [ -e "$dest$lib" ] && continue
            mkdir -p "$dest$(dirname "$lib")"
            cp -L "$R$lib" "$dest$lib"
        done
    done
}

build_domu() {   # build_domu OUT EXTRA_BINS...
    local out=$1 key d t0; shift
    key=$( { echo "$ROOTFS_KEY $KERNEL_KEY $DOMU_MODS $DOMU_BINS $* $SELF_HASH"; cat "$XE_DIR/lib/guest-init"; } | xe_hash)
    if uptodate "$out" "$out.key" "$key"; then
        xe_log "$(basename "$out"): up to date"
        return
    fi
    t0=$(stamp)
    d="$XE_CACHE/domu-root"
    rm -rf "$d"
    mkdir -p "$d"/usr/{bin,sbin,lib,lib64} "$d"/{proc,sys,dev,tmp,run,etc,root,xe}
    # merged-/usr layout, like the rootfs the binaries come from
    ln -s usr/bin "$d/bin"; ln -s usr/sbin "$d/sbin"; ln -s usr/lib "$d/lib"; ln -s usr/lib64 "$d/lib64"
    cp /bin/busybox "$d/usr/bin/busybox"
    # shellcheck disable=SC2086
    copy_modules "$d" $DOMU_MODS
    # shellcheck disable=SC2086
    copy_bins "$d" $DOMU_BINS "$@"
    ln -s dash "$d/usr/bin/sh"
    ln -s mt-st "$d/usr/bin/mt"
    for l in mkfs.ext4 mkfs.ext2; do ln -s mke2fs "$d/usr/sbin/$l"; done
    ln -s e2fsck "$d/usr/sbin/fsck.ext4"
    cp "$R/etc/mke2fs.conf" "$d/etc/"
    echo "root:x:0:0:root:/root:/bin/sh" > "$d/etc/passwd"
    echo "root:x:0:" > "$d/etc/group"
    install -m 0755 "$XE_DIR/lib/guest-init" "$d/init"
    (cd "$d" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -6 > "$out.tmp"
    mv "$out.tmp" "$out"
    echo "$key" > "$out.key"
    xe_log "$(basename "$out"): $(du -sh "$d" | cut -f1) unpacked, $(du -h "$out" | cut -f1) gzipped, in $(took "$t0")"
    rm -rf "$d"
}
build_domu "$XE_CACHE/domu.cpio.gz"
# shellcheck disable=SC2086
build_domu "$XE_CACHE/domu-fat.cpio.gz" $DOMU_FAT_BINS

cat > "$XE_CACHE/images.env.tmp" <<EOF
XE_IMG_XEN=$K/xen.elf
XE_IMG_VMLINUZ=$K/vmlinuz
XE_IMG_VMLINUX=$K/vmlinux
XE_IMG_KVER=$KV
XE_IMG_DOM0=$D0
XE_IMG_DOMU=$XE_CACHE/domu.cpio.gz
XE_IMG_DOMU_FAT=$XE_CACHE/domu-fat.cpio.gz
EOF
mv "$XE_CACHE/images.env.tmp" "$XE_CACHE/images.env"
write_manifest
xe_log "images ready: $XE_CACHE/images.env"
