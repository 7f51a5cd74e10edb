/* SPDX-License-Identifier: MIT */
/*
 * vscsiif: the Xen PV SCSI ring protocol (frontend <-> backend).
 *
 * Written for QEMU from the protocol as documented in Xen's public
 * io/vscsiif.h (unchanged since Xen 4.17). The wire layout is identical on
 * every ABI: all fields are naturally aligned and none is 64-bit.
 */

#ifndef XEN_PUBLIC_IO_VSCSIIF_H
#define XEN_PUBLIC_IO_VSCSIIF_H

#include "ring.h"
#include "../grant_table.h"

/* Request actions (vscsiif_request.act). */
#define VSCSIIF_ACT_SCSI_CDB        1   /* execute cmnd[] on chn/id/lun */
#define VSCSIIF_ACT_SCSI_ABORT      2   /* abort request ref_rqid */
#define VSCSIIF_ACT_SCSI_RESET      3   /* reset the addressed device */
#define VSCSIIF_ACT_SCSI_SG_PRESET  4   /* deprecated, never reuse */

/* Maximum entries in vscsiif_request.seg[] (also max indirect pages). */
#define VSCSIIF_SG_TABLESIZE        26

#define VSCSIIF_MAX_COMMAND_SIZE    16
#define VSCSIIF_SENSE_BUFFERSIZE    96
#define VSCSIIF_PAGE_SIZE           4096

/* One data (or indirect SG-list) segment: a byte range of a granted page. */
struct scsiif_request_segment {
    grant_ref_t gref;
    uint16_t offset;
    uint16_t length;
};
typedef struct scsiif_request_segment vscsiif_segment_t;

/* Number of SG elements that fit in one indirect page. */
#define VSCSIIF_SG_PER_PAGE (VSCSIIF_PAGE_SIZE / sizeof(vscsiif_segment_t))

/*
 * Flag in nr_segments: seg[] describes byte ranges of pages that hold the
 * real SG elements (needs feature-sg-grant). Element count is the sum of
 * seg[i].length / sizeof(vscsiif_segment_t).
 */
#define VSCSIIF_SG_GRANT            0x80

/* sc_data_direction values (Linux dma_data_direction). */
#define VSCSIIF_DIR_BIDIRECTIONAL   0   /* not documented, not supported */
#define VSCSIIF_DIR_TO_DEVICE       1
#define VSCSIIF_DIR_FROM_DEVICE     2
#define VSCSIIF_DIR_NONE            3

struct vscsiif_request {
    uint16_t rqid;                  /* guest value, echoed in the response */
    uint8_t act;                    /* VSCSIIF_ACT_* */
    uint8_t cmd_len;                /* valid CDB bytes */
    uint8_t cmnd[VSCSIIF_MAX_COMMAND_SIZE];
    uint16_t timeout_per_command;   /* deprecated */
    uint16_t channel, id, lun;
    uint16_t ref_rqid;              /* ABORT: rqid of the request to abort */
    uint8_t sc_data_direction;      /* VSCSIIF_DIR_* */
    uint8_t nr_segments;            /* count, possibly | VSCSIIF_SG_GRANT */
    vscsiif_segment_t seg[VSCSIIF_SG_TABLESIZE];
    uint32_t reserved[3];
};
typedef struct vscsiif_request vscsiif_request_t;

struct vscsiif_response {
    uint16_t rqid;
    uint8_t act;                    /* deprecated */
    uint8_t sense_len;
    uint8_t sense_buffer[VSCSIIF_SENSE_BUFFERSIZE];
    int32_t rslt;
    uint32_t residual_len;          /* bytes not transferred */
    uint32_t reserved[36];
};
typedef struct vscsiif_response vscsiif_response_t;

/* rslt of a CDB: (host code << 16) | SCSI status. */
#define XEN_VSCSIIF_RSLT_STATUS(x)  ((x) & 0x00ff)
#define XEN_VSCSIIF_RSLT_HOST(x)    (((x) & 0x00ff0000) >> 16)
#define XEN_VSCSIIF_RSLT_HOST_OK                   0
#define XEN_VSCSIIF_RSLT_HOST_NO_CONNECT           1
#define XEN_VSCSIIF_RSLT_HOST_BUS_BUSY             2
#define XEN_VSCSIIF_RSLT_HOST_TIME_OUT             3
#define XEN_VSCSIIF_RSLT_HOST_BAD_TARGET           4
#define XEN_VSCSIIF_RSLT_HOST_ABORT                5
#define XEN_VSCSIIF_RSLT_HOST_PARITY               6
#define XEN_VSCSIIF_RSLT_HOST_ERROR                7
#define XEN_VSCSIIF_RSLT_HOST_RESET                8
#define XEN_VSCSIIF_RSLT_HOST_BAD_INTR             9
#define XEN_VSCSIIF_RSLT_HOST_PASSTHROUGH         10
#define XEN_VSCSIIF_RSLT_HOST_SOFT_ERROR          11
#define XEN_VSCSIIF_RSLT_HOST_IMM_RETRY           12
#define XEN_VSCSIIF_RSLT_HOST_REQUEUE             13
#define XEN_VSCSIIF_RSLT_HOST_TRANSPORT_DISRUPTED 14
#define XEN_VSCSIIF_RSLT_HOST_TRANSPORT_FAILFAST  15
#define XEN_VSCSIIF_RSLT_HOST_TARGET_FAILURE      16
#define XEN_VSCSIIF_RSLT_HOST_NEXUS_FAILURE       17
#define XEN_VSCSIIF_RSLT_HOST_ALLOC_FAILURE       18
#define XEN_VSCSIIF_RSLT_HOST_MEDIUM_ERROR        19
#define XEN_VSCSIIF_RSLT_HOST_TRANSPORT_MARGINAL  20

/* rslt of an ABORT or RESET. */
#define XEN_VSCSIIF_RSLT_RESET_SUCCESS  0x2002
#define XEN_VSCSIIF_RSLT_RESET_FAILED   0x2003

DEFINE_RING_TYPES(vscsiif, struct vscsiif_request, struct vscsiif_response);

#endif /* XEN_PUBLIC_IO_VSCSIIF_H */
