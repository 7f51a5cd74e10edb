/*
 * xen-pvscsi dataplane: the ring, the event channel, the request pool and
 * the intake of requests. One CDB's data and completion are in
 * xen-pvscsi-cdb.c, ABORT and RESET in xen-pvscsi-tmf.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "block/aio-wait.h"
#include "qemu/defer-call.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/xen/xen.h"
#include "xen-pvscsi-dataplane-priv.h"
#include "trace.h"

/*
 * Requests taken off the ring per call of the intake; more are left to a
 * BH, so that a guest that keeps the ring full of requests that complete at
 * once cannot keep the main loop (or the iothread) to itself.
 */
#define XEN_PVSCSI_BATCH        16

/* Publish the responses written so far; notify if the frontend waits. */
static void xen_pvscsi_push_responses(XenPVSCSIDataPlane *dp)
{
    int notify;

    dp->rsp_pending = false;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&dp->ring, notify);
    trace_xen_pvscsi_notify(dp->xendev->name, dp->ring.rsp_prod_pvt);
    if (notify) {
        Error *local_err = NULL;

        xen_device_notify_event_channel(dp->xendev, dp->event_channel,
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
void xen_pvscsi_put_response(XenPVSCSIDataPlane *dp,
                             const vscsiif_response_t *rsp)
{
    if (!dp->ring_ok) {
        return;
    }
    memcpy(RING_GET_RESPONSE(&dp->ring, dp->ring.rsp_prod_pvt), rsp,
           sizeof(*rsp));
    dp->ring.rsp_prod_pvt++;
    dp->rsp_pending = true;
    if (!dp->in_intake) {
        xen_pvscsi_push_responses(dp);
        if (dp->intake_stalled) {
            /* A slot is free again: take the requests we had to leave. */
            qemu_bh_schedule(dp->bh);
        }
    }
}

static XenPVSCSIPool *xen_pvscsi_pool_new(XenPVSCSIDataPlane *dp)
{
    unsigned int i, max_elems = MAX(dp->sg_grant, VSCSIIF_SG_TABLESIZE);
    unsigned int n = RING_SIZE(&dp->ring);
    XenPVSCSIPool *pool = g_malloc0(sizeof(*pool) + n * sizeof(pool->reqs[0]));

    QTAILQ_INIT(&pool->free_reqs);
    QTAILQ_INIT(&pool->inflight);
    pool->nr_reqs = n;
    for (i = 0; i < n; i++) {
        XenPVSCSIReq *r = &pool->reqs[i];

        r->dp = dp;
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

    for (i = 0; i < pool->nr_reqs; i++) {
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

static XenPVSCSIReq *xen_pvscsi_get_req(XenPVSCSIDataPlane *dp)
{
    XenPVSCSIPool *pool = dp->pool;
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

void xen_pvscsi_put_req(XenPVSCSIReq *r)
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
 * The LUN at channel:id:lun, referenced, or NULL: not configured, or on
 * its way out (its removal waits for requests to finish).
 */
SCSIDevice *xen_pvscsi_device_get(XenPVSCSIDataPlane *dp,
                                  unsigned int channel, unsigned int id,
                                  unsigned int lun)
{
    SCSIDevice *sdev;

    if (channel > XEN_PVSCSI_MAX_CHANNEL || id > XEN_PVSCSI_MAX_TARGET ||
        lun > XEN_PVSCSI_MAX_LUN || qatomic_read(&dp->gone[id][lun])) {
        return NULL;
    }
    sdev = scsi_device_get(dp->bus, channel, id, lun);
    if (sdev && (sdev->channel != channel || sdev->id != id ||
                 sdev->lun != lun)) {
        object_unref(OBJECT(sdev));
        sdev = NULL;
    }
    return sdev;
}

static void xen_pvscsi_submit(XenPVSCSIDataPlane *dp, XenPVSCSIReq *r)
{
    vscsiif_request_t tmf_req;
    const char *why = NULL;
    int host;

    host = xen_pvscsi_decode(RING_GET_REQUEST(&dp->ring, dp->ring.req_cons),
                             &r->d, dp->sg_grant, &why);
    dp->ring.req_cons++;
    if (host) {
        trace_xen_pvscsi_request_bad(r->d.req.rqid, host, why);
        xen_pvscsi_guest_error(dp, "rqid %u: %s (act %u)", r->d.req.rqid,
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
        xen_pvscsi_do_abort(dp, &tmf_req);
    } else {
        xen_pvscsi_do_reset(dp, &tmf_req);
    }
}

static bool xen_pvscsi_handle_requests(XenPVSCSIDataPlane *dp)
{
    unsigned int budget = XEN_PVSCSI_BATCH;
    bool progress = false;
    bool more_later = false;
    RING_IDX rp;
    int more = 0;

    if (!dp->ring_ok || dp->halted || dp->in_intake) {
        return false;
    }

    dp->in_intake = true;
    dp->intake_stalled = false;
    defer_call_begin();
    do {
        rp = dp->ring.sring->req_prod;
        xen_rmb(); /* see the requests up to rp */
        trace_xen_pvscsi_ring(dp->xendev->name, rp, dp->ring.req_cons,
                              dp->ring.rsp_prod_pvt);

        if (RING_REQUEST_PROD_OVERFLOW(&dp->ring, rp)) {
            error_report("xen-pvscsi: dom%u vhost %s: bogus ring request "
                         "producer %u (consumer %u, responses %u): halting "
                         "this ring", dp->xendev->frontend_id, dp->xendev->name,
                         rp, dp->ring.req_cons, dp->ring.rsp_prod_pvt);
            dp->halted = true;
            break;
        }

        while (dp->ring.req_cons != rp &&
               !RING_REQUEST_CONS_OVERFLOW(&dp->ring, dp->ring.req_cons)) {
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
            r = xen_pvscsi_get_req(dp);
            if (!r) {
                break;
            }
            budget--;
            xen_pvscsi_submit(dp, r);
            progress = true;
        }
        if (more_later) {
            break;
        }
        if (dp->ring.req_cons != rp) {
            /* Ring full of unanswered requests: a response will kick us. */
            dp->intake_stalled = true;
            break;
        }
        RING_FINAL_CHECK_FOR_REQUESTS(&dp->ring, more);
    } while (more && !dp->halted);
    defer_call_end();
    dp->in_intake = false;
    if (dp->rsp_pending && dp->ring_ok) {
        xen_pvscsi_push_responses(dp);
    }
    if (more_later && dp->ring_ok && !dp->halted) {
        qemu_bh_schedule(dp->bh);
    } else if (dp->intake_stalled && !QTAILQ_EMPTY(&dp->pool->free_reqs) &&
        !RING_REQUEST_CONS_OVERFLOW(&dp->ring, dp->ring.req_cons)) {
        /* Slots were freed after we stopped: look again. */
        qemu_bh_schedule(dp->bh);
    }

    return progress;
}

static void xen_pvscsi_bh(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;

    if (!dp->ring_ok) {
        return;
    }
    /*
     * Responses freed ring slots, or the last intake used up its batch:
     * pick up the requests it left. (Responses are pushed where they are
     * written, or at the end of the intake that wrote them; none wait for
     * this BH.)
     */
    xen_pvscsi_handle_requests(dp);
}

static bool xen_pvscsi_event(void *opaque)
{
    return xen_pvscsi_handle_requests(opaque);
}

static void xen_pvscsi_stop_in_ctx(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;
    XenPVSCSIPool *pool = dp->pool;
    XenPVSCSIReq *r, *tmp;

    /* From here on nothing touches the ring page. */
    dp->ring_ok = false;
    dp->gen++;
    qemu_bh_cancel(dp->bh);
    dp->pool = NULL;
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

void xen_pvscsi_dataplane_stop(XenPVSCSIDataPlane *dp)
{
    XenDevice *xendev = dp->xendev;
    Error *local_err = NULL;

    if (!dp->sring && !dp->event_channel) {
        return;
    }
    trace_xen_pvscsi_disconnect(xendev->name);

    /*
     * Detach the handler, then let ctx finish whatever it was doing: after
     * the BH round trip no handler runs and none is attached again (a
     * drained section ending now sees started false), so the channel can
     * be unbound and the ring unmapped.
     */
    dp->started = false;
    if (dp->event_channel) {
        xen_device_set_event_channel_context(xendev, dp->event_channel, NULL,
                                             &error_abort);
    }
    aio_wait_bh_oneshot(dp->ctx, xen_pvscsi_stop_in_ctx, dp);

    if (dp->event_channel) {
        xen_device_unbind_event_channel(xendev, dp->event_channel,
                                        &local_err);
        dp->event_channel = NULL;
        if (local_err) {
            error_report_err(local_err);
            local_err = NULL;
        }
    }
    if (dp->sring) {
        xen_device_unmap_grant_refs(xendev, dp->sring, dp->ring_ref,
                                    dp->nr_ring_ref, &local_err);
        dp->sring = NULL;
        if (local_err) {
            error_report_err(local_err);
        }
    }
    dp->halted = false;
    dp->rsp_pending = false;
    dp->in_intake = false;
    dp->intake_stalled = false;
}

void xen_pvscsi_dataplane_start(XenPVSCSIDataPlane *dp,
                                const unsigned int *ring_ref,
                                unsigned int nr_ring_ref, unsigned int evtchn,
                                Error **errp)
{
    ERRP_GUARD();
    XenDevice *xendev = dp->xendev;

    xen_pvscsi_dataplane_stop(dp);
    if (!nr_ring_ref || nr_ring_ref > XEN_PVSCSI_MAX_RING_PAGES ||
        (nr_ring_ref & (nr_ring_ref - 1))) {
        error_setg(errp, "invalid number of ring pages %u", nr_ring_ref);
        return;
    }
    trace_xen_pvscsi_connect(xendev->name, ring_ref[0], nr_ring_ref, evtchn);

    memcpy(dp->ring_ref, ring_ref, nr_ring_ref * sizeof(*ring_ref));
    dp->nr_ring_ref = nr_ring_ref;
    xen_device_set_max_grant_refs(xendev, nr_ring_ref, errp);
    if (*errp) {
        return;
    }
    dp->sring = xen_device_map_grant_refs(xendev, dp->ring_ref, nr_ring_ref,
                                          PROT_READ | PROT_WRITE, errp);
    if (*errp) {
        dp->sring = NULL;
        return;
    }
    BACK_RING_INIT(&dp->ring, (vscsiif_sring_t *)dp->sring,
                   XEN_PAGE_SIZE * nr_ring_ref);

    dp->event_channel = xen_device_bind_event_channel(xendev, evtchn,
                                                      xen_pvscsi_event, dp,
                                                      errp);
    if (*errp) {
        dp->event_channel = NULL;
        xen_pvscsi_dataplane_stop(dp);
        return;
    }
    /* ctx does not run for us yet: the handler is attached below. */
    dp->pool = xen_pvscsi_pool_new(dp);
    dp->gen++;
    dp->halted = false;
    dp->ring_ok = true;
    dp->started = true;
    xen_device_set_event_channel_context(xendev, dp->event_channel, dp->ctx,
                                         &error_abort);
    /* Requests may already be waiting. */
    qemu_bh_schedule(dp->bh);
}

bool xen_pvscsi_dataplane_is_started(XenPVSCSIDataPlane *dp)
{
    return dp && dp->started;
}

AioContext *xen_pvscsi_dataplane_get_aio_context(XenPVSCSIDataPlane *dp)
{
    return dp ? dp->ctx : qemu_get_aio_context();
}

void xen_pvscsi_dataplane_drained_begin(XenPVSCSIDataPlane *dp)
{
    if (xen_pvscsi_dataplane_is_started(dp)) {
        xen_device_set_event_channel_context(dp->xendev, dp->event_channel,
                                             NULL, &error_abort);
    }
}

void xen_pvscsi_dataplane_drained_end(XenPVSCSIDataPlane *dp)
{
    /*
     * Not while a stop is taking the channel down: it detached the
     * handler and is about to unbind the channel.
     */
    if (xen_pvscsi_dataplane_is_started(dp)) {
        xen_device_set_event_channel_context(dp->xendev, dp->event_channel,
                                             dp->ctx, &error_abort);
    }
}

void xen_pvscsi_dataplane_set_gone(XenPVSCSIDataPlane *dp, SCSIDevice *sdev,
                                   bool gone)
{
    if (!dp) {
        return;     /* unrealized: the ring is gone */
    }
    if (sdev->channel <= XEN_PVSCSI_MAX_CHANNEL &&
        sdev->id <= XEN_PVSCSI_MAX_TARGET &&
        sdev->lun <= XEN_PVSCSI_MAX_LUN) {
        qatomic_set(&dp->gone[sdev->id][sdev->lun], gone);
    }
}

XenPVSCSIDataPlane *xen_pvscsi_dataplane_create(XenDevice *xendev,
                                                SCSIBus *bus,
                                                unsigned int sg_grant,
                                                IOThread *iothread)
{
    XenPVSCSIDataPlane *dp = g_new0(XenPVSCSIDataPlane, 1);

    dp->xendev = xendev;
    dp->bus = bus;
    dp->sg_grant = sg_grant;
    if (iothread) {
        dp->iothread = iothread;
        object_ref(OBJECT(iothread));
        dp->ctx = iothread_get_aio_context(iothread);
    } else {
        dp->ctx = qemu_get_aio_context();
    }
    dp->bh = aio_bh_new_guarded(dp->ctx, xen_pvscsi_bh, dp,
                                &DEVICE(xendev)->mem_reentrancy_guard);
    return dp;
}

void xen_pvscsi_dataplane_destroy(XenPVSCSIDataPlane *dp)
{
    if (!dp) {
        return;
    }
    xen_pvscsi_dataplane_stop(dp);
    qemu_bh_delete(dp->bh);
    if (dp->iothread) {
        object_unref(OBJECT(dp->iothread));
    }
    g_free(dp);
}
