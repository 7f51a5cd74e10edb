/*
 * xen-vscsi-rogue: a hostile Xen PV SCSI (vscsiif) frontend in userspace.
 *
 * Runs in a domU, connects to xen-pvscsi vhosts that dom0's QEMU created for
 * this domain (device/vscsi/<vhost> in xenstore), and plays scripted attack
 * cases, each with an asserted expected outcome. It does not use Linux's
 * xen-scsifront: the ring page and the data pages are shared with gntalloc
 * (libxengnttab), the event channel comes from libxenevtchn and the
 * frontend nodes are written with libxenstore.
 *
 * Usage: xen-vscsi-rogue [-v] [-i VHOST] [-t VHOST] [-m VHOST]
 *                        ATTACK-VHOST HEALTHY-VHOST [CASE...]
 *   -i VHOST       vhost with iothread= and a raw scsi-hd at 0:1:0 (at
 *                  least 2 MiB, throttled so that requests stay in flight):
 *                  case iothread-close-storm
 *   -t VHOST       vhost with an iSCSI scsi-hd at 0:1:0 served by tgtd in
 *                  dom0: cases close-stalled-lun, stale-rqid-reconnect
 *   -m VHOST       vhost with max-ring-page-order=0 and a disk at 0:1:0:
 *                  case mp-order-max0
 *   ATTACK-VHOST   vhost with a raw scsi-hd at 0:1:0 (at least 1 MiB),
 *                  the target of the attacks
 *   HEALTHY-VHOST  vhost with a disk at 0:1:0 that is only used well: it
 *                  must keep answering between the cases
 *   CASE...        run only these cases (default: all; -l lists them)
 *
 * Cases intake-storm, close-stalled-lun, stale-rqid-reconnect and mp-* need
 * the agent of the e2e scenario pvscsi-rogue in dom0 (xenstore nodes under
 * data/xpv-rogue of this domain: QMP latency probes, tgtd stop/continue,
 * the xen_pvscsi_connect trace lines in QEMU's log).
 *
 * Output: one line per case, "PASS case" or "FAIL case: reason", then
 * "ROGUE-SUMMARY pass=N fail=M halts=H bad-requests=B". Exit status 0 only
 * if every case passed. Lines starting with "ROGUE:" are progress notes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

/* Barriers for Xen's ring.h (its xen_mb() etc. expand to these). */
#define mb()      __sync_synchronize()
#define rmb()     __sync_synchronize()
#define wmb()     __sync_synchronize()
#include <xen/io/ring.h>
#include <xen/io/vscsiif.h>
#include <xen/io/xenbus.h>

/* Not in Xen's vscsiif.h: the Linux DMA directions the protocol uses. */
#define DIR_BIDIRECTIONAL   0
#define DIR_TO_DEVICE       1
#define DIR_FROM_DEVICE     2
#define DIR_NONE            3

#define RSLT_HOST(h)        ((int32_t)((uint32_t)(h) << 16))
#define RSLT_DID_ERROR      RSLT_HOST(7)
#define RSLT_DID_NO_CONNECT RSLT_HOST(1)
#define RSLT_DID_ABORT      RSLT_HOST(5)
#define RSLT_DID_RESET      RSLT_HOST(8)
#define RSLT_TMF_SUCCESS    0x2002
#define RSLT_TMF_FAILED     0x2003
#define STATUS_CHECK        0x02

#define PAGE                4096
#define BLK                 512
#define RING_SLOTS          16          /* of a one-page ring */
#define MAX_RING_PAGES      32          /* order 5: one above the maximum */
#define NR_WPAGES           32          /* writable data pages */
#define NR_SGPAGES          4           /* indirect SG-list pages */
#define BAD_GREF            0x0ffffff0u /* far beyond any grant table */
#define RSP_TIMEOUT_MS      15000
#define SILENCE_MS          2500        /* "no response" means this quiet */
#define PATTERN_BLOCKS      256         /* LBAs 0..255 hold a known pattern */

static bool verbose;

/* --------------------------------------------------------------------- */
/* Xen handles and shared memory                                          */

static struct xs_handle *xs;
static xenevtchn_handle *xce;
static xengntshr_handle *xgs;
static unsigned int my_domid;

typedef struct Pages {
    uint8_t *addr;
    uint32_t refs[NR_WPAGES];
    int count;
} Pages;

static Pages wpages;        /* writable data pages */
static Pages ropages;       /* read-only data pages (2) */
static Pages sgpages;       /* SG-list pages (writable, so reads can land) */

static uint8_t *page_addr(Pages *p, int i)
{
    return p->addr + (size_t)i * PAGE;
}

static bool share(Pages *p, int count, int writable)
{
    p->count = count;
    p->addr = xengntshr_share_pages(xgs, 0, count, p->refs, writable);
    return p->addr != NULL;
}

/* --------------------------------------------------------------------- */
/* Time and xenstore helpers                                              */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

static char *xs_get(const char *dir, const char *key)
{
    char path[256];
    unsigned int len;

    snprintf(path, sizeof(path), "%s/%s", dir, key);
    return xs_read(xs, XBT_NULL, path, &len);
}

static bool xs_put(const char *dir, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool xs_put(const char *dir, const char *key, const char *fmt, ...)
{
    char path[256], val[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s/%s", dir, key);
    return xs_write(xs, XBT_NULL, path, val, strlen(val));
}

static int xs_get_int(const char *dir, const char *key)
{
    char *v = xs_get(dir, key);
    int n = -1;

    if (v) {
        n = atoi(v);
        free(v);
    }
    return n;
}

/* Wait until dir/key reads as @want; returns the last value seen. */
static int xs_wait_int(const char *dir, const char *key, int want, int ms)
{
    int64_t end = now_ms() + ms;
    int v;

    for (;;) {
        v = xs_get_int(dir, key);
        if (v == want || now_ms() >= end) {
            return v;
        }
        sleep_ms(20);
    }
}

/* --------------------------------------------------------------------- */
/* A connection to one vhost                                              */

typedef struct Conn {
    int vhost;
    char fe[128];
    char be[128];
    uint8_t *ring_page;         /* npages contiguous pages */
    uint32_t ring_ref;          /* the first page's grant (ring_refs[0]) */
    uint32_t ring_refs[MAX_RING_PAGES];
    int npages;
    int port;                   /* -1: not bound */
    vscsiif_front_ring_t ring;
    bool up;
    int mp_refs;                /* ring-ref0..mp_refs-1 written */
    bool mp_nodes;              /* ring-page-order etc. may be written */
} Conn;

static Conn A, B;               /* attacked vhost, healthy vhost */
static unsigned int rqid_next = 1;
static unsigned int nr_halts, nr_bad;

static uint16_t new_rqid(void)
{
    rqid_next = (rqid_next + 1) & 0x7fff;
    return rqid_next ? rqid_next : ++rqid_next;
}

static bool conn_init(Conn *c, int vhost)
{
    char *be;

    c->vhost = vhost;
    c->port = -1;
    snprintf(c->fe, sizeof(c->fe), "/local/domain/%u/device/vscsi/%d",
             my_domid, vhost);
    be = xs_get(c->fe, "backend");
    if (!be) {
        fprintf(stderr, "ROGUE: no %s/backend\n", c->fe);
        return false;
    }
    snprintf(c->be, sizeof(c->be), "%s", be);
    free(be);
    return true;
}

/* Share a fresh ring of @pages pages and bind a fresh unbound port. */
static bool conn_alloc(Conn *c, int pages)
{
    c->ring_page = xengntshr_share_pages(xgs, 0, pages, c->ring_refs, 1);
    if (!c->ring_page) {
        fprintf(stderr, "ROGUE: gntalloc share of %d ring page(s): %s\n",
                pages, strerror(errno));
        return false;
    }
    c->npages = pages;
    c->ring_ref = c->ring_refs[0];
    memset(c->ring_page, 0, (size_t)pages * PAGE);
    SHARED_RING_INIT((vscsiif_sring_t *)c->ring_page);
    FRONT_RING_INIT(&c->ring, (vscsiif_sring_t *)c->ring_page,
                    (size_t)pages * PAGE);
    c->port = xenevtchn_bind_unbound_port(xce, 0);
    if (c->port < 0) {
        fprintf(stderr, "ROGUE: unbound port: %s\n", strerror(errno));
        return false;
    }
    return true;
}

static void conn_free(Conn *c)
{
    if (c->port >= 0) {
        xenevtchn_unbind(xce, c->port);
        c->port = -1;
    }
    if (c->ring_page) {
        xengntshr_unshare(xgs, c->ring_page, c->npages);
        c->ring_page = NULL;
    }
    c->up = false;
}

/*
 * Remove the multi-page ring nodes a connection of ours wrote
 * (ring-page-order, num-ring-pages, ring-ref%u): a later connection must
 * not inherit them.
 */
static void ring_nodes_clear(Conn *c)
{
    static const char *const keys[] = { "ring-page-order", "num-ring-pages" };
    char path[256];
    unsigned int i;

    if (!c->mp_nodes) {
        return;
    }
    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", c->fe, keys[i]);
        xs_rm(xs, XBT_NULL, path);
    }
    for (i = 0; i < (unsigned int)c->mp_refs; i++) {
        snprintf(path, sizeof(path), "%s/ring-ref%u", c->fe, i);
        xs_rm(xs, XBT_NULL, path);
    }
    c->mp_refs = 0;
    c->mp_nodes = false;
}

/*
 * Connect like a well-behaved frontend: ring-ref, event-channel, state 3,
 * wait for backend 4, then state 4. @ring_ref/@evtchn override the values
 * written (attacks); then the backend must NOT connect.
 */
static bool conn_open_with(Conn *c, const char *ring_ref, const char *evtchn,
                           char *why, size_t whylen)
{
    int st;

    if (!c->ring_page && !conn_alloc(c, 1)) {
        snprintf(why, whylen, "cannot allocate ring/port");
        return false;
    }
    st = xs_wait_int(c->be, "state", XenbusStateInitWait, 10000);
    if (st != XenbusStateInitWait) {
        snprintf(why, whylen, "backend state %d before connect, "
                 "expected 2", st);
        return false;
    }
    ring_nodes_clear(c);
    if (ring_ref) {
        xs_put(c->fe, "ring-ref", "%s", ring_ref);
    } else {
        xs_put(c->fe, "ring-ref", "%u", c->ring_ref);
    }
    if (evtchn) {
        xs_put(c->fe, "event-channel", "%s", evtchn);
    } else {
        xs_put(c->fe, "event-channel", "%d", c->port);
    }
    xs_put(c->fe, "state", "%d", XenbusStateInitialised);
    if (ring_ref || evtchn) {
        return true;
    }
    st = xs_wait_int(c->be, "state", XenbusStateConnected, 15000);
    if (st != XenbusStateConnected) {
        snprintf(why, whylen, "backend state %d after connect, expected 4",
                 st);
        return false;
    }
    xs_put(c->fe, "state", "%d", XenbusStateConnected);
    c->up = true;
    return true;
}

static bool conn_open(Conn *c, char *why, size_t whylen)
{
    return conn_open_with(c, NULL, NULL, why, whylen);
}

/*
 * Wait until the backend has closed after the frontend's 6: state 6, or
 * already 2 (xen-pvscsi goes back to InitWait right after Closed, ready
 * for a frontend that re-probes without passing Initialising).
 */
static int wait_closed(Conn *c, int ms)
{
    int64_t end = now_ms() + ms;
    int st;

    for (;;) {
        st = xs_get_int(c->be, "state");
        if (st == XenbusStateClosed || st == XenbusStateInitWait ||
            now_ms() >= end) {
            return st;
        }
        sleep_ms(20);
    }
}

/* Close (5, 6), release ring and port, then start over (1 -> backend 2). */
static bool conn_close(Conn *c, char *why, size_t whylen)
{
    int st;

    xs_put(c->fe, "state", "%d", XenbusStateClosing);
    st = xs_wait_int(c->be, "state", XenbusStateClosing, 10000);
    if (st != XenbusStateClosing && st != XenbusStateClosed) {
        snprintf(why, whylen, "backend state %d after frontend 5", st);
        return false;
    }
    xs_put(c->fe, "state", "%d", XenbusStateClosed);
    st = wait_closed(c, 10000);
    if (st != XenbusStateClosed && st != XenbusStateInitWait) {
        snprintf(why, whylen, "backend state %d after frontend 6", st);
        return false;
    }
    conn_free(c);
    ring_nodes_clear(c);
    xs_put(c->fe, "state", "%d", XenbusStateInitialising);
    st = xs_wait_int(c->be, "state", XenbusStateInitWait, 10000);
    if (st != XenbusStateInitWait) {
        snprintf(why, whylen, "backend state %d after frontend 1", st);
        return false;
    }
    return true;
}

static bool conn_reopen(Conn *c, char *why, size_t whylen)
{
    return conn_close(c, why, whylen) && conn_open(c, why, whylen);
}

/* --------------------------------------------------------------------- */
/* Requests and responses                                                 */

static void req_cdb(vscsiif_request_t *q, uint16_t chn, uint16_t id,
                    uint16_t lun, uint8_t dir, const uint8_t *cdb,
                    uint8_t cdb_len)
{
    memset(q, 0, sizeof(*q));
    q->rqid = new_rqid();
    q->act = VSCSIIF_ACT_SCSI_CDB;
    q->cmd_len = cdb_len;
    memcpy(q->cmnd, cdb, cdb_len);
    q->channel = chn;
    q->id = id;
    q->lun = lun;
    q->sc_data_direction = dir;
    q->timeout_per_command = 30;
}

static void req_rw10(vscsiif_request_t *q, bool write, uint32_t lba,
                     uint16_t blocks)
{
    uint8_t cdb[10] = { write ? 0x2a : 0x28, 0,
                        lba >> 24, lba >> 16, lba >> 8, lba, 0,
                        blocks >> 8, blocks, 0 };

    req_cdb(q, 0, 1, 0, write ? DIR_TO_DEVICE : DIR_FROM_DEVICE, cdb, 10);
}

static void req_inquiry(vscsiif_request_t *q, uint16_t id)
{
    uint8_t cdb[6] = { 0x12, 0, 0, 0, 36, 0 };

    req_cdb(q, 0, id, 0, DIR_FROM_DEVICE, cdb, 6);
}

static void req_tur(vscsiif_request_t *q)
{
    uint8_t cdb[6] = { 0 };

    req_cdb(q, 0, 1, 0, DIR_NONE, cdb, 6);
}

static void req_tmf(vscsiif_request_t *q, uint8_t act, uint16_t id,
                    uint16_t lun, uint16_t ref_rqid)
{
    memset(q, 0, sizeof(*q));
    q->rqid = new_rqid();
    q->act = act;
    q->id = id;
    q->lun = lun;
    q->ref_rqid = ref_rqid;
    q->sc_data_direction = DIR_NONE;
}

static void seg(vscsiif_request_t *q, int i, uint32_t gref, uint16_t off,
                uint16_t len)
{
    q->seg[i].gref = gref;
    q->seg[i].offset = off;
    q->seg[i].length = len;
    if (i + 1 > (q->nr_segments & ~VSCSIIF_SG_GRANT)) {
        q->nr_segments = (q->nr_segments & VSCSIIF_SG_GRANT) | (i + 1);
    }
}

/* Direct segments covering @bytes of the writable pages from @page on. */
static void seg_pages(vscsiif_request_t *q, int page, uint32_t bytes)
{
    int i = 0;

    while (bytes) {
        uint16_t len = bytes > PAGE ? PAGE : bytes;

        seg(q, i, wpages.refs[page + i], 0, len);
        bytes -= len;
        i++;
    }
}

static void push(Conn *c, const vscsiif_request_t *q, int n, bool kick)
{
    int i, notify;

    for (i = 0; i < n; i++) {
        memcpy(RING_GET_REQUEST(&c->ring, c->ring.req_prod_pvt), &q[i],
               sizeof(q[i]));
        c->ring.req_prod_pvt++;
    }
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&c->ring, notify);
    (void)notify;
    if (kick) {
        xenevtchn_notify(xce, c->port);
    }
}

static void kick(Conn *c)
{
    xenevtchn_notify(xce, c->port);
}

/* Wait for events for up to @ms (they only shorten the sleep). */
static void wait_event(int ms)
{
    struct pollfd pfd = { .fd = xenevtchn_fd(xce), .events = POLLIN };

    if (poll(&pfd, 1, ms) > 0) {
        xenevtchn_port_or_error_t p = xenevtchn_pending(xce);

        if (p >= 0) {
            xenevtchn_unmask(xce, p);
        }
    }
}

/*
 * Collect responses until @want arrived or @ms passed; returns how many
 * (at most @max) were stored in @out.
 */
static int collect(Conn *c, vscsiif_response_t *out, int max, int want,
                   int ms)
{
    int64_t end = now_ms() + ms;
    int n = 0, more;

    for (;;) {
        RING_IDX rp = c->ring.sring->rsp_prod;

        xen_rmb();
        while (c->ring.rsp_cons != rp) {
            if (n < max) {
                memcpy(&out[n], RING_GET_RESPONSE(&c->ring, c->ring.rsp_cons),
                       sizeof(out[n]));
            }
            n++;
            c->ring.rsp_cons++;
        }
        if (n >= want || now_ms() >= end) {
            return n;
        }
        RING_FINAL_CHECK_FOR_RESPONSES(&c->ring, more);
        if (!more) {
            wait_event(10);
        }
    }
}

/* One request, one response with its rqid. */
static bool do1(Conn *c, const vscsiif_request_t *q, vscsiif_response_t *r,
                char *why, size_t whylen)
{
    push(c, q, 1, true);
    if (collect(c, r, 1, 1, RSP_TIMEOUT_MS) != 1) {
        snprintf(why, whylen, "no response to rqid %u within %d ms",
                 q->rqid, RSP_TIMEOUT_MS);
        return false;
    }
    if (r->rqid != q->rqid) {
        snprintf(why, whylen, "response rqid %u, expected %u", r->rqid,
                 q->rqid);
        return false;
    }
    return true;
}

/* --------------------------------------------------------------------- */
/* Case bookkeeping                                                       */

static char why[512];
static unsigned int nr_pass, nr_fail;

#define CHECK(cond, ...) do {                                   \
        if (!(cond)) {                                          \
            snprintf(why, sizeof(why), __VA_ARGS__);            \
            return false;                                       \
        }                                                       \
    } while (0)

#define CALL(expr) do {                                         \
        if (!(expr)) {                                          \
            return false;                                       \
        }                                                       \
    } while (0)

/* Send @q, expect exactly result @rslt, no sense, and the buffer kept. */
static bool expect_rslt(Conn *c, vscsiif_request_t *q, int32_t rslt,
                        const char *what)
{
    vscsiif_response_t r;

    CALL(do1(c, q, &r, why, sizeof(why)));
    CHECK(r.rslt == rslt, "%s: rslt 0x%x, expected 0x%x", what,
          (unsigned int)r.rslt, (unsigned int)rslt);
    if (rslt != 0 && rslt != RSLT_TMF_SUCCESS && rslt != RSLT_TMF_FAILED) {
        CHECK(r.sense_len == 0, "%s: sense_len %u with an error result",
              what, r.sense_len);
        nr_bad++;
    }
    return true;
}

/* CHECK CONDITION with fixed-format sense KEY/ASC/ASCQ. */
static bool expect_sense(Conn *c, vscsiif_request_t *q, uint8_t key,
                         uint8_t asc, uint8_t ascq, const char *what)
{
    vscsiif_response_t r;

    CALL(do1(c, q, &r, why, sizeof(why)));
    CHECK(r.rslt == STATUS_CHECK, "%s: rslt 0x%x, expected CHECK CONDITION",
          what, (unsigned int)r.rslt);
    CHECK(r.sense_len >= 14 && r.sense_len <= VSCSIIF_SENSE_BUFFERSIZE &&
          (r.sense_buffer[0] & 0x7f) == 0x70 &&
          (r.sense_buffer[2] & 0xf) == key && r.sense_buffer[12] == asc &&
          r.sense_buffer[13] == ascq,
          "%s: sense len %u %02x key %x %02x/%02x, expected fixed %x "
          "%02x/%02x", what, r.sense_len, r.sense_buffer[0],
          r.sense_buffer[2] & 0xf, r.sense_buffer[12], r.sense_buffer[13],
          key, asc, ascq);
    return true;
}

static void fill(uint8_t *p, size_t n, uint8_t v)
{
    memset(p, v, n);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] != v) {
            return false;
        }
    }
    return true;
}

/* The known content of LBA @lba (written by the setup case). */
static void pattern(uint8_t *p, uint32_t lba, unsigned int blocks)
{
    unsigned int b, i;

    for (b = 0; b < blocks; b++) {
        for (i = 0; i < BLK; i++) {
            p[b * BLK + i] = (uint8_t)((lba + b) * 31 + i * 7 + 0x5a);
        }
    }
}

static bool is_pattern(const uint8_t *p, uint32_t lba, unsigned int blocks)
{
    static uint8_t want[64 * 1024];

    if (blocks * BLK > sizeof(want)) {
        return false;
    }
    pattern(want, lba, blocks);
    return memcmp(p, want, blocks * BLK) == 0;
}

/* TEST UNIT READY until GOOD: clears unit attentions (power on, reset). */
static bool clear_ua(Conn *c)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    int i;

    for (i = 0; i < 4; i++) {
        req_tur(&q);
        CALL(do1(c, &q, &r, why, sizeof(why)));
        if (r.rslt == 0) {
            return true;
        }
    }
    CHECK(false, "TEST UNIT READY still not GOOD (rslt 0x%x)",
          (unsigned int)r.rslt);
}

/* INQUIRY on 0:@id:0 answers GOOD with vendor QEMU. */
static bool inquiry_ok(Conn *c)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    uint8_t *p = page_addr(&wpages, NR_WPAGES - 1);

    fill(p, 64, 0xee);
    req_inquiry(&q, 1);
    seg(&q, 0, wpages.refs[NR_WPAGES - 1], 0, 36);
    CALL(do1(c, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "INQUIRY rslt 0x%x", (unsigned int)r.rslt);
    CHECK(memcmp(p + 8, "QEMU    ", 8) == 0, "INQUIRY vendor '%.8s'", p + 8);
    return true;
}

/* READ(10) of @blocks at @lba into the writable pages, checked. */
static bool read_check(Conn *c, uint32_t lba, uint16_t blocks)
{
    vscsiif_request_t q;
    vscsiif_response_t r;

    fill(wpages.addr, blocks * BLK, 0);
    req_rw10(&q, false, lba, blocks);
    seg_pages(&q, 0, blocks * BLK);
    CALL(do1(c, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "READ(10) rslt 0x%x", (unsigned int)r.rslt);
    CHECK(r.residual_len == 0, "READ(10) residual %u", r.residual_len);
    CHECK(is_pattern(wpages.addr, lba, blocks),
          "READ(10) of LBA %u: data differs from the pattern", lba);
    return true;
}

/* --------------------------------------------------------------------- */
/* Cases. Each returns true (PASS) or false with why[] set.              */
/* On entry A is connected; on return it must be again.                  */

static bool case_setup_pattern(void)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    uint32_t lba;

    CALL(clear_ua(&A));
    CALL(inquiry_ok(&A));
    for (lba = 0; lba < PATTERN_BLOCKS; lba += 64) {
        pattern(wpages.addr, lba, 64);
        req_rw10(&q, true, lba, 64);
        seg_pages(&q, 0, 64 * BLK);
        CALL(do1(&A, &q, &r, why, sizeof(why)));
        CHECK(r.rslt == 0, "WRITE(10) LBA %u rslt 0x%x", lba,
              (unsigned int)r.rslt);
    }
    for (lba = 0; lba < PATTERN_BLOCKS; lba += 64) {
        CALL(read_check(&A, lba, 64));
    }
    return true;
}

static bool case_act_invalid(void)
{
    static const uint8_t acts[] = { 0, VSCSIIF_ACT_SCSI_SG_PRESET, 5, 0x7f,
                                    0xff };
    vscsiif_request_t q;
    unsigned int i;
    char what[32];

    for (i = 0; i < sizeof(acts); i++) {
        req_tur(&q);
        q.act = acts[i];
        snprintf(what, sizeof(what), "act %u", acts[i]);
        CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, what));
    }
    return true;
}

/*
 * 160 invalid requests as fast as the ring allows: all answered DID_ERROR;
 * QEMU logs none of them unless it runs with -d guest_errors (checked by
 * the scenario in QEMU's log).
 */
static bool case_log_flood(void)
{
    vscsiif_request_t q[RING_SLOTS];
    vscsiif_response_t r[RING_SLOTS];
    unsigned int round, i, n;

    for (round = 0; round < 10; round++) {
        for (i = 0; i < RING_SLOTS; i++) {
            req_tur(&q[i]);
            q[i].act = 0x42;
        }
        push(&A, q, RING_SLOTS, true);
        n = collect(&A, r, RING_SLOTS, RING_SLOTS, RSP_TIMEOUT_MS);
        CHECK(n == RING_SLOTS, "round %u: %u responses to %u", round, n,
              RING_SLOTS);
        for (i = 0; i < RING_SLOTS; i++) {
            CHECK(r[i].rqid == q[i].rqid && r[i].rslt == RSLT_DID_ERROR,
                  "round %u: rqid %u rslt 0x%x", round, r[i].rqid,
                  (unsigned int)r[i].rslt);
        }
        nr_bad += RING_SLOTS;
    }
    /*
     * After the flood, a second later: still answered, the ring goes
     * on.
     */
    sleep_ms(1100);
    req_tur(&q[0]);
    q[0].act = 0x42;
    CALL(expect_rslt(&A, &q[0], RSLT_DID_ERROR, "act 0x42 after the flood"));
    return true;
}

static bool case_cmd_len_invalid(void)
{
    static const uint8_t lens[] = { 0, 17, 64, 0xff };
    vscsiif_request_t q;
    unsigned int i;
    char what[32];

    for (i = 0; i < sizeof(lens); i++) {
        req_tur(&q);
        q.cmd_len = lens[i];
        snprintf(what, sizeof(what), "cmd_len %u", lens[i]);
        CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, what));
    }
    return true;
}

static bool case_direction_invalid(void)
{
    static const uint8_t dirs[] = { DIR_BIDIRECTIONAL, 4, 0x80, 0xff };
    vscsiif_request_t q;
    uint8_t *p = wpages.addr;
    unsigned int i;
    char what[32];

    for (i = 0; i < sizeof(dirs); i++) {
        fill(p, BLK, 0xa5);
        req_rw10(&q, false, 0, 1);
        seg(&q, 0, wpages.refs[0], 0, BLK);
        q.sc_data_direction = dirs[i];
        snprintf(what, sizeof(what), "direction %u", dirs[i]);
        CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, what));
        CHECK(all_bytes(p, BLK, 0xa5), "%s: data buffer modified", what);
    }
    /* Valid direction, wrong for the opcode: READ(10) "to the device". */
    fill(p, BLK, 0xa5);
    req_rw10(&q, false, 0, 1);
    seg(&q, 0, wpages.refs[0], 0, BLK);
    q.sc_data_direction = DIR_TO_DEVICE;
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "READ(10) with DIR_TO_DEVICE"));
    CHECK(all_bytes(p, BLK, 0xa5), "READ with DIR_TO_DEVICE: buffer "
          "modified");
    /* WRITE(10) "without data": must not write the disk. */
    req_rw10(&q, true, 0, 1);
    q.sc_data_direction = DIR_NONE;
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "WRITE(10) with DIR_NONE"));
    CALL(read_check(&A, 0, 1));
    return true;
}

static bool case_nr_segments_invalid(void)
{
    static const uint8_t nrs[] = { 27, 0x7f, VSCSIIF_SG_GRANT,
                                   VSCSIIF_SG_GRANT | 27, 0xff };
    vscsiif_request_t q;
    unsigned int i;
    char what[48];

    for (i = 0; i < sizeof(nrs); i++) {
        int s;

        req_rw10(&q, false, 0, 1);
        for (s = 0; s < VSCSIIF_SG_TABLESIZE; s++) {
            seg(&q, s, wpages.refs[s], 0, BLK);
        }
        q.nr_segments = nrs[i];
        snprintf(what, sizeof(what), "nr_segments 0x%02x", nrs[i]);
        CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, what));
    }
    /* Segments on a command without data. */
    req_tur(&q);
    seg(&q, 0, wpages.refs[0], 0, BLK);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "TUR (DIR_NONE) with 1 segment"));
    /* No segments for a READ that wants a block. */
    req_rw10(&q, false, 0, 1);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "READ(10) without segments"));
    /* Segments too short for the command, buffer untouched. */
    fill(wpages.addr, PAGE, 0xa5);
    req_rw10(&q, false, 0, 8);
    seg(&q, 0, wpages.refs[0], 0, BLK);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "READ(10) 8 blocks into 512 "
                     "bytes"));
    CHECK(all_bytes(wpages.addr, PAGE, 0xa5), "short buffer modified");
    /* 26 direct segments of one block each: valid, must work. */
    req_rw10(&q, false, 0, 26);
    fill(wpages.addr, NR_WPAGES * PAGE, 0);
    for (i = 0; i < VSCSIIF_SG_TABLESIZE; i++) {
        seg(&q, i, wpages.refs[i], 0, BLK);
    }
    {
        vscsiif_response_t r;

        CALL(do1(&A, &q, &r, why, sizeof(why)));
        CHECK(r.rslt == 0, "26 direct segments: rslt 0x%x",
              (unsigned int)r.rslt);
        for (i = 0; i < VSCSIIF_SG_TABLESIZE; i++) {
            CHECK(is_pattern(page_addr(&wpages, i), i, 1),
                  "26 direct segments: block %u wrong", i);
        }
    }
    /* More buffer than the command wants: GOOD, residual reported. */
    {
        vscsiif_response_t r;

        req_rw10(&q, false, 3, 1);
        seg_pages(&q, 0, 2 * PAGE);
        CALL(do1(&A, &q, &r, why, sizeof(why)));
        CHECK(r.rslt == 0, "oversized buffer: rslt 0x%x",
              (unsigned int)r.rslt);
        CHECK(r.residual_len == 2 * PAGE - BLK, "oversized buffer: residual "
              "%u, expected %u", r.residual_len, 2 * PAGE - BLK);
        CHECK(is_pattern(wpages.addr, 3, 1), "oversized buffer: data wrong");
    }
    return true;
}

static bool case_address_invalid(void)
{
    static const uint16_t addr[][3] = {
        { 1, 1, 0 }, { 0xffff, 1, 0 }, { 0, 64, 0 }, { 0, 5, 0 },
        { 0, 0xffff, 0 }, { 0, 1, 1 }, { 0, 1, 255 }, { 0, 1, 0xffff },
    };
    vscsiif_request_t q;
    unsigned int i;
    char what[48];

    for (i = 0; i < sizeof(addr) / sizeof(addr[0]); i++) {
        fill(wpages.addr, BLK, 0xa5);
        req_rw10(&q, false, 0, 1);
        q.channel = addr[i][0];
        q.id = addr[i][1];
        q.lun = addr[i][2];
        seg(&q, 0, wpages.refs[0], 0, BLK);
        snprintf(what, sizeof(what), "READ to %u:%u:%u", addr[i][0],
                 addr[i][1], addr[i][2]);
        CALL(expect_rslt(&A, &q, RSLT_DID_NO_CONNECT, what));
        CHECK(all_bytes(wpages.addr, BLK, 0xa5), "%s: buffer modified", what);
    }
    return true;
}

static bool case_grant_never_granted(void)
{
    vscsiif_request_t q;

    req_rw10(&q, false, 0, 1);
    seg(&q, 0, BAD_GREF, 0, BLK);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "READ into gref 0x0ffffff0"));
    req_rw10(&q, true, 200, 1);
    seg(&q, 0, BAD_GREF, 0, BLK);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "WRITE from gref 0x0ffffff0"));
    /* The failed WRITE did not reach the disk. */
    CALL(read_check(&A, 200, 1));
    /* A gref that was shared once, then revoked. */
    {
        uint32_t ref;
        void *p = xengntshr_share_pages(xgs, 0, 1, &ref, 1);

        CHECK(p, "gntalloc share failed");
        xengntshr_unshare(xgs, p, 1);
        req_rw10(&q, false, 0, 1);
        seg(&q, 0, ref, 0, BLK);
        CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "READ into a revoked "
                         "gref"));
    }
    return true;
}

/*
 * Revoked while queued: the request is on the ring but the backend is not
 * told; the data grant is revoked; then the kick. Deterministic.
 */
static bool case_grant_revoked_queued(void)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    uint32_t ref;
    uint8_t *p = xengntshr_share_pages(xgs, 0, 1, &ref, 1);

    CHECK(p, "gntalloc share failed");
    req_rw10(&q, false, 0, 1);
    seg(&q, 0, ref, 0, BLK);
    push(&A, &q, 1, false);
    xengntshr_unshare(xgs, p, 1);
    kick(&A);
    CHECK(collect(&A, &r, 1, 1, RSP_TIMEOUT_MS) == 1, "no response");
    CHECK(r.rqid == q.rqid && r.rslt == RSLT_DID_ERROR,
          "rqid %u rslt 0x%x, expected %u 0x%x", r.rqid,
          (unsigned int)r.rslt, q.rqid, RSLT_DID_ERROR);
    nr_bad++;
    return true;
}

/*
 * Revoked in flight: 16 reads of 13 pages each, the grants revoked right
 * after the kick. Each must be answered exactly once, GOOD (copied before
 * the revoke) or DID_ERROR (copy failed).
 */
static bool case_grant_revoked_inflight(void)
{
    vscsiif_request_t q[RING_SLOTS];
    vscsiif_response_t r[RING_SLOTS + 4];
    uint32_t refs[13];
    uint8_t *p = xengntshr_share_pages(xgs, 0, 13, refs, 1);
    unsigned int i, n, good = 0, err = 0;
    int s;

    CHECK(p, "gntalloc share failed");
    for (i = 0; i < RING_SLOTS; i++) {
        req_rw10(&q[i], false, i * 8, 104);
        for (s = 0; s < 13; s++) {
            seg(&q[i], s, refs[s], 0, PAGE);
        }
    }
    push(&A, q, RING_SLOTS, true);
    xengntshr_unshare(xgs, p, 13);
    n = collect(&A, r, RING_SLOTS + 4, RING_SLOTS, RSP_TIMEOUT_MS);
    CHECK(n == RING_SLOTS, "%u responses to %u requests", n, RING_SLOTS);
    n += collect(&A, r + n, 4, 1, 500);
    CHECK(n == RING_SLOTS, "%u responses to %u requests", n, RING_SLOTS);
    for (i = 0; i < RING_SLOTS; i++) {
        CHECK(r[i].rqid == q[i].rqid, "response %u: rqid %u, expected %u",
              i, r[i].rqid, q[i].rqid);
        if (r[i].rslt == 0) {
            good++;
        } else if (r[i].rslt == RSLT_DID_ERROR) {
            err++;
        } else {
            CHECK(false, "rqid %u: rslt 0x%x", r[i].rqid,
                  (unsigned int)r[i].rslt);
        }
    }
    printf("ROGUE: grant-revoked-inflight: %u GOOD, %u DID_ERROR\n", good,
           err);
    nr_bad += err;
    return true;
}

static bool case_grant_readonly(void)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    uint8_t *p = ropages.addr;

    fill(p, PAGE, 0xa5);
    req_rw10(&q, false, 0, 1);
    seg(&q, 0, ropages.refs[0], 0, BLK);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "READ into a read-only grant"));
    CHECK(all_bytes(p, PAGE, 0xa5), "read-only grant: page modified");
    /* The second element read-only: the first may be written, no more. */
    fill(wpages.addr, PAGE, 0xa5);
    req_rw10(&q, false, 0, 2);
    seg(&q, 0, wpages.refs[0], 0, BLK);
    seg(&q, 1, ropages.refs[0], 0, BLK);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "READ into rw+ro grants"));
    CHECK(all_bytes(p, PAGE, 0xa5), "read-only grant: page modified");
    /* Read-only is fine for a WRITE (the backend only reads it). */
    pattern(p, 100, 1);
    req_rw10(&q, true, 100, 1);
    seg(&q, 0, ropages.refs[0], 0, BLK);
    CALL(do1(&A, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "WRITE from a read-only grant: rslt 0x%x",
          (unsigned int)r.rslt);
    CALL(read_check(&A, 100, 1));
    return true;
}

static bool case_segment_overflow(void)
{
    static const uint16_t ol[][2] = {
        { 4000, 200 }, { 0xffff, 0xffff }, { 4096, 1 }, { 0, 4097 },
        { 1, 4096 }, { 0x8000, 512 },
    };
    vscsiif_request_t q;
    unsigned int i;
    char what[48];

    for (i = 0; i < sizeof(ol) / sizeof(ol[0]); i++) {
        fill(wpages.addr, PAGE, 0xa5);
        req_rw10(&q, false, 0, 1);
        seg(&q, 0, wpages.refs[0], ol[i][0], ol[i][1]);
        snprintf(what, sizeof(what), "segment offset %u length %u",
                 ol[i][0], ol[i][1]);
        CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, what));
        CHECK(all_bytes(wpages.addr, PAGE, 0xa5), "%s: buffer modified",
              what);
    }
    /* Zero-length elements only: too short for the command. */
    req_rw10(&q, false, 0, 1);
    seg(&q, 0, wpages.refs[0], 0, 0);
    seg(&q, 1, wpages.refs[1], 0, 0);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "zero-length segments"));
    /* Many small elements summing to one block: valid. */
    {
        vscsiif_response_t r;

        fill(wpages.addr, PAGE, 0);
        req_rw10(&q, false, 7, 1);
        for (i = 0; i < 16; i++) {
            seg(&q, i, wpages.refs[0], i * 32, 32);
        }
        CALL(do1(&A, &q, &r, why, sizeof(why)));
        CHECK(r.rslt == 0, "16 x 32-byte segments: rslt 0x%x",
              (unsigned int)r.rslt);
        CHECK(is_pattern(wpages.addr, 7, 1), "16 x 32-byte segments: data");
    }
    return true;
}

/* An indirect READ of @blocks at LBA 0 with its elements on SG page 0. */
static void indirect_read(vscsiif_request_t *q, unsigned int blocks)
{
    vscsiif_segment_t *el = (vscsiif_segment_t *)sgpages.addr;
    unsigned int i;

    memset(sgpages.addr, 0, PAGE);
    for (i = 0; i < blocks; i++) {
        el[i].gref = wpages.refs[i / 8];
        el[i].offset = (i % 8) * BLK;
        el[i].length = BLK;
    }
    req_rw10(q, false, 0, blocks);
    q->nr_segments = VSCSIIF_SG_GRANT;
    seg(q, 0, sgpages.refs[0], 0, blocks * sizeof(vscsiif_segment_t));
}

static bool case_indirect_bad(void)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    vscsiif_segment_t *el = (vscsiif_segment_t *)sgpages.addr;
    unsigned int i;

    /* Valid first: 128 elements of 512 bytes (64 KiB). */
    indirect_read(&q, 128);
    fill(wpages.addr, 16 * PAGE, 0);
    CALL(do1(&A, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "valid indirect READ: rslt 0x%x",
          (unsigned int)r.rslt);
    CHECK(is_pattern(wpages.addr, 0, 128), "valid indirect READ: data");

    indirect_read(&q, 8);
    q.seg[0].length = 7;
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "SG page length 7"));
    indirect_read(&q, 8);
    q.seg[0].length = 0;
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "SG page length 0"));
    indirect_read(&q, 8);
    q.seg[0].offset = 4088;
    q.seg[0].length = 16;
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "SG page range past the end"));
    indirect_read(&q, 8);
    q.seg[0].offset = 0xfff8;
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "SG page offset 0xfff8"));
    indirect_read(&q, 8);
    q.seg[0].gref = BAD_GREF;
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "SG page never granted"));
    /* An element inside the list is bad. */
    indirect_read(&q, 8);
    el[5].offset = 4095;
    el[5].length = 2;
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "SG element crossing a page"));
    indirect_read(&q, 8);
    el[6].gref = BAD_GREF;
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "SG element never granted"));
    /* More elements than feature-sg-grant (128). */
    indirect_read(&q, 8);
    q.seg[0].length = 129 * sizeof(vscsiif_segment_t);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "129 elements"));
    indirect_read(&q, 8);
    for (i = 0; i < VSCSIIF_SG_TABLESIZE; i++) {
        seg(&q, i, sgpages.refs[i % NR_SGPAGES], 0, PAGE);
    }
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "26 full SG pages"));
    indirect_read(&q, 8);
    seg(&q, 1, sgpages.refs[1], 0, PAGE);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "8 + 512 elements"));
    return true;
}

/*
 * The SG list points at its own page: the backend must have copied the
 * list before it writes data there. READ: the page ends up holding the
 * data; WRITE: the list bytes are the data.
 */
static bool case_indirect_self(void)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    vscsiif_segment_t *el = (vscsiif_segment_t *)sgpages.addr;
    unsigned int i;

    memset(sgpages.addr, 0, PAGE);
    for (i = 0; i < 8; i++) {
        el[i].gref = sgpages.refs[0];
        el[i].offset = i * BLK;
        el[i].length = BLK;
    }
    req_rw10(&q, false, 16, 8);
    q.nr_segments = VSCSIIF_SG_GRANT;
    seg(&q, 0, sgpages.refs[0], 0, 8 * sizeof(vscsiif_segment_t));
    CALL(do1(&A, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "self-pointing READ: rslt 0x%x",
          (unsigned int)r.rslt);
    CHECK(is_pattern(sgpages.addr, 16, 8), "self-pointing READ: the SG page "
          "does not hold the data (list re-read after the copy?)");
    /* Self-pointing WRITE to LBA 300, then read back. */
    memset(sgpages.addr, 0, PAGE);
    for (i = 0; i < 8; i++) {
        el[i].gref = sgpages.refs[0];
        el[i].offset = i * BLK;
        el[i].length = BLK;
    }
    memcpy(page_addr(&sgpages, 1), sgpages.addr, PAGE);
    req_rw10(&q, true, 300, 8);
    q.nr_segments = VSCSIIF_SG_GRANT;
    seg(&q, 0, sgpages.refs[0], 0, 8 * sizeof(vscsiif_segment_t));
    CALL(do1(&A, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "self-pointing WRITE: rslt 0x%x",
          (unsigned int)r.rslt);
    fill(wpages.addr, PAGE, 0xa5);
    req_rw10(&q, false, 300, 8);
    seg(&q, 0, wpages.refs[0], 0, PAGE);
    CALL(do1(&A, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0 && memcmp(wpages.addr, page_addr(&sgpages, 1),
                                PAGE) == 0,
          "self-pointing WRITE: disk does not hold the list bytes");
    return true;
}

static bool case_rqid_reuse(void)
{
    vscsiif_request_t q[4];
    vscsiif_response_t r[8];
    unsigned int i, n;

    fill(wpages.addr, 8 * PAGE, 0);
    for (i = 0; i < 4; i++) {
        req_rw10(&q[i], false, 40 + i * 8, 8);
        seg(&q[i], 0, wpages.refs[i], 0, PAGE);
        q[i].rqid = 0x4242;
    }
    push(&A, q, 4, true);
    n = collect(&A, r, 8, 4, RSP_TIMEOUT_MS);
    n += collect(&A, r + n, 8 - n, 8, 300);
    CHECK(n == 4, "%u responses to 4 requests with one rqid", n);
    for (i = 0; i < 4; i++) {
        CHECK(r[i].rqid == 0x4242 && r[i].rslt == 0,
              "response %u: rqid 0x%x rslt 0x%x", i, r[i].rqid,
              (unsigned int)r[i].rslt);
        CHECK(is_pattern(page_addr(&wpages, i), 40 + i * 8, 8),
              "request %u: data wrong", i);
    }
    return true;
}

static bool case_abort_unknown(void)
{
    vscsiif_request_t q;
    static const uint16_t refs[] = { 0, 0x1234, 0xffff };
    unsigned int i;

    for (i = 0; i < 3; i++) {
        req_tmf(&q, VSCSIIF_ACT_SCSI_ABORT, 1, 0, refs[i]);
        CALL(expect_rslt(&A, &q, RSLT_TMF_SUCCESS, "ABORT of unknown rqid"));
    }
    req_tmf(&q, VSCSIIF_ACT_SCSI_ABORT, 9, 3, 0x1234);
    CALL(expect_rslt(&A, &q, RSLT_TMF_SUCCESS, "ABORT on a missing LUN"));
    return true;
}

/* ABORT right behind the READ it aborts: READ answered first. */
static bool case_abort_inflight(void)
{
    vscsiif_request_t q[2];
    vscsiif_response_t r[4];
    unsigned int n;

    req_rw10(&q[0], false, 0, 64);
    seg_pages(&q[0], 0, 64 * BLK);
    req_tmf(&q[1], VSCSIIF_ACT_SCSI_ABORT, 1, 0, q[0].rqid);
    push(&A, q, 2, true);
    n = collect(&A, r, 4, 2, RSP_TIMEOUT_MS);
    n += collect(&A, r + n, 4 - n, 4, 300);
    CHECK(n == 2, "%u responses, expected 2", n);
    CHECK(r[0].rqid == q[0].rqid, "first response is rqid %u, expected the "
          "READ (%u)", r[0].rqid, q[0].rqid);
    CHECK(r[0].rslt == 0 || r[0].rslt == RSLT_DID_ABORT,
          "READ: rslt 0x%x, expected GOOD or DID_ABORT",
          (unsigned int)r[0].rslt);
    CHECK(r[1].rqid == q[1].rqid && r[1].rslt == RSLT_TMF_SUCCESS,
          "ABORT: rqid %u rslt 0x%x", r[1].rqid, (unsigned int)r[1].rslt);
    return true;
}

static bool case_reset_storm(void)
{
    vscsiif_request_t q[RING_SLOTS];
    vscsiif_response_t r[RING_SLOTS];
    unsigned int round, i, n;

    for (round = 0; round < 20; round++) {
        for (i = 0; i < RING_SLOTS; i++) {
            if (i % 4 == 3) {
                req_rw10(&q[i], false, i, 1);
                seg(&q[i], 0, wpages.refs[i], 0, BLK);
            } else {
                req_tmf(&q[i], VSCSIIF_ACT_SCSI_RESET, 1, 0, 0);
            }
        }
        push(&A, q, RING_SLOTS, true);
        n = collect(&A, r, RING_SLOTS, RING_SLOTS, 30000);
        CHECK(n == RING_SLOTS, "round %u: %u responses to %u", round, n,
              RING_SLOTS);
        for (i = 0; i < RING_SLOTS; i++) {
            bool tmf = false;
            unsigned int j;

            for (j = 0; j < RING_SLOTS; j++) {
                if (q[j].rqid == r[i].rqid) {
                    tmf = q[j].act == VSCSIIF_ACT_SCSI_RESET;
                    break;
                }
            }
            CHECK(j < RING_SLOTS, "round %u: response for unknown rqid %u",
                  round, r[i].rqid);
            if (tmf) {
                CHECK(r[i].rslt == RSLT_TMF_SUCCESS, "round %u: RESET rslt "
                      "0x%x", round, (unsigned int)r[i].rslt);
            } else {
                /* A READ between resets: GOOD, unit attention or reset. */
                CHECK(r[i].rslt == 0 || r[i].rslt == STATUS_CHECK ||
                      r[i].rslt == RSLT_DID_RESET,
                      "round %u: READ rslt 0x%x", round,
                      (unsigned int)r[i].rslt);
            }
        }
    }
    /* RESET of a LUN that does not exist fails. */
    req_tmf(&q[0], VSCSIIF_ACT_SCSI_RESET, 7, 0, 0);
    CALL(expect_rslt(&A, &q[0], RSLT_TMF_FAILED, "RESET of 0:7:0"));
    /* After a RESET: exactly the RESET unit attention, then GOOD. */
    req_tmf(&q[0], VSCSIIF_ACT_SCSI_RESET, 1, 0, 0);
    CALL(expect_rslt(&A, &q[0], RSLT_TMF_SUCCESS, "RESET of 0:1:0"));
    req_tur(&q[0]);
    CALL(expect_sense(&A, &q[0], 6, 0x29, 0x00, "TUR after RESET"));
    CALL(clear_ua(&A));
    CALL(read_check(&A, 0, 8));
    return true;
}

/* CDBs that are well-formed for the ring but wrong for SCSI. */
static bool case_cdb_semantic(void)
{
    vscsiif_request_t q;
    uint8_t cdb16[16] = { 0x88 };

    /* READ(10) cut to 6 bytes: invalid opcode, buffer untouched. */
    fill(wpages.addr, BLK, 0xa5);
    req_rw10(&q, false, 0, 1);
    q.cmd_len = 6;
    seg(&q, 0, wpages.refs[0], 0, BLK);
    CALL(expect_sense(&A, &q, 5, 0x20, 0x00, "READ(10) with cmd_len 6"));
    CHECK(all_bytes(wpages.addr, BLK, 0xa5), "truncated CDB: buffer "
          "modified");
    /* Opcode 0xff: invalid opcode. */
    memset(cdb16, 0, sizeof(cdb16));
    cdb16[0] = 0xff;
    req_cdb(&q, 0, 1, 0, DIR_NONE, cdb16, 16);
    CALL(expect_sense(&A, &q, 5, 0x20, 0x00, "opcode 0xff"));
    /* READ(10) past the end of the 16 MiB disk: LBA out of range. */
    req_rw10(&q, false, 0x7ffffff0, 1);
    seg(&q, 0, wpages.refs[0], 0, BLK);
    CALL(expect_sense(&A, &q, 5, 0x21, 0x00, "READ(10) past the end"));
    CHECK(all_bytes(wpages.addr, BLK, 0xa5), "READ past the end: buffer "
          "modified");
    /* READ(16) of 2^32-1 blocks into one block: refused, not attempted. */
    memset(cdb16, 0, sizeof(cdb16));
    cdb16[0] = 0x88;
    cdb16[10] = cdb16[11] = cdb16[12] = cdb16[13] = 0xff;
    req_cdb(&q, 0, 1, 0, DIR_FROM_DEVICE, cdb16, 16);
    seg(&q, 0, wpages.refs[0], 0, BLK);
    CALL(expect_rslt(&A, &q, RSLT_DID_ERROR, "READ(16) of 2^32-1 blocks"));
    CHECK(all_bytes(wpages.addr, BLK, 0xa5), "huge READ(16): buffer "
          "modified");
    return true;
}

/* Requests of every kind with garbage in the unused fields. */
static bool case_garbage_fields(void)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    unsigned int i;

    fill(wpages.addr, PAGE, 0);
    req_rw10(&q, false, 9, 1);
    seg(&q, 0, wpages.refs[0], 0, BLK);
    for (i = 1; i < VSCSIIF_SG_TABLESIZE; i++) {
        q.seg[i].gref = BAD_GREF;
        q.seg[i].offset = 0xffff;
        q.seg[i].length = 0xffff;
    }
    q.ref_rqid = 0xffff;
    q.timeout_per_command = 0xffff;
    q.reserved[0] = q.reserved[1] = q.reserved[2] = 0xffffffff;
    memset(q.cmnd + 10, 0xff, 6);
    CALL(do1(&A, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "READ with garbage in unused fields: rslt 0x%x",
          (unsigned int)r.rslt);
    CHECK(is_pattern(wpages.addr, 9, 1), "READ with garbage: data");
    return true;
}

/* req_prod far ahead: the ring halts, only for this vhost. */
static bool case_ring_prod_ahead(void)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    RING_IDX rsp_before;

    rsp_before = A.ring.sring->rsp_prod;
    A.ring.req_prod_pvt += 1000;
    xen_wmb();
    A.ring.sring->req_prod = A.ring.req_prod_pvt;
    kick(&A);
    CHECK(collect(&A, &r, 1, 1, SILENCE_MS) == 0,
          "a response on a ring with a bogus req_prod");
    /* Halted: a valid-looking request and more kicks get nothing. */
    req_inquiry(&q, 1);
    push(&A, &q, 1, true);
    kick(&A);
    CHECK(collect(&A, &r, 1, 1, SILENCE_MS) == 0,
          "a response after the halt");
    CHECK(A.ring.sring->rsp_prod == rsp_before, "rsp_prod moved after the "
          "halt");
    CHECK(xs_get_int(A.be, "state") == XenbusStateConnected,
          "backend state %d after a halt (expected to stay 4)",
          xs_get_int(A.be, "state"));
    nr_halts++;
    /* The healthy vhost does not care. */
    CALL(inquiry_ok(&B));
    /* A fresh connection works. */
    CALL(conn_reopen(&A, why, sizeof(why)));
    CALL(inquiry_ok(&A));
    return true;
}

/* req_prod behind rsp_prod (moves backwards): also a halt. */
static bool case_ring_prod_backwards(void)
{
    vscsiif_response_t r;

    CALL(inquiry_ok(&A));
    A.ring.sring->req_prod = A.ring.req_prod_pvt - 5;
    xen_wmb();
    kick(&A);
    CHECK(collect(&A, &r, 1, 1, SILENCE_MS) == 0,
          "a response on a ring with req_prod moved backwards");
    nr_halts++;
    CALL(inquiry_ok(&B));
    A.ring.sring->req_prod = A.ring.req_prod_pvt;
    CALL(conn_reopen(&A, why, sizeof(why)));
    CALL(inquiry_ok(&A));
    return true;
}

/*
 * Responses never consumed: 16 requests answered, then 16 more pushed over
 * the unconsumed responses (a legal req_prod for the backend). All 32 are
 * answered; then the frontend catches up and the ring works.
 */
static bool case_ring_unconsumed(void)
{
    vscsiif_request_t q[RING_SLOTS];
    vscsiif_response_t r;
    unsigned int i, round;
    RING_IDX start = A.ring.sring->rsp_prod;
    int64_t end;

    for (round = 0; round < 2; round++) {
        for (i = 0; i < RING_SLOTS; i++) {
            req_tur(&q[i]);
        }
        push(&A, q, RING_SLOTS, true);
        end = now_ms() + RSP_TIMEOUT_MS;
        while (A.ring.sring->rsp_prod - start < (round + 1) * RING_SLOTS &&
               now_ms() < end) {
            wait_event(10);
        }
        CHECK(A.ring.sring->rsp_prod - start == (round + 1) * RING_SLOTS,
              "round %u: rsp_prod advanced by %u, expected %u", round,
              A.ring.sring->rsp_prod - start, (round + 1) * RING_SLOTS);
    }
    /* 16 more would overflow (req_prod - rsp_prod stays <= 16): fine. */
    A.ring.rsp_cons = A.ring.sring->rsp_prod;
    CALL(inquiry_ok(&A));
    (void)r;
    return true;
}

/* Event-channel storm, with and without work, then everything works. */
static bool case_evtchn_storm(void)
{
    vscsiif_request_t q;
    int64_t end = now_ms() + 3000;
    unsigned long n = 0;

    while (now_ms() < end) {
        kick(&A);
        kick(&B);
        n++;
    }
    printf("ROGUE: evtchn-storm: %lu notifications per vhost in 3 s\n", n);
    CALL(inquiry_ok(&B));
    CALL(inquiry_ok(&A));
    /* Storm while a request is queued, without the request kick. */
    req_tur(&q);
    push(&A, &q, 1, false);
    end = now_ms() + 1000;
    while (now_ms() < end) {
        kick(&A);
    }
    {
        vscsiif_response_t r;

        CHECK(collect(&A, &r, 1, 1, RSP_TIMEOUT_MS) == 1 &&
              r.rqid == q.rqid && r.rslt == 0,
              "TUR during a storm: no GOOD answer");
    }
    CALL(inquiry_ok(&B));
    return true;
}

/*
 * Bad ring-ref/event-channel values: the backend must not connect (state
 * stays 2), QEMU stays up; then a good connection works.
 */
static bool xs_bad_connect(const char *ring_ref, const char *evtchn,
                           const char *what)
{
    char w2[256];
    int st;

    CALL(conn_close(&A, why, sizeof(why)));
    CHECK(conn_open_with(&A, ring_ref, evtchn, w2, sizeof(w2)),
          "%s: %s", what, w2);
    sleep_ms(1500);
    st = xs_get_int(A.be, "state");
    CHECK(st == XenbusStateInitWait, "%s: backend state %d, expected 2",
          what, st);
    CALL(inquiry_ok(&B));
    xs_put(A.fe, "state", "%d", XenbusStateInitialising);
    sleep_ms(300);
    CHECK(conn_open(&A, w2, sizeof(w2)), "%s, then a good connect: %s",
          what, w2);
    CALL(inquiry_ok(&A));
    return true;
}

static bool case_xs_ring_ref_bad(void)
{
    /*
     * Not "0x10" or "12junk": "%u" reads them as 0 and 12, and small grant
     * references can be valid grants to dom0 (console, xenstore, ours).
     */
    static const char *vals[] = { "abc", "", "4294967295", "99999999999",
                                  "-1", "268435440" };
    char v[32], what[64];
    unsigned int i;

    for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        snprintf(what, sizeof(what), "ring-ref '%s'", vals[i]);
        CALL(xs_bad_connect(vals[i], NULL, what));
    }
    /* A read-only grant as the ring page. */
    snprintf(v, sizeof(v), "%u", ropages.refs[1]);
    CALL(xs_bad_connect(v, NULL, "ring-ref of a read-only grant"));
    /*
     * A bad ring-ref and the state flapping 1 <-> 3: every 3 is a failed
     * connect. QEMU must stay up, not connect, and log rate-limited (the
     * scenario counts the lines).
     */
    CALL(conn_close(&A, why, sizeof(why)));
    CALL(conn_open_with(&A, "abc", NULL, why, sizeof(why)));
    for (i = 0; i < 100; i++) {
        xs_put(A.fe, "state", "%d", XenbusStateInitialising);
        xs_put(A.fe, "state", "%d", XenbusStateInitialised);
    }
    sleep_ms(1500);
    i = xs_get_int(A.be, "state");
    CHECK(i == XenbusStateInitWait, "flapping with ring-ref 'abc': backend "
          "state %d, expected 2", (int)i);
    printf("ROGUE: xs-ring-ref-bad: flapped 100 times with ring-ref 'abc'\n");
    CALL(inquiry_ok(&B));
    xs_put(A.fe, "state", "%d", XenbusStateInitialising);
    sleep_ms(300);
    CALL(conn_open(&A, why, sizeof(why)));
    CALL(inquiry_ok(&A));
    return true;
}

static bool case_xs_evtchn_bad(void)
{
    static const char *vals[] = { "abc", "", "4294967295", "99999999999",
                                  "-1", "1000000", "0" };
    char what[64];
    unsigned int i;

    for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        snprintf(what, sizeof(what), "event-channel '%s'", vals[i]);
        CALL(xs_bad_connect(NULL, vals[i], what));
    }
    return true;
}

/* State flapping with a valid ring, then a clean close and connect. */
static bool case_xs_state_flap(void)
{
    static const int seq[] = { 3, 4, 1, 3, 6, 1, 3, 4, 5, 6, 3, 7, 8, 2, 0,
                               9, 255, 4, 5, 3 };
    unsigned int round, i;
    int st;

    /*
     * A fresh ring (req_prod 0) and valid nodes: whenever the flapping
     * makes the backend connect, it finds a clean ring, not a stale
     * req_prod that would (rightly) halt it.
     */
    CALL(conn_close(&A, why, sizeof(why)));
    CHECK(conn_alloc(&A, 1), "cannot allocate ring/port");
    xs_put(A.fe, "ring-ref", "%u", A.ring_ref);
    xs_put(A.fe, "event-channel", "%d", A.port);
    for (round = 0; round < 5; round++) {
        for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
            xs_put(A.fe, "state", "%d", seq[i]);
        }
        xs_put(A.fe, "state", "%s", "garbage");
        xs_put(A.fe, "state", "%s", "99999999999");
        sleep_ms(50);
    }
    sleep_ms(1000);
    CALL(inquiry_ok(&B));
    /* Whatever state it is in, a close/reopen gets it back. */
    xs_put(A.fe, "state", "%d", XenbusStateClosing);
    sleep_ms(300);
    xs_put(A.fe, "state", "%d", XenbusStateClosed);
    st = wait_closed(&A, 10000);
    CHECK(st == XenbusStateClosed || st == XenbusStateInitWait,
          "backend state %d after 6", st);
    conn_free(&A);
    xs_put(A.fe, "state", "%d", XenbusStateInitialising);
    st = xs_wait_int(A.be, "state", XenbusStateInitWait, 10000);
    CHECK(st == XenbusStateInitWait, "backend state %d after 1", st);
    CALL(conn_open(&A, why, sizeof(why)));
    CALL(clear_ua(&A));
    CALL(inquiry_ok(&A));
    return true;
}

/* Close with 16 requests in flight; the backend must close and come back. */
static bool case_xs_close_inflight(void)
{
    vscsiif_request_t q[RING_SLOTS];
    unsigned int i, round;

    for (round = 0; round < 3; round++) {
        for (i = 0; i < RING_SLOTS; i++) {
            req_rw10(&q[i], i % 2, 512 + i * 26, 26);
            seg_pages(&q[i], 0, 26 * BLK);
        }
        push(&A, q, RING_SLOTS, true);
        if (round == 2) {
            /* Straight to Closed, without Closing. */
            xs_put(A.fe, "state", "%d", XenbusStateClosed);
        }
        CALL(conn_reopen(&A, why, sizeof(why)));
        CALL(inquiry_ok(&B));
    }
    CALL(clear_ua(&A));
    CALL(inquiry_ok(&A));
    return true;
}

static bool case_xs_reconnect_loop(void)
{
    unsigned int i;

    for (i = 0; i < 15; i++) {
        CALL(conn_reopen(&A, why, sizeof(why)));
        CALL(inquiry_ok(&A));
    }
    return true;
}

/* A rogue that simply goes away: ring and port released while connected. */
static bool case_xs_vanish(void)
{
    int st;

    conn_free(&A);
    sleep_ms(500);
    CALL(inquiry_ok(&B));
    xs_put(A.fe, "state", "%d", XenbusStateClosed);
    st = wait_closed(&A, 10000);
    CHECK(st == XenbusStateClosed || st == XenbusStateInitWait,
          "backend state %d after 6", st);
    xs_put(A.fe, "state", "%d", XenbusStateInitialising);
    st = xs_wait_int(A.be, "state", XenbusStateInitWait, 10000);
    CHECK(st == XenbusStateInitWait, "backend state %d after 1", st);
    CALL(conn_open(&A, why, sizeof(why)));
    CALL(inquiry_ok(&A));
    return true;
}

/* --------------------------------------------------------------------- */
/* Cases with dom0's help (issue 11 items 3, 4, 8, 12)                    */
/*                                                                        */
/* dom0's scenario runs an agent that reads data/xpv-rogue/req ("SEQ CMD")*/
/* and answers in data/xpv-rogue/ack ("SEQ ANSWER"): tgt-stop / tgt-cont  */
/* (SIGSTOP / SIGCONT tgtd, the iSCSI target of the slow vhost),          */
/* probe-start NAME (a QMP client that sends query-status once a second   */
/* and times each answer) and probe-result NAME (stops it; "PASS ..." if  */
/* every answer came within 1 s, else "FAIL ...").                        */

static char agent_dir[128];
static unsigned int agent_seq;

static bool agent(const char *cmd, char *res, size_t reslen, int ms)
{
    char want[32];
    int64_t end = now_ms() + ms;

    agent_seq++;
    if (!xs_put(agent_dir, "req", "%u %s", agent_seq, cmd)) {
        snprintf(res, reslen, "cannot write %s/req: %s", agent_dir,
                 strerror(errno));
        return false;
    }
    snprintf(want, sizeof(want), "%u ", agent_seq);
    while (now_ms() < end) {
        char *v = xs_get(agent_dir, "ack");

        if (v && !strncmp(v, want, strlen(want))) {
            snprintf(res, reslen, "%s", v + strlen(want));
            free(v);
            return true;
        }
        free(v);
        sleep_ms(50);
    }
    snprintf(res, reslen, "no answer from dom0's agent to '%s' in %d ms",
             cmd, ms);
    return false;
}

/* An agent command that must answer "ok". */
static bool agent_ok(const char *cmd)
{
    char res[256];

    CHECK(agent(cmd, res, sizeof(res), 60000), "%s", res);
    CHECK(!strncmp(res, "ok", 2), "dom0 agent, %s: %s", cmd, res);
    return true;
}

/*
 * Item 3: the intake must be bounded. 20 s of requests to the
 * unconfigured 0:7:0 (answered at once, DID_NO_CONNECT), each slot
 * refilled as soon as the backend has written its response into it, so
 * that req_prod stays <= the backend's private response index + 15 (never
 * a protocol violation) and the backend never finds the ring empty. A
 * backend that loops until the ring is empty never returns to its event
 * loop: QMP, xenstore and the other vhosts stall. Asserted: dom0's
 * query-status answers within 1 s, the healthy vhost answers an INQUIRY
 * every second within 1 s, rsp_prod advances in every second of the storm
 * (responses are pushed per batch), every request is answered once.
 */
#define STORM_MS            20000
#define STORM_LATE_MS       1000

/*
 * A storm request: READ(10) of 128 blocks from the unconfigured 0:7:0 with
 * an indirect SG list of 128 elements (the last SG page). The backend
 * copies the list (a grant copy) before it finds no LUN: cheap for us,
 * not quite as cheap for it, answered at once, never logged.
 */
static void storm_req(vscsiif_request_t *q)
{
    static const uint8_t rd10[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 128, 0 };

    req_cdb(q, 0, 7, 0, DIR_FROM_DEVICE, rd10, 10);
    q->nr_segments = VSCSIIF_SG_GRANT;
    seg(q, 0, sgpages.refs[NR_SGPAGES - 1], 0,
        128 * sizeof(vscsiif_segment_t));
}

static bool case_intake_storm(void)
{
    vscsiif_sring_t *sr = A.ring.sring;
    vscsiif_segment_t *el;
    vscsiif_request_t q, qb, tmpl;
    vscsiif_response_t rb;
    uint16_t slot_rqid[RING_SLOTS];
    RING_IDX base, seen, next, k, last_rsp;
    int64_t t0, now, tick, b_sent = 0, b_next, b_max = 0, b_lat;
    unsigned int b_ok = 0, b_late = 0, b_bad = 0, frozen = 0, secs = 0;
    unsigned int total, i, iter;
    bool b_out = false;
    char qmp[256];
    int notify, end_ms;

    /* An idle ring to start from. */
    collect(&A, &rb, 1, 0, 0);
    CHECK(sr->rsp_prod == A.ring.req_prod_pvt, "ring not idle before the "
          "storm: req_prod %u rsp_prod %u", A.ring.req_prod_pvt,
          sr->rsp_prod);
    /*
     * Our vCPU gets a physical CPU of its own (dom0's vCPUs share the
     * other one), as a guest with a dedicated CPU has: the storm is then
     * not interrupted by Xen scheduling dom0's other work in our place.
     */
    CALL(agent_ok("pin"));
    if (!agent("probe-start intake-storm", qmp, sizeof(qmp), 60000) ||
        strncmp(qmp, "ok", 2)) {
        agent_ok("unpin");
        CHECK(false, "dom0 QMP prober: %s", qmp);
    }

    el = (vscsiif_segment_t *)page_addr(&sgpages, NR_SGPAGES - 1);
    for (i = 0; i < 128; i++) {
        el[i].gref = wpages.refs[i / 8];
        el[i].offset = (i % 8) * BLK;
        el[i].length = BLK;
    }
    storm_req(&tmpl);
    base = A.ring.req_prod_pvt;
    for (k = 0; k < RING_SLOTS; k++) {
        storm_req(&q);
        slot_rqid[(base + k) % RING_SLOTS] = q.rqid;
        memcpy(RING_GET_REQUEST(&A.ring, base + k), &q, sizeof(q));
    }
    A.ring.req_prod_pvt = base + RING_SLOTS;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&A.ring, notify);
    kick(&A);
    seen = next = base;
    t0 = now_ms();
    tick = t0 + 1000;
    b_next = t0 + 200;
    last_rsp = sr->rsp_prod;
    now = t0;
    for (iter = 0; now < t0 + STORM_MS; iter++) {
        bool dirty = false;

        if (!(iter & 63)) {
            now = now_ms();
        }

        /*
         * Answered: the response (sense_len 0) overwrote the request
         * (cmd_len 10) in its slot. Slots [next, req_prod) hold distinct
         * requests until answered.
         */
        while (seen != A.ring.req_prod_pvt &&
               ((volatile uint8_t *)RING_GET_REQUEST(&A.ring, seen))[3] !=
               10) {
            seen++;
        }
        xen_rmb();
        /*
         * Refill the slot of request k once k+1 is answered: the response
         * to k is then completely written (x86 stores are seen in order).
         */
        while ((RING_IDX)(seen - next) > 1) {
            q = tmpl;
            q.rqid = new_rqid();
            slot_rqid[next % RING_SLOTS] = q.rqid;
            memcpy(RING_GET_REQUEST(&A.ring, next + RING_SLOTS), &q,
                   sizeof(q));
            next++;
            dirty = true;
        }
        if (dirty) {
            A.ring.req_prod_pvt = next + RING_SLOTS;
            RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&A.ring, notify);
            if (notify) {
                kick(&A);
            }
        }

        /* The healthy vhost: one INQUIRY at a time, one a second. */
        if (!b_out && now >= b_next) {
            req_inquiry(&qb, 1);
            seg(&qb, 0, wpages.refs[NR_WPAGES - 1], 0, 36);
            push(&B, &qb, 1, true);
            b_sent = now;
            b_out = true;
        }
        if (b_out && B.ring.rsp_cons != B.ring.sring->rsp_prod) {
            xen_rmb();
            memcpy(&rb, RING_GET_RESPONSE(&B.ring, B.ring.rsp_cons),
                   sizeof(rb));
            B.ring.rsp_cons++;
            b_lat = now - b_sent;
            b_max = b_lat > b_max ? b_lat : b_max;
            b_late += b_lat > STORM_LATE_MS;
            b_bad += rb.rqid != qb.rqid || rb.rslt != 0;
            b_ok++;
            b_out = false;
            b_next = b_sent + 1000;
        }

        if (now >= tick) {
            frozen += sr->rsp_prod == last_rsp;
            last_rsp = sr->rsp_prod;
            secs++;
            tick += 1000;
        }
    }
    end_ms = (int)(now_ms() - t0);
    CALL(agent_ok("unpin"));

    /* A looping backend lets go now: everything is answered. */
    for (i = 0; i < 1500 && sr->rsp_prod != A.ring.req_prod_pvt; i++) {
        sleep_ms(10);
    }
    if (b_out) {
        if (collect(&B, &rb, 1, 1, 30000) == 1) {
            b_lat = now_ms() - b_sent;
            b_max = b_lat > b_max ? b_lat : b_max;
            b_late += b_lat > STORM_LATE_MS;
            b_bad += rb.rqid != qb.rqid || rb.rslt != 0;
            b_ok++;
        } else {
            b_late++;
            b_max = now_ms() - b_sent;
        }
    }
    total = A.ring.req_prod_pvt - base;
    CHECK(agent("probe-result intake-storm", qmp, sizeof(qmp), 170000),
          "%s", qmp);
    printf("ROGUE: intake-storm: %u requests in %d ms; rsp_prod frozen in "
           "%u of %u seconds; healthy vhost: %u INQUIRYs answered, %u "
           "late, slowest %" PRId64 " ms; dom0 QMP: %s\n", total, end_ms,
           frozen, secs, b_ok, b_late, b_max, qmp);

    CHECK(!strncmp(qmp, "PASS", 4), "dom0's query-status during the "
          "storm: %s", qmp);
    CHECK(b_late == 0, "healthy vhost: %u INQUIRYs (of %u answered) took "
          "longer than %d ms during the storm (slowest %" PRId64 " ms)",
          b_late, b_ok, STORM_LATE_MS, b_max);
    CHECK(b_ok >= STORM_MS / 1000 / 2 && b_bad == 0, "healthy vhost: %u "
          "INQUIRYs answered (%u bad) in %d s of storm", b_ok, b_bad,
          STORM_MS / 1000);
    CHECK(frozen == 0, "rsp_prod did not advance in %u of the storm's %u "
          "seconds (responses held back while the backend loops)", frozen,
          secs);
    CHECK(total >= 100, "only %u requests in %d ms: no storm", total,
          end_ms);
    CHECK(sr->rsp_prod == A.ring.req_prod_pvt, "after the storm: %u "
          "responses for %u requests", sr->rsp_prod - base, total);
    for (k = 0; k < RING_SLOTS; k++) {
        vscsiif_response_t *r = RING_GET_RESPONSE(&A.ring, base + k);

        CHECK(r->rqid == slot_rqid[(base + k) % RING_SLOTS] &&
              r->rslt == RSLT_DID_NO_CONNECT, "last response in slot %u: "
              "rqid %u rslt 0x%x, expected rqid %u DID_NO_CONNECT",
              (base + k) % RING_SLOTS, r->rqid, (unsigned int)r->rslt,
              slot_rqid[(base + k) % RING_SLOTS]);
    }
    A.ring.rsp_cons = sr->rsp_prod;
    CALL(inquiry_ok(&A));
    return true;
}

/*
 * Item 4: a frontend of an iothread vhost closes with 16 READs in flight
 * (its LUN is throttled by the scenario, so they are) while a second
 * thread notifies its event channel without pause; 8 rounds, some straight
 * to 6. The backend must close and reconnect every time; under the ASan
 * build the scenario fails on any sanitizer report (the old code freed the
 * channel while the iothread could still be in its handler).
 */
#define IOT_ROUNDS          8

static Conn C;                  /* vhost with iothread= (-i) */
static Conn S;                  /* vhost on a LUN dom0 can stall (-t) */
static bool have_c, have_s;
static volatile bool storm_run;
static unsigned long storm_count;

static void *storm_thread(void *opaque)
{
    Conn *c = opaque;

    while (storm_run) {
        xenevtchn_notify(xce, c->port);
        storm_count++;
    }
    return NULL;
}

static bool case_iothread_close_storm(void)
{
    vscsiif_request_t q[RING_SLOTS];
    vscsiif_response_t r;
    unsigned int round, i, answered;
    pthread_t th;
    int st, err;

    CHECK(have_c, "no iothread vhost given (-i VHOST)");
    for (round = 0; round < IOT_ROUNDS; round++) {
        if (!C.up) {
            CALL(conn_open(&C, why, sizeof(why)));
        }
        storm_run = true;
        storm_count = 0;
        err = pthread_create(&th, NULL, storm_thread, &C);
        CHECK(err == 0, "pthread_create: %s", strerror(err));
        for (i = 0; i < RING_SLOTS; i++) {
            req_rw10(&q[i], false, i * 26, 26);
            seg_pages(&q[i], 0, 26 * BLK);
        }
        push(&C, q, RING_SLOTS, true);
        sleep_ms(10 * (round % 4));
        answered = C.ring.sring->rsp_prod - C.ring.rsp_cons;
        if (round % 3 != 2) {
            xs_put(C.fe, "state", "%d", XenbusStateClosing);
            st = xs_wait_int(C.be, "state", XenbusStateClosing, 10000);
            if (st != XenbusStateClosing) {
                storm_run = false;
                pthread_join(th, NULL);
                CHECK(false, "round %u: backend state %d after frontend 5",
                      round, st);
            }
        }
        xs_put(C.fe, "state", "%d", XenbusStateClosed);
        st = wait_closed(&C, 15000);
        storm_run = false;
        pthread_join(th, NULL);
        printf("ROGUE: iothread-close-storm: round %u: %u of 16 READs "
               "answered at the close, %lu notifications\n", round,
               answered, storm_count);
        CHECK(st == XenbusStateClosed || st == XenbusStateInitWait,
              "round %u: backend state %d after frontend 6", round, st);
        conn_free(&C);
        xs_put(C.fe, "state", "%d", XenbusStateInitialising);
        st = xs_wait_int(C.be, "state", XenbusStateInitWait, 10000);
        CHECK(st == XenbusStateInitWait, "round %u: backend state %d after "
              "frontend 1", round, st);
        CALL(inquiry_ok(&B));
    }
    CALL(conn_open(&C, why, sizeof(why)));
    CALL(clear_ua(&C));
    CALL(inquiry_ok(&C));
    for (i = 0; i < 8 * PAGE; i++) {
        wpages.addr[i] = (uint8_t)(i * 11 + round);
    }
    req_rw10(&q[0], true, 2048, 64);
    seg_pages(&q[0], 0, 8 * PAGE);
    CALL(do1(&C, &q[0], &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "WRITE(10) after the rounds: rslt 0x%x",
          (unsigned int)r.rslt);
    fill(page_addr(&wpages, 8), 8 * PAGE, 0);
    req_rw10(&q[0], false, 2048, 64);
    seg_pages(&q[0], 8, 8 * PAGE);
    CALL(do1(&C, &q[0], &r, why, sizeof(why)));
    CHECK(r.rslt == 0 && !memcmp(wpages.addr, page_addr(&wpages, 8),
                                 8 * PAGE),
          "READ(10) after WRITE(10): rslt 0x%x or data differs",
          (unsigned int)r.rslt);
    return true;
}

/*
 * The slow vhost S: its LUN 0:1:0 is an iSCSI LUN of tgtd in dom0, which
 * the agent can stop (SIGSTOP): READs then stay in flight, while INQUIRY
 * and TEST UNIT READY (emulated by scsi-hd) are still answered.
 */

/* 16 READ(10)s of 8 blocks on S that cannot complete: tgtd is stopped. */
static bool stall_reads(uint16_t *rqids)
{
    vscsiif_request_t q[RING_SLOTS];
    vscsiif_response_t r[RING_SLOTS];
    unsigned int i, n;

    for (i = 0; i < RING_SLOTS; i++) {
        req_rw10(&q[i], false, i * 64, 8);
        seg_pages(&q[i], i, 8 * BLK);
        rqids[i] = q[i].rqid;
    }
    push(&S, q, RING_SLOTS, true);
    n = collect(&S, r, RING_SLOTS, RING_SLOTS, 1500);
    CHECK(n == 0, "%u of 16 READs answered (first rqid %u rslt 0x%x) with "
          "tgtd stopped: nothing would be in flight", n, r[0].rqid,
          (unsigned int)r[0].rslt);
    return true;
}

/* The ring page we keep after a close, to see whether anything lands. */
typedef struct OldRing {
    uint8_t *page;
    RING_IDX rsp_prod;
} OldRing;

/* Close S (5, 6); release the port but keep the old ring page. */
static int close_keep_ring(OldRing *old, int ms, int64_t *took)
{
    int64_t t0 = now_ms();
    int st;

    old->page = S.ring_page;
    old->rsp_prod = S.ring.sring->rsp_prod;
    S.ring_page = NULL;
    xs_put(S.fe, "state", "%d", XenbusStateClosing);
    xs_wait_int(S.be, "state", XenbusStateClosing, ms);
    xs_put(S.fe, "state", "%d", XenbusStateClosed);
    st = wait_closed(&S, ms);
    *took = now_ms() - t0;
    return st;
}

/* S's port is released; start over (1 -> 2) and connect a new ring. */
static bool reconnect_new_ring(void)
{
    int st;

    conn_free(&S);
    xs_put(S.fe, "state", "%d", XenbusStateInitialising);
    st = xs_wait_int(S.be, "state", XenbusStateInitWait, 10000);
    CHECK(st == XenbusStateInitWait, "backend state %d after frontend 1",
          st);
    CALL(conn_open(&S, why, sizeof(why)));
    CALL(clear_ua(&S));
    return true;
}

static bool old_ring_untouched(OldRing *old)
{
    vscsiif_sring_t *sr = (vscsiif_sring_t *)old->page;

    CHECK(sr->rsp_prod == old->rsp_prod, "the old ring's rsp_prod moved "
          "from %u to %u after the frontend closed", old->rsp_prod,
          sr->rsp_prod);
    return true;
}

static void old_ring_free(OldRing *old)
{
    if (old->page) {
        xengntshr_unshare(xgs, old->page, 1);
        old->page = NULL;
    }
}

/* READ(10) of 8 blocks at LBA 0 of S: GOOD (the target works). */
static bool read_ok_s(void)
{
    vscsiif_request_t q;
    vscsiif_response_t r;

    req_rw10(&q, false, 0, 8);
    seg_pages(&q, 0, 8 * BLK);
    CALL(do1(&S, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "READ(10) on the iSCSI LUN: rslt 0x%x",
          (unsigned int)r.rslt);
    return true;
}

/*
 * The slow (iSCSI) vhost connected and without a pending unit attention,
 * then tgtd stopped (*@stopped set) and 16 READs stuck on it (@rqids).
 */
static bool stop_target_and_stall(bool *stopped, uint16_t *rqids,
                                  bool check_first)
{
    CHECK(have_s, "no slow (iSCSI) vhost given (-t VHOST)");
    if (!S.up) {
        CALL(conn_open(&S, why, sizeof(why)));
    }
    CALL(clear_ua(&S));
    if (check_first) {
        CALL(inquiry_ok(&S));
        CALL(read_ok_s());
    }
    CALL(agent_ok("tgt-stop"));
    *stopped = true;
    CALL(stall_reads(rqids));
    return true;
}

/*
 * Item 8: the frontend of S closes with 16 READs stuck on the stopped
 * target. Asserted while tgtd is still stopped: the backend reaches
 * Closed (6, or 2 right after) within 4 s, dom0's query-status answers
 * within 1 s throughout, a new ring connects and answers INQUIRY. After
 * tgtd continues: nothing lands on the old ring or the new one (the 16
 * READs are not answered anywhere), and a READ works.
 */
#define STALL_CLOSE_MS      4000

static bool close_stalled_lun(bool *stopped, OldRing *old)
{
    uint16_t rqids[RING_SLOTS];
    vscsiif_response_t r;
    char qmp[200];
    int64_t took;
    int st;

    CALL(stop_target_and_stall(stopped, rqids, true));
    CALL(agent_ok("probe-start close-stalled-lun"));
    st = close_keep_ring(old, STALL_CLOSE_MS, &took);
    printf("ROGUE: close-stalled-lun: backend state %d %" PRId64 " ms after "
           "the frontend closed (tgtd stopped)\n", st, took);
    if (st != XenbusStateClosed && st != XenbusStateInitWait) {
        char w[200];

        snprintf(w, sizeof(w), "backend state %d %" PRId64 " ms after the "
                 "frontend closed with 16 READs on a stopped target "
                 "(expected 6 or 2 within %d ms)", st, took,
                 STALL_CLOSE_MS);
        /* Let the backend finish its drain, then report what dom0 saw. */
        agent_ok("tgt-cont");
        *stopped = false;
        st = wait_closed(&S, 60000);
        agent("probe-result close-stalled-lun", qmp, sizeof(qmp), 170000);
        printf("ROGUE: close-stalled-lun: backend state %d once tgtd "
               "continued; dom0 QMP: %s\n", st, qmp);
        reconnect_new_ring();
        snprintf(why, sizeof(why), "%s; dom0 QMP: %s", w, qmp);
        return false;
    }
    CALL(reconnect_new_ring());
    CALL(inquiry_ok(&S));
    CALL(agent_ok("tgt-cont"));
    *stopped = false;
    CHECK(agent("probe-result close-stalled-lun", qmp, sizeof(qmp), 170000),
          "%s", qmp);
    printf("ROGUE: close-stalled-lun: dom0 QMP: %s\n", qmp);
    CHECK(!strncmp(qmp, "PASS", 4), "dom0's query-status during the close: "
          "%s", qmp);
    /* The 16 READs complete now: they are answered nowhere. */
    CHECK(collect(&S, &r, 1, 1, SILENCE_MS) == 0, "a response (rqid %u, "
          "rslt 0x%x) on the new ring after tgtd continued; the old ring's "
          "READs were %u..%u", r.rqid, (unsigned int)r.rslt, rqids[0],
          rqids[RING_SLOTS - 1]);
    CALL(old_ring_untouched(old));
    CALL(read_ok_s());
    return true;
}

/*
 * Run a case that stops tgtd: whatever its outcome, the target continues
 * afterwards (keeping the case's failure reason) and the old ring goes.
 */
static bool with_stopped_target(bool (*fn)(bool *stopped, OldRing *old))
{
    OldRing old = { 0 };
    bool stopped = false, ok;

    ok = fn(&stopped, &old);
    if (stopped) {
        char w[sizeof(why)];

        memcpy(w, why, sizeof(w));
        agent_ok("tgt-cont");
        memcpy(why, w, sizeof(w));
    }
    old_ring_free(&old);
    return ok;
}

static bool case_close_stalled_lun(void)
{
    return with_stopped_target(close_stalled_lun);
}

/*
 * Item 12: no stale rqid on the next ring. 16 READs (rqids of the old
 * ring) are stuck on the stopped target when the frontend closes; a new
 * ring connects at once and sends 8 READs, 4 TEST UNIT READYs and 2
 * INQUIRYs; then tgtd continues, and the old READs complete after the new
 * connection. Asserted: every response on the new ring carries an rqid
 * sent on the new ring, each exactly once, nothing more for 2.5 s; the
 * old ring stays untouched. (A backend that drains the old READs before
 * it closes cannot show the defect: the case then says so and still
 * asserts the same.)
 */
#define NEW_READS           8
#define NEW_TOTAL           (NEW_READS + 4 + 2)
#define MAX_RSP             (NEW_TOTAL + RING_SLOTS)

static bool stale_rqid_reconnect(bool *stopped, OldRing *old)
{
    uint16_t oldq[RING_SLOTS];
    vscsiif_request_t q[NEW_TOTAL];
    vscsiif_response_t r[MAX_RSP];
    unsigned int count[NEW_TOTAL] = { 0 };
    unsigned int i, j, m, n;
    bool inflight;
    int64_t took;
    int st;

    CALL(stop_target_and_stall(stopped, oldq, false));
    st = close_keep_ring(old, STALL_CLOSE_MS, &took);
    inflight = st == XenbusStateClosed || st == XenbusStateInitWait;
    if (!inflight) {
        /* The backend waits for the READs before it closes. */
        CALL(agent_ok("tgt-cont"));
        *stopped = false;
        st = wait_closed(&S, 60000);
        CHECK(st == XenbusStateClosed || st == XenbusStateInitWait,
              "backend state %d after frontend 6 and tgtd continued", st);
    }
    printf("ROGUE: stale-rqid-reconnect: %s\n", inflight ?
           "the old ring's 16 READs were still in flight (tgtd stopped) "
           "when the new ring connected" :
           "the backend closed only once the old ring's 16 READs had "
           "completed (it drains before closing): this backend cannot "
           "show the defect");
    CALL(reconnect_new_ring());
    for (i = 0; i < NEW_TOTAL; i++) {
        if (i < NEW_READS) {
            req_rw10(&q[i], false, 1024 + i * 8, 8);
            seg_pages(&q[i], i, 8 * BLK);
        } else if (i < NEW_READS + 4) {
            req_tur(&q[i]);
        } else {
            req_inquiry(&q[i], 1);
            seg(&q[i], 0, wpages.refs[NR_WPAGES - 1 - (i & 1)], 0, 36);
        }
    }
    push(&S, q, NEW_TOTAL, true);
    if (*stopped) {
        sleep_ms(500);
        CALL(agent_ok("tgt-cont"));
        *stopped = false;
    }
    n = collect(&S, r, MAX_RSP, NEW_TOTAL, RSP_TIMEOUT_MS);
    /* Anything late (a stale answer, a duplicate) arrives in this window. */
    m = n < MAX_RSP ? n : MAX_RSP;
    n += collect(&S, r + m, MAX_RSP - m, MAX_RSP + 1, SILENCE_MS);
    for (j = 0; j < n && j < MAX_RSP; j++) {
        for (i = 0; i < NEW_TOTAL && q[i].rqid != r[j].rqid; i++) {
        }
        if (i == NEW_TOTAL) {
            unsigned int k;

            for (k = 0; k < RING_SLOTS && oldq[k] != r[j].rqid; k++) {
            }
            CHECK(false, "response %u on the new ring has rqid %u (rslt "
                  "0x%x), %s", j, r[j].rqid, (unsigned int)r[j].rslt,
                  k < RING_SLOTS ? "a READ sent on the old ring" :
                  "never sent");
        }
        count[i]++;
        CHECK(i >= NEW_READS || r[j].rslt == 0, "new READ rqid %u: rslt "
              "0x%x", r[j].rqid, (unsigned int)r[j].rslt);
    }
    for (i = 0; i < NEW_TOTAL; i++) {
        CHECK(count[i] == 1, "new request %u (rqid %u) answered %u times",
              i, q[i].rqid, count[i]);
    }
    CHECK(n == NEW_TOTAL, "%u responses for %u requests", n, NEW_TOTAL);
    CALL(old_ring_untouched(old));
    return true;
}

static bool case_stale_rqid_reconnect(void)
{
    return with_stopped_target(stale_rqid_reconnect);
}

/* --------------------------------------------------------------------- */
/* Multi-page rings (issue 15: seed 002's negotiation on vscsiif)         */
/*                                                                        */
/* The backend offers max-ring-page-order (and max-ring-pages); the       */
/* frontend writes ring-page-order or num-ring-pages and ring-ref0..N-1,  */
/* or the plain ring-ref of one page. A refused transport must end at     */
/* backend state 6 with an "error" node, the ring untouched and nothing   */
/* mapped (no xen_pvscsi_connect trace line: dom0's agent counts them in  */
/* QEMU's log), and the frontend must get the vhost back by closing.      */

static Conn D;                  /* vhost with max-ring-page-order=0 (-m) */
static bool have_d;

/*
 * The transport nodes a frontend writes: a ring of @pages pages (granted);
 * ring-page-order @order and num-ring-pages @num (-1: node not written);
 * the plain ring-ref (the first page) if @plain; ring-ref0..@nrefs-1
 * without ring-ref@skip. ring-ref%u past the ring's pages name BAD_GREF:
 * a backend that reads them fails to map instead of ignoring them.
 */
typedef struct RingSpec {
    int pages;
    int order;
    int num;
    bool plain;
    int nrefs;
    int skip;
} RingSpec;

static const RingSpec ONE_PAGE = { 1, -1, -1, true, 0, -1 };

static const char *spec_str(const RingSpec *rs)
{
    static char buf[4][160];
    static unsigned int k;
    char *b = buf[k++ % 4];
    size_t n = 0;

    b[0] = 0;
    if (rs->order >= 0) {
        n += snprintf(b + n, 160 - n, "ring-page-order %d, ", rs->order);
    }
    if (rs->num >= 0) {
        n += snprintf(b + n, 160 - n, "num-ring-pages %d, ", rs->num);
    }
    if (rs->plain) {
        n += snprintf(b + n, 160 - n, "ring-ref, ");
    }
    if (rs->nrefs) {
        n += snprintf(b + n, 160 - n, "ring-ref0..%d", rs->nrefs - 1);
        if (rs->skip >= 0) {
            n += snprintf(b + n, 160 - n, " without ring-ref%d", rs->skip);
        }
        n += snprintf(b + n, 160 - n, ", ");
    }
    snprintf(b + n, 160 - n, "%d page(s) granted", rs->pages);
    return b;
}

/* Write @rs's nodes and the event channel (not the state). */
static void ring_nodes_write(Conn *c, const RingSpec *rs)
{
    char path[256], key[24];
    int i;

    ring_nodes_clear(c);
    c->mp_nodes = true;
    snprintf(path, sizeof(path), "%s/ring-ref", c->fe);
    xs_rm(xs, XBT_NULL, path);
    if (rs->order >= 0) {
        xs_put(c->fe, "ring-page-order", "%d", rs->order);
    }
    if (rs->num >= 0) {
        xs_put(c->fe, "num-ring-pages", "%d", rs->num);
    }
    for (i = 0; i < rs->nrefs; i++) {
        if (i != rs->skip) {
            snprintf(key, sizeof(key), "ring-ref%d", i);
            xs_put(c->fe, key, "%u",
                   i < c->npages ? c->ring_refs[i] : BAD_GREF);
        }
    }
    c->mp_refs = rs->nrefs;
    if (rs->plain) {
        xs_put(c->fe, "ring-ref", "%u", c->ring_refs[0]);
    }
    xs_put(c->fe, "event-channel", "%d", c->port);
}

/* Connect with @rs's nodes (the vhost closed, backend at 2 or soon). */
static bool conn_open_ring(Conn *c, const RingSpec *rs, char *w, size_t wl)
{
    int st;

    if (!c->ring_page && !conn_alloc(c, rs->pages)) {
        snprintf(w, wl, "cannot allocate %d ring page(s)/port", rs->pages);
        return false;
    }
    st = xs_wait_int(c->be, "state", XenbusStateInitWait, 10000);
    if (st != XenbusStateInitWait) {
        snprintf(w, wl, "backend state %d before connect, expected 2", st);
        return false;
    }
    ring_nodes_write(c, rs);
    xs_put(c->fe, "state", "%d", XenbusStateInitialised);
    st = xs_wait_int(c->be, "state", XenbusStateConnected, 15000);
    if (st != XenbusStateConnected) {
        char *err = xs_get(c->be, "error");

        snprintf(w, wl, "backend state %d after connect, expected 4 "
                 "(backend error node: %s)", st, err ? err : "none");
        free(err);
        return false;
    }
    xs_put(c->fe, "state", "%d", XenbusStateConnected);
    c->up = true;
    return true;
}

/*
 * dom0's agent: how many xen_pvscsi_connect trace lines QEMU logged for
 * @c's vhost, and the page count of the last one (0: none).
 */
static bool traced_connects(Conn *c, int *n, int *pages)
{
    char cmd[64], res[256];

    snprintf(cmd, sizeof(cmd), "connects %d", c->vhost);
    CHECK(agent(cmd, res, sizeof(res), 30000), "%s", res);
    CHECK(sscanf(res, "ok %d %d", n, pages) == 2, "dom0 agent, %s: %s", cmd,
          res);
    return true;
}

/*
 * The ring in use: RING_SIZE(ring) TEST UNIT READYs in one push (the ring
 * full, every slot outstanding), each answered once, GOOD; then INQUIRY.
 */
static bool ring_fill_works(Conn *c, unsigned int slots)
{
    static vscsiif_request_t q[256];
    static vscsiif_response_t r[256 + 4];
    static unsigned char seen[256];
    unsigned int i, j, n;

    CHECK(RING_SIZE(&c->ring) == slots && slots <= 256,
          "ring of %d page(s) has %u slots, expected %u", c->npages,
          RING_SIZE(&c->ring), slots);
    CALL(clear_ua(c));
    CHECK(c->ring.sring->rsp_prod == c->ring.req_prod_pvt,
          "requests outstanding before the fill");
    for (i = 0; i < slots; i++) {
        req_tur(&q[i]);
    }
    push(c, q, slots, true);
    CHECK(RING_FULL(&c->ring), "ring not full after %u requests", slots);
    n = collect(c, r, slots + 4, slots, RSP_TIMEOUT_MS);
    n += collect(c, r + n, slots + 4 - n, slots + 4, 300);
    CHECK(n == slots, "%u responses to %u TEST UNIT READYs in one push", n,
          slots);
    memset(seen, 0, sizeof(seen));
    for (j = 0; j < n; j++) {
        for (i = 0; i < slots && q[i].rqid != r[j].rqid; i++) {
        }
        CHECK(i < slots && !seen[i]++ && r[j].rslt == 0,
              "ring of %u slots: response %u rqid %u rslt 0x%x (unknown, "
              "repeated or not GOOD)", slots, j, r[j].rqid,
              (unsigned int)r[j].rslt);
    }
    CALL(inquiry_ok(c));
    return true;
}

/*
 * Connect @c with @rs (closing it first if needed); dom0 saw exactly one
 * new connect, of @rs->pages pages unless @pages says otherwise; the full
 * ring works.
 */
static bool good_connect(Conn *c, const RingSpec *rs, int pages)
{
    char w[256];
    int n0, n1, p;

    if (c->up || c->ring_page) {
        CALL(conn_close(c, why, sizeof(why)));
    }
    CALL(traced_connects(c, &n0, &p));
    CHECK(conn_open_ring(c, rs, w, sizeof(w)), "%s: %s", spec_str(rs), w);
    CALL(traced_connects(c, &n1, &p));
    CHECK(n1 == n0 + 1 && p == pages, "%s: dom0 traced %d connect(s), the "
          "last of %d page(s); expected 1 of %d", spec_str(rs), n1 - n0, p,
          pages);
    CALL(ring_fill_works(c, pages == 1 ? 16 : pages == 2 ? 32 :
                            pages == 4 ? 64 : pages == 8 ? 128 : 256));
    printf("ROGUE: vhost %d: %s: connected, %d page(s), %u slots full "
           "and answered\n", c->vhost, spec_str(rs), pages,
           RING_SIZE(&c->ring));
    return true;
}

/* How a refused frontend gets the vhost back. */
enum {
    REC_CLOSED_INITIALISING,    /* 6, then 1, then 3 */
    REC_INITIALISING,           /* 1, then 3 (no 6) */
    REC_CLOSED,                 /* 6, then 3 at once (a Linux re-probe) */
};

static const char *const rec_str[] = {
    "frontend 6, 1, 3", "frontend 1, 3", "frontend 6, 3",
};

/*
 * A connect with @rs's nodes that the backend must refuse: backend state
 * 6 (and staying 6), its "error" node exactly @reason, the ring untouched
 * (a valid INQUIRY waits in it, the port is kicked: no response, no
 * req_event update), no xen_pvscsi_connect traced (nothing mapped), the
 * healthy vhost answers. Then the frontend recovers as @rec says and
 * connects with @good, which must work.
 */
static bool refused(Conn *c, const RingSpec *rs, const char *reason,
                    int rec, const RingSpec *good, int good_pages)
{
    char d[160];
    vscsiif_request_t q;
    size_t len = (size_t)rs->pages * PAGE;
    uint8_t *copy;
    char *err;
    bool same;
    int n0, n1, p, st, st2;

    snprintf(d, sizeof(d), "%s", spec_str(rs));
    if (c->up || c->ring_page) {
        CALL(conn_close(c, why, sizeof(why)));
    }
    CALL(traced_connects(c, &n0, &p));
    CHECK(conn_alloc(c, rs->pages), "%s: cannot allocate the ring", d);
    req_inquiry(&q, 1);
    seg(&q, 0, wpages.refs[NR_WPAGES - 1], 0, 36);
    push(c, &q, 1, false);
    copy = malloc(len);
    CHECK(copy, "out of memory");
    memcpy(copy, c->ring_page, len);
    st = xs_wait_int(c->be, "state", XenbusStateInitWait, 10000);
    if (st != XenbusStateInitWait) {
        free(copy);
        CHECK(false, "%s: backend state %d before connect, expected 2", d,
              st);
    }
    ring_nodes_write(c, rs);
    xs_put(c->fe, "state", "%d", XenbusStateInitialised);
    st = xs_wait_int(c->be, "state", XenbusStateClosed, 10000);
    kick(c);
    sleep_ms(SILENCE_MS);
    st2 = xs_get_int(c->be, "state");
    same = !memcmp(copy, c->ring_page, len);
    free(copy);
    CHECK(st == XenbusStateClosed, "%s: backend state %d, expected 6 "
          "(refused)", d, st);
    CHECK(st2 == XenbusStateClosed, "%s: backend state %d %d ms after it "
          "refused, expected it to stay 6", d, st2, SILENCE_MS);
    err = xs_get(c->be, "error");
    if (!err || strcmp(err, reason)) {
        snprintf(why, sizeof(why), "%s: backend error node %s%s%s, "
                 "expected '%s'", d, err ? "'" : "", err ? err : "missing",
                 err ? "'" : "", reason);
        free(err);
        return false;
    }
    free(err);
    CHECK(same && c->ring.sring->rsp_prod == 0 &&
          c->ring.sring->req_event == 1,
          "%s: refused, but the ring was written (rsp_prod %u, req_event "
          "%u)", d, c->ring.sring->rsp_prod, c->ring.sring->req_event);
    CALL(traced_connects(c, &n1, &p));
    CHECK(n1 == n0, "%s: refused, but dom0 traced %d xen_pvscsi_connect "
          "for vhost %d (pages %d): the backend tried to map the ring", d,
          n1 - n0, c->vhost, p);
    CALL(inquiry_ok(&B));
    printf("ROGUE: vhost %d: %s: refused (6, error '%s', ring untouched, "
           "nothing mapped); recovering: %s\n", c->vhost, d, reason,
           rec_str[rec]);

    conn_free(c);
    if (rec != REC_INITIALISING) {
        xs_put(c->fe, "state", "%d", XenbusStateClosed);
        st = xs_wait_int(c->be, "state", XenbusStateInitWait, 10000);
        CHECK(st == XenbusStateInitWait, "%s: refused, then frontend 6: "
              "backend state %d, expected 2", d, st);
    }
    if (rec != REC_CLOSED) {
        xs_put(c->fe, "state", "%d", XenbusStateInitialising);
        st = xs_wait_int(c->be, "state", XenbusStateInitWait, 10000);
        CHECK(st == XenbusStateInitWait, "%s: refused, then frontend%s 1: "
              "backend state %d, expected 2", d,
              rec == REC_CLOSED_INITIALISING ? " 6," : "", st);
        sleep_ms(200);
        st = xs_get_int(c->be, "state");
        CHECK(st == XenbusStateInitWait, "%s: refused, then frontend 1: "
              "backend state %d 200 ms later, expected 2", d, st);
    }
    {
        char w[sizeof(why)];

        if (!good_connect(c, good, good_pages)) {
            memcpy(w, why, sizeof(w));
            snprintf(why, sizeof(why), "%s: refused, then (%s) %.300s", d,
                     rec_str[rec], w);
            return false;
        }
    }
    err = xs_get(c->be, "error");
    if (err) {
        printf("ROGUE: vhost %d: connected again; the backend's error node "
               "stays: '%s'\n", c->vhost, err);
        free(err);
    }
    return true;
}

/* Back to a one-page ring with the plain ring-ref (what the rest expect). */
static bool back_to_one_page(Conn *c)
{
    CALL(conn_reopen(c, why, sizeof(why)));
    CALL(clear_ua(c));
    CALL(inquiry_ok(c));
    return true;
}

/* The orders a backend advertises: @order, and 1 << @order pages. */
static bool advertises(Conn *c, int order)
{
    int o = xs_get_int(c->be, "max-ring-page-order");
    int n = xs_get_int(c->be, "max-ring-pages");

    if (order == 0) {
        CHECK(o == -1 && n == -1, "vhost %d (max-ring-page-order=0) "
              "advertises max-ring-page-order %d, max-ring-pages %d; "
              "expected neither node", c->vhost, o, n);
    } else {
        CHECK(o == order && n == 1 << order, "vhost %d advertises "
              "max-ring-page-order %d, max-ring-pages %d; expected %d, %d",
              c->vhost, o, n, order, 1 << order);
    }
    return true;
}

#define EMAX4 " (max-ring-page-order 4)"
#define EMAX0 " (max-ring-page-order 0)"

/*
 * (a) An order above the maximum: ring-page-order 5, and num-ring-pages
 * 32, each with all 32 pages granted and named. Recovered with order 4
 * (16 pages, 256 slots, all used) and with one page.
 */
static bool case_mp_order_above_max(void)
{
    static const RingSpec o5 = { 32, 5, -1, false, 32, -1 };
    static const RingSpec n32 = { 32, -1, 32, false, 32, -1 };
    static const RingSpec o4 = { 16, 4, -1, false, 16, -1 };

    CALL(advertises(&A, 4));
    CALL(refused(&A, &o5, "ring-page-order above max-ring-page-order" EMAX4,
                 REC_CLOSED_INITIALISING, &o4, 16));
    CALL(refused(&A, &n32, "ring-page-order above max-ring-page-order" EMAX4,
                 REC_INITIALISING, &ONE_PAGE, 1));
    CALL(back_to_one_page(&A));
    return true;
}

/*
 * (a) A vhost with max-ring-page-order=0 (-m): advertises nothing;
 * ring-page-order 1 and num-ring-pages 2 refused; ring-page-order 0 with
 * the plain ring-ref works.
 */
static bool case_mp_order_max0(void)
{
    static const RingSpec o1 = { 2, 1, -1, false, 2, -1 };
    static const RingSpec n2 = { 2, -1, 2, false, 2, -1 };
    static const RingSpec o0 = { 1, 0, -1, true, 0, -1 };

    CHECK(have_d, "no vhost with max-ring-page-order=0 given (-m VHOST)");
    CALL(advertises(&D, 0));
    CALL(refused(&D, &o1, "ring-page-order above max-ring-page-order" EMAX0,
                 REC_CLOSED, &ONE_PAGE, 1));
    CALL(refused(&D, &n2, "ring-page-order above max-ring-page-order" EMAX0,
                 REC_CLOSED_INITIALISING, &o0, 1));
    CALL(conn_close(&D, why, sizeof(why)));
    return true;
}

/*
 * (b) A missing ring-ref%u: order 1 without ring-ref1, order 2 without
 * ring-ref2 (a hole), order 1 with only the plain ring-ref.
 */
static bool case_mp_ref_missing(void)
{
    static const RingSpec o1_no1 = { 2, 1, -1, false, 2, 1 };
    static const RingSpec o2_no2 = { 4, 2, -1, false, 4, 2 };
    static const RingSpec o1_plain = { 2, 1, -1, true, 0, -1 };
    static const RingSpec o1 = { 2, 1, -1, false, 2, -1 };
    static const RingSpec o2 = { 4, 2, -1, false, 4, -1 };

    CALL(refused(&A, &o1_no1, "ring-page-order 1 but no ring-ref1",
                 REC_CLOSED_INITIALISING, &o1, 2));
    CALL(refused(&A, &o2_no2, "ring-page-order 2 but no ring-ref2",
                 REC_CLOSED, &o2, 4));
    CALL(refused(&A, &o1_plain, "ring-page-order 1 but no ring-ref0",
                 REC_INITIALISING, &ONE_PAGE, 1));
    CALL(back_to_one_page(&A));
    return true;
}

/*
 * (c) Extra ring-ref%u nodes are ignored (they name BAD_GREF): order 1
 * with ring-ref0..3 maps 2 pages; order 0 (written, or absent) with
 * ring-ref plus ring-ref0/1 maps the plain ring-ref's page.
 */
static bool case_mp_refs_extra(void)
{
    static const RingSpec o1_x4 = { 2, 1, -1, false, 4, -1 };
    static const RingSpec o0_x2 = { 1, 0, -1, true, 2, -1 };
    static const RingSpec none_x2 = { 1, -1, -1, true, 2, -1 };

    CALL(good_connect(&A, &o1_x4, 2));
    CALL(good_connect(&A, &o0_x2, 1));
    CALL(good_connect(&A, &none_x2, 1));
    CALL(back_to_one_page(&A));
    return true;
}

/*
 * (d) num-ring-pages (the older scheme): 3 and 0 are not powers of two,
 * 4 with ring-page-order 1 disagrees: refused. Recovered with the ones
 * that are right: num-ring-pages 2 alone, 4 with ring-page-order 2, 1
 * with the plain ring-ref.
 */
static bool case_mp_num_pages_bad(void)
{
    static const RingSpec n3 = { 4, -1, 3, false, 3, -1 };
    static const RingSpec n4_o1 = { 4, 1, 4, false, 4, -1 };
    static const RingSpec n0 = { 1, -1, 0, true, 0, -1 };
    static const RingSpec n2 = { 2, -1, 2, false, 2, -1 };
    static const RingSpec n4_o2 = { 4, 2, 4, false, 4, -1 };
    static const RingSpec n1 = { 1, -1, 1, true, 0, -1 };

    CALL(refused(&A, &n3, "num-ring-pages is not a power of two" EMAX4,
                 REC_CLOSED_INITIALISING, &n2, 2));
    CALL(refused(&A, &n4_o1, "ring-page-order and num-ring-pages disagree"
                 EMAX4, REC_INITIALISING, &n4_o2, 4));
    CALL(refused(&A, &n0, "num-ring-pages is not a power of two" EMAX4,
                 REC_CLOSED, &n1, 1));
    CALL(back_to_one_page(&A));
    return true;
}

/* Data of block @blk of request @i of the 64-slot case, round @round. */
static void mp_fill(uint8_t *p, unsigned int i, unsigned int round)
{
    unsigned int k;

    for (k = 0; k < PAGE; k++) {
        p[k] = (uint8_t)(i * 37 + k * 13 + round * 101 + (k >> 9));
    }
}

#define MP_SLOTS            64
#define MP_LBA_X            8192        /* 64 x 8 blocks */
#define MP_LBA_Y            (MP_LBA_X + MP_SLOTS * 8)

/*
 * Push @n requests at once on a ring with nothing outstanding (then the
 * ring holds all of them: asserted full when @n fills it), collect the
 * responses: each rqid once, GOOD.
 */
static bool burst(Conn *c, vscsiif_request_t *q, unsigned int n,
                  const char *what)
{
    static vscsiif_response_t r[256 + 4];
    static unsigned char seen[256];
    unsigned int i, j, m;

    CHECK(c->ring.sring->rsp_prod == c->ring.req_prod_pvt, "%s: requests "
          "outstanding before the burst", what);
    push(c, q, n, true);
    CHECK(n != RING_SIZE(&c->ring) || RING_FULL(&c->ring),
          "%s: ring not full", what);
    m = collect(c, r, n + 4, n, 30000);
    m += collect(c, r + m, n + 4 - m, n + 4, 300);
    CHECK(m == n, "%s: %u responses to %u requests", what, m, n);
    memset(seen, 0, sizeof(seen));
    for (j = 0; j < m; j++) {
        for (i = 0; i < n && q[i].rqid != r[j].rqid; i++) {
        }
        CHECK(i < n && !seen[i]++, "%s: response %u has rqid %u (unknown "
              "or repeated)", what, j, r[j].rqid);
        CHECK(r[j].rslt == 0 && r[j].residual_len == 0, "%s: request %u "
              "(rqid %u): rslt 0x%x residual %u", what, i, r[j].rqid,
              (unsigned int)r[j].rslt, r[j].residual_len);
    }
    return true;
}

/*
 * (e) A real 4-page ring (order 2, 64 slots): 64 WRITE(10)s of 4 KiB at
 * once (the ring full), then 32 READs of them interleaved with 32 WRITEs
 * elsewhere, then 64 READs: every rqid answered once, GOOD, data exact.
 * With the iothread vhost (-i, LUN throttled to 20 IOPS): 64 READs at
 * once, and the backend takes all 64 off the ring (req_event) while most
 * are still unanswered: its queue is as deep as the ring.
 */
static bool case_mp_ring_64(void)
{
    static const RingSpec o2 = { 4, 2, -1, false, 4, -1 };
    static vscsiif_request_t q[MP_SLOTS];
    uint32_t refs[MP_SLOTS];
    uint8_t *buf;
    unsigned int i, answered = 0;
    bool ok = false;

    CALL(good_connect(&A, &o2, 4));
    CHECK(RING_SIZE(&A.ring) == MP_SLOTS, "ring of 4 pages: %u slots",
          RING_SIZE(&A.ring));
    buf = xengntshr_share_pages(xgs, 0, MP_SLOTS, refs, 1);
    CHECK(buf, "gntalloc: %d data pages: %s", MP_SLOTS, strerror(errno));
    /* 64 WRITEs of X */
    for (i = 0; i < MP_SLOTS; i++) {
        mp_fill(buf + (size_t)i * PAGE, i, 1);
        req_rw10(&q[i], true, MP_LBA_X + i * 8, 8);
        seg(&q[i], 0, refs[i], 0, PAGE);
    }
    if (!burst(&A, q, MP_SLOTS, "64 WRITEs")) {
        goto out;
    }
    /* 32 READs of X[0..31] and 32 WRITEs of Y[0..31], interleaved */
    for (i = 0; i < MP_SLOTS; i++) {
        uint8_t *p = buf + (size_t)i * PAGE;

        if (i % 2) {
            mp_fill(p, i, 2);
            req_rw10(&q[i], true, MP_LBA_Y + (i / 2) * 8, 8);
        } else {
            memset(p, 0, PAGE);
            req_rw10(&q[i], false, MP_LBA_X + (i / 2) * 8, 8);
        }
        seg(&q[i], 0, refs[i], 0, PAGE);
    }
    if (!burst(&A, q, MP_SLOTS, "32 READs + 32 WRITEs")) {
        goto out;
    }
    for (i = 0; i < MP_SLOTS; i += 2) {
        uint8_t want[PAGE];

        mp_fill(want, i / 2, 1);
        if (memcmp(buf + (size_t)i * PAGE, want, PAGE)) {
            snprintf(why, sizeof(why), "mixed burst: READ of X[%u] (slot "
                     "%u): data differs", i / 2, i);
            goto out;
        }
    }
    /* 64 READs: X[32..63] and Y[0..31] */
    memset(buf, 0, (size_t)MP_SLOTS * PAGE);
    for (i = 0; i < MP_SLOTS; i++) {
        req_rw10(&q[i], false, i < 32 ? MP_LBA_X + (32 + i) * 8 :
                 MP_LBA_Y + (i - 32) * 8, 8);
        seg(&q[i], 0, refs[i], 0, PAGE);
    }
    if (!burst(&A, q, MP_SLOTS, "64 READs")) {
        goto out;
    }
    for (i = 0; i < MP_SLOTS; i++) {
        uint8_t want[PAGE];

        if (i < 32) {
            mp_fill(want, 32 + i, 1);
        } else {
            mp_fill(want, 2 * (i - 32) + 1, 2);
        }
        if (memcmp(buf + (size_t)i * PAGE, want, PAGE)) {
            snprintf(why, sizeof(why), "64 READs: slot %u (%s[%u]): data "
                     "differs", i, i < 32 ? "X" : "Y",
                     i < 32 ? 32 + i : i - 32);
            goto out;
        }
    }
    printf("ROGUE: mp-ring-64: 64 WRITEs, 32 READs + 32 WRITEs, 64 READs, "
           "each burst filling the 64-slot ring: data exact\n");

    if (have_c) {
        RING_IDX base;
        int64_t end;

        if (!good_connect(&C, &o2, 4)) {
            goto out;
        }
        base = C.ring.req_prod_pvt;
        for (i = 0; i < MP_SLOTS; i++) {
            req_rw10(&q[i], false, i * 8, 8);
            seg(&q[i], 0, refs[i], 0, PAGE);
        }
        push(&C, q, MP_SLOTS, true);
        end = now_ms() + 10000;
        while (C.ring.sring->req_event != base + MP_SLOTS + 1 &&
               now_ms() < end) {
            sleep_ms(2);
        }
        answered = C.ring.sring->rsp_prod - base;
        if (C.ring.sring->req_event != base + MP_SLOTS + 1) {
            snprintf(why, sizeof(why), "iothread vhost: the backend did not "
                     "take the 64 READs off the ring in 10 s (req_event %u, "
                     "expected %u; %u answered)", C.ring.sring->req_event,
                     base + MP_SLOTS + 1, answered);
            goto out;
        }
        printf("ROGUE: mp-ring-64: iothread vhost (20 IOPS): all 64 READs "
               "taken off the ring while %u were answered: %u in flight in "
               "the backend at once\n", answered, MP_SLOTS - answered);
        if (MP_SLOTS - answered < 32) {
            snprintf(why, sizeof(why), "iothread vhost: only %u of 64 READs "
                     "in flight when the backend had taken all of them",
                     MP_SLOTS - answered);
            goto out;
        }
        {
            static vscsiif_response_t r[MP_SLOTS + 4];
            unsigned int n = collect(&C, r, MP_SLOTS + 4, MP_SLOTS, 30000);

            n += collect(&C, r + n, MP_SLOTS + 4 - n, MP_SLOTS + 4, 300);
            if (n != MP_SLOTS) {
                snprintf(why, sizeof(why), "iothread vhost: %u responses to "
                         "64 READs", n);
                goto out;
            }
            for (i = 0; i < n; i++) {
                if (r[i].rslt != 0) {
                    snprintf(why, sizeof(why), "iothread vhost: READ rqid %u:"
                             " rslt 0x%x", r[i].rqid, (unsigned int)r[i].rslt);
                    goto out;
                }
            }
        }
        if (!back_to_one_page(&C)) {
            goto out;
        }
    } else {
        printf("ROGUE: mp-ring-64: no iothread vhost (-i): backend depth not "
               "shown\n");
    }
    ok = back_to_one_page(&A);
out:
    xengntshr_unshare(xgs, buf, MP_SLOTS);
    return ok;
}

/*
 * (f) Reconnects that change the order on one vhost: 0 -> 2 -> 0, each
 * connection mapping its own number of pages (traced in dom0), the full
 * ring used, and a WRITE + READ verified on each.
 */
static bool mp_rw(Conn *c, unsigned int step)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    uint32_t lba = 4096 + step * 16;
    unsigned int i;

    for (i = 0; i < 2 * PAGE; i++) {
        wpages.addr[i] = (uint8_t)(i * 3 + step * 17 + 1);
    }
    req_rw10(&q, true, lba, 16);
    seg_pages(&q, 0, 2 * PAGE);
    CALL(do1(c, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "step %u: WRITE(10): rslt 0x%x", step,
          (unsigned int)r.rslt);
    fill(page_addr(&wpages, 2), 2 * PAGE, 0);
    req_rw10(&q, false, lba, 16);
    seg_pages(&q, 2, 2 * PAGE);
    CALL(do1(c, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0 && !memcmp(wpages.addr, page_addr(&wpages, 2),
                                 2 * PAGE),
          "step %u: READ(10) after WRITE(10): rslt 0x%x or data differs",
          step, (unsigned int)r.rslt);
    return true;
}

static bool case_mp_order_change(void)
{
    static const RingSpec o0 = { 1, 0, -1, true, 0, -1 };
    static const RingSpec o2 = { 4, 2, -1, false, 4, -1 };
    static const RingSpec *const seq[] = { &ONE_PAGE, &o2, &o0, &o2,
                                           &ONE_PAGE };
    static const int pages[] = { 1, 4, 1, 4, 1 };
    unsigned int i;

    for (i = 0; i < 5; i++) {
        CALL(good_connect(&A, seq[i], pages[i]));
        CALL(mp_rw(&A, i));
    }
    CALL(read_check(&A, 0, 64));
    return true;
}

/* Last: a well-behaved reconnect, INQUIRY, WRITE(10) + READ(10) verified. */
static bool case_final_good(void)
{
    vscsiif_request_t q;
    vscsiif_response_t r;
    unsigned int i;

    CALL(conn_reopen(&A, why, sizeof(why)));
    CALL(clear_ua(&A));
    CALL(inquiry_ok(&A));
    for (i = 0; i < 16 * PAGE; i++) {
        wpages.addr[i] = (uint8_t)(i * 13 + 7);
    }
    req_rw10(&q, true, 1000, 128);
    seg_pages(&q, 0, 16 * PAGE);
    CALL(do1(&A, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "WRITE(10): rslt 0x%x", (unsigned int)r.rslt);
    fill(page_addr(&wpages, 16), 16 * PAGE, 0);
    req_rw10(&q, false, 1000, 128);
    seg_pages(&q, 16, 16 * PAGE);
    CALL(do1(&A, &q, &r, why, sizeof(why)));
    CHECK(r.rslt == 0, "READ(10): rslt 0x%x", (unsigned int)r.rslt);
    CHECK(memcmp(wpages.addr, page_addr(&wpages, 16), 16 * PAGE) == 0,
          "READ(10) after WRITE(10): data differs");
    CALL(read_check(&A, 0, 64));
    CALL(inquiry_ok(&B));
    return true;
}

typedef struct Case {
    const char *name;
    bool (*fn)(void);
} Case;

static const Case cases[] = {
    { "setup-pattern", case_setup_pattern },
    { "act-invalid", case_act_invalid },
    { "log-flood", case_log_flood },
    { "cmd-len-invalid", case_cmd_len_invalid },
    { "direction-invalid", case_direction_invalid },
    { "nr-segments-invalid", case_nr_segments_invalid },
    { "address-invalid", case_address_invalid },
    { "cdb-semantic", case_cdb_semantic },
    { "garbage-fields", case_garbage_fields },
    { "grant-never-granted", case_grant_never_granted },
    { "grant-revoked-queued", case_grant_revoked_queued },
    { "grant-revoked-inflight", case_grant_revoked_inflight },
    { "grant-readonly", case_grant_readonly },
    { "segment-overflow", case_segment_overflow },
    { "indirect-bad", case_indirect_bad },
    { "indirect-self", case_indirect_self },
    { "rqid-reuse", case_rqid_reuse },
    { "abort-unknown", case_abort_unknown },
    { "abort-inflight", case_abort_inflight },
    { "reset-storm", case_reset_storm },
    { "ring-prod-ahead", case_ring_prod_ahead },
    { "ring-prod-backwards", case_ring_prod_backwards },
    { "ring-unconsumed", case_ring_unconsumed },
    { "evtchn-storm", case_evtchn_storm },
    { "intake-storm", case_intake_storm },
    { "xs-ring-ref-bad", case_xs_ring_ref_bad },
    { "xs-evtchn-bad", case_xs_evtchn_bad },
    { "xs-state-flap", case_xs_state_flap },
    { "xs-close-inflight", case_xs_close_inflight },
    { "xs-reconnect-loop", case_xs_reconnect_loop },
    { "xs-vanish", case_xs_vanish },
    { "mp-order-above-max", case_mp_order_above_max },
    { "mp-order-max0", case_mp_order_max0 },
    { "mp-ref-missing", case_mp_ref_missing },
    { "mp-refs-extra", case_mp_refs_extra },
    { "mp-num-pages-bad", case_mp_num_pages_bad },
    { "mp-ring-64", case_mp_ring_64 },
    { "mp-order-change", case_mp_order_change },
    { "iothread-close-storm", case_iothread_close_storm },
    { "close-stalled-lun", case_close_stalled_lun },
    { "stale-rqid-reconnect", case_stale_rqid_reconnect },
    { "final-good-reconnect", case_final_good },
};

#define NR_CASES (sizeof(cases) / sizeof(cases[0]))

static bool wanted(const char *name, int argc, char **argv)
{
    int i;

    if (argc == 0) {
        return true;
    }
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], name)) {
            return true;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    const char *iothread_vhost = NULL, *slow_vhost = NULL, *max0_vhost = NULL;
    char *v;
    unsigned int i;
    int opt;

    setvbuf(stdout, NULL, _IOLBF, 0);
    while ((opt = getopt(argc, argv, "vlhi:t:m:")) != -1) {
        switch (opt) {
        case 'v':
            verbose = true;
            break;
        case 'i':
            iothread_vhost = optarg;
            break;
        case 't':
            slow_vhost = optarg;
            break;
        case 'm':
            max0_vhost = optarg;
            break;
        case 'l':
            for (i = 0; i < NR_CASES; i++) {
                printf("%s\n", cases[i].name);
            }
            return 0;
        default:
            fprintf(stderr, "usage: %s [-v] [-l] [-i VHOST] [-t VHOST] "
                    "[-m VHOST] ATTACK-VHOST HEALTHY-VHOST [CASE...]\n",
                    argv[0]);
            return 2;
        }
    }
    if (argc - optind < 2) {
        fprintf(stderr, "usage: %s [-v] [-l] [-i VHOST] [-t VHOST] "
                "[-m VHOST] ATTACK-VHOST HEALTHY-VHOST [CASE...]\n", argv[0]);
        return 2;
    }

    xs = xs_open(0);
    xce = xenevtchn_open(NULL, 0);
    xgs = xengntshr_open(NULL, 0);
    if (!xs || !xce || !xgs) {
        printf("FAIL rogue-setup: cannot open %s (%s): need /dev/xen/xenbus, "
               "/dev/xen/evtchn (xen-evtchn) and /dev/xen/gntalloc "
               "(xen-gntalloc)\n",
               !xs ? "xenstore" : !xce ? "evtchn" : "gntalloc",
               strerror(errno));
        return 1;
    }
    v = xs_read(xs, XBT_NULL, "domid", NULL);
    if (!v) {
        printf("FAIL rogue-setup: cannot read 'domid' from xenstore\n");
        return 1;
    }
    my_domid = atoi(v);
    free(v);
    if (!share(&wpages, NR_WPAGES, 1) || !share(&ropages, 2, 0) ||
        !share(&sgpages, NR_SGPAGES, 1)) {
        printf("FAIL rogue-setup: gntalloc: %s\n", strerror(errno));
        return 1;
    }
    if (!conn_init(&A, atoi(argv[optind])) ||
        !conn_init(&B, atoi(argv[optind + 1]))) {
        printf("FAIL rogue-setup: no vscsi vhost %s/%s for dom%u\n",
               argv[optind], argv[optind + 1], my_domid);
        return 1;
    }
    if ((iothread_vhost && !(have_c = conn_init(&C, atoi(iothread_vhost)))) ||
        (slow_vhost && !(have_s = conn_init(&S, atoi(slow_vhost)))) ||
        (max0_vhost && !(have_d = conn_init(&D, atoi(max0_vhost))))) {
        printf("FAIL rogue-setup: no vscsi vhost %s for dom%u\n",
               iothread_vhost && !have_c ? iothread_vhost :
               slow_vhost && !have_s ? slow_vhost : max0_vhost, my_domid);
        return 1;
    }
    snprintf(agent_dir, sizeof(agent_dir), "/local/domain/%u/data/xpv-rogue",
             my_domid);
    printf("ROGUE: dom%u, attacking %s, healthy %s\n", my_domid, A.be, B.be);
    if (!conn_open(&A, why, sizeof(why)) || !conn_open(&B, why, sizeof(why))) {
        printf("FAIL rogue-connect: %s\n", why);
        return 1;
    }
    if (!clear_ua(&B) || !inquiry_ok(&B)) {
        printf("FAIL rogue-connect: healthy vhost: %s\n", why);
        return 1;
    }
    printf("PASS rogue-connect\n");
    nr_pass++;

    for (i = 0; i < NR_CASES; i++) {
        int64_t t0;
        bool ok;

        if (i > 0 && !wanted(cases[i].name, argc - optind - 2,
                             argv + optind + 2)) {
            continue;
        }
        why[0] = 0;
        t0 = now_ms();
        ok = cases[i].fn();
        if (ok) {
            printf("PASS %s\n", cases[i].name);
            nr_pass++;
        } else {
            printf("FAIL %s: %s\n", cases[i].name, why);
            nr_fail++;
        }
        if (verbose) {
            printf("ROGUE: %s took %" PRId64 " ms\n", cases[i].name,
                   now_ms() - t0);
        }
        /* QEMU is alive and its main loop runs: the healthy vhost answers. */
        why[0] = 0;
        if (!inquiry_ok(&B)) {
            printf("FAIL healthy-after-%s: %s\n", cases[i].name, why);
            nr_fail++;
        }
    }
    printf("ROGUE-SUMMARY pass=%u fail=%u halts=%u bad-requests=%u\n",
           nr_pass, nr_fail, nr_halts, nr_bad);
    return nr_fail ? 1 : 0;
}
