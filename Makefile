# xen-pvscsi: the Xen PV SCSI backend as a QEMU device.
# Everything is built outside the clone (see ./configure --help).
# SPDX-License-Identifier: GPL-2.0-or-later

S := scripts/xen-pvscsi

.PHONY: all deps build check check-asan check-series rogue demo bench bench-native fuzz patches clean help

all: build

help:
	@echo "make demo    - set up everything, boot real Xen, guest uses a xen-pvscsi disk"
	@echo "make check   - all tests (unit, style, fuzz smoke, end-to-end under real Xen)"
	@echo "make check-asan - ASan+UBSan QEMU build (CACHE/build-asan): unit tests, the"
	@echo "              native bench's smoke (dataplane under load and ABORTs) and the"
	@echo "              e2e scenarios pvscsi-rogue, pvscsi-basic, pvscsi-fio; fails on"
	@echo "              any sanitizer report"
	@echo "make rogue   - build the hostile frontend tests/rogue/xen-vscsi-rogue"
	@echo "make bench   - fio: xen-pvscsi vs kernel xen-scsiback vs xen-block"
	@echo "make bench-native - cost per request of the dataplane without Xen"
	@echo "              (loopback transport, null-co), beside qemu-img bench"
	@echo "make build   - build QEMU with xen-pvscsi"
	@echo "make fuzz    - long libFuzzer run (FUZZ_RUNS, default 10000000)"
	@echo "make patches - the project as a git format-patch series against QEMU"
	@echo "make check-series - every patch of the series applies, builds, passes"
	@echo "              checkpatch and the unit test, in order (incremental)"

deps:
	@bash $(S)/deps.sh

build: deps
	@bash $(S)/build.sh

check:
	@bash $(S)/check.sh

# The sanitizer build has its own build dir (common.sh: build-asan).
check-asan:
	@XPV_SANITIZERS=1 XPV_CHECK_GROUPS="$${XPV_CHECK_GROUPS:-build unit bench-native e2e}" \
	 XPV_E2E_SCENARIOS="$${XPV_E2E_SCENARIOS:-pvscsi-rogue pvscsi-basic pvscsi-fio}" \
	 bash $(S)/check.sh

rogue:
	@bash $(S)/build-rogue.sh

demo: build
	@bash tests/xen-e2e/demo.sh

bench: build
	@bash tests/xen-e2e/bench.sh

bench-native: build
	@bash $(S)/bench-native.sh

fuzz: build
	@FUZZ_RUNS=$${FUZZ_RUNS:-10000000} bash $(S)/fuzz.sh

patches:
	@bash $(S)/format-patches.sh

check-series: build
	@bash $(S)/check-series.sh

clean:
	@. $(S)/common.sh && echo "removing $$XPV_BUILD" && rm -rf "$$XPV_BUILD"
