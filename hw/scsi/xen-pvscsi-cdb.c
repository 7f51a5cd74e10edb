/*
 * xen-pvscsi: one CDB of the ring, from its data buffer to its response:
 * the data elements (direct or indirect), the SCSI request, the grant
 * copies of its data, and the SCSIBusInfo callbacks that complete it. All
 * of it runs in the dataplane's AioContext.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/rcu.h"
#include "block/block-common.h"
#include "hw/scsi/scsi.h"
#include "scsi/constants.h"
#include "scsi/utils.h"
#include "xen-pvscsi-dataplane-priv.h"
#include "trace.h"

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

/*
 * Answer a CDB and release its slot. A request of an earlier connection
 * (detached pool) is answered to nobody: its rqid means nothing on the
 * ring of today.
 */
void xen_pvscsi_finish(XenPVSCSIReq *r, uint8_t host, uint8_t status,
                       const uint8_t *sense, size_t sense_len)
{
    XenPVSCSIDataPlane *dp = r->dp;
    uint64_t residual = r->data_len > r->pos ? r->data_len - r->pos : 0;
    vscsiif_response_t *rsp;

    /* The device may know better (a short passthrough transfer). */
    residual = MAX(residual, MIN(r->dev_residual, r->data_len));
    trace_xen_pvscsi_complete(r, r->d.req.rqid, host, status, sense_len,
                              residual);
    rsp = r->pool->detached ? NULL : xen_pvscsi_next_response(dp);
    if (rsp) {
        xen_pvscsi_encode_cdb(rsp, r->d.req.rqid, host, status, sense,
                              sense_len, residual);
        xen_pvscsi_put_response(dp);
    }
    xen_pvscsi_put_req(r);
}

/*
 * Build in r->copy the grant copy of bytes [@pos, @pos + @len) of @r's
 * data between the guest's pages and @buf (which holds byte @pos at
 * offset 0). Returns the number of segments; *@covered: the bytes the
 * guest's buffer holds of that range.
 */
static unsigned int xen_pvscsi_copy_build(XenPVSCSIReq *r, uint8_t *buf,
                                          uint64_t pos, uint32_t len,
                                          bool to_domain, uint32_t *covered)
{
    unsigned int i, n;

    n = xen_pvscsi_sg_window(r->elems, r->nr_elems, pos, len, r->win,
                             covered);
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
    trace_xen_pvscsi_copy(r, r->d.req.rqid, to_domain, n, *covered);
    return n;
}

/* Copy one request's data now (bounce path), in one grant copy call */
static bool xen_pvscsi_copy(XenPVSCSIReq *r, uint8_t *buf, uint64_t pos,
                            uint32_t len, bool to_domain, uint32_t *covered,
                            Error **errp)
{
    unsigned int n = xen_pvscsi_copy_build(r, buf, pos, len, to_domain,
                                           covered);

    if (n) {
        xen_pvscsi_copy_grants(r->dp, to_domain, r->copy, n,
                                   errp);
    }
    return !*errp;
}

/*
 * Send the copies built for the requests of @q, as few calls as the
 * batch array allows, and pass each request with its result to @done.
 * A call that fails is retried request by request, so that only the
 * requests whose grants are bad fail (copies are idempotent).
 */
static void xen_pvscsi_send_batch(XenPVSCSIDataPlane *dp,
                                  XenPVSCSIReqList *q, bool to_domain,
                                  void (*done)(XenPVSCSIReq *r, bool ok))
{
    while (!QSIMPLEQ_EMPTY(q)) {
        XenPVSCSIReq *first = QSIMPLEQ_FIRST(q), *end, *r;
        XenDeviceGrantCopySegment *segs = first->copy;
        Error *local_err = NULL;
        unsigned int n = 0;

        for (end = first;
             end && n + end->nr_copy <= XEN_PVSCSI_BATCH_SEGS;
             end = QSIMPLEQ_NEXT(end, batch_next)) {
            n += end->nr_copy;
        }
        if (end == first) {
            /* More segments than the batch array: a call of its own */
            end = QSIMPLEQ_NEXT(first, batch_next);
            n = first->nr_copy;
        } else if (QSIMPLEQ_NEXT(first, batch_next) != end) {
            /* Several requests: one array for the call */
            segs = dp->batch;
            n = 0;
            for (r = first; r != end; r = QSIMPLEQ_NEXT(r, batch_next)) {
                memcpy(dp->batch + n, r->copy, r->nr_copy * sizeof(*r->copy));
                n += r->nr_copy;
            }
        }
        if (n) {
            xen_pvscsi_copy_grants(dp, to_domain, segs, n, &local_err);
        }
        error_free(local_err);
        while ((r = QSIMPLEQ_FIRST(q)) != end) {
            bool ok = !local_err;

            QSIMPLEQ_REMOVE_HEAD(q, batch_next);
            r->batched = false;
            if (!ok) {
                Error *err = NULL;

                xen_pvscsi_copy_grants(dp, to_domain, r->copy,
                                           r->nr_copy, &err);
                if (err) {
                    xen_pvscsi_guest_error(dp, "rqid %u: grant copy failed: "
                                           "%s", r->d.req.rqid,
                                           error_get_pretty(err));
                    error_free(err);
                } else {
                    ok = true;
                }
            }
            r->nr_copy = 0;
            done(r, ok);
        }
    }
}

/* Check the data elements of @r (direct, or read from its SG list) */
static bool xen_pvscsi_check_data(XenPVSCSIReq *r)
{
    const char *why = NULL;
    int host;

    host = xen_pvscsi_check_elems(r->elems, r->nr_elems, &r->data_len, &why);
    if (host) {
        trace_xen_pvscsi_request_bad(r->d.req.rqid, host, why);
        xen_pvscsi_guest_error(r->dp, "rqid %u: %s", r->d.req.rqid, why);
        r->data_len = 0;
        xen_pvscsi_finish(r, host, 0, NULL, 0);
        return false;
    }
    return true;
}

/*
 * Find the data elements of @r. Direct: in the request. Indirect: the
 * SG-list pages are read once into private memory, with those of the
 * other requests of this intake (one copy call at its end); @r goes on
 * from xen_pvscsi_sg_in_done(). Returns true if @r can go on now.
 */
static bool xen_pvscsi_map_data(XenPVSCSIReq *r)
{
    XenPVSCSIDataPlane *dp = r->dp;
    const char *why = NULL;
    unsigned int i, nr;
    size_t off = 0;
    int host;

    if (!r->d.indirect) {
        r->elems = r->d.req.seg;
        r->nr_elems = r->d.nr_segs;
        return xen_pvscsi_check_data(r);
    }
    host = xen_pvscsi_check_indirect(&r->d, dp->sg_grant, &nr, &why);
    if (host) {
        trace_xen_pvscsi_request_bad(r->d.req.rqid, host, why);
        xen_pvscsi_guest_error(dp, "rqid %u: %s", r->d.req.rqid, why);
        r->data_len = 0;
        xen_pvscsi_finish(r, host, 0, NULL, 0);
        return false;
    }
    for (i = 0; i < r->d.nr_segs; i++) {
        r->copy[i].source.foreign.ref = r->d.req.seg[i].gref;
        r->copy[i].source.foreign.offset = r->d.req.seg[i].offset;
        r->copy[i].dest.virt = (uint8_t *)r->ind + off;
        r->copy[i].len = r->d.req.seg[i].length;
        off += r->d.req.seg[i].length;
    }
    r->nr_copy = r->d.nr_segs;
    r->elems = r->ind;
    r->nr_elems = nr;
    r->batched = true;
    QSIMPLEQ_INSERT_TAIL(&dp->sg_in, r, batch_next);
    if (!dp->in_intake) {
        xen_pvscsi_flush_sg_in(dp);
    }
    return false;
}

/* The direction the guest gave for @r's data, as QEMU's SCSI layer has it */
static enum SCSIXferMode xen_pvscsi_xfer_mode(const XenPVSCSIReq *r)
{
    switch (r->d.mode) {
    case XEN_PVSCSI_DATA_TO_DEVICE:
        return SCSI_XFER_TO_DEV;
    case XEN_PVSCSI_DATA_FROM_DEVICE:
        return SCSI_XFER_FROM_DEV;
    default:
        return SCSI_XFER_NONE;
    }
}

/* Hand r->sreq, whose data is ready, to its LUN */
static void xen_pvscsi_cdb_go(XenPVSCSIReq *r)
{
    SCSIRequest *sreq = r->sreq;

    /* It may complete (and release its slot) before this returns */
    scsi_req_ref(sreq);
    if (scsi_req_enqueue(sreq)) {
        scsi_req_continue(sreq);
    }
    scsi_req_unref(sreq);
}

/* @r's data elements are known: hand it to its LUN */
static void xen_pvscsi_do_cdb_mapped(XenPVSCSIReq *r)
{
    XenPVSCSIDataPlane *dp = r->dp;
    const vscsiif_request_t *q = &r->d.req;
    SCSIDevice *sdev;
    SCSIRequest *sreq;
    enum SCSIXferMode want;
    size_t len;

    trace_xen_pvscsi_request(r, q->rqid, q->act, q->channel, q->id, q->lun,
                             q->cmnd[0], q->sc_data_direction, r->data_len);

    /* The request holds its device; RCU holds it until then. */
    WITH_RCU_READ_LOCK_GUARD() {
        sdev = xen_pvscsi_lun_find(dp, q->channel, q->id, q->lun);
        sreq = sdev ? scsi_req_new(sdev, q->rqid, q->lun, r->d.req.cmnd,
                                   q->cmd_len, r) : NULL;
    }
    if (!sreq) {
        /* The midlayer may probe LUNs that are not configured. */
        r->data_len = 0;
        xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_NO_CONNECT, 0, NULL, 0);
        return;
    }

    want = xen_pvscsi_xfer_mode(r);
    if (sreq->cmd.mode != SCSI_XFER_NONE &&
        (sreq->cmd.mode != want || sreq->cmd.xfer > r->data_len)) {
        xen_pvscsi_guest_error(dp, "rqid %u: opcode 0x%02x wants %zu bytes "
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
    /*
     * The device's own buffer when the data fits one: the SCSI device
     * then does its I/O on it directly, all at once (get_iov), and the
     * guest's pages are copied with one call for all the CDBs of a batch:
     * the writes' at the end of this intake, the reads' when they
     * complete. Otherwise the device's bounce buffer and transfer_data:
     * also for data that is not whole sectors (as that of most commands
     * the device answers itself), which a READ or WRITE would move as a
     * partial sector.
     */
    len = MIN(r->data_len, sreq->cmd.xfer);
    if (sreq->cmd.mode != SCSI_XFER_NONE &&
        QEMU_IS_ALIGNED(len, BDRV_SECTOR_SIZE) &&
        xen_pvscsi_buf_get(r, len) &&
        sreq->cmd.mode == SCSI_XFER_TO_DEV) {
        uint32_t covered;

        r->nr_copy = xen_pvscsi_copy_build(r, xen_pvscsi_buf_ptr(r), 0,
                                           r->qiov.size, false, &covered);
        r->batched = true;
        QSIMPLEQ_INSERT_TAIL(&dp->copy_in, r, batch_next);
        if (!dp->in_intake) {
            xen_pvscsi_flush_copy_in(dp);
        }
        return;
    }
    xen_pvscsi_cdb_go(r);
}

void xen_pvscsi_do_cdb(XenPVSCSIReq *r)
{
    if (xen_pvscsi_map_data(r)) {
        xen_pvscsi_do_cdb_mapped(r);
    }
}

static void xen_pvscsi_sg_in_done(XenPVSCSIReq *r, bool ok)
{
    if (!ok) {
        r->data_len = 0;
        xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_ERROR, 0, NULL, 0);
        return;
    }
    if (xen_pvscsi_check_data(r)) {
        xen_pvscsi_do_cdb_mapped(r);
    }
}

void xen_pvscsi_flush_sg_in(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;

    xen_pvscsi_send_batch(dp, &dp->sg_in, false, xen_pvscsi_sg_in_done);
}

static void xen_pvscsi_copy_in_done(XenPVSCSIReq *r, bool ok)
{
    if (!ok) {
        r->data_len = 0;
        xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_ERROR, 0, NULL, 0);
        return;
    }
    xen_pvscsi_cdb_go(r);
}

void xen_pvscsi_flush_copy_in(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;

    xen_pvscsi_send_batch(dp, &dp->copy_in, false, xen_pvscsi_copy_in_done);
}

/* SCSIBusInfo callbacks (the request's AioContext is the ring's) */

int xen_pvscsi_parse_cdb(SCSIDevice *dev, SCSICommand *cmd,
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
    cmd->mode = xen_pvscsi_xfer_mode(r);
    if (cmd->mode == SCSI_XFER_NONE) {
        cmd->xfer = 0;
    }
    return 0;
}

QEMUIOVector *xen_pvscsi_get_iov(SCSIRequest *sreq)
{
    XenPVSCSIReq *r = sreq->hba_private;

    return r && r->buf >= 0 ? &r->qiov : NULL;
}

/* The bounce path: @len bytes of the device's buffer at r->pos */
void xen_pvscsi_transfer_data(SCSIRequest *sreq, uint32_t len)
{
    XenPVSCSIReq *r = sreq->hba_private;
    XenPVSCSIDataPlane *dp;
    uint32_t covered;
    Error *local_err = NULL;

    if (!r) {
        return;
    }
    dp = r->dp;
    trace_xen_pvscsi_transfer(r, r->d.req.rqid, r->pos, len);
    if (r->pool->detached) {
        /* Its frontend is gone: no guest memory is touched any more. */
        scsi_req_cancel_async(sreq, NULL);
        return;
    }

    if (!xen_pvscsi_copy(r, scsi_req_get_buf(sreq), r->pos, len,
                         r->d.mode == XEN_PVSCSI_DATA_FROM_DEVICE, &covered,
                         &local_err)) {
        xen_pvscsi_guest_error(dp, "rqid %u: grant copy failed: %s",
                               r->d.req.rqid, error_get_pretty(local_err));
        error_free(local_err);
        r->fail_host = XEN_VSCSIIF_RSLT_HOST_ERROR;
        scsi_req_cancel_async(sreq, NULL);
        return;
    }
    if (covered < len) {
        /* The device wants more than the guest's buffer holds. */
        xen_pvscsi_guest_error(dp, "rqid %u: data buffer of %" PRIu64
                               " bytes too short for the command",
                               r->d.req.rqid, r->data_len);
        r->fail_host = XEN_VSCSIIF_RSLT_HOST_ERROR;
        scsi_req_cancel_async(sreq, NULL);
        return;
    }
    r->pos += covered;
    scsi_req_continue(sreq);
}

/* Answer a CDB the device completed (its data is where it belongs) */
static void xen_pvscsi_complete_now(XenPVSCSIReq *r, size_t residual)
{
    SCSIRequest *sreq = r->sreq;

    r->dev_residual = residual;
    if (sreq->status != GOOD && sreq->sense_len) {
        /* Only here: every local array costs a zeroing at its start */
        uint8_t fixed[SCSI_SENSE_BUF_SIZE];
        uint8_t sense[VSCSIIF_SENSE_BUFFERSIZE];
        size_t sense_len;

        /*
         * The guest gets the sense data as the device returned it
         * (descriptor format stays descriptor format);
         * scsi_req_get_sense() is still called for its unit attention
         * bookkeeping.
         */
        scsi_req_get_sense(sreq, fixed, sizeof(fixed));
        sense_len = MIN(sreq->sense_len, sizeof(sense));
        memcpy(sense, sreq->sense, sense_len);
        xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_OK, sreq->status & 0xff,
                          sense, sense_len);
        return;
    }
    xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_OK, sreq->status & 0xff,
                      NULL, 0);
}

static void xen_pvscsi_copy_out_done(XenPVSCSIReq *r, bool ok)
{
    r->dp->nr_copy_out--;
    if (!ok) {
        xen_pvscsi_finish(r, XEN_VSCSIIF_RSLT_HOST_ERROR, 0, NULL, 0);
        return;
    }
    xen_pvscsi_complete_now(r, r->done_residual);
}

void xen_pvscsi_flush_copy_out(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;
    bool outer = !dp->in_flush;

    /* Flushed before flush_bh ran (or by it): it would find nothing */
    xen_pvscsi_cancel_flush(dp);

    dp->in_flush = true;
    xen_pvscsi_send_batch(dp, &dp->copy_out, true, xen_pvscsi_copy_out_done);
    if (outer) {
        xen_pvscsi_flush_end(dp);
    }
}

/*
 * The reads completed by one event loop callback are copied out together:
 * at the end of its defer_call section (linux-aio, io_uring and the
 * thread pool complete a batch in one), or, when it has none (completions
 * from a BH each, as null-co's), from a BH after the batch of BHs.
 */
static void xen_pvscsi_copy_out_deferred(void *opaque)
{
    XenPVSCSIDataPlane *dp = opaque;

    if (dp->in_complete) {
        if (!xen_pvscsi_nothing_to_gather(dp, 0)) {
            /* Called at once: not in a defer_call section */
            xen_pvscsi_schedule_flush(dp);
            return;
        }
        /* Push with the copy-out too (the caller sets it back) */
        dp->in_complete = false;
    }
    xen_pvscsi_flush_copy_out(dp);
}

void xen_pvscsi_command_complete(SCSIRequest *sreq, size_t residual)
{
    XenPVSCSIReq *r = sreq->hba_private;

    if (!r) {
        return;
    }
    if (r->fail_host) {
        xen_pvscsi_finish(r, r->fail_host, 0, NULL, 0);
        return;
    }
    if (r->buf >= 0) {
        /* What the device moved through the buffer */
        uint32_t moved = MIN(r->qiov.size, sreq->cmd.xfer > residual ?
                                          sreq->cmd.xfer - residual : 0);

        if (r->d.mode == XEN_PVSCSI_DATA_FROM_DEVICE && moved &&
            !r->pool->detached) {
            /* Copied out with the other reads of this event loop pass */
            r->nr_copy = xen_pvscsi_copy_build(r, xen_pvscsi_buf_ptr(r), 0,
                                               moved, true, &moved);
            r->pos = moved;
            r->done_residual = residual;
            XenPVSCSIDataPlane *dp = r->dp;

            r->batched = true;
            QSIMPLEQ_INSERT_TAIL(&dp->copy_out, r, batch_next);
            dp->nr_copy_out++;
            xen_pvscsi_complete_deferred(dp, xen_pvscsi_copy_out_deferred, 0);
            return;
        }
        r->pos = moved;
    }
    xen_pvscsi_complete_now(r, residual);
}

void xen_pvscsi_command_failed(SCSIRequest *sreq)
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

void xen_pvscsi_request_cancelled(SCSIRequest *sreq)
{
    XenPVSCSIReq *r = sreq->hba_private;
    uint8_t host;

    if (!r || r->batched) {
        /*
         * Batched: it completed and waits for its copy-out, which
         * answers it (a RESET's timer may cancel it in between).
         */
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
