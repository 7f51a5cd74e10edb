/*
 * xen-pvscsi: the device's state, shared by xen-pvscsi.c (QOM type and
 * XenDevice), xen-pvscsi-luns.c (LUN table, vscsi-devs protocol, hot-plug)
 * and xen-pvscsi-backend.c (the qscsi toolstack backend). Main loop only;
 * the ring is the dataplane's (xen-pvscsi-dataplane.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_SCSI_XEN_PVSCSI_H
#define HW_SCSI_XEN_PVSCSI_H

#include "hw/hotplug.h"
#include "hw/xen/xen-bus.h"
#include "hw/xen/xen-bus-helper.h"
#include "xen-pvscsi-dataplane.h"

#define TYPE_XEN_PVSCSI "xen-pvscsi"
OBJECT_DECLARE_SIMPLE_TYPE(XenPVSCSI, XEN_PVSCSI)

/* A LUN as the xenstore protocol sees it (vscsi-devs/dev-N). */
typedef struct XenPVSCSILun {
    XenPVSCSI *s;
    unsigned int devnum;
    SCSIDevice *sdev;               /* NULL until plugged, once unplugged */
    enum xenbus_state state;
    bool unplug_requested;
    bool toolstack;                 /* dev-N written by a toolstack */
    bool creating;                  /* toolstack: its device is realizing */
    unsigned int channel, id, lun;  /* creating: the device's address */
    QEMUTimer *unplug_timer;        /* device_del: the guest must answer */
    QLIST_ENTRY(XenPVSCSILun) next;
} XenPVSCSILun;

/* A LUN's device whose removal waits for its last requests to finish. */
typedef struct XenPVSCSIRemoval {
    XenPVSCSI *s;
    DeviceState *dev;               /* referenced */
    QEMUTimer *timer;
    int64_t since;
    bool warned;
    QLIST_ENTRY(XenPVSCSIRemoval) next;
} XenPVSCSIRemoval;

struct XenPVSCSI {
    XenDevice xendev;
    SCSIBus bus;

    /* properties */
    uint32_t vhost;
    uint32_t sg_grant;
    uint32_t unplug_timeout;        /* seconds */
    bool feature_host;              /* toolstack LUNs: passthrough */
    uint32_t max_ring_page_order;
    IOThread *iothread;
    char *own_iothread;             /* id of the one a toolstack's vhost got */

    XenPVSCSIDataPlane *dataplane;
    VMChangeStateEntry *vm_state;
    Notifier exit;                  /* remove backend/qscsi/<domid> if empty */
    char *domain_dir;

    /* LUN table (xen-pvscsi-luns.c) */
    QLIST_HEAD(, XenPVSCSILun) luns;
    QLIST_HEAD(, XenPVSCSIRemoval) removals;
    struct qemu_xs_watch *devs_watch;   /* vscsi-devs */
};

/* xen-pvscsi-luns.c */
XenPVSCSILun *xen_pvscsi_find_devnum(XenPVSCSI *s, unsigned int devnum);
/* The LUN entry of a toolstack's dev-N whose device is being created. */
XenPVSCSILun *xen_pvscsi_lun_new_toolstack(XenPVSCSI *s, unsigned int devnum,
                                           unsigned int channel,
                                           unsigned int id, unsigned int lun);
void xen_pvscsi_lun_release(XenPVSCSILun *lun);
/* A toolstack set dev-N to 5 (Closing): remove it. */
void xen_pvscsi_lun_closing(XenPVSCSI *s, XenPVSCSILun *lun);
void xen_pvscsi_luns_add_or_del(XenPVSCSI *s);
void xen_pvscsi_luns_connected(XenPVSCSI *s);
void xen_pvscsi_luns_reset(XenPVSCSI *s);
void xen_pvscsi_luns_remove_unused(XenPVSCSI *s);
void xen_pvscsi_luns_destroy(XenPVSCSI *s);
void xen_pvscsi_reconfigure_if_pending(XenPVSCSI *s);
void xen_pvscsi_hotplug_class_init(HotplugHandlerClass *hc);

/* xen-pvscsi-backend.c */
void xen_pvscsi_sync_toolstack_luns(XenPVSCSI *s);

#endif /* HW_SCSI_XEN_PVSCSI_H */
