/*
 * xen-pvscsi: Xen PV SCSI (vscsiif) backend on QEMU's SCSI bus.
 *
 * A XenDevice that owns a SCSI bus. Its LUNs are ordinary QEMU SCSI devices
 * (scsi-hd, scsi-cd, scsi-generic, scsi-block) addressed by the frontend as
 * channel:id:lun. Requests come from one shared ring page, data moves by
 * grant copy, and every request gets exactly one response.
 *
 * The request engine (decode, validation, SG building, response encoding)
 * lives in xen-pvscsi-proto.c; this file is the XenDevice, xenstore and SCSI
 * bus glue.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "block/aio-wait.h"
#include "qemu/defer-call.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qapi-events-qdev.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "block/block.h"
#include "hw/hotplug.h"
#include "hw/qdev-properties.h"
#include "hw/scsi/scsi.h"
#include "hw/xen/xen.h"
#include "hw/xen/xen-backend.h"
#include "hw/xen/xen-bus.h"
#include "hw/xen/xen-bus-helper.h"
#include "hw/xen/xen-pvscsi-proto.h"
#include "scsi/constants.h"
#include "scsi/utils.h"
#include "system/block-backend.h"
#include "system/iothread.h"
#include "trace.h"

#define TYPE_XEN_PVSCSI "xen-pvscsi"
OBJECT_DECLARE_SIMPLE_TYPE(XenPVSCSI, XEN_PVSCSI)

/* The frontend (Linux xen-scsifront) supports channel 0, ids 0-63. */
#define XEN_PVSCSI_MAX_CHANNEL  0
#define XEN_PVSCSI_MAX_TARGET   63
#define XEN_PVSCSI_MAX_LUN      255

#define XEN_PVSCSI_VHOST_AUTO   UINT32_MAX
#define XEN_PVSCSI_MAX_VHOST    1024

/*
 * Requests taken off the ring per call of the intake; more are left to a
 * BH, so that a guest that keeps the ring full of requests that complete at
 * once cannot keep the main loop (or the iothread) to itself.
 */
#define XEN_PVSCSI_BATCH        XEN_PVSCSI_RING_SIZE

/* A LUN removal waits for its requests; say so after this long. */
#define XEN_PVSCSI_REMOVAL_POLL_MS  100
#define XEN_PVSCSI_REMOVAL_WARN_MS  5000

/* Guest-triggered log lines: at most this many per second per vhost. */
#define XEN_PVSCSI_LOG_BURST    10

/* QEMU's host status values are the vscsiif host codes. */
QEMU_BUILD_BUG_ON(SCSI_HOST_NO_LUN != XEN_VSCSIIF_RSLT_HOST_NO_CONNECT);
QEMU_BUILD_BUG_ON(SCSI_HOST_BUSY != XEN_VSCSIIF_RSLT_HOST_BUS_BUSY);
QEMU_BUILD_BUG_ON(SCSI_HOST_TIME_OUT != XEN_VSCSIIF_RSLT_HOST_TIME_OUT);
QEMU_BUILD_BUG_ON(SCSI_HOST_BAD_RESPONSE != XEN_VSCSIIF_RSLT_HOST_BAD_TARGET);
QEMU_BUILD_BUG_ON(SCSI_HOST_ABORTED != XEN_VSCSIIF_RSLT_HOST_ABORT);
QEMU_BUILD_BUG_ON(SCSI_HOST_ERROR != XEN_VSCSIIF_RSLT_HOST_ERROR);
QEMU_BUILD_BUG_ON(SCSI_HOST_RESET != XEN_VSCSIIF_RSLT_HOST_RESET);
QEMU_BUILD_BUG_ON(SCSI_HOST_TRANSPORT_DISRUPTED !=
                  XEN_VSCSIIF_RSLT_HOST_TRANSPORT_DISRUPTED);
QEMU_BUILD_BUG_ON(SCSI_HOST_TARGET_FAILURE !=
                  XEN_VSCSIIF_RSLT_HOST_TARGET_FAILURE);
QEMU_BUILD_BUG_ON(SCSI_HOST_RESERVATION_ERROR !=
                  XEN_VSCSIIF_RSLT_HOST_NEXUS_FAILURE);
QEMU_BUILD_BUG_ON(SCSI_HOST_ALLOCATION_FAILURE !=
                  XEN_VSCSIIF_RSLT_HOST_ALLOC_FAILURE);
QEMU_BUILD_BUG_ON(SCSI_HOST_MEDIUM_ERROR !=
                  XEN_VSCSIIF_RSLT_HOST_MEDIUM_ERROR);

typedef struct XenPVSCSI XenPVSCSI;
typedef struct XenPVSCSIPool XenPVSCSIPool;

/* One CDB in flight. A pool of XEN_PVSCSI_RING_SIZE of them per ring. */
typedef struct XenPVSCSIReq {
    XenPVSCSI *s;
    XenPVSCSIPool *pool;
    SCSIRequest *sreq;
    XenPVSCSIDecoded d;
    vscsiif_segment_t *elems;       /* data elements (d.req.seg or ind[]) */
    unsigned int nr_elems;
    vscsiif_segment_t *ind;         /* room for max_sg indirect elements */
    XenDeviceGrantCopySegment *copy;    /* room for max_sg copy segments */
    XenPVSCSICopySeg *win;
    uint64_t data_len;
    uint64_t pos;                   /* bytes moved so far */
    uint64_t dev_residual;          /* what the device did not transfer */
    uint8_t fail_host;              /* answer with this host code if set */
    bool aborted;
    QTAILQ_ENTRY(XenPVSCSIReq) next;
} XenPVSCSIReq;

/*
 * The requests of one ring connection (ring context). A connection that
 * ends with requests still in flight leaves its pool behind, detached:
 * its requests are cancelled, answered to nobody, and the last one to
 * finish frees the pool. So nothing of an old connection can reach a later
 * ring, and no disconnect waits for I/O.
 */
struct XenPVSCSIPool {
    bool detached;
    bool held;                      /* being walked: do not free */
    unsigned int nr_inflight;
    QTAILQ_HEAD(, XenPVSCSIReq) free_reqs;
    QTAILQ_HEAD(, XenPVSCSIReq) inflight;
    XenPVSCSIReq reqs[XEN_PVSCSI_RING_SIZE];
};

typedef struct XenPVSCSITmf XenPVSCSITmf;

/* One request a TMF waits for. */
typedef struct XenPVSCSITmfWait {
    Notifier n;
    XenPVSCSITmf *tmf;
    SCSIRequest *sreq;              /* referenced until it is answered */
    bool done;
} XenPVSCSITmfWait;

/* An ABORT or RESET waiting for the requests it covers. */
struct XenPVSCSITmf {
    XenPVSCSI *s;
    uint64_t gen;
    uint16_t rqid;
    uint8_t act;
    XenPVSCSITmfOrder order;        /* answered after what it covers */
    bool success;
    SCSIDevice *sdev;               /* RESET: the LUN (referenced) */
    QEMUTimer *timer;               /* RESET: grace period, then cancel */
    unsigned int nr_waits;
    XenPVSCSITmfWait waits[XEN_PVSCSI_RING_SIZE];
};

/* RESET: outstanding commands may finish this long before being cancelled */
#define XEN_PVSCSI_RESET_GRACE_MS 10000

/* A LUN as the xenstore protocol sees it (vscsi-devs/dev-N). */
typedef struct XenPVSCSILun {
    unsigned int devnum;
    SCSIDevice *sdev;               /* NULL once unplugged */
    enum xenbus_state state;
    bool unplug_requested;
    bool toolstack;                 /* dev-N written by a toolstack */
    QEMUTimer *unplug_timer;        /* device_del: the guest must answer */
    XenPVSCSI *s;
    QLIST_ENTRY(XenPVSCSILun) next;
} XenPVSCSILun;

/* A LUN's device whose removal waits for its last requests to finish. */
typedef struct XenPVSCSIRemoval {
    XenPVSCSI *s;
    DeviceState *dev;               /* referenced */
    QEMUTimer *timer;
    int64_t since;
    bool warned;
    QLIST_ENTRY(XenPVSCSIRemoval) next;
} XenPVSCSIRemoval;

struct XenPVSCSI {
    XenDevice xendev;
    SCSIBus bus;

    /* properties */
    uint32_t vhost;
    uint32_t sg_grant;
    uint32_t unplug_timeout;        /* seconds */
    IOThread *iothread;

    AioContext *ctx;
    QEMUBH *bh;                     /* resume intake after a full ring */

    /* main loop: the ring is mapped and the event channel attached */
    bool dataplane_on;

    /* ring state; touched only in ctx while connected */
    vscsiif_back_ring_t ring;
    void *sring;
    unsigned int ring_ref;
    XenEventChannel *event_channel;
    XenPVSCSIPool *pool;            /* this connection's requests */
    bool ring_ok;                   /* responses may be written */
    bool halted;                    /* guest broke the ring protocol */
    bool rsp_pending;               /* responses not pushed yet */
    bool in_intake;                 /* handle_requests() is running */
    bool intake_stalled;            /* requests left for lack of a slot */
    uint64_t gen;                   /* bumped at every connect/disconnect */
    unsigned int nr_tmf;

    /* xenstore LUN table; main loop only */
    QLIST_HEAD(, XenPVSCSILun) luns;
    QLIST_HEAD(, XenPVSCSIRemoval) removals;
    bool adopt;                     /* plug: use the toolstack's dev-N */
    unsigned int adopt_devnum;
    bool feature_host;              /* toolstack: passthrough LUNs */
    struct qemu_xs_watch *devs_watch;   /* vscsi-devs */

    /*
     * LUN addresses whose device is on its way out (removal waiting for
     * requests): not reachable from the ring. Written in the main loop,
     * read in ctx.
     */
    bool gone[XEN_PVSCSI_MAX_TARGET + 1][XEN_PVSCSI_MAX_LUN + 1];

    /* rate limit for guest-triggered log lines */
    int64_t log_window;
    unsigned int log_count, log_suppressed;
};


/* ------------------------------------------------------------------ */
/* Logging                                                              */

static void G_GNUC_PRINTF(2, 3)
xen_pvscsi_guest_error(XenPVSCSI *s, const char *fmt, ...)
{
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    g_autofree char *msg = NULL;
    va_list ap;

    if (now - s->log_window >= 1000) {
        if (s->log_suppressed) {
            warn_report("xen-pvscsi: dom%u vhost %s: %u similar messages "
                        "suppressed", s->xendev.frontend_id, s->xendev.name,
                        s->log_suppressed);
        }
        s->log_window = now;
        s->log_count = 0;
        s->log_suppressed = 0;
    }
    if (s->log_count >= XEN_PVSCSI_LOG_BURST) {
        s->log_suppressed++;
        return;
    }
    s->log_count++;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    warn_report("xen-pvscsi: dom%u vhost %s: %s", s->xendev.frontend_id,
                s->xendev.name, msg);
}

/* ------------------------------------------------------------------ */
/* Responses (ring context)                                             */

/* Publish the responses written so far; notify if the frontend waits. */
static void xen_pvscsi_push_responses(XenPVSCSI *s)
{
    int notify;

    s->rsp_pending = false;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&s->ring, notify);
    trace_xen_pvscsi_notify(s->xendev.name, s->ring.rsp_prod_pvt);
    if (notify) {
        Error *local_err = NULL;

        xen_device_notify_event_channel(&s->xendev, s->event_channel,
                                        &local_err);
        if (local_err) {
            error_report_err(local_err);
        }
    }
}

/*
 * Responses that complete while requests are taken off the ring are
 * pushed once, at the end of that batch; any other response is pushed at
 * once (a deferred push costs a main loop iteration of latency per
 * request).
 */
static void xen_pvscsi_put_response(XenPVSCSI *s, const vscsiif_response_t *rsp)
{
    if (!s->ring_ok) {
        return;
    }
    memcpy(RING_GET_RESPONSE(&s->ring, s->ring.rsp_prod_pvt), rsp,
           sizeof(*rsp));
    s->ring.rsp_prod_pvt++;
    s->rsp_pending = true;
    if (!s->in_intake) {
        xen_pvscsi_push_responses(s);
        if (s->intake_stalled) {
            /* A slot is free again: take the requests we had to leave. */
            qemu_bh_schedule(s->bh);
        }
    }
}

static void xen_pvscsi_tmf_respond(XenPVSCSITmf *tmf)
{
    XenPVSCSI *s = tmf->s;
    vscsiif_response_t rsp;

    if (tmf->gen == s->gen) {
        trace_xen_pvscsi_tmf_done(tmf->rqid, tmf->success);
        xen_pvscsi_encode_tmf(&rsp, tmf->rqid, tmf->success);
        xen_pvscsi_put_response(s, &rsp);
        s->nr_tmf--;
    }
    if (tmf->timer) {
        timer_free(tmf->timer);
    }
    if (tmf->sdev) {
        object_unref(OBJECT(tmf->sdev));
    }
    g_free(tmf);
}

static XenPVSCSIPool *xen_pvscsi_pool_new(XenPVSCSI *s)
{
    XenPVSCSIPool *pool = g_new0(XenPVSCSIPool, 1);
    unsigned int i, max_elems = MAX(s->sg_grant, VSCSIIF_SG_TABLESIZE);

    QTAILQ_INIT(&pool->free_reqs);
    QTAILQ_INIT(&pool->inflight);
    for (i = 0; i < XEN_PVSCSI_RING_SIZE; i++) {
        XenPVSCSIReq *r = &pool->reqs[i];

        r->s = s;
        r->pool = pool;
        r->ind = g_new0(vscsiif_segment_t, max_elems);
        r->copy = g_new0(XenDeviceGrantCopySegment, max_elems);
        r->win = g_new0(XenPVSCSICopySeg, max_elems);
        QTAILQ_INSERT_TAIL(&pool->free_reqs, r, next);
    }
    return pool;
}

static void xen_pvscsi_pool_free(XenPVSCSIPool *pool)
{
    unsigned int i;

    for (i = 0; i < XEN_PVSCSI_RING_SIZE; i++) {
        g_free(pool->reqs[i].ind);
        g_free(pool->reqs[i].copy);
        g_free(pool->reqs[i].win);
    }
    g_free(pool);
}

/* Free a detached pool once nothing of it is in flight. */
static void xen_pvscsi_pool_maybe_free(XenPVSCSIPool *pool)
{
    if (pool->detached && !pool->held && !pool->nr_inflight) {
        xen_pvscsi_pool_free(pool);
    }
}

static XenPVSCSIReq *xen_pvscsi_get_req(XenPVSCSI *s)
{
    XenPVSCSIPool *pool = s->pool;
    XenPVSCSIReq *r = QTAILQ_FIRST(&pool->free_reqs);

    if (r) {
        QTAILQ_REMOVE(&pool->free_reqs, r, next);
        QTAILQ_INSERT_TAIL(&pool->inflight, r, next);
        pool->nr_inflight++;
        r->sreq = NULL;
        r->elems = NULL;
        r->nr_elems = 0;
        r->data_len = 0;
        r->pos = 0;
        r->dev_residual = 0;
        r->fail_host = 0;
        r->aborted = false;
    }
    return r;
}

static void xen_pvscsi_put_req(XenPVSCSIReq *r)
{
    XenPVSCSIPool *pool = r->pool;

    if (r->sreq) {
        r->sreq->hba_private = NULL;
        scsi_req_unref(r->sreq);
        r->sreq = NULL;
    }
    QTAILQ_REMOVE(&pool->inflight, r, next);
    QTAILQ_INSERT_HEAD(&pool->free_reqs, r, next);
    pool->nr_inflight--;
    xen_pvscsi_pool_maybe_free(pool);
}

/*
 * Answer a CDB and release its slot. A request of an earlier connection
 * (detached pool) is answered to nobody: its rqid means nothing on the
 * ring of today.
 */
static void xen_pvscsi_finish(XenPVSCSIReq *r, uint8_t host, uint8_t status,
                              const uint8_t *sense, size_t sense_len)
{
    XenPVSCSI *s = r->s;
    uint64_t residual = r->data_len > r->pos ? r->data_len - r->pos : 0;
    vscsiif_response_t rsp;

    /* The device may know better (a short passthrough transfer). */
    residual = MAX(residual, MIN(r->dev_residual, r->data_len));
    trace_xen_pvscsi_complete(r, r->d.req.rqid, host, status, sense_len,
                              residual);
    if (!r->pool->detached) {
        xen_pvscsi_encode_cdb(&rsp, r->d.req.rqid, host, status, sense,
                              sense_len, residual);
        xen_pvscsi_put_response(s, &rsp);
    }
    xen_pvscsi_put_req(r);
}

/* ------------------------------------------------------------------ */
/* SCSIBusInfo callbacks (request's AioContext == ring context)         */

static int xen_pvscsi_parse_cdb(SCSIDevice *dev, SCSICommand *cmd,
                                uint8_t *buf, size_t buf_len,
                                void *hba_private)
{
    XenPVSCSIReq *r = hba_private;

    /*
     * Passthrough devices: length and direction come from the guest, so
     * tapes, changers and vendor commands reach the device unchanged.
     */
    if (cmd->len == 0) {
        cmd->len = MIN(r->d.req.cmd_len, SCSI_CMD_BUF_SIZE);
        memcpy(cmd->buf, buf, cmd->len);
    }
    cmd->xfer = r->data_len;
    switch (r->d.mode) {
    case XEN_PVSCSI_DATA_TO_DEVICE:
        cmd->mode = SCSI_XFER_TO_DEV;
        break;
    case XEN_PVSCSI_DATA_FROM_DEVICE:
        cmd->mode = SCSI_XFER_FROM_DEV;
        break;
    default:
        cmd->mode = SCSI_XFER_NONE;
        cmd->xfer = 0;
        break;
    }
    return 0;
}

static void xen_pvscsi_transfer_data(SCSIRequest *sreq, uint32_t len)
{
    XenPVSCSIReq *r = sreq->hba_private;
    XenPVSCSI *s;
    bool to_domain;
    uint8_t *buf;
    uint32_t covered;
    unsigned int i, n;
    Error *local_err = NULL;

    if (!r) {
        return;
    }
    s = r->s;
    trace_xen_pvscsi_transfer(r, r->d.req.rqid, r->pos, len);
    if (r->pool->detached) {
        /* Its frontend is gone: no guest memory is touched any more. */
        scsi_req_cancel_async(sreq, NULL);
        return;
    }

    to_domain = r->d.mode == XEN_PVSCSI_DATA_FROM_DEVICE;
    buf = scsi_req_get_buf(sreq);
    n = xen_pvscsi_sg_window(r->elems, r->nr_elems, r->pos, len, r->win,
                             &covered);
    if (covered < len) {
        /* The device wants more than the guest's buffer holds. */
        xen_pvscsi_guest_error(s, "rqid %u: data buffer of %" PRIu64
                               " bytes too short for the command",
                               r->d.req.rqid, r->data_len);
        r->fail_host = XEN_VSCSIIF_RSLT_HOST_ERROR;
        scsi_req_cancel_async(sreq, NULL);
        return;
    }
    for (i = 0; i < n; i++) {
        if (to_domain) {
            r->copy[i].dest.foreign.ref = r->win[i].gref;
            r->copy[i].dest.foreign.offset = r->win[i].offset;
            r->copy[i].source.virt = buf + r->win[i].buf_off;
        } else {
            r->copy[i].source.foreign.ref = r->win[i].gref;
            r->copy[i].source.foreign.offset = r->win[i].offset;
            r->copy[i].dest.virt = buf + r->win[i].buf_off;
        }
        r->copy[i].len = r->win[i].len;
    }
    if (n) {
        xen_device_copy_grant_refs(&s->xendev, to_domain, r->copy, n,
                                   &local_err);
        if (local_err) {
            xen_pvscsi_guest_error(s, "rqid %u: grant copy failed: %s",
                                   r->d.req.rqid,
                                   error_get_pretty(local_err));
            error_free(local_err);
            r->fail_host = XEN_VSCSIIF_RSLT_HOST_ERROR;
            scsi_req_cancel_async(sreq, NULL);
            return;
        }
    }
    r->pos += covered;
    scsi_req_continue(sreq);
}

static void xen_pvscsi_command_complete(SCSIRequest *sreq, size_t residual)
{
    XenPVSCSIReq *r = sreq->hba_private;
    uint8_t sense[VSCSIIF_SENSE_BUFFERSIZE];
    size_t sense_len = 0;

    if (!r) {
        return;
    }
    if (r->fail_host) {
        xen_pvscsi_finish(r, r->fail_host, 0, NULL, 0);
        return;
    }
    if (sreq->status != GOOD && sreq->sense_len) {
        uint8_t fixed[SCSI_SENSE_BUF_SIZE];

        /*
         * The guest gets the sense data as the device returned it
         * (descriptor format stays descriptor format);
         * scsi_req_get_sense() is still called for its unit attention
         * bookkeeping.
         */
        scsi_req_get_sense(sreq, fixed, sizeof(fixed));
        sense_len = MIN(sreq->sense_len, sizeof(sense));
        memcpy(sense, sreq->sense, sense_len);
    }
    r->dev_residual = residual;
    xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_OK, sreq->status & 0xff,
                      sense, sense_len);
}

static void xen_pvscsi_command_failed(SCSIRequest *sreq)
{
    XenPVSCSIReq *r = sreq->hba_private;
    uint8_t host;

    if (!r) {
        return;
    }
    host = r->fail_host ? r->fail_host :
           xen_pvscsi_host_code(sreq->host_status);
    if (!r->fail_host && xen_pvscsi_host_as_status(host)) {
        /*
         * A host code the frontend cannot tell from DID_ERROR: answer as
         * QEMU does for HBAs without a host byte, with a SCSI status and
         * sense data that carry the same meaning (e.g. RESERVATION
         * CONFLICT, MEDIUM ERROR).
         */
        SCSISense sense = { 0 };
        uint8_t buf[SCSI_SENSE_LEN];
        int status = scsi_sense_from_host_status(sreq->host_status, &sense);
        size_t len = 0;

        if (status == CHECK_CONDITION) {
            len = scsi_build_sense(buf, sense);
        }
        xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_OK, status, buf, len);
        return;
    }
    xen_pvscsi_finish(r, host, 0, NULL, 0);
}

static void xen_pvscsi_request_cancelled(SCSIRequest *sreq)
{
    XenPVSCSIReq *r = sreq->hba_private;
    uint8_t host;

    if (!r) {
        return;
    }
    if (r->fail_host) {
        host = r->fail_host;
    } else if (r->aborted) {
        host = XEN_VSCSIIF_RSLT_HOST_ABORT;
    } else {
        host = XEN_VSCSIIF_RSLT_HOST_RESET;
    }
    trace_xen_pvscsi_cancel(r, r->d.req.rqid, host);
    xen_pvscsi_finish(r, host, 0, NULL, 0);
}

static void xen_pvscsi_drained_begin(SCSIBus *bus)
{
    XenPVSCSI *s = container_of(bus, XenPVSCSI, bus);

    if (s->dataplane_on) {
        xen_device_set_event_channel_context(&s->xendev, s->event_channel,
                                             NULL, &error_abort);
    }
}

static void xen_pvscsi_drained_end(SCSIBus *bus)
{
    XenPVSCSI *s = container_of(bus, XenPVSCSI, bus);

    /*
     * Not while a disconnect is taking the channel down: it detached the
     * handler and is about to unbind the channel.
     */
    if (s->dataplane_on) {
        xen_device_set_event_channel_context(&s->xendev, s->event_channel,
                                             s->ctx, &error_abort);
    }
}

static const struct SCSIBusInfo xen_pvscsi_scsi_info = {
    .tcq = true,
    .max_channel = XEN_PVSCSI_MAX_CHANNEL,
    .max_target = XEN_PVSCSI_MAX_TARGET,
    .max_lun = XEN_PVSCSI_MAX_LUN,

    .parse_cdb = xen_pvscsi_parse_cdb,
    .transfer_data = xen_pvscsi_transfer_data,
    .complete = xen_pvscsi_command_complete,
    .fail = xen_pvscsi_command_failed,
    .cancel = xen_pvscsi_request_cancelled,
    .drained_begin = xen_pvscsi_drained_begin,
    .drained_end = xen_pvscsi_drained_end,
};

/* ------------------------------------------------------------------ */
/* Task management                                                      */

/*
 * The LUN at channel:id:lun, referenced, or NULL: not configured, or on
 * its way out (its removal waits for requests to finish).
 */
static SCSIDevice *xen_pvscsi_device_get(XenPVSCSI *s, unsigned int channel,
                                         unsigned int id, unsigned int lun)
{
    SCSIDevice *sdev;

    if (channel > XEN_PVSCSI_MAX_CHANNEL || id > XEN_PVSCSI_MAX_TARGET ||
        lun > XEN_PVSCSI_MAX_LUN || qatomic_read(&s->gone[id][lun])) {
        return NULL;
    }
    sdev = scsi_device_get(&s->bus, channel, id, lun);
    if (sdev && (sdev->channel != channel || sdev->id != id ||
                 sdev->lun != lun)) {
        object_unref(OBJECT(sdev));
        sdev = NULL;
    }
    return sdev;
}

static void xen_pvscsi_tmf_release(XenPVSCSITmf *tmf);

static void xen_pvscsi_tmf_wait_done(Notifier *n, void *data)
{
    XenPVSCSITmfWait *w = container_of(n, XenPVSCSITmfWait, n);
    XenPVSCSITmf *tmf = w->tmf;

    notifier_remove(n);
    w->done = true;
    scsi_req_unref(w->sreq);
    w->sreq = NULL;
    xen_pvscsi_tmf_release(tmf);
}

static XenPVSCSITmf *xen_pvscsi_tmf_new(XenPVSCSI *s,
                                        const vscsiif_request_t *t)
{
    XenPVSCSITmf *tmf = g_new0(XenPVSCSITmf, 1);

    tmf->s = s;
    tmf->gen = s->gen;
    tmf->rqid = t->rqid;
    tmf->act = t->act;
    tmf->success = true;
    s->nr_tmf++;
    return tmf;
}

/*
 * Make @tmf wait for the answer to @r. The TMF is answered from the last
 * notifier, so every request it covers is answered before it.
 */
static XenPVSCSITmfWait *xen_pvscsi_tmf_wait(XenPVSCSITmf *tmf,
                                             XenPVSCSIReq *r)
{
    XenPVSCSITmfWait *w = &tmf->waits[tmf->nr_waits++];

    w->tmf = tmf;
    w->n.notify = xen_pvscsi_tmf_wait_done;
    w->sreq = scsi_req_ref(r->sreq);
    xen_pvscsi_tmf_order_hold(&tmf->order);
    notifier_list_add(&r->sreq->cancel_notifiers, &w->n);
    return w;
}

/* Drop one count; the last one answers the TMF. */
static void xen_pvscsi_tmf_release(XenPVSCSITmf *tmf)
{
    if (!xen_pvscsi_tmf_order_release(&tmf->order)) {
        return;
    }
    if (tmf->act == VSCSIIF_ACT_SCSI_RESET && tmf->gen == tmf->s->gen) {
        /* The LUN was reset: tell the initiator on its next command. */
        scsi_device_set_ua(tmf->sdev, SENSE_CODE(RESET));
    }
    xen_pvscsi_tmf_respond(tmf);
}

/*
 * Cancel every command @tmf still waits for; each is answered (HOST_ABORT
 * or HOST_RESET, or its real result if it wins the race) before the TMF.
 * The caller holds an extra count on @tmf across the call.
 */
static void xen_pvscsi_tmf_cancel_pending(XenPVSCSITmf *tmf)
{
    unsigned int i;

    for (i = 0; i < tmf->nr_waits; i++) {
        SCSIRequest *sreq = tmf->waits[i].sreq;

        if (!tmf->waits[i].done && sreq) {
            scsi_req_ref(sreq);
            scsi_req_cancel_async(sreq, NULL);
            scsi_req_unref(sreq);
        }
    }
}

/*
 * Take the issuer's count on @tmf and a wait on every request in flight
 * that @t covers. An ABORT marks its request, so that a second ABORT of
 * the same request does not cover it again.
 */
static void xen_pvscsi_tmf_collect(XenPVSCSITmf *tmf,
                                   const vscsiif_request_t *t)
{
    XenPVSCSIReq *r;

    xen_pvscsi_tmf_order_init(&tmf->order);
    QTAILQ_FOREACH(r, &tmf->s->pool->inflight, next) {
        if (r->sreq && xen_pvscsi_tmf_covers(t, &r->d.req, r->aborted) &&
            tmf->nr_waits < ARRAY_SIZE(tmf->waits)) {
            if (t->act == VSCSIIF_ACT_SCSI_ABORT) {
                r->aborted = true;
            }
            xen_pvscsi_tmf_wait(tmf, r);
        }
    }
}

static void xen_pvscsi_do_abort(XenPVSCSI *s, const vscsiif_request_t *t)
{
    XenPVSCSITmf *tmf = xen_pvscsi_tmf_new(s, t);

    /* The issuer's count keeps the TMF alive while cancels are started. */
    xen_pvscsi_tmf_collect(tmf, t);
    trace_xen_pvscsi_tmf(t->rqid, t->act, t->ref_rqid, tmf->nr_waits);

    /*
     * The aborted command is answered (HOST_ABORT, or its real completion
     * if it wins the race) before the ABORT itself. Not found: it has
     * completed already, which is success.
     */
    xen_pvscsi_tmf_cancel_pending(tmf);
    xen_pvscsi_tmf_release(tmf);
}

static void xen_pvscsi_reset_timeout(void *opaque)
{
    XenPVSCSITmf *tmf = opaque;

    /*
     * Commands that did not finish in the grace period are cancelled. The
     * extra count keeps the TMF alive until the loop is done.
     */
    xen_pvscsi_tmf_order_hold(&tmf->order);
    xen_pvscsi_tmf_cancel_pending(tmf);
    xen_pvscsi_tmf_release(tmf);
}

/*
 * RESET resets the addressed LUN. Its outstanding commands are answered
 * first: with their real results if they finish within a grace period,
 * else they are cancelled (HOST_RESET). Then the LUN gets a RESET unit
 * attention and the TMF is answered. Commands are not cancelled at once:
 * Linux answers a DID_RESET completion that races with its own reset by
 * requeueing it behind a blocked device, which can stall the queue. The
 * ring keeps running meanwhile.
 */
static void xen_pvscsi_do_reset(XenPVSCSI *s, const vscsiif_request_t *t)
{
    SCSIDevice *sdev = xen_pvscsi_device_get(s, t->channel, t->id, t->lun);
    XenPVSCSITmf *tmf;

    if (!sdev) {
        vscsiif_response_t rsp;

        trace_xen_pvscsi_tmf(t->rqid, t->act, 0, 0);
        xen_pvscsi_encode_tmf(&rsp, t->rqid, false);
        xen_pvscsi_put_response(s, &rsp);
        return;
    }

    tmf = xen_pvscsi_tmf_new(s, t);
    tmf->sdev = sdev;
    xen_pvscsi_tmf_collect(tmf, t);
    trace_xen_pvscsi_tmf(t->rqid, t->act, 0, tmf->nr_waits);
    if (tmf->nr_waits) {
        tmf->timer = aio_timer_new(s->ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                   xen_pvscsi_reset_timeout, tmf);
        timer_mod(tmf->timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  XEN_PVSCSI_RESET_GRACE_MS);
    }
    xen_pvscsi_tmf_release(tmf);
}

/* ------------------------------------------------------------------ */
/* Request intake (ring context)                                        */

static bool xen_pvscsi_map_data(XenPVSCSIReq *r)
{
    XenPVSCSI *s = r->s;
    const char *why = NULL;
    Error *local_err = NULL;
    unsigned int i, nr;
    size_t off = 0;
    int host;

    if (!r->d.indirect) {
        r->elems = r->d.req.seg;
        r->nr_elems = r->d.nr_segs;
    } else {
        host = xen_pvscsi_check_indirect(&r->d, s->sg_grant, &nr, &why);
        if (host) {
            goto bad;
        }
        /* Read the SG-list pages once into private memory. */
        for (i = 0; i < r->d.nr_segs; i++) {
            r->copy[i].source.foreign.ref = r->d.req.seg[i].gref;
            r->copy[i].source.foreign.offset = r->d.req.seg[i].offset;
            r->copy[i].dest.virt = (uint8_t *)r->ind + off;
            r->copy[i].len = r->d.req.seg[i].length;
            off += r->d.req.seg[i].length;
        }
        xen_device_copy_grant_refs(&s->xendev, false, r->copy, r->d.nr_segs,
                                   &local_err);
        if (local_err) {
            xen_pvscsi_guest_error(s, "rqid %u: SG-list grant copy failed: "
                                   "%s", r->d.req.rqid,
                                   error_get_pretty(local_err));
            error_free(local_err);
            xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_ERROR, 0, NULL, 0);
            return false;
        }
        r->elems = r->ind;
        r->nr_elems = nr;
    }
    host = xen_pvscsi_check_elems(r->elems, r->nr_elems, &r->data_len, &why);
    if (host) {
        goto bad;
    }
    return true;

bad:
    trace_xen_pvscsi_request_bad(r->d.req.rqid, host, why);
    xen_pvscsi_guest_error(s, "rqid %u: %s", r->d.req.rqid, why);
    r->data_len = 0;
    xen_pvscsi_finish(r, host, 0, NULL, 0);
    return false;
}

static void xen_pvscsi_do_cdb(XenPVSCSIReq *r)
{
    XenPVSCSI *s = r->s;
    const vscsiif_request_t *q = &r->d.req;
    SCSIDevice *sdev;
    SCSIRequest *sreq;
    enum SCSIXferMode want;

    if (!xen_pvscsi_map_data(r)) {
        return;
    }
    trace_xen_pvscsi_request(r, q->rqid, q->act, q->channel, q->id, q->lun,
                             q->cmnd[0], q->sc_data_direction, r->data_len);

    sdev = xen_pvscsi_device_get(s, q->channel, q->id, q->lun);
    if (!sdev) {
        /* The midlayer may probe LUNs that are not configured. */
        if (sdev) {
            object_unref(OBJECT(sdev));
        }
        r->data_len = 0;
        xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_NO_CONNECT, 0, NULL, 0);
        return;
    }

    sreq = scsi_req_new(sdev, q->rqid, q->lun, r->d.req.cmnd, q->cmd_len, r);
    object_unref(OBJECT(sdev));

    switch (r->d.mode) {
    case XEN_PVSCSI_DATA_TO_DEVICE:
        want = SCSI_XFER_TO_DEV;
        break;
    case XEN_PVSCSI_DATA_FROM_DEVICE:
        want = SCSI_XFER_FROM_DEV;
        break;
    default:
        want = SCSI_XFER_NONE;
        break;
    }
    if (sreq->cmd.mode != SCSI_XFER_NONE &&
        (sreq->cmd.mode != want || sreq->cmd.xfer > r->data_len)) {
        xen_pvscsi_guest_error(s, "rqid %u: opcode 0x%02x wants %zu bytes "
                               "%s, the request gives %" PRIu64 " bytes %s",
                               q->rqid, q->cmnd[0], sreq->cmd.xfer,
                               sreq->cmd.mode == SCSI_XFER_TO_DEV ?
                               "to the device" : "from the device",
                               r->data_len,
                               want == SCSI_XFER_TO_DEV ? "to the device" :
                               want == SCSI_XFER_FROM_DEV ?
                               "from the device" : "without data");
        sreq->hba_private = NULL;
        scsi_req_unref(sreq);
        r->data_len = 0;
        xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_ERROR, 0, NULL, 0);
        return;
    }

    r->sreq = sreq;
    scsi_req_ref(sreq);
    if (scsi_req_enqueue(sreq)) {
        scsi_req_continue(sreq);
    }
    scsi_req_unref(sreq);
}

static void xen_pvscsi_submit(XenPVSCSI *s, XenPVSCSIReq *r)
{
    vscsiif_request_t tmf_req;
    const char *why = NULL;
    int host;

    host = xen_pvscsi_decode(RING_GET_REQUEST(&s->ring, s->ring.req_cons),
                             &r->d, s->sg_grant, &why);
    s->ring.req_cons++;
    if (host) {
        trace_xen_pvscsi_request_bad(r->d.req.rqid, host, why);
        xen_pvscsi_guest_error(s, "rqid %u: %s (act %u)", r->d.req.rqid,
                               why, r->d.req.act);
        xen_pvscsi_finish(r, host, 0, NULL, 0);
        return;
    }

    if (r->d.req.act == VSCSIIF_ACT_SCSI_CDB) {
        xen_pvscsi_do_cdb(r);
        return;
    }
    /* TMFs do not hold a CDB slot while they wait. */
    tmf_req = r->d.req;
    xen_pvscsi_put_req(r);
    if (tmf_req.act == VSCSIIF_ACT_SCSI_ABORT) {
        xen_pvscsi_do_abort(s, &tmf_req);
    } else {
        xen_pvscsi_do_reset(s, &tmf_req);
    }
}

static bool xen_pvscsi_handle_requests(XenPVSCSI *s)
{
    unsigned int budget = XEN_PVSCSI_BATCH;
    bool progress = false;
    bool more_later = false;
    RING_IDX rp;
    int more = 0;

    if (!s->ring_ok || s->halted || s->in_intake) {
        return false;
    }

    s->in_intake = true;
    s->intake_stalled = false;
    defer_call_begin();
    do {
        rp = s->ring.sring->req_prod;
        xen_rmb(); /* see the requests up to rp */
        trace_xen_pvscsi_ring(s->xendev.name, rp, s->ring.req_cons,
                              s->ring.rsp_prod_pvt);

        if (RING_REQUEST_PROD_OVERFLOW(&s->ring, rp)) {
            error_report("xen-pvscsi: dom%u vhost %s: bogus ring request "
                         "producer %u (consumer %u, responses %u): halting "
                         "this ring", s->xendev.frontend_id, s->xendev.name,
                         rp, s->ring.req_cons, s->ring.rsp_prod_pvt);
            s->halted = true;
            break;
        }

        while (s->ring.req_cons != rp &&
               !RING_REQUEST_CONS_OVERFLOW(&s->ring, s->ring.req_cons)) {
            /*
             * At most RING_SIZE requests are unanswered (the check above),
             * CDBs and TMFs together, so a CDB slot is always free.
             */
            XenPVSCSIReq *r;

            if (!budget) {
                /* Enough for one call: the rest from the BH. */
                more_later = true;
                break;
            }
            r = xen_pvscsi_get_req(s);
            if (!r) {
                break;
            }
            budget--;
            xen_pvscsi_submit(s, r);
            progress = true;
        }
        if (more_later) {
            break;
        }
        if (s->ring.req_cons != rp) {
            /* Ring full of unanswered requests: a response will kick us. */
            s->intake_stalled = true;
            break;
        }
        RING_FINAL_CHECK_FOR_REQUESTS(&s->ring, more);
    } while (more && !s->halted);
    defer_call_end();
    s->in_intake = false;
    if (s->rsp_pending && s->ring_ok) {
        xen_pvscsi_push_responses(s);
    }
    if (more_later && s->ring_ok && !s->halted) {
        qemu_bh_schedule(s->bh);
    } else if (s->intake_stalled && !QTAILQ_EMPTY(&s->pool->free_reqs) &&
        !RING_REQUEST_CONS_OVERFLOW(&s->ring, s->ring.req_cons)) {
        /* Slots were freed after we stopped: look again. */
        qemu_bh_schedule(s->bh);
    }

    return progress;
}

static void xen_pvscsi_bh(void *opaque)
{
    XenPVSCSI *s = opaque;

    if (!s->ring_ok) {
        return;
    }
    /*
     * Responses freed ring slots, or the last intake used up its batch:
     * pick up the requests it left. (Responses are pushed where they are
     * written, or at the end of the intake that wrote them; none wait for
     * this BH.)
     */
    xen_pvscsi_handle_requests(s);
}

static void xen_pvscsi_kick(void *opaque)
{
    XenPVSCSI *s = opaque;

    qemu_bh_schedule(s->bh);
}

static bool xen_pvscsi_event(void *opaque)
{
    return xen_pvscsi_handle_requests(opaque);
}

/* ------------------------------------------------------------------ */
/* Connect / disconnect (main loop)                                     */

static void xen_pvscsi_stop_in_ctx(void *opaque)
{
    XenPVSCSI *s = opaque;
    XenPVSCSIPool *pool = s->pool;
    XenPVSCSIReq *r, *tmp;

    /* From here on nothing touches the ring page. */
    s->ring_ok = false;
    s->gen++;
    qemu_bh_cancel(s->bh);
    s->pool = NULL;
    if (!pool) {
        return;
    }

    /*
     * Requests still in flight are cancelled and answered to nobody; the
     * guest completes its own outstanding requests when it reconnects.
     * Nothing waits for them: an uncancellable request (SG_IO, iSCSI
     * during a target outage) must not stall QEMU. The last one to finish
     * frees the pool.
     */
    pool->detached = true;
    pool->held = true;
    QTAILQ_FOREACH_SAFE(r, &pool->inflight, next, tmp) {
        if (r->sreq) {
            scsi_req_cancel_async(r->sreq, NULL);
        }
    }
    pool->held = false;
    xen_pvscsi_pool_maybe_free(pool);
}

static void xen_pvscsi_disconnect(XenPVSCSI *s)
{
    XenDevice *xendev = &s->xendev;
    Error *local_err = NULL;

    if (!s->sring && !s->event_channel) {
        return;
    }
    trace_xen_pvscsi_disconnect(xendev->name);

    /*
     * Detach the handler, then let ctx finish whatever it was doing: after
     * the BH round trip no handler runs and none is attached again (a
     * drained section ending now sees dataplane_on false), so the channel
     * can be unbound and the ring unmapped.
     */
    s->dataplane_on = false;
    if (s->event_channel) {
        xen_device_set_event_channel_context(xendev, s->event_channel, NULL,
                                             &error_abort);
    }
    aio_wait_bh_oneshot(s->ctx, xen_pvscsi_stop_in_ctx, s);

    if (s->event_channel) {
        xen_device_unbind_event_channel(xendev, s->event_channel, &local_err);
        s->event_channel = NULL;
        if (local_err) {
            error_report_err(local_err);
            local_err = NULL;
        }
    }
    if (s->sring) {
        xen_device_unmap_grant_refs(xendev, s->sring, &s->ring_ref, 1,
                                    &local_err);
        s->sring = NULL;
        if (local_err) {
            error_report_err(local_err);
        }
    }
    s->halted = false;
    s->rsp_pending = false;
    s->in_intake = false;
    s->intake_stalled = false;
    s->nr_tmf = 0;
}

static void xen_pvscsi_connect(XenPVSCSI *s, Error **errp)
{
    ERRP_GUARD();
    XenDevice *xendev = &s->xendev;
    unsigned int evtchn;

    if (xen_device_frontend_scanf(xendev, "ring-ref", "%u",
                                  &s->ring_ref) != 1) {
        error_setg(errp, "failed to read ring-ref");
        return;
    }
    if (xen_device_frontend_scanf(xendev, "event-channel", "%u",
                                  &evtchn) != 1) {
        error_setg(errp, "failed to read event-channel");
        return;
    }
    trace_xen_pvscsi_connect(xendev->name, s->ring_ref, evtchn);

    xen_device_set_max_grant_refs(xendev, 1, errp);
    if (*errp) {
        return;
    }
    s->sring = xen_device_map_grant_refs(xendev, &s->ring_ref, 1,
                                         PROT_READ | PROT_WRITE, errp);
    if (*errp) {
        s->sring = NULL;
        return;
    }
    BACK_RING_INIT(&s->ring, (vscsiif_sring_t *)s->sring, XEN_PAGE_SIZE);

    s->event_channel = xen_device_bind_event_channel(xendev, evtchn,
                                                     xen_pvscsi_event, s,
                                                     errp);
    if (*errp) {
        s->event_channel = NULL;
        return;
    }
    /* ctx does not run for us yet: the handler is attached below. */
    s->pool = xen_pvscsi_pool_new(s);
    s->gen++;
    s->halted = false;
    s->ring_ok = true;
    s->dataplane_on = true;
    xen_device_set_event_channel_context(xendev, s->event_channel, s->ctx,
                                         &error_abort);
    /* Requests may already be waiting. */
    aio_bh_schedule_oneshot(s->ctx, xen_pvscsi_kick, s);
}

/* ------------------------------------------------------------------ */
/* LUN table and the vscsi-devs state protocol (main loop)              */

static void xen_pvscsi_lun_write(XenPVSCSI *s, XenPVSCSILun *lun,
                                 const char *key, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void xen_pvscsi_lun_write(XenPVSCSI *s, XenPVSCSILun *lun,
                                 const char *key, const char *fmt, ...)
{
    g_autofree char *path = g_strdup_printf("vscsi-devs/dev-%u/%s",
                                            lun->devnum, key);
    g_autofree char *val = NULL;
    va_list ap;

    va_start(ap, fmt);
    val = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    xen_device_backend_printf(&s->xendev, path, "%s", val);
}

static void xen_pvscsi_lun_set_state(XenPVSCSI *s, XenPVSCSILun *lun,
                                     enum xenbus_state state)
{
    g_autofree char *dev = g_strdup_printf("dev-%u", lun->devnum);

    if (lun->state == state) {
        return;
    }
    trace_xen_pvscsi_lun_state(s->xendev.name, dev, lun->state, state);
    lun->state = state;
    xen_pvscsi_lun_write(s, lun, "state", "%u", state);
}

static void xen_pvscsi_lun_remove_nodes(XenPVSCSI *s, XenPVSCSILun *lun)
{
    g_autofree char *path = g_strdup_printf("%s/vscsi-devs/dev-%u",
                                            s->xendev.backend_path,
                                            lun->devnum);
    Error *local_err = NULL;

    xs_node_destroy(s->xendev.xsh, XBT_NULL, path, &local_err);
    if (local_err) {
        error_report_err(local_err);
    }
}

static XenPVSCSILun *xen_pvscsi_find_lun(XenPVSCSI *s, SCSIDevice *sdev)
{
    XenPVSCSILun *lun;

    QLIST_FOREACH(lun, &s->luns, next) {
        if (lun->sdev == sdev) {
            return lun;
        }
    }
    return NULL;
}

static XenPVSCSILun *xen_pvscsi_find_devnum(XenPVSCSI *s, unsigned int n)
{
    XenPVSCSILun *lun;

    QLIST_FOREACH(lun, &s->luns, next) {
        if (lun->devnum == n) {
            return lun;
        }
    }
    return NULL;
}

static void xen_pvscsi_lun_release(XenPVSCSILun *lun)
{
    if (lun->unplug_timer) {
        timer_free(lun->unplug_timer);
    }
    QLIST_REMOVE(lun, next);
    g_free(lun);
}

static void xen_pvscsi_lun_free(XenPVSCSI *s, XenPVSCSILun *lun)
{
    xen_pvscsi_lun_remove_nodes(s, lun);
    xen_pvscsi_lun_release(lun);
}

static void xen_pvscsi_set_gone(XenPVSCSI *s, SCSIDevice *sdev, bool gone)
{
    if (sdev->channel <= XEN_PVSCSI_MAX_CHANNEL &&
        sdev->id <= XEN_PVSCSI_MAX_TARGET &&
        sdev->lun <= XEN_PVSCSI_MAX_LUN) {
        qatomic_set(&s->gone[sdev->id][sdev->lun], gone);
    }
}

static bool xen_pvscsi_sdev_busy(SCSIDevice *sdev)
{
    QEMU_LOCK_GUARD(&sdev->requests_lock);
    return !QTAILQ_EMPTY(&sdev->requests);
}

static bool xen_pvscsi_unplug_device(XenPVSCSI *s, DeviceState *dev,
                                     Error **errp)
{
    ERRP_GUARD();

    hotplug_handler_unplug(HOTPLUG_HANDLER(s), dev, errp);
    if (*errp) {
        xen_pvscsi_set_gone(s, SCSI_DEVICE(dev), false);
        return false;
    }
    object_unparent(OBJECT(dev));
    return true;
}

static void xen_pvscsi_removal_free(XenPVSCSIRemoval *rm)
{
    QLIST_REMOVE(rm, next);
    timer_free(rm->timer);
    object_unref(OBJECT(rm->dev));
    g_free(rm);
}

static void xen_pvscsi_removal_poll(void *opaque)
{
    XenPVSCSIRemoval *rm = opaque;
    XenPVSCSI *s = rm->s;
    SCSIDevice *sdev = SCSI_DEVICE(rm->dev);
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    Error *local_err = NULL;

    if (xen_pvscsi_sdev_busy(sdev)) {
        if (!rm->warned && now - rm->since >= XEN_PVSCSI_REMOVAL_WARN_MS) {
            warn_report("xen-pvscsi: vhost %s: removal of LUN %d:%d:%d waits "
                        "for requests its device has not completed",
                        s->xendev.name, sdev->channel, sdev->id, sdev->lun);
            rm->warned = true;
        }
        timer_mod(rm->timer, now + XEN_PVSCSI_REMOVAL_POLL_MS);
        return;
    }
    if (rm->warned) {
        info_report("xen-pvscsi: vhost %s: LUN %d:%d:%d removed after %"
                    PRId64 " ms", s->xendev.name, sdev->channel, sdev->id,
                    sdev->lun, now - rm->since);
    }
    if (!xen_pvscsi_unplug_device(s, rm->dev, &local_err)) {
        error_report_err(local_err);
    }
    xen_pvscsi_removal_free(rm);
}

/*
 * Unplug @dev from our bus and destroy it. An asynchronous unplug finishes
 * here, not in qdev_unplug(): unparenting finalizes the device (its drive
 * is released) and emits DEVICE_DELETED.
 *
 * The ring cannot reach the LUN from here on. If requests of it are still
 * in flight (cancelled, but a device may not be able to cancel: SG_IO, an
 * iSCSI target that does not answer), the unplug waits for them on a timer
 * rather than in the device's unrealize, which would drain it under the
 * BQL and stall all of QEMU for as long.
 */
static bool xen_pvscsi_remove_device(XenPVSCSI *s, DeviceState *dev,
                                     Error **errp)
{
    SCSIDevice *sdev = SCSI_DEVICE(dev);
    XenPVSCSIRemoval *rm;

    xen_pvscsi_set_gone(s, sdev, true);
    if (!xen_pvscsi_sdev_busy(sdev)) {
        return xen_pvscsi_unplug_device(s, dev, errp);
    }
    rm = g_new0(XenPVSCSIRemoval, 1);
    rm->s = s;
    rm->dev = dev;
    object_ref(OBJECT(dev));
    rm->since = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    rm->timer = timer_new_ms(QEMU_CLOCK_REALTIME, xen_pvscsi_removal_poll,
                             rm);
    timer_mod(rm->timer, rm->since + XEN_PVSCSI_REMOVAL_POLL_MS);
    QLIST_INSERT_HEAD(&s->removals, rm, next);
    return true;
}

/* Finish a device_del once the frontend has let go of the LUN. */
static void xen_pvscsi_lun_unplug_now(XenPVSCSI *s, XenPVSCSILun *lun)
{
    SCSIDevice *sdev = lun->sdev;
    Error *local_err = NULL;

    lun->sdev = NULL;
    lun->unplug_requested = false;
    if (lun->unplug_timer) {
        timer_del(lun->unplug_timer);
    }
    if (sdev) {
        trace_xen_pvscsi_lun_unplug(s->xendev.name, DEVICE(sdev)->id ?: "");
        if (!xen_pvscsi_remove_device(s, DEVICE(sdev), &local_err)) {
            error_report_err(local_err);
        }
    }
}

/*
 * Frontend Initialised or Reconfiguring: new LUNs (1) become ready (3),
 * LUNs being removed (5) are dropped (6).
 */
static void xen_pvscsi_luns_add_or_del(XenPVSCSI *s)
{
    XenPVSCSILun *lun, *tmp;

    QLIST_FOREACH_SAFE(lun, &s->luns, next, tmp) {
        switch (lun->state) {
        case XenbusStateInitialising:
            xen_pvscsi_lun_set_state(s, lun, XenbusStateInitialised);
            break;
        case XenbusStateClosing:
            xen_pvscsi_lun_set_state(s, lun, XenbusStateClosed);
            if (lun->unplug_requested) {
                xen_pvscsi_lun_unplug_now(s, lun);
            }
            break;
        default:
            break;
        }
    }
}

/* Frontend Connected: LUNs it added (3) are connected (4). */
static void xen_pvscsi_luns_connected(XenPVSCSI *s)
{
    XenPVSCSILun *lun, *tmp;

    QLIST_FOREACH_SAFE(lun, &s->luns, next, tmp) {
        if (lun->state == XenbusStateInitialised) {
            xen_pvscsi_lun_set_state(s, lun, XenbusStateConnected);
        } else if (lun->state == XenbusStateClosed && !lun->sdev) {
            if (lun->toolstack) {
                /* The toolstack deletes dev-N once it sees 6. */
                xen_pvscsi_lun_release(lun);
            } else {
                /* Removed by device_del: we are the toolstack, clean up. */
                xen_pvscsi_lun_free(s, lun);
            }
        }
    }
}

/* The frontend went away: LUNs start over when it comes back. */
static void xen_pvscsi_luns_reset(XenPVSCSI *s)
{
    XenPVSCSILun *lun, *tmp;

    QLIST_FOREACH_SAFE(lun, &s->luns, next, tmp) {
        if (!lun->sdev || lun->unplug_requested) {
            xen_pvscsi_lun_unplug_now(s, lun);
            if (lun->toolstack) {
                xen_pvscsi_lun_set_state(s, lun, XenbusStateClosed);
                xen_pvscsi_lun_release(lun);
            } else {
                xen_pvscsi_lun_free(s, lun);
            }
        } else if (lun->state != XenbusStateInitialising) {
            xen_pvscsi_lun_set_state(s, lun, XenbusStateInitialising);
        }
    }
}


/*
 * LUN changes of our own (device_add, device_del) wait for a quiet vhost:
 * a reconfiguration that is under way (7, 8) has read the LUN list
 * already. Once the vhost is back at 4, start a round for what queued up.
 */
static void xen_pvscsi_reconfigure_if_pending(XenPVSCSI *s)
{
    XenPVSCSILun *lun;
    bool pending = false;

    if (!s->dataplane_on ||
        xen_device_backend_get_state(&s->xendev) != XenbusStateConnected) {
        return;
    }
    QLIST_FOREACH(lun, &s->luns, next) {
        if (lun->toolstack) {
            continue;       /* the toolstack drives its own LUNs */
        }
        if (lun->state == XenbusStateInitialising && lun->sdev) {
            pending = true;
        } else if (lun->unplug_requested &&
                   lun->state == XenbusStateConnected) {
            xen_pvscsi_lun_set_state(s, lun, XenbusStateClosing);
            pending = true;
        }
    }
    if (pending) {
        /* Hot-add or removal: act as the toolstack, the frontend rescans. */
        xen_device_backend_set_state(&s->xendev, XenbusStateReconfiguring);
    }
}

/*
 * No frontend is connected: a removal the toolstack asked for (dev-N
 * state 5) takes effect at once, nobody uses the LUN. The toolstack
 * deletes dev-N once it sees 6.
 */
static void xen_pvscsi_luns_remove_unused(XenPVSCSI *s)
{
    XenPVSCSILun *lun, *tmp;

    QLIST_FOREACH_SAFE(lun, &s->luns, next, tmp) {
        if (lun->state == XenbusStateClosing) {
            xen_pvscsi_lun_unplug_now(s, lun);
            xen_pvscsi_lun_set_state(s, lun, XenbusStateClosed);
            xen_pvscsi_lun_release(lun);
        }
    }
}

/* ------------------------------------------------------------------ */
/* LUNs written by a toolstack (vscsi-devs/dev-N/{p-dev,v-dev,state})   */

static char *xen_pvscsi_sysfs_node(const char *hctl, const char *cls)
{
    g_autofree char *dir = g_strdup_printf("/sys/bus/scsi/devices/%s/%s",
                                           hctl, cls);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name = d ? g_dir_read_name(d) : NULL;

    return name ? g_strdup_printf("/dev/%s", name) : NULL;
}

static int xen_pvscsi_sysfs_type(const char *hctl)
{
    g_autofree char *path = g_strdup_printf("/sys/bus/scsi/devices/%s/type",
                                            hctl);
    g_autofree char *val = NULL;
    int type;

    if (!g_file_get_contents(path, &val, NULL, NULL) ||
        qemu_strtoi(g_strstrip(val), NULL, 10, &type)) {
        return -1;
    }
    return type;
}

/*
 * naa.<WWN>:<LUN>, the kernel backend's p-dev form: the SCSI device of
 * this domain whose WWN (sysfs "wwid") and LUN match, as h:c:t:l.
 */
static char *xen_pvscsi_resolve_naa(const char *pdev, Error **errp)
{
    g_autofree char *wwn = NULL;
    g_autoptr(GDir) d = NULL;
    const char *colon = strrchr(pdev, ':');
    const char *name;
    unsigned int lun;
    size_t i;

    if (!colon || colon == pdev + 4 ||
        qemu_strtoui(colon + 1, NULL, 10, &lun)) {
        error_setg(errp, "bad p-dev '%s': expected naa.<WWN>:<LUN>", pdev);
        return NULL;
    }
    wwn = g_strndup(pdev, colon - pdev);
    for (i = 4; wwn[i]; i++) {
        if (!g_ascii_isxdigit(wwn[i])) {
            error_setg(errp, "bad p-dev '%s': the WWN must be hexadecimal",
                       pdev);
            return NULL;
        }
    }
    d = g_dir_open("/sys/bus/scsi/devices", 0, NULL);
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = NULL;
        g_autofree char *val = NULL;
        unsigned int h, c, t, l;
        char tail;

        if (sscanf(name, "%u:%u:%u:%u%c", &h, &c, &t, &l, &tail) != 4 ||
            l != lun) {
            continue;
        }
        path = g_strdup_printf("/sys/bus/scsi/devices/%s/wwid", name);
        if (g_file_get_contents(path, &val, NULL, NULL) &&
            !g_ascii_strcasecmp(g_strstrip(val), wwn)) {
            return g_strdup(name);
        }
    }
    error_setg(errp, "no SCSI device of this domain has WWN %s and LUN %u",
               wwn, lun);
    return NULL;
}

/*
 * Resolve a p-dev into the QEMU device type and block node to use:
 *   h:c:t:l        a dom0 SCSI device; feature-host=1: scsi-generic on its
 *                  sg node, else scsi-hd/scsi-cd emulated over its block node
 *   naa.WWN:LUN    the dom0 SCSI device with that WWN and LUN, as h:c:t:l
 *   /dev/sgN       scsi-generic
 *   /dev/<block>   feature-host=1: scsi-block, else scsi-hd
 *   [raw:|qcow2:]iscsi://...   feature-host=1: scsi-block, else scsi-hd
 *   [raw:|qcow2:]/path/image   scsi-hd (qcow2 by prefix or .qcow2 suffix)
 *
 * The format is never probed: what a guest writes at the start of its
 * LUN must not decide how the host opens it (a qcow2 header naming a
 * backing file would hand the guest that host file). iSCSI LUNs are raw
 * unless the p-dev says qcow2:.
 */
static BlockDriverState *xen_pvscsi_open_pdev(const char *pdev, bool host,
                                              const char **type,
                                              Error **errp)
{
    g_autofree char *node = NULL;
    g_autofree char *hctl = NULL;
    const char *driver = NULL;
    const char *fmt = NULL;
    const char *path = pdev;
    QDict *opts = qdict_new();
    unsigned int h, c, t, l;
    char tail;
    struct stat st;

    if (g_str_has_prefix(pdev, "naa.")) {
        hctl = xen_pvscsi_resolve_naa(pdev, errp);
        if (!hctl) {
            goto fail;
        }
        path = hctl;
    }
    if (sscanf(path, "%u:%u:%u:%u%c", &h, &c, &t, &l, &tail) == 4) {
        int sdtype = xen_pvscsi_sysfs_type(path);

        if (sdtype < 0) {
            error_setg(errp, "no SCSI device %s in this domain", path);
            goto fail;
        }
        if (host) {
            node = xen_pvscsi_sysfs_node(path, "scsi_generic");
            *type = "scsi-generic";
        } else if (sdtype == TYPE_DISK || sdtype == TYPE_ROM) {
            node = xen_pvscsi_sysfs_node(path, "block");
            *type = sdtype == TYPE_ROM ? "scsi-cd" : "scsi-hd";
        } else {
            error_setg(errp, "SCSI device %s (type %d) can only be passed "
                       "through: set feature-host=1", path, sdtype);
            goto fail;
        }
        if (!node) {
            error_setg(errp, "SCSI device %s has no %s node", path,
                       host ? "sg" : "block");
            goto fail;
        }
        driver = "host_device";
        goto open;
    }

    if (g_str_has_prefix(pdev, "raw:")) {
        fmt = "raw";
        path += 4;
    } else if (g_str_has_prefix(pdev, "qcow2:")) {
        fmt = "qcow2";
        path += 6;
    }
    if (g_str_has_prefix(path, "iscsi://")) {
        node = g_strdup(path);
        *type = host && !strcmp(fmt ?: "raw", "raw") ? "scsi-block" :
                "scsi-hd";
        fmt = fmt ?: "raw";
        goto open;
    }
    if (path[0] != '/') {
        error_setg(errp, "p-dev '%s' is not one of: h:c:t:l, naa.<WWN>:<LUN>, "
                   "/dev/<node>, [raw:|qcow2:]/path/to/image, "
                   "[raw:|qcow2:]iscsi://...", pdev);
        goto fail;
    }
    if (stat(path, &st)) {
        error_setg_errno(errp, errno, "cannot open p-dev '%s'", path);
        goto fail;
    }
    node = g_strdup(path);
    if (S_ISCHR(st.st_mode)) {
        *type = "scsi-generic";
        driver = "host_device";
    } else if (S_ISBLK(st.st_mode)) {
        *type = host ? "scsi-block" : "scsi-hd";
        driver = "host_device";
    } else {
        *type = "scsi-hd";
        if (!fmt) {
            fmt = g_str_has_suffix(path, ".qcow2") ? "qcow2" : "raw";
        }
    }

open:
    qdict_put_str(opts, "driver", driver ?: fmt);
    if (driver && (!strcmp(*type, "scsi-generic") ||
                   !strcmp(*type, "scsi-block"))) {
        /* Only host_device (file-posix) has the option; SG_IO blocks. */
        qdict_put_str(opts, "aio", "threads");
    }
    /* A node, not a BlockBackend: the LUN's device is its only user. */
    return bdrv_open(node, NULL, opts, BDRV_O_RDWR, errp);

fail:
    qobject_unref(opts);
    return NULL;
}

static void xen_pvscsi_lun_error(XenPVSCSI *s, unsigned int devnum,
                                 Error *err)
{
    g_autofree char *key = g_strdup_printf("vscsi-devs/dev-%u/error",
                                           devnum);
    g_autofree char *skey = g_strdup_printf("vscsi-devs/dev-%u/state",
                                            devnum);

    error_report("xen-pvscsi: vhost %s dev-%u: %s", s->xendev.name, devnum,
                 error_get_pretty(err));
    xen_device_backend_printf(&s->xendev, key, "%s", error_get_pretty(err));
    xen_device_backend_printf(&s->xendev, skey, "%u", XenbusStateClosed);
    error_free(err);
}

static void xen_pvscsi_add_toolstack_lun(XenPVSCSI *s, unsigned int devnum)
{
    XenDevice *xendev = &s->xendev;
    g_autofree char *pdev = NULL;
    g_autofree char *vdev = NULL;
    g_autofree char *dir = g_strdup_printf("%s/vscsi-devs/dev-%u",
                                           xendev->backend_path, devnum);
    unsigned int hst, chn, tgt, lun;
    const char *type = NULL;
    Error *err = NULL;
    BlockDriverState *bs;
    DeviceState *dev;
    char tail;

    pdev = xs_node_read(xendev->xsh, XBT_NULL, NULL, NULL, "%s/p-dev", dir);
    vdev = xs_node_read(xendev->xsh, XBT_NULL, NULL, NULL, "%s/v-dev", dir);
    if (!pdev || !vdev) {
        error_setg(&err, "p-dev or v-dev missing");
        goto fail;
    }
    if (sscanf(vdev, "%u:%u:%u:%u%c", &hst, &chn, &tgt, &lun, &tail) != 4 ||
        chn > XEN_PVSCSI_MAX_CHANNEL || tgt > XEN_PVSCSI_MAX_TARGET ||
        lun > XEN_PVSCSI_MAX_LUN) {
        error_setg(&err, "invalid v-dev '%s' (want h:c:t:l with c=0, "
                   "t<=%d, l<=%d)", vdev, XEN_PVSCSI_MAX_TARGET,
                   XEN_PVSCSI_MAX_LUN);
        goto fail;
    }
    if (scsi_device_find(&s->bus, chn, tgt, lun) &&
        scsi_device_find(&s->bus, chn, tgt, lun)->lun == lun) {
        error_setg(&err, "v-dev %s is already in use", vdev);
        goto fail;
    }
    bs = xen_pvscsi_open_pdev(pdev, s->feature_host, &type, &err);
    if (!bs) {
        goto fail;
    }
    dev = qdev_new(type);
    qdev_prop_set_uint32(dev, "channel", chn);
    qdev_prop_set_uint32(dev, "scsi-id", tgt);
    qdev_prop_set_uint32(dev, "lun", lun);
    if (!object_property_set_str(OBJECT(dev), "drive",
                                 bdrv_get_node_name(bs), &err)) {
        bdrv_unref(bs);
        object_unref(OBJECT(dev));
        goto fail;
    }
    s->adopt = true;
    s->adopt_devnum = devnum;
    if (!qdev_realize_and_unref(dev, BUS(&s->bus), &err)) {
        /*
         * device_set_realized() has unparented the device (it had no
         * parent), which took it off the bus and released its drive; the
         * unref above freed it.
         */
        s->adopt = false;
        bdrv_unref(bs);
        goto fail;
    }
    /* The device's BlockBackend holds the node now. */
    bdrv_unref(bs);
    return;

fail:
    error_prepend(&err, "cannot add %s: ", pdev ?: "LUN");
    xen_pvscsi_lun_error(s, devnum, err);
}

/*
 * Bring the LUN table in line with what a toolstack wrote: new dev-N in
 * state 1 become QEMU devices, dev-N set to 5 are to be removed.
 */
static void xen_pvscsi_sync_toolstack_luns(XenPVSCSI *s)
{
    XenDevice *xendev = &s->xendev;
    g_autofree char *dir = g_strdup_printf("%s/vscsi-devs",
                                           xendev->backend_path);
    unsigned int i, n = 0, devnum, state;
    char **ent;

    ent = qemu_xen_xs_directory(xendev->xsh, XBT_NULL, dir, &n);
    for (i = 0; ent && i < n; i++) {
        g_autofree char *sdir = g_strdup_printf("%s/%s", dir, ent[i]);
        XenPVSCSILun *lun;

        if (!g_str_has_prefix(ent[i], "dev-") ||
            qemu_strtoui(ent[i] + 4, NULL, 10, &devnum) ||
            xs_node_scanf(xendev->xsh, XBT_NULL, sdir, "state", NULL, "%u",
                          &state) != 1) {
            continue;
        }
        lun = xen_pvscsi_find_devnum(s, devnum);
        if (!lun && state == XenbusStateInitialising) {
            xen_pvscsi_add_toolstack_lun(s, devnum);
        } else if (lun && state == XenbusStateClosing &&
                   lun->state != XenbusStateClosing) {
            trace_xen_pvscsi_lun_state(xendev->name, ent[i], lun->state,
                                       state);
            lun->state = XenbusStateClosing;
            lun->unplug_requested = lun->sdev != NULL;
        }
    }
    free(ent);
}

/* vscsi-devs changed: a toolstack added or removes LUNs. */
static void xen_pvscsi_devs_changed(void *opaque, const char *path)
{
    XenPVSCSI *s = opaque;

    xen_pvscsi_sync_toolstack_luns(s);
    if (!s->dataplane_on) {
        xen_pvscsi_luns_remove_unused(s);
    }
}

/*
 * Connect to the ring the frontend published and bring the LUNs to
 * Initialised (3). False if the frontend's nodes cannot be used.
 */
static bool xen_pvscsi_start(XenPVSCSI *s)
{
    Error *local_err = NULL;

    xen_pvscsi_disconnect(s);
    xen_pvscsi_connect(s, &local_err);
    if (local_err) {
        /*
         * Bad ring-ref/event-channel values come from the guest, which can
         * rewrite them and its state in a loop: a rate-limited line, not
         * an error for xen-bus to print.
         */
        xen_pvscsi_guest_error(s, "cannot connect: %s",
                               error_get_pretty(local_err));
        error_free(local_err);
        xen_pvscsi_disconnect(s);
        return false;
    }
    xen_pvscsi_sync_toolstack_luns(s);
    xen_pvscsi_luns_add_or_del(s);
    return true;
}

static void xen_pvscsi_frontend_changed(XenDevice *xendev,
                                        enum xenbus_state frontend_state,
                                        Error **errp)
{
    ERRP_GUARD();
    XenPVSCSI *s = XEN_PVSCSI(xendev);
    enum xenbus_state backend_state = xen_device_backend_get_state(xendev);

    trace_xen_pvscsi_frontend_changed(xendev->name,
                                      xs_strstate(frontend_state));

    switch (frontend_state) {
    case XenbusStateInitialised:
    case XenbusStateConnected:
        if (!xendev->backend_online) {
            /* The vhost is being removed: no new connection. */
            break;
        }
        /* Our own ring state: the state node is the toolstack's too. */
        if (!s->dataplane_on) {
            if (!xen_pvscsi_start(s)) {
                return;
            }
            xen_device_backend_set_state(xendev, XenbusStateConnected);
        }
        if (frontend_state == XenbusStateConnected) {
            xen_pvscsi_luns_connected(s);
            if (backend_state == XenbusStateReconfigured) {
                xen_device_backend_set_state(xendev, XenbusStateConnected);
            }
            xen_pvscsi_reconfigure_if_pending(s);
        }
        break;

    case XenbusStateReconfiguring:
        if (!s->dataplane_on) {
            /*
             * A frontend that answered a reconfiguration (a toolstack's 7)
             * before we saw its Initialised: connect first.
             */
            if (!xendev->backend_online || !xen_pvscsi_start(s)) {
                break;
            }
        } else {
            xen_pvscsi_sync_toolstack_luns(s);
            xen_pvscsi_luns_add_or_del(s);
        }
        xen_device_backend_set_state(xendev, XenbusStateReconfigured);
        break;

    case XenbusStateClosing:
        xen_device_backend_set_state(xendev, XenbusStateClosing);
        break;

    case XenbusStateClosed:
    case XenbusStateUnknown:
        xen_pvscsi_disconnect(s);
        xen_pvscsi_luns_reset(s);
        xen_device_backend_set_state(xendev, XenbusStateClosed);
        if (frontend_state == XenbusStateClosed && xendev->backend_online) {
            /*
             * Ready for the next frontend at once. A Linux frontend that
             * probes again (driver unbind/bind, module reload) goes from
             * Closed straight to Initialised, without Initialising, and
             * reads our state as it starts watching it: a backend still
             * Closed then makes it disconnect again. xen-bus only does
             * this on frontend Initialising.
             */
            trace_xen_pvscsi_ready_for_reconnect(xendev->name);
            xen_device_backend_set_state(xendev, XenbusStateInitWait);
        }
        break;

    default:
        break;
    }
}

/* ------------------------------------------------------------------ */
/* Hotplug handler for the LUNs on our bus                              */

static void xen_pvscsi_pre_plug(HotplugHandler *hotplug_dev, DeviceState *dev,
                                Error **errp)
{
    SCSIDevice *sd = SCSI_DEVICE(dev);

    sd->hba_supports_iothread = true;
}

static bool xen_pvscsi_devnum_used(XenPVSCSI *s, unsigned int n)
{
    g_autofree char *val = NULL;

    if (xen_pvscsi_find_devnum(s, n)) {
        return true;
    }
    /* A toolstack's entry, pending or failed, is not ours to overwrite. */
    val = xs_node_read(s->xendev.xsh, XBT_NULL, NULL, NULL,
                       "%s/vscsi-devs/dev-%u", s->xendev.backend_path, n);
    return val != NULL;
}

static void xen_pvscsi_plug(HotplugHandler *hotplug_dev, DeviceState *dev,
                            Error **errp)
{
    XenPVSCSI *s = XEN_PVSCSI(hotplug_dev);
    SCSIDevice *sd = SCSI_DEVICE(dev);
    XenPVSCSILun *lun;
    unsigned int devnum = 0;
    g_autofree char *dname = NULL;
    g_autofree char *vdev = NULL;
    const char *pdev;

    if (s->iothread && sd->conf.blk) {
        if (blk_set_aio_context(sd->conf.blk, s->ctx, errp) < 0) {
            return;
        }
    }

    xen_pvscsi_set_gone(s, sd, false);
    if (s->adopt) {
        /* A toolstack wrote dev-N: it keeps its number and nodes. */
        lun = g_new0(XenPVSCSILun, 1);
        lun->devnum = s->adopt_devnum;
        lun->sdev = sd;
        lun->state = XenbusStateInitialising;
        lun->toolstack = true;
        QLIST_INSERT_HEAD(&s->luns, lun, next);
        s->adopt = false;
        return;
    }

    /* Lowest dev-N that neither we nor a toolstack use. */
    while (xen_pvscsi_devnum_used(s, devnum)) {
        if (devnum == UINT_MAX) {
            error_setg(errp, "no free dev-N in %s/vscsi-devs",
                       s->xendev.backend_path);
            return;
        }
        devnum++;
    }
    lun = g_new0(XenPVSCSILun, 1);
    lun->devnum = devnum;
    lun->sdev = sd;
    lun->state = XenbusStateUnknown;
    QLIST_INSERT_HEAD(&s->luns, lun, next);

    dname = g_strdup_printf("dev-%u", devnum);
    vdev = g_strdup_printf("%s:%d:%d:%d", s->xendev.name, sd->channel,
                           sd->id, sd->lun);
    pdev = sd->conf.blk ? blk_name(sd->conf.blk) : "";
    trace_xen_pvscsi_lun_plug(s->xendev.name, dname, vdev);
    xen_pvscsi_lun_write(s, lun, "p-dev", "%s",
                         *pdev ? pdev : (dev->id ?: object_get_typename(
                                             OBJECT(dev))));
    xen_pvscsi_lun_write(s, lun, "v-dev", "%s", vdev);
    xen_pvscsi_lun_set_state(s, lun, XenbusStateInitialising);
    xen_pvscsi_reconfigure_if_pending(s);
}

/* device_del: the guest never let go of the LUN. Keep it, say so. */
static void xen_pvscsi_unplug_timeout(void *opaque)
{
    XenPVSCSILun *lun = opaque;
    XenPVSCSI *s = lun->s;
    DeviceState *dev = DEVICE(lun->sdev);

    if (!lun->unplug_requested || !lun->sdev) {
        return;
    }
    error_report("xen-pvscsi: dom%u vhost %s: the guest did not release "
                 "dev-%u (%s) within %u s; device_del cancelled",
                 s->xendev.frontend_id, s->xendev.name, lun->devnum,
                 dev->id ?: "", s->unplug_timeout);
    lun->unplug_requested = false;
    xen_pvscsi_lun_set_state(s, lun, XenbusStateConnected);
    if (xen_device_backend_get_state(&s->xendev) ==
        XenbusStateReconfiguring) {
        xen_device_backend_set_state(&s->xendev, XenbusStateConnected);
    }
    qapi_event_send_device_unplug_guest_error(dev->id,
                                              dev->canonical_path);
}

static void xen_pvscsi_unplug_request(HotplugHandler *hotplug_dev,
                                      DeviceState *dev, Error **errp)
{
    XenPVSCSI *s = XEN_PVSCSI(hotplug_dev);
    XenPVSCSILun *lun = xen_pvscsi_find_lun(s, SCSI_DEVICE(dev));

    if (!lun) {
        xen_pvscsi_remove_device(s, dev, errp);
        return;
    }
    if (lun->unplug_requested) {
        error_setg(errp, "removal of %s:%d:%d:%d is already in progress",
                   s->xendev.name, lun->sdev->channel, lun->sdev->id,
                   lun->sdev->lun);
        return;
    }
    if (!s->dataplane_on || lun->state == XenbusStateInitialising ||
        lun->state == XenbusStateClosed) {
        /* No frontend knows the LUN: remove it at once. */
        xen_pvscsi_lun_unplug_now(s, lun);
        xen_pvscsi_lun_free(s, lun);
        return;
    }
    /*
     * The guest drops the LUN first (dev 5 -> 6), then we unplug. During
     * a reconfiguration (vhost 7/8, or the LUN being added: 3) the
     * removal waits for the vhost to be back at 4.
     */
    lun->unplug_requested = true;
    if (!lun->unplug_timer) {
        lun->s = s;
        lun->unplug_timer = timer_new_ms(QEMU_CLOCK_REALTIME,
                                         xen_pvscsi_unplug_timeout, lun);
    }
    timer_mod(lun->unplug_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              s->unplug_timeout * 1000LL);
    xen_pvscsi_reconfigure_if_pending(s);
}

static void xen_pvscsi_unplug(HotplugHandler *hotplug_dev, DeviceState *dev,
                              Error **errp)
{
    XenPVSCSI *s = XEN_PVSCSI(hotplug_dev);
    SCSIDevice *sd = SCSI_DEVICE(dev);
    XenPVSCSILun *lun = xen_pvscsi_find_lun(s, sd);

    if (lun) {
        lun->sdev = NULL;
    }
    qdev_simple_device_unplug_cb(hotplug_dev, dev, errp);
    if (s->iothread && sd->conf.blk) {
        /* If other users keep the BlockBackend in the iothread, that's ok */
        blk_set_aio_context(sd->conf.blk, qemu_get_aio_context(), NULL);
    }
    /* Off the bus: a new LUN may take the address. */
    xen_pvscsi_set_gone(s, sd, false);
}

/* ------------------------------------------------------------------ */
/* Toolstack-driven creation: backend/qscsi/<domid>/<vhost>             */

static void xen_pvscsi_backend_create(XenBackendInstance *backend,
                                      QDict *opts, Error **errp)
{
    XenBus *xenbus = xen_backend_get_bus(backend);
    const char *name = xen_backend_get_name(backend);
    const char *fh = qdict_get_try_str(opts, "feature-host");
    XenPVSCSI *s;
    XenDevice *xendev;
    unsigned int vhost;

    if (qemu_strtoui(name, NULL, 10, &vhost)) {
        error_setg(errp, "invalid vhost name '%s'", name);
        return;
    }
    xendev = XEN_DEVICE(qdev_new(TYPE_XEN_PVSCSI));
    s = XEN_PVSCSI(xendev);
    qdev_prop_set_uint32(DEVICE(xendev), "vhost", vhost);
    s->feature_host = fh && !strcmp(fh, "1");
    if (!qdev_realize_and_unref(DEVICE(xendev), BUS(xenbus), errp)) {
        /* Unparented by device_set_realized() and freed by the unref. */
        return;
    }
    xen_backend_set_device(backend, xendev);
    /* The LUNs the toolstack listed; later ones come with state 7. */
    xen_pvscsi_sync_toolstack_luns(s);
}

static void xen_pvscsi_backend_destroy(XenBackendInstance *backend,
                                       Error **errp)
{
    XenDevice *xendev = xen_backend_get_device(backend);

    object_unparent(OBJECT(xendev));
    drain_call_rcu();
}

static const XenBackendInfo xen_pvscsi_backend_info = {
    .type = "qscsi",
    .create = xen_pvscsi_backend_create,
    .destroy = xen_pvscsi_backend_destroy,
};

static void xen_pvscsi_register_backend(void)
{
    xen_backend_register(&xen_pvscsi_backend_info);
}

xen_backend_init(xen_pvscsi_register_backend);

/* ------------------------------------------------------------------ */
/* XenDevice                                                            */

static char *xen_pvscsi_get_name(XenDevice *xendev, Error **errp)
{
    XenPVSCSI *s = XEN_PVSCSI(xendev);
    XenBus *xenbus = XEN_BUS(qdev_get_parent_bus(DEVICE(xendev)));
    domid_t fe = xendev->frontend_id == DOMID_INVALID ? xen_domid :
                 xendev->frontend_id;
    /* Ours and the kernel's xen-scsiback. */
    static const char *const types[] = { "qscsi", "vscsi" };
    unsigned int n, i;

    if (s->vhost != XEN_PVSCSI_VHOST_AUTO) {
        return g_strdup_printf("%u", s->vhost);
    }
    /*
     * The lowest vhost number no backend serves for the frontend domain.
     * Only backend directories count: the guest can write its own
     * device/vscsi/ area, and must not be able to use the numbers up.
     */
    for (n = 0; n < XEN_PVSCSI_MAX_VHOST; n++) {
        bool used = false;
        XenDevice *other;
        BusChild *kid;

        for (i = 0; i < ARRAY_SIZE(types); i++) {
            g_autofree char *path = g_strdup_printf(
                "/local/domain/%u/backend/%s/%u/%u", xenbus->backend_id,
                types[i], fe, n);
            g_autofree char *val = NULL;
            unsigned int len;

            val = qemu_xen_xs_read(xenbus->xsh, XBT_NULL, path, &len);
            used |= val != NULL;
        }
        QTAILQ_FOREACH(kid, &xenbus->qbus.children, sibling) {
            other = XEN_DEVICE(kid->child);
            if (other != xendev && other->name &&
                object_dynamic_cast(OBJECT(other), TYPE_XEN_PVSCSI) &&
                other->frontend_id == fe &&
                XEN_PVSCSI(other)->vhost == n) {
                used = true;
            }
        }
        if (!used) {
            s->vhost = n;
            return g_strdup_printf("%u", n);
        }
    }
    error_setg(errp, "no free vscsi vhost number for domain %u (%u in use)",
               fe, XEN_PVSCSI_MAX_VHOST);
    return NULL;
}

static void xen_pvscsi_realize(XenDevice *xendev, Error **errp)
{
    XenPVSCSI *s = XEN_PVSCSI(xendev);

    if (s->sg_grant && (s->sg_grant < XEN_PVSCSI_SG_GRANT_MIN ||
                        s->sg_grant > XEN_PVSCSI_SG_GRANT_MAX)) {
        error_setg(errp, "feature-sg-grant must be 0 (off) or %u..%u, "
                   "not %u", XEN_PVSCSI_SG_GRANT_MIN,
                   (unsigned int)XEN_PVSCSI_SG_GRANT_MAX, s->sg_grant);
        return;
    }
    trace_xen_pvscsi_realize(xendev->name, s->sg_grant);

    s->ctx = s->iothread ? iothread_get_aio_context(s->iothread) :
                           qemu_get_aio_context();
    s->bh = aio_bh_new_guarded(s->ctx, xen_pvscsi_bh, s,
                               &DEVICE(xendev)->mem_reentrancy_guard);
    QLIST_INIT(&s->luns);
    QLIST_INIT(&s->removals);

    scsi_bus_init_named(&s->bus, sizeof(s->bus), DEVICE(xendev),
                        &xen_pvscsi_scsi_info, NULL);
    qbus_set_hotplug_handler(BUS(&s->bus), OBJECT(xendev));

    /* Advertised before InitWait is left: the frontend reads it then. */
    if (s->sg_grant) {
        xen_device_backend_printf(xendev, "feature-sg-grant", "%u",
                                  s->sg_grant);
    }

    /*
     * A toolstack adds and removes LUNs in vscsi-devs at any time, also
     * while no frontend is connected (a removal must then take effect
     * without waiting for one).
     */
    s->devs_watch = xs_node_watch(xendev->xsh, xendev->backend_path,
                                  "vscsi-devs", xen_pvscsi_devs_changed, s,
                                  errp);
}

static void xen_pvscsi_unrealize(XenDevice *xendev)
{
    XenPVSCSI *s = XEN_PVSCSI(xendev);
    XenPVSCSILun *lun, *tmp;

    trace_xen_pvscsi_unrealize(xendev->name ?: "");
    if (s->devs_watch) {
        xs_node_unwatch(xendev->xsh, s->devs_watch);
        s->devs_watch = NULL;
    }
    xen_pvscsi_disconnect(s);
    QLIST_FOREACH_SAFE(lun, &s->luns, next, tmp) {
        xen_pvscsi_lun_release(lun);
    }
    /* The bus is gone: its devices were unrealized with it. */
    while (!QLIST_EMPTY(&s->removals)) {
        xen_pvscsi_removal_free(QLIST_FIRST(&s->removals));
    }
    if (s->bh) {
        qemu_bh_delete(s->bh);
        s->bh = NULL;
    }
}

static const Property xen_pvscsi_props[] = {
    DEFINE_PROP_UINT32("vhost", XenPVSCSI, vhost, XEN_PVSCSI_VHOST_AUTO),
    DEFINE_PROP_UINT32("feature-sg-grant", XenPVSCSI, sg_grant,
                       XEN_PVSCSI_SG_GRANT_DEFAULT),
    DEFINE_PROP_LINK("iothread", XenPVSCSI, iothread, TYPE_IOTHREAD,
                     IOThread *),
    DEFINE_PROP_UINT32("unplug-timeout", XenPVSCSI, unplug_timeout, 30),
};

static void xen_pvscsi_class_init(ObjectClass *class, void *data)
{
    DeviceClass *dev_class = DEVICE_CLASS(class);
    XenDeviceClass *xendev_class = XEN_DEVICE_CLASS(class);
    HotplugHandlerClass *hc = HOTPLUG_HANDLER_CLASS(class);

    /* Not "vscsi": the kernel's xen-scsiback claims backend/vscsi. */
    xendev_class->backend = "qscsi";
    xendev_class->device = "vscsi";
    xendev_class->get_name = xen_pvscsi_get_name;
    xendev_class->realize = xen_pvscsi_realize;
    xendev_class->frontend_changed = xen_pvscsi_frontend_changed;
    xendev_class->unrealize = xen_pvscsi_unrealize;

    hc->pre_plug = xen_pvscsi_pre_plug;
    hc->plug = xen_pvscsi_plug;
    hc->unplug_request = xen_pvscsi_unplug_request;
    hc->unplug = xen_pvscsi_unplug;

    dev_class->desc = "Xen PV SCSI host (vscsiif backend)";
    set_bit(DEVICE_CATEGORY_STORAGE, dev_class->categories);
    device_class_set_props(dev_class, xen_pvscsi_props);
}

static const TypeInfo xen_pvscsi_type_info = {
    .name = TYPE_XEN_PVSCSI,
    .parent = TYPE_XEN_DEVICE,
    .instance_size = sizeof(XenPVSCSI),
    .class_init = xen_pvscsi_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_HOTPLUG_HANDLER },
        { }
    },
};

static void xen_pvscsi_register_types(void)
{
    type_register_static(&xen_pvscsi_type_info);
}

type_init(xen_pvscsi_register_types)
