#!/usr/bin/env bash
# The serial port and the raw REPL against emulated boards: entering the
# raw REPL (also past a busy main.py), the time bound on a board that
# swallows Ctrl-C, raw-paste and its fallback, exceptions, a board that
# vanishes, locking and resets.
set -u
. "$(dirname "$0")/lib.sh"

board_start plain --counters "$tmp/plain.counters" || { not_ok "board starts"; # A frozen board (the process stopped): nothing ever comes back.  The
# time bound holds and the message says the board printed nothing.
board_start frozen
kill -STOP "$(cat "$tmp/frozen/pid")"
start=$SECONDS
out=$(helper "$tmp/frozen/port" open-errno 2>&1)
took=$((SECONDS - start))
kill -CONT "$(cat "$tmp/frozen/pid")"
check "frozen board: ETIMEDOUT" expect_in "$out" "errno=ETIMEDOUT"
check "frozen board: gives up in about 10 s (took ${took}s)" test "$took" -ge 9 -a "$took" -le 20
check "frozen board: says it printed nothing" expect_in "$out" "the board printed nothing"
board_stop frozen

tap_done; exit 1; }
port=$tmp/plain/port

out=$(helper "$port" info 2>&1); rc=$?
check "enters the raw REPL and probes the board" test "$rc" = 0
check "probe: platform and version" expect_in "$out" "platform=esp32"
check "probe: MicroPython version" expect_in "$out" "version=1."
check "probe: raw-paste, stdin.buffer, sha1, sha256" \
	expect_in "$out" "raw_paste=1
stdin_buffer=1
sha1=1
sha256=1"
check "probe: unique id as hex (6 bytes on ESP32)" \
	grep -qE '^unique_id=[0-9a-f]{12}$' <<<"$out"
check "probe: free flash and heap" grep -qE '^free_heap=[1-9][0-9]{3,}$' <<<"$out"
check "probe: free flash" grep -qE '^free_flash=[1-9][0-9]{3,}$' <<<"$out"

out=$(helper "$port" exec 'print(123)' , exec 'print("a\nb")' 2>&1); rc=$?
check "exec prints the program's output" test "$rc" = 0 -a \
	"$(printf '%s' "$out" | tr -d '\r')" = "$(printf '123\na\nb')"

out=$(helper "$port" exec 'print("before")
raise ValueError("bad value")' 2>&1); rc=$?
check "exception: exit status 1" test "$rc" = 1
check "exception: output kept apart from the exception" expect_in "$out" "before"
check "exception: its last line becomes the error" \
	expect_in "$out" "exception=ValueError: bad value"
check "exception: errno EREMOTEIO" expect_in "$out" "error errno=EREMOTEIO"
check "exception: logged with the port" \
	expect_in "$out" "$port: the code raised ValueError: bad value"

helper "$port" exec 'print(1)' >/dev/null 2>&1
out=$(helper "$port" peek 2>&1)
check "the board is left at its friendly REPL (>>> )" expect_in "$out" ">>> "

out=$(helper "$port" exec 'x = (' 2>&1); rc=$?
check "syntax error is an exception too" expect_in "$out" "exception=SyntaxError"
out=$(helper "$port" exec 'x = 41' , exec 'print(x + 1)' 2>&1)
check "globals survive between runs on one connection" \
	test "$(printf '%s' "$out" | tr -d '\r')" = 42

# 20 KB of source: needs many raw-paste windows (128 bytes each).
{
	echo "s = 0"
	for i in $(seq 1 1000); do echo "s += $i  # padding padding"; done
	echo "print(s)"
} >"$tmp/big.py"
out=$(helper "$port" exec-file "$tmp/big.py" 2>&1)
check "20 KB program through raw-paste flow control" \
	test "$(printf '%s' "$out" | tr -d '\r')" = 500500
check "no byte dropped on the board's UART" \
	grep -q '"dropped_bytes":0' "$tmp/plain.counters"
check "raw-paste was used" grep -qE '"raw_paste_sessions":[1-9]' "$tmp/plain.counters"

out=$(helper "$port" exec 'print(1)' , exec 'print(2)' , exec $'print(3)\x04' 2>&1); rc=$?
check "code with an 04 byte is refused (EINVAL), earlier runs fine" \
	expect_in "$out" "error errno=EINVAL"

# Locking: flock plus a UUCP lock file.
out=$(helper "$port" serial-twice 2>&1)
check "second open of the same port in one process: EBUSY" \
	expect_in "$out" "second errno=EBUSY"
coproc HOLD { exec "$helper_bin" "$port" hold; }
read -r held <&"${HOLD[0]}"
holdpid=$HOLD_PID
out=$(helper "$port" open-errno 2>&1)
check "port held by another process: EBUSY" expect_in "$out" "errno=EBUSY"
check "the message names the holder's program and PID" \
	expect_in "$out" "helper-repl (pid $holdpid) is using $port"
real=$(readlink -f "$port")
lockfile=/run/lock/LCK..$(basename "$real")
if [ -w /run/lock ]; then
	check "UUCP lock file holds the holder's PID" \
		test "$(tr -d ' \n' <"$lockfile" 2>/dev/null)" = "$holdpid"
fi
exec {HOLD[1]}>&-
wait "$holdpid"
check "lock released when the holder exits" test "$held" = held -a ! -e "$lockfile"
if [ -w /run/lock ]; then
	sh -c 'exit 0' & deadpid=$!
	wait "$deadpid"
	printf '%10d\n' "$deadpid" >"$lockfile"
	out=$(helper "$port" exec 'print(7)' 2>&1); rc=$?
	check "stale lock file (dead PID) is removed and the port opens" \
		test "$rc" = 0 -a ! -e "$lockfile"
	printf '%10d\n' "$$" >"$lockfile"
	out=$(helper "$port" open-errno 2>&1)
	check "lock file of a live process (no flock): EBUSY naming it" \
		expect_in "$out" "(pid $$) is using $port"
	rm -f "$lockfile"
fi

out=$(helper "$port" hard-reset 2>&1); rc=$?
check "hard reset on a pty fails" test "$rc" = 1
check "hard reset on a pty: clear message" expect_in "$out" "has no DTR/RTS lines"
check "hard reset on a pty: errno ENOTSUP" expect_in "$out" "errno=ENOTSUP"

# Soft reset: main.py runs again (the counters count reboots).
printf 'x = 1\n' >"$tmp/main.py"
helper "$port" write /main.py "$tmp/main.py" >/dev/null 2>&1
before=$(grep -o '"soft_resets":[0-9]*' "$tmp/plain.counters" | cut -d: -f2)
out=$(helper "$port" soft-reset 2>&1); rc=$?
check "soft reset" test "$rc" = 0
after=$(grep -o '"soft_resets":[0-9]*' "$tmp/plain.counters" | cut -d: -f2)
check "soft reset reached the board" test "$after" -gt "$before"
out=$(helper "$port" soft-reset , exec 'print(5)' 2>&1); rc=$?
check "after a soft reset the next run enters the raw REPL again" \
	test "$rc" = 0 -a "$(printf '%s' "$out" | tr -d '\r')" = 5

out=$(helper "$tmp/nothere" open-errno 2>&1)
check "missing port: ENOENT" expect_in "$out" "errno=ENOENT"
check "missing port: says so" expect_in "$out" "no serial port $tmp/nothere"

# Code that runs longer than the caller's timeout: an error, and the next
# run on the same connection interrupts it and goes on.  (Short sleeps: the
# emulator notices Ctrl-C between host calls, a real board inside sleep.)
slow='import time
for i in range(300):
    time.sleep_ms(100)'
out=$(helper "$port" timeout 1000 , exec "$slow" 2>&1); rc=$?
check "silent run past the timeout: ETIMEDOUT" expect_in "$out" "error errno=ETIMEDOUT"
check "silent run past the timeout: says the board stopped answering" \
	expect_in "$out" "the board stopped answering"
start=$SECONDS
out=$(helper -k "$port" timeout 1000 , exec "$slow" , exec 'print(8)' 2>&1)
check "after a timed-out run the next run on the connection interrupts it" \
	test "$(printf '%s' "$out" | tr -d '\r' | grep -c '^8$')" = 1 -a $((SECONDS - start)) -lt 25
out=$(helper "$port" timeout 1000 , exec "$slow" 2>&1)
out=$(helper "$port" exec 'print(9)' 2>&1)
check "a connection closed mid-run leaves the board usable" \
	test "$(printf '%s' "$out" | tr -d '\r')" = 9

# A main.py that never ends (and prints all the time) is interrupted.
mkdir -p "$tmp/busy/flash"
cat >"$tmp/busy/flash/main.py" <<'EOF'
import time
i = 0
while True:
    i += 1
    print('busy', i)
    time.sleep_ms(5)
EOF
board_start busy
# READY comes before boot.py and main.py run: wait until main.py prints,
# so the helper interrupts the loop, not the board's start-up.
timeout 20 grep -a -m1 -q busy <"$tmp/busy/port"
out=$(helper "$tmp/busy/port" exec 'print(i > 0)' 2>&1); rc=$?
check "a main.py looping forever is interrupted and the raw REPL entered" \
	test "$rc" = 0 -a "$(printf '%s' "$out" | tr -d '\r')" = True
board_stop busy

# No raw-paste in the firmware: plain raw mode, paced, each program
# checked on the board before it runs (no flow control: bytes can be lost).
{
	echo "s = 0"
	for i in $(seq 1 200); do echo "s += $i  # padding padding"; done
	echo "print(s)"
} >"$tmp/mid.py"
board_start old --no-raw-paste --counters "$tmp/old.counters"
out=$(helper "$tmp/old/port" info , exec-file "$tmp/mid.py" 2>&1); rc=$?
check "no raw-paste: probe says so" expect_in "$out" "raw_paste=0"
check "no raw-paste: 5 KB program through plain raw mode" \
	test "$rc" = 0 -a "$(printf '%s' "$out" | tr -d '\r' | tail -1)" = 20100
check "no raw-paste: raw-paste was never entered" \
	grep -q '"raw_paste_sessions":0' "$tmp/old.counters"
out=$(helper "$tmp/old/port" exec '1/0' 2>&1)
check "no raw-paste: exceptions" expect_in "$out" "exception=ZeroDivisionError"
out=$(helper "$tmp/old/port" exec 'print("x", 1)' , exec 'print(_senko_s)' 2>&1)
check "no raw-paste: output, and no staging variable left behind" \
	expect_in "$out" "exception=NameError"
board_stop old

# A board that vanishes in the middle of a run: an error, not a hang.
board_start gone
coproc RUN { exec "$helper_bin" -t -b 1000000 "$tmp/gone/port" exec 'import time
time.sleep(60)' 2>&1; }
runpid=$RUN_PID
# bash drops RUN when the helper exits: keep our own copy of its output.
exec {runout}<&"${RUN[0]}"
read -r first <&"$runout"
board_kill gone
start=$SECONDS
out=$(timeout 30 cat <&"$runout")
exec {runout}<&-
wait "$runpid"; rc=$?
check "vanished board: the run fails (exit 1), no hang" test "$rc" = 1 -a $((SECONDS - start)) -lt 25
check "vanished board: errno EIO" expect_in "$out" "error errno=EIO"
check "vanished board: clear message" expect_in "$out" "lost the board on $tmp/gone/port"
out=$(helper "$tmp/gone/port" open-errno 2>&1)
check "vanished board: reopening says the port is missing" expect_in "$out" "errno=ENOENT"

# main.py that swallows Ctrl-C: the documented error within the bound.
# (It turns Ctrl-C off, as programs that use the UART for data do; the
# emulator cannot catch a KeyboardInterrupt raised inside time.sleep.)
mkdir -p "$tmp/stuck/flash"
cat >"$tmp/stuck/flash/main.py" <<'EOF'
import micropython, time
micropython.kbd_intr(-1)
while True:
    print('busy')
    time.sleep(1)
EOF
board_start stuck
start=$SECONDS
out=$(helper "$tmp/stuck/port" open-errno 2>&1)
took=$((SECONDS - start))
check "Ctrl-C swallowed: ETIMEDOUT" expect_in "$out" "errno=ETIMEDOUT"
check "Ctrl-C swallowed: gives up in about 10 s (took ${took}s)" test "$took" -le 20
check "Ctrl-C swallowed: quotes what the board printed" expect_in "$out" 'busy\r\n'
check "Ctrl-C swallowed: suggests reset = hard" expect_in "$out" "reset = hard"
check "Ctrl-C swallowed: names main.py" expect_in "$out" "main.py"
board_stop stuck

# A frozen board (the process stopped): nothing ever comes back.  The
# time bound holds and the message says the board printed nothing.
board_start frozen
kill -STOP "$(cat "$tmp/frozen/pid")"
start=$SECONDS
out=$(helper "$tmp/frozen/port" open-errno 2>&1)
took=$((SECONDS - start))
kill -CONT "$(cat "$tmp/frozen/pid")"
check "frozen board: ETIMEDOUT" expect_in "$out" "errno=ETIMEDOUT"
check "frozen board: gives up in about 10 s (took ${took}s)" test "$took" -ge 9 -a "$took" -le 20
check "frozen board: says it printed nothing" expect_in "$out" "the board printed nothing"
board_stop frozen

tap_done
