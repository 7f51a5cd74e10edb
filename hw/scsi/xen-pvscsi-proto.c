/*
 * Xen PV SCSI (vscsiif) backend: the request engine.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "hw/scsi/xen-pvscsi-proto.h"

QEMU_BUILD_BUG_ON(sizeof(vscsiif_request_t) != 252);
QEMU_BUILD_BUG_ON(sizeof(vscsiif_response_t) != 252);
QEMU_BUILD_BUG_ON(sizeof(vscsiif_segment_t) != 8);
QEMU_BUILD_BUG_ON(offsetof(vscsiif_request_t, seg) != 32);
QEMU_BUILD_BUG_ON(offsetof(vscsiif_response_t, rslt) != 100);
QEMU_BUILD_BUG_ON(XEN_PVSCSI_RING_SIZE != 16);
QEMU_BUILD_BUG_ON(XEN_PVSCSI_MAX_RING_SIZE != 256);

int xen_pvscsi_ring_order(const unsigned int *order, const unsigned int *pages,
                          unsigned int max_order, unsigned int *out,
                          const char **why)
{
    unsigned int o = 0;

    *why = NULL;
    if (pages) {
        if (!*pages || (*pages & (*pages - 1))) {
            *why = "num-ring-pages is not a power of two";
            return -1;
        }
        o = ctz32(*pages);
    }
    if (order) {
        if (pages && *order != o) {
            *why = "ring-page-order and num-ring-pages disagree";
            return -1;
        }
        o = *order;
    }
    if (o > max_order) {
        *why = "ring-page-order above max-ring-page-order";
        return -1;
    }
    *out = o;
    return 0;
}

int xen_pvscsi_decode(const vscsiif_request_t *slot, XenPVSCSIDecoded *d,
                      unsigned int max_sg, const char **why)
{
    const vscsiif_request_t *req = &d->req;
    unsigned int nr;

    /* The one and only read of the shared slot (XSA-155). */
    memcpy(&d->req, slot, sizeof(d->req));
    d->mode = XEN_PVSCSI_DATA_NONE;
    d->indirect = false;
    d->nr_segs = 0;
    *why = NULL;

    switch (req->act) {
    case VSCSIIF_ACT_SCSI_CDB:
        break;
    case VSCSIIF_ACT_SCSI_ABORT:
    case VSCSIIF_ACT_SCSI_RESET:
        /* cmnd, direction and segments of a TMF are not used. */
        return XEN_VSCSIIF_RSLT_HOST_OK;
    default:
        *why = "invalid act";
        return XEN_VSCSIIF_RSLT_HOST_ERROR;
    }

    if (req->cmd_len == 0 || req->cmd_len > VSCSIIF_MAX_COMMAND_SIZE) {
        *why = "cmd_len out of range";
        return XEN_VSCSIIF_RSLT_HOST_ERROR;
    }

    switch (req->sc_data_direction) {
    case VSCSIIF_DIR_TO_DEVICE:
        d->mode = XEN_PVSCSI_DATA_TO_DEVICE;
        break;
    case VSCSIIF_DIR_FROM_DEVICE:
        d->mode = XEN_PVSCSI_DATA_FROM_DEVICE;
        break;
    case VSCSIIF_DIR_NONE:
        d->mode = XEN_PVSCSI_DATA_NONE;
        break;
    case VSCSIIF_DIR_BIDIRECTIONAL:
        *why = "bidirectional transfers are not supported";
        return XEN_VSCSIIF_RSLT_HOST_ERROR;
    default:
        *why = "invalid sc_data_direction";
        return XEN_VSCSIIF_RSLT_HOST_ERROR;
    }

    nr = req->nr_segments & ~VSCSIIF_SG_GRANT;
    if (req->nr_segments & VSCSIIF_SG_GRANT) {
        if (max_sg == 0) {
            *why = "indirect segments without feature-sg-grant";
            return XEN_VSCSIIF_RSLT_HOST_ERROR;
        }
        d->indirect = true;
    }
    if (nr > VSCSIIF_SG_TABLESIZE) {
        *why = "too many segments";
        return XEN_VSCSIIF_RSLT_HOST_ERROR;
    }
    if (nr && d->mode == XEN_PVSCSI_DATA_NONE) {
        *why = "segments given for a command without data";
        return XEN_VSCSIIF_RSLT_HOST_ERROR;
    }
    if (d->indirect && nr == 0) {
        *why = "indirect request without SG pages";
        return XEN_VSCSIIF_RSLT_HOST_ERROR;
    }
    d->nr_segs = nr;
    return XEN_VSCSIIF_RSLT_HOST_OK;
}

int xen_pvscsi_check_indirect(const XenPVSCSIDecoded *d, unsigned int max_sg,
                              unsigned int *nr_elems, const char **why)
{
    unsigned int i, total = 0;

    *nr_elems = 0;
    if (!d->indirect) {
        *why = "not an indirect request";
        return XEN_VSCSIIF_RSLT_HOST_ERROR;
    }
    for (i = 0; i < d->nr_segs && i < VSCSIIF_SG_TABLESIZE; i++) {
        const vscsiif_segment_t *s = &d->req.seg[i];

        if (s->length == 0 || s->length % sizeof(vscsiif_segment_t)) {
            *why = "SG-list page length not a multiple of the element size";
            return XEN_VSCSIIF_RSLT_HOST_ERROR;
        }
        if ((uint32_t)s->offset + s->length > VSCSIIF_PAGE_SIZE) {
            *why = "SG-list page range crosses the page end";
            return XEN_VSCSIIF_RSLT_HOST_ERROR;
        }
        total += s->length / sizeof(vscsiif_segment_t);
        if (total > max_sg) {
            *why = "more SG elements than feature-sg-grant";
            return XEN_VSCSIIF_RSLT_HOST_ERROR;
        }
    }
    *nr_elems = total;
    return XEN_VSCSIIF_RSLT_HOST_OK;
}

int xen_pvscsi_check_elems(const vscsiif_segment_t *elems, unsigned int n,
                           uint64_t *total, const char **why)
{
    uint64_t sum = 0;
    unsigned int i;

    for (i = 0; i < n; i++) {
        if ((uint32_t)elems[i].offset + elems[i].length > VSCSIIF_PAGE_SIZE) {
            *total = 0;
            *why = "data segment crosses the page end";
            return XEN_VSCSIIF_RSLT_HOST_ERROR;
        }
        sum += elems[i].length;
    }
    *total = sum;
    return XEN_VSCSIIF_RSLT_HOST_OK;
}

unsigned int xen_pvscsi_sg_window(const vscsiif_segment_t *elems,
                                  unsigned int n, uint64_t pos, uint32_t len,
                                  XenPVSCSICopySeg *out, uint32_t *covered)
{
    uint64_t start = 0;     /* data offset of elems[i] */
    uint32_t done = 0;
    unsigned int i, nout = 0;

    for (i = 0; i < n && done < len; i++) {
        uint64_t end = start + elems[i].length;

        if (end > pos + done) {
            uint32_t skip = pos + done - start;
            uint32_t take = MIN((uint64_t)elems[i].length - skip,
                                (uint64_t)len - done);

            out[nout].gref = elems[i].gref;
            out[nout].offset = elems[i].offset + skip;
            out[nout].len = take;
            out[nout].buf_off = done;
            nout++;
            done += take;
        }
        start = end;
    }
    *covered = done;
    return nout;
}

uint8_t xen_pvscsi_host_code(int qemu_host_status)
{
    /*
     * QEMU's SCSIHostStatus uses the same numbers as the vscsiif host codes
     * wherever it defines a value (include/scsi/utils.h); the glue checks
     * this at build time.
     */
    switch (qemu_host_status) {
    case XEN_VSCSIIF_RSLT_HOST_OK:
    case XEN_VSCSIIF_RSLT_HOST_NO_CONNECT:
    case XEN_VSCSIIF_RSLT_HOST_BUS_BUSY:
    case XEN_VSCSIIF_RSLT_HOST_TIME_OUT:
    case XEN_VSCSIIF_RSLT_HOST_BAD_TARGET:
    case XEN_VSCSIIF_RSLT_HOST_ABORT:
    case XEN_VSCSIIF_RSLT_HOST_ERROR:
    case XEN_VSCSIIF_RSLT_HOST_RESET:
    case XEN_VSCSIIF_RSLT_HOST_TRANSPORT_DISRUPTED:
    case XEN_VSCSIIF_RSLT_HOST_TARGET_FAILURE:
    case XEN_VSCSIIF_RSLT_HOST_NEXUS_FAILURE:
    case XEN_VSCSIIF_RSLT_HOST_ALLOC_FAILURE:
    case XEN_VSCSIIF_RSLT_HOST_MEDIUM_ERROR:
        return qemu_host_status;
    default:
        return XEN_VSCSIIF_RSLT_HOST_ERROR;
    }
}

bool xen_pvscsi_host_as_status(uint8_t host)
{
    switch (host) {
    case XEN_VSCSIIF_RSLT_HOST_TARGET_FAILURE:
    case XEN_VSCSIIF_RSLT_HOST_NEXUS_FAILURE:
    case XEN_VSCSIIF_RSLT_HOST_ALLOC_FAILURE:
    case XEN_VSCSIIF_RSLT_HOST_MEDIUM_ERROR:
    case XEN_VSCSIIF_RSLT_HOST_TRANSPORT_MARGINAL:
        return true;
    default:
        return false;
    }
}

void xen_pvscsi_encode_cdb(vscsiif_response_t *rsp, uint16_t rqid,
                           uint8_t host, uint8_t status,
                           const uint8_t *sense, size_t sense_len,
                           uint32_t residual)
{
    memset(rsp, 0, sizeof(*rsp));
    rsp->rqid = rqid;
    /* Bits 8-15 and 24-31 stay clear: old and new frontends agree then. */
    rsp->rslt = ((uint32_t)host << 16) | status;
    rsp->residual_len = residual;
    if (sense && sense_len) {
        sense_len = MIN(sense_len, VSCSIIF_SENSE_BUFFERSIZE);
        memcpy(rsp->sense_buffer, sense, sense_len);
        rsp->sense_len = sense_len;
    }
}

void xen_pvscsi_encode_tmf(vscsiif_response_t *rsp, uint16_t rqid,
                           bool success)
{
    memset(rsp, 0, sizeof(*rsp));
    rsp->rqid = rqid;
    rsp->rslt = success ? XEN_VSCSIIF_RSLT_RESET_SUCCESS :
                          XEN_VSCSIIF_RSLT_RESET_FAILED;
}

bool xen_pvscsi_tmf_covers(const vscsiif_request_t *tmf,
                           const vscsiif_request_t *req, bool aborted)
{
    if (req->act != VSCSIIF_ACT_SCSI_CDB || req->channel != tmf->channel ||
        req->id != tmf->id || req->lun != tmf->lun) {
        return false;
    }
    switch (tmf->act) {
    case VSCSIIF_ACT_SCSI_ABORT:
        return req->rqid == tmf->ref_rqid && !aborted;
    case VSCSIIF_ACT_SCSI_RESET:
        return true;
    default:
        return false;
    }
}

void xen_pvscsi_tmf_order_init(XenPVSCSITmfOrder *o)
{
    o->pending = 1;
}

void xen_pvscsi_tmf_order_hold(XenPVSCSITmfOrder *o)
{
    o->pending++;
}

bool xen_pvscsi_tmf_order_release(XenPVSCSITmfOrder *o)
{
    /* Never below zero: a stray release must not answer twice. */
    if (!o->pending) {
        return false;
    }
    return --o->pending == 0;
}
