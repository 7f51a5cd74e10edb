#!/usr/bin/env python3
#
# xen-pvscsi (the vscsiif backend) serving a LUN to a Linux PV guest
#
# test_pvscsi_nested_xen: real Xen 4.17 boots nested under TCG, with the
# QEMU binary under test as the outer VM. dom0 runs that same binary as
# the device model of a PV guest: -device xen-pvscsi plus a scsi-hd LUN
# at 0:1:0. From the console, the guest's unmodified xen-scsifront must
# show the LUN (lsscsi) and read back what it wrote (md5).
#
# test_pvscsi_kvm_xen: the same guest checks under QEMU's KVM Xen
# emulation, if the host kernel offers KVM_CAP_XEN_HVM.
#
# Assets: Xen, the Debian kernel, dom0's initramfs (a debootstrap tree
# with the Xen 4.17 tools) and the guest's initramfs, built locally by
# the xen-pvscsi project's tests/xen-e2e/images.sh (Debian packages; not
# reproducible, so they are pinned by the sha256 manifest images.sha256
# that images.sh writes next to them). Directory: $XE_CACHE, default
# $XPV_CACHE/e2e, default ~/.cache/xen-pvscsi/e2e. The test skips, saying
# why, when they are absent or do not match the manifest.
#
# This QEMU build has neither virtfs nor slirp: what dom0 needs (this
# QEMU binary, the guest's kernel, ramdisk and config, the scripts) goes
# into a cpio archive appended to dom0's initramfs, whose /init it
# replaces.
#
# One nested Xen at a time per machine: the outer VM runs under the flock
# of $XE_CACHE/outer-vm.lock, as the e2e harness's boots do, and waits
# while $XE_CACHE/outer-vm.hold names a live process (unless
# XE_PRIORITY=1); XPV_FT_OUTER_VM_LOCKED=1 says the caller holds it.
#
# XPV_FT_QEMU_LUN=C:T:L puts the LUN at another address on dom0's QEMU
# command line while the guest still looks for 0:1:0: the test then
# fails, which shows what its failure looks like.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import errno
import fcntl
import logging
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time

from qemu.machine import machine

from qemu_test import QemuSystemTest, Asset, exec_command
from qemu_test.asset import AssetError


def _e2e_cache():
    if os.environ.get('XE_CACHE'):
        return os.environ['XE_CACHE']
    cache = os.environ.get('XPV_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'),
        'xen-pvscsi')
    return os.path.join(cache, 'e2e')


E2E_CACHE = _e2e_cache()
MANIFEST = os.path.join(E2E_CACHE, 'images.sha256')


def _read_manifest():
    pins = {}
    try:
        with open(MANIFEST, encoding='utf-8') as f:
            for line in f:
                fields = line.split()
                if len(fields) == 2 and re.fullmatch('[0-9a-f]{64}', fields[0]):
                    pins[fields[1].lstrip('*')] = fields[0]
    except OSError:
        pass
    return pins


_PINS = _read_manifest()


class LocalAsset(Asset):
    """An image built on this machine (a file:// URL), pinned by sha256.
    fetch() copies it into the asset cache under its hash, as a download
    would be, once the copy matches the pin; else AssetError (transient:
    nothing to download). Being a subclass, the framework's pre-caching,
    which fetches plain Assets, leaves it alone."""

    def fetch(self):
        if self.valid():
            return str(self.cache_file)
        src = self.url[len('file://'):]
        if not os.path.exists(src):
            raise AssetError(self, 'absent (the xen-pvscsi project\'s '
                             'tests/xen-e2e/images.sh builds it)',
                             transient=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_file.with_suffix('.%d.tmp' % os.getpid())
        shutil.copyfile(src, tmp)
        if not self._check(tmp):
            tmp.unlink()
            raise AssetError(self, 'does not match its sha256 %s in %s '
                             '(rebuilt since? rerun tests/xen-e2e/images.sh)'
                             % (self.hash, MANIFEST), transient=True)
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP)
        tmp.replace(self.cache_file)
        self.log.info('cached %s as %s', src, self.cache_file)
        return str(self.cache_file)


def _local_asset(rel):
    """The LocalAsset of an image of the e2e cache, pinned by the manifest."""
    if rel not in _PINS:
        return None
    return LocalAsset('file://' + os.path.join(E2E_CACHE, rel), _PINS[rel])


class CpioWriter:
    """A newc (SVR4, no CRC) cpio archive, as the Linux initramfs unpacker
    reads it. Parent directories must be added before their entries."""

    def __init__(self, f):
        self.f = f
        self.ino = 0x58500000

    def _entry(self, name, mode, size):
        self.ino += 1
        name_b = name.encode() + b'\0'
        hdr = '070701' + ''.join('%08X' % v for v in (
            self.ino, mode, 0, 0, 2 if mode & 0o40000 else 1, 0, size,
            0, 0, 0, 0, len(name_b), 0))
        self.f.write(hdr.encode() + name_b)
        self.f.write(b'\0' * (-(110 + len(name_b)) % 4))

    def directory(self, name):
        self._entry(name, 0o40755, 0)

    def data(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, len(data))
        self.f.write(data)
        self.f.write(b'\0' * (-len(data) % 4))

    def file(self, name, path, mode=0o644):
        size = os.path.getsize(path)
        self._entry(name, 0o100000 | mode, size)
        with open(path, 'rb') as src:
            shutil.copyfileobj(src, self.f, 1 << 20)
        self.f.write(b'\0' * (-size % 4))

    def close(self):
        self._entry('TRAILER!!!', 0, 0)
        self.f.write(b'\0' * (-self.f.tell() % 512))


# The guest's side. domu.cpio.gz's /init (the e2e harness's guest-init)
# runs /xe/guest.sh with /xe/lib/guest.sh, prints "DONE rc=N" and, as
# /xe/env sets XE_GUEST_SHELL, then offers a shell on its console. Its
# scripts are prepended to it as an uncompressed cpio segment.
GUEST_ENV = "XE_GUEST_NAME='guest'\nXE_GUEST_SHELL='1'\n"
GUEST_LIB = 'xe_guest_exit() { exit 0; }\n'
GUEST_SCRIPT = r'''
for m in xen-scsifront sd_mod sg; do
    modprobe $m || echo "XPVFT-GUEST modprobe $m failed"
done
echo "XPVFT-GUEST-UP $(uname -r)"
'''
# Waits up to 60 s for SCSI devices (and 20 s more for their disks' block
# devices), then prints lsscsi, one "XPVFT-LSSCSI" line per device.
GUEST_LSSCSI = r'''
n=0
i=0
while [ $i -lt 120 ]; do
    n=$(ls /sys/bus/scsi/devices 2>/dev/null | grep -c -E '^[0-9]+:[0-9]+:[0-9]+:[0-9]+$')
    [ "$n" -gt 0 ] && break
    sleep 0.5
    i=$((i + 1))
done
for h in $(ls /sys/bus/scsi/devices | grep -E '^[0-9]+:[0-9]+:[0-9]+:[0-9]+$'); do
    [ "$(cat /sys/bus/scsi/devices/$h/type)" = 0 ] || continue
    i=0
    while [ $i -lt 40 ] && [ -z "$(ls /sys/bus/scsi/devices/$h/block 2>/dev/null)" ]; do
        sleep 0.5
        i=$((i + 1))
    done
done
# the real lsscsi: busybox's sh prefers its own applet of that name
/usr/bin/lsscsi | sed 's/^/XPVFT-LSSCSI /'
[ "$n" -gt 0 ] || dmesg | grep -i -E 'scsi|xen' | tail -n 6 | sed 's/^/XPVFT-KMSG /'
echo "XPVFT-LSSCSI-END n=$n"
'''
# ft-rw.sh C:T:L: 8 MiB of random data written at 8 MiB with O_DIRECT,
# caches dropped, read back with O_DIRECT; prints both md5 sums.
GUEST_RW = r'''
h=$(ls /sys/bus/scsi/devices | grep -E "^[0-9]+:$1\$" | head -n 1)
[ -n "$h" ] || { echo "XPVFT-RW-ERROR no SCSI device at $1"; exit 1; }
b=$(ls /sys/bus/scsi/devices/$h/block 2>/dev/null | head -n 1)
[ -n "$b" ] || { echo "XPVFT-RW-ERROR the SCSI device $h has no block device"; exit 1; }
dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 2>/dev/null
if ! dd if=/tmp/pattern of=/dev/$b bs=1M count=8 seek=8 oflag=direct \
        conv=fsync 2>/tmp/dd.err; then
    echo "XPVFT-RW-ERROR writing /dev/$b failed: $(tail -n 1 /tmp/dd.err)"
    exit 1
fi
echo 3 > /proc/sys/vm/drop_caches
if ! dd if=/dev/$b of=/tmp/readback bs=1M count=8 skip=8 iflag=direct 2>/tmp/dd.err; then
    echo "XPVFT-RW-ERROR reading /dev/$b failed: $(tail -n 1 /tmp/dd.err)"
    exit 1
fi
w=$(md5sum < /tmp/pattern | cut -d' ' -f1)
r=$(md5sum < /tmp/readback | cut -d' ' -f1)
echo "XPVFT-RW dev=/dev/$b written=$w read=$r"
'''

# dom0's /init (replaces the e2e harness's, which mounts a 9p share):
# Xen drivers, xenstored, xen-init-dom0, xenconsoled, then a shell on
# the console.
DOM0_INIT = r'''#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=$PATH:/usr/lib/xen-4.17/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
ln -sfn /proc/self/fd /dev/fd
hostname dom0
shell() {
    while :; do
        setsid -c bash --noprofile --norc --noediting -i </dev/hvc0 >/dev/hvc0 2>&1
        sleep 1
    done
}
fail() { echo "XPVFT-DOM0-FAIL $*"; shell; }
echo "XPVFT-DOM0-INIT at uptime $(cut -d' ' -f1 /proc/uptime) s"
modprobe -a xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd ||
    fail "cannot load the Xen dom0 drivers"
mount -t xenfs xenfs /proc/xen || fail "cannot mount xenfs (not a Xen dom0?)"
# without an RNG, getrandom() blocks for tens of seconds under TCG
modprobe -a virtio_pci virtio-rng
mkdir -p /run/xen /run/xenstored /run/lock /var/run/xen /var/log/xen/console /var/lib/xen
export XENSTORED_ROOTDIR=/run/xenstored
xenstored --pid-file /run/xenstored.pid || fail "xenstored did not start"
i=0
until xenstore-read -s / >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -gt 60 ] && fail "xenstored does not answer"
    sleep 0.5
done
timeout 60 xen-init-dom0 >/tmp/xen-init-dom0.log 2>&1 ||
    fail "xen-init-dom0: $(tail -n 1 /tmp/xen-init-dom0.log)"
xenconsoled --pid-file /run/xenconsoled.pid || fail "xenconsoled did not start"
echo "XPVFT-DOM0-READY at uptime $(cut -d' ' -f1 /proc/uptime) s"
shell
'''

# dom0.sh start|console|stop, typed on dom0's console by the test.
DOM0_SCRIPT = r'''#!/bin/bash
set -u
oneline() { tr -d '\r' | grep -v '^$' | tail -n "${1:-3}" | tr '\n' '|'; }
case $1 in
start)
    truncate -s 64M /tmp/lun.img
    if ! timeout 180 xl create -p /xpvft/guest.cfg >/tmp/xl-create.log 2>&1; then
        echo "XPVFT-START-FAIL xl create: $(oneline < /tmp/xl-create.log)"
        exit 1
    fi
    domid=$(xl domid guest)
    /xpvft/qemu-system-x86_64 -xen-domid "$domid" -xen-attach -M xenpv \
        -nodefaults -display none -monitor none $(cat /xpvft/qemu.args) \
        >/tmp/qemu.log 2>&1 &
    pid=$!
    echo $pid > /tmp/qemu.pid
    be=/local/domain/0/backend/qscsi/$domid
    for _ in $(seq 120); do
        if ! kill -0 $pid 2>/dev/null; then
            wait $pid
            echo "XPVFT-START-FAIL dom0's QEMU exited with $?: $(oneline < /tmp/qemu.log)"
            exit 1
        fi
        if [ -n "$(xenstore-list "$be" 2>/dev/null)" ]; then
            vh=$(xenstore-list "$be" | tr '\n' ' ')
            echo "XPVFT-START-OK domid=$domid qemu=$pid vhost=$vh"
            exit 0
        fi
        sleep 0.5
    done
    echo "XPVFT-START-FAIL no xen-pvscsi backend under $be 60 s after" \
         "QEMU started: $(oneline < /tmp/qemu.log)"
    exit 1 ;;
console)
    (sleep 1; xl unpause guest) &
    xl console guest
    echo "XPVFT-CONSOLE-GONE xl console exited with $?" ;;
stop)
    pid=$(cat /tmp/qemu.pid)
    if kill -0 "$pid" 2>/dev/null; then
        echo "XPVFT-QEMU-ALIVE pid $pid"
    else
        echo "XPVFT-QEMU-DEAD dom0's QEMU exited: $(oneline < /tmp/qemu.log)"
    fi
    xl destroy guest
    kill "$pid" 2>/dev/null ;;
esac
'''

GUEST_CFG = '''name = "guest"
type = "pv"
kernel = "/xpvft/vmlinuz"
ramdisk = "/xpvft/domu-ramdisk"
extra = "console=hvc0 loglevel=4 rdinit=/init"
memory = 512
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
'''

CRASH = r'Kernel panic|\(XEN\) Panic|general protection fault|BUG: kernel NULL'

# KVM_CHECK_EXTENSION, KVM_CAP_XEN_HVM and the Xen HVM features QEMU's
# Xen emulation needs (KVM_XEN_HVM_CONFIG_HYPERCALL_MSR, _INTERCEPT_HCALL,
# _SHARED_INFO), from linux/kvm.h.
KVM_CHECK_EXTENSION = 0xAE03
KVM_CAP_XEN_HVM = 38
KVM_XEN_NEEDED = 0x7


def kvm_xen_unavailable():
    """None if /dev/kvm offers the Xen HVM emulation, else why not."""
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return ('QEMU\'s KVM Xen emulation needs KVM_CAP_XEN_HVM: no KVM on '
                'this host (/dev/kvm: %s)' % os.strerror(e.errno))
    try:
        caps = fcntl.ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_XEN_HVM)
    finally:
        os.close(fd)
    if caps & KVM_XEN_NEEDED != KVM_XEN_NEEDED:
        return ('host KVM has no usable Xen HVM emulation: '
                'KVM_CHECK_EXTENSION(KVM_CAP_XEN_HVM) on /dev/kvm = %#x '
                '(need %#x; Linux >= 5.12 with CONFIG_KVM_XEN)'
                % (caps, KVM_XEN_NEEDED))
    return None


class XenPVSCSI(QemuSystemTest):

    ASSET_XEN = _local_asset('kernel/xen.elf')
    ASSET_KERNEL = _local_asset('kernel/vmlinuz')
    ASSET_DOM0 = _local_asset('dom0.cpio')
    ASSET_DOMU = _local_asset('domu.cpio.gz')

    # the LUN: where dom0's QEMU puts it, where the guest looks for it
    LUN = '0:1:0'

    def setUp(self):
        super().setUp()
        self._lock_fd = None
        self._console_buf = b''
        self._console_tail = []
        self._console_log = logging.getLogger('console')

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # ---------------------------------------------------------- assets --
    def require_local_assets(self, *names):
        """Skip (saying why) unless the named ASSET_s exist and match the
        manifest; return their paths in the asset cache."""
        if not os.path.exists(MANIFEST):
            self.skipTest('no image manifest %s: build the images with the '
                          'xen-pvscsi project\'s tests/xen-e2e/images.sh'
                          % MANIFEST)
        paths = []
        for name in names:
            asset = getattr(self, name)
            if asset is None:
                self.skipTest('%s names no image for %s (rerun '
                              'tests/xen-e2e/images.sh)' % (MANIFEST, name))
            try:
                paths.append(asset.fetch())
            except AssetError as e:
                self.skipTest('asset %s %s' % (asset.url[len('file://'):],
                                               e.msg))
        return paths

    def firmware_args(self, *blobs):
        """-L options for firmware this build does not ship. A build
        configured with --disable-install-blobs (as xen-pvscsi's is) has
        none; the distribution's seabios/qemu-system-data packages do."""
        out = subprocess.run([self.qemu_bin, '-L', 'help'],
                             capture_output=True, text=True).stdout
        dirs = [d for d in out.split('\n') if d]
        extra = []
        for blob in blobs:
            if any(os.path.exists(os.path.join(d, blob)) for d in dirs + extra):
                continue
            for d in ('/usr/share/seabios', '/usr/share/qemu'):
                if os.path.exists(os.path.join(d, blob)):
                    extra.append(d)
                    break
            else:
                self.skipTest('firmware %s is neither in this QEMU\'s data '
                              'directories (%s) nor in /usr/share/seabios or '
                              '/usr/share/qemu' % (blob, ', '.join(dirs)))
        args = []
        for d in extra:
            args += ['-L', d]
        return args

    # ------------------------------------------------------------ lock --
    def _hold_active(self):
        try:
            with open(os.path.join(E2E_CACHE, 'outer-vm.hold')) as f:
                pid = int(f.read().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError) as e:
            return isinstance(e, PermissionError)
        return True

    def take_outer_vm_lock(self):
        """The e2e harness's rule (tests/xen-e2e/lib/boot.sh): one nested
        Xen at a time on a machine; XE_PRIORITY=1 runs go first while
        outer-vm.hold names a live process. XPV_FT_OUTER_VM_LOCKED=1: the
        caller (scripts/xen-pvscsi/functional.sh) holds the lock for us."""
        if os.environ.get('XPV_FT_OUTER_VM_LOCKED') == '1':
            self.log.info('the caller holds outer-vm.lock for this test')
            return
        path = os.path.join(E2E_CACHE, 'outer-vm.lock')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        priority = os.environ.get('XE_PRIORITY') == '1'
        t0 = time.monotonic()
        while True:
            if not priority and self._hold_active():
                self.log.info('waiting: priority runs first (%s)',
                              os.path.join(E2E_CACHE, 'outer-vm.hold'))
                print('# waiting: priority runs first', file=sys.stderr)
                while self._hold_active():
                    time.sleep(10)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                self.log.info('another nested-Xen run holds %s; waiting', path)
                print('# another nested-Xen run holds %s; waiting' % path,
                      file=sys.stderr)
                fcntl.flock(fd, fcntl.LOCK_EX)
            if priority or not self._hold_active():
                break
            fcntl.flock(fd, fcntl.LOCK_UN)
        self._lock_fd = fd
        self.log.info('outer-VM lock taken after %.0f s', time.monotonic() - t0)

    # --------------------------------------------------------- console --
    def expect(self, ok, fail=None, timeout=120, what='', collect=None):
        """Read console lines until one matches the regex ok (returns the
        match, and with collect the lines matching that regex before it).
        A line matching fail, the timeout or the end of the console fail
        the test with what, the line and the last console lines."""
        sock = self.vm.console_socket
        deadline = time.monotonic() + timeout
        lines = []
        while True:
            while b'\n' in self._console_buf:
                raw, self._console_buf = self._console_buf.split(b'\n', 1)
                line = raw.decode(errors='replace').replace('\r', '')
                self._console_log.debug(line)
                self._console_tail = (self._console_tail + [line])[-15:]
                if collect and re.search(collect, line):
                    lines.append(line)
                if fail and re.search(fail, line):
                    self.fail('%s: %s' % (what, line.strip()))
                m = re.search(ok, line)
                if m:
                    return (m, lines) if collect else m
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail('%s: no line matching "%s" on the console within '
                          '%d s; its last lines:\n  %s'
                          % (what, ok, timeout,
                             '\n  '.join(self._console_tail)))
            sock.settimeout(min(left, 5))
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            if not data:
                self.fail('%s: the console closed (QEMU exited?); its last '
                          'lines:\n  %s' % (what, '\n  '.join(self._console_tail)))
            self._console_buf += data

    # --------------------------------------------------- guest checks --
    def check_guest(self, crash):
        """On a console that is the guest's: its shell comes up, lsscsi
        lists the LUN, data written to it reads back."""
        self.expect(r'XPVFT-GUEST-UP', crash, 240, 'guest boot')
        self.expect(r'XE-GUEST: shell on the console', crash, 60,
                    'guest shell')
        t0 = time.monotonic()
        exec_command(self, 'sh /xe/ft-lsscsi.sh')
        m, listed = self.expect(r'XPVFT-LSSCSI-END n=(\d+)', crash, 150,
                                'lsscsi in the guest',
                                collect=r'XPVFT-(LSSCSI|KMSG) ')
        listed = [re.sub(r'^.*?XPVFT-(LSSCSI|KMSG) ', '', l).strip()
                  for l in listed]
        want = (r'^\[\d+:%s\]\s+disk\s+QEMU\s+QEMU HARDDISK'
                % re.escape(self.LUN))
        if m.group(1) == '0':
            self.fail('the guest sees no SCSI device 60 s after xen-scsifront '
                      'was loaded (expected the xen-pvscsi LUN %s); its '
                      'kernel says:\n  %s'
                      % (self.LUN, '\n  '.join(listed) or '(nothing)'))
        if not any(re.match(want, l) for l in listed):
            self.fail('the guest does not see the xen-pvscsi LUN %s as a '
                      'QEMU HARDDISK; its lsscsi lists:\n  %s'
                      % (self.LUN, '\n  '.join(listed)))
        self.log.info('lsscsi after %.0f s: %s', time.monotonic() - t0,
                      ' | '.join(listed))
        exec_command(self, 'sh /xe/ft-rw.sh %s' % self.LUN)
        m = self.expect(r'XPVFT-RW dev=(\S+) written=(\w+) read=(\w+)',
                        r'XPVFT-RW-ERROR|' + crash, 180,
                        'write/read-back on LUN %s' % self.LUN)
        self.assertEqual(m.group(2), m.group(3),
                         'data read back from LUN %s (%s in the guest) is '
                         'not what was written: md5 written %s, read %s'
                         % (self.LUN, m.group(1), m.group(2), m.group(3)))
        self.log.info('LUN %s (%s): 8 MiB written and read back, md5 %s',
                      self.LUN, m.group(1), m.group(2))

    def guest_segment(self, path):
        """The guest's scripts as a cpio segment, then domu.cpio.gz."""
        (domu,) = self.require_local_assets('ASSET_DOMU')
        with open(path, 'wb') as f:
            cpio = CpioWriter(f)
            cpio.directory('xe')
            cpio.directory('xe/lib')
            cpio.data('xe/env', GUEST_ENV.encode())
            cpio.data('xe/lib/guest.sh', GUEST_LIB.encode())
            cpio.data('xe/guest.sh', GUEST_SCRIPT.encode())
            cpio.data('xe/ft-lsscsi.sh', GUEST_LSSCSI.encode(), 0o755)
            cpio.data('xe/ft-rw.sh', GUEST_RW.encode(), 0o755)
            cpio.close()
            with open(domu, 'rb') as src:
                shutil.copyfileobj(src, f, 1 << 20)

    def lun_args(self, image, lun):
        c, t, l = lun.split(':')
        return ['-drive', 'if=none,id=d0,file=%s,format=raw' % image,
                '-device', 'xen-pvscsi,id=vs0',
                '-device', 'scsi-hd,bus=vs0.0,channel=%s,scsi-id=%s,lun=%s,'
                           'drive=d0' % (c, t, l)]

    # ---------------------------------------------------------- nested --
    def test_pvscsi_nested_xen(self):
        xen, kernel, dom0 = self.require_local_assets(
            'ASSET_XEN', 'ASSET_KERNEL', 'ASSET_DOM0')
        firmware = self.firmware_args('bios-256k.bin', 'multiboot_dma.bin')
        qemu_lun = os.environ.get('XPV_FT_QEMU_LUN', self.LUN)
        if not re.fullmatch(r'\d+:\d+:\d+', qemu_lun):
            self.fail('XPV_FT_QEMU_LUN=%s is not C:T:L' % qemu_lun)
        if qemu_lun != self.LUN:
            self.log.info('XPV_FT_QEMU_LUN: dom0\'s QEMU puts the LUN at %s, '
                          'the guest looks for %s', qemu_lun, self.LUN)

        # dom0's initramfs: the e2e dom0.cpio, then our files over it
        t0 = time.monotonic()
        ramdisk = self.scratch_file('domu-ramdisk')
        self.guest_segment(ramdisk)
        qemu = self.scratch_file('qemu-system-x86_64')
        if subprocess.run(['objcopy', '--strip-debug', self.qemu_bin, qemu],
                          capture_output=True).returncode != 0:
            shutil.copyfile(self.qemu_bin, qemu)  # no objcopy: with debug info
        initrd = self.scratch_file('dom0-initrd.cpio')
        with open(initrd, 'wb') as f:
            with open(dom0, 'rb') as src:
                shutil.copyfileobj(src, f, 1 << 20)
            cpio = CpioWriter(f)
            cpio.data('init', DOM0_INIT.encode(), 0o755)
            cpio.directory('xpvft')
            cpio.data('xpvft/dom0.sh', DOM0_SCRIPT.encode(), 0o755)
            cpio.data('xpvft/guest.cfg', GUEST_CFG.encode())
            cpio.data('xpvft/qemu.args', ' '.join(
                self.lun_args('/tmp/lun.img', qemu_lun)).encode())
            cpio.file('xpvft/qemu-system-x86_64', qemu, 0o755)
            cpio.file('xpvft/vmlinuz', kernel)
            cpio.file('xpvft/domu-ramdisk', ramdisk)
            cpio.close()
        os.unlink(qemu)
        self.log.info('dom0 initramfs %s (%d MiB) in %.0f s', initrd,
                      os.path.getsize(initrd) >> 20, time.monotonic() - t0)

        self.set_machine('pc')
        self.vm.set_console()
        self.vm.add_args(
            '-accel', 'tcg,thread=multi', '-cpu', 'qemu64', '-smp', '2',
            '-m', '3072', '-nodefaults', '-no-reboot',
            '-device', 'virtio-rng-pci', *firmware,
            '-kernel', xen,
            '-append', 'console=com1 com1=115200,8n1 dom0_mem=1536M,max:1536M '
                       'dom0_max_vcpus=2 loglvl=all guest_loglvl=all',
            '-initrd', '%s console=hvc0 earlyprintk=xen rdinit=/init,%s'
                       % (kernel, initrd))
        self.take_outer_vm_lock()
        t0 = time.monotonic()
        self.vm.launch()
        fail = r'XPVFT-DOM0-FAIL|' + CRASH
        self.expect(r'XPVFT-DOM0-READY', fail, 420,
                    'dom0 with the Xen toolstack')
        self.log.info('dom0 ready %.0f s after the outer VM started',
                      time.monotonic() - t0)
        exec_command(self, 'bash /xpvft/dom0.sh start')
        m = self.expect(r'XPVFT-START-OK (.*)', r'XPVFT-START-FAIL|' + CRASH,
                        240, 'PV guest created, xen-pvscsi in dom0\'s QEMU')
        self.log.info('guest and device model up: %s', m.group(1))
        exec_command(self, 'bash /xpvft/dom0.sh console')
        self.check_guest(r'xenconsole: |XPVFT-CONSOLE-GONE|' + CRASH)
        self.vm.console_socket.sendall(b'\x1d')  # leave xl console
        time.sleep(1)
        exec_command(self, 'bash /xpvft/dom0.sh stop')
        self.expect(r'XPVFT-QEMU-ALIVE', r'XPVFT-QEMU-DEAD|' + CRASH, 60,
                    'dom0\'s QEMU after the guest checks')
        self.log.info('passed %.0f s after the outer VM started',
                      time.monotonic() - t0)

    # --------------------------------------------------------- KVM Xen --
    def test_pvscsi_kvm_xen(self):
        why = kvm_xen_unavailable()
        if why:
            self.skipTest(why)
        (kernel,) = self.require_local_assets('ASSET_KERNEL')
        firmware = self.firmware_args('bios-256k.bin', 'linuxboot_dma.bin')
        ramdisk = self.scratch_file('domu-ramdisk')
        self.guest_segment(ramdisk)
        image = self.scratch_file('lun.img')
        with open(image, 'wb') as f:
            f.truncate(64 << 20)
        self.set_machine('pc')
        self.vm.set_console()
        self.vm.add_args(
            '-accel', 'kvm,xen-version=0x4000a,kernel-irqchip=split',
            '-smp', '2', '-m', '1024', '-nodefaults', *firmware,
            '-kernel', kernel, '-initrd', ramdisk,
            '-append', 'console=ttyS0 loglevel=4 rdinit=/init',
            *self.lun_args(image, os.environ.get('XPV_FT_QEMU_LUN', self.LUN)))
        self.take_outer_vm_lock()
        try:
            self.vm.launch()
        except machine.VMLaunchFailure as e:
            if 'Xen HVM guest support not present' in e.output:
                self.skipTest('KVM Xen support is not present '
                              '(need v5.12+ kernel with CONFIG_KVM_XEN)')
            if "Property 'kvm-accel.xen-version' not found" in e.output:
                self.skipTest('QEMU not built with CONFIG_XEN_EMU support')
            raise
        self.check_guest(CRASH)


if __name__ == '__main__':
    QemuSystemTest.main()
