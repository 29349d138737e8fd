#!/usr/bin/env bash
# Coming from Senko (issue 15): the url forms Senko's users have (/tree/,
# /blob/, raw.githubusercontent.com), branch = TAG or commit SHA pinning
# the boards, and the README's "Coming from Senko" example is accepted.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
senko=${SENKO_BIN:-build/senko}
tmp=$(mktemp -d)
gh_pid=
trap '[ -n "$gh_pid" ] && kill "$gh_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
unset SENKO_TOKEN
for k in $(env | sed -n 's/^\(GIT_[A-Z_]*\)=.*/\1/p'); do unset "$k"; done

# url_gives URL USER REPO BRANCH DIR: config check turns URL into these.
url_gives() {
	printf '[senkod]\nstate_dir = %s\ntoken_file =\n[source s]\nurl = %s\n' \
		"$tmp/state" "$1" >"$tmp/url.conf"
	out=$("$senko" -c "$tmp/url.conf" config check 2>&1); rc=$?
	if [ "$rc" = 0 ] && grep -qx "user *= $2" <<<"$out" &&
		grep -qx "repo *= $3" <<<"$out" && grep -qx "branch *= $4" <<<"$out" &&
		grep -qx "working_dir *= $5" <<<"$out"; then
		ok "url $1"
	else
		not_ok "url $1"
		diag "exit $rc: $out"
	fi
}
url_gives https://github.com/RangerDigital/senko/blob/master/examples \
	RangerDigital senko master examples
url_gives https://github.com/RangerDigital/senko/blob/master/examples/lib/ \
	RangerDigital senko master examples/lib
url_gives https://github.com/acme/fw/blob/v1.2 acme fw v1.2 ''
url_gives https://github.com/acme/fw/tree/main/app acme fw main app
url_gives https://raw.githubusercontent.com/acme/fw/master/app acme fw master app
printf '[senkod]\nstate_dir = /x\n[source s]\nurl = https://github.com/acme/fw/commits/main\n' >"$tmp/bad.conf"
out=$("$senko" -c "$tmp/bad.conf" config check 2>&1); rc=$?
check "another kind of page: exit 78" test "$rc" = 78
check "... naming the forms it takes" grep -q "/tree/BRANCH/DIR (or /blob/)" <<<"$out"

# The README's example, as written (a [senkod] section added).
readme_ini=$(awk '/^## / { on = ($0 == "## Coming from Senko"); next }
	on && /^```ini$/ { c = 1; next } c && /^```$/ { c = 0 } on && c' README.md)
check "README's Coming from Senko has a configuration" test -n "$readme_ini"
printf '[senkod]\nstate_dir = %s\ntoken_file =\n%s\n' "$tmp/state" "$readme_ini" >"$tmp/readme.conf"
out=$("$senko" -c "$tmp/readme.conf" config check 2>&1); rc=$?
check "... senko config check accepts it" test "$rc" = 0
[ "$rc" = 0 ] || diag "$out"
check "... with Senko's names: branch master, working_dir app" bash -c '
	grep -qx "branch *= master" <<<"$1" && grep -qx "working_dir *= app" <<<"$1"' _ "$out"

# branch = a tag or a SHA pins the boards while the branch moves on.
repo=$tmp/repos/acme/fw
git init -q -b main "$repo"
commit() {
	echo "$1" >"$repo/main.py"
	git -C "$repo" add -A
	git -C "$repo" -c user.name=T -c user.email=t@example.invalid \
		-c commit.gpgsign=false commit -q -m "$1"
	git -C "$repo" rev-parse HEAD
}
first=$(commit 'print(1)')
git -C "$repo" tag v1
second=$(commit 'print(2)')
node tests/fakegh/server.js --repos "$tmp/repos" >"$tmp/gh.out" 2>"$tmp/gh.err" &
gh_pid=$!
for _ in $(seq 150); do
	grep -q '^LISTENING ' "$tmp/gh.out" 2>/dev/null && break
	kill -0 "$gh_pid" 2>/dev/null || break
	sleep 0.1
done
api=$(sed -n 's/^LISTENING //p' "$tmp/gh.out")
check "the fake GitHub starts" test -n "$api"

# pinned_to BRANCH: the commit senko check would bring the board to.
pinned_to() {
	cat >"$tmp/pin.conf" <<CONF
[senkod]
state_dir  = $tmp/state-$1
api_url    = $api
token_file =
[source app]
user   = acme
repo   = fw
branch = $1
[device kitchen]
port   = $tmp/no-board
source = app
CONF
	"$senko" -c "$tmp/pin.conf" check 2>/dev/null | sed -n 's/^kitchen: .* -> \([0-9a-f]*\)$/\1/p'
}
check "branch = main: the newest commit" test "$(pinned_to main)" = "${second:0:7}"
check "branch = v1 (a tag): the tagged commit" test "$(pinned_to v1)" = "${first:0:7}"
check "branch = SHA: that commit" test "$(pinned_to "$first")" = "${first:0:7}"
tap_done
