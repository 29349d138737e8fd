#!/usr/bin/env bash
# senko warns, naming the fix, when the user running it cannot use
# state_dir (issue 15): another user's folder, a folder it cannot create,
# root writing into the service user's folder.  Runs as an unprivileged
# user through setpriv(1) when the test runs as root.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
senko=$(realpath "${SENKO_BIN:-build/senko}")
senkod=$(realpath "${SENKOD_BIN:-build/senkod}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
unset SENKO_TOKEN

if [ "$(id -u)" = 0 ]; then
	other=daemon
	as_user() { setpriv --reuid="$other" --regid="$other" --clear-groups "$@"; }
	me=$other
else
	as_user() { "$@"; }
	me=$(id -un)
fi

conf() {
	cat >"$tmp/$1.conf" <<CONF
[senkod]
state_dir  = $2
token_file =
api_url    = http://127.0.0.1:9
[source app]
user = u
repo = r
[device kitchen]
port   = $tmp/no-board
source = app
CONF
	chmod 644 "$tmp/$1.conf"
	echo "$tmp/$1.conf"
}
# warnings ARGS...: senko's warning lines when the test user runs it.
warnings() { as_user "$senko" "$@" 2>&1 >/dev/null | grep 'warning:'; }

if [ "$(id -u)" = 0 ]; then
	# A folder of root's, closed to others: what root's first `senko sync`
	# leaves behind for the service user.
	mkdir -m 700 "$tmp/rootstate"
	c=$(conf closed "$tmp/rootstate")
	w=$(warnings -c "$c" sync)
	check "another user's folder: a warning" test -n "$w"
	check "... names the folder, the user and the owner" grep -qF \
		"user '$me' cannot write state folder '$tmp/rootstate', which belongs to 'root'" <<<"$w"
	check "... and the fix: sudo -u OWNER senko sync" grep -qF "sudo -u root senko sync" <<<"$w"

	# Root in the service user's folder.
	mkdir -m 750 "$tmp/svc" && chown "$other:" "$tmp/svc"
	c=$(conf svc "$tmp/svc")
	w=$("$senko" -c "$c" check 2>&1 >/dev/null | grep warning:)
	check "root in another user's folder: a warning naming the fix" grep -qF \
		"running as root in state folder '$tmp/svc', which belongs to '$other'" <<<"$w"
	check "... sudo -u $other senko check" grep -qF "sudo -u $other senko check" <<<"$w"
	w=$("$senkod" -c "$c" --once 2>&1 >/dev/null | grep warning:)
	check "senkod --once as root there: the same warning" grep -qF \
		"sudo -u $other senkod --once" <<<"$w"
	w=$("$senko" -c "$c" status 2>&1 >/dev/null | grep warning:)
	check "root reading it with senko status: no warning" test -z "$w"
	w=$(as_user "$senko" -c "$c" check 2>&1 >/dev/null | grep warning:)
	check "its owner: no warning" test -z "$w"
else
	mkdir -m 555 "$tmp/ro"
	c=$(conf ro "$tmp/ro")
	w=$(warnings -c "$c" sync)
	check "a folder the user cannot write: a warning naming the fix" grep -qF \
		"user '$me' cannot write state folder '$tmp/ro'" <<<"$w"
fi

# A folder that does not exist, in a parent the user cannot write.
mkdir -m 755 "$tmp/closedparent"
c=$(conf missing "$tmp/closedparent/state")
if [ "$(id -u)" != 0 ]; then chmod 555 "$tmp/closedparent"; fi
w=$(warnings -c "$c" check)
check "a folder the user cannot create: a warning" grep -qF \
	"state folder '$tmp/closedparent/state' does not exist, and user '$me' cannot create it in '$tmp/closedparent'" <<<"$w"
check "... naming systemd-tmpfiles" grep -qF "systemd-tmpfiles --create senko.conf" <<<"$w"
w=$(as_user "$senkod" -c "$c" --once 2>&1 >/dev/null | grep warning:)
check "senkod --once: the same warning (the cron case)" grep -qF \
	"state folder '$tmp/closedparent/state' does not exist, and user '$me' cannot create it" <<<"$w"

# A folder the user can write: no warning, for any command.
mkdir -m 777 "$tmp/open"
c=$(conf open "$tmp/open")
for cmd in check status; do
	w=$(warnings -c "$c" $cmd)
	check "a folder the user can write: no warning from senko $cmd" test -z "$w"
done
w=$(as_user "$senko" -c "$c" hash "$c" 2>&1 >/dev/null)
check "senko hash (no configuration) says nothing about state" test -z "$w"
tap_done
