#!/usr/bin/env bash
# The raw REPL at a real ESP baud rate (115200) on an emulated ESP32:
# opening a connection (enter + probe), the round trip of a tiny run, and
# how fast program text goes out with raw-paste flow control versus the
# plain raw mode used on firmware without it (paced, checked on the board).
set -u
. "$(dirname "$0")/../transport/lib.sh"

ms() { date +%s%3N; }

{
	echo "s = 0"
	for i in $(seq 1 400); do echo "s += $i  # padding padding"; done
	echo "print(s)"
} >"$tmp/prog.py"
size=$(stat -c %s "$tmp/prog.py")

bench_board() {
	local name=$1 t0 t1 out
	shift
	board_start "$name" "$@"
	# board_start runs boards at 1 Mbaud; restart at the real rate.
	board_stop "$name"
	node "${BOARD_JS:-$root/tests/board/board.js}" --flash "$tmp/$name/flash" \
		--link "$tmp/$name/port" --baud 115200 "$@" \
		>"$tmp/$name/out" 2>"$tmp/$name/err" </dev/null &
	boards+=("$!")
	until grep -qs '^READY ' "$tmp/$name/out"; do sleep 0.05; done
	port=$tmp/$name/port
	t0=$(ms)
	"$helper_bin" -b 115200 "$port" info >/dev/null
	t1=$(ms)
	echo "$name: open (enter raw REPL + probe) and close: $((t1 - t0)) ms"
	t0=$(ms)
	"$helper_bin" -b 115200 "$port" exec 'pass' $(for i in $(seq 1 19); do echo , exec pass; done) >/dev/null
	t1=$(ms)
	echo "$name: open + 20 runs of 'pass': $((t1 - t0)) ms"
	t0=$(ms)
	out=$("$helper_bin" -b 115200 "$port" exec-file "$tmp/prog.py" | tr -d '\r')
	t1=$(ms)
	echo "$name: open + run a $size-byte program: $((t1 - t0)) ms" \
		"($(( size * 1000 / (t1 - t0 > 0 ? t1 - t0 : 1) )) bytes/s incl. open; answer $out)"
}

head -c 4096 /dev/urandom >"$tmp/4k.bin"
mkdir -p "$tmp/paste/flash"
head -c 102400 /dev/urandom >"$tmp/paste/flash/100k.bin"
bench_board paste
bench_board plain --no-raw-paste

# File operations at 115200 (devfs): a small atomic write, hashing on the
# board, reading back.
port=$tmp/paste/port
t0=$(ms)
"$helper_bin" -b 115200 "$port" write /4k.bin "$tmp/4k.bin" >/dev/null
t1=$(ms)
echo "paste: open + write_small 4096 bytes (base64, hash check, rename): $((t1 - t0)) ms"
t0=$(ms)
out=$("$helper_bin" -b 115200 "$port" hash /100k.bin)
t1=$(ms)
[ "$out" = "$(git hash-object "$tmp/paste/flash/100k.bin")" ] || echo "hash WRONG: $out"
echo "paste: open + hash a 100 KB file on the board: $((t1 - t0)) ms"
t0=$(ms)
"$helper_bin" -b 115200 "$port" read /4k.bin >/dev/null
t1=$(ms)
echo "paste: open + read back 4096 bytes (hex): $((t1 - t0)) ms"
