/*
 * xen-pvscsi: Xen PV SCSI (vscsiif) backend on QEMU's SCSI bus.
 *
 * A XenDevice that owns a SCSI bus. Its LUNs are ordinary QEMU SCSI devices
 * (scsi-hd, scsi-cd, scsi-generic, scsi-block) addressed by the frontend as
 * channel:id:lun. Requests come from one shared ring page, data moves by
 * grant copy, and every request gets exactly one response.
 *
 * This file is the QOM type and the XenDevice: properties, the frontend's
 * state machine, the xenstore values handed to the dataplane.
 *   xen-pvscsi-dataplane.c  ring, event channel, request pool, intake
 *   xen-pvscsi-cdb.c        one CDB: data, SCSI request, completion
 *   xen-pvscsi-tmf.c        ABORT and RESET
 *   xen-pvscsi-luns.c       LUN table, vscsi-devs protocol, hot-plug
 *   xen-pvscsi-backend.c    the qscsi toolstack backend and its p-devs
 *   xen-pvscsi-proto.c      the request engine (no Xen needed)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-qom.h"
#include "qapi/qapi-visit-qom.h"
#include "hw/qdev-properties.h"
#include "hw/scsi/scsi.h"
#include "hw/scsi/xen-pvscsi-proto.h"
#include "hw/xen/xen.h"
#include "hw/xen/xen-backend.h"
#include "system/iothread.h"
#include "system/runstate.h"
#include "system/system.h"
#include "hw/xen/xen-bus-helper.h"
#include "xen-pvscsi.h"
#include "trace.h"

#define XEN_PVSCSI_VHOST_AUTO   UINT32_MAX
#define XEN_PVSCSI_MAX_VHOST    1024

static void xen_pvscsi_drained_begin(SCSIBus *bus)
{
    XenPVSCSI *s = container_of(bus, XenPVSCSI, bus);

    xen_pvscsi_dataplane_drained_begin(s->dataplane);
}

static void xen_pvscsi_drained_end(SCSIBus *bus)
{
    XenPVSCSI *s = container_of(bus, XenPVSCSI, bus);

    xen_pvscsi_dataplane_drained_end(s->dataplane);
}

static const struct SCSIBusInfo xen_pvscsi_scsi_info =
    XEN_PVSCSI_SCSI_BUS_INFO(xen_pvscsi_drained_begin, xen_pvscsi_drained_end);

/* vscsi-devs changed: a toolstack added or removes LUNs. */
static void xen_pvscsi_devs_changed(void *opaque, const char *path)
{
    XenPVSCSI *s = opaque;

    xen_pvscsi_sync_toolstack_luns(s);
    if (!xen_pvscsi_dataplane_is_started(s->dataplane)) {
        xen_pvscsi_luns_remove_unused(s);
    }
}

/*
 * The ring pages the frontend granted (seed 002): ring-page-order (or
 * num-ring-pages) and ring-ref0..N-1, or the one ring-ref of a frontend
 * that does not use multi-page rings. False with *@refuse set if the
 * frontend asks for what we did not offer or leaves out a page: such a
 * connection is refused (error node, Closed).
 */
static bool xen_pvscsi_read_ring(XenPVSCSI *s, unsigned int *ring_ref,
                                 unsigned int *nr, bool *refuse,
                                 Error **errp)
{
    XenDevice *xendev = &s->xendev;
    unsigned int order, pages, o, i;
    bool has_order, has_pages;
    const char *why;

    *refuse = false;
    has_order = xen_device_frontend_scanf(xendev, "ring-page-order", "%u",
                                          &order) == 1;
    has_pages = xen_device_frontend_scanf(xendev, "num-ring-pages", "%u",
                                          &pages) == 1;
    if (xen_pvscsi_ring_order(has_order ? &order : NULL,
                              has_pages ? &pages : NULL,
                              s->max_ring_page_order, &o, &why)) {
        error_setg(errp, "%s (max-ring-page-order %u)", why,
                   s->max_ring_page_order);
        *refuse = true;
        return false;
    }
    *nr = 1u << o;
    if (!o) {
        if (xen_device_frontend_scanf(xendev, "ring-ref", "%u",
                                      &ring_ref[0]) != 1) {
            error_setg(errp, "failed to read ring-ref");
            return false;
        }
        return true;
    }
    for (i = 0; i < *nr; i++) {
        g_autofree char *key = g_strdup_printf("ring-ref%u", i);

        if (xen_device_frontend_scanf(xendev, key, "%u", &ring_ref[i]) != 1) {
            error_setg(errp, "ring-page-order %u but no %s", o, key);
            *refuse = true;
            return false;
        }
    }
    return true;
}

/*
 * Connect to the ring the frontend published and bring the LUNs to
 * Initialised (3). False if the frontend's nodes cannot be used.
 */
static bool xen_pvscsi_start(XenPVSCSI *s)
{
    XenDevice *xendev = &s->xendev;
    unsigned int ring_ref[XEN_PVSCSI_MAX_RING_PAGES], nr = 0, evtchn;
    Error *local_err = NULL;
    bool refuse = false;

    if (!xen_pvscsi_read_ring(s, ring_ref, &nr, &refuse, &local_err)) {
        /* reported below */
    } else if (xen_device_frontend_scanf(xendev, "event-channel", "%u",
                                         &evtchn) != 1) {
        error_setg(&local_err, "failed to read event-channel");
    } else {
        xen_pvscsi_dataplane_start(s->dataplane, ring_ref, nr, evtchn,
                                   &local_err);
    }
    if (local_err) {
        /*
         * Bad ring-ref/event-channel values come from the guest, which can
         * rewrite them and its state in a loop: a guest error, not an
         * error for xen-bus to print.
         */
        qemu_log_mask(LOG_GUEST_ERROR, "xen-pvscsi: dom%u vhost %s: cannot "
                      "connect: %s\n", xendev->frontend_id, xendev->name,
                      error_get_pretty(local_err));
        xen_pvscsi_dataplane_stop(s->dataplane);
        if (refuse) {
            /* A transport the frontend may not use: tell it, close. */
            xen_device_backend_printf(xendev, "error", "%s",
                                      error_get_pretty(local_err));
            xen_device_backend_set_state(xendev, XenbusStateClosed);
        }
        error_free(local_err);
        return false;
    }
    xen_pvscsi_sync_toolstack_luns(s);
    xen_pvscsi_luns_add_or_del(s);
    return true;
}

static void xen_pvscsi_frontend_changed(XenDevice *xendev,
                                        enum xenbus_state frontend_state,
                                        Error **errp)
{
    ERRP_GUARD();
    XenPVSCSI *s = XEN_PVSCSI(xendev);
    enum xenbus_state backend_state = xen_device_backend_get_state(xendev);

    trace_xen_pvscsi_frontend_changed(xendev->name,
                                      xs_strstate(frontend_state));

    switch (frontend_state) {
    case XenbusStateInitialised:
    case XenbusStateConnected:
        if (!xendev->backend_online) {
            /* The vhost is being removed: no new connection. */
            break;
        }
        /* Our own ring state: the state node is the toolstack's too. */
        if (!xen_pvscsi_dataplane_is_started(s->dataplane)) {
            if (!xen_pvscsi_start(s)) {
                return;
            }
            /*
             * A reconfiguration (7) a toolstack wrote while no frontend
             * was connected: the frontend reads it as it starts watching
             * us and answers with its own 7; we answer 8 and it adds the
             * LUNs. Connected now would race with that: the frontend, at
             * 7, takes our 4 for a connect (no LUN is added while it is
             * not Initialised) and may read our 8 only after we left it.
             */
            if (backend_state == XenbusStateReconfiguring) {
                break;
            }
            xen_device_backend_set_state(xendev, XenbusStateConnected);
        }
        if (frontend_state == XenbusStateConnected) {
            xen_pvscsi_luns_connected(s);
            if (backend_state == XenbusStateReconfigured) {
                xen_device_backend_set_state(xendev, XenbusStateConnected);
            }
            xen_pvscsi_reconfigure_if_pending(s);
        }
        break;

    case XenbusStateReconfiguring:
        if (!xen_pvscsi_dataplane_is_started(s->dataplane)) {
            /*
             * A frontend that answered a reconfiguration (a toolstack's 7)
             * before we saw its Initialised: connect first.
             */
            if (!xendev->backend_online || !xen_pvscsi_start(s)) {
                break;
            }
        } else {
            xen_pvscsi_sync_toolstack_luns(s);
            xen_pvscsi_luns_add_or_del(s);
        }
        xen_device_backend_set_state(xendev, XenbusStateReconfigured);
        break;

    case XenbusStateClosing:
        xen_device_backend_set_state(xendev, XenbusStateClosing);
        break;

    case XenbusStateClosed:
    case XenbusStateUnknown:
        xen_pvscsi_dataplane_stop(s->dataplane);
        xen_pvscsi_luns_reset(s);
        xen_device_backend_set_state(xendev, XenbusStateClosed);
        if (frontend_state == XenbusStateClosed && xendev->backend_online) {
            /*
             * Ready for the next frontend at once. A Linux frontend that
             * probes again (driver unbind/bind, module reload) goes from
             * Closed straight to Initialised, without Initialising, and
             * reads our state as it starts watching it: a backend still
             * Closed then makes it disconnect again. xen-bus only does
             * this on frontend Initialising.
             */
            trace_xen_pvscsi_ready_for_reconnect(xendev->name);
            xen_device_backend_set_state(xendev, XenbusStateInitWait);
        }
        break;

    default:
        break;
    }
}

static char *xen_pvscsi_get_name(XenDevice *xendev, Error **errp)
{
    XenPVSCSI *s = XEN_PVSCSI(xendev);
    XenBus *xenbus = XEN_BUS(qdev_get_parent_bus(DEVICE(xendev)));
    domid_t fe = xendev->frontend_id == DOMID_INVALID ? xen_domid :
                 xendev->frontend_id;
    /* Ours and the kernel's xen-scsiback. */
    static const char *const types[] = { "qscsi", "vscsi" };
    unsigned int n, i;

    if (s->vhost != XEN_PVSCSI_VHOST_AUTO) {
        return g_strdup_printf("%u", s->vhost);
    }
    /*
     * The lowest vhost number no backend serves for the frontend domain.
     * Only backend directories count: the guest can write its own
     * device/vscsi/ area, and must not be able to use the numbers up.
     */
    for (n = 0; n < XEN_PVSCSI_MAX_VHOST; n++) {
        bool used = false;
        XenDevice *other;
        BusChild *kid;

        for (i = 0; i < ARRAY_SIZE(types); i++) {
            g_autofree char *path = g_strdup_printf(
                "/local/domain/%u/backend/%s/%u/%u", xenbus->backend_id,
                types[i], fe, n);
            g_autofree char *val = NULL;
            unsigned int len;

            val = qemu_xen_xs_read(xenbus->xsh, XBT_NULL, path, &len);
            used |= val != NULL;
        }
        QTAILQ_FOREACH(kid, &xenbus->qbus.children, sibling) {
            other = XEN_DEVICE(kid->child);
            if (other != xendev && other->name &&
                object_dynamic_cast(OBJECT(other), TYPE_XEN_PVSCSI) &&
                other->frontend_id == fe &&
                XEN_PVSCSI(other)->vhost == n) {
                used = true;
            }
        }
        if (!used) {
            s->vhost = n;
            return g_strdup_printf("%u", n);
        }
    }
    error_setg(errp, "no free vscsi vhost number for domain %u (%u in use)",
               fe, XEN_PVSCSI_MAX_VHOST);
    return NULL;
}

/*
 * The guest runs again after QEMU was stopped. If that was a checkpoint
 * (a cancelled suspend), xen-scsifront has paused its host and waits for
 * the backend to be Connected again; the ring is the same, so the backend
 * writes its state anew. A frontend that did not pause reads the
 * backend's features again and goes on. (libxl stops and continues QEMU
 * around a save only for HVM guests: after `xl save -c` of a PV guest
 * QEMU sees nothing, and `xen-vscsi kick` is still needed.)
 */
static void xen_pvscsi_vm_state_change(void *opaque, bool running,
                                       RunState state)
{
    XenPVSCSI *s = opaque;
    XenDevice *xendev = XEN_DEVICE(s);

    if (running && xendev->backend_state == XenbusStateConnected &&
        xen_pvscsi_dataplane_is_started(s->dataplane)) {
        trace_xen_pvscsi_reannounce(xendev->name);
        xen_device_backend_printf(xendev, "state", "%u",
                                  XenbusStateConnected);
    }
}

/*
 * QEMU exits: xen-bus has removed this vhost's backend directory (its exit
 * notifier runs first); the last vhost of the domain also removes the
 * domain's backend/qscsi/<domid>, which no toolstack owns when the vhosts
 * came from -device.
 */
static void xen_pvscsi_exit(Notifier *n, void *data)
{
    XenPVSCSI *s = container_of(n, XenPVSCSI, exit);
    BusState *bus = qdev_get_parent_bus(DEVICE(s));
    XenBus *xenbus = bus ? XEN_BUS(bus) : NULL;
    unsigned int nr = 0;
    g_autofree char **entries = NULL;

    if (!xenbus || !xenbus->xsh || !s->domain_dir) {
        return;
    }
    entries = qemu_xen_xs_directory(xenbus->xsh, XBT_NULL, s->domain_dir,
                                    &nr);
    if (entries && !nr) {
        xs_node_destroy(xenbus->xsh, XBT_NULL, s->domain_dir, NULL);
    }
}

static void xen_pvscsi_realize(XenDevice *xendev, Error **errp)
{
    XenPVSCSI *s = XEN_PVSCSI(xendev);

    if (s->sg_grant && (s->sg_grant < XEN_PVSCSI_SG_GRANT_MIN ||
                        s->sg_grant > XEN_PVSCSI_SG_GRANT_MAX)) {
        error_setg(errp, "feature-sg-grant must be 0 (off) or %u..%u, "
                   "not %u", XEN_PVSCSI_SG_GRANT_MIN,
                   (unsigned int)XEN_PVSCSI_SG_GRANT_MAX, s->sg_grant);
        return;
    }
    if (s->max_ring_page_order > XEN_PVSCSI_MAX_RING_PAGE_ORDER) {
        error_setg(errp, "max-ring-page-order must be 0..%u, not %u",
                   XEN_PVSCSI_MAX_RING_PAGE_ORDER, s->max_ring_page_order);
        return;
    }
    trace_xen_pvscsi_realize(xendev->name, s->sg_grant);

    scsi_bus_init_named(&s->bus, sizeof(s->bus), DEVICE(xendev),
                        &xen_pvscsi_scsi_info, NULL);
    qbus_set_hotplug_handler(BUS(&s->bus), OBJECT(xendev));
    s->dataplane = xen_pvscsi_dataplane_create(xendev, &s->bus, s->sg_grant,
                                               s->max_ring_page_order,
                                               s->iothread);

    /* Advertised before InitWait is left: the frontend reads them then. */
    if (s->sg_grant) {
        xen_device_backend_printf(xendev, "feature-sg-grant", "%u",
                                  s->sg_grant);
    }
    if (s->max_ring_page_order) {
        /* Both of seed 002's schemes, as blkif asks for interoperability */
        xen_device_backend_printf(xendev, "max-ring-page-order", "%u",
                                  s->max_ring_page_order);
        xen_device_backend_printf(xendev, "max-ring-pages", "%u",
                                  1u << s->max_ring_page_order);
    }

    /*
     * A toolstack adds and removes LUNs in vscsi-devs at any time, also
     * while no frontend is connected (a removal must then take effect
     * without waiting for one).
     */
    s->devs_watch = xs_node_watch(xendev->xsh, xendev->backend_path,
                                  "vscsi-devs", xen_pvscsi_devs_changed, s,
                                  errp);
    if (*errp) {
        return;
    }
    s->vm_state = qemu_add_vm_change_state_handler(xen_pvscsi_vm_state_change,
                                                   s);
    s->domain_dir = g_path_get_dirname(xendev->backend_path);
    s->exit.notify = xen_pvscsi_exit;
    qemu_add_exit_notifier(&s->exit);
}

static void xen_pvscsi_unrealize(XenDevice *xendev)
{
    XenPVSCSI *s = XEN_PVSCSI(xendev);

    trace_xen_pvscsi_unrealize(xendev->name ?: "");
    if (s->vm_state) {
        qemu_del_vm_change_state_handler(s->vm_state);
        s->vm_state = NULL;
    }
    if (s->devs_watch) {
        xs_node_unwatch(xendev->xsh, s->devs_watch);
        s->devs_watch = NULL;
    }
    xen_pvscsi_dataplane_destroy(s->dataplane);
    s->dataplane = NULL;
    xen_pvscsi_luns_destroy(s);
}

/*
 * A toolstack creates a vhost by writing backend/qscsi/<domid>/<vhost>;
 * its LUNs follow in vscsi-devs (xen-pvscsi-backend.c).
 */
static void xen_pvscsi_backend_create(XenBackendInstance *backend,
                                      QDict *opts, Error **errp)
{
    XenBus *xenbus = xen_backend_get_bus(backend);
    const char *name = xen_backend_get_name(backend);
    const char *fh = qdict_get_try_str(opts, "feature-host");
    g_autofree char *id = NULL;
    ObjectOptions *io_opts;
    XenPVSCSI *s;
    XenDevice *xendev;
    unsigned int vhost;

    ERRP_GUARD();

    if (qemu_strtoui(name, NULL, 10, &vhost)) {
        error_setg(errp, "invalid vhost name '%s'", name);
        return;
    }
    /*
     * Each vhost a toolstack creates gets an IOThread of its own, as
     * xen-block's toolstack disks do: the ring and its LUNs' I/O run
     * there, and the ring is polled (poll-max-ns) instead of waiting for
     * each event.
     */
    id = g_strdup_printf("xen-pvscsi-vhost%u-iothread", vhost);
    io_opts = g_new(ObjectOptions, 1);
    *io_opts = (ObjectOptions) {
        .qom_type = OBJECT_TYPE_IOTHREAD,
        .id = g_strdup(id),
    };
    qmp_object_add(io_opts, errp);
    qapi_free_ObjectOptions(io_opts);
    if (*errp) {
        return;
    }
    xendev = XEN_DEVICE(qdev_new(TYPE_XEN_PVSCSI));
    s = XEN_PVSCSI(xendev);
    qdev_prop_set_uint32(DEVICE(xendev), "vhost", vhost);
    qdev_prop_set_bit(DEVICE(xendev), "feature-host", fh && !strcmp(fh, "1"));
    object_property_set_link(OBJECT(xendev), "iothread",
                             object_resolve_path_type(id, TYPE_IOTHREAD,
                                                      NULL),
                             &error_abort);
    if (!qdev_realize_and_unref(DEVICE(xendev), BUS(xenbus), errp)) {
        /* Unparented by device_set_realized() and freed by the unref. */
        qmp_object_del(id, NULL);
        return;
    }
    s->own_iothread = g_steal_pointer(&id);
    xen_backend_set_device(backend, xendev);
    /* The LUNs the toolstack listed; later ones come with state 7. */
    xen_pvscsi_sync_toolstack_luns(s);
}

static void xen_pvscsi_backend_destroy(XenBackendInstance *backend,
                                       Error **errp)
{
    XenDevice *xendev = xen_backend_get_device(backend);
    g_autofree char *iothread = g_steal_pointer(&XEN_PVSCSI(xendev)->own_iothread);

    object_unparent(OBJECT(xendev));
    /*
     * object_unparent() finalizes the device in an RCU callback: wait for
     * it, so that its LUNs have released their p-devs (file locks, sg
     * nodes) when the toolstack, which waits for this backend to go, hands
     * them to someone else.
     */
    drain_call_rcu();
    if (iothread) {
        qmp_object_del(iothread, errp);
    }
}

static const XenBackendInfo xen_pvscsi_backend_info = {
    .type = "qscsi",
    .create = xen_pvscsi_backend_create,
    .destroy = xen_pvscsi_backend_destroy,
};

static void xen_pvscsi_register_backend(void)
{
    xen_backend_register(&xen_pvscsi_backend_info);
}

xen_backend_init(xen_pvscsi_register_backend);

static const Property xen_pvscsi_props[] = {
    DEFINE_PROP_UINT32("vhost", XenPVSCSI, vhost, XEN_PVSCSI_VHOST_AUTO),
    DEFINE_PROP_UINT32("feature-sg-grant", XenPVSCSI, sg_grant,
                       XEN_PVSCSI_SG_GRANT_DEFAULT),
    DEFINE_PROP_BOOL("feature-host", XenPVSCSI, feature_host, false),
    DEFINE_PROP_UINT32("max-ring-page-order", XenPVSCSI, max_ring_page_order,
                       XEN_PVSCSI_MAX_RING_PAGE_ORDER),
    DEFINE_PROP_LINK("iothread", XenPVSCSI, iothread, TYPE_IOTHREAD,
                     IOThread *),
    DEFINE_PROP_UINT32("unplug-timeout", XenPVSCSI, unplug_timeout, 30),
};

static void xen_pvscsi_class_init(ObjectClass *class, void *data)
{
    DeviceClass *dev_class = DEVICE_CLASS(class);
    XenDeviceClass *xendev_class = XEN_DEVICE_CLASS(class);

    /* Not "vscsi": the kernel's xen-scsiback claims backend/vscsi. */
    xendev_class->backend = "qscsi";
    xendev_class->device = "vscsi";
    xendev_class->get_name = xen_pvscsi_get_name;
    xendev_class->realize = xen_pvscsi_realize;
    xendev_class->frontend_changed = xen_pvscsi_frontend_changed;
    xendev_class->unrealize = xen_pvscsi_unrealize;

    xen_pvscsi_hotplug_class_init(HOTPLUG_HANDLER_CLASS(class));

    dev_class->desc = "Xen PV SCSI host (vscsiif backend)";
    set_bit(DEVICE_CATEGORY_STORAGE, dev_class->categories);
    device_class_set_props(dev_class, xen_pvscsi_props);
}

/*
 * The exit notifier stays while the device exists: at QEMU's exit xen-bus
 * unrealizes the device from its own notifier, and ours runs after that.
 */
static void xen_pvscsi_finalize(Object *obj)
{
    XenPVSCSI *s = XEN_PVSCSI(obj);

    if (s->domain_dir) {
        qemu_remove_exit_notifier(&s->exit);
        g_free(s->domain_dir);
    }
}

static const TypeInfo xen_pvscsi_type_info = {
    .name = TYPE_XEN_PVSCSI,
    .parent = TYPE_XEN_DEVICE,
    .instance_size = sizeof(XenPVSCSI),
    .instance_finalize = xen_pvscsi_finalize,
    .class_init = xen_pvscsi_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_HOTPLUG_HANDLER },
        { }
    },
};

static void xen_pvscsi_register_types(void)
{
    type_register_static(&xen_pvscsi_type_info);
}

type_init(xen_pvscsi_register_types)
