#!/usr/bin/env bash
# JOURNAL_STREAM is trusted only when it names the device:inode that stderr
# really is (systemd.exec(5)): a child of the service whose stderr goes to
# a file or a pipe inherits the variable, and must print plain lines.
set -u
. "$(dirname "$0")/../lib/tap.sh"
senko=${SENKO_BIN:-build/senko}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# An error message: hash a file that does not exist.
err=$tmp/err
: >"$err"
devino=$(stat -c '%d:%i' "$err")
JOURNAL_STREAM=$devino "$senko" hash "$tmp/missing" 2>"$err" >/dev/null
check "JOURNAL_STREAM matching stderr: journald's <3> priority prefix" \
	grep -q "^<3>cannot open '$tmp/missing'" "$err"
[ $? = 0 ] || diag "$(cat "$err")"

other=$tmp/other
: >"$other"
JOURNAL_STREAM=$(stat -c '%d:%i' "$other") "$senko" hash "$tmp/missing" 2>"$err" >/dev/null
check "JOURNAL_STREAM naming another file: plain 'senko: error:' line" \
	grep -q "^senko: error: cannot open '$tmp/missing'" "$err"
[ $? = 0 ] || diag "$(cat "$err")"

for bad in "" "garbage" "1:" ":2" "$devino:9" "$devino junk"; do
	JOURNAL_STREAM=$bad "$senko" hash "$tmp/missing" 2>"$err" >/dev/null
	check "JOURNAL_STREAM='$bad': plain line" grep -q "^senko: error: " "$err"
done

# Through a pipe (stderr is not the file the variable names).
out=$(JOURNAL_STREAM=$devino "$senko" hash "$tmp/missing" 2>&1 >/dev/null | cat)
check "stderr piped elsewhere: plain line" grep -q "^senko: error: " <<<"$out"
tap_done
