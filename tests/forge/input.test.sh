#!/usr/bin/env bash
# Hostile or broken input from files: token files (white space, a NUL, a
# dangling symlink, a FIFO, world-readable: exit 78 from every command
# that needs the token), configuration files (a folder, /dev/zero, a NUL,
# control characters, size), repository files named like senko's own, and
# a files entry that matches nothing.
set -u
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/lib.sh"
senko=$root/$build/senko
senkod=$root/$build/senkod

make_repo
start_server srv --private acme/fw
R=/repos/acme/fw
c1=$(head_sha)

# conf_with_token FILE TOKENFILE: one source, one (absent) board.
conf_with_token() {
	write_conf "$1" "$tmp/s" 1 'working_dir = app'
	sed -i "s|^token_file =.*|token_file = $2|; s|^port = .*|port = $tmp/no-port|" "$1"
}
run() { out=$(timeout 20 "$@" 2>&1); rc=$?; }

# --- token files ---------------------------------------------------------
printf '\ts3cret  \n' >"$tmp/tok-ws"; chmod 600 "$tmp/tok-ws"
conf_with_token "$tmp/ws.conf" "$tmp/tok-ws"
TOKEN= poll "$tmp/ws.conf" -N
check "token file with white space around the token: it is used as the token" \
	grep -qx "poll app ok commit=$c1 files=3 changed=yes" <<<"$out"
check "token file with white space: the private repository was read with the token" \
	test "$(ctl GET /_control/log | grep -o '"auth":true' | wc -l)" -ge 2
clear_log

printf 's3c\0ret\n' >"$tmp/tok-nul"; chmod 600 "$tmp/tok-nul"
conf_with_token "$tmp/nul.conf" "$tmp/tok-nul"
run "$senko" -c "$tmp/nul.conf" check
check "token file with a NUL: senko check exits 78" test "$rc" = 78
check "token file with a NUL: says so" grep -q "token file '$tmp/tok-nul' has a NUL byte in its first line" <<<"$out"
check "token file with a NUL: nothing asked of the server" test -z "$(requests)"

printf 's3c ret\n' >"$tmp/tok-sp"; chmod 600 "$tmp/tok-sp"
conf_with_token "$tmp/sp.conf" "$tmp/tok-sp"
run "$senko" -c "$tmp/sp.conf" check
check "token with a space inside: exit 78, naming the file" \
	bash -c '[ "$1" = 78 ] && grep -q "the token has white space or a control character in it" <<<"$2"' _ "$rc" "$out"

run env SENKO_TOKEN="$(printf 's3cret\r\nX-Injected: 1')" "$senko" -c "$tmp/ws.conf" check
check "SENKO_TOKEN with a line break in it: exit 78, nothing sent" \
	bash -c '[ "$1" = 78 ] && grep -q "SENKO_TOKEN: the token has white space or a control character" <<<"$2" && [ -z "$3" ]' \
	_ "$rc" "$out" "$(requests)"
printf '\n\n' >"$tmp/tok-empty"; chmod 600 "$tmp/tok-empty"
conf_with_token "$tmp/em.conf" "$tmp/tok-empty"
run "$senko" -c "$tmp/em.conf" check
check "an empty token file: exit 78, saying so" \
	bash -c '[ "$1" = 78 ] && grep -q "token file .* is empty: write the token on its first line" <<<"$2"' _ "$rc" "$out"

ln -s "$tmp/nowhere" "$tmp/tok-dangling"
conf_with_token "$tmp/dl.conf" "$tmp/tok-dangling"
run "$senko" -c "$tmp/dl.conf" check
check "token file a dangling symlink: exit 78" test "$rc" = 78
check "token file a dangling symlink: says so" grep -q "token file '$tmp/tok-dangling' is a symbolic link to nothing usable" <<<"$out"

mkfifo "$tmp/tok-fifo"
conf_with_token "$tmp/ff.conf" "$tmp/tok-fifo"
run "$senko" -c "$tmp/ff.conf" check
check "token file a FIFO: exit 78 at once (no hang)" test "$rc" = 78
check "token file a FIFO: says so" grep -q "token file '$tmp/tok-fifo' is a FIFO, not a regular file" <<<"$out"

printf 's3cret\n' >"$tmp/tok-world"; chmod 644 "$tmp/tok-world"
conf_with_token "$tmp/wr.conf" "$tmp/tok-world"
run "$senko" -c "$tmp/wr.conf" check
check "world-readable token file: senko check exits 78" test "$rc" = 78
check "world-readable token file: says how to fix it" grep -q "readable by every user; run: chmod 600" <<<"$out"
run "$senko" -c "$tmp/wr.conf" sync
check "world-readable token file: senko sync exits 78" test "$rc" = 78
run "$senkod" -c "$tmp/wr.conf" --once --foreground
check "world-readable token file: senkod exits 78" test "$rc" = 78
check "world-readable token file: nothing asked of the server" test -z "$(requests)"

# --- configuration files ---------------------------------------------------
run "$senko" -c "$tmp" config check
check "-c a folder: exit 78" test "$rc" = 78
check "-c a folder: says it is a folder, not 'configuration OK'" \
	bash -c 'grep -q "configuration .* is a folder, not a regular file" <<<"$1" && ! grep -q "configuration OK" <<<"$1"' _ "$out"
run "$senko" -c /dev/zero config check
check "-c /dev/zero: exit 78 at once (no hang)" test "$rc" = 78
check "-c /dev/zero: says it is a device" grep -q "'/dev/zero' is a device, not a regular file" <<<"$out"
# The line reader reads 199 bytes at a time: a NUL hid the rest of this
# long comment line from its length check, and "prune = yes" after it
# became a key of its own.
{
	printf '[senkod]\nstate_dir = %s\n[source app]\nuser = a\nrepo = b\n[device d]\nport = /dev/ttyUSB9\nsource = app\n' "$tmp/s"
	printf 'reset = none # \0'; printf 'x%.0s' $(seq 183); printf 'prune = yes\n'
} >"$tmp/nul-conf"
run "$senko" -c "$tmp/nul-conf" config check
check "a NUL byte in the configuration: exit 78, naming the line" \
	bash -c '[ "$1" = 78 ] && grep -q "nul-conf:9: a NUL byte" <<<"$2"' _ "$rc" "$out"
check "a NUL byte: prune was not turned on" bash -c '! grep -q "prune *= yes" <<<"$1"' _ "$out"
printf '[senkod]\nstate_dir = %s\nbad\033]0;owned\007key = 1\n' "$tmp/s" >"$tmp/ctl-conf"
run "$senko" -c "$tmp/ctl-conf" config check
check "control characters in a key: exit 78" test "$rc" = 78
check "control characters in a key: echoed escaped" grep -qF 'bad\x1b]0;owned\x07key: unknown key' <<<"$out"
check "control characters in a key: no raw escape byte in the output" \
	bash -c '! grep -q "$(printf "\033")" <<<"$1"' _ "$out"
{ printf '[senkod]\nstate_dir = %s\n' "$tmp/s"; for i in $(seq 20000); do printf '# %070d\n' "$i"; done; } >"$tmp/big-conf"
run "$senko" -c "$tmp/big-conf" config check
check "a configuration over 1 MiB: exit 78, saying so" \
	bash -c '[ "$1" = 78 ] && grep -q "is larger than 1048576 bytes; refused" <<<"$2"' _ "$rc" "$out"

# --- repository files named like senko's own --------------------------------
commit_files "collide" app/.senko.json='{}' app/.senko-3.json='{}' app/lib/.util.py.senko-tmp=x app/sub/.senko.json=ok
c2=$(head_sha)
write_conf "$tmp/col.conf" "$tmp/scol" 1 'working_dir = app'
poll "$tmp/col.conf" -N -j
check "a repository file named .senko.json at dest's root: refused, saying why" \
	grep -q "refusing entry 'app/.senko.json': the name of one of senko's own record files at the board's dest folder" <<<"$poll_err"
check "a repository file named like a page of the record (.senko-3.json): refused" \
	grep -q "refusing entry 'app/.senko-3.json': the name of one of senko's own record files" <<<"$poll_err"
check "a repository file named *.senko-tmp: refused, saying why" \
	grep -q "refusing entry 'app/lib/.util.py.senko-tmp': ends in '.senko-tmp'" <<<"$poll_err"
check "neither is in the manifest; .senko.json in a subfolder is" \
	test "$(paths_of "$out")" = "boot.py lib/util.py main.py sub/.senko.json "

# --- a files entry that matches nothing -----------------------------------
write_conf "$tmp/fm.conf" "$tmp/sfm" 1 'working_dir = app' 'files = main.py mian.py lib/nothing'
poll "$tmp/fm.conf" -N
check "a files entry matching nothing: a warning names it" \
	grep -q "files entry 'mian.py' matches nothing in acme/fw (under working_dir 'app'); check files in \[source app\]" <<<"$poll_err"
check "a files entry matching nothing: each one is named" grep -q "files entry 'lib/nothing' matches nothing" <<<"$poll_err"
check "a files entry that matches: no warning for it" bash -c '! grep -q "entry .main.py. matches nothing" <<<"$1"' _ "$poll_err"
check "a files entry matching nothing: the poll still succeeds" test "$poll_rc" = 0
tap_done
