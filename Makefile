# dlszone: build, test and lint entry points. See README.md and docs/build.md.
#
#   make          check the toolchain (installing it on Debian when root),
#                 build the kernel objects into build/amd64/, run the
#                 object gates on each
#   make test     host tests, and the kernel objects loaded on the host
#                 by tools/kload (what CI runs)
#   make soak     long random and model-checking runs (not for CI)
#   make bench    benchmarks (docs/performance.md)
#   make bench-smoke  the side-by-side benchmark builds and runs one tiny
#                 iteration of everything (no timing assertion)
#   make lint     rustfmt check, clippy -D warnings (host and kernel cfgs),
#                 mandoc -Tlint of docs/man/dlszone.7
#   make clean    remove build/ and target/
#   make install  drivers into /usr/kernel (illumos; or DESTDIR=staging root)
#   make load | unload     (illumos only)
#
# Variables (defaults chosen by the host; override on the command line):
#   KERNEL_TOOLCHAIN  debian: /usr/bin/{rustc,cargo} from rustc-web/cargo-web
#                     with the rust-web-src library source (Linux default);
#                     rustup: `cargo +$(NIGHTLY)` with the rust-src component
#                     (illumos default)
#   NIGHTLY           rustup toolchain for KERNEL_TOOLCHAIN=rustup (nightly)
#   KLD               gnu: GNU ld -r + objcopy (Linux default);
#                     illumos: illumos ld -r -ztype=kmod -N... (illumos default)
#   OBJDUMP, READELF, OBJCOPY, GNU_LD, CXXFILT   GNU binutils (g-prefixed
#                     on illumos)
#   ILLUMOS_GATE      an illumos-gate checkout: bindgen reads its headers
#   DESTDIR           staging root for `make install`
#   KRUSTFLAGS        extra rustc flags for the kernel build, e.g.
#                     "--cfg dlszone_ktest_selffail" (docs/testing.md)

SHELL := /bin/bash
# cargo caches its compiler probes in target/.rustc_info.json; a probe
# result cached by one toolchain or cfg has been seen to poison a later
# run with another. Probing afresh costs milliseconds.
export CARGO_CACHE_RUSTC_INFO := 0
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
CXXFILT ?= $(GNU_PREFIX)c++filt
NIGHTLY ?= nightly
PYTHON ?= python3

KTARGET := x86_64-unknown-illumos-kernel
KTARGET_JSON := targets/$(KTARGET).json
KTARGET_DIR := target/kernel
# cargo's output directory for the kernel target. The core is also built
# alone, as the object for misc/dls will link it, and checked to carry no
# test code (kmod-core, gates-core).
KOUT := $(KTARGET_DIR)/$(KTARGET)/release
CORE_LIB := $(KOUT)/libdlszone.a
BUILD_DIR := build/amd64
KTEST_MODULE := $(BUILD_DIR)/dlszone_ktest
ALLOWLIST := tools/kernel-symbols.allow

# ---- Kernel objects --------------------------------------------------------
# One stanza per object in build/amd64/; the rules below are generated for
# each name in KOBJS (kmod-<name> compiles and links it, gates-<name> runs
# every object gate on it). See docs/build.md.
#
#   <name>_CRATE     the workspace package built as its staticlib
#   <name>_KIND      module: loadable, with _init/_fini/_info/_depends_on;
#                    object: linked into another module (no linkage)
#   <name>_EXPORTS   the exact list of globals it defines (both linkers)
#   <name>_DEPENDS   modules krtld loads before it (modules only)
#   <name>_STACK     stack budget of its entry points, bytes
#                    (docs/build.md, "Stack budget")
#   <name>_ALLOW     allowlists of undefined symbols beyond $(ALLOWLIST)
#   <name>_RUSTFLAGS extra rustc flags (core and alloc are rebuilt with
#                    them, in a cargo target directory of the object's own)
#   <name>_NOPANIC   yes: the no-panic gate (no Rust panic machinery)
#   <name>_MAX_ABORTS  the most ud2 trap sites the object may have
#   <name>_MODOPS    a module: the framework ops vector its linkage names
#                    (mod_miscops, mod_driverops), checked by the gates
#   <name>_ROOTS     regexes (mangled names) of functions C calls through
#                    pointers, entry points besides the exports
KOBJS := dlszone_ktest dlszone dls_mgmt.o

dlszone_ktest_CRATE := dlszone-ktest
dlszone_ktest_KIND := module
dlszone_ktest_EXPORTS := tools/dlszone_ktest.exports
dlszone_ktest_DEPENDS := drv/ktest
dlszone_ktest_MODOPS := mod_miscops
dlszone_ktest_STACK := 4096
# A ratchet on the trap sites with no message: alloc::sync::Arc's clone
# overflow checks (the registry's shared MAC names and its door, one in
# each test body that registers a fake dlmgmtd), which the ktest build's
# panic handler cannot reach (docs/build.md, "Panics").
dlszone_ktest_MAX_ABORTS := 31
# The ktest_fn_t trampolines of kernel/ktest/glue.rs (one per test), and
# the dlszone kstat's ks_update callback (kernel/kmod/kstat.rs), which
# the kstat framework calls.
dlszone_ktest_ROOTS := 13dlszone_ktest6SUITES.*5entry 4kmod5kstat6kernel12kstat_update

# drv/dlszone, the pseudo driver whose ioctls reach the IPD 3 entry points
# of misc/dls (kernel/drv, include/sys/dlszone_ioctl.h). Its undefined
# symbols, the IPD 3 functions included, are all on its own allowlist.
dlszone_CRATE := dlszone-drv
dlszone_KIND := module
dlszone_EXPORTS := tools/dlszone.exports
dlszone_DEPENDS := misc/dls
dlszone_MODOPS := mod_driverops
dlszone_ALLOW := tools/dlszone-symbols.allow
dlszone_STACK := 4096
# No Rust panic machinery, as dls_mgmt.o (docs/build.md, "Panics").
dlszone_RUSTFLAGS := -Zunstable-options -Cpanic=immediate-abort
dlszone_NOPANIC := yes
dlszone_MAX_ABORTS := 1
# The cb_ops and dev_ops entry points, which the framework calls through
# the vectors.
dlszone_ROOTS := 7illumos7dz_open 7illumos8dz_close 7illumos8dz_ioctl 7illumos10dz_getinfo \
	7illumos9dz_attach 7illumos9dz_detach

# The replacement of dls_mgmt.c's object in misc/dls (docs/integration.md).
dls_mgmt.o_CRATE := dlszone-dls
dls_mgmt.o_KIND := object
dls_mgmt.o_EXPORTS := tools/dls_mgmt.exports
dls_mgmt.o_ALLOW := tools/dls_mgmt-symbols.allow
dls_mgmt.o_STACK := 4096
# No Rust panic machinery in the object (docs/build.md, "Panics"): a
# check the compiler could not prove away is a trap at its site, and the
# gates count those sites.
dls_mgmt.o_RUSTFLAGS := -Zunstable-options -Cpanic=immediate-abort
dls_mgmt.o_NOPANIC := yes
# A ratchet on those trap sites: lower it as checks are proven away.
dls_mgmt.o_MAX_ABORTS := 45
# Functions illumos calls through pointers: the netstack callbacks, the
# "link" kstats' and the dlszone kstat's updates, the task-queue entry
# point.
dls_mgmt.o_ROOTS := 3abi16dls_stack_create 3abi18dls_stack_shutdown 3abi17dls_stack_destroy \
	3abi21dls_link_kstat_update 4kmod5kstat6kernel12kstat_update 3dls8run_task

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
# Codegen flags that are not target-spec fields (docs/build.md, "Compile"):
#   -Zretpoline-external-thunk  every indirect call and jump goes through
#                               the kernel's __x86_indirect_thunk_<reg>
#   -Cjump-tables=no            switches become compare chains, not
#                               indirect jumps through a table
#   -Zemit-stack-sizes          each function's frame size, for the stack
#                               gate (.stack_sizes, never loaded)
# The -Z flags are target modifiers: build-std compiles core, alloc and
# compiler_builtins with them too, as it must.
KCODEGEN := -C force-unwind-tables=no -Zretpoline-external-thunk -C jump-tables=no \
	-Zemit-stack-sizes
KCARGO_ENV := CARGO_TARGET_DIR=$(KTARGET_DIR) \
	CARGO_PROFILE_RELEASE_DEBUG=0 \
	CARGO_PROFILE_RELEASE_PANIC=abort \
	RUSTFLAGS="$(KCODEGEN) $(KRUSTFLAGS)"
KCARGO_ARGS := --release --lib \
	-Zbuild-std=core,alloc -Zjson-target-spec --target $(KTARGET_JSON)
# Clippy checks the kernel cfg of the core and of every object's crate.
KCLIPPY_CRATES := $(sort dlszone $(foreach o,$(KOBJS),$($(o)_CRATE)))

GATES := $(PYTHON) tools/kobj-gates --allow $(ALLOWLIST) --objdump $(OBJDUMP) \
	--cxxfilt $(CXXFILT)
LINK_ENV := LD=$(if $(filter illumos,$(KLD)),/usr/bin/ld,$(GNU_LD)) OBJCOPY=$(OBJCOPY) \
	READELF=$(READELF)

# illumos install locations (ktest(8) loads <name>_ktest from here).
KTEST_DIR := /usr/kernel/misc/ktest/amd64

.PHONY: all toolchain test-toolchain lint-toolchain kmod gates test ktest-selffail soak bench \
	bench-smoke lint $(KOBJS:%=kmod-%) $(KOBJS:%=gates-%) kmod-core gates-core \
	fmt-check clippy clippy-host clippy-kernel man-lint clean install load unload illumos-only gates-nopanic-bites \
	kmod-selffail kload-test c-test reliability fuzz fuzz-build fuzz-merge

all: toolchain kmod gates

toolchain:
	@tools/ensure-deps build

test-toolchain:
	@tools/ensure-deps test

lint-toolchain:
	@tools/ensure-deps lint

# cargo decides what to rebuild; the link step always reruns (it is fast).
# Each object's staticlib is copied out of cargo's output before the next
# object's build replaces it, so the kmod rules run one after another
# (each depends on the previous one) even under make -j.
#
# $(1): object name; $(2): the previous object's kmod rule, if any.
define KOBJ_RULES
kmod-$(1): toolchain $(2)
	$$(KCARGO_ENV) $$(if $$($(1)_RUSTFLAGS),CARGO_TARGET_DIR=$$(KTARGET_DIR)-$(1) \
		RUSTFLAGS="$$(KCODEGEN) $$(KRUSTFLAGS) $$($(1)_RUSTFLAGS)") \
		$$(KCARGO) rustc -p $$($(1)_CRATE) $$(KCARGO_ARGS) --crate-type staticlib
	cp $$(if $$($(1)_RUSTFLAGS),$$(KTARGET_DIR)-$(1),$$(KTARGET_DIR))/$$(KTARGET)/release/$$(subst -,_,lib$$($(1)_CRATE)).a \
		$$(KTARGET_DIR)/$(1).a
	$$(LINK_ENV) tools/link-kmod --linker $$(KLD) --kind $$($(1)_KIND) \
		--exports $$($(1)_EXPORTS) $$(if $$($(1)_DEPENDS),--depends "$$($(1)_DEPENDS)") \
		--out $$(BUILD_DIR)/$(1) $$(KTARGET_DIR)/$(1).a

gates-$(1): kmod-$(1)
	$$(GATES) $$(foreach a,$$($(1)_ALLOW),--allow $$(a)) --exports $$($(1)_EXPORTS) \
		$$(if $$(filter object,$$($(1)_KIND)),--no-linkage) \
		$$(if $$($(1)_DEPENDS),--depends "$$($(1)_DEPENDS)") \
		$$(if $$($(1)_MODOPS),--mod-ops $$($(1)_MODOPS)) \
		$$(if $$($(1)_NOPANIC),--no-panic) \
		$$(if $$($(1)_MAX_ABORTS),--max-aborts $$($(1)_MAX_ABORTS)) \
		--stack-budget $$($(1)_STACK) $$(foreach r,$$($(1)_ROOTS),--stack-root '$$(r)') \
		$$(BUILD_DIR)/$(1)
	@echo "readelf relocation types in $$(BUILD_DIR)/$(1):"
	@$$(READELF) -rW $$(BUILD_DIR)/$(1) | awk '/R_X86_64_/ { print "  " $$$$3 }' | sort | uniq -c
	@echo "undefined symbols (all on the allowlists):"
	@$$(READELF) -sW $$(BUILD_DIR)/$(1) | awk '$$$$7 == "UND" && $$$$8 != "" { print $$$$8 }' | \
		sort | xargs -n 8 echo " "
endef
KOBJ_PREV :=
$(foreach o,$(KOBJS),$(eval $(call KOBJ_RULES,$(o),$(KOBJ_PREV)))$(eval KOBJ_PREV := kmod-$(o)))

# The core alone (the registry, the door protocol, the kernel wrappers),
# as the object for misc/dls links it: it must carry no test code. The
# check must also flag the ktest library, or it proves nothing.
kmod-core: toolchain $(KOBJS:%=kmod-%)
	$(KCARGO_ENV) $(KCARGO) rustc -p dlszone $(KCARGO_ARGS) --crate-type staticlib

gates-core: kmod-core
	$(PYTHON) tools/no-test-code --readelf $(READELF) $(CORE_LIB)
	@if $(PYTHON) tools/no-test-code --readelf $(READELF) $(KTARGET_DIR)/dlszone_ktest.a \
		>/dev/null; then \
		echo "no-test-code: the ktest library passed: the check does not bite" >&2; exit 1; fi

kmod: $(KOBJS:%=kmod-%) kmod-core

# The no-panic gate must bite: the ktest module keeps Rust's panic handler
# (its tests report through it), so the gate must refuse it.
gates-nopanic-bites: kmod-dlszone_ktest
	@if $(GATES) --no-panic -q $(KTEST_MODULE) >/dev/null 2>&1; then \
		echo "kobj-gates: --no-panic passed $(KTEST_MODULE), which has a panic handler: the gate does not bite" >&2; \
		exit 1; fi
	@echo "kobj-gates: --no-panic refuses $(KTEST_MODULE) (it has Rust panic machinery), as it must"

gates: $(KOBJS:%=gates-%) gates-core gates-nopanic-bites

# Later issues append their host test steps here.
# Host tests: unit, rule, scenario, model-based (10,000 random sequences),
# ktest bodies through the host runner, loom and shuttle suites, the short
# stress run, and proof that the test machinery bites (ktest self-failure,
# deliberately broken lock-protocol variants caught by loom and shuttle),
# and the object gates over the objects kload-test built (so a change that
# breaks `make` fails the tests too).
test: test-toolchain
	cargo test --workspace --exclude kload
	tools/check-illumos
	$(MAKE) --no-print-directory c-test
	$(MAKE) --no-print-directory ktest-selffail
	$(MAKE) --no-print-directory kload-test
	$(MAKE) --no-print-directory gates
	tools/test-concurrency.sh ci
	tools/test-concurrency.sh broken
	$(MAKE) --no-print-directory reliability
	$(MAKE) --no-print-directory bench-smoke

# Issue 14's reliability checks (docs/testing.md, "Faults, fuzzing and
# zone isolation"), again with their counts printed (cargo test above
# ran them quietly): the fault-injection driver's (scenario, upcall,
# fault) runs, the replay of the checked-in fuzz corpus, and the zone
# isolation properties at the registry and at the C API.
RELIABILITY_LOG := build/reliability.log
reliability: test-toolchain
	@mkdir -p build
	@rc=0; { cargo test -p dlszone-dls --test fault_injection --test fuzz_corpus \
		--test zone_isolation_abi -- --nocapture && \
		cargo test --test zone_isolation -- --nocapture; } >$(RELIABILITY_LOG) 2>&1 || rc=$$?; \
	grep -E '^(fault injection|fuzz corpus|zone isolation)|^FAILED|panicked|^test result' \
		$(RELIABILITY_LOG); \
	if [ "$$rc" -ne 0 ]; then echo "reliability: failed; the whole log is $(RELIABILITY_LOG)" >&2; exit 1; fi

# Coverage-guided fuzzing with libFuzzer (docs/testing.md): builds the
# targets of tests/fuzz/ with a nightly toolchain (sanitizer coverage,
# and AddressSanitizer unless FUZZ_ASAN=0), then runs each for FUZZ_TIME
# seconds over a working corpus in build/fuzz/<target>, seeded from the
# checked-in corpus tests/fuzz/corpus/<target>. Long: not part of make
# test, which replays the checked-in corpus without libFuzzer.
# `make fuzz-merge` minimizes a working corpus into the checked-in one.
FUZZ_TARGETS ?= abi door
FUZZ_TIME ?= 600
FUZZ_ASAN ?= 1
FUZZ_TOOLCHAIN ?= +nightly
FUZZ_HOST = $$(rustc -vV | sed -n 's/^host: //p')
FUZZ_TARGET_DIR := $(CURDIR)/target/fuzz$(if $(filter 0,$(FUZZ_ASAN)),-plain)
FUZZ_RUSTFLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
	-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
	--cfg fuzzing -Cdebug-assertions -Coverflow-checks \
	$(if $(filter 0,$(FUZZ_ASAN)),,-Zsanitizer=address)
# The ABI target checks its own leaks after every input (handles, holds,
# dls_link_t references, kstats, link records); LeakSanitizer's check
# after every input would only find the fake kernel's per-test globals.
FUZZ_ARGS_abi := -detect_leaks=0
FUZZ_BIN = $(FUZZ_TARGET_DIR)/$(FUZZ_HOST)/release
fuzz-build:
	cd tests/fuzz && CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) RUSTFLAGS="$(FUZZ_RUSTFLAGS)" \
		cargo $(FUZZ_TOOLCHAIN) build --release --target $(FUZZ_HOST) --bins

fuzz: fuzz-build
	for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/$$t || exit 1; \
		case $$t in abi) a="$(FUZZ_ARGS_abi)";; *) a=;; esac; \
		$(FUZZ_BIN)/$$t build/fuzz/$$t tests/fuzz/corpus/$$t -max_total_time=$(FUZZ_TIME) \
			-timeout=10 -rss_limit_mb=4096 -print_final_stats=1 $$a \
			2>&1 | tail -n 12; \
		test "$${PIPESTATUS[0]}" -eq 0 || exit 1; \
	done

fuzz-merge: fuzz-build
	for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/$$t.min || exit 1; \
		case $$t in abi) a="$(FUZZ_ARGS_abi)";; *) a=;; esac; \
		$(FUZZ_BIN)/$$t -merge=1 $$a build/fuzz/$$t.min tests/fuzz/corpus/$$t \
			build/fuzz/$$t >/dev/null 2>&1 || exit 1; \
		rm -rf tests/fuzz/corpus/$$t && mv build/fuzz/$$t.min tests/fuzz/corpus/$$t; \
		echo "fuzz-merge: $$t: $$(ls tests/fuzz/corpus/$$t | wc -l) inputs"; \
	done

# Long runs, not for CI: a million model sequences, unbounded loom,
# 50,000 shuttle schedules per scheduler, the long stress test.
soak: test-toolchain
	DLSZONE_MODEL_CASES=1000000 cargo test --release --test model registry_matches_model
	tools/test-concurrency.sh soak

# Speed and memory figures; see docs/performance.md. registry and
# concurrency are criterion benches; side_by_side times dlszone against a
# model of illumos' devnet bookkeeping and prints one table (a few
# minutes; DLSZONE_BENCH=quick for a short, rougher run).
bench: test-toolchain
	cargo bench --bench registry --bench concurrency --bench side_by_side

# A fast check that the side-by-side benchmark builds and runs: 100 links,
# one iteration of every operation, in the debug test profile, so it reuses
# the build `cargo test` made. Prints the table; asserts nothing about time.
bench-smoke: test-toolchain
	DLSZONE_BENCH=smoke cargo test --bench side_by_side

# The C tests of dls_mgmt.o's interface (docs/testing.md): C programs that
# include the project's headers and call the exported functions of a host
# build of the object (the kernel/dls crate as a static library, over the
# fake kernel of kernel/dls/host.rs), under AddressSanitizer and
# UndefinedBehaviorSanitizer. Each program prints one line per test.
# First, every symbol of tools/dls_mgmt.exports must be what abi.rs
# defines and be called by some tests/c/abi/t_*.c (c_exports.rs). Last,
# the harness must bite: tests/c/abi/selffail.c, built on its own, must
# exit 1 reporting its deliberately false check and its deliberately
# changed state at their lines, and its -DDT_SELFFAIL_OVERREAD build must
# die at the read past a name without a NUL.
CTEST_CC ?= gcc
CTEST_DIR := build/ctest
CTEST_LIB := target/ctest/debug/libdlszone_dls.a
CTEST_SRC := $(wildcard tests/c/abi/t_*.c)
CTEST_SELFFAIL := tests/c/abi/selffail.c
CTEST_CFLAGS := -std=c11 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -Wall -Wextra -Werror -Iinclude
CTEST_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl
CTEST_BUILD = $(CTEST_CC) $(CTEST_CFLAGS) tests/c/abi/harness.c
c-test: test-toolchain
	cargo test -p dlszone-dls --test c_exports
	CARGO_TARGET_DIR=target/ctest cargo rustc -p dlszone-dls --lib --crate-type staticlib
	mkdir -p $(CTEST_DIR)
	for src in $(CTEST_SRC); do \
		bin=$(CTEST_DIR)/$$(basename $$src .c); \
		$(CTEST_BUILD) $$src $(CTEST_LIB) $(CTEST_LIBS) -o $$bin || exit 1; \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 $$bin || exit 1; \
	done
	$(CTEST_BUILD) $(CTEST_SELFFAIL) $(CTEST_LIB) $(CTEST_LIBS) -o $(CTEST_DIR)/selffail
	$(CTEST_BUILD) -DDT_SELFFAIL_OVERREAD $(CTEST_SELFFAIL) $(CTEST_LIB) $(CTEST_LIBS) \
		-o $(CTEST_DIR)/selffail-overread
	check=$$(grep -m1 -nF '/* SELFFAIL-CHECK */' $(CTEST_SELFFAIL) | cut -d: -f1); \
	same=$$(grep -m1 -nF '/* SELFFAIL-SAME */' $(CTEST_SELFFAIL) | cut -d: -f1); \
	rc=0; out=$$(ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		$(CTEST_DIR)/selffail 2>&1) || rc=$$?; \
	echo "$$out"; \
	if [ "$$rc" -ne 1 ] || \
	   ! grep -qF "selffail.c:$$check: dls_devnet_hold_tmp(id, &ddh) == I_ENOENT: 0 != 2" \
		<<<"$$out" || \
	   ! grep -qF "selffail.c:$$same: state changed: links" <<<"$$out" || \
	   ! grep -q '^FAIL selffail' <<<"$$out"; then \
		echo "c-test selffail: deliberate failures not reported (exit $$rc)" >&2; exit 1; \
	fi; \
	rc=0; out=$$(ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
		$(CTEST_DIR)/selffail-overread 2>&1) || rc=$$?; \
	if [ "$$rc" -eq 0 ] || ! grep -q 'AddressSanitizer: SEGV' <<<"$$out" || \
	   grep -q 'over-read was not caught' <<<"$$out"; then \
		echo "$$out"; \
		echo "c-test selffail: the read past a name was not caught (exit $$rc)" >&2; exit 1; \
	fi; \
	echo "c-test selffail: exit 1, FAIL at lines $$check and $$same as written;" \
		"the over-read build died at the read (exit $$rc)"

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
# fail, the real modules' life cycles and error paths, the self-fail
# build, dls_mgmt.o's door contract and TQ_NOSLEEP failures, and the
# driver build/amd64/dlszone loaded beside dls_mgmt.o, attached, opened
# and driven through its ioctls: tests/dlszone_drv.rs), then a
# plain run of build/amd64/dlszone_ktest printing the ktest table and
# each test's kernel stack use. Builds both objects first (a no-op when
# current). Then the C ABI object: loaded and relocated against the
# emulated kernel (it is linked into misc/dls, so it declares no
# dependencies of its own; DLS_MGMT_DEPENDS names misc/dls's), and the C
# tests of its interface (tests/c/abi/t_*.c, as in c-test) linked with
# kload's static library instead of the host build, so every dls_* call
# runs in the loaded object's bytes on the emulated kernel. Each program
# must pass and say it ran against the object; last, one of them run with
# a stack budget it cannot meet must fail naming the budget, or the
# stack check proves nothing.
SELFFAIL_MODULE := $(BUILD_DIR)/selffail/dlszone_ktest
DLS_MGMT_OBJECT := $(BUILD_DIR)/dls_mgmt.o
DLS_MGMT_DEPENDS ?= misc/mac misc/dls
KLOAD_CTEST_DIR := build/kloadtest
KLOAD_LIB := target/debug/libkload.a
KLOAD_CTEST_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 KLOAD_DLS_MGMT=$(DLS_MGMT_OBJECT)
kload-test: kmod kmod-selffail
	KLOAD_KTEST=$(CURDIR)/$(KTEST_MODULE) KLOAD_KTEST_SELFFAIL=$(CURDIR)/$(SELFFAIL_MODULE) \
		KLOAD_DLS_MGMT=$(CURDIR)/$(DLS_MGMT_OBJECT) KLOAD_DLSZONE=$(CURDIR)/$(DRV_MODULE) \
		cargo test -p kload
	cargo run -q -p kload -- $(KTEST_MODULE)
	cargo run -q -p kload -- --load-only --depends "$(DLS_MGMT_DEPENDS)" $(DLS_MGMT_OBJECT)
	cargo build -q -p kload --lib
	mkdir -p $(KLOAD_CTEST_DIR)
	for src in $(CTEST_SRC); do \
		name=$$(basename $$src .c); bin=$(KLOAD_CTEST_DIR)/$$name; \
		$(CTEST_BUILD) -DDT_KLOAD $$src $(KLOAD_LIB) $(CTEST_LIBS) -o $$bin || exit 1; \
		rc=0; $(KLOAD_CTEST_ENV) $$bin 2>$$bin.err || rc=$$?; \
		grep -v '^kload: syslog' $$bin.err >&2 || true; \
		if [ "$$rc" -ne 0 ] || \
		   ! grep -q "^kload: $$name ran against $(DLS_MGMT_OBJECT) loaded" $$bin.err; then \
			echo "kload-test: $$name failed against $(DLS_MGMT_OBJECT) (exit $$rc)" >&2; \
			exit 1; \
		fi; \
	done
	rc=0; $(KLOAD_CTEST_ENV) KLOAD_BUDGET=512 $(KLOAD_CTEST_DIR)/t_scenarios \
		>/dev/null 2>$(KLOAD_CTEST_DIR)/budget.err || rc=$$?; \
	if [ "$$rc" -ne 1 ] || ! grep -q "bytes OVER the budget" $(KLOAD_CTEST_DIR)/budget.err; then \
		cat $(KLOAD_CTEST_DIR)/budget.err; \
		echo "kload-test: a blown stack budget did not fail the run (exit $$rc)" >&2; exit 1; \
	fi; \
	echo "kload-test: the C tests ran against $(DLS_MGMT_OBJECT); a 512-byte budget fails them" \
		"(exit 1), as it must"

# The kernel build with the deliberately failing ktests, in a cargo
# target directory of its own so neither build invalidates the other.
kmod-selffail: toolchain
	$(MAKE) --no-print-directory kmod-dlszone_ktest KTARGET_DIR=target/kernel-selffail \
		BUILD_DIR=$(dir $(SELFFAIL_MODULE)) KRUSTFLAGS="--cfg dlszone_ktest_selffail"

lint: lint-toolchain fmt-check clippy man-lint

# The man page must be mandoc-clean: no message at any level, except
# that the illumos pages it refers to (.Xr dladm 8, ...) are not found on
# a build host that is not illumos.
MANPAGES := docs/man/dlszone.7
man-lint:
	@out=$$(mandoc -Tlint -W all $(MANPAGES) 2>&1 | \
		grep -v 'STYLE: referenced manual not found' || true); \
	if [ -n "$$out" ]; then echo "$$out" >&2; echo "man-lint: mandoc -Tlint is not clean" >&2; exit 1; fi; \
	echo "man-lint: mandoc -Tlint clean: $(MANPAGES)"

fmt-check:
	cargo fmt --all --check

clippy: clippy-host clippy-kernel

# The host cfg of every workspace crate, and dlszonectl (and the ioctl
# crate) as built for illumos when that target's library can be had
# (tools/check-illumos).
clippy-host:
	cargo clippy --workspace --all-targets -- -D warnings
	tools/check-illumos --clippy

# The kernel cfg (cfg(kmod)) only exists when building for the kernel
# target, so clippy runs through the same build-std invocation.
clippy-kernel:
	$(KCARGO_ENV) $(KCARGO) clippy $(KCLIPPY_CRATES:%=-p %) $(KCARGO_ARGS) -- -D warnings

clean:
	rm -rf build target

illumos-only:
	@if [ "$(UNAME_S)" != SunOS ]; then \
		echo "make $(MAKECMDGOALS): only on an illumos host" >&2; exit 1; fi

# drv/dlszone and its configuration file (docs/dlszonectl.md: add_drv).
DRV_MODULE := $(BUILD_DIR)/dlszone
DRV_CONF := kernel/drv/dlszone.conf
DRV_DIR := /usr/kernel/drv
# dlszonectl, when built for illumos (cargo build --release -p dlszonectl).
DLSZONECTL := target/release/dlszonectl

# On illumos, or anywhere into a staging root (DESTDIR).
install:
	@if [ -z "$(DESTDIR)" ] && [ "$(UNAME_S)" != SunOS ]; then \
		echo "make install: only on an illumos host, or with DESTDIR=staging root" >&2; \
		exit 1; fi
	@test -f $(KTEST_MODULE) || { echo "run make first" >&2; exit 1; }
	@test -f $(DRV_MODULE) || { echo "run make first" >&2; exit 1; }
	install -d $(DESTDIR)$(KTEST_DIR)
	install -m 0755 $(KTEST_MODULE) $(DESTDIR)$(KTEST_DIR)/dlszone_ktest
	install -d $(DESTDIR)$(DRV_DIR)/amd64
	install -m 0755 $(DRV_MODULE) $(DESTDIR)$(DRV_DIR)/amd64/dlszone
	install -m 0644 $(DRV_CONF) $(DESTDIR)$(DRV_DIR)/dlszone.conf
	@if [ "$(UNAME_S)" = SunOS ] && [ -f $(DLSZONECTL) ]; then \
		install -d $(DESTDIR)/usr/sbin && \
		install -m 0555 $(DLSZONECTL) $(DESTDIR)/usr/sbin/dlszonectl; fi
	@echo "installed; then, as root: add_drv -m '* 0666 root sys' dlszone (docs/dlszonectl.md)"

load: illumos-only
	modload $(KTEST_DIR)/dlszone_ktest
	modinfo | awk '$$6 == "dlszone_ktest"'

unload: illumos-only
	@id=$$(modinfo | awk '$$6 == "dlszone_ktest" { print $$1 }'); \
	if [ -z "$$id" ]; then echo "dlszone_ktest is not loaded"; exit 0; fi; \
	modunload -i $$id
