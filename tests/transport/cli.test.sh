#!/usr/bin/env bash
# senko ls / exec / reset / verify end to end: a config file whose device
# port is an emulated board's --link path (a symlink, as /dev/serial/by-id).
set -u
. "$(dirname "$0")/lib.sh"
unset SENKO_TOKEN

mkdir -p "$tmp/k/flash/app/lib" "$tmp/state"
printf 'print("boot")\n' >"$tmp/k/flash/boot.py"
printf 'x = 1\n' >"$tmp/k/flash/app/main.py"
printf 'def f():\n    return 2\n' >"$tmp/k/flash/app/lib/util.py"
head -c 3000 /dev/urandom >"$tmp/k/flash/app/data.bin"
mkdir -p "$tmp/k/flash/other"
printf 'x' >"$tmp/k/flash/other/new
line\");x.py"
board_start k --counters "$tmp/k.counters" || { not_ok "board starts"; tap_done; exit 1; }

cat >"$tmp/senko.conf" <<EOF
[senkod]
state_dir = $tmp/state
token_file =
[source app]
user = u
repo = r
[device kitchen]
port = $tmp/k/port
baud = 1000000
source = app
dest = /app
reset = soft
[device hall]
port = $tmp/nothere
baud = 1000000
source = app
reset = hard
EOF
s() { "$senko" -c "$tmp/senko.conf" "$@"; }

out=$(s ls kitchen 2>&1); rc=$?
check "ls: exit 0" test "$rc" = 0
check "ls: files under dest with sizes, folders marked" expect_in "$out" \
"      3000  /app/data.bin
         -  /app/lib/
        21  /app/lib/util.py
         6  /app/main.py"
check "ls: nothing outside dest" test -z "$(printf '%s' "$out" | grep boot.py)"
sed 's|^dest = /app$|dest = /other|' "$tmp/senko.conf" >"$tmp/other.conf"
out=$("$senko" -c "$tmp/other.conf" ls kitchen 2>&1)
check "ls: control bytes in names are shown escaped" \
	expect_in "$out" '/other/new\x0aline");x.py'
out=$(s ls nosuch 2>&1); rc=$?
check "ls: unknown device is a usage error naming it" \
	test "$rc" = 2 -a -n "$(expect_in "$out" "no [device nosuch]" && echo y)"
out=$(s ls hall 2>&1); rc=$?
check "ls: unplugged board: exit 1, says so" \
	test "$rc" = 1 -a -n "$(expect_in "$out" "no serial port $tmp/nothere" && echo y)"
out=$(s ls 2>&1); rc=$?
check "ls: no device given: usage" test "$rc" = 2

out=$(s exec kitchen 'print(6 * 7)' 2>&1); rc=$?
check "exec: prints the output (LF line ends), exit 0" test "$rc" = 0 -a "$out" = 42
out=$(s exec kitchen 'print("partial")
import nosuchmodule' 2>"$tmp/err"); rc=$?
check "exec: exception: exit 1" test "$rc" = 1
check "exec: output before the exception still printed" test "$out" = partial
check "exec: the traceback on stderr" \
	expect_in "$(cat "$tmp/err")" "ImportError: no module named 'nosuchmodule'"
check "exec: error line names the device" \
	expect_in "$(cat "$tmp/err")" "kitchen: the code raised ImportError"

before=$(grep -o '"soft_resets":[0-9]*' "$tmp/k.counters" | cut -d: -f2)
out=$(s reset kitchen 2>&1); rc=$?
check "reset: soft (the device's reset mode), exit 0" \
	test "$rc" = 0 -a "$out" = "kitchen: soft reset"
after=$(grep -o '"soft_resets":[0-9]*' "$tmp/k.counters" | cut -d: -f2)
check "reset: the board rebooted" test "$after" -gt "$before"
out=$(s reset kitchen hard 2>&1); rc=$?
check "reset hard on a pty: exit 1" test "$rc" = 1
check "reset hard on a pty: says why" expect_in "$out" "has no DTR/RTS lines"
out=$(s exec kitchen 'print(1 + 1)' 2>&1); rc=$?
check "after a reset, exec enters the raw REPL again" test "$rc" = 0 -a "$out" = 2

# verify: the mirror says what senko wrote.
mirror=$tmp/state/devices/kitchen/mirror
out=$(s verify kitchen 2>&1); rc=$?
check "verify without a mirror: exit 1, says to sync first" \
	test "$rc" = 1 -a -n "$(expect_in "$out" "run senko sync kitchen first" && echo y)"
mkdir -p "$mirror/lib"
cp "$tmp/k/flash/app/main.py" "$mirror/main.py"
cp "$tmp/k/flash/app/lib/util.py" "$mirror/lib/util.py"
cp "$tmp/k/flash/app/data.bin" "$mirror/data.bin"
out=$(s verify kitchen 2>&1); rc=$?
check "verify: all match, exit 0" test "$rc" = 0
check "verify: one ok line per file" expect_in "$out" "ok       /app/data.bin
ok       /app/lib/util.py
ok       /app/main.py"
printf 'x = 2\n' >"$mirror/main.py"
printf 'new\n' >"$mirror/lib/new.py"
out=$(s verify kitchen 2>&1); rc=$?
check "verify: a changed file DIFFERS, exit 1" \
	test "$rc" = 1 -a -n "$(expect_in "$out" "DIFFERS  /app/main.py" && echo y)"
check "verify: a file missing on the board" expect_in "$out" "MISSING  /app/lib/new.py"
check "verify: the matching files still ok" expect_in "$out" "ok       /app/lib/util.py"
out=$(s verify hall 2>&1); rc=$?
check "verify: unknown or unplugged device: exit 1" test "$rc" = 1

tap_done
