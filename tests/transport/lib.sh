# lib.sh - emulated boards for the transport suites (sourced).
#
#   board_start NAME [board.js options...]   boots a board; its port is
#       $tmp/NAME/port (a symlink, like /dev/serial/by-id), its flash
#       $tmp/NAME/flash (fill it before starting).  Fast line: 1 Mbaud.
#   board_stop NAME       SIGTERM, waits for the exit
#   board_kill NAME       SIGKILL: the board vanishes mid-operation
#   helper ARGS...        the helper-repl test program
# Every board is stopped when the suite exits.  BOARD_JS overrides the
# emulator (to try a modified copy).
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${SENKO_BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
senko=${SENKO_BIN:-$build/senko}
helper_bin=$build/tests/helper-repl
tmp=$(mktemp -d)
boards=()

cleanup() {
	local pid
	for pid in "${boards[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${boards[@]}"; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

board_start() {
	local name=$1 deadline pid
	shift
	mkdir -p "$tmp/$name/flash"
	node "${BOARD_JS:-$root/tests/board/board.js}" --flash "$tmp/$name/flash" \
		--link "$tmp/$name/port" --baud 1000000 --exit-with-parent "$@" \
		>"$tmp/$name/out" 2>"$tmp/$name/err" </dev/null &
	pid=$!
	boards+=("$pid")
	echo "$pid" >"$tmp/$name/pid"
	deadline=$((SECONDS + 60))
	until grep -qs '^READY ' "$tmp/$name/out"; do
		if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
			diag "board $name did not start:"
			diag "$(cat "$tmp/$name/err")"
			return 1
		fi
		sleep 0.05
	done
}

board_stop() {
	local pid
	pid=$(cat "$tmp/$1/pid")
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

board_kill() {
	local pid
	pid=$(cat "$tmp/$1/pid")
	kill -9 "$pid" 2>/dev/null
	# ptybridge goes with its parent's pipes.
	wait "$pid" 2>/dev/null
	return 0
}

helper() {
	"$helper_bin" -b 1000000 "$@"
}

# A constant of the agent (UNIT, PIECES): the value agent.py sets.
agent_constant() {
	sed -n "s/^$1 = //p" "$root/src/board/agent.py"
}

# expect_in TEXT PATTERN: grep -F PATTERN in TEXT, with a diagnostic.
expect_in() {
	if printf '%s' "$1" | grep -qF -- "$2"; then
		return 0
	fi
	diag "expected to find: $2"
	diag "in: $1"
	return 1
}
