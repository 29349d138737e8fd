#!/usr/bin/env bash
# File operations on a board (devfs.c) against emulated boards: mkdir -p,
# stat, listing, hashing with both algorithms, read, atomic small writes,
# remove, rename, temporary-file cleanup, and hostile file names.  The
# board's flash folder on the host shows what really happened.
set -u
. "$(dirname "$0")/lib.sh"

mkdir -p "$tmp/b/flash"
printf 'print("boot")\n' >"$tmp/b/flash/boot.py"
board_start b || { not_ok "board starts"; tap_done; exit 1; }
port=$tmp/b/port
flash=$tmp/b/flash
# The flash folder is written back after each run on the board.
on_flash() { test -e "$flash$1"; }

out=$(helper "$port" mkdir /lib/deep/er , stat /lib/deep/er , stat /lib 2>&1)
check "mkdir -p creates every level" on_flash /lib/deep/er
check "stat of a folder" expect_in "$out" "dir "
out=$(helper "$port" mkdir /lib/deep 2>&1); rc=$?
check "mkdir -p of an existing folder is fine" test "$rc" = 0
out=$(helper "$port" mkdir /boot.py/x 2>&1); rc=$?
check "mkdir -p through a file fails clearly" \
	expect_in "$out" "cannot create folder '/boot.py/x'"

printf 'hello\n' >"$tmp/hello.txt"
head -c 5000 /dev/urandom >"$tmp/random.bin"
: >"$tmp/empty"
out=$(helper "$port" write /lib/hello.txt "$tmp/hello.txt" , \
	write /lib/deep/random.bin "$tmp/random.bin" , \
	write /empty.txt "$tmp/empty" 2>&1); rc=$?
check "write_small: three files" test "$rc" = 0
check "write_small: text file arrives intact" cmp -s "$tmp/hello.txt" "$flash/lib/hello.txt"
check "write_small: 5000 random bytes arrive intact" \
	cmp -s "$tmp/random.bin" "$flash/lib/deep/random.bin"
check "write_small: empty file" test -f "$flash/empty.txt" -a ! -s "$flash/empty.txt"
check "write_small: no temporary file left" \
	test -z "$(find "$flash" -name '*.senko-tmp')"
printf 'second version\n' >"$tmp/hello2.txt"
helper "$port" write /lib/hello.txt "$tmp/hello2.txt" >/dev/null 2>&1
check "write_small replaces an existing file" cmp -s "$tmp/hello2.txt" "$flash/lib/hello.txt"

out=$(helper "$port" stat /lib/deep/random.bin 2>&1)
check "stat: size of a file" expect_in "$out" "file 5000"
out=$(helper "$port" stat /nope.py 2>&1); rc=$?
check "stat: missing file is ENOENT" test "$rc" = 1 -a -n "$(expect_in "$out" "errno=ENOENT" && echo y)"

out=$(helper "$port" ls / 2>&1)
check "list: recursive, with sizes and kinds" expect_in "$out" "d 0 /lib
d 0 /lib/deep
d 0 /lib/deep/er
f 5000 /lib/deep/random.bin"
check "list: files in the root" expect_in "$out" "f 14 /boot.py"
check "list: text file" expect_in "$out" "f 15 /lib/hello.txt"
out=$(helper "$port" ls /lib/deep 2>&1)
check "list: below a folder only" test "$(printf '%s' "$out" | grep -c .)" = 2
out=$(helper "$port" ls /not/there 2>&1); rc=$?
check "list: a missing folder is empty" test "$rc" = 0 -a -z "$out"

helper "$port" read /lib/deep/random.bin >"$tmp/back.bin" 2>/dev/null
check "read: binary file comes back byte for byte" cmp -s "$tmp/random.bin" "$tmp/back.bin"
out=$(helper "$port" read /nope.py 2>&1)
check "read: missing file is ENOENT" expect_in "$out" "errno=ENOENT"

out=$(helper "$port" algo , hash /lib/deep/random.bin , hash /empty.txt 2>&1)
check "hash: the board uses git's blob SHA-1 when it has sha1" \
	expect_in "$out" "sha1
$(git hash-object "$tmp/random.bin")
$(git hash-object "$tmp/empty")"
out=$(helper hash-host sha1 "$tmp/random.bin")
check "hash_host sha1 equals git hash-object" test "$out" = "$(git hash-object "$tmp/random.bin")"
out=$(helper hash-host sha256 "$tmp/random.bin")
check "hash_host sha256 equals sha256sum" \
	test "$out" = "$(sha256sum "$tmp/random.bin" | cut -d' ' -f1)"
out=$(helper "$port" hash /nope.py 2>&1)
check "hash: missing file is ENOENT" expect_in "$out" "errno=ENOENT"

out=$(helper "$port" mv /lib/hello.txt /lib/renamed.txt 2>&1); rc=$?
check "rename" test "$rc" = 0 -a -f "$flash/lib/renamed.txt" -a ! -e "$flash/lib/hello.txt"
helper "$port" write /lib/other.txt "$tmp/hello.txt" >/dev/null 2>&1
out=$(helper "$port" mv /lib/other.txt /lib/renamed.txt 2>&1); rc=$?
check "rename over an existing file replaces it" \
	test "$rc" = 0 -a ! -e "$flash/lib/other.txt" -a -n "$(cmp "$tmp/hello.txt" "$flash/lib/renamed.txt" && echo y)"
out=$(helper "$port" rm /lib/renamed.txt , rm /lib/renamed.txt 2>&1); rc=$?
check "remove; removing a missing file is not an error" \
	test "$rc" = 0 -a ! -e "$flash/lib/renamed.txt"

# Leftovers of an interrupted push: ".NAME.senko-tmp" in the same folder.
printf 'x' >"$tmp/x"
helper "$port" write /lib/.a.py.senko-tmp "$tmp/x" , write /lib/deep/.b.py.senko-tmp "$tmp/x" , \
	write /lib/keep.py "$tmp/x" , write /c.py.senko-tmp.not "$tmp/x" >/dev/null 2>&1
out=$(helper "$port" clean /lib 2>&1); rc=$?
check "clean_temps removes every *.senko-tmp below the folder" \
	test "$rc" = 0 -a -z "$(find "$flash/lib" -name '*.senko-tmp')"
check "clean_temps keeps other files" test -f "$flash/lib/keep.py" -a -f "$flash/c.py.senko-tmp.not"
check "clean_temps says how many it removed" expect_in "$out" "removed 2 temporary file(s)"

# Hostile names are data, never code.
evil="/x'); import os; os.remove('boot.py"
out=$(helper "$port" write "$evil" "$tmp/hello.txt" , stat "$evil" , hash "$evil" , ls / 2>&1); rc=$?
check "hostile name: written under exactly that name" \
	test "$rc" = 0 -a -f "$flash/x'); import os; os.remove('boot.py"
check "hostile name: boot.py untouched" test -f "$flash/boot.py"
check "hostile name: listed as it is" expect_in "$out" "f 6 $evil"
check "hostile name: hashed" expect_in "$out" "$(git hash-object "$tmp/hello.txt")"
for name in '/q"uote.py' '/back\slash.py' "/new
line.py" '/tab	and spaces .py' '/ünïcödé.py' '/$(touch pwned).py' "/a\\x00b.py"; do
	out=$(helper "$port" write "$name" "$tmp/hello.txt" , read "$name" , rm "$name" 2>&1); rc=$?
	check "name $(printf '%q' "$name"): write, read back, remove" \
		test "$rc" = 0 -a "$(printf '%s' "$out" | head -1)" = hello
done
check "no file named pwned anywhere" test ! -e "$flash/pwned" -a ! -e pwned
out=$(helper "$port" stat relative/path.py 2>&1)
check "relative board paths are refused" expect_in "$out" "errno=EINVAL"
out=$(helper quote "it's \"q\" \\ $(printf '\x01\n')end")
check "repl_quote escapes quotes, backslashes and control bytes" \
	test "$out" = "'it\\'s \"q\" \\\\ \\x01end'"
board_stop b

# A board without hashlib.sha1 hashes with SHA-256.
board_start nosha --no-sha1
helper "$tmp/nosha/port" write /r.bin "$tmp/random.bin" >/dev/null 2>&1
out=$(helper "$tmp/nosha/port" info , algo , hash /r.bin 2>&1)
check "no sha1: probe says so" expect_in "$out" "sha1=0"
check "no sha1: SHA-256 of the content, as sha256sum" \
	expect_in "$out" "sha256
$(sha256sum "$tmp/random.bin" | cut -d' ' -f1)"
check "no sha1: write_small verified with SHA-256" cmp -s "$tmp/random.bin" "$tmp/nosha/flash/r.bin"
board_stop nosha

# ESP8266: about 40 KB of heap; hashing must work in constant memory.
head -c 200000 /dev/urandom >"$tmp/big.bin"
mkdir -p "$tmp/small/flash"
cp "$tmp/big.bin" "$tmp/small/flash/big.bin"
board_start small --profile esp8266
out=$(helper "$tmp/small/port" info , hash /big.bin 2>&1); rc=$?
check "esp8266: probe fits its heap" expect_in "$out" "platform=esp8266"
check "esp8266: 4-byte unique id" grep -qE '^unique_id=[0-9a-f]{8}$' <<<"$out"
check "esp8266: hashes a 200 KB file in small buffers" \
	expect_in "$out" "$(git hash-object "$tmp/big.bin")"
board_stop small

tap_done
