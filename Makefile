# dlszone: build, test and lint entry points. See README.md and docs/build.md.
#
#   make          check the toolchain (installing it on Debian when root),
#                 build the kernel artifacts into build/amd64/, run the
#                 object gates
#   make test     host tests, and the kernel objects loaded on the host
#                 by tools/kload (what CI runs)
#   make soak     long random and model-checking runs (not for CI)
#   make bench    benchmarks (docs/performance.md)
#   make lint     rustfmt check, clippy -D warnings (host and kernel cfgs)
#   make clean    remove build/ and target/
#   make install | load | unload     (illumos only)
#
# Variables (defaults chosen by the host; override on the command line):
#   KERNEL_TOOLCHAIN  debian: /usr/bin/{rustc,cargo} from rustc-web/cargo-web
#                     with the rust-web-src library source (Linux default);
#                     rustup: `cargo +$(NIGHTLY)` with the rust-src component
#                     (illumos default)
#   NIGHTLY           rustup toolchain for KERNEL_TOOLCHAIN=rustup (nightly)
#   KLD               gnu: GNU ld -r + objcopy (Linux default);
#                     illumos: illumos ld -r -ztype=kmod -N... (illumos default)
#   OBJDUMP, READELF, OBJCOPY, GNU_LD   GNU binutils (g-prefixed on illumos)
#   ILLUMOS_GATE      an illumos-gate checkout: bindgen reads its headers
#   DESTDIR           staging root for `make install`
#   KRUSTFLAGS        extra rustc flags for the kernel build, e.g.
#                     "--cfg dlszone_ktest_selffail" (docs/testing.md)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

UNAME_S := $(shell uname -s)
ifeq ($(UNAME_S),SunOS)
KERNEL_TOOLCHAIN ?= rustup
KLD ?= illumos
GNU_PREFIX ?= g
else
KERNEL_TOOLCHAIN ?= debian
KLD ?= gnu
GNU_PREFIX ?=
endif
# GNU binutils (prefixed with g on illumos, e.g. gobjdump).
OBJDUMP ?= $(GNU_PREFIX)objdump
READELF ?= $(GNU_PREFIX)readelf
OBJCOPY ?= $(GNU_PREFIX)objcopy
GNU_LD ?= $(GNU_PREFIX)ld
NIGHTLY ?= nightly
PYTHON ?= python3

KTARGET := x86_64-unknown-illumos-kernel
KTARGET_JSON := targets/$(KTARGET).json
KTARGET_DIR := target/kernel
KLIB := $(KTARGET_DIR)/$(KTARGET)/release/libdlszone.a
BUILD_DIR := build/amd64
KTEST_MODULE := $(BUILD_DIR)/dlszone_ktest
KTEST_EXPORTS := tools/dlszone_ktest.exports
KTEST_DEPENDS := drv/ktest
ALLOWLIST := tools/kernel-symbols.allow

# How cargo is run for the kernel target.
ifeq ($(KERNEL_TOOLCHAIN),debian)
# /usr/bin goes first on PATH so cargo's subcommands (cargo-clippy,
# clippy-driver) are Debian's too, matching /usr/bin/rustc.
KCARGO := env PATH=/usr/bin:$(PATH) RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo
else ifeq ($(KERNEL_TOOLCHAIN),rustup)
KCARGO := cargo +$(NIGHTLY)
else
$(error KERNEL_TOOLCHAIN must be debian or rustup)
endif

# Everything the kernel build needs on the command line: build-std and the
# target stay out of any .cargo/config.toml so host builds never see them.
KCARGO_ENV := CARGO_TARGET_DIR=$(KTARGET_DIR) \
	CARGO_PROFILE_RELEASE_DEBUG=0 \
	CARGO_PROFILE_RELEASE_PANIC=abort \
	RUSTFLAGS="-C force-unwind-tables=no $(KRUSTFLAGS)"
KCARGO_ARGS := --release --lib --features ktest \
	-Zbuild-std=core,alloc -Zjson-target-spec --target $(KTARGET_JSON)

GATES := $(PYTHON) tools/kobj-gates --allow $(ALLOWLIST) --objdump $(OBJDUMP)
ifeq ($(KLD),gnu)
KTEST_GATES := $(GATES) --exports $(KTEST_EXPORTS)
else
KTEST_GATES := $(GATES)
endif

# illumos install locations (ktest(8) loads <name>_ktest from here).
KTEST_DIR := /usr/kernel/misc/ktest/amd64

.PHONY: all toolchain test-toolchain lint-toolchain kmod gates test ktest-selffail soak bench lint \
	fmt-check clippy clippy-host clippy-kernel clean install load unload illumos-only \
	kmod-selffail kload-test

all: toolchain kmod gates

toolchain:
	@tools/ensure-deps build

test-toolchain:
	@tools/ensure-deps test

lint-toolchain:
	@tools/ensure-deps lint

# cargo decides what to rebuild; the link step always reruns (it is fast).
kmod: toolchain
	$(KCARGO_ENV) $(KCARGO) rustc $(KCARGO_ARGS) --crate-type staticlib
	LD=$(if $(filter illumos,$(KLD)),/usr/bin/ld,$(GNU_LD)) OBJCOPY=$(OBJCOPY) READELF=$(READELF) \
		tools/link-kmod --linker $(KLD) \
		--exports $(KTEST_EXPORTS) --depends "$(KTEST_DEPENDS)" \
		--out $(KTEST_MODULE) $(KLIB)

gates: kmod
	$(KTEST_GATES) $(KTEST_MODULE)
	@echo "readelf relocation types in $(KTEST_MODULE):"
	@$(READELF) -rW $(KTEST_MODULE) | awk '/R_X86_64_/ { print "  " $$3 }' | sort | uniq -c
	@echo "undefined symbols (all in $(ALLOWLIST)):"
	@$(READELF) -sW $(KTEST_MODULE) | awk '$$7 == "UND" && $$8 != "" { print $$8 }' | sort | \
		xargs -n 8 echo " "

# Later issues append their host test steps here.
# Host tests: unit, rule, scenario, model-based (10,000 random sequences),
# ktest bodies through the host runner, loom and shuttle suites, the short
# stress run, and proof that the test machinery bites (ktest self-failure,
# deliberately broken lock-protocol variants caught by loom and shuttle).
test: test-toolchain
	cargo test
	$(MAKE) --no-print-directory ktest-selffail
	$(MAKE) --no-print-directory kload-test
	tools/test-concurrency.sh ci
	tools/test-concurrency.sh broken

# Long runs, not for CI: a million model sequences, unbounded loom,
# 50,000 shuttle schedules per scheduler, the long stress test.
soak: test-toolchain
	DLSZONE_MODEL_CASES=1000000 cargo test --release --test model registry_matches_model
	tools/test-concurrency.sh soak

# Speed and memory figures (criterion); see docs/performance.md.
bench: test-toolchain
	cargo bench --bench registry --bench concurrency

# The ktest bodies run on the host in `cargo test` (tests/ktest_host.rs).
# This checks that a failure gets through: built with the test-only
# --cfg dlszone_ktest_selffail, the runner must exit 1 and report the
# deliberate failures as FAIL/ERROR at the lines of their assertions.
# An explicit --target keeps RUSTFLAGS off build scripts and puts the
# artifacts beside, not over, those of the plain host build.
SELFFAIL_SRC := kernel/ktest/selffail.rs
SELFFAIL_CARGO := RUSTFLAGS="--cfg dlszone_ktest_selffail" cargo test \
	--target "$$(rustc -vV | sed -n 's/^host: //p')" --test ktest_host
ktest-selffail: test-toolchain
	$(SELFFAIL_CARGO) --no-run
	bin=$$($(SELFFAIL_CARGO) --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$$/\1/p'); \
	fail=$$(grep -m1 -n 'kt_assert3u!(sum' $(SELFFAIL_SRC) | cut -d: -f1); \
	err=$$(grep -m1 -n 'kt_eok!(setup' $(SELFFAIL_SRC) | cut -d: -f1); \
	rc=0; out=$$("$$bin" -p -o result,test,line,reason 'dlszone:selffail') || rc=$$?; \
	echo "$$out"; \
	if [ "$$rc" -ne 1 ] || \
	   ! grep -qF "FAIL:deliberate_fail_test:$$fail:sum == 5 (0x4 == 0x5)\\: deliberate" <<<"$$out" || \
	   ! grep -qF "ERROR:deliberate_error_test:$$err:setup failed\\: ENOMEM(12)" <<<"$$out"; then \
		echo "ktest-selffail: deliberate failures not reported (exit $$rc)" >&2; exit 1; \
	fi; \
	echo "ktest-selffail: exit 1, FAIL at line $$fail and ERROR at line $$err, as written"

# The kernel objects themselves, loaded on the host by tools/kload
# (docs/testing.md): its own tests (fixtures that must be refused or must
# fail, the real module's life cycle and error paths, the self-fail
# build), then a plain run of build/amd64/dlszone_ktest printing the
# ktest table and each test's kernel stack use. Builds both objects
# first (a no-op when current). The C ABI object, once the build makes
# it, is loaded and relocated against the emulated kernel too (it is
# linked into misc/dls, so it declares no dependencies of its own): a
# symbol the emulation lacks fails here, by name.
SELFFAIL_MODULE := $(BUILD_DIR)/selffail/dlszone_ktest
DLS_MGMT_OBJECT := $(BUILD_DIR)/dls_mgmt.o
DLS_MGMT_DEPENDS ?=
kload-test: kmod kmod-selffail
	KLOAD_KTEST=$(CURDIR)/$(KTEST_MODULE) KLOAD_KTEST_SELFFAIL=$(CURDIR)/$(SELFFAIL_MODULE) \
		cargo test -p kload
	cargo run -q -p kload -- $(KTEST_MODULE)
	if [ -f $(DLS_MGMT_OBJECT) ]; then \
		cargo run -q -p kload -- --load-only --depends "$(DLS_MGMT_DEPENDS)" $(DLS_MGMT_OBJECT); \
	else echo "kload: no $(DLS_MGMT_OBJECT) yet: nothing more to load"; fi

# The kernel build with the deliberately failing ktests, in a cargo
# target directory of its own so neither build invalidates the other.
kmod-selffail: toolchain
	$(MAKE) --no-print-directory kmod gates KTARGET_DIR=target/kernel-selffail \
		KRUSTFLAGS="--cfg dlszone_ktest_selffail" KTEST_MODULE=$(SELFFAIL_MODULE)

lint: lint-toolchain fmt-check clippy

fmt-check:
	cargo fmt --all --check

clippy: clippy-host clippy-kernel

clippy-host:
	cargo clippy --workspace --all-targets -- -D warnings

# The kernel cfg (cfg(kmod)) only exists when building for the kernel
# target, so clippy runs through the same build-std invocation.
clippy-kernel:
	$(KCARGO_ENV) $(KCARGO) clippy $(KCARGO_ARGS) -- -D warnings

clean:
	rm -rf build target

illumos-only:
	@if [ "$(UNAME_S)" != SunOS ]; then \
		echo "make $(MAKECMDGOALS): only on an illumos host" >&2; exit 1; fi

install: illumos-only
	@test -f $(KTEST_MODULE) || { echo "run make first" >&2; exit 1; }
	install -d $(DESTDIR)$(KTEST_DIR)
	install -m 0755 $(KTEST_MODULE) $(DESTDIR)$(KTEST_DIR)/dlszone_ktest

load: illumos-only
	modload $(KTEST_DIR)/dlszone_ktest
	modinfo | awk '$$6 == "dlszone_ktest"'

unload: illumos-only
	@id=$$(modinfo | awk '$$6 == "dlszone_ktest" { print $$1 }'); \
	if [ -z "$$id" ]; then echo "dlszone_ktest is not loaded"; exit 0; fi; \
	modunload -i $$id
