/*
 * xen-pvscsi task management: ABORT and RESET of the ring's requests.
 * Runs in the dataplane's AioContext.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/notify.h"
#include "qemu/timer.h"
#include "scsi/constants.h"
#include "xen-pvscsi-dataplane-priv.h"
#include "trace.h"

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
    XenPVSCSIDataPlane *dp;
    uint64_t gen;                   /* answered only to this connection */
    uint16_t rqid;
    uint8_t act;
    XenPVSCSITmfOrder order;        /* answered after what it covers */
    bool success;
    SCSIDevice *sdev;               /* RESET: the LUN (referenced) */
    QEMUTimer *timer;               /* RESET: grace period, then cancel */
    unsigned int nr_waits, max_waits;
    XenPVSCSITmfWait *waits;        /* one per request in flight */
};

/* RESET: outstanding commands may finish this long before being cancelled */
#define XEN_PVSCSI_RESET_GRACE_MS 10000

/* Answer the ABORT or RESET @rqid, in its ring slot */
static void xen_pvscsi_tmf_answer(XenPVSCSIDataPlane *dp, uint16_t rqid,
                                  bool success)
{
    vscsiif_response_t *rsp = xen_pvscsi_next_response(dp);

    if (rsp) {
        xen_pvscsi_encode_tmf(rsp, rqid, success);
        xen_pvscsi_put_response(dp);
    }
}

static void xen_pvscsi_tmf_respond(XenPVSCSITmf *tmf)
{
    XenPVSCSIDataPlane *dp = tmf->dp;

    if (tmf->gen == dp->gen) {
        trace_xen_pvscsi_tmf_done(tmf->rqid, tmf->success);
        xen_pvscsi_tmf_answer(dp, tmf->rqid, tmf->success);
    }
    if (tmf->timer) {
        timer_free(tmf->timer);
    }
    if (tmf->sdev) {
        object_unref(OBJECT(tmf->sdev));
    }
    g_free(tmf->waits);
    g_free(tmf);
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

static XenPVSCSITmf *xen_pvscsi_tmf_new(XenPVSCSIDataPlane *dp,
                                        const vscsiif_request_t *t)
{
    XenPVSCSITmf *tmf = g_new0(XenPVSCSITmf, 1);

    /* It can wait for at most what is in flight now. */
    tmf->max_waits = dp->pool->nr_inflight;
    tmf->waits = g_new0(XenPVSCSITmfWait, tmf->max_waits);
    tmf->dp = dp;
    tmf->gen = dp->gen;
    tmf->rqid = t->rqid;
    tmf->act = t->act;
    tmf->success = true;
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
    if (tmf->act == VSCSIIF_ACT_SCSI_RESET && tmf->gen == tmf->dp->gen) {
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
    QTAILQ_FOREACH(r, &tmf->dp->pool->inflight, next) {
        if (r->sreq && xen_pvscsi_tmf_covers(t, &r->d.req, r->aborted) &&
            tmf->nr_waits < tmf->max_waits) {
            if (t->act == VSCSIIF_ACT_SCSI_ABORT) {
                r->aborted = true;
            }
            xen_pvscsi_tmf_wait(tmf, r);
        }
    }
}

void xen_pvscsi_do_abort(XenPVSCSIDataPlane *dp, const vscsiif_request_t *t)
{
    XenPVSCSITmf *tmf = xen_pvscsi_tmf_new(dp, t);

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
 *
 * Not device_cold_reset() as in virtio-scsi: it purges the LUN's requests
 * (all answered HOST_RESET at once: the race above) and then drains its
 * BlockBackend in the main loop (blk_drain() under the BQL), which waits
 * without bound for a request that cannot be cancelled (SG_IO to a tape
 * that is rewinding, iSCSI during a target outage): one guest's RESET
 * would stall all of QEMU. What the guest can observe of a reset is kept:
 * outstanding commands end, then a POWER ON/RESET unit attention.
 */
void xen_pvscsi_do_reset(XenPVSCSIDataPlane *dp, const vscsiif_request_t *t)
{
    SCSIDevice *sdev = xen_pvscsi_device_get(dp, t->channel, t->id, t->lun);
    XenPVSCSITmf *tmf;

    if (!sdev) {
        trace_xen_pvscsi_tmf(t->rqid, t->act, 0, 0);
        xen_pvscsi_tmf_answer(dp, t->rqid, false);
        return;
    }

    tmf = xen_pvscsi_tmf_new(dp, t);
    tmf->sdev = sdev;
    xen_pvscsi_tmf_collect(tmf, t);
    trace_xen_pvscsi_tmf(t->rqid, t->act, 0, tmf->nr_waits);
    if (tmf->nr_waits) {
        tmf->timer = aio_timer_new(dp->ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                   xen_pvscsi_reset_timeout, tmf);
        timer_mod(tmf->timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  XEN_PVSCSI_RESET_GRACE_MS);
    }
    xen_pvscsi_tmf_release(tmf);
}
