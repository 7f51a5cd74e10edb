/*
 * xen-pvscsi: the LUN table and the vscsi-devs state protocol, and the
 * hot-plug handler of the vhost's SCSI bus (device_add/device_del of its
 * LUNs). Main loop only.
 *
 * A LUN is a QEMU SCSI device on the bus plus its xenstore entry
 * vscsi-devs/dev-N/{p-dev,v-dev,state}. LUNs that QEMU adds (-device,
 * device_add) get the lowest free dev-N and are announced to the frontend
 * like a toolstack would (vhost state 7); LUNs a toolstack wrote keep its
 * dev-N (xen-pvscsi-backend.c creates their devices).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qapi-events-qdev.h"
#include "hw/qdev-core.h"
#include "system/block-backend.h"
#include "xen-pvscsi.h"
#include "trace.h"

/* A LUN removal waits for its requests; say so after this long. */
#define XEN_PVSCSI_REMOVAL_POLL_MS  100
#define XEN_PVSCSI_REMOVAL_WARN_MS  5000

static void xen_pvscsi_lun_write(XenPVSCSI *s, XenPVSCSILun *lun,
                                 const char *key, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void xen_pvscsi_lun_write(XenPVSCSI *s, XenPVSCSILun *lun,
                                 const char *key, const char *fmt, ...)
{
    g_autofree char *path = g_strdup_printf("vscsi-devs/dev-%u/%s",
                                            lun->devnum, key);
    g_autofree char *val = NULL;
    va_list ap;

    va_start(ap, fmt);
    val = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    xen_device_backend_printf(&s->xendev, path, "%s", val);
}

static void xen_pvscsi_lun_set_state(XenPVSCSI *s, XenPVSCSILun *lun,
                                     enum xenbus_state state)
{
    g_autofree char *dev = g_strdup_printf("dev-%u", lun->devnum);

    if (lun->state == state) {
        return;
    }
    trace_xen_pvscsi_lun_state(s->xendev.name, dev, lun->state, state);
    lun->state = state;
    xen_pvscsi_lun_write(s, lun, "state", "%u", state);
}

static void xen_pvscsi_lun_remove_nodes(XenPVSCSI *s, XenPVSCSILun *lun)
{
    g_autofree char *path = g_strdup_printf("%s/vscsi-devs/dev-%u",
                                            s->xendev.backend_path,
                                            lun->devnum);
    Error *local_err = NULL;

    xs_node_destroy(s->xendev.xsh, XBT_NULL, path, &local_err);
    if (local_err) {
        error_report_err(local_err);
    }
}

static XenPVSCSILun *xen_pvscsi_find_lun(XenPVSCSI *s, SCSIDevice *sdev)
{
    XenPVSCSILun *lun;

    QLIST_FOREACH(lun, &s->luns, next) {
        if (lun->sdev == sdev) {
            return lun;
        }
    }
    return NULL;
}

XenPVSCSILun *xen_pvscsi_find_devnum(XenPVSCSI *s, unsigned int n)
{
    XenPVSCSILun *lun;

    QLIST_FOREACH(lun, &s->luns, next) {
        if (lun->devnum == n) {
            return lun;
        }
    }
    return NULL;
}

XenPVSCSILun *xen_pvscsi_lun_new_toolstack(XenPVSCSI *s, unsigned int devnum,
                                           unsigned int channel,
                                           unsigned int id, unsigned int lun)
{
    XenPVSCSILun *l = g_new0(XenPVSCSILun, 1);

    l->s = s;
    l->devnum = devnum;
    l->state = XenbusStateInitialising;
    l->toolstack = true;
    l->creating = true;
    l->channel = channel;
    l->id = id;
    l->lun = lun;
    QLIST_INSERT_HEAD(&s->luns, l, next);
    return l;
}

void xen_pvscsi_lun_release(XenPVSCSILun *lun)
{
    if (lun->unplug_timer) {
        timer_free(lun->unplug_timer);
    }
    QLIST_REMOVE(lun, next);
    g_free(lun);
}

static void xen_pvscsi_lun_free(XenPVSCSI *s, XenPVSCSILun *lun)
{
    xen_pvscsi_lun_remove_nodes(s, lun);
    xen_pvscsi_lun_release(lun);
}

static bool xen_pvscsi_sdev_busy(SCSIDevice *sdev)
{
    QEMU_LOCK_GUARD(&sdev->requests_lock);
    return !QTAILQ_EMPTY(&sdev->requests);
}

static bool xen_pvscsi_unplug_device(XenPVSCSI *s, DeviceState *dev,
                                     Error **errp)
{
    ERRP_GUARD();

    hotplug_handler_unplug(HOTPLUG_HANDLER(s), dev, errp);
    if (*errp) {
        xen_pvscsi_dataplane_set_reachable(s->dataplane, SCSI_DEVICE(dev),
                                           true);
        return false;
    }
    object_unparent(OBJECT(dev));
    return true;
}

static void xen_pvscsi_removal_free(XenPVSCSIRemoval *rm)
{
    QLIST_REMOVE(rm, next);
    timer_free(rm->timer);
    object_unref(OBJECT(rm->dev));
    g_free(rm);
}

static void xen_pvscsi_removal_poll(void *opaque)
{
    XenPVSCSIRemoval *rm = opaque;
    XenPVSCSI *s = rm->s;
    SCSIDevice *sdev = SCSI_DEVICE(rm->dev);
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    Error *local_err = NULL;

    if (xen_pvscsi_sdev_busy(sdev)) {
        if (!rm->warned && now - rm->since >= XEN_PVSCSI_REMOVAL_WARN_MS) {
            warn_report("xen-pvscsi: vhost %s: removal of LUN %d:%d:%d waits "
                        "for requests its device has not completed",
                        s->xendev.name, sdev->channel, sdev->id, sdev->lun);
            rm->warned = true;
        }
        timer_mod(rm->timer, now + XEN_PVSCSI_REMOVAL_POLL_MS);
        return;
    }
    if (rm->warned) {
        info_report("xen-pvscsi: vhost %s: LUN %d:%d:%d removed after %"
                    PRId64 " ms", s->xendev.name, sdev->channel, sdev->id,
                    sdev->lun, now - rm->since);
    }
    if (!xen_pvscsi_unplug_device(s, rm->dev, &local_err)) {
        error_report_err(local_err);
    }
    xen_pvscsi_removal_free(rm);
}

/*
 * Unplug @dev from our bus and destroy it. An asynchronous unplug finishes
 * here, not in qdev_unplug(): unparenting finalizes the device (its drive
 * is released) and emits DEVICE_DELETED.
 *
 * The ring cannot reach the LUN from here on. If requests of it are still
 * in flight (cancelled, but a device may not be able to cancel: SG_IO, an
 * iSCSI target that does not answer), the unplug waits for them on a timer
 * rather than in the device's unrealize, which would drain it under the
 * BQL and stall all of QEMU for as long.
 */
static bool xen_pvscsi_remove_device(XenPVSCSI *s, DeviceState *dev,
                                     Error **errp)
{
    SCSIDevice *sdev = SCSI_DEVICE(dev);
    XenPVSCSIRemoval *rm;

    xen_pvscsi_dataplane_set_reachable(s->dataplane, sdev, false);
    if (!xen_pvscsi_sdev_busy(sdev)) {
        return xen_pvscsi_unplug_device(s, dev, errp);
    }
    rm = g_new0(XenPVSCSIRemoval, 1);
    rm->s = s;
    rm->dev = dev;
    object_ref(OBJECT(dev));
    rm->since = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    rm->timer = timer_new_ms(QEMU_CLOCK_REALTIME, xen_pvscsi_removal_poll,
                             rm);
    timer_mod(rm->timer, rm->since + XEN_PVSCSI_REMOVAL_POLL_MS);
    QLIST_INSERT_HEAD(&s->removals, rm, next);
    return true;
}

/* Finish a device_del once the frontend has let go of the LUN. */
static void xen_pvscsi_lun_unplug_now(XenPVSCSI *s, XenPVSCSILun *lun)
{
    SCSIDevice *sdev = lun->sdev;
    Error *local_err = NULL;

    lun->sdev = NULL;
    lun->unplug_requested = false;
    if (lun->unplug_timer) {
        timer_del(lun->unplug_timer);
    }
    if (sdev) {
        trace_xen_pvscsi_lun_unplug(s->xendev.name, DEVICE(sdev)->id ?: "");
        if (!xen_pvscsi_remove_device(s, DEVICE(sdev), &local_err)) {
            error_report_err(local_err);
        }
    }
}

/*
 * Frontend Initialised or Reconfiguring: new LUNs (1) become ready (3),
 * LUNs being removed (5) are dropped (6).
 */
void xen_pvscsi_luns_add_or_del(XenPVSCSI *s)
{
    XenPVSCSILun *lun, *tmp;

    QLIST_FOREACH_SAFE(lun, &s->luns, next, tmp) {
        switch (lun->state) {
        case XenbusStateInitialising:
            xen_pvscsi_lun_set_state(s, lun, XenbusStateInitialised);
            break;
        case XenbusStateClosing:
            xen_pvscsi_lun_set_state(s, lun, XenbusStateClosed);
            if (lun->unplug_requested) {
                xen_pvscsi_lun_unplug_now(s, lun);
            }
            break;
        default:
            break;
        }
    }
}

/* Frontend Connected: LUNs it added (3) are connected (4). */
void xen_pvscsi_luns_connected(XenPVSCSI *s)
{
    XenPVSCSILun *lun, *tmp;

    QLIST_FOREACH_SAFE(lun, &s->luns, next, tmp) {
        if (lun->state == XenbusStateInitialised) {
            xen_pvscsi_lun_set_state(s, lun, XenbusStateConnected);
        } else if (lun->state == XenbusStateClosed && !lun->sdev) {
            if (lun->toolstack) {
                /* The toolstack deletes dev-N once it sees 6. */
                xen_pvscsi_lun_release(lun);
            } else {
                /* Removed by device_del: we are the toolstack, clean up. */
                xen_pvscsi_lun_free(s, lun);
            }
        }
    }
}

/* The frontend went away: LUNs start over when it comes back. */
void xen_pvscsi_luns_reset(XenPVSCSI *s)
{
    XenPVSCSILun *lun, *tmp;

    QLIST_FOREACH_SAFE(lun, &s->luns, next, tmp) {
        if (!lun->sdev || lun->unplug_requested) {
            xen_pvscsi_lun_unplug_now(s, lun);
            if (lun->toolstack) {
                xen_pvscsi_lun_set_state(s, lun, XenbusStateClosed);
                xen_pvscsi_lun_release(lun);
            } else {
                xen_pvscsi_lun_free(s, lun);
            }
        } else if (lun->state != XenbusStateInitialising) {
            xen_pvscsi_lun_set_state(s, lun, XenbusStateInitialising);
        }
    }
}


/*
 * LUN changes of our own (device_add, device_del) wait for a quiet vhost:
 * a reconfiguration that is under way (7, 8) has read the LUN list
 * already. Once the vhost is back at 4, start a round for what queued up.
 */
void xen_pvscsi_reconfigure_if_pending(XenPVSCSI *s)
{
    XenPVSCSILun *lun;
    bool pending = false;

    if (!xen_pvscsi_dataplane_is_started(s->dataplane) ||
        xen_device_backend_get_state(&s->xendev) != XenbusStateConnected) {
        return;
    }
    QLIST_FOREACH(lun, &s->luns, next) {
        if (lun->toolstack) {
            continue;       /* the toolstack drives its own LUNs */
        }
        if (lun->state == XenbusStateInitialising && lun->sdev) {
            pending = true;
        } else if (lun->unplug_requested &&
                   lun->state == XenbusStateConnected) {
            xen_pvscsi_lun_set_state(s, lun, XenbusStateClosing);
            pending = true;
        }
    }
    if (pending) {
        /* Hot-add or removal: act as the toolstack, the frontend rescans. */
        xen_device_backend_set_state(&s->xendev, XenbusStateReconfiguring);
    }
}

/*
 * No frontend is connected: a removal the toolstack asked for (dev-N
 * state 5) takes effect at once, nobody uses the LUN. The toolstack
 * deletes dev-N once it sees 6.
 */
void xen_pvscsi_luns_remove_unused(XenPVSCSI *s)
{
    XenPVSCSILun *lun, *tmp;

    QLIST_FOREACH_SAFE(lun, &s->luns, next, tmp) {
        if (lun->state == XenbusStateClosing) {
            xen_pvscsi_lun_unplug_now(s, lun);
            xen_pvscsi_lun_set_state(s, lun, XenbusStateClosed);
            xen_pvscsi_lun_release(lun);
        }
    }
}

static void xen_pvscsi_pre_plug(HotplugHandler *hotplug_dev, DeviceState *dev,
                                Error **errp)
{
    SCSIDevice *sd = SCSI_DEVICE(dev);

    sd->hba_supports_iothread = true;
}

static bool xen_pvscsi_devnum_used(XenPVSCSI *s, unsigned int n)
{
    g_autofree char *val = NULL;

    if (xen_pvscsi_find_devnum(s, n)) {
        return true;
    }
    /* A toolstack's entry, pending or failed, is not ours to overwrite. */
    val = xs_node_read(s->xendev.xsh, XBT_NULL, NULL, NULL,
                       "%s/vscsi-devs/dev-%u", s->xendev.backend_path, n);
    return val != NULL;
}

static void xen_pvscsi_plug(HotplugHandler *hotplug_dev, DeviceState *dev,
                            Error **errp)
{
    XenPVSCSI *s = XEN_PVSCSI(hotplug_dev);
    SCSIDevice *sd = SCSI_DEVICE(dev);
    AioContext *ctx = xen_pvscsi_dataplane_get_aio_context(s->dataplane);
    XenPVSCSILun *lun;
    unsigned int devnum = 0;
    g_autofree char *dname = NULL;
    g_autofree char *vdev = NULL;
    const char *pdev;

    if (s->iothread && sd->conf.blk) {
        if (blk_set_aio_context(sd->conf.blk, ctx, errp) < 0) {
            return;
        }
    }

    QLIST_FOREACH(lun, &s->luns, next) {
        if (lun->creating && lun->channel == sd->channel &&
            lun->id == sd->id && lun->lun == sd->lun) {
            /* A toolstack wrote dev-N: it keeps its number and nodes. */
            lun->sdev = sd;
            lun->creating = false;
            xen_pvscsi_dataplane_set_reachable(s->dataplane, sd, true);
            return;
        }
    }

    /* Lowest dev-N that neither we nor a toolstack use. */
    while (xen_pvscsi_devnum_used(s, devnum)) {
        if (devnum == UINT_MAX) {
            error_setg(errp, "no free dev-N in %s/vscsi-devs",
                       s->xendev.backend_path);
            return;
        }
        devnum++;
    }
    lun = g_new0(XenPVSCSILun, 1);
    lun->s = s;
    lun->devnum = devnum;
    lun->sdev = sd;
    lun->state = XenbusStateUnknown;
    QLIST_INSERT_HEAD(&s->luns, lun, next);

    dname = g_strdup_printf("dev-%u", devnum);
    vdev = g_strdup_printf("%s:%d:%d:%d", s->xendev.name, sd->channel,
                           sd->id, sd->lun);
    pdev = sd->conf.blk ? blk_name(sd->conf.blk) : "";
    trace_xen_pvscsi_lun_plug(s->xendev.name, dname, vdev);
    xen_pvscsi_lun_write(s, lun, "p-dev", "%s",
                         *pdev ? pdev : (dev->id ?: object_get_typename(
                                             OBJECT(dev))));
    xen_pvscsi_lun_write(s, lun, "v-dev", "%s", vdev);
    xen_pvscsi_lun_set_state(s, lun, XenbusStateInitialising);
    /* Nothing fails after a plug handler: the device's realize is done. */
    xen_pvscsi_dataplane_set_reachable(s->dataplane, sd, true);
    xen_pvscsi_reconfigure_if_pending(s);
}

/* device_del: the guest never let go of the LUN. Keep it, say so. */
static void xen_pvscsi_unplug_timeout(void *opaque)
{
    XenPVSCSILun *lun = opaque;
    XenPVSCSI *s = lun->s;
    DeviceState *dev = DEVICE(lun->sdev);

    if (!lun->unplug_requested || !lun->sdev) {
        return;
    }
    error_report("xen-pvscsi: dom%u vhost %s: the guest did not release "
                 "dev-%u (%s) within %u s; device_del cancelled",
                 s->xendev.frontend_id, s->xendev.name, lun->devnum,
                 dev->id ?: "", s->unplug_timeout);
    lun->unplug_requested = false;
    xen_pvscsi_lun_set_state(s, lun, XenbusStateConnected);
    if (xen_device_backend_get_state(&s->xendev) ==
        XenbusStateReconfiguring) {
        xen_device_backend_set_state(&s->xendev, XenbusStateConnected);
    }
    qapi_event_send_device_unplug_guest_error(dev->id,
                                              dev->canonical_path);
}

static void xen_pvscsi_unplug_request(HotplugHandler *hotplug_dev,
                                      DeviceState *dev, Error **errp)
{
    XenPVSCSI *s = XEN_PVSCSI(hotplug_dev);
    XenPVSCSILun *lun = xen_pvscsi_find_lun(s, SCSI_DEVICE(dev));

    if (!lun) {
        xen_pvscsi_remove_device(s, dev, errp);
        return;
    }
    if (lun->unplug_requested) {
        error_setg(errp, "removal of %s:%d:%d:%d is already in progress",
                   s->xendev.name, lun->sdev->channel, lun->sdev->id,
                   lun->sdev->lun);
        return;
    }
    if (!xen_pvscsi_dataplane_is_started(s->dataplane) ||
        lun->state == XenbusStateInitialising ||
        lun->state == XenbusStateClosed) {
        /* No frontend knows the LUN: remove it at once. */
        xen_pvscsi_lun_unplug_now(s, lun);
        xen_pvscsi_lun_free(s, lun);
        return;
    }
    /*
     * The guest drops the LUN first (dev 5 -> 6), then we unplug. During
     * a reconfiguration (vhost 7/8, or the LUN being added: 3) the
     * removal waits for the vhost to be back at 4.
     */
    lun->unplug_requested = true;
    if (!lun->unplug_timer) {
        lun->unplug_timer = timer_new_ms(QEMU_CLOCK_REALTIME,
                                         xen_pvscsi_unplug_timeout, lun);
    }
    timer_mod(lun->unplug_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              s->unplug_timeout * 1000LL);
    xen_pvscsi_reconfigure_if_pending(s);
}

static void xen_pvscsi_unplug(HotplugHandler *hotplug_dev, DeviceState *dev,
                              Error **errp)
{
    XenPVSCSI *s = XEN_PVSCSI(hotplug_dev);
    SCSIDevice *sd = SCSI_DEVICE(dev);
    XenPVSCSILun *lun = xen_pvscsi_find_lun(s, sd);

    if (lun) {
        lun->sdev = NULL;
    }
    /* Already so if the removal started in xen_pvscsi_remove_device() */
    xen_pvscsi_dataplane_set_reachable(s->dataplane, sd, false);
    qdev_simple_device_unplug_cb(hotplug_dev, dev, errp);
    if (s->iothread && sd->conf.blk) {
        /* If other users keep the BlockBackend in the iothread, that's ok */
        blk_set_aio_context(sd->conf.blk, qemu_get_aio_context(), NULL);
    }
}

void xen_pvscsi_lun_closing(XenPVSCSI *s, XenPVSCSILun *lun)
{
    g_autofree char *dev = g_strdup_printf("dev-%u", lun->devnum);

    if (lun->state == XenbusStateClosing) {
        return;
    }
    trace_xen_pvscsi_lun_state(s->xendev.name, dev, lun->state,
                               XenbusStateClosing);
    lun->state = XenbusStateClosing;
    lun->unplug_requested = lun->sdev != NULL;
}

/* unrealize: the bus is gone, its devices were unrealized with it. */
void xen_pvscsi_luns_destroy(XenPVSCSI *s)
{
    XenPVSCSILun *lun, *tmp;

    QLIST_FOREACH_SAFE(lun, &s->luns, next, tmp) {
        xen_pvscsi_lun_release(lun);
    }
    while (!QLIST_EMPTY(&s->removals)) {
        xen_pvscsi_removal_free(QLIST_FIRST(&s->removals));
    }
}

void xen_pvscsi_hotplug_class_init(HotplugHandlerClass *hc)
{
    hc->pre_plug = xen_pvscsi_pre_plug;
    hc->plug = xen_pvscsi_plug;
    hc->unplug_request = xen_pvscsi_unplug_request;
    hc->unplug = xen_pvscsi_unplug;
}
