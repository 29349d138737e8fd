#!/usr/bin/env bash
# senko status [--json]: reads the per-device status files (as the sync
# workers leave them) and shows them; exit 1 when a device failed.
set -u
. "$(dirname "$0")/../lib/tap.sh"
senko=${SENKO_BIN:-build/senko}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset SENKO_TOKEN
sha=0123456789abcdef0123456789abcdef01234567

cat >"$tmp/senko.conf" <<CONF
[senkod]
state_dir = $tmp/state
[source app]
user = u
repo = r
[device kitchen]
port = /dev/ttyUSB0
source = app
[device garage]
port = /dev/ttyUSB1
source = app
CONF

out=$("$senko" -c "$tmp/senko.conf" status 2>&1); rc=$?
check "no status yet: exit 0" test "$rc" = 0
check "no status yet: both devices unknown, never synced" \
	test "$(grep -cE '^(kitchen|garage) +unknown .*never' <<<"$out")" = 2

mkdir -p "$tmp/state/devices/kitchen" "$tmp/state/devices/garage"
now=$(date +%s)
cat >"$tmp/state/devices/kitchen/status.json" <<JSON
{"state": "in-sync", "commit": "$sha", "last_success": $((now - 120)),
 "last_attempt": $((now - 120)), "last_error": "", "files_sent": 3,
 "bytes_sent": 2048, "files_deleted": 0, "platform": "esp32",
 "version": "v1.22.0"}
JSON
out=$("$senko" -c "$tmp/senko.conf" status 2>&1); rc=$?
check "in sync: exit 0" test "$rc" = 0
line=$(grep '^kitchen' <<<"$out")
check "table: state, short commit, age, files and bytes sent" \
	grep -qE '^kitchen +in-sync +0123456 +2 min ago +3 files, 2.0 KiB' \
	<<<"$line"
[ $? = 0 ] || diag "$out"

cat >"$tmp/state/devices/garage/status.json" <<JSON
{"state": "failed", "commit": "", "last_success": 0,
 "last_attempt": $now, "last_error": "cannot open port '/dev/ttyUSB1'",
 "files_sent": 0, "bytes_sent": 0, "files_deleted": 0}
JSON
out=$("$senko" -c "$tmp/senko.conf" status 2>&1); rc=$?
check "a failed device: exit 1" test "$rc" = 1
check "a failed device: its error is shown" \
	grep -qF "cannot open port '/dev/ttyUSB1'" <<<"$out"

json=$("$senko" -c "$tmp/senko.conf" status --json); rc=$?
check "--json: exit 1 too" test "$rc" = 1
check "--json: one object with a devices array, in config order" node -e '
const j = JSON.parse(process.argv[1]);
const [k, g] = j.devices;
if (j.devices.length !== 2 || k.name !== "kitchen" || g.name !== "garage")
	process.exit(1);
if (k.state !== "in-sync" || k.commit !== process.argv[2] ||
    k.files_sent !== 3 || k.bytes_sent !== 2048 || k.platform !== "esp32" ||
    typeof k.last_success !== "number")
	process.exit(1);
if (g.state !== "failed" || g.last_success !== null ||
    !g.last_error.includes("ttyUSB1"))
	process.exit(1);' "$json" "$sha"

# A board's error kept in the file with its escape sequences (written by
# an older senko, or by hand) still reaches the terminal escaped.
cat >"$tmp/state/devices/garage/status.json" <<'JSON'
{"state": "failed", "commit": "", "last_success": 0, "last_attempt": 1,
 "last_error": "OSError: \u001b[2J\u001b]0;pwned\u0007\r\nfake line",
 "files_sent": 0, "bytes_sent": 0, "files_deleted": 0}
JSON
out=$("$senko" -c "$tmp/senko.conf" status 2>&1)
check "a board's error: no raw control characters on the terminal" \
	test -z "$(printf '%s' "$out" | tr -d '\n' | tr -d '[:print:]')"
check "a board's error: shown escaped, on one line" \
	grep -qF 'OSError: \x1b[2J\x1b]0;pwned\x07\r\nfake line' <<<"$out"
json=$("$senko" -c "$tmp/senko.conf" status --json)
check "--json: an empty commit in the file is null, not \"\"" node -e '
const g = JSON.parse(process.argv[1]).devices[1];
if (g.commit !== null || g.platform !== null || g.last_success !== null)
	process.exit(1);' "$json"

echo '{ torn' >"$tmp/state/devices/garage/status.json"
out=$("$senko" -c "$tmp/senko.conf" status 2>&1); rc=$?
check "unreadable status file: exit 1, named" test "$rc" = 1 -a \
	-n "$(grep -F "$tmp/state/devices/garage/status.json" <<<"$out")"

"$senko" -c "$tmp/senko.conf" status --bogus >/dev/null 2>&1; rc=$?
check "unknown option: usage error, exit 2" test "$rc" = 2
# A state_dir that is a file: said so, not "run as its owner".
touch "$tmp/a-file"
sed "s|^state_dir = .*|state_dir = $tmp/a-file|" "$tmp/senko.conf" >"$tmp/file.conf"
out=$("$senko" -c "$tmp/file.conf" status 2>&1)
check "state_dir that is a file: 'is not a folder', no sudo advice" \
	bash -c 'grep -q "state_dir .*a-file. is not a folder" <<<"$1" && ! grep -q "sudo" <<<"$1"' _ "$out"
tap_done
