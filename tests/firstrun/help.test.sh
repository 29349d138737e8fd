#!/usr/bin/env bash
# --version on both programs; `senko help [COMMAND]`, `senko COMMAND
# --help` and `senkod --help` work without a configuration and list every
# long option the programs accept (issue 15).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
senko=${SENKO_BIN:-build/senko}
senkod=${SENKOD_BIN:-build/senkod}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset SENKO_TOKEN
missing=$tmp/no-such.conf

# The version as the source tree states it (what the Makefile bakes in).
version=$(git describe --tags --dirty 2>/dev/null || cat VERSION)
for pair in "senko:$senko" "senkod:$senkod"; do
	name=${pair%%:*} prog=${pair#*:}
	for opt in --version -V; do
		out=$("$prog" $opt 2>&1); rc=$?
		check "$name $opt prints '$name $version' and exits 0" \
			test "$rc:$out" = "0:$name $version"
	done
done

# longopts FILE: the long options of the getopt_long table in FILE.
longopts() {
	sed -n '/struct option longopts\[\] = {/,/};/p' "$1" |
		sed -nE 's/^[[:space:]]*\{ "([a-z-]+)",.*/\1/p'
}
out=$("$senko" -c "$missing" --help 2>&1); rc=$?
check "senko --help exits 0 without a configuration" test "$rc" = 0
for opt in $(longopts src/senko.c); do
	check "senko --help lists --$opt" grep -qE -- "^  -[a-zA-Z], --$opt( |$)" <<<"$out"
done
out=$("$senkod" -c "$missing" --help 2>&1); rc=$?
check "senkod --help exits 0 without a configuration" test "$rc" = 0
for opt in $(longopts src/senkod.c); do
	check "senkod --help lists --$opt" grep -qE -- "^  -[a-zA-Z0-9], --$opt( |$)" <<<"$out"
done

out=$("$senko" -c "$missing" help 2>&1); rc=$?
check "senko help exits 0 without a configuration" test "$rc" = 0
check "senko help is senko --help" test "$out" = "$("$senko" --help)"
# Every command of cli.c's table, read from the source, not from the help.
cmds=$(sed -n '/^const struct cli_command cli_commands\[\] = {/,/^};/p' \
	src/cli.c | sed -nE 's/^[[:space:]]*\{ "([a-z-]+)",.*/\1/p')
check "cli.c's command table could be read" test -n "$cmds"
for cmd in $cmds; do
	usage=$(sed -nE "s/^[[:space:]]*\\{ \"$cmd\", cmd_[a-z_]+, [^\"]*\"([^\"]*)\".*/\\1/p" src/cli.c)
	check "senko help lists '$cmd'" grep -qE "^  $cmd " <<<"$out"
	help=$("$senko" -c "$missing" help "$cmd" 2>&1); rc=$?
	if [ "$rc" = 0 ] && grep -qxF "usage: senko [-c FILE] $cmd $usage" <<<"$help"; then
		ok "senko help $cmd: its usage line, exit 0, no configuration read"
	else
		not_ok "senko help $cmd: its usage line, exit 0, no configuration read"
		diag "exit $rc: $help"
	fi
	for opt in $(grep -oE -- '--[a-z-]+' <<<"$usage"); do
		check "senko help $cmd explains $opt" grep -qE -- "^  (-[a-z], )?$opt " <<<"$help"
	done
	for form in "--help" "-h"; do
		got=$("$senko" -c "$missing" "$cmd" $form 2>&1); rc=$?
		check "senko $cmd $form is senko help $cmd" test "$rc:$got" = "0:$help"
	done
done
got=$("$senko" -c "$missing" sync kitchen --help 2>&1); rc=$?
check "--help after a command's arguments still asks for help" \
	test "$rc:$got" = "0:$("$senko" help sync)"

out=$("$senko" help no-such-command 2>&1); rc=$?
check "senko help of an unknown command exits 2" test "$rc" = 2
check "... and says so" grep -q "no command 'no-such-command'" <<<"$out"
"$senko" help sync status >/dev/null 2>&1
check "senko help with two commands is a usage error (2)" test "$?" = 2
"$senko" --no-such-option >/dev/null 2>&1
check "an unknown global option is a usage error (2)" test "$?" = 2
"$senkod" --no-such-option >/dev/null 2>&1
check "an unknown senkod option is a usage error (2)" test "$?" = 2
tap_done
