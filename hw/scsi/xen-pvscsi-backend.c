/*
 * xen-pvscsi: LUNs of the "qscsi" toolstack backend. A toolstack adds a
 * LUN by writing vscsi-devs/dev-N/{p-dev,v-dev,state} (the vhost itself
 * is created by xen-bus, see xen_pvscsi_backend_create()); this file turns
 * each p-dev into the QEMU SCSI device that serves it. Main loop only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "block/block.h"
#include "hw/qdev-properties.h"
#include "scsi/constants.h"
#include "xen-pvscsi.h"
#include "trace.h"

static char *xen_pvscsi_sysfs_node(const char *hctl, const char *cls)
{
    g_autofree char *dir = g_strdup_printf("/sys/bus/scsi/devices/%s/%s",
                                           hctl, cls);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name = d ? g_dir_read_name(d) : NULL;

    return name ? g_strdup_printf("/dev/%s", name) : NULL;
}

static int xen_pvscsi_sysfs_type(const char *hctl)
{
    g_autofree char *path = g_strdup_printf("/sys/bus/scsi/devices/%s/type",
                                            hctl);
    g_autofree char *val = NULL;
    int type;

    if (!g_file_get_contents(path, &val, NULL, NULL) ||
        qemu_strtoi(g_strstrip(val), NULL, 10, &type)) {
        return -1;
    }
    return type;
}

/*
 * naa.<WWN>:<LUN>, the kernel backend's p-dev form: the SCSI device of
 * this domain whose WWN (sysfs "wwid") and LUN match, as h:c:t:l.
 */
static char *xen_pvscsi_resolve_naa(const char *pdev, Error **errp)
{
    g_autofree char *wwn = NULL;
    g_autoptr(GDir) d = NULL;
    const char *colon = strrchr(pdev, ':');
    const char *name;
    unsigned int lun;
    size_t i;

    if (!colon || colon == pdev + 4 ||
        qemu_strtoui(colon + 1, NULL, 10, &lun)) {
        error_setg(errp, "bad p-dev '%s': expected naa.<WWN>:<LUN>", pdev);
        return NULL;
    }
    wwn = g_strndup(pdev, colon - pdev);
    for (i = 4; wwn[i]; i++) {
        if (!g_ascii_isxdigit(wwn[i])) {
            error_setg(errp, "bad p-dev '%s': the WWN must be hexadecimal",
                       pdev);
            return NULL;
        }
    }
    d = g_dir_open("/sys/bus/scsi/devices", 0, NULL);
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = NULL;
        g_autofree char *val = NULL;
        unsigned int h, c, t, l;
        char tail;

        if (sscanf(name, "%u:%u:%u:%u%c", &h, &c, &t, &l, &tail) != 4 ||
            l != lun) {
            continue;
        }
        path = g_strdup_printf("/sys/bus/scsi/devices/%s/wwid", name);
        if (g_file_get_contents(path, &val, NULL, NULL) &&
            !g_ascii_strcasecmp(g_strstrip(val), wwn)) {
            return g_strdup(name);
        }
    }
    error_setg(errp, "no SCSI device of this domain has WWN %s and LUN %u",
               wwn, lun);
    return NULL;
}

/*
 * Resolve a p-dev into the QEMU device type and block node to use:
 *   h:c:t:l        a dom0 SCSI device; feature-host=1: scsi-generic on its
 *                  sg node, else scsi-hd/scsi-cd emulated over its block node
 *   naa.WWN:LUN    the dom0 SCSI device with that WWN and LUN, as h:c:t:l
 *   /dev/sgN       scsi-generic
 *   /dev/<block>   feature-host=1: scsi-block, else scsi-hd
 *   [raw:|qcow2:]iscsi://...   feature-host=1: scsi-block, else scsi-hd
 *   [raw:|qcow2:]/path/image   scsi-hd (qcow2 by prefix or .qcow2 suffix)
 *
 * The format is never probed: what a guest writes at the start of its
 * LUN must not decide how the host opens it (a qcow2 header naming a
 * backing file would hand the guest that host file). iSCSI LUNs are raw
 * unless the p-dev says qcow2:.
 */
static BlockDriverState *xen_pvscsi_open_pdev(const char *pdev, bool host,
                                              const char **type,
                                              Error **errp)
{
    g_autofree char *node = NULL;
    g_autofree char *hctl = NULL;
    const char *driver = NULL;
    const char *fmt = NULL;
    const char *path = pdev;
    QDict *opts = qdict_new();
    unsigned int h, c, t, l;
    char tail;
    struct stat st;

    if (g_str_has_prefix(pdev, "naa.")) {
        hctl = xen_pvscsi_resolve_naa(pdev, errp);
        if (!hctl) {
            goto fail;
        }
        path = hctl;
    }
    if (sscanf(path, "%u:%u:%u:%u%c", &h, &c, &t, &l, &tail) == 4) {
        int sdtype = xen_pvscsi_sysfs_type(path);

        if (sdtype < 0) {
            error_setg(errp, "no SCSI device %s in this domain", path);
            goto fail;
        }
        if (host) {
            node = xen_pvscsi_sysfs_node(path, "scsi_generic");
            *type = "scsi-generic";
        } else if (sdtype == TYPE_DISK || sdtype == TYPE_ROM) {
            node = xen_pvscsi_sysfs_node(path, "block");
            *type = sdtype == TYPE_ROM ? "scsi-cd" : "scsi-hd";
        } else {
            error_setg(errp, "SCSI device %s (type %d) can only be passed "
                       "through: set feature-host=1", path, sdtype);
            goto fail;
        }
        if (!node) {
            error_setg(errp, "SCSI device %s has no %s node", path,
                       host ? "sg" : "block");
            goto fail;
        }
        driver = "host_device";
        goto open;
    }

    if (g_str_has_prefix(pdev, "raw:")) {
        fmt = "raw";
        path += 4;
    } else if (g_str_has_prefix(pdev, "qcow2:")) {
        fmt = "qcow2";
        path += 6;
    }
    if (g_str_has_prefix(path, "iscsi://")) {
        node = g_strdup(path);
        *type = host && !strcmp(fmt ?: "raw", "raw") ? "scsi-block" :
                "scsi-hd";
        fmt = fmt ?: "raw";
        goto open;
    }
    if (path[0] != '/') {
        error_setg(errp, "p-dev '%s' is not one of: h:c:t:l, naa.<WWN>:<LUN>, "
                   "/dev/<node>, [raw:|qcow2:]/path/to/image, "
                   "[raw:|qcow2:]iscsi://...", pdev);
        goto fail;
    }
    if (stat(path, &st)) {
        error_setg_errno(errp, errno, "cannot open p-dev '%s'", path);
        goto fail;
    }
    node = g_strdup(path);
    if (S_ISCHR(st.st_mode)) {
        *type = "scsi-generic";
        driver = "host_device";
    } else if (S_ISBLK(st.st_mode)) {
        *type = host ? "scsi-block" : "scsi-hd";
        driver = "host_device";
    } else {
        *type = "scsi-hd";
        if (!fmt) {
            fmt = g_str_has_suffix(path, ".qcow2") ? "qcow2" : "raw";
        }
    }

open:
    qdict_put_str(opts, "driver", driver ?: fmt);
    if (driver && (!strcmp(*type, "scsi-generic") ||
                   !strcmp(*type, "scsi-block"))) {
        /* Only host_device (file-posix) has the option; SG_IO blocks. */
        qdict_put_str(opts, "aio", "threads");
    }
    /* A node, not a BlockBackend: the LUN's device is its only user. */
    return bdrv_open(node, NULL, opts, BDRV_O_RDWR, errp);

fail:
    qobject_unref(opts);
    return NULL;
}

static void xen_pvscsi_lun_error(XenPVSCSI *s, unsigned int devnum,
                                 Error *err)
{
    g_autofree char *key = g_strdup_printf("vscsi-devs/dev-%u/error",
                                           devnum);
    g_autofree char *skey = g_strdup_printf("vscsi-devs/dev-%u/state",
                                            devnum);

    error_report("xen-pvscsi: vhost %s dev-%u: %s", s->xendev.name, devnum,
                 error_get_pretty(err));
    xen_device_backend_printf(&s->xendev, key, "%s", error_get_pretty(err));
    xen_device_backend_printf(&s->xendev, skey, "%u", XenbusStateClosed);
    error_free(err);
}

static void xen_pvscsi_add_toolstack_lun(XenPVSCSI *s, unsigned int devnum)
{
    XenDevice *xendev = &s->xendev;
    g_autofree char *pdev = NULL;
    g_autofree char *vdev = NULL;
    g_autofree char *dir = g_strdup_printf("%s/vscsi-devs/dev-%u",
                                           xendev->backend_path, devnum);
    unsigned int hst, chn, tgt, lun;
    const char *type = NULL;
    Error *err = NULL;
    BlockDriverState *bs;
    DeviceState *dev;
    SCSIDevice *sdev;
    XenPVSCSILun *entry;
    char tail;

    pdev = xs_node_read(xendev->xsh, XBT_NULL, NULL, NULL, "%s/p-dev", dir);
    vdev = xs_node_read(xendev->xsh, XBT_NULL, NULL, NULL, "%s/v-dev", dir);
    if (!pdev || !vdev) {
        error_setg(&err, "p-dev or v-dev missing");
        goto fail;
    }
    if (sscanf(vdev, "%u:%u:%u:%u%c", &hst, &chn, &tgt, &lun, &tail) != 4 ||
        chn > XEN_PVSCSI_MAX_CHANNEL || tgt > XEN_PVSCSI_MAX_TARGET ||
        lun > XEN_PVSCSI_MAX_LUN) {
        error_setg(&err, "invalid v-dev '%s' (want h:c:t:l with c=0, "
                   "t<=%d, l<=%d)", vdev, XEN_PVSCSI_MAX_TARGET,
                   XEN_PVSCSI_MAX_LUN);
        goto fail;
    }
    sdev = scsi_device_find(&s->bus, chn, tgt, lun);
    if (sdev && sdev->lun == lun) {
        error_setg(&err, "v-dev %s is already in use", vdev);
        goto fail;
    }
    bs = xen_pvscsi_open_pdev(pdev, s->feature_host, &type, &err);
    if (!bs) {
        goto fail;
    }
    dev = qdev_new(type);
    qdev_prop_set_uint32(dev, "channel", chn);
    qdev_prop_set_uint32(dev, "scsi-id", tgt);
    qdev_prop_set_uint32(dev, "lun", lun);
    if (!object_property_set_str(OBJECT(dev), "drive",
                                 bdrv_get_node_name(bs), &err)) {
        bdrv_unref(bs);
        object_unref(OBJECT(dev));
        goto fail;
    }
    /* The plug handler finds this entry by address and keeps dev-N. */
    entry = xen_pvscsi_lun_new_toolstack(s, devnum, chn, tgt, lun);
    if (!qdev_realize_and_unref(dev, BUS(&s->bus), &err)) {
        /*
         * device_set_realized() has unparented the device (it had no
         * parent), which took it off the bus and released its drive; the
         * unref above freed it.
         */
        xen_pvscsi_lun_release(entry);
        bdrv_unref(bs);
        goto fail;
    }
    /* The device's BlockBackend holds the node now. */
    bdrv_unref(bs);
    return;

fail:
    error_prepend(&err, "cannot add %s: ", pdev ?: "LUN");
    xen_pvscsi_lun_error(s, devnum, err);
}

/*
 * Bring the LUN table in line with what a toolstack wrote: new dev-N in
 * state 1 become QEMU devices, dev-N set to 5 are to be removed.
 */
void xen_pvscsi_sync_toolstack_luns(XenPVSCSI *s)
{
    XenDevice *xendev = &s->xendev;
    g_autofree char *dir = g_strdup_printf("%s/vscsi-devs",
                                           xendev->backend_path);
    unsigned int i, n = 0, devnum, state;
    char **ent;

    ent = qemu_xen_xs_directory(xendev->xsh, XBT_NULL, dir, &n);
    for (i = 0; ent && i < n; i++) {
        g_autofree char *sdir = g_strdup_printf("%s/%s", dir, ent[i]);
        XenPVSCSILun *lun;

        if (!g_str_has_prefix(ent[i], "dev-") ||
            qemu_strtoui(ent[i] + 4, NULL, 10, &devnum) ||
            xs_node_scanf(xendev->xsh, XBT_NULL, sdir, "state", NULL, "%u",
                          &state) != 1) {
            continue;
        }
        lun = xen_pvscsi_find_devnum(s, devnum);
        if (!lun && state == XenbusStateInitialising) {
            xen_pvscsi_add_toolstack_lun(s, devnum);
        } else if (lun && state == XenbusStateClosing) {
            xen_pvscsi_lun_closing(s, lun);
        }
    }
    free(ent);
}
