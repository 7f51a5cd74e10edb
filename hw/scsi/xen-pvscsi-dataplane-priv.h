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
#include "hw/scsi/xen-pvscsi-proto.h"
#include "xen-pvscsi-dataplane.h"

typedef struct XenPVSCSIPool XenPVSCSIPool;

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
    uint8_t fail_host;              /* answer with this host code if set */
    bool aborted;
    QTAILQ_ENTRY(XenPVSCSIReq) next;
} XenPVSCSIReq;

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
    XenDevice *xendev;
    SCSIBus *bus;
    unsigned int sg_grant;
    IOThread *iothread;
    AioContext *ctx;
    QEMUBH *bh;                     /* resume intake (full ring, batch) */

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
    bool intake_stalled;            /* requests left for lack of a slot */
    uint64_t gen;                   /* bumped at every start and stop */

    /*
     * LUN addresses whose device is on its way out: not reachable from
     * the ring. Written in the main loop, read in ctx.
     */
    bool gone[XEN_PVSCSI_MAX_TARGET + 1][XEN_PVSCSI_MAX_LUN + 1];
};

/*
 * Something the guest did wrong: for -d guest_errors, never by default (a
 * guest must not be able to fill the host's logs).
 */
#define xen_pvscsi_guest_error(dp, fmt, ...)                              \
    qemu_log_mask(LOG_GUEST_ERROR, "xen-pvscsi: dom%u vhost %s: " fmt "\n", \
                  (dp)->xendev->frontend_id, (dp)->xendev->name,         \
                  ## __VA_ARGS__)

/* xen-pvscsi-dataplane.c */
SCSIDevice *xen_pvscsi_device_get(XenPVSCSIDataPlane *dp,
                                  unsigned int channel, unsigned int id,
                                  unsigned int lun);
void xen_pvscsi_put_response(XenPVSCSIDataPlane *dp,
                             const vscsiif_response_t *rsp);
/* Release @r's slot (and its SCSI request) without an answer. */
void xen_pvscsi_put_req(XenPVSCSIReq *r);

/* xen-pvscsi-cdb.c */
/* Answer a CDB and release its slot. */
void xen_pvscsi_finish(XenPVSCSIReq *r, uint8_t host, uint8_t status,
                       const uint8_t *sense, size_t sense_len);
/* Map the data of the CDB in @r and hand it to its LUN. */
void xen_pvscsi_do_cdb(XenPVSCSIReq *r);

/* xen-pvscsi-tmf.c: act on a decoded ABORT or RESET */
void xen_pvscsi_do_abort(XenPVSCSIDataPlane *dp, const vscsiif_request_t *t);
void xen_pvscsi_do_reset(XenPVSCSIDataPlane *dp, const vscsiif_request_t *t);

#endif /* HW_SCSI_XEN_PVSCSI_DATAPLANE_PRIV_H */
