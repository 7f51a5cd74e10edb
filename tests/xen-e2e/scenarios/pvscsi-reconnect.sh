#!/bin/bash
# pvscsi-fio plus a frontend reconnect (xen-scsifront unbind/bind)
# XE_DEFAULT=0 (known failing: the LUNs do not come back after the rebind)
# XE_TIMEOUT=720
# SPDX-License-Identifier: GPL-2.0-or-later
XE_RECONNECT=1
# shellcheck source=pvscsi-fio.sh
. "$XE_HARNESS/scenarios/pvscsi-fio.sh"
