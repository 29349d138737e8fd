#!/usr/bin/env bash
# tests/run.sh: a PATTERN that matches no suite is a failure, said so, not
# a green "0 passed, 0 failed".
set -u
. "$(dirname "$0")/../lib/tap.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Its own build folder: the inner run must not wipe this run's logs.
out=$(SENKO_BUILD=$tmp/build "$root/tests/run.sh" zz-no-such-suite-zz 2>&1); rc=$?
check "no matching suite: exit status is not 0" test "$rc" != 0
check "no matching suite: names the pattern" grep -qF "no test suite matches 'zz-no-such-suite-zz'" <<<"$out"
check "no matching suite: the closing line counts a failure" \
	test "$(tail -1 <<<"$out")" = "0 passed, 1 failed"
[ "$rc" != 0 ] || diag "$out"
tap_done
