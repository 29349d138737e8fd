#!/usr/bin/env bash
# make install DESTDIR=... installs exactly the files a package would hold,
# with the right modes, and points the systemd unit at the senkod it
# installed, for the default PREFIX and for PREFIX=/usr.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build=${SENKO_BUILD:-build}
san=
[ "$build" = build/sanitize ] && san=SANITIZE=1

# install_into DIR [VAR=VALUE...]: make install into DIR; 0 when it worked.
install_into() {
	local dest=$1
	shift
	# Not the parent make's jobserver or flags: this is its own make.
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory \
		install DESTDIR="$dest" $san "$@" >"$tmp/make.log" 2>&1
}

# expected PREFIX: the files (mode path) make install should leave there.
expected() {
	local p=${1#/}
	echo "755 $p/bin/senko"
	[ -f src/senkod.c ] && echo "755 $p/sbin/senkod"
	echo "644 $p/share/man/man1/senko.1"
	echo "644 $p/share/man/man5/senko.conf.5"
	echo "644 $p/share/man/man8/senkod.8"
	echo "644 $p/share/doc/senko/README.md"
	echo "644 $p/share/doc/senko/senko.conf.example"
	echo "644 $p/lib/systemd/system/senkod.service"
	echo "644 $p/lib/sysusers.d/senko.conf"
	echo "644 $p/lib/tmpfiles.d/senko.conf"
	echo "644 $p/share/doc/senko/LICENSE"
	echo "644 $p/share/bash-completion/completions/senko"
	echo "644 $p/share/bash-completion/completions/senkod"
}

for prefix in /usr/local /usr; do
	dest=$tmp/dest${prefix//\//_}
	if [ "$prefix" = /usr/local ]; then
		install_into "$dest"; rc=$?
	else
		install_into "$dest" PREFIX="$prefix"; rc=$?
	fi
	if [ "$rc" != 0 ]; then
		not_ok "make install DESTDIR=... (PREFIX=$prefix) works"
		diag "$(tail -20 "$tmp/make.log")"
		continue
	fi
	ok "make install DESTDIR=... (PREFIX=$prefix) works"
	got=$(cd "$dest" && find . -type f -printf '%m %P\n' | sort -k2)
	want=$(expected "$prefix" | sort -k2)
	if [ "$got" = "$want" ]; then
		ok "PREFIX=$prefix: exactly the expected files, with their modes"
	else
		not_ok "PREFIX=$prefix: exactly the expected files, with their modes"
		diag "$(diff <(echo "$want") <(echo "$got"))"
	fi
	unit=$dest$prefix/lib/systemd/system/senkod.service
	check "PREFIX=$prefix: the unit starts $prefix/sbin/senkod" \
		grep -qxF "ExecStart=$prefix/sbin/senkod --foreground" "$unit"
	check "PREFIX=$prefix: the unit is otherwise the one in systemd/" \
		bash -c 'diff <(grep -v ^ExecStart= "$1") \
			<(grep -v ^ExecStart= systemd/senkod.service)' _ "$unit"
	check "PREFIX=$prefix: man pages installed as written" \
		cmp -s man/senkod.8 "$dest$prefix/share/man/man8/senkod.8"
	check "PREFIX=$prefix: the senko installed is the one built" \
		cmp -s "$build/senko" "$dest$prefix/bin/senko"
	if [ -f src/senkod.c ]; then
		check "PREFIX=$prefix: the senkod installed is the one built" \
			cmp -s "$build/senkod" "$dest$prefix/sbin/senkod"
	fi
done
tap_done
