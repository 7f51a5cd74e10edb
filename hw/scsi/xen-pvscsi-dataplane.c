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
#include "qemu/rcu.h"
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
    trace_xen_pvscsi_notify(dp->name, dp->ring.rsp_prod_pvt);
    if (notify) {
        Error *local_err = NULL;

        dp->transport->notify(dp->transport_opaque, &local_err);
        if (local_err) {
            error_report_err(local_err);
        }
    }
}

static void xen_pvscsi_push_deferred(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;

    if (!dp->ring_ok || !dp->rsp_pending || dp->in_intake || dp->in_flush) {
        return;
    }
    if (dp->in_complete) {
        if (!xen_pvscsi_nothing_to_gather(dp, 1)) {
            /*
             * Called at once: no defer_call section around this
             * completion (completions from BHs each). Push after this
             * batch of BHs.
             */
            xen_pvscsi_schedule_flush(dp);
            return;
        }
        if (QSIMPLEQ_EMPTY(&dp->copy_out)) {
            /* What an earlier completion scheduled it for is done now */
            xen_pvscsi_cancel_flush(dp);
        }
    }
    xen_pvscsi_push_responses(dp);
    if (dp->intake_stalled) {
        /* A slot is free again: take the requests we had to leave. */
        qemu_bh_schedule(dp->bh);
    }
}

/*
 * The ring slot of the next response, built there by the caller (no copy
 * on the stack first); NULL when the ring is gone.
 */
vscsiif_response_t *xen_pvscsi_next_response(XenPVSCSIDataPlane *dp)
{
    if (!dp->ring_ok) {
        return NULL;
    }
    return RING_GET_RESPONSE(&dp->ring, dp->ring.rsp_prod_pvt);
}

/*
 * Queue the response built in xen_pvscsi_next_response()'s slot.
 * Responses are pushed once per batch: at the end of the intake or of a
 * flush that wrote them, or at the end of the event loop callback that
 * completed them (defer_call: at once when there is no such section).
 */
void xen_pvscsi_put_response(XenPVSCSIDataPlane *dp)
{
    dp->ring.rsp_prod_pvt++;
    dp->rsp_pending = true;
    if (!dp->in_intake && !dp->in_flush) {
        xen_pvscsi_complete_deferred(dp, xen_pvscsi_push_deferred, 1);
    }
}

void xen_pvscsi_cancel_flush(XenPVSCSIDataPlane *dp)
{
    if (dp->flush_scheduled) {
        /* An idle run of it would cost a loop iteration */
        qemu_bh_cancel(dp->flush_bh);
        dp->flush_scheduled = false;
    }
}

void xen_pvscsi_schedule_flush(XenPVSCSIDataPlane *dp)
{
    /* Once per batch: each qemu_bh_schedule() notifies the event loop */
    if (!dp->flush_scheduled) {
        dp->flush_scheduled = true;
        qemu_bh_schedule(dp->flush_bh);
    }
}

/* The end of a flush of gathered copies */
void xen_pvscsi_flush_end(XenPVSCSIDataPlane *dp)
{
    dp->in_flush = false;
    xen_pvscsi_push_deferred(dp);
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
        r->buf = -1;
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

bool xen_pvscsi_buf_get(XenPVSCSIReq *r, size_t len)
{
    XenPVSCSIBufs *bufs = r->dp->bufs;

    if (!bufs || !len || len > bufs->buf_size || !bufs->nr_free) {
        return false;
    }
    r->buf = bufs->free[--bufs->nr_free];
    /* One iovec that the request owns: no allocation, nothing to destroy */
    qemu_iovec_init_buf(&r->qiov, xen_pvscsi_buf_ptr(r), len);
    return true;
}

/*
 * Data buffers for a ring of up to @nr_slots slots with CDBs of up to
 * @max_elems pages. The arena is reserved, not committed: a guest that
 * only sends small requests populates a page per slot.
 */
static XenPVSCSIBufs *xen_pvscsi_bufs_new(XenPVSCSIDataPlane *dp,
                                          unsigned int nr_slots,
                                          unsigned int max_elems)
{
    XenPVSCSIBufs *bufs = g_new0(XenPVSCSIBufs, 1);
    unsigned int i;
    void *p;

    bufs->nr = nr_slots;
    bufs->buf_size = (size_t)MIN(max_elems, XEN_PVSCSI_BUF_MAX_PAGES) *
                     XEN_PAGE_SIZE;
    bufs->size = bufs->nr * bufs->buf_size;
    p = mmap(NULL, bufs->size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        /* Not fatal: every CDB takes the bounce path. */
        warn_report("xen-pvscsi: vhost %s: cannot reserve %zu bytes for "
                    "data buffers: %s", dp->name, bufs->size,
                    strerror(errno));
        g_free(bufs);
        return NULL;
    }
    bufs->base = p;
    bufs->free = g_new(unsigned int, bufs->nr);
    for (i = 0; i < bufs->nr; i++) {
        bufs->free[i] = bufs->nr - 1 - i;
    }
    bufs->nr_free = bufs->nr;
    return bufs;
}

/*
 * No request uses a buffer any more: the device's LUNs, unrealized
 * before it, waited for theirs.
 */
static void xen_pvscsi_bufs_destroy(XenPVSCSIBufs *bufs)
{
    if (bufs) {
        munmap(bufs->base, bufs->size);
        g_free(bufs->free);
        g_free(bufs);
    }
}

void xen_pvscsi_put_req(XenPVSCSIReq *r)
{
    XenPVSCSIPool *pool = r->pool;

    if (r->sreq) {
        r->sreq->hba_private = NULL;
        scsi_req_unref(r->sreq);
        r->sreq = NULL;
    }
    if (r->buf >= 0) {
        XenPVSCSIBufs *bufs = r->dp->bufs;

        bufs->free[bufs->nr_free++] = r->buf;
        r->buf = -1;
    }
    QTAILQ_REMOVE(&pool->inflight, r, next);
    QTAILQ_INSERT_HEAD(&pool->free_reqs, r, next);
    pool->nr_inflight--;
    xen_pvscsi_pool_maybe_free(pool);
}


/*
 * Under RCU: the LUN at channel:id:lun, or NULL: not configured, or on its
 * way out (its removal waits for requests to finish).
 */
SCSIDevice *xen_pvscsi_lun_find(XenPVSCSIDataPlane *dp, unsigned int channel,
                                unsigned int id, unsigned int lun)
{
    SCSIDevice **target, *sdev;

    if (channel > XEN_PVSCSI_MAX_CHANNEL || id > XEN_PVSCSI_MAX_TARGET ||
        lun > XEN_PVSCSI_MAX_LUN) {
        return NULL;
    }
    target = qatomic_rcu_read(&dp->luns[id]);
    if (!target) {
        return NULL;
    }
    sdev = qatomic_rcu_read(&target[lun]);
    /* As scsi_device_get(): plugged, but not usable before it is realized */
    return sdev && qdev_is_realized(&sdev->qdev) ? sdev : NULL;
}

/* The LUN at channel:id:lun, referenced, or NULL (xen_pvscsi_lun_find()) */
SCSIDevice *xen_pvscsi_device_get(XenPVSCSIDataPlane *dp,
                                  unsigned int channel, unsigned int id,
                                  unsigned int lun)
{
    SCSIDevice *sdev;

    RCU_READ_LOCK_GUARD();
    sdev = xen_pvscsi_lun_find(dp, channel, id, lun);
    if (sdev) {
        object_ref(OBJECT(sdev));
    }
    return sdev;
}

/*
 * An ABORT or RESET. A function of its own: its copy of the request, a
 * local array, would be zeroed at every CDB's submission otherwise.
 */
static void xen_pvscsi_submit_tmf(XenPVSCSIDataPlane *dp, XenPVSCSIReq *r)
{
    vscsiif_request_t tmf_req = r->d.req;

    /* TMFs do not hold a CDB slot while they wait. */
    xen_pvscsi_put_req(r);
    /*
     * A TMF acts on SCSI requests: none may wait in a copy batch, neither
     * before it goes to its LUN nor after it completed.
     */
    xen_pvscsi_flush_sg_in(dp);
    xen_pvscsi_flush_copy_in(dp);
    xen_pvscsi_flush_copy_out(dp);
    if (tmf_req.act == VSCSIIF_ACT_SCSI_ABORT) {
        xen_pvscsi_do_abort(dp, &tmf_req);
    } else {
        xen_pvscsi_do_reset(dp, &tmf_req);
    }
}

static void xen_pvscsi_submit(XenPVSCSIDataPlane *dp, XenPVSCSIReq *r)
{
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
    } else {
        xen_pvscsi_submit_tmf(dp, r);
    }
}

static bool xen_pvscsi_handle_requests(XenPVSCSIDataPlane *dp)
{
    unsigned int budget = XEN_PVSCSI_BATCH;
    bool progress = false;
    bool more_later = false;
    bool deferring = false;
    RING_IDX rp;
    int more = 0;

    if (!dp->ring_ok || dp->halted || dp->in_intake) {
        return false;
    }

    dp->in_intake = true;
    dp->intake_stalled = false;
    do {
        rp = dp->ring.sring->req_prod;
        xen_rmb(); /* see the requests up to rp */
        trace_xen_pvscsi_ring(dp->name, rp, dp->ring.req_cons,
                              dp->ring.rsp_prod_pvt);

        if (RING_REQUEST_PROD_OVERFLOW(&dp->ring, rp)) {
            error_report("xen-pvscsi: dom%u vhost %s: bogus ring request "
                         "producer %u (consumer %u, responses %u): halting "
                         "this ring", dp->domid, dp->name,
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
            if (!deferring && (progress || rp - dp->ring.req_cons > 1)) {
                /*
                 * More than one request in this intake: their I/Os go to
                 * the block layer together (one io_submit). A request
                 * taken alone goes at once, in its coroutine: a
                 * defer_call section would cost its array entries and
                 * two more coroutine switches (the coroutine waits for
                 * the submission at the section's end).
                 */
                defer_call_begin();
                deferring = true;
            }
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
        if (qatomic_read(&dp->polled)) {
            /* No notification needed: polling looks again. */
            more = RING_HAS_UNCONSUMED_REQUESTS(&dp->ring);
        } else {
            RING_FINAL_CHECK_FOR_REQUESTS(&dp->ring, more);
        }
    } while (more && !dp->halted);
    /*
     * Gathered above: the SG lists of indirect requests, then the data of
     * writes; then they go to their LUNs.
     */
    xen_pvscsi_flush_sg_in(dp);
    xen_pvscsi_flush_copy_in(dp);
    if (deferring) {
        defer_call_end();
    }
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

/*
 * For an AioContext that polls: is there something for the intake?
 * Without side effects. Nothing while the ring waits for a free slot (a
 * response kicks the intake then) or is halted.
 */
static bool xen_pvscsi_has_work(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;

    return dp->ring_ok && !dp->halted && !dp->intake_stalled &&
           RING_HAS_UNCONSUMED_REQUESTS(&dp->ring);
}

/*
 * ctx starts polling the ring: leave req_event where it is from now on.
 * At most one more notification comes, for the request that reaches the
 * index it was armed for.
 */
static void xen_pvscsi_poll_begin(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;

    qatomic_set(&dp->polled, true);
}

/*
 * ctx stops polling and is about to wait for the event channel: arm
 * req_event again. ctx then checks the ring once more (has_work), so a
 * request pushed before the frontend could see req_event is not missed.
 */
static void xen_pvscsi_poll_end(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;

    qatomic_set(&dp->polled, false);
    if (dp->ring_ok && !dp->halted) {
        dp->ring.sring->req_event = dp->ring.req_cons + 1;
        xen_mb(); /* req_event before has_work reads req_prod */
        trace_xen_pvscsi_poll_end(dp->name, dp->ring.req_cons + 1);
    }
}

static void xen_pvscsi_kick_poll_begin(EventNotifier *e)
{
    xen_pvscsi_poll_begin(container_of(e, XenPVSCSIDataPlane, kick));
}

static void xen_pvscsi_kick_poll_end(EventNotifier *e)
{
    xen_pvscsi_poll_end(container_of(e, XenPVSCSIDataPlane, kick));
}

static void xen_pvscsi_stop_in_ctx(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;
    XenPVSCSIPool *pool = dp->pool;
    XenPVSCSIReq *r, *tmp;

    /* Reads gathered for a copy-out that has not run yet (nested loop) */
    xen_pvscsi_flush_copy_out(dp);
    qemu_bh_cancel(dp->flush_bh);
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

static void xen_pvscsi_kick_read(EventNotifier *e)
{
    XenPVSCSIDataPlane *dp = container_of(e, XenPVSCSIDataPlane, kick);

    if (event_notifier_test_and_clear(e)) {
        xen_pvscsi_handle_requests(dp);
    }
}

static bool xen_pvscsi_kick_poll(void *opaque)
{
    XenPVSCSIDataPlane *dp = container_of(opaque, XenPVSCSIDataPlane, kick);

    return xen_pvscsi_has_work(dp);
}

static void xen_pvscsi_kick_poll_ready(EventNotifier *e)
{
    xen_pvscsi_handle_requests(container_of(e, XenPVSCSIDataPlane, kick));
}

/*
 * Attach (@on) or detach the ring's event handler in ctx. A handler
 * detached while ctx polled did not see polling end: req_event may not be
 * armed, so the intake runs once after attaching (and arms it).
 */
static void xen_pvscsi_attach(XenPVSCSIDataPlane *dp, bool on)
{
    if (on) {
        /* Not polled until ctx says so (no handler in ctx yet). */
        qatomic_set(&dp->polled, false);
    }
    if (dp->xendev) {
        xen_device_set_event_channel_context(dp->xendev, dp->event_channel,
                                             on ? dp->ctx : NULL,
                                             &error_abort);
    } else if (on) {
        aio_set_event_notifier(dp->ctx, &dp->kick, xen_pvscsi_kick_read,
                               xen_pvscsi_kick_poll,
                               xen_pvscsi_kick_poll_ready);
        aio_set_event_notifier_poll(dp->ctx, &dp->kick,
                                    xen_pvscsi_kick_poll_begin,
                                    xen_pvscsi_kick_poll_end);
    } else {
        aio_set_event_notifier(dp->ctx, &dp->kick, NULL, NULL, NULL);
    }
    if (on) {
        qemu_bh_schedule(dp->bh);
    }
}

EventNotifier *xen_pvscsi_dataplane_loopback_start(XenPVSCSIDataPlane *dp,
                                                   void *sring,
                                                   unsigned int nr_pages)
{
    assert(!dp->xendev && !dp->started);
    event_notifier_init(&dp->kick, false);
    dp->sring = sring;
    BACK_RING_INIT(&dp->ring, (vscsiif_sring_t *)sring,
                   XEN_PAGE_SIZE * nr_pages);
    dp->pool = xen_pvscsi_pool_new(dp);
    dp->gen++;
    dp->halted = false;
    dp->ring_ok = true;
    dp->started = true;
    dp->loopback_started = true;
    xen_pvscsi_attach(dp, true);
    return &dp->kick;
}

static void xen_pvscsi_loopback_stop(XenPVSCSIDataPlane *dp)
{
    if (!dp->loopback_started) {
        return;
    }
    dp->started = false;
    xen_pvscsi_attach(dp, false);
    aio_wait_bh_oneshot(dp->ctx, xen_pvscsi_stop_in_ctx, dp);
    event_notifier_cleanup(&dp->kick);
    dp->sring = NULL;
    dp->loopback_started = false;
}

void xen_pvscsi_dataplane_stop(XenPVSCSIDataPlane *dp)
{
    XenDevice *xendev = dp->xendev;
    Error *local_err = NULL;

    if (!xendev) {
        xen_pvscsi_loopback_stop(dp);
        return;
    }
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
    xen_device_set_event_channel_poll(xendev, dp->event_channel,
                                      xen_pvscsi_has_work);
    xen_device_set_event_channel_poll_notify(xendev, dp->event_channel,
                                             xen_pvscsi_poll_begin,
                                             xen_pvscsi_poll_end);
    /* ctx does not run for us yet: the handler is attached below. */
    dp->pool = xen_pvscsi_pool_new(dp);
    dp->gen++;
    dp->halted = false;
    dp->polled = false;
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
        xen_pvscsi_attach(dp, false);
    }
}

void xen_pvscsi_dataplane_drained_end(XenPVSCSIDataPlane *dp)
{
    /*
     * Not while a stop is taking the channel down: it detached the
     * handler and is about to unbind the channel.
     */
    if (xen_pvscsi_dataplane_is_started(dp)) {
        xen_pvscsi_attach(dp, true);
    }
}

void xen_pvscsi_dataplane_set_reachable(XenPVSCSIDataPlane *dp,
                                        SCSIDevice *sdev, bool reachable)
{
    SCSIDevice **target;

    if (!dp) {
        return;     /* unrealized: the ring is gone */
    }
    if (sdev->channel > XEN_PVSCSI_MAX_CHANNEL ||
        sdev->id > XEN_PVSCSI_MAX_TARGET || sdev->lun > XEN_PVSCSI_MAX_LUN) {
        return;     /* refused by the bus's limits before it gets here */
    }
    target = dp->luns[sdev->id];
    if (!target) {
        if (!reachable) {
            return;
        }
        target = g_new0(SCSIDevice *, XEN_PVSCSI_MAX_LUN + 1);
        qatomic_rcu_set(&dp->luns[sdev->id], target);
    }
    if (reachable) {
        qatomic_rcu_set(&target[sdev->lun], sdev);
    } else if (target[sdev->lun] == sdev) {
        qatomic_set(&target[sdev->lun], NULL);
    }
}

/* The Xen transport: grant copies and the event channel */
static void xen_pvscsi_xen_copy(void *opaque, bool to_domain,
                                XenDeviceGrantCopySegment *segs,
                                unsigned int n, Error **errp)
{
    XenPVSCSIDataPlane *dp = opaque;

    xen_device_copy_grant_refs(dp->xendev, to_domain, segs, n, errp);
}

static void xen_pvscsi_xen_notify(void *opaque, Error **errp)
{
    XenPVSCSIDataPlane *dp = opaque;

    xen_device_notify_event_channel(dp->xendev, dp->event_channel, errp);
}

static const XenPVSCSITransport xen_pvscsi_xen_transport = {
    .copy = xen_pvscsi_xen_copy,
    .notify = xen_pvscsi_xen_notify,
};

XenPVSCSIDataPlane *xen_pvscsi_dataplane_create(XenDevice *xendev,
                                                SCSIBus *bus,
                                                unsigned int sg_grant,
                                                unsigned int max_ring_order,
                                                IOThread *iothread)
{
    XenPVSCSIDataPlane *dp;

    dp = xen_pvscsi_dataplane_create_loopback(DEVICE(xendev), xendev->name,
                                              bus, sg_grant, max_ring_order,
                                              iothread,
                                              &xen_pvscsi_xen_transport,
                                              NULL);
    dp->xendev = xendev;
    dp->domid = xendev->frontend_id;
    dp->transport_opaque = dp;
    return dp;
}

XenPVSCSIDataPlane *xen_pvscsi_dataplane_create_loopback(
    DeviceState *dev, const char *name, SCSIBus *bus, unsigned int sg_grant,
    unsigned int max_ring_order, IOThread *iothread,
    const XenPVSCSITransport *transport, void *opaque)
{
    XenPVSCSIDataPlane *dp = g_new0(XenPVSCSIDataPlane, 1);

    dp->dev = dev;
    dp->name = name;
    dp->transport = transport;
    dp->transport_opaque = opaque;
    dp->bus = bus;
    dp->sg_grant = sg_grant;
    QSIMPLEQ_INIT(&dp->sg_in);
    QSIMPLEQ_INIT(&dp->copy_in);
    QSIMPLEQ_INIT(&dp->copy_out);
    dp->batch = g_new(XenDeviceGrantCopySegment, XEN_PVSCSI_BATCH_SEGS);
    dp->bufs = xen_pvscsi_bufs_new(dp, __CONST_RING_SIZE(vscsiif,
                                       XEN_PAGE_SIZE << max_ring_order),
                                   MAX(sg_grant, VSCSIIF_SG_TABLESIZE));
    if (iothread) {
        dp->iothread = iothread;
        object_ref(OBJECT(iothread));
        dp->ctx = iothread_get_aio_context(iothread);
    } else {
        dp->ctx = qemu_get_aio_context();
    }
    dp->bh = aio_bh_new_guarded(dp->ctx, xen_pvscsi_bh, dp,
                                &dev->mem_reentrancy_guard);
    dp->flush_bh = aio_bh_new_guarded(dp->ctx, xen_pvscsi_flush_copy_out, dp,
                                      &dev->mem_reentrancy_guard);
    return dp;
}

void xen_pvscsi_dataplane_destroy(XenPVSCSIDataPlane *dp)
{
    unsigned int i;

    if (!dp) {
        return;
    }
    xen_pvscsi_dataplane_stop(dp);
    qemu_bh_delete(dp->bh);
    qemu_bh_delete(dp->flush_bh);
    xen_pvscsi_bufs_destroy(dp->bufs);
    g_free(dp->batch);
    for (i = 0; i < ARRAY_SIZE(dp->luns); i++) {
        g_free(dp->luns[i]);
    }
    if (dp->iothread) {
        object_unref(OBJECT(dp->iothread));
    }
    g_free(dp);
}
