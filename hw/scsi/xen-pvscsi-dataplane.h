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
#include "qemu/event_notifier.h"
#include "system/iothread.h"

/* The frontend (Linux xen-scsifront) supports channel 0, ids 0-63. */
#define XEN_PVSCSI_MAX_CHANNEL  0
#define XEN_PVSCSI_MAX_TARGET   63
#define XEN_PVSCSI_MAX_LUN      255

typedef struct XenPVSCSIDataPlane XenPVSCSIDataPlane;

/*
 * What the dataplane asks of Xen while requests flow: grant copies (the
 * segments' semantics as for xen_device_copy_grant_refs()) and the
 * notification of the frontend. xen_pvscsi_dataplane_create() uses the
 * Xen one; a loopback transport lets the same dataplane, engine and SCSI
 * layer run against a ring in plain memory (the native benchmark).
 */
typedef struct XenPVSCSITransport {
    void (*copy)(void *opaque, bool to_domain,
                 XenDeviceGrantCopySegment *segs, unsigned int n,
                 Error **errp);
    void (*notify)(void *opaque, Error **errp);
} XenPVSCSITransport;

/*
 * Main loop. @sg_grant: the advertised feature-sg-grant (0: off);
 * @max_ring_order: the largest ring-page-order a frontend may use.
 */
XenPVSCSIDataPlane *xen_pvscsi_dataplane_create(XenDevice *xendev,
                                                SCSIBus *bus,
                                                unsigned int sg_grant,
                                                unsigned int max_ring_order,
                                                IOThread *iothread);
/*
 * Main loop. A dataplane without Xen: @transport moves the data and
 * notifies; xen_pvscsi_dataplane_loopback_start() gives it a ring in
 * memory and returns the event the frontend sets after pushing requests.
 * xen_pvscsi_dataplane_stop()/_destroy() end it.
 */
XenPVSCSIDataPlane *xen_pvscsi_dataplane_create_loopback(
    DeviceState *dev, const char *name, SCSIBus *bus, unsigned int sg_grant,
    unsigned int max_ring_order, IOThread *iothread,
    const XenPVSCSITransport *transport, void *opaque);
EventNotifier *xen_pvscsi_dataplane_loopback_start(XenPVSCSIDataPlane *dp,
                                                   void *sring,
                                                   unsigned int nr_pages);
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
 * Main loop. Make @sdev reachable from the ring at its address, once it
 * is plugged, or not (from when its removal starts: the removal may wait
 * for its requests to finish): its address is then answered as if no LUN
 * were there. A device must not be freed while reachable.
 */
void xen_pvscsi_dataplane_set_reachable(XenPVSCSIDataPlane *dataplane,
                                        SCSIDevice *sdev, bool reachable);

/*
 * The SCSIBusInfo of a bus whose requests come from a dataplane's ring;
 * @begin/@end: the owner's drained_begin/drained_end, which find its
 * dataplane and call xen_pvscsi_dataplane_drained_begin()/_end().
 */
#define XEN_PVSCSI_SCSI_BUS_INFO(begin, end) {                              \
    .tcq = true,                                                            \
    .max_channel = XEN_PVSCSI_MAX_CHANNEL,                                  \
    .max_target = XEN_PVSCSI_MAX_TARGET,                                    \
    .max_lun = XEN_PVSCSI_MAX_LUN,                                          \
    .parse_cdb = xen_pvscsi_parse_cdb,                                      \
    .transfer_data = xen_pvscsi_transfer_data,                              \
    .get_iov = xen_pvscsi_get_iov,                                          \
    .complete = xen_pvscsi_command_complete,                                \
    .fail = xen_pvscsi_command_failed,                                      \
    .cancel = xen_pvscsi_request_cancelled,                                 \
    .drained_begin = (begin),                                               \
    .drained_end = (end),                                                   \
}

/* SCSIBusInfo callbacks for the requests of the ring. */
int xen_pvscsi_parse_cdb(SCSIDevice *dev, SCSICommand *cmd, uint8_t *buf,
                         size_t buf_len, void *hba_private);
void xen_pvscsi_transfer_data(SCSIRequest *sreq, uint32_t len);
QEMUIOVector *xen_pvscsi_get_iov(SCSIRequest *sreq);
void xen_pvscsi_command_complete(SCSIRequest *sreq, size_t residual);
void xen_pvscsi_command_failed(SCSIRequest *sreq);
void xen_pvscsi_request_cancelled(SCSIRequest *sreq);

#endif /* HW_SCSI_XEN_PVSCSI_DATAPLANE_H */
