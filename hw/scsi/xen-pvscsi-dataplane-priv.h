/*
 * xen-pvscsi dataplane internals, shared by xen-pvscsi-dataplane.c (ring,
 * requests, data) and xen-pvscsi-tmf.c (ABORT and RESET). Everything here
 * belongs to the dataplane's AioContext, except where a field says
 * otherwise.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_SCSI_XEN_PVSCSI_DATAPLANE_PRIV_H
#define HW_SCSI_XEN_PVSCSI_DATAPLANE_PRIV_H

#include "qemu/log.h"
#include "qemu/iov.h"
#include "qemu/defer-call.h"
#include "hw/scsi/xen-pvscsi-proto.h"
#include "xen-pvscsi-dataplane.h"

typedef struct XenPVSCSIPool XenPVSCSIPool;

/*
 * The device's own data buffers, one per ring slot of the largest ring: a
 * CDB whose data fits gets one as its iovec (SCSIBusInfo get_iov), so
 * that the SCSI device moves all of it with one block layer request on
 * that memory, and the guest's pages are copied with one grant copy call.
 * Virtual memory reserved once; pages are populated as used. Buffers are
 * taken and given back in the dataplane's AioContext.
 */
/* Larger CDBs take the bounce path (Linux sends at most 508 KiB). */
#define XEN_PVSCSI_BUF_MAX_PAGES    256

typedef struct XenPVSCSIBufs {
    uint8_t *base;
    size_t size;                    /* bytes reserved: nr * buf_size */
    size_t buf_size;
    unsigned int nr;
    unsigned int nr_free;
    unsigned int *free;             /* stack of free buffer indexes */
} XenPVSCSIBufs;

/* One CDB in flight. A pool of them per ring, one per ring slot. */
typedef struct XenPVSCSIReq {
    XenPVSCSIDataPlane *dp;
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
    int buf;                        /* index of its XenPVSCSIBufs buffer */
    QEMUIOVector qiov;              /* that buffer, for the device */
    uint8_t fail_host;              /* answer with this host code if set */
    bool aborted;
    unsigned int nr_copy;           /* segments built in copy[], not sent */
    bool batched;                   /* on one of the dataplane's copy lists */
    size_t done_residual;           /* the device's, while copy-out waits */
    QTAILQ_ENTRY(XenPVSCSIReq) next;
    QSIMPLEQ_ENTRY(XenPVSCSIReq) batch_next;
} XenPVSCSIReq;

typedef QSIMPLEQ_HEAD(, XenPVSCSIReq) XenPVSCSIReqList;

/*
 * The requests of one ring connection. A connection that ends with
 * requests still in flight leaves its pool behind, detached: its requests
 * are cancelled, answered to nobody, and the last one to finish frees the
 * pool. So nothing of an old connection can reach a later ring, and no
 * disconnect waits for I/O.
 */
struct XenPVSCSIPool {
    bool detached;
    bool held;                      /* being walked: do not free */
    unsigned int nr_inflight;
    QTAILQ_HEAD(, XenPVSCSIReq) free_reqs;
    QTAILQ_HEAD(, XenPVSCSIReq) inflight;
    unsigned int nr_reqs;           /* the ring's size */
    XenPVSCSIReq reqs[];
};

struct XenPVSCSIDataPlane {
    XenDevice *xendev;              /* NULL: a loopback transport */
    DeviceState *dev;
    const char *name;               /* the vhost, for logs and traces */
    unsigned int domid;
    const XenPVSCSITransport *transport;
    void *transport_opaque;
    EventNotifier kick;             /* loopback: the frontend's event */
    bool loopback_started;
    SCSIBus *bus;
    unsigned int sg_grant;
    IOThread *iothread;
    AioContext *ctx;
    QEMUBH *bh;                     /* resume intake (full ring, batch) */
    XenPVSCSIBufs *bufs;            /* NULL: every CDB uses the bounce path */

    /* main loop: the ring is mapped and the event channel attached */
    bool started;

    /* ring state; touched only in ctx while started */
    vscsiif_back_ring_t ring;
    void *sring;
    unsigned int ring_ref[XEN_PVSCSI_MAX_RING_PAGES];
    unsigned int nr_ring_ref;
    XenEventChannel *event_channel;
    XenPVSCSIPool *pool;            /* this connection's requests */
    bool ring_ok;                   /* responses may be written */
    bool halted;                    /* guest broke the ring protocol */
    bool rsp_pending;               /* responses not pushed yet */
    bool in_intake;                 /* handle_requests() is running */
    bool in_flush;                  /* xen_pvscsi_flush_*() is running */
    bool in_complete;               /* a completion is deferring work */
    QEMUBH *flush_bh;               /* copy-out for completions from BHs */
    bool flush_scheduled;
    /*
     * Grant copies gathered over one pass of the event loop (defer_call):
     * indirect requests whose SG lists are read before they are checked,
     * writes whose data is copied in before they go to their LUN, and
     * reads whose data is copied out before they are answered. One copy
     * call for each list, one push of the responses.
     */
    XenPVSCSIReqList sg_in;         /* indirect SG-list pages to read */
    XenPVSCSIReqList copy_in;
    XenPVSCSIReqList copy_out;
    unsigned int nr_copy_out;       /* requests in copy_out */
    XenDeviceGrantCopySegment *batch;   /* XEN_PVSCSI_BATCH_SEGS */
    bool intake_stalled;            /* requests left for lack of a slot */
    /*
     * ctx polls the ring: req_event is left where it is (the frontend does
     * not notify us for requests that polling finds anyway) until polling
     * ends, which arms it again.
     */
    bool polled;
    uint64_t gen;                   /* bumped at every start and stop */

    /*
     * The LUNs the ring can reach, by target and LUN (a target's table is
     * allocated when its first LUN is plugged). Written in the main loop,
     * read in ctx under RCU: a device is freed only after a grace period
     * that follows its removal from the bus (bus_remove_child()), and it
     * leaves this table before that.
     */
    SCSIDevice **luns[XEN_PVSCSI_MAX_TARGET + 1];
};

/*
 * Something the guest did wrong: for -d guest_errors, never by default (a
 * guest must not be able to fill the host's logs).
 */
#define xen_pvscsi_guest_error(dp, fmt, ...)                              \
    qemu_log_mask(LOG_GUEST_ERROR, "xen-pvscsi: dom%u vhost %s: " fmt "\n", \
                  (dp)->domid, (dp)->name,                               \
                  ## __VA_ARGS__)

/* xen-pvscsi-dataplane.c */
SCSIDevice *xen_pvscsi_lun_find(XenPVSCSIDataPlane *dp, unsigned int channel,
                                unsigned int id, unsigned int lun);
SCSIDevice *xen_pvscsi_device_get(XenPVSCSIDataPlane *dp,
                                  unsigned int channel, unsigned int id,
                                  unsigned int lun);
vscsiif_response_t *xen_pvscsi_next_response(XenPVSCSIDataPlane *dp);
void xen_pvscsi_put_response(XenPVSCSIDataPlane *dp);
void xen_pvscsi_flush_end(XenPVSCSIDataPlane *dp);
/* Flush copies and push responses from a BH (after this batch of BHs) */
void xen_pvscsi_schedule_flush(XenPVSCSIDataPlane *dp);
/* Unschedule that flush: what it was for is done */
void xen_pvscsi_cancel_flush(XenPVSCSIDataPlane *dp);
/*
 * Whether a completion can be the last one of this pass of the event
 * loop: no request is with a LUN but those waiting for their copy-out and
 * the @own completing one. Then nothing can join its copy-out or its
 * push: they are done at once, not from flush_bh (in the main loop an
 * iteration, a ppoll(), per request at QD1) nor at the end of a
 * defer_call section (an entry in its array).
 */
static inline bool xen_pvscsi_nothing_to_gather(XenPVSCSIDataPlane *dp,
                                                unsigned int own)
{
    return dp->pool && dp->pool->nr_inflight <= dp->nr_copy_out + own;
}
/*
 * Run @fn(@dp), the copy-out or the push of a completion that @own
 * requests are part of, with dp->in_complete set: at once when nothing
 * can join it, else at the end of the defer_call section (at once too
 * when there is none).
 */
static inline void xen_pvscsi_complete_deferred(XenPVSCSIDataPlane *dp,
                                                void (*fn)(void *),
                                                unsigned int own)
{
    bool outer = !dp->in_complete;

    dp->in_complete = true;
    if (xen_pvscsi_nothing_to_gather(dp, own)) {
        /* No defer_call entry: it costs more than what it would gather */
        fn(dp);
    } else {
        defer_call(fn, dp);
    }
    dp->in_complete = !outer;
}
/* Release @r's slot (and its SCSI request) without an answer. */
void xen_pvscsi_put_req(XenPVSCSIReq *r);
/* A free data buffer for @r of @len bytes, as r->qiov; or false */
bool xen_pvscsi_buf_get(XenPVSCSIReq *r, size_t len);
static inline uint8_t *xen_pvscsi_buf_ptr(XenPVSCSIReq *r)
{
    return r->dp->bufs->base + (size_t)r->buf * r->dp->bufs->buf_size;
}

static inline void xen_pvscsi_copy_grants(XenPVSCSIDataPlane *dp,
                                          bool to_domain,
                                          XenDeviceGrantCopySegment *segs,
                                          unsigned int n, Error **errp)
{
    dp->transport->copy(dp->transport_opaque, to_domain, segs, n, errp);
}

/* Segments of one batched grant copy call */
#define XEN_PVSCSI_BATCH_SEGS   512

/* xen-pvscsi-cdb.c */
/* Send the gathered copies (the lists above) and act on them. */
void xen_pvscsi_flush_sg_in(void *opaque);
void xen_pvscsi_flush_copy_in(void *opaque);
void xen_pvscsi_flush_copy_out(void *opaque);
/* Answer a CDB and release its slot. */
void xen_pvscsi_finish(XenPVSCSIReq *r, uint8_t host, uint8_t status,
                       const uint8_t *sense, size_t sense_len);
/* Map the data of the CDB in @r and hand it to its LUN. */
void xen_pvscsi_do_cdb(XenPVSCSIReq *r);

/* xen-pvscsi-tmf.c: act on a decoded ABORT or RESET */
void xen_pvscsi_do_abort(XenPVSCSIDataPlane *dp, const vscsiif_request_t *t);
void xen_pvscsi_do_reset(XenPVSCSIDataPlane *dp, const vscsiif_request_t *t);

#endif /* HW_SCSI_XEN_PVSCSI_DATAPLANE_PRIV_H */
