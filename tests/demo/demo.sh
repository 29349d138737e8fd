#!/usr/bin/env bash
# demo.sh - senko end to end in about a minute: offline, no hardware (make demo).
#
# Creates a small application repository in a temporary folder, serves it
# with the tests' fake GitHub (tests/fakegh), starts two emulated boards
# (tests/board: the real MicroPython interpreter behind a pseudo-terminal),
# runs senkod until both boards run the application, commits a change and
# brings it to the boards with `senko sync`, then shows `senko status`.
# Everything it started is stopped and the folder removed when it ends,
# also on Ctrl-C.
#
# Usage: tests/demo/demo.sh [--batch] [--baud N]
#   --batch   do not wait for Enter before cleaning up (scripts, CI)
#   --baud N  serial speed of the emulated boards (default 115200)
# Environment: SENKO_BUILD (default build), SENKO_BIN, SENKOD_BIN.
set -u

usage() {
	sed -n 's/^# \{0,1\}//; 12,15p' "$0"
}

batch=0
baud=115200
while [ $# -gt 0 ]; do
	case $1 in
	--batch) batch=1 ;;
	--baud)
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		baud=$2
		shift
		;;
	-h | --help) usage; exit 0 ;;
	*) echo "demo: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SENKO_BUILD:-build}
senko=${SENKO_BIN:-$root/$build/senko}
senkod=${SENKOD_BIN:-$root/$build/senkod}

if [ -t 1 ]; then
	bold=$(printf '\033[1m') dim=$(printf '\033[2m') off=$(printf '\033[0m')
else
	bold='' dim='' off=''
fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
say() { printf '    %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
# Print a command as one would type it ("senko" for the built one).
echo_command() {
	local arg out=
	for arg in "${@/#$senko/senko}"; do
		case $arg in
		*[!A-Za-z0-9_./=:,@+-]*) arg="'${arg//\'/\'\\\'\'}'" ;;
		esac
		out+=" $arg"
	done
	printf '%s$%s%s\n' "$dim" "$out" "$off"
}
# Show a command, then run it with its output indented.
show() {
	echo_command "$@"
	"$@" 2>&1 | sed -u 's/^/    /'
	return "${PIPESTATUS[0]}"
}

for tool in node git; do
	command -v "$tool" >/dev/null ||
		die "'$tool' is not installed; run 'make deps' first"
done
for prog in "$senko" "$senkod"; do
	[ -x "$prog" ] || die "'$prog' is not built; run 'make demo', which builds it"
done
[ -d "$root/tests/node_modules/@micropython" ] ||
	die "the board emulator's interpreter is missing; run 'make demo', which installs it"

# ------------------------------------------------------------- clean-up

work=$(mktemp -d "${TMPDIR:-/tmp}/senko-demo.XXXXXX") ||
	die "cannot create a temporary folder"
pids=()

# Stop every process the demo started (SIGTERM, then SIGKILL after 10 s)
# and remove the folder.  Runs once, on any exit.
cleanup() {
	local rc=$? pid deadline alive
	trap - EXIT INT TERM HUP
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	deadline=$((SECONDS + 10))
	while :; do
		alive=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] || [ $SECONDS -ge $deadline ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
	printf '\nstopped the fake GitHub, senkod and the boards; removed %s\n' "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'printf "\ndemo: interrupted\n" >&2; exit 130' INT TERM HUP

# wait_for WHAT SECONDS COMMAND...: poll COMMAND until it succeeds; fail
# naming WHAT after SECONDS.
wait_for() {
	local what=$1 secs=$2 deadline=$((SECONDS + $2))
	shift 2
	until "$@"; do
		[ $SECONDS -lt $deadline ] || die "no $what after $secs s; logs in $work"
		sleep 0.2
	done
}
# alive PID LOG: fail with the log's tail when PID has exited.
alive() {
	kill -0 "$1" 2>/dev/null && return 0
	tail -5 "$2" >&2
	die "a process the demo started has exited (log: $2)"
}
line_in() { alive "$1" "$3" && grep -q "$2" "$4"; }

echo "${bold}senko demo${off}: a repository, a fake GitHub and two emulated boards in"
echo "$work (removed at the end)"

# -------------------------------------------------- the application

step "1. an application repository: main.py and a lib/ module"
repo=$work/repos/demo/app
mkdir -p "$repo/lib"
git_repo() { git -C "$repo" -c user.name=Demo -c user.email=demo@example.invalid \
	-c commit.gpgsign=false "$@"; }
git init -q -b main "$repo"
cat >"$repo/main.py" <<'EOF'
# The application: senko keeps this file and lib/ on every board.
import lib.greeting

print(lib.greeting.message())
EOF
cat >"$repo/lib/__init__.py" <<'EOF'
EOF
cat >"$repo/lib/greeting.py" <<'EOF'
import sys


def message():
    return "hello from " + sys.platform + " (version 1)"
EOF
git_repo add -A
git_repo commit -q -m "first version"
show git -C "$repo" log --stat --format='commit %h: %s'

step "2. a fake GitHub serving it (tests/fakegh, on 127.0.0.1)"
node "$root/tests/fakegh/server.js" --repos "$work/repos" \
	--log "$work/github.log" >"$work/github.out" 2>"$work/github.err" &
pids+=($!)
wait_for "fake GitHub" 20 line_in "${pids[-1]}" '^LISTENING ' \
	"$work/github.err" "$work/github.out"
api=$(sed -n 's/^LISTENING //p' "$work/github.out")
say "API at $api; the repository is demo/app"

step "3. two emulated ESP32 boards with empty flash (tests/board)"
boards=(kitchen garage)
board_pids=()
for b in "${boards[@]}"; do
	mkdir -p "$work/$b.flash"
	node "$root/tests/board/board.js" --flash "$work/$b.flash" \
		--link "$work/$b.tty" --baud "$baud" --exit-with-parent \
		>"$work/$b.out" 2>"$work/$b.err" &
	pids+=($!)
	board_pids+=($!)
done
for i in "${!boards[@]}"; do
	b=${boards[$i]}
	wait_for "board $b" 60 line_in "${board_pids[$i]}" '^READY ' \
		"$work/$b.err" "$work/$b.out"
	say "$b on $work/$b.tty ($(sed -n 's/^READY //p' "$work/$b.out"), $baud baud)"
done

step "4. senko.conf: one source, two devices"
conf=$work/senko.conf
{
	cat <<EOF
[senkod]
interval   = 1h
state_dir  = $work/state
api_url    = $api
token_file =
jobs       = 2

[source app]
user   = demo
repo   = app
branch = main
EOF
	for b in "${boards[@]}"; do
		cat <<EOF

[device $b]
port   = $work/$b.tty
baud   = $baud
source = app
reset  = soft
prune  = yes
EOF
	done
} >"$conf"
show cat "$conf"
echo_command "$senko" -c "$conf" config check
"$senko" -c "$conf" config check >"$work/config-check.out" ||
	die "the configuration was refused"
sed 's/^/    /' "$work/config-check.out" | tail -1

# ------------------------------------------------------------ senkod

# boards_at COMMIT: every device's last sync reached COMMIT.
boards_at() {
	"$senko" -q -c "$conf" status --json 2>/dev/null | node -e '
		let s = "";
		process.stdin.on("data", (d) => { s += d; }).on("end", () => {
			let devs = [];
			try { devs = JSON.parse(s).devices; } catch (e) { /* not yet */ }
			process.exit(devs.length > 0 && devs.every((d) => d.commit === process.argv[1] &&
				(d.state === "updated" || d.state === "in-sync")) ? 0 : 1);
		});' "$1"
}

step "5. senkod: the daemon polls the source and brings both boards to it"
head1=$(git -C "$repo" rev-parse HEAD)
echo_command senkod -c "$conf" --foreground
"$senkod" -c "$conf" --foreground >"$work/senkod.log" 2>&1 &
pids+=($!)
senkod_pid=$!
tail -n +1 -f --pid="$senkod_pid" "$work/senkod.log" | sed -u 's/^/    | /' &
pids+=($!)
wait_for "sync of both boards to ${head1:0:7}" 60 \
	eval 'alive "$senkod_pid" "$work/senkod.log" && boards_at "$head1"'
say "both boards run ${head1:0:7}; senkod now waits for its next poll (interval 1h)"
for b in "${boards[@]}"; do
	show "$senko" -c "$conf" exec "$b" 'exec(open("main.py").read())'
done

# ------------------------------------------------------------ an update

step "6. a change upstream: a new greeting in lib/greeting.py, a new lib/colors.py"
sed -i 's/(version 1)/(version 2, pushed by senko)/' "$repo/lib/greeting.py"
printf 'FAVOURITE = "green"\n' >"$repo/lib/colors.py"
git_repo add -A
git_repo commit -q -m "second version"
show git -C "$repo" log -1 --stat --format='commit %h: %s'
head2=$(git -C "$repo" rev-parse HEAD)

step "7. senko check, then senko sync: only the changed files go to the boards"
show "$senko" -c "$conf" check
say "(exit status $?: 100 means updates are pending)"
# On a terminal, senko sync draws a progress line per board.
echo_command "$senko" -c "$conf" sync --wait
"$senko" -c "$conf" sync --wait || die "senko sync failed; logs in $work"
boards_at "$head2" || die "the boards did not reach ${head2:0:7}"
show "$senko" -c "$conf" status
for b in "${boards[@]}"; do
	show "$senko" -c "$conf" exec "$b" 'exec(open("main.py").read())'
done

step "where to look next"
cat <<EOF
    README.md                       set-up, quick start, running senkod as a service
    man senko, man senkod, man 5 senko.conf   (in man/; senko help COMMAND)
    tests/board/README.md           the emulated board: options, power cuts, faults
    tests/fakegh/README.md          the fake GitHub: faults and rate limits to try
    make check                      every test suite
EOF
if [ $batch = 0 ]; then
	cat <<EOF

Everything is still running.  In another terminal, try for example:
    $senko -c $conf ls kitchen
    $senko -c $conf verify garage
    $senko -c $conf status --json
    echo 'print("edited")' >>$repo/main.py && git -C $repo commit -qam edit && $senko -c $conf sync
EOF
	printf '%sPress Enter to stop everything and remove %s.%s ' "$bold" "$work" "$off"
	read -r _ || true
fi
