#!/usr/bin/env bash
# The registry's concurrency suites (docs/locking.md, "How this is checked").
#
#   tools/test-concurrency.sh ci      loom + shuttle suites, short stress test
#   tools/test-concurrency.sh broken  each deliberately broken variant must
#                                     make the model checkers (or the test
#                                     written against it) fail
#   tools/test-concurrency.sh soak    long stress run, more shuttle schedules,
#                                     loom without a preemption bound
#
# The model-checking builds pass their cfg through RUSTFLAGS with an
# explicit --target, so build scripts (and bindgen) are built once for the
# host without it and shared by every cfg. Honours CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
cargo_cfg() {
	# cargo_cfg "<rustflags>" <cargo test args...>
	local flags=$1
	shift
	RUSTFLAGS="${RUSTFLAGS:-} $flags" cargo test --target "$host" "$@"
}

loom() { cargo_cfg "--cfg loom" --test loom_registry "$@"; }
shuttle() { cargo_cfg "--cfg shuttle" --test shuttle_registry "$@"; }

# expect_failure <variant> <flags> <test target> <test name> [cargo
# args...]: the build must succeed and the named test must fail. The
# extra arguments name another package of the workspace (-p NAME).
expect_failure() {
	local variant=$1 flags=$2 target=$3 name=$4 log
	shift 4
	local extra=("$@")
	log=$(mktemp)
	echo "== broken variant $variant: $target::$name must fail"
	if cargo_cfg "$flags --cfg dlszone_broken=\"$variant\"" --no-run "${extra[@]}" \
		--test "$target" >"$log" 2>&1; then :; else
		cat "$log"
		echo "FAIL: the $variant variant does not build"
		exit 1
	fi
	if cargo_cfg "$flags --cfg dlszone_broken=\"$variant\"" "${extra[@]}" --test "$target" \
		-- --exact "$name" >"$log" 2>&1; then
		cat "$log"
		echo "FAIL: $target::$name passed with the $variant variant: the test does not bite"
		exit 1
	fi
	if ! grep -q "^test $name \.\.\. FAILED" "$log"; then
		cat "$log"
		echo "FAIL: $target::$name did not run to a failure with $variant"
		exit 1
	fi
	# What the checker reported: a holder that saw a freed link, a
	# deadlock, a stall, an allocation under a lock, or a faulted run
	# that did not end consistent; else the first panic.
	{ grep -m1 -E "held a [A-Za-z]+ link|deadlock|waited for the wedged|allocated while|^FAILED " "$log" ||
		grep -m1 -A1 panicked "$log"; } |
		sed 's/^/   caught: /'
	rm -f "$log"
	caught=$((caught + 1))
}
caught=0

case "${1:-ci}" in
ci)
	loom
	shuttle
	cargo test --test stress
	;;
broken)
	expect_failure early_unlock "--cfg loom" loom_registry hold_tmp_vs_destroy
	expect_failure missing_wakeup "--cfg loom" loom_registry hold_tmp_vs_destroy
	expect_failure early_unlock "--cfg shuttle" shuttle_registry destroy_drains_tmp_holders
	expect_failure missing_wakeup "--cfg shuttle" shuttle_registry destroy_drains_tmp_holders
	expect_failure global_channel "--cfg loom" loom_registry wedged_delivery_vs_other_zones_moves
	expect_failure global_channel "--cfg shuttle" shuttle_registry wedged_delivery_stalls_no_other_zone
	expect_failure global_channel "" stress a_wedged_delivery_about_one_zone_stalls_no_other_zone
	expect_failure alloc_under_writer "" scenario_os_8627 gz_snoop_of_a_zone_created_link_across_a_forced_halt
	expect_failure halt_forgets_failed_return "" fault_injection every_fault_at_every_upcall \
		-p dlszone-dls
	echo "broken variants: $caught passed, 0 failed"
	;;
soak)
	DLSZONE_LOOM_PREEMPTIONS=none loom --release
	DLSZONE_SHUTTLE_ITERS=50000 shuttle --release
	cargo test --release --test stress -- --ignored soak --nocapture
	;;
*)
	echo "usage: $0 ci|broken|soak" >&2
	exit 2
	;;
esac
