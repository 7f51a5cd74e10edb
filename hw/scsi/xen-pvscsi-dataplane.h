/*
 * xen-pvscsi dataplane: the ring of one vhost, its event channel and the
 * requests in flight.
 *
 * The device (xen-pvscsi.c) reads xenstore and hands plain values to this
 * API; everything behind it runs in the dataplane's AioContext (the main
 * loop, or an I/O thread), except where a function says otherwise.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_SCSI_XEN_PVSCSI_DATAPLANE_H
#define HW_SCSI_XEN_PVSCSI_DATAPLANE_H

#include "hw/scsi/scsi.h"
#include "hw/xen/xen-bus.h"
#include "system/iothread.h"

/* The frontend (Linux xen-scsifront) supports channel 0, ids 0-63. */
#define XEN_PVSCSI_MAX_CHANNEL  0
#define XEN_PVSCSI_MAX_TARGET   63
#define XEN_PVSCSI_MAX_LUN      255

typedef struct XenPVSCSIDataPlane XenPVSCSIDataPlane;

/* Main loop. @sg_grant: the advertised feature-sg-grant (0: off). */
XenPVSCSIDataPlane *xen_pvscsi_dataplane_create(XenDevice *xendev,
                                                SCSIBus *bus,
                                                unsigned int sg_grant,
                                                IOThread *iothread);
void xen_pvscsi_dataplane_destroy(XenPVSCSIDataPlane *dataplane);

/*
 * Main loop. Map the ring (@nr_ring_ref pages: 1, 2, 4, ... up to
 * XEN_PVSCSI_MAX_RING_PAGES), bind the event channel and start taking
 * requests. On error nothing is left mapped or bound.
 */
void xen_pvscsi_dataplane_start(XenPVSCSIDataPlane *dataplane,
                                const unsigned int *ring_ref,
                                unsigned int nr_ring_ref, unsigned int evtchn,
                                Error **errp);
/*
 * Main loop. Stop: when this returns, nothing touches the ring any more.
 * Requests in flight are cancelled and answered to nobody; nothing waits
 * for them.
 */
void xen_pvscsi_dataplane_stop(XenPVSCSIDataPlane *dataplane);
/* Main loop: the ring is mapped and the event channel bound. */
bool xen_pvscsi_dataplane_is_started(XenPVSCSIDataPlane *dataplane);

AioContext *xen_pvscsi_dataplane_get_aio_context(XenPVSCSIDataPlane *dp);

/* Main loop: SCSIBusInfo drained_begin/drained_end of the vhost's bus. */
void xen_pvscsi_dataplane_drained_begin(XenPVSCSIDataPlane *dataplane);
void xen_pvscsi_dataplane_drained_end(XenPVSCSIDataPlane *dataplane);

/*
 * Main loop. A LUN whose device is on its way out (its removal waits for
 * requests to finish) is not reachable from the ring: its address is
 * answered as if no LUN were there.
 */
void xen_pvscsi_dataplane_set_gone(XenPVSCSIDataPlane *dataplane,
                                   SCSIDevice *sdev, bool gone);

/* SCSIBusInfo callbacks for the requests of the ring. */
int xen_pvscsi_parse_cdb(SCSIDevice *dev, SCSICommand *cmd, uint8_t *buf,
                         size_t buf_len, void *hba_private);
void xen_pvscsi_transfer_data(SCSIRequest *sreq, uint32_t len);
void xen_pvscsi_command_complete(SCSIRequest *sreq, size_t residual);
void xen_pvscsi_command_failed(SCSIRequest *sreq);
void xen_pvscsi_request_cancelled(SCSIRequest *sreq);

#endif /* HW_SCSI_XEN_PVSCSI_DATAPLANE_H */
