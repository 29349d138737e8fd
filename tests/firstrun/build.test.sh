#!/usr/bin/env bash
# Build flags and uninstall (issue 15): CPPFLAGS, CFLAGS and LDFLAGS reach
# every compile and link (dpkg-buildflags' hardening depends on it);
# -Werror only with WERROR=1; `make uninstall` removes exactly what
# `make install` put there and leaves the administrator's files.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build=${SENKO_BUILD:-build}
san=
[ "$build" = build/sanitize ] && san=SANITIZE=1

# mk ARGS...: our own make (not the parent's jobserver or flags: make
# exports a command-line WERROR=1, as CI gives, to the environment).
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u WERROR make --no-print-directory $san "$@"
}
# commands ARGS...: what make would run to rebuild senko and senkod from
# scratch, one command a line (a dry run: nothing is built).
commands() {
	mk -n -B "$build/senko" "$build/senkod" "$@" 2>&1
}

compiles=$(commands | grep -E '^(cc|gcc|clang|\$\(CC\)|[^ ]*-?g?cc) .* -c ')
check "a dry run shows the compile commands" test -n "$compiles"
check "no -Werror by default" bash -c '! grep -q -- -Werror <<<"$1"' _ "$compiles"
out=$(commands WERROR=1 | grep -E ' -c ')
check "WERROR=1: every compile has -Werror" bash -c \
	'! grep -v -- " -Werror " <<<"$1" | grep -q .' _ "$out"
out=$(commands CPPFLAGS='-DSENKO_PROBE_CPP=1 -D_FORTIFY_SOURCE=2' | grep -E ' -c ')
check "CPPFLAGS: every compile has them" bash -c \
	'! grep -v -- "-DSENKO_PROBE_CPP=1 -D_FORTIFY_SOURCE=2" <<<"$1" | grep -q .' _ "$out"
out=$(commands CFLAGS='-O1 -fstack-protector-strong' | grep -E ' -c ')
check "CFLAGS: every compile has them" bash -c \
	'! grep -v -- "-O1 -fstack-protector-strong" <<<"$1" | grep -q .' _ "$out"
out=$(commands LDFLAGS='-Wl,-z,now' | grep -E ' -o [^ ]*/senkod? ')
check "LDFLAGS: both links have them" test "$(grep -c -- '-Wl,-z,now' <<<"$out")" = 2
# install then uninstall, for the default PREFIX and for /usr.
for prefix in /usr/local /usr; do
	dest=$tmp/dest${prefix//\//_}
	mkdir -p "$dest/etc/senko" "$dest/var/lib/senko"
	echo "[senkod]" >"$dest/etc/senko/senko.conf"
	echo blob >"$dest/var/lib/senko/keep"
	if ! mk install DESTDIR="$dest" PREFIX="$prefix" >"$tmp/log" 2>&1; then
		not_ok "PREFIX=$prefix: make install works"
		diag "$(tail -20 "$tmp/log")"
		continue
	fi
	installed=$(cd "$dest" && find . -type f | wc -l)
	check "PREFIX=$prefix: make install installed files" test "$installed" -gt 5
	if mk uninstall DESTDIR="$dest" PREFIX="$prefix" >"$tmp/log" 2>&1; then
		ok "PREFIX=$prefix: make uninstall works"
	else
		not_ok "PREFIX=$prefix: make uninstall works"
		diag "$(tail -20 "$tmp/log")"
	fi
	left=$(cd "$dest" && find . \( -type f -o -type l \) -printf '%P\n' | sort)
	check "PREFIX=$prefix: only the configuration and the state are left" \
		test "$left" = "$(printf '%s\n' etc/senko/senko.conf var/lib/senko/keep)"
	[ "$left" = "$(printf '%s\n' etc/senko/senko.conf var/lib/senko/keep)" ] ||
		diag "left: $left"
	mk uninstall DESTDIR="$dest" PREFIX="$prefix" >"$tmp/log" 2>&1
	check "PREFIX=$prefix: make uninstall twice is harmless" test "$?" = 0
done
tap_done
