#!/usr/bin/env bash
# fuzz.test.sh - run every libFuzzer target (tests/fuzz/fuzz_NAME.c) for a
# few seconds on its committed corpus; one TAP line per target.
#
#   tests/fuzz/fuzz.test.sh [NAME...]      (make fuzz runs it for longer)
#
# Each run starts from tests/fuzz/corpus/NAME/ (seeds, plus the inputs of
# past findings, which are replayed first) and writes the inputs it finds
# to a scratch folder, build/fuzz/new/NAME/, never to the committed corpus.
# A finding is "not ok" naming the crash file (kept in build/fuzz/findings/)
# and the command that replays it.  FUZZ_SECONDS (default 3) is the time per
# target; FUZZ_KEEP=1 keeps the scratch inputs of earlier runs.
# The targets are built by make (make check, make fuzz); a missing clang or
# target is a failure with what to do, never a skip.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh

seconds=${FUZZ_SECONDS:-3}
out=build/fuzz
mkdir -p "$out/findings" "$out/logs"

names=()
for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=${src##*/fuzz_}
	name=${name%.c}
	if [ $# -gt 0 ]; then
		want=0
		for arg in "$@"; do [ "$arg" = "$name" ] && want=1; done
		[ $want = 1 ] || continue
	fi
	names+=("$name")
done

if ! command -v clang >/dev/null; then
	not_ok "clang is not installed: the fuzz targets cannot be built; run make deps (Debian: clang libfuzzer-14-dev)"
	tap_done
	exit 1
fi
if [ ${#names[@]} = 0 ]; then
	not_ok "no fuzz target found (tests/fuzz/fuzz_*.c${*:+ matching $*})"
	tap_done
	exit 1
fi

# "#1234 DONE cov: 56 ft: 78 corp: ..." -> "1234 runs, cov 56, ft 78"
summary() {
	sed -n 's/^#\([0-9]*\)[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/\1 runs, cov \2, ft \3, corpus \4/p' "$1" | tail -1
}

for name in "${names[@]}"; do
	bin=$out/fuzz_$name
	corpus=tests/fuzz/corpus/$name
	scratch=$out/new/$name
	log=$out/logs/$name.log
	if [ ! -x "$bin" ]; then
		not_ok "fuzz_$name: $bin is not built; run make check or make fuzz"
		continue
	fi
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
		not_ok "fuzz_$name: no seed corpus in $corpus"
		continue
	fi
	[ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "$scratch"
	mkdir -p "$scratch"
	dict=()
	[ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
	artifacts=$(mktemp -d "$out/findings/$name.XXXXXX")
	# -timeout: an input that runs for 10 s is a hang worth reporting.
	nice "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
	    -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" \
	    "$scratch" "$corpus" >"$log" 2>&1
	rc=$?
	crash=$(ls "$artifacts" 2>/dev/null | head -1)
	if [ $rc = 0 ] && [ -z "$crash" ]; then
		rmdir "$artifacts"
		ok "fuzz_$name: ${seconds}s, $(summary "$log")"
	else
		if [ -n "$crash" ]; then
			not_ok "fuzz_$name: finding $artifacts/$crash (exit $rc); replay: $bin $artifacts/$crash"
		else
			not_ok "fuzz_$name: the fuzzer failed (exit $rc), log $log"
		fi
		# What broke and where, in senko's code (not libFuzzer's).
		grep -E 'fuzz check failed|runtime error|ERROR: [A-Za-z]+Sanitizer|ERROR: libFuzzer: (timeout|out-of-memory)|SUMMARY:|#[0-9]+ 0x[0-9a-f]+ in [^ ]+ [^ ]*/(src|tests)/' \
		    "$log" | head -15 | sed 's/^/# /'
	fi
done
tap_done
