#!/usr/bin/env bash
# The man pages render without a warning, and they document what the code
# has: every key of config.c's keyword tables in its section of
# senko.conf(5), every command of cli.c's table, every option of senko.c
# (and senkod.c) and every exit status of cli.h.  A key, command or
# option added without its documentation fails here.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
pages="man/senko.1 man/senko.conf.5 man/senkod.8"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1 # SKIP $2"; }

# section PAGE TITLE: the roff source of one .SH section.
section() {
	awk -v t="$2" '/^\.SH / { s = $0; sub(/^\.SH "?/, "", s);
		sub(/"$/, "", s); on = (s == t); next } on' "$1"
}
# tags PAGE TITLE: the first word of every .TP tag in one section.
tags() {
	section "$1" "$2" | awk 'p { sub(/^\.[A-Z]+ /, ""); gsub(/\\%/, "");
		gsub(/"/, ""); print $1 } { p = ($0 == ".TP") }'
}

for page in $pages; do
	if ! command -v groff >/dev/null; then
		not_ok "$page renders (groff missing: Debian package groff-base)"
		continue
	fi
	out=$(groff -man -Tutf8 -ww -z "$page" 2>&1); rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ]; then
		ok "$page: groff -man -ww renders it without a warning"
	else
		not_ok "$page: groff -man -ww renders it without a warning"
		diag "exit $rc: $out"
	fi
	if command -v man >/dev/null; then
		# The width a reader's terminal has, and a narrow one.
		out=$( (MANWIDTH=80 man --warnings -E UTF-8 -l "$page" &&
			MANWIDTH=64 man --warnings -E UTF-8 -l "$page") 2>&1 \
			>/dev/null); rc=$?
		if [ "$rc" = 0 ] && [ -z "$out" ]; then
			ok "$page: man --warnings at 80 and 64 columns is silent"
		else
			not_ok "$page: man --warnings at 80 and 64 columns is silent"
			diag "exit $rc: $out"
		fi
		check "$page: its NAME line is what whatis(1) indexes" \
			bash -c 'lexgrog "$1" | grep -q " - "' _ "$page"
	else
		skip "$page: man --warnings" "man is not installed (man-db)"
	fi
done

# keys TABLE: the key names in one of config.c's keyword tables.
keys() {
	sed -n "/^static const struct keyword $1\[\] = {/,/^};/p" src/config.c |
		sed -nE 's/^[[:space:]]*(GLOBAL|SOURCE|DEVICE|MQTT)\(([a-z_]+),.*/\2/p;
			s/^[[:space:]]*\{ "([a-z_]+)",.*/\1/p'
}
for pair in 'senkod_keywords:THE [senkod] SECTION' \
	'source_keywords:THE [source NAME] SECTION' \
	'device_keywords:THE [device NAME] SECTION' \
	'mqtt_keywords:THE [mqtt] SECTION'; do
	table=${pair%%:*} title=${pair#*:}
	want=$(keys "$table" | sort)
	have=$(tags man/senko.conf.5 "$title" | sort)
	if [ -z "$want" ]; then
		not_ok "config.c's $table table could be read"
		continue
	fi
	missing=$(comm -23 <(echo "$want") <(echo "$have"))
	extra=$(comm -13 <(echo "$want") <(echo "$have"))
	check "senko.conf.5 documents every key of $table under $title" \
		test -z "$missing"
	[ -n "$missing" ] && diag "undocumented: $missing"
	check "senko.conf.5 documents no key $table lacks" test -z "$extra"
	[ -n "$extra" ] && diag "not in config.c: $extra"
done

cmds=$(sed -n '/^const struct cli_command cli_commands\[\] = {/,/^};/p' \
	src/cli.c | sed -nE 's/^[[:space:]]*\{ "([a-z-]+)",.*/\1/p')
documented=$(tags man/senko.1 COMMANDS)
if [ -z "$cmds" ]; then
	not_ok "cli.c's command table could be read"
else
	for cmd in $cmds; do
		check "senko.1 documents the command '$cmd'" \
			grep -qxF "$cmd" <<<"$documented"
	done
fi
# Each --option in a command's usage string is in its tag line.
sed -nE 's/^[[:space:]]*\{ "([a-z-]+)", cmd_[a-z_]+, [A-Z_0-9|]+, "([^"]*)".*/\1 \2/p' \
	src/cli.c | while read -r cmd usage; do
	for opt in $(grep -oE -- '--[a-z-]+' <<<"$usage"); do
		echo "$cmd $opt"
	done
done >"$tmp/cmdopts"
section man/senko.1 COMMANDS | awk 'p { print } { p = ($0 == ".TP") }' |
	sed 's/\\-/-/g; s/\\%//g; s/"//g' >"$tmp/cmdtags"
while read -r cmd opt; do
	check "senko.1 documents '$cmd $opt'" \
		grep -qE -- "^\.[A-Z]+ $cmd .*$opt( |\]|$)" "$tmp/cmdtags"
done <"$tmp/cmdopts"

# longopts FILE: the long options of a getopt_long table.
longopts() {
	sed -n '/struct option longopts\[\] = {/,/};/p' "$1" |
		sed -nE 's/^[[:space:]]*\{ "([a-z-]+)",.*/\1/p'
}
for pair in src/senko.c:man/senko.1 src/senkod.c:man/senkod.8; do
	src=${pair%%:*} page=${pair#*:}
	if [ ! -f "$src" ]; then
		skip "$page documents the options of $src" "no $src yet"
		continue
	fi
	opts=$(longopts "$src")
	if [ -z "$opts" ]; then
		not_ok "the options of $src could be read"
		continue
	fi
	section "$page" OPTIONS | sed 's/\\-/-/g; s/\\%//g' >"$tmp/opts"
	for opt in $opts; do
		check "$page documents --$opt" grep -qE -- "--$opt( |\"|$)" \
			"$tmp/opts"
	done
done

codes=$(sed -nE 's/^#define (CLI_EXIT_[A-Z]+|CONFIG_EXIT_ERROR)[[:space:]]+([0-9]+).*/\2/p' \
	include/cli.h include/config.h | sort -un)
exits=$(tags man/senko.1 "EXIT STATUS")
for code in $codes; do
	check "senko.1 explains exit status $code" grep -qxF "$code" <<<"$exits"
done
check "senkod.8 explains exit status 78" grep -qxF 78 \
	<<<"$(tags man/senkod.8 "EXIT STATUS")"
check "senko.1 documents SENKO_TOKEN" grep -qxF SENKO_TOKEN \
	<<<"$(tags man/senko.1 ENVIRONMENT)"
for sig in SIGHUP SIGUSR1 SIGTERM; do
	check "senkod.8 documents $sig" grep -qxF "$sig" \
		<<<"$(tags man/senkod.8 SIGNALS)"
done
tap_done
