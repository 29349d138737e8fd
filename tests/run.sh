#!/usr/bin/env bash
# Runs every test suite and prints one closing line "N passed, M failed".
#
# Suites (each prints TAP; top-level "ok"/"not ok" lines are counted):
#   $SENKO_BUILD/tests/test_*   C unit tests (cmocka, TAP output)
#   tests/**/*.test.js          node's built-in test runner
#   tests/**/*.test.sh          shell scripts printing TAP
# Suites run JOBS at a time (default 2: the emulated boards are CPU-bound).
# Logs: $SENKO_BUILD/test-logs/<suite>.log.  Usage: tests/run.sh [PATTERN]
set -u
cd "$(dirname "$0")/.."
build=${SENKO_BUILD:-build}
jobs=${JOBS:-2}
pattern=${1:-}
logs=$build/test-logs
rm -rf "$logs"
mkdir -p "$logs"
export SENKO_BUILD=$build SENKO_BIN=$PWD/$build/senko SENKOD_BIN=$PWD/$build/senkod
export CMOCKA_MESSAGE_OUTPUT=TAP

suites=()
for f in "$build"/tests/test_*; do
	[ -x "$f" ] && [ "${f%.d}" = "$f" ] && suites+=("$f")
done
while IFS= read -r f; do suites+=("$f"); done < <(
	find tests -path tests/node_modules -prune -o \
		\( -name '*.test.js' -o -name '*.test.sh' \) -print | sort)
if [ -n "$pattern" ]; then
	kept=()
	for s in "${suites[@]}"; do [[ $s == *$pattern* ]] && kept+=("$s"); done
	suites=(${kept[@]+"${kept[@]}"})
fi
# Running nothing is not a success: a typo in PATTERN must not look green.
if [ ${#suites[@]} = 0 ]; then
	echo "no test suite matches '${pattern}' (suites are $build/tests/test_* and tests/**/*.test.{sh,js})"
	echo "0 passed, 1 failed"
	exit 1
fi

run_suite() {
	local suite=$1 name log start rc
	name=$(echo "$suite" | sed 's|^build/[a-z]*/*||; s|/|_|g')
	log=$logs/$name.log
	start=$(date +%s)
	case $suite in
	*.test.js) timeout 900 node --test --test-reporter=tap "$suite" >"$log" 2>&1 ;;
	*) timeout 900 "$suite" >"$log" 2>&1 ;;
	esac
	rc=$?
	echo "$rc $(($(date +%s) - start))" >"$log.rc"
}
export -f run_suite
export logs

printf '%s\n' "${suites[@]}" | xargs -P "$jobs" -I{} bash -c 'run_suite "$1"' _ {}

passed=0 failed=0
for suite in "${suites[@]}"; do
	name=$(echo "$suite" | sed 's|^build/[a-z]*/*||; s|/|_|g')
	log=$logs/$name.log
	read -r rc secs <"$log.rc"
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	# A suite that crashed or printed no test at all counts as one failure.
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	if [ "$p" = 0 ] && [ "$f" = 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$f" = 0 ]; then
		printf 'PASS %-40s %4d tests %4ds\n' "$suite" "$p" "$secs"
	else
		printf 'FAIL %-40s %4d passed, %d failed (exit %s) %ds; log: %s\n' \
			"$suite" "$p" "$f" "$rc" "$secs" "$log"
		grep -E -A12 '^not ok ' "$log" | head -60 | sed 's/^/    /'
		[ "$rc" != 0 ] && tail -5 "$log" | sed 's/^/    | /'
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
