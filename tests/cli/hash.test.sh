#!/usr/bin/env bash
# senko hash must print exactly what git hash-object prints.
set -u
. "$(dirname "$0")/../lib/tap.sh"
senko=${SENKO_BIN:-build/senko}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

same_as_git() {
	local want got
	want=$(git hash-object "$@") || return 1
	got=$("$senko" hash "$@") || return 1
	[ "$want" = "$got" ] || { diag "git: $want"; diag "senko: $got"; return 1; }
}

: >"$tmp/empty"
check "empty file" same_as_git "$tmp/empty"
printf 'hello\n' >"$tmp/hello"
check "text file" same_as_git "$tmp/hello"
head -c 70000 /dev/urandom >"$tmp/random.bin"
check "binary file with every byte value" same_as_git "$tmp/random.bin"
printf 'a\r\nb\r\n' >"$tmp/crlf.py"
check "CRLF bytes hashed as they are" same_as_git "$tmp/crlf.py"
printf 'x' >"$tmp/name with spaces.py"
check "name with spaces" same_as_git "$tmp/name with spaces.py"
check "several files, one line each, in order" \
	same_as_git "$tmp/hello" "$tmp/empty" "$tmp/name with spaces.py"
truncate -s 105M "$tmp/sparse.bin"
printf 'end' >>"$tmp/sparse.bin"
check "sparse file over 100 MB" same_as_git "$tmp/sparse.bin"

out=$("$senko" hash "$tmp/missing" 2>&1); rc=$?
check "missing file: exit 1 and the name in the error" \
	test "$rc" = 1 -a -n "$(echo "$out" | grep -F "$tmp/missing")"
"$senko" hash >/dev/null 2>&1; rc=$?
check "no file: usage error, exit 2" test "$rc" = 2
tap_done
