# tap.sh - a few helpers for shell test suites that print TAP.
# Source it, call ok/not_ok (or check), end with tap_done.
tap_n=0
tap_failed=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
# check "description" command...: ok when the command succeeds.
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
diag() { echo "$*" | sed 's/^/# /'; }
tap_done() { echo "1..$tap_n"; [ "$tap_failed" = 0 ]; }
