# shellcheck shell=bash
# Host side: guest kernel modules built from contrib/linux for the
# scenarios that ask for them with a header line
#   # XE_LINUX_MODULES=VARIANT[,VARIANT...]
# and for those in $XE_LINUX_MODULES_EXTRA (same form)
# (variants of contrib/linux/build-module.sh: fix, multipage, hardirq). Sourced by
# lib/boot.sh, which calls
#   xe_linux_modules_build SCENARIO   before it waits for the outer-VM
#                                     lock: builds the modules (or finds
#                                     them in $XPV_CACHE/linux-modules)
#   xe_linux_modules_share SHARE      once the share is assembled: links
#                                     them as SHARE/boot/modules/
#                                     xen-scsifront-VARIANT.ko
# In dom0, domu_scsifront NAME VARIANT (lib/dom0.sh) puts one into a
# guest's ramdisk; the guest loads it with xe_load_scsifront (lib/guest.sh).
# A module that fails to build is logged here and missing in dom0, where
# domu_scsifront records the failure.
# SPDX-License-Identifier: GPL-2.0-or-later

XE_LM_FILES=()

xe_linux_modules_build() {
    local want v ko
    XE_LM_FILES=()
    want=$(xe_scenario_header "$1" XE_LINUX_MODULES)
    # and those a runner asks for (bench.sh's BENCH_SCSIFRONT)
    want="$want${XE_LINUX_MODULES_EXTRA:+,$XE_LINUX_MODULES_EXTRA}"
    want=${want#,}
    [ -n "$want" ] || return 0
    for v in ${want//,/ }; do
        if ko=$(bash "$XPV_ROOT/contrib/linux/build-module.sh" "$v") && [ -f "$ko" ]; then
            XE_LM_FILES+=("$v=$ko")
            xe_log "$1: xen-scsifront ($v): $ko"
        else
            xe_log "$1: contrib/linux/build-module.sh $v failed: the scenario runs without it"
        fi
    done
    return 0
}

xe_linux_modules_share() {
    local m
    [ ${#XE_LM_FILES[@]} -gt 0 ] || return 0
    mkdir -p "$1/boot/modules"
    for m in "${XE_LM_FILES[@]}"; do
        xe_link "${m#*=}" "$1/boot/modules/xen-scsifront-${m%%=*}.ko"
    done
}
