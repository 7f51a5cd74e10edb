/*
 * Unit tests for the xen-pvscsi request engine (hw/scsi/xen-pvscsi-proto.c).
 *
 * The engine is pure code: these tests feed it ring slots, SG-list page
 * descriptors and data elements as a (possibly hostile) frontend would and
 * check every result exactly. Protocol facts: Xen's io/vscsiif.h and the
 * Linux xen-scsifront / xen-scsiback drivers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/scsi/xen-pvscsi-proto.h"
#include "scsi/utils.h"

#define HOST_OK     XEN_VSCSIIF_RSLT_HOST_OK
#define HOST_ERROR  XEN_VSCSIIF_RSLT_HOST_ERROR
#define PAGE        VSCSIIF_PAGE_SIZE
/* QEMU's SCSI_SENSE_BUF_SIZE (hw/scsi/scsi.h), the sense the device gets */
#define QEMU_SENSE_BUF_SIZE 252

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

/* A well-formed CDB request: READ(10) of @nr direct segments. */
static vscsiif_request_t cdb_req(uint16_t rqid, uint8_t dir, uint8_t nr)
{
    vscsiif_request_t r;
    unsigned int i;

    memset(&r, 0, sizeof(r));
    r.rqid = rqid;
    r.act = VSCSIIF_ACT_SCSI_CDB;
    r.cmd_len = 10;
    r.cmnd[0] = 0x28;
    r.sc_data_direction = dir;
    r.nr_segments = nr;
    for (i = 0; i < VSCSIIF_SG_TABLESIZE; i++) {
        r.seg[i].gref = 100 + i;
        r.seg[i].offset = 0;
        r.seg[i].length = PAGE;
    }
    return r;
}

static int decode(const vscsiif_request_t *slot, XenPVSCSIDecoded *d,
                  unsigned int max_sg, const char **why)
{
    /* Poison the output so that stale values cannot pass for results. */
    memset(d, 0xa5, sizeof(*d));
    *why = "poison";
    return xen_pvscsi_decode(slot, d, max_sg, why);
}

static void assert_rejected(const vscsiif_request_t *slot, unsigned int max_sg)
{
    XenPVSCSIDecoded d;
    const char *why;

    g_assert_cmpint(decode(slot, &d, max_sg, &why), ==, HOST_ERROR);
    g_assert_nonnull(why);
    g_assert_cmpstr(why, !=, "poison");
    g_assert_cmpuint(strlen(why), >, 0);
    /* The copy is made even for a rejected request: rqid is answered. */
    g_assert_cmpint(memcmp(&d.req, slot, sizeof(*slot)), ==, 0);
    g_assert_cmpuint(d.req.rqid, ==, slot->rqid);
}

static void assert_accepted(const vscsiif_request_t *slot, unsigned int max_sg,
                            XenPVSCSIDataMode mode, bool indirect,
                            unsigned int nr_segs)
{
    XenPVSCSIDecoded d;
    const char *why;

    g_assert_cmpint(decode(slot, &d, max_sg, &why), ==, HOST_OK);
    g_assert_null(why);
    g_assert_cmpint(memcmp(&d.req, slot, sizeof(*slot)), ==, 0);
    g_assert_cmpint(d.mode, ==, mode);
    g_assert_cmpint(d.indirect, ==, indirect);
    g_assert_cmpuint(d.nr_segs, ==, nr_segs);
}

/* ------------------------------------------------------------------ */
/* Wire layout and constants                                          */

static void test_layout(void)
{
    g_assert_cmpuint(sizeof(vscsiif_request_t), ==, 252);
    g_assert_cmpuint(sizeof(vscsiif_response_t), ==, 252);
    g_assert_cmpuint(sizeof(vscsiif_segment_t), ==, 8);
    g_assert_cmpuint(offsetof(vscsiif_request_t, act), ==, 2);
    g_assert_cmpuint(offsetof(vscsiif_request_t, cmd_len), ==, 3);
    g_assert_cmpuint(offsetof(vscsiif_request_t, cmnd), ==, 4);
    g_assert_cmpuint(offsetof(vscsiif_request_t, timeout_per_command), ==, 20);
    g_assert_cmpuint(offsetof(vscsiif_request_t, channel), ==, 22);
    g_assert_cmpuint(offsetof(vscsiif_request_t, id), ==, 24);
    g_assert_cmpuint(offsetof(vscsiif_request_t, lun), ==, 26);
    g_assert_cmpuint(offsetof(vscsiif_request_t, ref_rqid), ==, 28);
    g_assert_cmpuint(offsetof(vscsiif_request_t, sc_data_direction), ==, 30);
    g_assert_cmpuint(offsetof(vscsiif_request_t, nr_segments), ==, 31);
    g_assert_cmpuint(offsetof(vscsiif_request_t, seg), ==, 32);
    g_assert_cmpuint(offsetof(vscsiif_request_t, reserved), ==, 240);
    g_assert_cmpuint(offsetof(vscsiif_segment_t, offset), ==, 4);
    g_assert_cmpuint(offsetof(vscsiif_segment_t, length), ==, 6);
    g_assert_cmpuint(offsetof(vscsiif_response_t, sense_len), ==, 3);
    g_assert_cmpuint(offsetof(vscsiif_response_t, sense_buffer), ==, 4);
    g_assert_cmpuint(offsetof(vscsiif_response_t, rslt), ==, 100);
    g_assert_cmpuint(offsetof(vscsiif_response_t, residual_len), ==, 104);
    g_assert_cmpuint(offsetof(vscsiif_response_t, reserved), ==, 108);

    g_assert_cmpuint(XEN_PVSCSI_RING_SIZE, ==, 16);
    g_assert_cmpuint(VSCSIIF_SG_PER_PAGE, ==, 512);
    g_assert_cmpuint(XEN_PVSCSI_SG_GRANT_MIN, ==, 26);
    g_assert_cmpuint(XEN_PVSCSI_SG_GRANT_MAX, ==, 26 * 512);
    g_assert_cmpuint(XEN_PVSCSI_SG_GRANT_DEFAULT, ==, 128);
}

/* ------------------------------------------------------------------ */
/* xen_pvscsi_decode                                                  */

static void test_decode_cdb_ok(void)
{
    vscsiif_request_t slot = cdb_req(7, VSCSIIF_DIR_NONE, 0);

    slot.cmd_len = 6;
    slot.cmnd[0] = 0x00;        /* TEST UNIT READY */
    assert_accepted(&slot, 128, XEN_PVSCSI_DATA_NONE, false, 0);
}

/* Every act value: 1 (CDB), 2 (ABORT), 3 (RESET) and nothing else. */
static void test_decode_act_all(void)
{
    unsigned int act, max_sg;

    for (max_sg = 0; max_sg <= 128; max_sg += 128) {
        for (act = 0; act <= 255; act++) {
            vscsiif_request_t slot = cdb_req(act, VSCSIIF_DIR_FROM_DEVICE, 2);

            slot.act = act;
            switch (act) {
            case VSCSIIF_ACT_SCSI_CDB:
                assert_accepted(&slot, max_sg, XEN_PVSCSI_DATA_FROM_DEVICE,
                                false, 2);
                break;
            case VSCSIIF_ACT_SCSI_ABORT:
            case VSCSIIF_ACT_SCSI_RESET:
                assert_accepted(&slot, max_sg, XEN_PVSCSI_DATA_NONE, false, 0);
                break;
            default:
                assert_rejected(&slot, max_sg);
                break;
            }
        }
    }
}

/* 4 is the deprecated SG_PRESET: kept reserved, answered with an error. */
static void test_decode_act_sg_preset(void)
{
    vscsiif_request_t slot = cdb_req(3, VSCSIIF_DIR_NONE, 0);
    XenPVSCSIDecoded d;
    const char *why;

    slot.act = VSCSIIF_ACT_SCSI_SG_PRESET;
    g_assert_cmpint(VSCSIIF_ACT_SCSI_SG_PRESET, ==, 4);
    g_assert_cmpint(decode(&slot, &d, 128, &why), ==, HOST_ERROR);
    g_assert_cmpstr(why, ==, "invalid act");
    g_assert_cmpuint(d.req.rqid, ==, 3);
    assert_rejected(&slot, 0);
}

static void test_decode_act_zero(void)
{
    vscsiif_request_t slot = cdb_req(0, VSCSIIF_DIR_NONE, 0);
    XenPVSCSIDecoded d;
    const char *why;

    slot.act = 0;
    g_assert_cmpint(decode(&slot, &d, 128, &why), ==, HOST_ERROR);
    g_assert_cmpstr(why, ==, "invalid act");
}

static void test_decode_cmd_len(void)
{
    unsigned int len;
    static const struct {
        uint8_t len;
        bool ok;
    } cases[] = { { 0, false }, { 1, true }, { 6, true }, { 10, true },
                  { 12, true }, { 16, true }, { 17, false }, { 32, false },
                  { 255, false } };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        vscsiif_request_t slot = cdb_req(i, VSCSIIF_DIR_NONE, 0);

        slot.cmd_len = cases[i].len;
        if (cases[i].ok) {
            assert_accepted(&slot, 128, XEN_PVSCSI_DATA_NONE, false, 0);
        } else {
            XenPVSCSIDecoded d;
            const char *why;

            assert_rejected(&slot, 128);
            g_assert_cmpint(decode(&slot, &d, 128, &why), ==, HOST_ERROR);
            g_assert_cmpstr(why, ==, "cmd_len out of range");
        }
    }
    /* And every value, so that nothing between the cases slips through. */
    for (len = 0; len <= 255; len++) {
        vscsiif_request_t slot = cdb_req(1, VSCSIIF_DIR_TO_DEVICE, 1);

        slot.cmd_len = len;
        if (len >= 1 && len <= VSCSIIF_MAX_COMMAND_SIZE) {
            assert_accepted(&slot, 0, XEN_PVSCSI_DATA_TO_DEVICE, false, 1);
        } else {
            assert_rejected(&slot, 0);
        }
    }
}

/* A CDB that is 16 bytes long keeps all 16 bytes in the copy. */
static void test_decode_cmnd_copied(void)
{
    vscsiif_request_t slot = cdb_req(9, VSCSIIF_DIR_FROM_DEVICE, 1);
    XenPVSCSIDecoded d;
    const char *why;
    unsigned int i;

    slot.cmd_len = 16;
    for (i = 0; i < 16; i++) {
        slot.cmnd[i] = 0x88 + i;    /* READ(16) and friends */
    }
    g_assert_cmpint(decode(&slot, &d, 128, &why), ==, HOST_OK);
    for (i = 0; i < 16; i++) {
        g_assert_cmpuint(d.req.cmnd[i], ==, 0x88 + i);
    }
    g_assert_cmpuint(d.req.cmd_len, ==, 16);
}

static void test_decode_direction(void)
{
    unsigned int dir;

    for (dir = 0; dir <= 255; dir++) {
        vscsiif_request_t none = cdb_req(dir, dir, 0);
        vscsiif_request_t data = cdb_req(dir, dir, 3);
        XenPVSCSIDecoded d;
        const char *why;

        switch (dir) {
        case VSCSIIF_DIR_TO_DEVICE:
            assert_accepted(&none, 128, XEN_PVSCSI_DATA_TO_DEVICE, false, 0);
            assert_accepted(&data, 128, XEN_PVSCSI_DATA_TO_DEVICE, false, 3);
            break;
        case VSCSIIF_DIR_FROM_DEVICE:
            assert_accepted(&none, 128, XEN_PVSCSI_DATA_FROM_DEVICE, false, 0);
            assert_accepted(&data, 128, XEN_PVSCSI_DATA_FROM_DEVICE, false, 3);
            break;
        case VSCSIIF_DIR_NONE:
            assert_accepted(&none, 128, XEN_PVSCSI_DATA_NONE, false, 0);
            assert_rejected(&data, 128);
            break;
        case VSCSIIF_DIR_BIDIRECTIONAL:
            /* 0: Linux DMA_BIDIRECTIONAL; QEMU's SCSI layer cannot do it. */
            assert_rejected(&none, 128);
            assert_rejected(&data, 128);
            g_assert_cmpint(decode(&none, &d, 128, &why), ==, HOST_ERROR);
            g_assert_cmpstr(why, ==,
                            "bidirectional transfers are not supported");
            break;
        default:
            assert_rejected(&none, 128);
            assert_rejected(&data, 128);
            g_assert_cmpint(decode(&none, &d, 128, &why), ==, HOST_ERROR);
            g_assert_cmpstr(why, ==, "invalid sc_data_direction");
            break;
        }
    }
    g_assert_cmpint(VSCSIIF_DIR_BIDIRECTIONAL, ==, 0);
    g_assert_cmpint(VSCSIIF_DIR_TO_DEVICE, ==, 1);
    g_assert_cmpint(VSCSIIF_DIR_FROM_DEVICE, ==, 2);
    g_assert_cmpint(VSCSIIF_DIR_NONE, ==, 3);
}

/* Direct segments: 0..26 accepted, whatever max_sg; 27..127 rejected. */
static void test_decode_segments_direct(void)
{
    unsigned int nr, max_sg;
    static const unsigned int max_sgs[] = { 0, 26, 128,
                                            XEN_PVSCSI_SG_GRANT_MAX };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(max_sgs); i++) {
        max_sg = max_sgs[i];
        for (nr = 0; nr < VSCSIIF_SG_GRANT; nr++) {
            vscsiif_request_t slot = cdb_req(nr, VSCSIIF_DIR_FROM_DEVICE, nr);

            if (nr <= VSCSIIF_SG_TABLESIZE) {
                assert_accepted(&slot, max_sg, XEN_PVSCSI_DATA_FROM_DEVICE,
                                false, nr);
            } else {
                assert_rejected(&slot, max_sg);
            }
        }
    }
}

static void test_decode_segments_26_27(void)
{
    vscsiif_request_t s26 = cdb_req(1, VSCSIIF_DIR_TO_DEVICE, 26);
    vscsiif_request_t s27 = cdb_req(2, VSCSIIF_DIR_TO_DEVICE, 27);
    XenPVSCSIDecoded d;
    const char *why;

    assert_accepted(&s26, 0, XEN_PVSCSI_DATA_TO_DEVICE, false, 26);
    g_assert_cmpint(decode(&s27, &d, 128, &why), ==, HOST_ERROR);
    g_assert_cmpstr(why, ==, "too many segments");
}

/* Indirect (VSCSIIF_SG_GRANT) with feature-sg-grant advertised. */
static void test_decode_segments_indirect(void)
{
    unsigned int nr;

    for (nr = 0; nr < VSCSIIF_SG_GRANT; nr++) {
        vscsiif_request_t slot = cdb_req(nr, VSCSIIF_DIR_FROM_DEVICE,
                                         VSCSIIF_SG_GRANT | nr);

        if (nr >= 1 && nr <= VSCSIIF_SG_TABLESIZE) {
            assert_accepted(&slot, 128, XEN_PVSCSI_DATA_FROM_DEVICE, true, nr);
            assert_accepted(&slot, 26, XEN_PVSCSI_DATA_FROM_DEVICE, true, nr);
            assert_accepted(&slot, 1, XEN_PVSCSI_DATA_FROM_DEVICE, true, nr);
        } else {
            assert_rejected(&slot, 128);
        }
    }
}

static void test_decode_segments_indirect_edges(void)
{
    vscsiif_request_t s0 = cdb_req(1, VSCSIIF_DIR_FROM_DEVICE, 0x80 | 0);
    vscsiif_request_t s26 = cdb_req(2, VSCSIIF_DIR_FROM_DEVICE, 0x80 | 26);
    vscsiif_request_t s27 = cdb_req(3, VSCSIIF_DIR_FROM_DEVICE, 0x80 | 27);
    vscsiif_request_t sff = cdb_req(4, VSCSIIF_DIR_FROM_DEVICE, 0xff);
    XenPVSCSIDecoded d;
    const char *why;

    g_assert_cmpint(decode(&s0, &d, 128, &why), ==, HOST_ERROR);
    g_assert_cmpstr(why, ==, "indirect request without SG pages");
    assert_accepted(&s26, 128, XEN_PVSCSI_DATA_FROM_DEVICE, true, 26);
    g_assert_cmpint(decode(&s27, &d, 128, &why), ==, HOST_ERROR);
    g_assert_cmpstr(why, ==, "too many segments");
    assert_rejected(&sff, 128);
    assert_rejected(&sff, 0);
}

/* Without feature-sg-grant (max_sg == 0) every indirect request fails. */
static void test_decode_segments_indirect_unadvertised(void)
{
    unsigned int nr;

    for (nr = 0; nr < VSCSIIF_SG_GRANT; nr++) {
        vscsiif_request_t slot = cdb_req(nr, VSCSIIF_DIR_TO_DEVICE,
                                         VSCSIIF_SG_GRANT | nr);
        XenPVSCSIDecoded d;
        const char *why;

        assert_rejected(&slot, 0);
        if (nr >= 1 && nr <= 26) {
            g_assert_cmpint(decode(&slot, &d, 0, &why), ==, HOST_ERROR);
            g_assert_cmpstr(why, ==,
                            "indirect segments without feature-sg-grant");
        }
    }
}

/* DMA_NONE with any segment, direct or indirect, is inconsistent. */
static void test_decode_segments_dma_none(void)
{
    static const uint8_t nrs[] = { 1, 2, 26, 0x80 | 1, 0x80 | 26 };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(nrs); i++) {
        vscsiif_request_t slot = cdb_req(i, VSCSIIF_DIR_NONE, nrs[i]);
        XenPVSCSIDecoded d;
        const char *why;

        assert_rejected(&slot, 128);
        assert_rejected(&slot, 0);
        if (!(nrs[i] & VSCSIIF_SG_GRANT)) {
            g_assert_cmpint(decode(&slot, &d, 128, &why), ==, HOST_ERROR);
            g_assert_cmpstr(why, ==,
                            "segments given for a command without data");
        }
    }
}

/*
 * TMFs: Linux scsifront copies cmnd, cmd_len and the aborted command's
 * direction into ABORT/RESET and may leave stale segments in the slot.
 * None of it may make a TMF fail, and the decoded TMF carries no data.
 */
static void test_decode_tmf_ignores_fields(void)
{
    static const uint8_t acts[] = { VSCSIIF_ACT_SCSI_ABORT,
                                    VSCSIIF_ACT_SCSI_RESET };
    static const uint8_t cmd_lens[] = { 0, 1, 16, 17, 255 };
    static const uint8_t dirs[] = { 0, 1, 2, 3, 4, 255 };
    static const uint8_t nrs[] = { 0, 1, 26, 27, 0x80, 0x80 | 26, 0x80 | 27,
                                   0xff };
    size_t a, c, dr, n;
    unsigned int count = 0;

    for (a = 0; a < ARRAY_SIZE(acts); a++) {
        for (c = 0; c < ARRAY_SIZE(cmd_lens); c++) {
            for (dr = 0; dr < ARRAY_SIZE(dirs); dr++) {
                for (n = 0; n < ARRAY_SIZE(nrs); n++) {
                    vscsiif_request_t slot;

                    memset(&slot, 0xee, sizeof(slot));
                    slot.rqid = count++;
                    slot.act = acts[a];
                    slot.cmd_len = cmd_lens[c];
                    slot.sc_data_direction = dirs[dr];
                    slot.nr_segments = nrs[n];
                    slot.ref_rqid = 0x1234;
                    assert_accepted(&slot, 0, XEN_PVSCSI_DATA_NONE, false, 0);
                    assert_accepted(&slot, 128, XEN_PVSCSI_DATA_NONE, false, 0);
                }
            }
        }
    }
    g_assert_cmpuint(count, ==, 2 * 5 * 6 * 8);
}

static void test_decode_tmf_fields_kept(void)
{
    vscsiif_request_t slot = cdb_req(11, VSCSIIF_DIR_FROM_DEVICE, 4);
    XenPVSCSIDecoded d;
    const char *why;

    slot.act = VSCSIIF_ACT_SCSI_ABORT;
    slot.ref_rqid = 5;
    slot.channel = 0;
    slot.id = 3;
    slot.lun = 7;
    g_assert_cmpint(decode(&slot, &d, 128, &why), ==, HOST_OK);
    g_assert_null(why);
    g_assert_cmpuint(d.req.rqid, ==, 11);
    g_assert_cmpuint(d.req.act, ==, VSCSIIF_ACT_SCSI_ABORT);
    g_assert_cmpuint(d.req.ref_rqid, ==, 5);
    g_assert_cmpuint(d.req.id, ==, 3);
    g_assert_cmpuint(d.req.lun, ==, 7);
    g_assert_cmpuint(d.nr_segs, ==, 0);
    g_assert_false(d.indirect);
}

/*
 * The slot is in memory the guest shares with us: decode must take one
 * private copy, and later changes of the slot must not reach it (XSA-155).
 */
static void test_decode_copies_slot(void)
{
    vscsiif_request_t slot;
    vscsiif_request_t before;
    XenPVSCSIDecoded d;
    const char *why;
    unsigned int i;

    for (i = 0; i < sizeof(slot); i++) {
        ((uint8_t *)&slot)[i] = i * 7 + 3;
    }
    slot.act = VSCSIIF_ACT_SCSI_CDB;
    slot.cmd_len = 10;
    slot.sc_data_direction = VSCSIIF_DIR_TO_DEVICE;
    slot.nr_segments = VSCSIIF_SG_GRANT | 2;
    before = slot;

    g_assert_cmpint(decode(&slot, &d, 128, &why), ==, HOST_OK);
    /* decode does not write to the slot */
    g_assert_cmpint(memcmp(&slot, &before, sizeof(slot)), ==, 0);
    g_assert_cmpint(memcmp(&d.req, &before, sizeof(slot)), ==, 0);

    /* The guest rewrites the slot after the copy. */
    memset(&slot, 0xff, sizeof(slot));
    slot.nr_segments = 26;
    slot.seg[0].length = 0xffff;

    g_assert_cmpint(memcmp(&d.req, &before, sizeof(before)), ==, 0);
    g_assert_cmpint(d.mode, ==, XEN_PVSCSI_DATA_TO_DEVICE);
    g_assert_true(d.indirect);
    g_assert_cmpuint(d.nr_segs, ==, 2);
    g_assert_cmpuint(d.req.nr_segments, ==, VSCSIIF_SG_GRANT | 2);
    g_assert_cmpuint(d.req.seg[0].length, ==, before.seg[0].length);
    /* The decoded copy is what the next stage validates. */
    d.req.seg[0].offset = 0;
    d.req.seg[0].length = 16;
    d.req.seg[1].offset = 8;
    d.req.seg[1].length = 8;
    {
        unsigned int nr_elems;

        g_assert_cmpint(xen_pvscsi_check_indirect(&d, 128, &nr_elems, &why),
                        ==, HOST_OK);
        g_assert_cmpuint(nr_elems, ==, 3);
    }
}

/* All fields of the slot, including reserved ones, reach the copy. */
static void test_decode_all_fields(void)
{
    vscsiif_request_t slot = cdb_req(0xbeef, VSCSIIF_DIR_FROM_DEVICE, 26);
    XenPVSCSIDecoded d;
    const char *why;
    unsigned int i;

    slot.timeout_per_command = 30;
    slot.channel = 1;
    slot.id = 63;
    slot.lun = 255;
    slot.ref_rqid = 0xffff;
    slot.reserved[0] = 0xdeadbeef;
    slot.reserved[1] = 1;
    slot.reserved[2] = 2;
    for (i = 0; i < VSCSIIF_SG_TABLESIZE; i++) {
        slot.seg[i].gref = 0x10000 + i;
        slot.seg[i].offset = i * 8;
        slot.seg[i].length = 512 - i;
    }
    g_assert_cmpint(decode(&slot, &d, 128, &why), ==, HOST_OK);
    g_assert_cmpuint(d.req.rqid, ==, 0xbeef);
    g_assert_cmpuint(d.req.timeout_per_command, ==, 30);
    g_assert_cmpuint(d.req.channel, ==, 1);
    g_assert_cmpuint(d.req.id, ==, 63);
    g_assert_cmpuint(d.req.lun, ==, 255);
    g_assert_cmpuint(d.req.ref_rqid, ==, 0xffff);
    g_assert_cmpuint(d.req.reserved[0], ==, 0xdeadbeef);
    for (i = 0; i < VSCSIIF_SG_TABLESIZE; i++) {
        g_assert_cmpuint(d.req.seg[i].gref, ==, 0x10000 + i);
        g_assert_cmpuint(d.req.seg[i].offset, ==, i * 8);
        g_assert_cmpuint(d.req.seg[i].length, ==, 512 - i);
    }
    g_assert_cmpuint(d.nr_segs, ==, 26);
}

/* Re-using a XenPVSCSIDecoded: nothing of the previous request survives. */
static void test_decode_reuse(void)
{
    vscsiif_request_t ind = cdb_req(1, VSCSIIF_DIR_FROM_DEVICE, 0x80 | 5);
    vscsiif_request_t tmf = cdb_req(2, VSCSIIF_DIR_FROM_DEVICE, 0x80 | 5);
    vscsiif_request_t bad = cdb_req(3, VSCSIIF_DIR_FROM_DEVICE, 5);
    XenPVSCSIDecoded d;
    const char *why = NULL;

    tmf.act = VSCSIIF_ACT_SCSI_RESET;
    bad.act = 0x42;
    memset(&d, 0, sizeof(d));
    g_assert_cmpint(xen_pvscsi_decode(&ind, &d, 128, &why), ==, HOST_OK);
    g_assert_true(d.indirect);
    g_assert_cmpuint(d.nr_segs, ==, 5);

    g_assert_cmpint(xen_pvscsi_decode(&tmf, &d, 128, &why), ==, HOST_OK);
    g_assert_null(why);
    g_assert_false(d.indirect);
    g_assert_cmpuint(d.nr_segs, ==, 0);
    g_assert_cmpint(d.mode, ==, XEN_PVSCSI_DATA_NONE);

    g_assert_cmpint(xen_pvscsi_decode(&ind, &d, 128, &why), ==, HOST_OK);
    g_assert_cmpint(xen_pvscsi_decode(&bad, &d, 128, &why), ==, HOST_ERROR);
    g_assert_nonnull(why);
    g_assert_false(d.indirect);
    g_assert_cmpuint(d.nr_segs, ==, 0);
    g_assert_cmpuint(d.req.rqid, ==, 3);

    /* why is reset to NULL on success after a failure */
    g_assert_cmpint(xen_pvscsi_decode(&ind, &d, 128, &why), ==, HOST_OK);
    g_assert_null(why);
}

/* ------------------------------------------------------------------ */
/* xen_pvscsi_check_indirect                                          */

/* A decoded indirect request with the given SG-list page descriptors. */
static XenPVSCSIDecoded indirect_req(unsigned int n,
                                     const vscsiif_segment_t *pages)
{
    vscsiif_request_t slot = cdb_req(1, VSCSIIF_DIR_FROM_DEVICE,
                                     VSCSIIF_SG_GRANT | n);
    XenPVSCSIDecoded d;
    const char *why;
    unsigned int i;

    for (i = 0; i < n; i++) {
        slot.seg[i] = pages[i];
    }
    g_assert_cmpint(xen_pvscsi_decode(&slot, &d, XEN_PVSCSI_SG_GRANT_MAX,
                                      &why), ==, HOST_OK);
    g_assert_true(d.indirect);
    g_assert_cmpuint(d.nr_segs, ==, n);
    return d;
}

static int check_ind(const XenPVSCSIDecoded *d, unsigned int max_sg,
                     unsigned int *nr)
{
    const char *why = NULL;
    int rc;

    *nr = 0xdead;
    rc = xen_pvscsi_check_indirect(d, max_sg, nr, &why);
    if (rc != HOST_OK) {
        g_assert_cmpint(rc, ==, HOST_ERROR);
        g_assert_nonnull(why);
        g_assert_cmpuint(*nr, ==, 0);
    }
    return rc;
}

static void test_check_indirect_not_indirect(void)
{
    vscsiif_request_t slot = cdb_req(1, VSCSIIF_DIR_FROM_DEVICE, 3);
    XenPVSCSIDecoded d;
    const char *why;
    unsigned int nr;

    g_assert_cmpint(xen_pvscsi_decode(&slot, &d, 128, &why), ==, HOST_OK);
    g_assert_cmpint(check_ind(&d, 128, &nr), ==, HOST_ERROR);
}

static void test_check_indirect_length_multiple(void)
{
    unsigned int len, nr;

    for (len = 0; len <= PAGE; len++) {
        vscsiif_segment_t p = { .gref = 9, .offset = 0, .length = len };
        XenPVSCSIDecoded d = indirect_req(1, &p);
        int rc = check_ind(&d, VSCSIIF_SG_PER_PAGE, &nr);

        if (len != 0 && len % 8 == 0) {
            g_assert_cmpint(rc, ==, HOST_OK);
            g_assert_cmpuint(nr, ==, len / 8);
        } else {
            g_assert_cmpint(rc, ==, HOST_ERROR);
        }
    }
}

static void test_check_indirect_bad_lengths(void)
{
    static const uint16_t lens[] = { 1, 4, 7, 9, 12, 1020, 1025, 4095 };
    unsigned int nr;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(lens); i++) {
        vscsiif_segment_t p[2] = {
            { .gref = 1, .offset = 0, .length = 64 },
            { .gref = 2, .offset = 0, .length = lens[i] },
        };
        XenPVSCSIDecoded d = indirect_req(2, p);

        g_assert_cmpint(check_ind(&d, 128, &nr), ==, HOST_ERROR);
    }
}

static void test_check_indirect_zero_length(void)
{
    vscsiif_segment_t p[3] = {
        { .gref = 1, .offset = 0, .length = 64 },
        { .gref = 2, .offset = 0, .length = 0 },
        { .gref = 3, .offset = 0, .length = 64 },
    };
    XenPVSCSIDecoded d = indirect_req(3, p);
    XenPVSCSIDecoded d0 = indirect_req(1, &p[1]);
    unsigned int nr;

    g_assert_cmpint(check_ind(&d, 128, &nr), ==, HOST_ERROR);
    g_assert_cmpint(check_ind(&d0, 128, &nr), ==, HOST_ERROR);
}

static void test_check_indirect_page_end(void)
{
    static const struct {
        uint16_t offset, length;
        bool ok;
    } cases[] = {
        { 0, 4096, true }, { 8, 4088, true }, { 4088, 8, true },
        { 2048, 2048, true }, { 8, 4096, false }, { 4088, 16, false },
        { 4096, 8, false }, { 4095, 8, false }, { 1, 4096, false },
        { 65528, 8, false }, { 65535, 8, false },
        /* offset + length wraps a 16-bit sum to 4088 */
        { 65528, 4104, false }, { 8, 65528, false }, { 0, 65528, false },
    };
    unsigned int nr;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        vscsiif_segment_t p = { .gref = 5, .offset = cases[i].offset,
                                .length = cases[i].length };
        XenPVSCSIDecoded d = indirect_req(1, &p);
        int rc = check_ind(&d, XEN_PVSCSI_SG_GRANT_MAX, &nr);

        if (cases[i].ok) {
            g_assert_cmpint(rc, ==, HOST_OK);
            g_assert_cmpuint(nr, ==, cases[i].length / 8);
        } else {
            g_assert_cmpint(rc, ==, HOST_ERROR);
        }
    }
}

/* The SG list may start anywhere in a page (scsifront uses kzalloc). */
static void test_check_indirect_nonzero_offset(void)
{
    vscsiif_segment_t p = { .gref = 5, .offset = 24, .length = 128 * 8 };
    XenPVSCSIDecoded d = indirect_req(1, &p);
    unsigned int nr;

    g_assert_cmpint(check_ind(&d, 128, &nr), ==, HOST_OK);
    g_assert_cmpuint(nr, ==, 128);
}

static void test_check_indirect_max_sg(void)
{
    vscsiif_segment_t ok = { .gref = 5, .offset = 0, .length = 128 * 8 };
    vscsiif_segment_t over = { .gref = 5, .offset = 0, .length = 129 * 8 };
    XenPVSCSIDecoded d;
    unsigned int nr, max_sg;

    d = indirect_req(1, &ok);
    g_assert_cmpint(check_ind(&d, 128, &nr), ==, HOST_OK);
    g_assert_cmpuint(nr, ==, 128);
    g_assert_cmpint(check_ind(&d, 127, &nr), ==, HOST_ERROR);
    d = indirect_req(1, &over);
    g_assert_cmpint(check_ind(&d, 128, &nr), ==, HOST_ERROR);
    g_assert_cmpint(check_ind(&d, 129, &nr), ==, HOST_OK);
    g_assert_cmpuint(nr, ==, 129);

    /* exactly max_sg accepted and max_sg + 1 rejected, for many max_sg */
    for (max_sg = 1; max_sg <= VSCSIIF_SG_PER_PAGE; max_sg++) {
        vscsiif_segment_t a = { .gref = 1, .offset = 0,
                                .length = max_sg * 8 };
        vscsiif_segment_t b = { .gref = 1, .offset = 0,
                                .length = (max_sg + 1) * 8 };

        d = indirect_req(1, &a);
        g_assert_cmpint(check_ind(&d, max_sg, &nr), ==, HOST_OK);
        g_assert_cmpuint(nr, ==, max_sg);
        if (b.length <= PAGE) {
            d = indirect_req(1, &b);
            g_assert_cmpint(check_ind(&d, max_sg, &nr), ==, HOST_ERROR);
        }
    }
}

/*
 * The realistic worst case of scsifront with feature-sg-grant = 128:
 * 128 elements (1 KiB) in a kzalloc'd buffer that crosses a page end.
 */
static void test_check_indirect_two_pages(void)
{
    vscsiif_segment_t p[2] = {
        { .gref = 0x200, .offset = 3584, .length = 512 },
        { .gref = 0x201, .offset = 0, .length = 512 },
    };
    vscsiif_segment_t p_over[2] = {
        { .gref = 0x200, .offset = 3584, .length = 512 },
        { .gref = 0x201, .offset = 0, .length = 520 },
    };
    vscsiif_segment_t p_bad[2] = {
        { .gref = 0x200, .offset = 3592, .length = 512 },  /* 4104 */
        { .gref = 0x201, .offset = 0, .length = 504 },
    };
    XenPVSCSIDecoded d;
    unsigned int nr;

    d = indirect_req(2, p);
    g_assert_cmpint(check_ind(&d, 128, &nr), ==, HOST_OK);
    g_assert_cmpuint(nr, ==, 128);
    g_assert_cmpint(check_ind(&d, 127, &nr), ==, HOST_ERROR);

    d = indirect_req(2, p_over);
    g_assert_cmpint(check_ind(&d, 128, &nr), ==, HOST_ERROR);
    g_assert_cmpint(check_ind(&d, 129, &nr), ==, HOST_OK);
    g_assert_cmpuint(nr, ==, 129);

    d = indirect_req(2, p_bad);
    g_assert_cmpint(check_ind(&d, 1024, &nr), ==, HOST_ERROR);
}

/* 26 full SG pages: 13312 elements, the protocol maximum. */
static void test_check_indirect_26_pages(void)
{
    vscsiif_segment_t p[26];
    XenPVSCSIDecoded d;
    unsigned int i, nr;

    for (i = 0; i < 26; i++) {
        p[i].gref = 0x300 + i;
        p[i].offset = 0;
        p[i].length = PAGE;
    }
    d = indirect_req(26, p);
    g_assert_cmpint(check_ind(&d, XEN_PVSCSI_SG_GRANT_MAX, &nr), ==, HOST_OK);
    g_assert_cmpuint(nr, ==, 26 * 512);
    g_assert_cmpint(check_ind(&d, XEN_PVSCSI_SG_GRANT_MAX - 1, &nr), ==,
                    HOST_ERROR);
    g_assert_cmpint(check_ind(&d, 128, &nr), ==, HOST_ERROR);

    /* a bad descriptor in the last page is found too */
    p[25].length = 4092;
    d = indirect_req(26, p);
    g_assert_cmpint(check_ind(&d, XEN_PVSCSI_SG_GRANT_MAX, &nr), ==,
                    HOST_ERROR);
    p[25].length = 8;
    p[25].offset = 4090;
    d = indirect_req(26, p);
    g_assert_cmpint(check_ind(&d, XEN_PVSCSI_SG_GRANT_MAX, &nr), ==,
                    HOST_ERROR);
}

/* Only the nr_segs descriptors in use are looked at. */
static void test_check_indirect_unused_ignored(void)
{
    vscsiif_segment_t p = { .gref = 1, .offset = 8, .length = 80 };
    XenPVSCSIDecoded d = indirect_req(1, &p);
    unsigned int i, nr;

    for (i = 1; i < VSCSIIF_SG_TABLESIZE; i++) {
        d.req.seg[i].offset = 0xffff;
        d.req.seg[i].length = 3;
    }
    g_assert_cmpint(check_ind(&d, 128, &nr), ==, HOST_OK);
    g_assert_cmpuint(nr, ==, 10);
}

/* ------------------------------------------------------------------ */
/* xen_pvscsi_check_elems                                             */

static int check_elems(const vscsiif_segment_t *e, unsigned int n,
                       uint64_t *total)
{
    const char *why = NULL;
    int rc;

    *total = 0xdeadbeefULL;
    rc = xen_pvscsi_check_elems(e, n, total, &why);
    if (rc != HOST_OK) {
        g_assert_cmpint(rc, ==, HOST_ERROR);
        g_assert_nonnull(why);
        g_assert_cmpuint(*total, ==, 0);
    }
    return rc;
}

static void test_check_elems_page_end(void)
{
    static const struct {
        uint16_t offset, length;
        bool ok;
    } cases[] = {
        { 0, 4096, true }, { 4095, 1, true }, { 2048, 2048, true },
        { 512, 3584, true }, { 4000, 96, true }, { 0, 0, true },
        { 0, 4097, false }, { 1, 4096, false }, { 4095, 2, false },
        { 4096, 1, false }, { 4000, 97, false }, { 0, 65535, false },
        { 65535, 65535, false }, { 65535, 1, false },
        /* 16-bit wrap-around of offset + length */
        { 65535, 2, false }, { 61440, 4096, false }, { 4096, 61440, false },
    };
    uint64_t total;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        vscsiif_segment_t e = { .gref = 1, .offset = cases[i].offset,
                                .length = cases[i].length };
        int rc = check_elems(&e, 1, &total);

        if (cases[i].ok) {
            g_assert_cmpint(rc, ==, HOST_OK);
            g_assert_cmpuint(total, ==, cases[i].length);
        } else {
            g_assert_cmpint(rc, ==, HOST_ERROR);
        }
    }
}

static void test_check_elems_zero_length(void)
{
    vscsiif_segment_t e[5] = {
        { .gref = 1, .offset = 0, .length = 0 },
        { .gref = 2, .offset = 100, .length = 200 },
        { .gref = 3, .offset = 4095, .length = 0 },
        { .gref = 4, .offset = 0, .length = 0 },
        { .gref = 5, .offset = 8, .length = 8 },
    };
    uint64_t total;

    g_assert_cmpint(check_elems(e, 5, &total), ==, HOST_OK);
    g_assert_cmpuint(total, ==, 208);
    g_assert_cmpint(check_elems(e, 1, &total), ==, HOST_OK);
    g_assert_cmpuint(total, ==, 0);
    g_assert_cmpint(check_elems(e, 0, &total), ==, HOST_OK);
    g_assert_cmpuint(total, ==, 0);
    g_assert_cmpint(check_elems(NULL, 0, &total), ==, HOST_OK);
    g_assert_cmpuint(total, ==, 0);
}

static void test_check_elems_totals(void)
{
    static vscsiif_segment_t e[XEN_PVSCSI_SG_GRANT_MAX];
    uint64_t total, want = 0;
    unsigned int i;

    for (i = 0; i < 128; i++) {
        e[i].gref = i;
        e[i].offset = 0;
        e[i].length = PAGE;
    }
    g_assert_cmpint(check_elems(e, 128, &total), ==, HOST_OK);
    g_assert_cmpuint(total, ==, 128 * 4096);
    g_assert_cmpint(check_elems(e, 26, &total), ==, HOST_OK);
    g_assert_cmpuint(total, ==, 26 * 4096);

    /* an unaligned 512 KiB buffer: 512 + 127 x 4096 + 3584 */
    e[0].offset = 3584;
    e[0].length = 512;
    e[128].gref = 128;
    e[128].offset = 0;
    e[128].length = 3584;
    g_assert_cmpint(check_elems(e, 129, &total), ==, HOST_OK);
    g_assert_cmpuint(total, ==, 512 * 1024);

    /* the largest possible request: 13312 full pages (52 MiB) */
    for (i = 0; i < XEN_PVSCSI_SG_GRANT_MAX; i++) {
        e[i].gref = i;
        e[i].offset = 0;
        e[i].length = PAGE;
    }
    g_assert_cmpint(check_elems(e, XEN_PVSCSI_SG_GRANT_MAX, &total), ==,
                    HOST_OK);
    g_assert_cmpuint(total, ==, (uint64_t)XEN_PVSCSI_SG_GRANT_MAX * 4096);

    /* mixed lengths */
    for (i = 0; i < 100; i++) {
        e[i].offset = i;
        e[i].length = i * 37;
        want += i * 37;
    }
    g_assert_cmpint(check_elems(e, 100, &total), ==, HOST_OK);
    g_assert_cmpuint(total, ==, want);
}

/* One bad element anywhere fails the whole list, with total 0. */
static void test_check_elems_bad_anywhere(void)
{
    vscsiif_segment_t e[26];
    uint64_t total;
    unsigned int i, bad;

    for (bad = 0; bad < 26; bad++) {
        for (i = 0; i < 26; i++) {
            e[i].gref = i;
            e[i].offset = 0;
            e[i].length = PAGE;
        }
        e[bad].offset = 1;
        g_assert_cmpint(check_elems(e, 26, &total), ==, HOST_ERROR);
        /* elements beyond n are not looked at */
        g_assert_cmpint(check_elems(e, bad, &total), ==, HOST_OK);
        g_assert_cmpuint(total, ==, (uint64_t)bad * PAGE);
    }
}

/* ------------------------------------------------------------------ */
/* xen_pvscsi_sg_window                                               */

typedef struct Expect {
    uint32_t gref;
    uint16_t offset, len;
    uint32_t buf_off;
} Expect;

static void window_expect(const vscsiif_segment_t *e, unsigned int n,
                          uint64_t pos, uint32_t len,
                          const Expect *want, unsigned int nwant,
                          uint32_t want_covered)
{
    XenPVSCSICopySeg *out = g_new(XenPVSCSICopySeg, n + 1);
    uint32_t covered = 0xdeadbeef;
    unsigned int got, i;

    memset(out, 0xa5, sizeof(*out) * (n + 1));
    got = xen_pvscsi_sg_window(e, n, pos, len, out, &covered);
    g_assert_cmpuint(got, ==, nwant);
    g_assert_cmpuint(covered, ==, want_covered);
    for (i = 0; i < nwant; i++) {
        g_assert_cmpuint(out[i].gref, ==, want[i].gref);
        g_assert_cmpuint(out[i].offset, ==, want[i].offset);
        g_assert_cmpuint(out[i].len, ==, want[i].len);
        g_assert_cmpuint(out[i].buf_off, ==, want[i].buf_off);
    }
    /* nothing is written beyond the returned count */
    g_assert_cmpuint(out[n].gref, ==, 0xa5a5a5a5);
    g_free(out);
}

/*
 * Reference model: expand the data into one (gref, page offset) pair per
 * byte and check a window byte by byte. Also checks the invariants that
 * the device glue relies on. Returns the number of segments.
 */
static unsigned int window_check_model(const vscsiif_segment_t *e,
                                       unsigned int n, uint64_t pos,
                                       uint32_t len)
{
    XenPVSCSICopySeg *out = g_new(XenPVSCSICopySeg, n ? n : 1);
    uint64_t total = 0, data_off, want_cov;
    uint32_t covered = 0xdeadbeef, sum = 0;
    unsigned int nout, i, k, nonzero = 0;

    for (i = 0; i < n; i++) {
        total += e[i].length;
        nonzero += e[i].length != 0;
    }
    want_cov = pos >= total ? 0 : MIN(total - pos, (uint64_t)len);

    nout = xen_pvscsi_sg_window(e, n, pos, len, out, &covered);
    g_assert_cmpuint(covered, ==, want_cov);
    g_assert_cmpuint(covered, <=, len);
    g_assert_cmpuint(nout, <=, nonzero);

    for (k = 0; k < nout; k++) {
        g_assert_cmpuint(out[k].len, >, 0);
        g_assert_cmpuint((uint32_t)out[k].offset + out[k].len, <=, PAGE);
        g_assert_cmpuint(out[k].buf_off, ==, sum);
        sum += out[k].len;
    }
    g_assert_cmpuint(sum, ==, covered);

    /* byte-exact: window byte b maps to the same place as data byte pos+b */
    data_off = 0;
    i = 0;
    {
        uint64_t elem_start = 0;

        for (k = 0; k < nout; k++) {
            uint32_t b;

            for (b = 0; b < out[k].len; b++) {
                uint64_t want = pos + out[k].buf_off + b;

                while (i < n && elem_start + e[i].length <= want) {
                    elem_start += e[i].length;
                    i++;
                }
                g_assert_cmpuint(i, <, n);
                data_off = want - elem_start;
                g_assert_cmpuint(out[k].gref, ==, e[i].gref);
                g_assert_cmpuint(out[k].offset + b, ==,
                                 e[i].offset + data_off);
            }
        }
    }
    g_free(out);
    return nout;
}

static const vscsiif_segment_t two_pages[2] = {
    { .gref = 11, .offset = 0, .length = 4096 },
    { .gref = 12, .offset = 0, .length = 4096 },
};

static void test_window_start(void)
{
    const Expect w[] = { { 11, 0, 512, 0 } };
    const Expect whole[] = { { 11, 0, 4096, 0 }, { 12, 0, 4096, 4096 } };

    window_expect(two_pages, 2, 0, 512, w, 1, 512);
    window_expect(two_pages, 2, 0, 8192, whole, 2, 8192);
    window_check_model(two_pages, 2, 0, 1);
}

static void test_window_middle(void)
{
    const Expect w[] = { { 11, 1000, 100, 0 } };
    const Expect w2[] = { { 12, 1, 4094, 0 } };

    window_expect(two_pages, 2, 1000, 100, w, 1, 100);
    window_expect(two_pages, 2, 4097, 4094, w2, 1, 4094);
}

static void test_window_cross(void)
{
    const Expect w[] = { { 11, 4000, 96, 0 }, { 12, 0, 104, 96 } };
    const Expect w1[] = { { 11, 4095, 1, 0 }, { 12, 0, 1, 1 } };
    const Expect w3[] = { { 1, 4095, 1, 0 }, { 2, 0, 4096, 1 },
                          { 3, 0, 1, 4097 } };
    const vscsiif_segment_t three[3] = {
        { 1, 0, 4096 }, { 2, 0, 4096 }, { 3, 0, 4096 },
    };

    window_expect(two_pages, 2, 4000, 200, w, 2, 200);
    window_expect(two_pages, 2, 4095, 2, w1, 2, 2);
    window_expect(three, 3, 4095, 4098, w3, 3, 4098);
}

static void test_window_end(void)
{
    const Expect w[] = { { 12, 3996, 100, 0 } };
    const Expect last[] = { { 12, 4095, 1, 0 } };

    window_expect(two_pages, 2, 8192 - 100, 100, w, 1, 100);
    window_expect(two_pages, 2, 8191, 1, last, 1, 1);
}

static void test_window_past_end(void)
{
    const Expect w[] = { { 12, 3904, 192, 0 } };
    const Expect all[] = { { 11, 0, 4096, 0 }, { 12, 0, 4096, 4096 } };

    window_expect(two_pages, 2, 8000, 1000, w, 1, 192);
    window_expect(two_pages, 2, 0, 131072, all, 2, 8192);
    window_expect(two_pages, 2, 0, UINT32_MAX, all, 2, 8192);
    /* starting at or beyond the end: nothing covered */
    window_expect(two_pages, 2, 8192, 10, NULL, 0, 0);
    window_expect(two_pages, 2, 8193, 10, NULL, 0, 0);
    window_expect(two_pages, 2, 1ULL << 40, 4096, NULL, 0, 0);
    window_expect(two_pages, 2, UINT64_MAX, UINT32_MAX, NULL, 0, 0);
    window_expect(two_pages, 2, UINT64_MAX - 4096, UINT32_MAX, NULL, 0, 0);
    /* no data at all */
    window_expect(two_pages, 0, 0, 4096, NULL, 0, 0);
}

static void test_window_zero_len(void)
{
    window_expect(two_pages, 2, 0, 0, NULL, 0, 0);
    window_expect(two_pages, 2, 4096, 0, NULL, 0, 0);
    window_expect(two_pages, 2, 9000, 0, NULL, 0, 0);
}

static void test_window_zero_length_elems(void)
{
    const vscsiif_segment_t e[] = {
        { 1, 0, 0 }, { 2, 0, 100 }, { 3, 50, 0 }, { 4, 4096, 0 },
        { 5, 200, 100 }, { 6, 0, 0 },
    };
    const Expect w[] = { { 2, 50, 50, 0 }, { 5, 200, 50, 50 } };
    const Expect all[] = { { 2, 0, 100, 0 }, { 5, 200, 100, 100 } };
    const Expect at100[] = { { 5, 200, 100, 0 } };
    const vscsiif_segment_t only0[] = { { 1, 0, 0 }, { 2, 8, 0 } };

    window_expect(e, 6, 50, 100, w, 2, 100);
    window_expect(e, 6, 0, 1000, all, 2, 200);
    /* a window starting exactly where zero-length elements sit */
    window_expect(e, 6, 100, 100, at100, 1, 100);
    window_expect(e, 6, 200, 1, NULL, 0, 0);
    window_expect(only0, 2, 0, 4096, NULL, 0, 0);
}

static void test_window_nonzero_offsets(void)
{
    const vscsiif_segment_t e[] = {
        { 7, 512, 1024 }, { 8, 100, 3996 }, { 9, 4000, 96 },
    };
    const Expect w[] = { { 7, 612, 924, 0 }, { 8, 100, 1076, 924 } };
    const Expect w2[] = { { 8, 4095, 1, 0 }, { 9, 4000, 96, 1 } };

    window_expect(e, 3, 100, 2000, w, 2, 2000);
    window_expect(e, 3, 1024 + 3995, 500, w2, 2, 97);
}

/* scsi-disk moves data in 128 KiB chunks (SCSI_DMA_BUF_SIZE). */
static void test_window_scsi_disk_chunks(void)
{
    vscsiif_segment_t e[128];
    XenPVSCSICopySeg out[128];
    unsigned int i, w, nout;
    uint32_t covered;

    for (i = 0; i < 128; i++) {
        e[i].gref = 0x1000 + i;
        e[i].offset = 0;
        e[i].length = PAGE;
    }
    for (w = 0; w < 4; w++) {
        nout = xen_pvscsi_sg_window(e, 128, (uint64_t)w * 131072, 131072,
                                    out, &covered);
        g_assert_cmpuint(nout, ==, 32);
        g_assert_cmpuint(covered, ==, 131072);
        for (i = 0; i < 32; i++) {
            g_assert_cmpuint(out[i].gref, ==, 0x1000 + w * 32 + i);
            g_assert_cmpuint(out[i].offset, ==, 0);
            g_assert_cmpuint(out[i].len, ==, PAGE);
            g_assert_cmpuint(out[i].buf_off, ==, i * PAGE);
        }
        window_check_model(e, 128, (uint64_t)w * 131072, 131072);
    }
    /* a fifth chunk finds no data */
    nout = xen_pvscsi_sg_window(e, 128, 4 * 131072, 131072, out, &covered);
    g_assert_cmpuint(nout, ==, 0);
    g_assert_cmpuint(covered, ==, 0);

    /* the same 512 KiB as an unaligned buffer: 129 elements */
    {
        vscsiif_segment_t u[129];
        XenPVSCSICopySeg o[129];

        u[0].gref = 0x2000;
        u[0].offset = 3584;
        u[0].length = 512;
        for (i = 1; i < 128; i++) {
            u[i].gref = 0x2000 + i;
            u[i].offset = 0;
            u[i].length = PAGE;
        }
        u[128].gref = 0x2080;
        u[128].offset = 0;
        u[128].length = 3584;
        for (w = 0; w < 4; w++) {
            nout = xen_pvscsi_sg_window(u, 129, (uint64_t)w * 131072, 131072,
                                        o, &covered);
            g_assert_cmpuint(covered, ==, 131072);
            g_assert_cmpuint(nout, ==, 33);
            /* every chunk starts 3584 bytes into a page */
            g_assert_cmpuint(o[0].offset, ==, 3584);
            g_assert_cmpuint(o[0].len, ==, 512);
            g_assert_cmpuint(o[32].len, ==, 3584);
            g_assert_cmpuint(o[32].buf_off, ==, 131072 - 3584);
            window_check_model(u, 129, (uint64_t)w * 131072, 131072);
        }
    }
}

/* Consecutive windows tile the data: every byte once, in order. */
static void tile(const vscsiif_segment_t *e, unsigned int n, uint32_t wlen)
{
    XenPVSCSICopySeg *out = g_new(XenPVSCSICopySeg, n ? n : 1);
    uint64_t total = 0, pos = 0;
    unsigned int i = 0, k;
    uint32_t covered, in_elem = 0;

    for (k = 0; k < n; k++) {
        total += e[k].length;
    }
    for (;;) {
        unsigned int nout = xen_pvscsi_sg_window(e, n, pos, wlen, out,
                                                 &covered);

        for (k = 0; k < nout; k++) {
            while (i < n && in_elem == e[i].length) {
                i++;
                in_elem = 0;
            }
            g_assert_cmpuint(i, <, n);
            g_assert_cmpuint(out[k].gref, ==, e[i].gref);
            g_assert_cmpuint(out[k].offset, ==, e[i].offset + in_elem);
            g_assert_cmpuint(out[k].len, <=, e[i].length - in_elem);
            in_elem += out[k].len;
        }
        pos += covered;
        if (covered < wlen) {
            break;
        }
    }
    g_assert_cmpuint(pos, ==, total);
    g_free(out);
}

static void test_window_tiling(void)
{
    const vscsiif_segment_t e[] = {
        { 7, 512, 1024 }, { 8, 0, 0 }, { 9, 100, 3996 }, { 10, 4000, 96 },
        { 11, 0, 4096 }, { 12, 1, 1 },
    };
    static const uint32_t wlens[] = { 1, 2, 7, 96, 512, 1000, 4096, 4097,
                                      9300, 131072 };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(wlens); i++) {
        tile(e, ARRAY_SIZE(e), wlens[i]);
        tile(two_pages, 2, wlens[i]);
    }
}

/* Every window position and a range of lengths over a mixed list. */
static void test_window_exhaustive_small(void)
{
    const vscsiif_segment_t e[] = {
        { 1, 4090, 6 }, { 2, 0, 0 }, { 3, 0, 5 }, { 4, 17, 1 },
        { 5, 4000, 9 }, { 6, 0, 0 },
    };
    uint64_t pos;
    uint32_t len;

    for (pos = 0; pos <= 25; pos++) {
        for (len = 0; len <= 25; len++) {
            window_check_model(e, ARRAY_SIZE(e), pos, len);
        }
    }
}

/* Random element lists and windows against the reference model. */
static void test_window_random(void)
{
    unsigned int iter;

    for (iter = 0; iter < 2000; iter++) {
        vscsiif_segment_t e[40];
        unsigned int n = g_test_rand_int_range(0, 40), i;
        uint64_t total = 0, pos;
        uint32_t len;

        for (i = 0; i < n; i++) {
            uint16_t off = g_test_rand_int_range(0, PAGE + 1);
            uint16_t l;

            if (g_test_rand_int_range(0, 5) == 0) {
                l = 0;
            } else {
                l = g_test_rand_int_range(0, PAGE - off + 1);
            }
            e[i].gref = g_test_rand_int();
            e[i].offset = off;
            e[i].length = l;
            total += l;
        }
        {
            uint64_t dummy;

            g_assert_cmpint(check_elems(e, n, &dummy), ==, HOST_OK);
            g_assert_cmpuint(dummy, ==, total);
        }
        pos = g_test_rand_int_range(0, total + 100);
        len = g_test_rand_int_range(0, total + 100);
        window_check_model(e, n, pos, len);
        if (iter % 50 == 0) {
            tile(e, n, g_test_rand_int_range(1, 20000));
        }
    }
}

/* ------------------------------------------------------------------ */
/* xen_pvscsi_host_code                                               */

static void test_host_code_identity(void)
{
    static const struct {
        int qemu;
        uint8_t xen;
    } map[] = {
        { SCSI_HOST_OK, XEN_VSCSIIF_RSLT_HOST_OK },
        { SCSI_HOST_NO_LUN, XEN_VSCSIIF_RSLT_HOST_NO_CONNECT },
        { SCSI_HOST_BUSY, XEN_VSCSIIF_RSLT_HOST_BUS_BUSY },
        { SCSI_HOST_TIME_OUT, XEN_VSCSIIF_RSLT_HOST_TIME_OUT },
        { SCSI_HOST_BAD_RESPONSE, XEN_VSCSIIF_RSLT_HOST_BAD_TARGET },
        { SCSI_HOST_ABORTED, XEN_VSCSIIF_RSLT_HOST_ABORT },
        { SCSI_HOST_ERROR, XEN_VSCSIIF_RSLT_HOST_ERROR },
        { SCSI_HOST_RESET, XEN_VSCSIIF_RSLT_HOST_RESET },
        { SCSI_HOST_TRANSPORT_DISRUPTED,
          XEN_VSCSIIF_RSLT_HOST_TRANSPORT_DISRUPTED },
        { SCSI_HOST_TARGET_FAILURE, XEN_VSCSIIF_RSLT_HOST_TARGET_FAILURE },
        { SCSI_HOST_RESERVATION_ERROR, XEN_VSCSIIF_RSLT_HOST_NEXUS_FAILURE },
        { SCSI_HOST_ALLOCATION_FAILURE, XEN_VSCSIIF_RSLT_HOST_ALLOC_FAILURE },
        { SCSI_HOST_MEDIUM_ERROR, XEN_VSCSIIF_RSLT_HOST_MEDIUM_ERROR },
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(map); i++) {
        g_assert_cmpint(map[i].qemu, ==, map[i].xen);
        g_assert_cmpuint(xen_pvscsi_host_code(map[i].qemu), ==, map[i].xen);
    }
    /* the numbers themselves (vscsiif.h / Linux DID_*) */
    g_assert_cmpuint(xen_pvscsi_host_code(0), ==, 0);
    g_assert_cmpuint(xen_pvscsi_host_code(1), ==, 1);
    g_assert_cmpuint(xen_pvscsi_host_code(5), ==, 5);
    g_assert_cmpuint(xen_pvscsi_host_code(7), ==, 7);
    g_assert_cmpuint(xen_pvscsi_host_code(8), ==, 8);
    g_assert_cmpuint(xen_pvscsi_host_code(14), ==, 14);
    g_assert_cmpuint(xen_pvscsi_host_code(19), ==, 19);
}

static void test_host_code_unknown(void)
{
    static const int unknown[] = {
        -1, -7, INT_MIN, INT_MAX, 21, 22, 255, 256, 0x100 | 7, 0x10000,
        0x10005, 0x7fffff00, -256, -249,
        /* vscsiif codes that QEMU's SCSIHostStatus does not define */
        6, 9, 10, 11, 12, 13, 15, 20,
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(unknown); i++) {
        g_assert_cmpuint(xen_pvscsi_host_code(unknown[i]), ==,
                         XEN_VSCSIIF_RSLT_HOST_ERROR);
    }
}

static void test_host_code_range(void)
{
    int v;

    for (v = -70000; v <= 70000; v++) {
        uint8_t h = xen_pvscsi_host_code(v);

        g_assert_cmpuint(h, <=, XEN_VSCSIIF_RSLT_HOST_TRANSPORT_MARGINAL);
        if (v < 0 || v > 20) {
            g_assert_cmpuint(h, ==, XEN_VSCSIIF_RSLT_HOST_ERROR);
        } else {
            g_assert_true(h == v || h == XEN_VSCSIIF_RSLT_HOST_ERROR);
        }
    }
    g_assert_cmpuint(xen_pvscsi_host_code(INT_MIN), <=, 20);
    g_assert_cmpuint(xen_pvscsi_host_code(INT_MAX), <=, 20);
}

/*
 * Linux xen-scsifront knows host codes 0-15 and turns 16-20 into
 * DID_ERROR: exactly those are answered as a SCSI status instead, which
 * covers every QEMU host status above 15.
 */
static void test_host_as_status(void)
{
    static const int qemu_beyond_frontend[] = {
        SCSI_HOST_TARGET_FAILURE, SCSI_HOST_RESERVATION_ERROR,
        SCSI_HOST_ALLOCATION_FAILURE, SCSI_HOST_MEDIUM_ERROR,
    };
    unsigned int v, i;

    for (v = 0; v <= 255; v++) {
        g_assert_cmpint(xen_pvscsi_host_as_status(v), ==, v >= 16 && v <= 20);
    }
    for (i = 0; i < ARRAY_SIZE(qemu_beyond_frontend); i++) {
        uint8_t h = xen_pvscsi_host_code(qemu_beyond_frontend[i]);

        g_assert_true(xen_pvscsi_host_as_status(h));
    }
    g_assert_false(xen_pvscsi_host_as_status(
                       xen_pvscsi_host_code(SCSI_HOST_TRANSPORT_DISRUPTED)));
    g_assert_false(xen_pvscsi_host_as_status(
                       xen_pvscsi_host_code(SCSI_HOST_ERROR)));
}

/* ------------------------------------------------------------------ */
/* xen_pvscsi_encode_cdb / xen_pvscsi_encode_tmf                      */

static void assert_zero(const void *p, size_t len)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < len; i++) {
        g_assert_cmpuint(b[i], ==, 0);
    }
}

static void test_encode_cdb_rslt(void)
{
    unsigned int host, status;
    vscsiif_response_t rsp;

    for (host = 0; host <= 255; host++) {
        for (status = 0; status <= 255; status++) {
            uint32_t r;

            memset(&rsp, 0xff, sizeof(rsp));
            xen_pvscsi_encode_cdb(&rsp, 1, host, status, NULL, 0, 0);
            r = (uint32_t)rsp.rslt;
            g_assert_cmphex(r, ==, (host << 16) | status);
            g_assert_cmphex(r & 0xff000000u, ==, 0);
            g_assert_cmphex(r & 0x0000ff00u, ==, 0);
            g_assert_cmpuint(XEN_VSCSIIF_RSLT_HOST(rsp.rslt), ==, host);
            g_assert_cmpuint(XEN_VSCSIIF_RSLT_STATUS(rsp.rslt), ==, status);
            g_assert_cmpint(rsp.rslt, >=, 0);
        }
    }
}

static void test_encode_cdb_values(void)
{
    vscsiif_response_t rsp;

    /* GOOD */
    xen_pvscsi_encode_cdb(&rsp, 0, XEN_VSCSIIF_RSLT_HOST_OK, 0, NULL, 0, 0);
    g_assert_cmphex(rsp.rslt, ==, 0);
    /* CHECK CONDITION */
    xen_pvscsi_encode_cdb(&rsp, 0, XEN_VSCSIIF_RSLT_HOST_OK, 0x02, NULL, 0, 0);
    g_assert_cmphex(rsp.rslt, ==, 0x00000002);
    /* unknown LUN */
    xen_pvscsi_encode_cdb(&rsp, 0, XEN_VSCSIIF_RSLT_HOST_NO_CONNECT, 0,
                          NULL, 0, 0);
    g_assert_cmphex(rsp.rslt, ==, 0x00010000);
    /* invalid request */
    xen_pvscsi_encode_cdb(&rsp, 0, XEN_VSCSIIF_RSLT_HOST_ERROR, 0, NULL, 0, 0);
    g_assert_cmphex(rsp.rslt, ==, 0x00070000);
    /* aborted / reset commands */
    xen_pvscsi_encode_cdb(&rsp, 0, XEN_VSCSIIF_RSLT_HOST_ABORT, 0, NULL, 0, 0);
    g_assert_cmphex(rsp.rslt, ==, 0x00050000);
    xen_pvscsi_encode_cdb(&rsp, 0, XEN_VSCSIIF_RSLT_HOST_RESET, 0, NULL, 0, 0);
    g_assert_cmphex(rsp.rslt, ==, 0x00080000);
    /* RESERVATION CONFLICT, TASK SET FULL, BUSY */
    xen_pvscsi_encode_cdb(&rsp, 0, 0, 0x18, NULL, 0, 0);
    g_assert_cmphex(rsp.rslt, ==, 0x18);
    xen_pvscsi_encode_cdb(&rsp, 0, 0, 0x28, NULL, 0, 0);
    g_assert_cmphex(rsp.rslt, ==, 0x28);
    xen_pvscsi_encode_cdb(&rsp, 0, 0, 0x08, NULL, 0, 0);
    g_assert_cmphex(rsp.rslt, ==, 0x08);
    xen_pvscsi_encode_cdb(&rsp, 0, 255, 255, NULL, 0, 0);
    g_assert_cmphex(rsp.rslt, ==, 0x00ff00ff);
}

static void test_encode_cdb_rqid(void)
{
    static const uint16_t ids[] = { 0, 1, 15, 16, 0x1234, 0xfffe, 0xffff };
    vscsiif_response_t rsp;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(ids); i++) {
        memset(&rsp, 0x5a, sizeof(rsp));
        xen_pvscsi_encode_cdb(&rsp, ids[i], 0, 0, NULL, 0, 0);
        g_assert_cmpuint(rsp.rqid, ==, ids[i]);
        memset(&rsp, 0x5a, sizeof(rsp));
        xen_pvscsi_encode_tmf(&rsp, ids[i], true);
        g_assert_cmpuint(rsp.rqid, ==, ids[i]);
    }
}

static void test_encode_cdb_residual(void)
{
    static const uint32_t res[] = { 0, 1, 511, 4096, 131072, 0x7fffffff,
                                    0x80000000, UINT32_MAX };
    vscsiif_response_t rsp;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(res); i++) {
        memset(&rsp, 0x5a, sizeof(rsp));
        xen_pvscsi_encode_cdb(&rsp, 3, 0, 0, NULL, 0, res[i]);
        g_assert_cmpuint(rsp.residual_len, ==, res[i]);
        g_assert_cmphex(rsp.rslt, ==, 0);
    }
}

static void test_encode_cdb_no_sense(void)
{
    vscsiif_response_t rsp;
    uint8_t sense[18] = { 0x70, 0, 0x05, 0, 0, 0, 0, 10, [12] = 0x24 };

    memset(&rsp, 0x5a, sizeof(rsp));
    xen_pvscsi_encode_cdb(&rsp, 3, 0, 0, NULL, 0, 0);
    g_assert_cmpuint(rsp.sense_len, ==, 0);
    assert_zero(rsp.sense_buffer, sizeof(rsp.sense_buffer));

    memset(&rsp, 0x5a, sizeof(rsp));
    xen_pvscsi_encode_cdb(&rsp, 3, 0, 2, NULL, 18, 0);
    g_assert_cmpuint(rsp.sense_len, ==, 0);
    assert_zero(rsp.sense_buffer, sizeof(rsp.sense_buffer));

    memset(&rsp, 0x5a, sizeof(rsp));
    xen_pvscsi_encode_cdb(&rsp, 3, 0, 2, sense, 0, 0);
    g_assert_cmpuint(rsp.sense_len, ==, 0);
    assert_zero(rsp.sense_buffer, sizeof(rsp.sense_buffer));
}

static void test_encode_cdb_sense(void)
{
    uint8_t sense[QEMU_SENSE_BUF_SIZE];
    vscsiif_response_t rsp;
    static const size_t lens[] = { 1, 18, 32, 95, 96, 97, 200,
                                   QEMU_SENSE_BUF_SIZE };
    size_t i, j;

    for (i = 0; i < sizeof(sense); i++) {
        sense[i] = i + 1;       /* no zero bytes */
    }
    for (i = 0; i < ARRAY_SIZE(lens); i++) {
        size_t want = MIN(lens[i], (size_t)VSCSIIF_SENSE_BUFFERSIZE);

        memset(&rsp, 0x5a, sizeof(rsp));
        xen_pvscsi_encode_cdb(&rsp, 9, 0, 2, sense, lens[i], 0);
        g_assert_cmpuint(rsp.sense_len, ==, want);
        g_assert_cmpuint(rsp.sense_len, <=, VSCSIIF_SENSE_BUFFERSIZE);
        g_assert_cmpint(memcmp(rsp.sense_buffer, sense, want), ==, 0);
        for (j = want; j < VSCSIIF_SENSE_BUFFERSIZE; j++) {
            g_assert_cmpuint(rsp.sense_buffer[j], ==, 0);
        }
        /* nothing spills into rslt */
        g_assert_cmphex(rsp.rslt, ==, 2);
        g_assert_cmpuint(rsp.residual_len, ==, 0);
    }
    /* SIZE_MAX must not overflow anything either (buffer is large enough) */
    memset(&rsp, 0x5a, sizeof(rsp));
    xen_pvscsi_encode_cdb(&rsp, 9, 0, 2, sense, SIZE_MAX, 0);
    g_assert_cmpuint(rsp.sense_len, ==, 96);
    g_assert_cmphex(rsp.rslt, ==, 2);
}

/* Everything that is not set explicitly is zero (act, reserved, ...). */
static void test_encode_cdb_rest_zero(void)
{
    vscsiif_response_t rsp;
    uint8_t sense[18];

    memset(sense, 0x77, sizeof(sense));
    memset(&rsp, 0xff, sizeof(rsp));
    xen_pvscsi_encode_cdb(&rsp, 0xabcd, 7, 0x02, sense, 18, 4096);
    g_assert_cmpuint(rsp.rqid, ==, 0xabcd);
    g_assert_cmpuint(rsp.act, ==, 0);
    g_assert_cmpuint(rsp.sense_len, ==, 18);
    assert_zero(rsp.sense_buffer + 18, 96 - 18);
    g_assert_cmphex(rsp.rslt, ==, 0x00070002);
    g_assert_cmpuint(rsp.residual_len, ==, 4096);
    assert_zero(rsp.reserved, sizeof(rsp.reserved));
}

static void test_encode_tmf(void)
{
    vscsiif_response_t rsp, want;

    memset(&rsp, 0xff, sizeof(rsp));
    xen_pvscsi_encode_tmf(&rsp, 12, true);
    memset(&want, 0, sizeof(want));
    want.rqid = 12;
    want.rslt = 0x2002;
    g_assert_cmphex(rsp.rslt, ==, 0x2002);
    g_assert_cmphex(rsp.rslt, ==, XEN_VSCSIIF_RSLT_RESET_SUCCESS);
    g_assert_cmpint(memcmp(&rsp, &want, sizeof(rsp)), ==, 0);

    memset(&rsp, 0xff, sizeof(rsp));
    xen_pvscsi_encode_tmf(&rsp, 0xffff, false);
    want.rqid = 0xffff;
    want.rslt = 0x2003;
    g_assert_cmphex(rsp.rslt, ==, 0x2003);
    g_assert_cmphex(rsp.rslt, ==, XEN_VSCSIIF_RSLT_RESET_FAILED);
    g_assert_cmpuint(rsp.sense_len, ==, 0);
    g_assert_cmpuint(rsp.residual_len, ==, 0);
    g_assert_cmpint(memcmp(&rsp, &want, sizeof(rsp)), ==, 0);
}


/* ------------------------------------------------------------------ */
/* Task management: what a TMF covers, and when it is answered        */

static vscsiif_request_t tmf_req(uint8_t act, uint16_t rqid, uint16_t ref,
                                 uint16_t chn, uint16_t id, uint16_t lun)
{
    vscsiif_request_t t;

    memset(&t, 0, sizeof(t));
    t.act = act;
    t.rqid = rqid;
    t.ref_rqid = ref;
    t.channel = chn;
    t.id = id;
    t.lun = lun;
    return t;
}

static vscsiif_request_t lun_req(uint16_t rqid, uint16_t id, uint16_t lun)
{
    vscsiif_request_t r = cdb_req(rqid, VSCSIIF_DIR_FROM_DEVICE, 1);

    r.id = id;
    r.lun = lun;
    return r;
}

static void test_tmf_covers(void)
{
    vscsiif_request_t abort = tmf_req(VSCSIIF_ACT_SCSI_ABORT, 9, 4, 0, 1, 0);
    vscsiif_request_t reset = tmf_req(VSCSIIF_ACT_SCSI_RESET, 10, 0, 0, 1, 0);
    vscsiif_request_t r4 = lun_req(4, 1, 0), r5 = lun_req(5, 1, 0);
    vscsiif_request_t other_lun = lun_req(4, 1, 1);
    vscsiif_request_t other_id = lun_req(4, 2, 0);
    vscsiif_request_t other_chn = lun_req(4, 1, 0);
    vscsiif_request_t a_tmf = tmf_req(VSCSIIF_ACT_SCSI_ABORT, 4, 0, 0, 1, 0);
    vscsiif_request_t bogus = reset;

    other_chn.channel = 1;
    /* ABORT: exactly ref_rqid on the same nexus, once */
    g_assert_true(xen_pvscsi_tmf_covers(&abort, &r4, false));
    g_assert_false(xen_pvscsi_tmf_covers(&abort, &r4, true));
    g_assert_false(xen_pvscsi_tmf_covers(&abort, &r5, false));
    g_assert_false(xen_pvscsi_tmf_covers(&abort, &other_lun, false));
    g_assert_false(xen_pvscsi_tmf_covers(&abort, &other_id, false));
    g_assert_false(xen_pvscsi_tmf_covers(&abort, &other_chn, false));
    g_assert_false(xen_pvscsi_tmf_covers(&abort, &a_tmf, false));
    /* RESET: every CDB of the LUN, aborted ones too; nothing else */
    g_assert_true(xen_pvscsi_tmf_covers(&reset, &r4, false));
    g_assert_true(xen_pvscsi_tmf_covers(&reset, &r5, true));
    g_assert_false(xen_pvscsi_tmf_covers(&reset, &other_lun, false));
    g_assert_false(xen_pvscsi_tmf_covers(&reset, &other_id, false));
    g_assert_false(xen_pvscsi_tmf_covers(&reset, &other_chn, false));
    g_assert_false(xen_pvscsi_tmf_covers(&reset, &a_tmf, false));
    /* anything else covers nothing */
    bogus.act = VSCSIIF_ACT_SCSI_CDB;
    g_assert_false(xen_pvscsi_tmf_covers(&bogus, &r4, false));
    bogus.act = 0xff;
    g_assert_false(xen_pvscsi_tmf_covers(&bogus, &r4, false));
}

/* Seed 002's ring-page-order / num-ring-pages negotiation. */
static void test_ring_order(void)
{
    unsigned int o = 99, v, w;
    const char *why;

    /* Neither node: one page (today's Linux frontend). */
    g_assert_cmpint(xen_pvscsi_ring_order(NULL, NULL, 4, &o, &why), ==, 0);
    g_assert_cmpuint(o, ==, 0);
    for (v = 0; v <= 4; v++) {
        g_assert_cmpint(xen_pvscsi_ring_order(&v, NULL, 4, &o, &why), ==, 0);
        g_assert_cmpuint(o, ==, v);
        w = 1u << v;
        g_assert_cmpint(xen_pvscsi_ring_order(NULL, &w, 4, &o, &why), ==, 0);
        g_assert_cmpuint(o, ==, v);
        g_assert_cmpint(xen_pvscsi_ring_order(&v, &w, 4, &o, &why), ==, 0);
        g_assert_cmpuint(o, ==, v);
    }
    /* Above the maximum, as order or as pages; max 0 allows order 0 only */
    o = 99;
    v = 5;
    g_assert_cmpint(xen_pvscsi_ring_order(&v, NULL, 4, &o, &why), ==, -1);
    g_assert_nonnull(why);
    g_assert_cmpuint(o, ==, 99);
    v = 1;
    g_assert_cmpint(xen_pvscsi_ring_order(&v, NULL, 0, &o, &why), ==, -1);
    v = UINT_MAX;
    g_assert_cmpint(xen_pvscsi_ring_order(&v, NULL, 4, &o, &why), ==, -1);
    w = 32;
    g_assert_cmpint(xen_pvscsi_ring_order(NULL, &w, 4, &o, &why), ==, -1);
    /* Not a power of two, zero pages, disagreeing nodes */
    for (w = 0; w < 20; w++) {
        if (w && !(w & (w - 1))) {
            continue;
        }
        g_assert_cmpint(xen_pvscsi_ring_order(NULL, &w, 4, &o, &why), ==, -1);
        g_assert_nonnull(why);
    }
    v = 2;
    w = 8;
    g_assert_cmpint(xen_pvscsi_ring_order(&v, &w, 4, &o, &why), ==, -1);
    g_assert_cmpuint(o, ==, 99);
}

static void test_tmf_order_release(void)
{
    XenPVSCSITmfOrder o;

    xen_pvscsi_tmf_order_init(&o);
    xen_pvscsi_tmf_order_hold(&o);
    g_assert_false(xen_pvscsi_tmf_order_release(&o));
    g_assert_true(xen_pvscsi_tmf_order_release(&o));
    /* a stray release after the answer does not answer again */
    g_assert_false(xen_pvscsi_tmf_order_release(&o));
    g_assert_false(xen_pvscsi_tmf_order_release(&o));
}

/*
 * The device's TMF sequence, simulated: up to 16 CDBs in flight on two
 * LUNs, a TMF (ABORT of one of them, or RESET of LUN 0) takes a count for
 * each request it covers; covered requests answer in random order (each
 * response is logged, then its count released), the issuer drops its own
 * count at a random point, and for a RESET a grace timeout may take and
 * drop an extra count in between. Whatever the order, the TMF is answered
 * exactly once, after every request it covers, and never before its
 * issuer let go.
 */
static void test_tmf_order_random(void)
{
    unsigned int round;

    for (round = 0; round < 20000; round++) {
        vscsiif_request_t reqs[16], t;
        bool covered[16], done[16] = { false };
        unsigned int n = 1 + g_test_rand_int_range(0, 16), i, ncov = 0;
        unsigned int left, answers = 0, steps = 0, issuer_at, timeout_at;
        bool issuer_done = false, timed_out = false, is_reset;
        XenPVSCSITmfOrder o;

        for (i = 0; i < n; i++) {
            reqs[i] = lun_req(i, 1, g_test_rand_int_range(0, 2));
        }
        is_reset = g_test_rand_bit();
        if (is_reset) {
            t = tmf_req(VSCSIIF_ACT_SCSI_RESET, 16, 0, 0, 1, 0);
        } else {
            i = g_test_rand_int_range(0, n);
            t = tmf_req(VSCSIIF_ACT_SCSI_ABORT, 16, reqs[i].rqid, 0, 1,
                        reqs[i].lun);
        }
        xen_pvscsi_tmf_order_init(&o);
        for (i = 0; i < n; i++) {
            covered[i] = xen_pvscsi_tmf_covers(&t, &reqs[i], false);
            if (covered[i]) {
                xen_pvscsi_tmf_order_hold(&o);
                ncov++;
            }
        }
        if (!is_reset) {
            g_assert_cmpuint(ncov, ==, 1);
        }
        issuer_at = g_test_rand_int_range(0, n + 1);
        timeout_at = is_reset ? g_test_rand_int_range(0, n + 2) : n + 2;
        left = ncov;
        while (left || !issuer_done) {
            if (steps == issuer_at && !issuer_done) {
                issuer_done = true;
                if (xen_pvscsi_tmf_order_release(&o)) {
                    g_assert_cmpuint(left, ==, 0);
                    answers++;
                }
            } else if (steps == timeout_at && !timed_out && !issuer_done) {
                /* the grace timeout: hold, cancel what is left, release */
                timed_out = true;
                xen_pvscsi_tmf_order_hold(&o);
                g_assert_false(xen_pvscsi_tmf_order_release(&o));
            } else if (left) {
                do {
                    i = g_test_rand_int_range(0, n);
                } while (!covered[i] || done[i]);
                done[i] = true;      /* its response is on the ring... */
                left--;
                if (xen_pvscsi_tmf_order_release(&o)) {   /* ...then this */
                    g_assert_true(issuer_done);
                    g_assert_cmpuint(left, ==, 0);
                    answers++;
                }
            } else {
                issuer_at = steps + 1;
            }
            steps++;
        }
        g_assert_cmpuint(answers, ==, 1);
        for (i = 0; i < n; i++) {
            g_assert_true(done[i] == covered[i]);
        }
    }
}

/* ------------------------------------------------------------------ */
/* The whole pipeline, as the device uses it                          */

/*
 * An indirect READ of 512 KiB as scsifront sends it with
 * feature-sg-grant = 128: 128 elements in a list starting at offset 3584
 * of one page and continuing on the next.
 */
static void test_pipeline_indirect_read(void)
{
    static uint8_t pages[2][PAGE];
    vscsiif_segment_t elems[128];
    XenPVSCSICopySeg out[128];
    vscsiif_request_t slot = cdb_req(5, VSCSIIF_DIR_FROM_DEVICE,
                                     VSCSIIF_SG_GRANT | 2);
    XenPVSCSIDecoded d;
    vscsiif_response_t rsp;
    const char *why;
    unsigned int nr_elems, i, k, got = 0, w;
    uint64_t total;
    uint32_t covered;

    for (i = 0; i < 128; i++) {
        vscsiif_segment_t s = { .gref = 0x5000 + i, .offset = 0,
                                .length = PAGE };
        size_t off = 3584 + i * sizeof(s);

        memcpy(&pages[off / PAGE][off % PAGE], &s, sizeof(s));
    }
    slot.seg[0] = (vscsiif_segment_t){ .gref = 1, .offset = 3584,
                                       .length = 512 };
    slot.seg[1] = (vscsiif_segment_t){ .gref = 2, .offset = 0,
                                       .length = 512 };

    g_assert_cmpint(xen_pvscsi_decode(&slot, &d, 128, &why), ==, HOST_OK);
    g_assert_cmpint(xen_pvscsi_check_indirect(&d, 128, &nr_elems, &why), ==,
                    HOST_OK);
    g_assert_cmpuint(nr_elems, ==, 128);

    /* gather: the way the device copies the SG pages */
    for (i = 0; i < d.nr_segs; i++) {
        const vscsiif_segment_t *s = &d.req.seg[i];

        memcpy(&elems[got], &pages[s->gref - 1][s->offset], s->length);
        got += s->length / sizeof(vscsiif_segment_t);
    }
    g_assert_cmpuint(got, ==, nr_elems);
    g_assert_cmpint(xen_pvscsi_check_elems(elems, got, &total, &why), ==,
                    HOST_OK);
    g_assert_cmpuint(total, ==, 512 * 1024);

    for (w = 0; w < 4; w++) {
        k = xen_pvscsi_sg_window(elems, got, w * 131072ULL, 131072, out,
                                 &covered);
        g_assert_cmpuint(k, ==, 32);
        g_assert_cmpuint(covered, ==, 131072);
        g_assert_cmpuint(out[0].gref, ==, 0x5000 + w * 32);
        g_assert_cmpuint(out[31].gref, ==, 0x5000 + w * 32 + 31);
    }

    xen_pvscsi_encode_cdb(&rsp, d.req.rqid, xen_pvscsi_host_code(SCSI_HOST_OK),
                          0, NULL, 0, 0);
    g_assert_cmpuint(rsp.rqid, ==, 5);
    g_assert_cmphex(rsp.rslt, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/xen-pvscsi/layout", test_layout);

    g_test_add_func("/xen-pvscsi/decode/cdb-ok", test_decode_cdb_ok);
    g_test_add_func("/xen-pvscsi/decode/act/all", test_decode_act_all);
    g_test_add_func("/xen-pvscsi/decode/act/sg-preset",
                    test_decode_act_sg_preset);
    g_test_add_func("/xen-pvscsi/decode/act/zero", test_decode_act_zero);
    g_test_add_func("/xen-pvscsi/decode/cmd-len", test_decode_cmd_len);
    g_test_add_func("/xen-pvscsi/decode/cmnd-copied", test_decode_cmnd_copied);
    g_test_add_func("/xen-pvscsi/decode/direction", test_decode_direction);
    g_test_add_func("/xen-pvscsi/decode/segments/direct",
                    test_decode_segments_direct);
    g_test_add_func("/xen-pvscsi/decode/segments/26-27",
                    test_decode_segments_26_27);
    g_test_add_func("/xen-pvscsi/decode/segments/indirect",
                    test_decode_segments_indirect);
    g_test_add_func("/xen-pvscsi/decode/segments/indirect-edges",
                    test_decode_segments_indirect_edges);
    g_test_add_func("/xen-pvscsi/decode/segments/indirect-unadvertised",
                    test_decode_segments_indirect_unadvertised);
    g_test_add_func("/xen-pvscsi/decode/segments/dma-none",
                    test_decode_segments_dma_none);
    g_test_add_func("/xen-pvscsi/decode/tmf/ignores-fields",
                    test_decode_tmf_ignores_fields);
    g_test_add_func("/xen-pvscsi/decode/tmf/fields-kept",
                    test_decode_tmf_fields_kept);
    g_test_add_func("/xen-pvscsi/decode/copies-slot", test_decode_copies_slot);
    g_test_add_func("/xen-pvscsi/decode/all-fields", test_decode_all_fields);
    g_test_add_func("/xen-pvscsi/decode/reuse", test_decode_reuse);

    g_test_add_func("/xen-pvscsi/check-indirect/not-indirect",
                    test_check_indirect_not_indirect);
    g_test_add_func("/xen-pvscsi/check-indirect/length-multiple-of-8",
                    test_check_indirect_length_multiple);
    g_test_add_func("/xen-pvscsi/check-indirect/bad-lengths",
                    test_check_indirect_bad_lengths);
    g_test_add_func("/xen-pvscsi/check-indirect/zero-length",
                    test_check_indirect_zero_length);
    g_test_add_func("/xen-pvscsi/check-indirect/page-end",
                    test_check_indirect_page_end);
    g_test_add_func("/xen-pvscsi/check-indirect/nonzero-offset",
                    test_check_indirect_nonzero_offset);
    g_test_add_func("/xen-pvscsi/check-indirect/max-sg",
                    test_check_indirect_max_sg);
    g_test_add_func("/xen-pvscsi/check-indirect/two-pages",
                    test_check_indirect_two_pages);
    g_test_add_func("/xen-pvscsi/check-indirect/26-pages",
                    test_check_indirect_26_pages);
    g_test_add_func("/xen-pvscsi/check-indirect/unused-ignored",
                    test_check_indirect_unused_ignored);

    g_test_add_func("/xen-pvscsi/check-elems/page-end",
                    test_check_elems_page_end);
    g_test_add_func("/xen-pvscsi/check-elems/zero-length",
                    test_check_elems_zero_length);
    g_test_add_func("/xen-pvscsi/check-elems/totals", test_check_elems_totals);
    g_test_add_func("/xen-pvscsi/check-elems/bad-anywhere",
                    test_check_elems_bad_anywhere);

    g_test_add_func("/xen-pvscsi/sg-window/start", test_window_start);
    g_test_add_func("/xen-pvscsi/sg-window/middle", test_window_middle);
    g_test_add_func("/xen-pvscsi/sg-window/cross", test_window_cross);
    g_test_add_func("/xen-pvscsi/sg-window/end", test_window_end);
    g_test_add_func("/xen-pvscsi/sg-window/past-end", test_window_past_end);
    g_test_add_func("/xen-pvscsi/sg-window/zero-len", test_window_zero_len);
    g_test_add_func("/xen-pvscsi/sg-window/zero-length-elems",
                    test_window_zero_length_elems);
    g_test_add_func("/xen-pvscsi/sg-window/nonzero-offsets",
                    test_window_nonzero_offsets);
    g_test_add_func("/xen-pvscsi/sg-window/scsi-disk-chunks",
                    test_window_scsi_disk_chunks);
    g_test_add_func("/xen-pvscsi/sg-window/tiling", test_window_tiling);
    g_test_add_func("/xen-pvscsi/sg-window/exhaustive-small",
                    test_window_exhaustive_small);
    g_test_add_func("/xen-pvscsi/sg-window/random", test_window_random);

    g_test_add_func("/xen-pvscsi/host-code/identity", test_host_code_identity);
    g_test_add_func("/xen-pvscsi/host-code/unknown", test_host_code_unknown);
    g_test_add_func("/xen-pvscsi/host-code/range", test_host_code_range);
    g_test_add_func("/xen-pvscsi/host-code/as-status", test_host_as_status);

    g_test_add_func("/xen-pvscsi/encode/cdb/rslt", test_encode_cdb_rslt);
    g_test_add_func("/xen-pvscsi/encode/cdb/values", test_encode_cdb_values);
    g_test_add_func("/xen-pvscsi/encode/cdb/rqid", test_encode_cdb_rqid);
    g_test_add_func("/xen-pvscsi/encode/cdb/residual",
                    test_encode_cdb_residual);
    g_test_add_func("/xen-pvscsi/encode/cdb/no-sense",
                    test_encode_cdb_no_sense);
    g_test_add_func("/xen-pvscsi/encode/cdb/sense", test_encode_cdb_sense);
    g_test_add_func("/xen-pvscsi/encode/cdb/rest-zero",
                    test_encode_cdb_rest_zero);
    g_test_add_func("/xen-pvscsi/encode/tmf", test_encode_tmf);
    g_test_add_func("/xen-pvscsi/tmf/covers", test_tmf_covers);
    g_test_add_func("/xen-pvscsi/ring/order", test_ring_order);
    g_test_add_func("/xen-pvscsi/tmf/order-release", test_tmf_order_release);
    g_test_add_func("/xen-pvscsi/tmf/order-random", test_tmf_order_random);

    g_test_add_func("/xen-pvscsi/pipeline/indirect-read",
                    test_pipeline_indirect_read);

    return g_test_run();
}
