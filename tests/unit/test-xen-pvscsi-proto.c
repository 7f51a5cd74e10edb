/*
 * Unit tests for the xen-pvscsi request engine.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/xen/xen-pvscsi-proto.h"

static void test_decode_cdb_ok(void)
{
    vscsiif_request_t slot = {
        .rqid = 7, .act = VSCSIIF_ACT_SCSI_CDB, .cmd_len = 6,
        .sc_data_direction = VSCSIIF_DIR_NONE,
    };
    XenPVSCSIDecoded d;
    const char *why;

    g_assert_cmpint(xen_pvscsi_decode(&slot, &d, 128, &why), ==,
                    XEN_VSCSIIF_RSLT_HOST_OK);
    g_assert_cmpint(d.req.rqid, ==, 7);
    g_assert_cmpint(d.mode, ==, XEN_PVSCSI_DATA_NONE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xen-pvscsi/decode/cdb-ok", test_decode_cdb_ok);
    return g_test_run();
}
