/*
 * libFuzzer harness for the xen-pvscsi request engine
 * (hw/scsi/xen-pvscsi-proto.c).
 *
 * It plays a backend that got one ring slot and, for an indirect request,
 * the granted SG-list pages from a hostile frontend, and runs the engine
 * the way the device does:
 *
 *   decode -> (indirect) check_indirect -> gather the SG elements from the
 *   SG pages, honouring each page descriptor's offset and length ->
 *   check_elems -> sg_window (a few chosen windows, then the whole data in
 *   chunks) -> encode_cdb / encode_tmf
 *
 * and checks invariants of every result, calling abort() on a violation.
 * Buffers handed to the engine are heap blocks of the exact size, so that
 * AddressSanitizer reports any access past them.
 *
 * Input layout (short inputs are zero-padded):
 *
 *   [0, 252)            the ring slot (struct vscsiif_request)
 *   [252, 252 + 64)     control block, little endian:
 *                         u16 max_sg selector (see pick_max_sg)
 *                         u32 chunk length for the tiling pass (0: 128 KiB)
 *                         3 x { u64 pos, u32 len }  free windows
 *                         u16 sense length, i32 QEMU host status,
 *                         u8 SCSI status, u32 residual, u8 TMF success,
 *                         10 bytes unused
 *   [316, end)          SG-list page bytes: SG page i (the page behind
 *                       seg[i]) is bytes [i * 4096, (i + 1) * 4096) of
 *                       this tail, which is repeated cyclically when it is
 *                       shorter (all zero when there is no tail)
 *
 * scripts/xen-pvscsi/fuzz.sh builds and runs it; the seed generator
 * (tests/fuzz/xen-pvscsi-proto-seeds.py) writes inputs in this layout.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/scsi/xen-pvscsi-proto.h"

#define SLOT_SIZE   ((size_t)sizeof(vscsiif_request_t))
#define CTL_SIZE    64
#define PAGE        VSCSIIF_PAGE_SIZE
#define MAX_TILES   16

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "xen-pvscsi-proto-fuzz: %s:%d: invariant "    \
                    "violated: %s\n", __FILE__, __LINE__, #cond);         \
            abort();                                                      \
        }                                                                 \
    } while (0)

/* The control block, decoded. */
typedef struct Control {
    uint16_t max_sg_sel;
    uint32_t tile_len;
    struct {
        uint64_t pos;
        uint32_t len;
    } win[3];
    uint16_t sense_len;
    int32_t host_status;
    uint8_t status;
    uint32_t residual;
    uint8_t tmf_success;
} Control;

/* Little-endian read of @bytes bytes at *@pos of @p, zero past the end. */
static uint64_t rd(const uint8_t *p, size_t len, size_t *pos,
                   unsigned int bytes)
{
    uint64_t v = 0;
    unsigned int i;

    for (i = 0; i < bytes; i++, (*pos)++) {
        if (*pos < len) {
            v |= (uint64_t)p[*pos] << (8 * i);
        }
    }
    return v;
}

static void read_control(const uint8_t *p, size_t len, Control *c)
{
    size_t pos = 0;
    unsigned int i;

    c->max_sg_sel = rd(p, len, &pos, 2);
    c->tile_len = rd(p, len, &pos, 4);
    for (i = 0; i < 3; i++) {
        c->win[i].pos = rd(p, len, &pos, 8);
        c->win[i].len = rd(p, len, &pos, 4);
    }
    c->sense_len = rd(p, len, &pos, 2);
    c->host_status = (int32_t)(uint32_t)rd(p, len, &pos, 4);
    c->status = rd(p, len, &pos, 1);
    c->residual = rd(p, len, &pos, 4);
    c->tmf_success = rd(p, len, &pos, 1);
    CHECK(pos <= CTL_SIZE);
}

static unsigned int pick_max_sg(uint16_t sel)
{
    /* Mostly the values real backends advertise, sometimes anything. */
    switch (sel & 7) {
    case 0:
        return 0;
    case 1:
        return XEN_PVSCSI_SG_GRANT_MIN;
    case 2:
    case 3:
    case 4:
        return XEN_PVSCSI_SG_GRANT_DEFAULT;
    case 5:
        return XEN_PVSCSI_SG_GRANT_MAX;
    default:
        return (sel >> 3) % (XEN_PVSCSI_SG_GRANT_MAX + 1);
    }
}

/* The SG page behind seg[idx], as a private 4 KiB heap copy. */
static uint8_t *sg_page(const uint8_t *tail, size_t tail_len, unsigned int idx)
{
    uint8_t *pg = malloc(PAGE);
    size_t done = 0, from, n;

    CHECK(pg);
    if (!tail_len) {
        memset(pg, 0, PAGE);
        return pg;
    }
    from = ((size_t)idx * PAGE) % tail_len;
    while (done < PAGE) {
        n = MIN(PAGE - done, tail_len - from);
        memcpy(pg + done, tail + from, n);
        done += n;
        from = 0;
    }
    return pg;
}

/*
 * One window, checked against an independent oracle: the intersection of
 * [pos, pos + len) with each element's data range, in order.
 */
static uint32_t check_window(const vscsiif_segment_t *elems, unsigned int n,
                             uint64_t total, uint64_t pos, uint32_t len)
{
    XenPVSCSICopySeg *out = malloc(sizeof(*out) * n);
    uint32_t covered = 0xdeadbeef, sum = 0;
    uint64_t start = 0, want_cov;
    unsigned int nout, k, i, nonzero = 0;

    CHECK(out || n == 0);
    nout = xen_pvscsi_sg_window(elems, n, pos, len, out, &covered);

    want_cov = pos >= total ? 0 : MIN(total - pos, (uint64_t)len);
    CHECK(covered <= len);
    CHECK(covered == want_cov);
    CHECK(nout <= n);

    for (i = 0; i < n; i++) {
        nonzero += elems[i].length != 0;
    }
    CHECK(nout <= nonzero);

    for (k = 0; k < nout; k++) {
        CHECK(out[k].len > 0);
        CHECK((uint32_t)out[k].offset + out[k].len <= PAGE);
        CHECK(out[k].buf_off == sum);           /* contiguous from 0 */
        CHECK((uint64_t)out[k].buf_off + out[k].len <= len);
        sum += out[k].len;
    }
    CHECK(sum == covered);

    /* oracle */
    k = 0;
    for (i = 0; i < n; i++) {
        uint64_t end = start + elems[i].length;
        uint64_t lo = MAX(start, pos);
        /* no overflow: pos + covered <= total was checked above */
        uint64_t hi = MIN(end, pos + (uint64_t)covered);

        if (lo < hi) {
            CHECK(k < nout);
            CHECK(out[k].gref == elems[i].gref);
            CHECK(out[k].offset == elems[i].offset + (lo - start));
            CHECK(out[k].len == hi - lo);
            CHECK(out[k].buf_off == lo - pos);
            k++;
        }
        start = end;
    }
    CHECK(k == nout);
    free(out);
    return covered;
}

/*
 * The data elements of a decoded CDB: validated, gathered and split into
 * windows. Returns false if the request is refused.
 */
static bool run_data(const XenPVSCSIDecoded *d, unsigned int max_sg,
                     const Control *c, const uint8_t *tail, size_t tail_len)
{
    vscsiif_segment_t *elems;
    unsigned int n, i, tiles;
    uint64_t total, sum = 0, pos;
    uint32_t chunk, covered;
    const char *why = NULL;
    int rc;

    if (d->indirect) {
        unsigned int nr_elems = 0xdead, want = 0, got = 0;

        rc = xen_pvscsi_check_indirect(d, max_sg, &nr_elems, &why);
        CHECK(rc == XEN_VSCSIIF_RSLT_HOST_OK ||
              rc == XEN_VSCSIIF_RSLT_HOST_ERROR);
        if (rc != XEN_VSCSIIF_RSLT_HOST_OK) {
            CHECK(why != NULL);
            CHECK(nr_elems == 0);
            return false;
        }
        for (i = 0; i < d->nr_segs; i++) {
            const vscsiif_segment_t *s = &d->req.seg[i];

            CHECK(s->length > 0);
            CHECK(s->length % sizeof(vscsiif_segment_t) == 0);
            CHECK((uint32_t)s->offset + s->length <= PAGE);
            want += s->length / sizeof(vscsiif_segment_t);
        }
        CHECK(nr_elems == want);
        CHECK(nr_elems <= max_sg);
        CHECK(nr_elems <= XEN_PVSCSI_SG_GRANT_MAX);

        /* Gather, as the backend does after grant-copying each SG page. */
        n = nr_elems;
        elems = malloc(sizeof(*elems) * n);
        CHECK(elems);
        for (i = 0; i < d->nr_segs; i++) {
            const vscsiif_segment_t *s = &d->req.seg[i];
            uint8_t *pg = sg_page(tail, tail_len, i);
            unsigned int cnt = s->length / sizeof(vscsiif_segment_t);

            CHECK(got + cnt <= n);
            memcpy(&elems[got], pg + s->offset, s->length);
            got += cnt;
            free(pg);
        }
        CHECK(got == n);
    } else {
        n = d->nr_segs;
        CHECK(n <= VSCSIIF_SG_TABLESIZE);
        elems = malloc(sizeof(*elems) * n);
        CHECK(elems || n == 0);
        if (n) {
            memcpy(elems, d->req.seg, sizeof(*elems) * n);
        }
    }

    total = 0xdeadbeef;
    why = NULL;
    rc = xen_pvscsi_check_elems(elems, n, &total, &why);
    CHECK(rc == XEN_VSCSIIF_RSLT_HOST_OK || rc == XEN_VSCSIIF_RSLT_HOST_ERROR);
    if (rc != XEN_VSCSIIF_RSLT_HOST_OK) {
        bool bad = false;

        CHECK(why != NULL);
        CHECK(total == 0);
        for (i = 0; i < n; i++) {
            bad |= (uint32_t)elems[i].offset + elems[i].length > PAGE;
        }
        CHECK(bad);
        free(elems);
        return false;
    }
    for (i = 0; i < n; i++) {
        CHECK((uint32_t)elems[i].offset + elems[i].length <= PAGE);
        sum += elems[i].length;
    }
    CHECK(total == sum);

    /*
     * Windows chosen by the input; a position with the top bit clear is
     * folded into the data, so that most windows cover something.
     */
    for (i = 0; i < 3; i++) {
        pos = c->win[i].pos;
        if (!(pos >> 63)) {
            pos %= total + 1;
        }
        check_window(elems, n, total, pos, c->win[i].len);
    }

    /*
     * The whole data in chunks, as scsi-disk moves it (128 KiB), at most
     * MAX_TILES of them: the chunks must tile the data exactly.
     */
    chunk = c->tile_len ? c->tile_len : 128 * 1024;
    if (total / chunk >= MAX_TILES) {
        chunk = total / MAX_TILES + 1;
    }
    pos = 0;
    tiles = 0;
    do {
        covered = check_window(elems, n, total, pos, chunk);
        pos += covered;
        CHECK(++tiles <= MAX_TILES + 1);
    } while (covered == chunk);
    CHECK(pos == total);

    free(elems);
    return true;
}

static void check_cdb_response(uint16_t rqid, uint8_t host, uint8_t status,
                               const Control *c)
{
    vscsiif_response_t *rsp = malloc(sizeof(*rsp));
    uint8_t *sense = NULL;
    size_t slen = c->sense_len % 300, want;
    uint32_t rslt;
    unsigned int i;

    CHECK(rsp);
    memset(rsp, 0xff, sizeof(*rsp));
    /* an exact-size sense buffer; odd lengths test "no sense" (NULL) */
    if (!(c->sense_len & 0x8000)) {
        sense = malloc(slen ? slen : 1);
        CHECK(sense);
        for (i = 0; i < slen; i++) {
            sense[i] = i + 1;
        }
    }
    xen_pvscsi_encode_cdb(rsp, rqid, host, status, sense, slen, c->residual);
    rslt = (uint32_t)rsp->rslt;
    CHECK((rslt & 0xff000000u) == 0);
    CHECK((rslt & 0x0000ff00u) == 0);
    CHECK(rslt == ((uint32_t)host << 16 | status));
    CHECK(rsp->rqid == rqid);
    CHECK(rsp->act == 0);
    CHECK(rsp->residual_len == c->residual);
    CHECK(rsp->sense_len <= VSCSIIF_SENSE_BUFFERSIZE);
    want = sense ? MIN(slen, (size_t)VSCSIIF_SENSE_BUFFERSIZE) : 0;
    CHECK(rsp->sense_len == want);
    for (i = 0; i < VSCSIIF_SENSE_BUFFERSIZE; i++) {
        CHECK(rsp->sense_buffer[i] == (i < want ? (uint8_t)(i + 1) : 0));
    }
    for (i = 0; i < ARRAY_SIZE(rsp->reserved); i++) {
        CHECK(rsp->reserved[i] == 0);
    }
    free(sense);
    free(rsp);
}

static void check_tmf_response(uint16_t rqid, bool success)
{
    vscsiif_response_t *rsp = malloc(sizeof(*rsp));
    unsigned int i;

    CHECK(rsp);
    memset(rsp, 0xff, sizeof(*rsp));
    xen_pvscsi_encode_tmf(rsp, rqid, success);
    CHECK(rsp->rslt == (success ? 0x2002 : 0x2003));
    CHECK(rsp->rqid == rqid);
    CHECK(rsp->sense_len == 0);
    CHECK(rsp->residual_len == 0);
    for (i = 0; i < VSCSIIF_SENSE_BUFFERSIZE; i++) {
        CHECK(rsp->sense_buffer[i] == 0);
    }
    free(rsp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vscsiif_request_t *slot = malloc(SLOT_SIZE);
    vscsiif_request_t orig;
    XenPVSCSIDecoded *d = malloc(sizeof(*d));
    const uint8_t *tail = NULL;
    size_t tail_len = 0;
    const char *why = "unset";
    unsigned int max_sg;
    Control c;
    uint8_t host;
    int rc;

    CHECK(slot && d);
    memset(slot, 0, SLOT_SIZE);
    memcpy(slot, data, MIN(size, SLOT_SIZE));
    if (size > SLOT_SIZE) {
        read_control(data + SLOT_SIZE, size - SLOT_SIZE, &c);
    } else {
        read_control(NULL, 0, &c);
    }
    if (size > SLOT_SIZE + CTL_SIZE) {
        tail = data + SLOT_SIZE + CTL_SIZE;
        tail_len = size - SLOT_SIZE - CTL_SIZE;
    }
    max_sg = pick_max_sg(c.max_sg_sel);
    orig = *slot;

    memset(d, 0xa5, sizeof(*d));
    rc = xen_pvscsi_decode(slot, d, max_sg, &why);

    /* The slot is read, never written, and the copy is private. */
    CHECK(memcmp(slot, &orig, SLOT_SIZE) == 0);
    CHECK(memcmp(&d->req, &orig, SLOT_SIZE) == 0);
    memset(slot, 0x5a, SLOT_SIZE);      /* the guest rewrites the slot */
    CHECK(memcmp(&d->req, &orig, SLOT_SIZE) == 0);

    CHECK(rc == XEN_VSCSIIF_RSLT_HOST_OK || rc == XEN_VSCSIIF_RSLT_HOST_ERROR);
    if (rc != XEN_VSCSIIF_RSLT_HOST_OK) {
        CHECK(why != NULL);
        CHECK(orig.act != VSCSIIF_ACT_SCSI_ABORT &&
              orig.act != VSCSIIF_ACT_SCSI_RESET);
        /* the device answers a refused request like this */
        check_cdb_response(d->req.rqid, rc, 0, &c);
        goto out;
    }
    CHECK(why == NULL);
    CHECK(d->nr_segs <= VSCSIIF_SG_TABLESIZE);
    CHECK(d->mode == XEN_PVSCSI_DATA_NONE ||
          d->mode == XEN_PVSCSI_DATA_TO_DEVICE ||
          d->mode == XEN_PVSCSI_DATA_FROM_DEVICE);

    switch (orig.act) {
    case VSCSIIF_ACT_SCSI_ABORT:
    case VSCSIIF_ACT_SCSI_RESET:
        CHECK(d->mode == XEN_PVSCSI_DATA_NONE);
        CHECK(!d->indirect);
        CHECK(d->nr_segs == 0);
        check_tmf_response(d->req.rqid, c.tmf_success & 1);
        goto out;
    case VSCSIIF_ACT_SCSI_CDB:
        break;
    default:
        CHECK(!"act accepted that is not CDB, ABORT or RESET");
    }

    CHECK(orig.cmd_len >= 1 && orig.cmd_len <= VSCSIIF_MAX_COMMAND_SIZE);
    CHECK(orig.sc_data_direction >= VSCSIIF_DIR_TO_DEVICE &&
          orig.sc_data_direction <= VSCSIIF_DIR_NONE);
    CHECK(d->nr_segs == (orig.nr_segments & ~VSCSIIF_SG_GRANT));
    CHECK(d->indirect == !!(orig.nr_segments & VSCSIIF_SG_GRANT));
    if (d->indirect) {
        CHECK(max_sg != 0);
        CHECK(d->nr_segs >= 1);
    }
    if (d->mode == XEN_PVSCSI_DATA_NONE) {
        CHECK(d->nr_segs == 0);
    }

    if (!run_data(d, max_sg, &c, tail, tail_len)) {
        check_cdb_response(d->req.rqid, XEN_VSCSIIF_RSLT_HOST_ERROR, 0, &c);
        goto out;
    }

    host = xen_pvscsi_host_code(c.host_status);
    CHECK(host <= XEN_VSCSIIF_RSLT_HOST_TRANSPORT_MARGINAL);
    if (c.host_status < 0 || c.host_status > 20) {
        CHECK(host == XEN_VSCSIIF_RSLT_HOST_ERROR);
    }
    check_cdb_response(d->req.rqid, host, c.status, &c);

out:
    free(slot);
    free(d);
    return 0;
}
