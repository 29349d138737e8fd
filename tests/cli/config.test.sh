#!/usr/bin/env bash
# senko config check: the example passes; every malformed file exits 78 and
# names the file, the line and the key.
set -u
. "$(dirname "$0")/../lib/tap.sh"
senko=${SENKO_BIN:-build/senko}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset SENKO_TOKEN

good_head='[senkod]
state_dir = /tmp/x
token_file =
[source app]
user = u
repo = r'
good_dev='[device a]
port = /dev/ttyUSB0
source = app'

# bad NAME EXPECTED-SUBSTRING CONTENT: exit 78 and the message has it.
bad() {
	local name=$1 want=$2 content=$3 out rc
	printf '%s\n' "$content" >"$tmp/$name.conf"
	out=$("$senko" -c "$tmp/$name.conf" config check 2>&1 >/dev/null); rc=$?
	if [ "$rc" = 78 ] && echo "$out" | grep -qF -- "$tmp/$name.conf:$want"; then
		ok "$name: exit 78, '$want'"
	else
		not_ok "$name: exit 78, '$want'"
		diag "exit $rc: $out"
	fi
}

out=$("$senko" -c senko.conf.example config check 2>&1); rc=$?
check "senko.conf.example is accepted" test "$rc" = 0
check "config check says configuration OK" grep -q "configuration OK" <<<"$out"

bad unknown-key "3: [senkod] intervall: unknown key" '[senkod]
state_dir = /tmp/x
intervall = 5m'
bad unknown-section "1: unknown section '[sensor x]'" '[sensor x]
a = b'
bad bad-duration "2: [senkod] interval: '5 minutes' is not valid" '[senkod]
interval = 5 minutes'
bad zero-duration "2: [senkod] interval" '[senkod]
interval = 0s'
bad bad-jobs "2: [senkod] jobs: '0' is not valid" '[senkod]
jobs = 0'
bad bad-baud "10: [device a] baud: '115201'" "$good_head
$good_dev
baud = 115201"
bad bad-bool "10: [device a] prune: 'maybe'" "$good_head
$good_dev
prune = maybe"
bad bad-reset "10: [device a] reset: 'reboot'" "$good_head
$good_dev
reset = reboot"
bad missing-port "7: [device a] port: missing" "$good_head
[device a]
source = app"
bad missing-user "4: [source app] user: missing" '[senkod]
token_file =
state_dir = /tmp/x
[source app]
repo = r'
bad unknown-source "9: [device a] source: no [source nope] section" "$good_head
[device a]
port = /dev/ttyUSB0
source = nope"
bad same-port "10: [device b] port: '/dev/ttyUSB0' is also the port of device 'a'" "$good_head
$good_dev
[device b]
port = /dev/ttyUSB0
source = app"
bad dup-device "10: device 'a' is defined twice (first on line 7)" "$good_head
$good_dev
[device a]
port = /dev/ttyUSB1
source = app"
bad dup-key "3: [senkod] jobs: given twice" '[senkod]
jobs = 2
jobs = 3'
bad dotdot-working-dir "7: [source app] working_dir: '../etc': '..' component" "$good_head
working_dir = ../etc"
bad relative-dest "10: [device a] dest: 'lib' must be an absolute" "$good_head
$good_dev
dest = lib"
bad bad-url "5: [source app] url: 'https://gitlab.com/u/r'" '[senkod]
state_dir = /tmp/x
token_file =
[source app]
url = https://gitlab.com/u/r'
bad url-and-user "6: [source app] url: give either url or user/repo" '[senkod]
state_dir = /tmp/x
token_file =
[source app]
user = u
url = https://github.com/u/r'
bad key-outside "1: key: key outside any section" 'key = value'
bad url-and-branch "6: [source app] branch: the url names the branch already" '[senkod]
state_dir = /tmp/x
token_file =
[source app]
url = https://github.com/u/r/tree/main/app
branch = dev'
bad url-and-working-dir "5: [source app] working_dir: the url names the folder already" '[senkod]
state_dir = /tmp/x
token_file =
[source app]
working_dir = other
url = https://github.com/u/r/tree/main/app'
bad text-after-header "1: [senkod] text after the section header" '[senkod] interval = 1h
state_dir = /tmp/x'
bad dup-senkod "4: section [senkod] is given twice (first on line 1)" '[senkod]
interval = 5m
token_file =
[senkod]
interval = 2h'
bad garbage-line "2: not a 'key = value' line" '[senkod]
this is not ini'
bad bad-name "1: section '[device ../x]' needs a name" '[device ../x]'
bad long-line "2: [senkod] line longer than" "[senkod]
state_dir = /tmp/$(printf 'x%.0s' $(seq 300))"

out=$("$senko" -c "$tmp/does-not-exist.conf" config check 2>&1); rc=$?
check "missing file: exit 78 and names it" \
	test "$rc" = 78 -a -n "$(grep -F does-not-exist.conf <<<"$out")"

printf '[senkod]\nstate_dir=/tmp/x\n[source s]\nurl = https://github.com/RangerDigital/senko/tree/master/examples/lib\n' >"$tmp/url.conf"
out=$("$senko" -c "$tmp/url.conf" config check 2>&1)
check "Senko url form: user, repo, branch, working_dir" bash -c '
	grep -q "^user *= RangerDigital" <<<"$1" && grep -q "^repo *= senko$" <<<"$1" &&
	grep -q "^branch *= master" <<<"$1" && grep -q "^working_dir = examples/lib" <<<"$1"' _ "$out"
printf '[senkod]\nstate_dir=/tmp/x\n[source s]\nurl = https://raw.githubusercontent.com/RangerDigital/senko/master/examples\n' >"$tmp/raw.conf"
out=$("$senko" -c "$tmp/raw.conf" config check 2>&1)
check "Senko raw.githubusercontent.com url form" bash -c '
	grep -q "^branch *= master" <<<"$1" && grep -q "^working_dir = examples$" <<<"$1"' _ "$out"

# A url without branch or folder leaves the keys that name them, in
# either order.
for order in url-first keys-first; do
	if [ $order = url-first ]; then
		body='url = https://github.com/u/r\nbranch = dev\nworking_dir = app'
	else
		body='branch = dev\nworking_dir = app\nurl = https://github.com/u/r'
	fi
	printf "[senkod]\nstate_dir=/tmp/x\ntoken_file =\n[source s]\n$body\n" >"$tmp/url-keys.conf"
	out=$("$senko" -c "$tmp/url-keys.conf" config check 2>&1)
	check "a url without a branch or folder, then the keys ($order): both kept" bash -c '
		grep -q "^branch *= dev" <<<"$1" && grep -q "^working_dir = app$" <<<"$1"' _ "$out"
done

printf 'ghp_secret123\n' >"$tmp/token"
chmod 644 "$tmp/token"
printf '[senkod]\nstate_dir=/tmp/x\ntoken_file=%s\n' "$tmp/token" >"$tmp/tok.conf"
out=$("$senko" -c "$tmp/tok.conf" config check 2>&1); rc=$?
check "world-readable token file refused with exit 78 and chmod advice" \
	bash -c '[ "$1" = 78 ] && grep -q "chmod 600" <<<"$2"' _ "$rc" "$out"
chmod 600 "$tmp/token"
out=$("$senko" -c "$tmp/tok.conf" config check 2>&1); rc=$?
check "private token file accepted, token never printed" \
	bash -c '[ "$1" = 0 ] && ! grep -q ghp_secret123 <<<"$2" && grep -q redacted <<<"$2"' _ "$rc" "$out"
out=$(SENKO_TOKEN=ghp_envsecret "$senko" -c "$tmp/tok.conf" config check 2>&1)
check "SENKO_TOKEN never printed" bash -c '! grep -q ghp_envsecret <<<"$1"' _ "$out"

printf '[senkod]\nstate_dir=/tmp/x ; note\ninterval = 90 # seconds\n' >"$tmp/comments.conf"
out=$("$senko" -c "$tmp/comments.conf" config check 2>&1)
check "inline comments stripped" bash -c 'grep -q "^interval   = 90s" <<<"$1" && grep -q "^state_dir  = /tmp/x$" <<<"$1"' _ "$out"

# A header without ']' still ends the section before it: the device's
# missing source is said at its own line, not at a line number never set.
bad header-no-bracket "9: [device k] source: no [source nope] section" "$good_head
[device k]
port = /dev/ttyUSB9
source = nope
[device j"

# What config check prints loads again: boot_watch is read in seconds.
printf '%s\n%s\nboot_watch = 60\n' "$good_head" "$good_dev" >"$tmp/bw.conf"
"$senko" -c "$tmp/bw.conf" config check >"$tmp/bw-printed.conf" 2>&1
out=$("$senko" -c "$tmp/bw-printed.conf" config check 2>&1); rc=$?
check "boot_watch = 60 prints as a boot_watch that loads again" \
	bash -c '[ "$1" = 0 ] && grep -q "^boot_watch = 60s$" <<<"$2"' _ "$rc" "$out"

# The files keys name are checked as senkod reads them.
printf 'secret\n' >"$tmp/mqtt-pass"
chmod 644 "$tmp/mqtt-pass"
printf '%s\n[mqtt]\nurl = mqtt://127.0.0.1\npassword_file = %s\n' "$good_head" "$tmp/mqtt-pass" >"$tmp/mq.conf"
out=$("$senko" -c "$tmp/mq.conf" config check 2>&1); rc=$?
check "[mqtt] password_file readable by every user: exit 78, chmod advice" \
	bash -c '[ "$1" = 78 ] && grep -q "password_file.*chmod 600" <<<"$2" && ! grep -q "configuration OK" <<<"$2"' _ "$rc" "$out"
printf '[senkod]\nstate_dir = /tmp/x\ntoken_file =\nca_file = %s\n' "$tmp/no-such-ca.pem" >"$tmp/ca.conf"
out=$("$senko" -c "$tmp/ca.conf" config check 2>&1); rc=$?
check "a missing ca_file: exit 78, naming the key and the file" \
	bash -c '[ "$1" = 78 ] && grep -q "ca_file.*no-such-ca.pem" <<<"$2"' _ "$rc" "$out"
printf 'not a certificate\n' >"$tmp/not-pem"
printf '[senkod]\nstate_dir = /tmp/x\ntoken_file =\nca_file = %s\n' "$tmp/not-pem" >"$tmp/ca2.conf"
out=$("$senko" -c "$tmp/ca2.conf" config check 2>&1); rc=$?
check "a ca_file without a PEM certificate: exit 78" \
	bash -c '[ "$1" = 78 ] && grep -q "holds no certificate" <<<"$2"' _ "$rc" "$out"

# An indented key continues the one above: refused, never a file name.
bad indented-key-in-files "8: [source app] files: 'branch = dev' is indented" "$good_head
files = main.py
  branch = dev"
bad indented-single-key "7: [source app] repo: an indented line continues" "$good_head
  more"
printf '%s\nfiles = main.py\n  lib/ boot.py\n' "$good_head" >"$tmp/cont.conf"
out=$("$senko" -c "$tmp/cont.conf" config check 2>&1); rc=$?
check "files continued on an indented line still adds up" \
	bash -c '[ "$1" = 0 ] && grep -q "^files *= main.py lib boot.py" <<<"$2"' _ "$rc" "$out"

# An option may follow the device names.
printf '%s\n%s\n' "$good_head" "$good_dev" >"$tmp/order.conf"
out=$("$senko" -c "$tmp/order.conf" sync a --force 2>&1); rc=$?
check "senko sync NAME --force: the option is an option, not a device" \
	bash -c '[ "$1" != 2 ] && ! grep -q "no \[device --force\]" <<<"$2"' _ "$rc" "$out"
# JSON (status --json, MQTT) cannot carry bytes that are not UTF-8.
bad not-utf8 "5: [source app] path: the value is not UTF-8" $'[senkod]\nstate_dir = /tmp/x\ntoken_file =\n[source app]\npath = /tmp/caf\xe9'
printf '[senkod]\nstate_dir = /tmp/x\ntoken_file =\n[source app]\npath = /tmp/caf\xc3\xa9\n' >"$tmp/utf8.conf"
out=$("$senko" -c "$tmp/utf8.conf" config check 2>&1); rc=$?
check "a UTF-8 path (café) is accepted" test "$rc" = 0
bad path-and-branch "6: [source app] branch: a local folder (path) has no branch" '[senkod]
state_dir = /tmp/x
token_file =
[source app]
path = /tmp
branch = dev'
bad api-url-no-host "2: [senkod] api_url: 'https://' is not valid" '[senkod]
api_url = https://'
bad api-url-ftp "2: [senkod] api_url: 'ftp://example.com' is not valid" '[senkod]
api_url = ftp://example.com'
printf '[senkod]\nstate_dir = /tmp/x\ntoken_file =\napi_url = https://ghe.example.com/api/v3/\n' >"$tmp/api.conf"
out=$("$senko" -c "$tmp/api.conf" config check 2>&1); rc=$?
check "api_url: a trailing '/' is dropped" \
	bash -c '[ "$1" = 0 ] && grep -q "^api_url *= https://ghe.example.com/api/v3$" <<<"$2"' _ "$rc" "$out"
printf '[senkod]\nstate_dir = /tmp/x\nthis is junk\ntoken_file =\nmore junk\n' >"$tmp/junk2.conf"
out=$("$senko" -c "$tmp/junk2.conf" config check 2>&1); rc=$?
check "every malformed line is said, not only the first" \
	bash -c '[ "$1" = 78 ] && grep -q "junk2.conf:3: .*not a" <<<"$2" && grep -q "junk2.conf:5: .*not a" <<<"$2"' _ "$rc" "$out"
tap_done
