#!/usr/bin/env python3
"""Write a seed corpus for tests/fuzz/xen-pvscsi-proto-fuzz.c.

Each seed is a realistic request as Linux xen-scsifront builds it, in the
harness's input layout: the 252-byte ring slot, a 64-byte control block,
then the bytes of the SG-list pages (only for indirect requests).

Usage: xen-pvscsi-proto-seeds.py OUTDIR

SPDX-License-Identifier: GPL-2.0-or-later
"""
import os
import struct
import sys

PAGE = 4096
ACT_CDB, ACT_ABORT, ACT_RESET, ACT_SG_PRESET = 1, 2, 3, 4
DIR_BIDI, DIR_TO, DIR_FROM, DIR_NONE = 0, 1, 2, 3
SG_GRANT = 0x80
CTL_SIZE = 64


def seg(gref, offset, length):
    return struct.pack('<IHH', gref, offset, length)


def slot(rqid, act, cdb, direction, nr_segments, segs, channel=0, target=0,
         lun=0, ref_rqid=0, timeout=30):
    segs = list(segs)
    assert len(segs) <= 26
    body = struct.pack('<HBB16sHHHHHBB', rqid, act, len(cdb),
                       bytes(cdb).ljust(16, b'\0'), timeout, channel, target,
                       lun, ref_rqid, direction, nr_segments)
    body += b''.join(segs).ljust(26 * 8, b'\0')
    body += struct.pack('<III', 0, 0, 0)
    assert len(body) == 252
    return body


def control(max_sg_sel=2, tile_len=128 * 1024, windows=((0, 4096),) * 3,
            sense_len=0x8000, host_status=0, status=0, residual=0, tmf_ok=1):
    """max_sg_sel: 0 -> no feature-sg-grant, 1 -> 26, 2 -> 128, 5 -> 13312.
    sense_len with bit 15 set means "no sense"."""
    c = struct.pack('<HI', max_sg_sel, tile_len)
    for pos, length in windows:
        c += struct.pack('<QI', pos, length)
    c += struct.pack('<HiBIB', sense_len, host_status, status, residual,
                     tmf_ok)
    assert len(c) <= CTL_SIZE
    return c.ljust(CTL_SIZE, b'\0')


def cdb10(op, lba, blocks):
    return struct.pack('>BBIBHB', op, 0, lba, 0, blocks, 0)


def pages_direct(first_gref, nbytes, first_offset=0):
    """Segments as scsifront builds them: one per page piece."""
    out, gref, off, left = [], first_gref, first_offset, nbytes
    while left:
        n = min(PAGE - off, left)
        out.append(seg(gref, off, n))
        gref, off, left = gref + 1, 0, left - n
    return out


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    seeds = {}

    # TEST UNIT READY, no data
    seeds['tur'] = slot(1, ACT_CDB, b'\0' * 6, DIR_NONE, 0, [])
    # INQUIRY, 36 bytes into a buffer at offset 0x240 of one page
    seeds['inquiry'] = slot(2, ACT_CDB, bytes([0x12, 0, 0, 0, 36, 0]),
                            DIR_FROM, 1, [seg(0x100, 0x240, 36)]) + \
        control(windows=((0, 36), (0, 4096), (10, 26)))
    # INQUIRY answered with CHECK CONDITION and 18 bytes of sense
    seeds['inquiry-sense'] = slot(3, ACT_CDB, bytes([0x12, 1, 0x80, 0, 0xff, 0]),
                                  DIR_FROM, 1, [seg(0x101, 0, 255)]) + \
        control(sense_len=18, status=2)
    # READ(10) of 32 KiB, page aligned: 8 segments
    s = pages_direct(0x200, 32768)
    seeds['read10'] = slot(4, ACT_CDB, cdb10(0x28, 2048, 64), DIR_FROM,
                           len(s), s) + \
        control(tile_len=8192, windows=((0, 32768), (4000, 200),
                                        (30000, 10000)))
    # WRITE(10) of 100 KiB from a buffer at offset 512: 26 segments
    s = pages_direct(0x300, 102400, 512)
    assert len(s) == 26
    seeds['write10-unaligned'] = slot(5, ACT_CDB, cdb10(0x2a, 0, 200), DIR_TO,
                                      len(s), s) + \
        control(max_sg_sel=1, windows=((0, 65536), (3584, 4096),
                                       (102000, 1000)), residual=512)
    # READ(16) of 8 KiB
    s = pages_direct(0x400, 8192)
    seeds['read16'] = slot(6, ACT_CDB,
                           struct.pack('>BBQIBB', 0x88, 0, 1 << 33, 16, 0, 0),
                           DIR_FROM, len(s), s, target=3, lun=1)

    # Indirect READ of 512 KiB with feature-sg-grant = 128: 128 elements
    # in a kzalloc'd list at offset 3584, spanning 2 SG pages.
    elems = b''.join(seg(0x1000 + i, 0, PAGE) for i in range(128))
    pg0 = bytearray(PAGE)
    pg1 = bytearray(PAGE)
    pg0[3584:] = elems[:512]
    pg1[:512] = elems[512:]
    seeds['indirect-read-128'] = slot(
        7, ACT_CDB, cdb10(0x28, 0, 1024), DIR_FROM, SG_GRANT | 2,
        [seg(0x80, 3584, 512), seg(0x81, 0, 512)]) + \
        control(windows=((0, 131072), (131072 - 100, 200), (524288 - 1, 2))) + \
        bytes(pg0) + bytes(pg1[:512])
    # Indirect WRITE, 64 elements of an unaligned buffer, list at offset 8
    el = [seg(0x2000, 512, 3584)] + \
        [seg(0x2001 + i, 0, PAGE) for i in range(62)] + [seg(0x2040, 0, 512)]
    pg = bytearray(PAGE)
    pg[8:8 + 64 * 8] = b''.join(el)
    seeds['indirect-write-64'] = slot(
        8, ACT_CDB, cdb10(0x2a, 100, 512), DIR_TO, SG_GRANT | 1,
        [seg(0x90, 8, 64 * 8)]) + \
        control(tile_len=65536, windows=((0, 1), (3584, 4096), (1 << 63, 8))) + \
        bytes(pg[:8 + 64 * 8])
    # Indirect with 26 full SG pages and feature-sg-grant = 13312
    pg = b''.join(seg(0x3000 + i, 0, PAGE) for i in range(512))
    seeds['indirect-26-pages'] = slot(
        9, ACT_CDB, cdb10(0x28, 0, 0xffff), DIR_FROM, SG_GRANT | 26,
        [seg(0xa0 + i, 0, PAGE) for i in range(26)]) + \
        control(max_sg_sel=5) + pg

    # ABORT of rqid 4: scsifront copies the aborted command's CDB and
    # direction, and stale segments stay in the slot.
    s = pages_direct(0x200, 32768)
    seeds['abort'] = slot(10, ACT_ABORT, cdb10(0x28, 2048, 64), DIR_FROM,
                          len(s), s, ref_rqid=4)
    # LUN RESET (answered FAILED in this seed)
    seeds['reset'] = slot(11, ACT_RESET, cdb10(0x2a, 0, 8), DIR_TO, 0, [],
                          target=3, lun=1) + control(tmf_ok=0)

    # Refused requests the backend must answer with HOST_ERROR
    seeds['sg-preset'] = slot(12, ACT_SG_PRESET, b'\0' * 6, DIR_NONE, 0, [])
    seeds['bidirectional'] = slot(13, ACT_CDB, bytes([0x53] + [0] * 9),
                                  DIR_BIDI, 1, [seg(1, 0, 512)])
    seeds['indirect-no-feature'] = slot(
        14, ACT_CDB, cdb10(0x28, 0, 8), DIR_FROM, SG_GRANT | 1,
        [seg(1, 0, 64)]) + control(max_sg_sel=0)
    seeds['bad-element'] = slot(15, ACT_CDB, cdb10(0x28, 0, 8), DIR_FROM, 2,
                                [seg(1, 0, 4096), seg(2, 1, 4096)])
    seeds['indirect-129'] = slot(
        16, ACT_CDB, cdb10(0x28, 0, 8), DIR_FROM, SG_GRANT | 2,
        [seg(1, 3584, 512), seg(2, 0, 520)]) + control() + \
        bytes(PAGE) + bytes(520)

    for name, blob in sorted(seeds.items()):
        with open(os.path.join(outdir, 'seed-' + name), 'wb') as f:
            f.write(blob)
    print(len(seeds))


if __name__ == '__main__':
    main()
