#!/bin/bash
# pvscsi-rogue's multi-page ring cases (mp-*) alone, e.g. under the ASan build
# XE_DEFAULT=0
# XE_TIMEOUT=900
# The same scenario as pvscsi-rogue (every vhost, dom0 agent and check),
# with the hostile frontend running only the mp-* cases: bad orders, a
# max-0 vhost, missing and extra ring-ref%u, bad num-ring-pages, a 64-slot
# ring full of I/O, order changes. For issue 15's "rogue cases under ASan":
#   XPV_SANITIZERS=1 tests/xen-e2e/run.sh pvscsi-rogue-mp
# SPDX-License-Identifier: GPL-2.0-or-later
XE_ROGUE_CASES="mp-order-above-max mp-order-max0 mp-num-pages-bad mp-ref-missing mp-refs-extra mp-ring-64 mp-order-change"
. "$(dirname "${BASH_SOURCE[0]}")/pvscsi-rogue.sh"
