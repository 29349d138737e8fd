#!/usr/bin/env bash
# Every exit status of senko(1)'s EXIT STATUS table, from every program and
# command it applies to (issue 15): 0 in sync, 1 a device or source failed,
# 2 usage error, 78 configuration error (missing file, errors in it, a
# token file every user can read), 100 updates pending.
#
# Cases marked "[forge]" came with the forge branch's fix (a token file
# every user can read made check, sync and senkod exit 1, not 78).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
senko=${SENKO_BIN:-build/senko}
senkod=${SENKOD_BIN:-build/senkod}
tmp=$(mktemp -d)
gh_pid=
trap '[ -n "$gh_pid" ] && kill "$gh_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
unset SENKO_TOKEN
for k in $(env | sed -n 's/^\(GIT_[A-Z_]*\)=.*/\1/p'); do unset "$k"; done

# A repository with one file, served by the fake GitHub.
repo=$tmp/repos/acme/fw
git init -q -b main "$repo"
echo 'print("hi")' >"$repo/main.py"
git -C "$repo" add -A
git -C "$repo" -c user.name=T -c user.email=t@example.invalid \
	-c commit.gpgsign=false commit -q -m first
node tests/fakegh/server.js --repos "$tmp/repos" >"$tmp/gh.out" 2>"$tmp/gh.err" &
gh_pid=$!
for _ in $(seq 150); do
	grep -q '^LISTENING ' "$tmp/gh.out" 2>/dev/null && break
	kill -0 "$gh_pid" 2>/dev/null || break
	sleep 0.1
done
api=$(sed -n 's/^LISTENING //p' "$tmp/gh.out")
if [ -z "$api" ]; then
	not_ok "the fake GitHub starts"
	diag "$(cat "$tmp/gh.err")"
	tap_done
	exit 1
fi

# conf NAME FILES PORT [EXTRA]: a configuration with one source and one
# device; FILES is the source's files key (nothing.py selects no file, so
# the device is in sync without a board).
conf() {
	cat >"$tmp/$1.conf" <<CONF
[senkod]
state_dir  = $tmp/state-$1
api_url    = $api
token_file = ${4-}
[source app]
user  = acme
repo  = fw
files = $2
[device kitchen]
port   = $3
source = app
CONF
	echo "$tmp/$1.conf"
}
insync=$(conf insync nothing.py "$tmp/no-board")
pending=$(conf pending main.py "$tmp/no-board")
echo 'tok' >"$tmp/token"
chmod 644 "$tmp/token"
opentoken=$(conf openTOKEN main.py "$tmp/no-board" "$tmp/token")
missing=$tmp/no-such.conf
printf '[senkod]\nintervall = 5m\n' >"$tmp/badkey.conf"
printf '[senkod\nstate_dir = /x\n' >"$tmp/syntax.conf"
cp "$insync" "$tmp/nosource.conf"
sed -i 's/^source = app/source = nope/' "$tmp/nosource.conf"

# expect CODE DESCRIPTION PROGRAM ARGS...: PROGRAM exits with CODE
# (within 60 s; senkod is never left running).
expect() {
	local want=$1 what=$2 rc
	shift 2
	timeout -k 5 60 "$@" >"$tmp/out" 2>&1 </dev/null
	rc=$?
	if [ "$rc" = "$want" ]; then
		ok "exit $want: $what"
	else
		not_ok "exit $want: $what"
		diag "$(basename "$1") ${*:2}: exit $rc"
		diag "$(tail -5 "$tmp/out")"
	fi
}

# --- 0: success
expect 0 "senko hash" "$senko" hash "$repo/main.py"
expect 0 "senko config check of a good file" "$senko" -c "$insync" config check
expect 0 "senko check, every device up to date" "$senko" -c "$insync" check
expect 0 "senko sync, nothing to do" "$senko" -c "$insync" sync
expect 0 "senkod --once, nothing to do" "$senkod" -c "$insync" --once
expect 0 "senko status, no device failed" "$senko" -c "$insync" status
expect 0 "senko --version" "$senko" --version
expect 0 "senko help sync (no configuration)" "$senko" -c "$missing" help sync

# --- 100: updates pending (check only)
expect 100 "senko check, a file to write" "$senko" -c "$pending" check

# --- 1: some device or source failed
expect 1 "senko sync, the board is not plugged in" "$senko" -c "$pending" sync
expect 1 "senkod --once, the board is not plugged in" "$senkod" -c "$pending" --once
expect 1 "senko status after a failed sync" "$senko" -c "$pending" status
for cmd in "ls kitchen" "verify kitchen" "reset kitchen" "exec kitchen pass"; do
	expect 1 "senko $cmd, the board is not plugged in" \
		"$senko" -c "$pending" $cmd
done
sed 's|^repo  = fw|repo  = no-such-repo|' "$pending" >"$tmp/norepo.conf"
expect 1 "senko check, the repository does not exist" "$senko" -c "$tmp/norepo.conf" check
expect 1 "senko sync, the repository does not exist" "$senko" -c "$tmp/norepo.conf" sync

# --- 2: usage errors
expect 2 "senko without a command" "$senko"
expect 2 "senko, an unknown command" "$senko" -c "$insync" frobnicate
expect 2 "senko, an unknown global option" "$senko" --frobnicate status
expect 2 "senko help, an unknown command" "$senko" help frobnicate
expect 2 "senko sync, an unknown option" "$senko" -c "$insync" sync --frobnicate
expect 2 "senko sync, an unknown device" "$senko" -c "$insync" sync nosuch
expect 2 "senko check, an unknown device" "$senko" -c "$insync" check nosuch
expect 2 "senko status, an unknown option" "$senko" -c "$insync" status --frobnicate
for cmd in ls verify reset exec; do
	expect 2 "senko $cmd without a device" "$senko" -c "$insync" $cmd
done
expect 2 "senko exec without code" "$senko" -c "$insync" exec kitchen
expect 2 "senko reset, neither soft nor hard" "$senko" -c "$insync" reset kitchen warm
expect 2 "senko config without check" "$senko" -c "$insync" config
expect 2 "senkod, an unknown option" "$senkod" --frobnicate
expect 2 "senkod, an argument" "$senkod" -c "$insync" extra

# --- 78: configuration errors, from every command that reads the file
config_cmds=("config check" check sync status "ls kitchen" "verify kitchen"
	"reset kitchen" "exec kitchen pass")
for file in missing:"$missing" badkey:"$tmp/badkey.conf" \
	syntax:"$tmp/syntax.conf" nosource:"$tmp/nosource.conf"; do
	what=${file%%:*} path=${file#*:}
	case $what in
	missing) what="the file is missing" ;;
	badkey) what="an unknown key" ;;
	syntax) what="a broken section header" ;;
	nosource) what="a device naming an unknown source" ;;
	esac
	for cmd in "${config_cmds[@]}"; do
		expect 78 "senko $cmd, $what" "$senko" -c "$path" $cmd
	done
	expect 78 "senkod --once, $what" "$senkod" -c "$path" --once
	# Without --foreground: the caller still gets 78 before senkod detaches.
	expect 78 "senkod, $what" "$senkod" -c "$path"
done
expect 78 "senko config check, a token file every user can read" \
	"$senko" -c "$opentoken" config check
expect 78 "[forge] senko check, a token file every user can read" \
	"$senko" -c "$opentoken" check
expect 78 "[forge] senko sync, a token file every user can read" \
	"$senko" -c "$opentoken" sync
expect 78 "[forge] senkod --once, a token file every user can read" \
	"$senkod" -c "$opentoken" --once
expect 78 "[forge] senkod --foreground, a token file every user can read" \
	"$senkod" -c "$opentoken" --foreground
tap_done
