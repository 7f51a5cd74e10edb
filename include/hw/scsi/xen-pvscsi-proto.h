/*
 * Xen PV SCSI (vscsiif) backend: the request engine.
 *
 * Decoding and validation of ring requests, SG-list building and response
 * encoding, kept apart from the XenDevice glue so that it can be unit
 * tested and fuzzed without Xen. Everything here treats its input as
 * hostile: no assertion depends on guest data.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_SCSI_XEN_PVSCSI_PROTO_H
#define HW_SCSI_XEN_PVSCSI_PROTO_H

#include "hw/xen/interface/io/vscsiif.h"

/* Ring entries on the single 4 KiB ring page (16). */
#define XEN_PVSCSI_RING_SIZE __CONST_RING_SIZE(vscsiif, VSCSIIF_PAGE_SIZE)

/*
 * Multi-page rings (blkif's scheme, seed 002): the backend offers
 * max-ring-page-order (and, for the older scheme, max-ring-pages); the
 * frontend picks ring-page-order (or num-ring-pages) and grants
 * ring-ref0..N-1, or the one ring-ref of a single page.
 */
#define XEN_PVSCSI_MAX_RING_PAGE_ORDER 4
#define XEN_PVSCSI_MAX_RING_PAGES (1u << XEN_PVSCSI_MAX_RING_PAGE_ORDER)
#define XEN_PVSCSI_MAX_RING_SIZE \
    __CONST_RING_SIZE(vscsiif, VSCSIIF_PAGE_SIZE * XEN_PVSCSI_MAX_RING_PAGES)

/*
 * The ring order a frontend asks for. @order/@pages: its ring-page-order
 * and num-ring-pages nodes, NULL when absent. Returns 0 and the order in
 * *@out, or -1 with *@why naming the problem (above @max_order, not a
 * power of two, the two nodes disagreeing).
 */
int xen_pvscsi_ring_order(const unsigned int *order, const unsigned int *pages,
                          unsigned int max_order, unsigned int *out,
                          const char **why);

/* Default and bounds of the advertised feature-sg-grant. */
#define XEN_PVSCSI_SG_GRANT_DEFAULT 128
#define XEN_PVSCSI_SG_GRANT_MIN     VSCSIIF_SG_TABLESIZE
#define XEN_PVSCSI_SG_GRANT_MAX     (VSCSIIF_SG_TABLESIZE * \
                                     VSCSIIF_SG_PER_PAGE)

typedef enum XenPVSCSIDataMode {
    XEN_PVSCSI_DATA_NONE,
    XEN_PVSCSI_DATA_TO_DEVICE,      /* guest -> device (write) */
    XEN_PVSCSI_DATA_FROM_DEVICE,    /* device -> guest (read) */
} XenPVSCSIDataMode;

/* A request after validation: a private copy, never re-read from the ring. */
typedef struct XenPVSCSIDecoded {
    vscsiif_request_t req;
    XenPVSCSIDataMode mode;
    bool indirect;          /* seg[] describes SG-list pages */
    unsigned int nr_segs;   /* entries of seg[] in use */
} XenPVSCSIDecoded;

/* One piece of a data transfer: a byte range of a granted guest page. */
typedef struct XenPVSCSICopySeg {
    uint32_t gref;
    uint16_t offset;
    uint16_t len;
    uint32_t buf_off;       /* offset in the window's host buffer */
} XenPVSCSICopySeg;

/*
 * Copy the ring slot once into @d and validate the header fields.
 * @max_sg is the advertised feature-sg-grant (0: indirect not offered).
 * Returns XEN_VSCSIIF_RSLT_HOST_OK or the host code to answer with, in which
 * case *@why names the problem (a static string, for the log).
 */
int xen_pvscsi_decode(const vscsiif_request_t *slot, XenPVSCSIDecoded *d,
                      unsigned int max_sg, const char **why);

/*
 * Validate the indirect SG-list page descriptors of @d and return the
 * number of SG elements they hold in *@nr_elems (at most @max_sg).
 */
int xen_pvscsi_check_indirect(const XenPVSCSIDecoded *d, unsigned int max_sg,
                              unsigned int *nr_elems, const char **why);

/*
 * Validate data elements (each within one 4 KiB page) and return the total
 * data length in *@total.
 */
int xen_pvscsi_check_elems(const vscsiif_segment_t *elems, unsigned int n,
                           uint64_t *total, const char **why);

/*
 * Map the byte window [@pos, @pos + @len) of a request's data, described by
 * @elems, onto copy segments. @out must have room for @n entries. Returns the
 * number of segments written; *@covered is the number of window bytes that
 * fall inside the data (less than @len if the window runs past the end).
 */
unsigned int xen_pvscsi_sg_window(const vscsiif_segment_t *elems,
                                  unsigned int n, uint64_t pos, uint32_t len,
                                  XenPVSCSICopySeg *out, uint32_t *covered);

/* QEMU SCSIHostStatus value -> XEN_VSCSIIF_RSLT_HOST_* (unknown: ERROR). */
uint8_t xen_pvscsi_host_code(int qemu_host_status);

/*
 * Host codes that Linux xen-scsifront turns into DID_ERROR, losing their
 * meaning (16-20: target failure, nexus failure/reservation conflict,
 * allocation failure, medium error, marginal path). The backend answers
 * those with a SCSI status and sense data instead, as QEMU does for HBAs
 * without a host byte (scsi_sense_from_host_status()).
 */
bool xen_pvscsi_host_as_status(uint8_t host);

/* Build the response to a CDB; sense beyond 96 bytes is dropped. */
void xen_pvscsi_encode_cdb(vscsiif_response_t *rsp, uint16_t rqid,
                           uint8_t host, uint8_t status,
                           const uint8_t *sense, size_t sense_len,
                           uint32_t residual);

/* Build the response to an ABORT or RESET. */
void xen_pvscsi_encode_tmf(vscsiif_response_t *rsp, uint16_t rqid,
                           bool success);

/*
 * Task management. A TMF covers the requests in flight it acts on: ABORT
 * the one whose rqid is its ref_rqid on the same channel/id/lun (unless
 * an earlier ABORT already has it), RESET every request of that LUN.
 * The TMF is answered only after every request it covers has been
 * answered: it holds a count per covered request plus one of its issuer,
 * and the release of the last count answers it.
 */
bool xen_pvscsi_tmf_covers(const vscsiif_request_t *tmf,
                           const vscsiif_request_t *req, bool aborted);

typedef struct XenPVSCSITmfOrder {
    unsigned int pending;
} XenPVSCSITmfOrder;

/* The issuer's own count. */
void xen_pvscsi_tmf_order_init(XenPVSCSITmfOrder *o);
/* One more count: a covered request, or the issuer again. */
void xen_pvscsi_tmf_order_hold(XenPVSCSITmfOrder *o);
/* Drop a count; true when it was the last: answer the TMF now. */
bool xen_pvscsi_tmf_order_release(XenPVSCSITmfOrder *o);

#endif /* HW_SCSI_XEN_PVSCSI_PROTO_H */
