#!/usr/bin/env bash
# How the agent gets onto a board (src/board/boot.py, agent.c's
# agent_start): compressed through the bootstrap, credit-paced so the
# smallest stdin ring never overruns, kept in the board's cache by the
# first session and run from there by the next, a damaged cache refused,
# the plain code for a board without deflate.  Costs come from the
# emulator's counters (host->board bytes, executions, dropped bytes) at
# the line rate a user has: 115200 baud.
set -u
. "$(dirname "$0")/lib.sh"
agent_bin=$build/tests/helper-agent
gen=$build/gen/agent_code.h

# The size of the plain agent (both parts, as the build shrank them).
plain=$(sed -n 's/^#define AGENT_CODE_BYTES \([0-9]*\)$/\1/p' "$gen")
check "the build says how large the plain agent is" test "${plain:-0}" -gt 5000

counter() { # counter NAME KEY
	node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync('$tmp/$1.counters'))['$2']))"
}
# visit NAME MIN [helper options...]: one session (a clean heap first, as
# a sync has), its log in $tmp/NAME.log; sets vrc, rx (host->board
# bytes), ex (executions) and drops (dropped bytes) of the visit.  The
# counters are read once the file shows MIN executions more (the board
# writes it at once after each; a visit's last event is the end of its
# last execution), at most 10 s later: a count below MIN fails the test.
visit() {
	local name=$1 min=$2 rx0 ex0 dr0 until
	shift 2
	rx0=$(counter "$name" rx_bytes); ex0=$(counter "$name" executions)
	dr0=$(counter "$name" dropped_bytes)
	"$agent_bin" -v -b 115200 -r "$tmp/$name/port" "$@" inv / >"$tmp/$name.log" 2>&1
	vrc=$?
	until=$((SECONDS + 10))
	while [ $(( $(counter "$name" executions) - ex0 )) -lt "$min" ] &&
	    [ $SECONDS -lt $until ]; do
		sleep 0.05
	done
	rx=$(( $(counter "$name" rx_bytes) - rx0 ))
	ex=$(( $(counter "$name" executions) - ex0 ))
	drops=$(( $(counter "$name" dropped_bytes) - dr0 ))
}
flip_bit() { # flip_bit FILE MASK: the middle byte xor MASK, same size
	python3 - "$1" "$2" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= int(sys.argv[2], 16)
open(p, 'wb').write(b)
EOF
}
start() { # start NAME [board options...]
	local name=$1
	shift
	board_start "$name" --baud 115200 --counters "$tmp/$name.counters" "$@" ||
		not_ok "board $name starts"
}

# ------------------------------------------ without deflate: plain code
# No room for a copy either (agent.c: CACHE_FLASH_SPARE): the parts go as
# code, in every visit.
start plain --no-deflate --flash-size 65536
visit plain 3
check "no deflate: the agent starts" test "$vrc" = 0
[ "$vrc" = 0 ] || diag "$(cat "$tmp/plain.log")"
check "no deflate: the plain code, probe and two executions" test "$ex" = 3
check "no deflate: no cache written" test ! -e "$tmp/plain/flash/.senko"
plain_rx=$rx

# ------------------------------ without deflate, with room: a plain copy
# The first visit writes the plain agent into the cache and runs it from
# there; the next sends only the loader and two lines.
start plaincopy --no-deflate
visit plaincopy 3
check "plain copy: the agent starts" test "$vrc" = 0
[ "$vrc" = 0 ] || diag "$(cat "$tmp/plaincopy.log")"
check "plain copy: sent and kept" grep -q 'plain agent sent, kept in the cache' "$tmp/plaincopy.log"
check "plain copy: probe and two executions" test "$ex" = 3
pcopy=$(ls "$tmp/plaincopy/flash/.senko" 2>/dev/null)
check "plain copy: the cache holds one file, this build's plain code" \
	test "$(printf '%s\n' "$pcopy" | grep -c '^agent-[0-9a-f]\{16\}\.py$')" = 1
check "plain copy: the whole plain code" \
	test "$(stat -c %s "$tmp/plaincopy/flash/.senko/$pcopy" 2>/dev/null)" = "$plain"
cp "$tmp/plaincopy/flash/.senko/$pcopy" "$tmp/good.py"
check "plain copy: the first visit costs under 125 % of the plain code's" \
	test $((rx * 100)) -lt $((plain_rx * 125))
visit plaincopy 3
check "plain copy, next visit: the agent starts" test "$vrc" = 0
check "plain copy, next visit: from the board's cache" \
	grep -q "plain agent from the board's cache" "$tmp/plaincopy.log"
check "plain copy, next visit: probe and two executions" test "$ex" = 3
check "plain copy, next visit: the code did not cross the line again" \
	test "$rx" -lt $((plain_rx - plain + 1024))
diag "plain agent: $plain_rx bytes host->board as code, $rx from the copy"
# One byte of the copy changed, same size, with the board off: it never
# runs; the visit sends the agent again and the copy is whole again.
board_stop plaincopy
flip_bit "$tmp/plaincopy/flash/.senko/$pcopy" 0x01
start plaincopy --no-deflate
visit plaincopy 3
check "plain copy, damaged: the agent starts all the same" test "$vrc" = 0
check "plain copy, damaged: sent again" grep -q 'plain agent sent, kept' "$tmp/plaincopy.log"
check "plain copy, damaged: the copy is whole again" \
	cmp -s "$tmp/good.py" "$tmp/plaincopy/flash/.senko/$pcopy"
# A file where the cache folder should be: the copy cannot be written,
# and the parts go as code in the same visit.
mkdir -p "$tmp/nocopy/flash"
printf 'not a folder\n' >"$tmp/nocopy/flash/.senko"
start nocopy --no-deflate
visit nocopy 4
check "plain copy, cannot be kept: the agent starts all the same" test "$vrc" = 0
[ "$vrc" = 0 ] || diag "$(cat "$tmp/nocopy.log")"
check "plain copy, cannot be kept: says so" grep -q "could not keep the agent in /.senko" "$tmp/nocopy.log"
check "plain copy, cannot be kept: then as code (four executions)" test "$ex" = 4

# ------------------------------------------ a fresh board: compressed
start fresh
visit fresh 2
check "fresh: the agent starts" test "$vrc" = 0
[ "$vrc" = 0 ] || diag "$(cat "$tmp/fresh.log")"
check "fresh: it was sent, not found" grep -q 'agent sent' "$tmp/fresh.log"
check "fresh: probe and one execution" test "$ex" = 2
# The same visit's other bytes (probe, commands) are what the plain
# visit sent besides the plain code; the rest is the agent's start.
start_rx=$((rx - (plain_rx - plain)))
check "fresh: the agent's start costs under 60 % of the plain code" \
	test $((start_rx * 100)) -lt $((plain * 60))
diag "agent start: $start_rx bytes host->board, plain code $plain bytes"
cached=$(ls "$tmp/fresh/flash/.senko" 2>/dev/null)
check "fresh: the cache holds one file, this build's, compressed" \
	test "$(printf '%s\n' "$cached" | grep -c '^agent-[0-9a-f]\{16\}-[0-9]*\.z$')" = 1
check "fresh: no temporary file left in the cache" \
	test "$(ls -A "$tmp/fresh/flash/.senko" | wc -l)" = 1
cp "$tmp/fresh/flash/.senko/$cached" "$tmp/good.z"
check "fresh: the cache file is smaller than 60 % of the plain code" \
	test $(($(stat -c %s "$tmp/good.z") * 100)) -lt $((plain * 60))
check "fresh: nothing dropped" test "$drops" = 0
fresh_rx=$rx

# ------------------------------------------- the next visit: the cache
visit fresh 2
check "cached: the agent starts" test "$vrc" = 0
check "cached: from the board's cache" grep -q "agent from the board's cache" "$tmp/fresh.log"
check "cached: probe and one execution" test "$ex" = 2
check "cached: the compressed agent did not cross the line again" \
	test "$rx" -lt $((fresh_rx - $(stat -c %s "$tmp/good.z")))
check "cached: the cache file is unchanged" cmp -s "$tmp/good.z" "$tmp/fresh/flash/.senko/$cached"

# ---------------------------------- a damaged or foreign cache never runs
# Damaged from outside with the board off (the emulator loads its flash
# at power-on): one bit of the stream flipped, same size.  And an older
# build's copy that must go.
board_stop fresh
flip_bit "$tmp/fresh/flash/.senko/$cached" 0x10
printf 'raise SystemExit\n' >"$tmp/fresh/flash/.senko/agent-0123456789abcdef-10.z"
start fresh
visit fresh 2
check "damaged: the agent starts all the same" test "$vrc" = 0
[ "$vrc" = 0 ] || diag "$(cat "$tmp/fresh.log")"
check "damaged: it was sent, the copy not run" grep -q 'agent sent' "$tmp/fresh.log"
check "damaged: the copy is whole again" cmp -s "$tmp/good.z" "$tmp/fresh/flash/.senko/$cached"
check "damaged: the other build's copy is gone" \
	test "$(ls -A "$tmp/fresh/flash/.senko")" = "$cached"
out=$("$agent_bin" -b 115200 "$tmp/fresh/port" ls / 2>&1)
check "the cache is never listed" sh -c "! printf '%s' '$out' | grep -q senko/"

# ----------------------------------- the board's files cannot stand in
# Modules of the bootstrap's names on the board, in both folders on
# sys.path (micropython-lib's python-stdlib has io and select): neither
# the bootstrap nor the cached copy's loader imports them.  (The
# emulator hands out its own os and micropython whatever the flash holds.)
# Put there by the agent, with the cache damaged the same way, so the
# next visit (no reset: the emulator's start-up code would import them)
# sends the agent again.
args=()
for m in deflate io select; do
	printf 'raise ImportError("shadowed %s imported")\n' "$m" >"$tmp/$m.py"
	args+=(put "/$m.py" "$tmp/$m.py" put "/lib/$m.py" "$tmp/$m.py")
done
printf 'damaged' >"$tmp/damaged.z"
"$agent_bin" -b 115200 "$tmp/fresh/port" "${args[@]}" \
	put "/.senko/$cached" "$tmp/damaged.z" >"$tmp/shadow.log" 2>&1
check "shadows: on the board" test -e "$tmp/fresh/flash/lib/deflate.py"
"$agent_bin" -v -b 115200 "$tmp/fresh/port" inv / >"$tmp/shadow.log" 2>&1
check "shadows: the bootstrap imports only built-ins" test "$?" = 0
check "shadows: the agent was sent" grep -q 'agent sent' "$tmp/shadow.log"
[ -s "$tmp/shadow.log" ] && grep -q 'shadowed' "$tmp/shadow.log" && diag "$(cat "$tmp/shadow.log")"
"$agent_bin" -v -b 115200 "$tmp/fresh/port" inv / >"$tmp/shadow.log" 2>&1
check "shadows: the cached copy's loader imports only built-ins" test "$?" = 0
check "shadows: from the cache" grep -q "agent from the board's cache" "$tmp/shadow.log"
board_stop fresh
for m in deflate io select; do rm -f "$tmp/fresh/flash/$m.py" "$tmp/fresh/flash/lib/$m.py"; done

# ----------------------------- nothing before Ctrl-C is off on the board
# The stream holds 03 bytes; one that arrives before the bootstrap turned
# Ctrl-C off interrupts it (the firmware arms Ctrl-C once the program
# starts: shared/runtime/pyexec.c).  The host waits for the bootstrap's
# first credit.  Shown with an RP2040's ring (511 bytes, window 7 units)
# and slow flash commits (the cache file is created before Ctrl-C goes
# off), when this build's stream has a 03 within that first window.
first03=$(python3 -c 'import sys; print(open(sys.argv[1], "rb").read().find(3))' "$tmp/good.z")
start ready --ring 512 --flash-prog-us 20000
SENKO_AGENT_WINDOW=7 visit ready 2
if [ "$first03" -ge 0 ] && [ "$first03" -lt $((7 * $(agent_constant UNIT))) ]; then
	check "first credit: a window with a 03 in it, sent after Ctrl-C went off" test "$vrc" = 0
	[ "$vrc" = 0 ] || diag "$(cat "$tmp/ready.log")"
else
	ok "first credit: # SKIP this build's stream has no 03 in its first window"
fi

# ------------------------------------ no room to spare: no cache
# The application's files matter more: a board whose flash would keep
# less than 64 KB free besides the copy gets none (agent.c:
# CACHE_FLASH_SPARE).
start tight --flash-size 65536
visit tight 2
check "tight flash: the agent starts" test "$vrc" = 0
check "tight flash: compressed all the same" grep -q 'agent sent' "$tmp/tight.log"
check "tight flash: no cache written" test ! -e "$tmp/tight/flash/.senko"

# ------------------------------- ESP8266: its 255-byte ring, paced units
# The ESP8266's stdin ring holds 255 bytes (ports/esp8266/esp_mphal.c).
# Its 40 KB heap takes the plain code (agent.c: BOOT_HEAP_MIN); the
# compressed stream is paced on the same ring with a heap that takes it.
start e8266 --profile esp8266
visit e8266 3
check "esp8266: the agent starts on the small heap" test "$vrc" = 0
[ "$vrc" = 0 ] || diag "$(cat "$tmp/e8266.log")"
check "esp8266: nothing dropped" test "$drops" = 0
check "esp8266: the plain copy kept" grep -q 'plain agent sent, kept in the cache' "$tmp/e8266.log"
e8266_rx=$rx
visit e8266 3
check "esp8266, next visit: the agent starts from its copy" test "$vrc" = 0
[ "$vrc" = 0 ] || diag "$(cat "$tmp/e8266.log")"
check "esp8266, next visit: from the board's cache" \
	grep -q "plain agent from the board's cache" "$tmp/e8266.log"
check "esp8266, next visit: probe and two executions" test "$ex" = 3
check "esp8266, next visit: the code did not cross the line again" \
	test "$rx" -lt $((e8266_rx - plain))
start e8266big --profile esp8266 --heap 131072
visit e8266big 2
check "esp8266 ring: the compressed agent starts" test "$vrc" = 0
[ "$vrc" = 0 ] || diag "$(cat "$tmp/e8266big.log")"
check "esp8266 ring: it was sent compressed" grep -q 'agent sent' "$tmp/e8266big.log"
check "esp8266 ring: nothing dropped" test "$drops" = 0
# Proof that the ring is what the pacing protects: a window four times
# the ring overruns it (and the start fails instead of running damage).
start e8266wide --profile esp8266 --heap 131072
SENKO_AGENT_WINDOW=16 visit e8266wide 1
check "esp8266 ring: a window of four rings fails" test "$vrc" != 0
check "esp8266 ring: and the board dropped bytes" test "$drops" -gt 0

tap_done
