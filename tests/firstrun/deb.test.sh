#!/usr/bin/env bash
# `make deb` (issue 15): dpkg-buildpackage builds a package whose files,
# conffiles and maintainer scripts are what an administrator expects, with
# dpkg-buildflags' hardening in the binaries, a unit systemd accepts, and
# nothing lintian objects to (beyond the overrides written down in
# debian/senko.lintian-overrides).  Skipped where debhelper is missing
# (make deps installs it).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

skip_all() { echo "1..0 # SKIP $*"; exit 0; }
for tool in dpkg-buildpackage dh dpkg-deb; do
	command -v $tool >/dev/null || skip_all "$tool is not installed (make deps)"
done
# The package and the programs in it take the VERSION file (no .git in
# the copy dpkg-buildpackage builds).
version=$(cat VERSION)
arch=$(dpkg --print-architecture)
deb=build/deb/senko_${version}_${arch}.deb

if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory deb \
	>"$tmp/build.log" 2>&1; then
	ok "make deb builds the package"
else
	not_ok "make deb builds the package"
	diag "$(tail -20 "$tmp/build.log")"
fi
if [ ! -f "$deb" ]; then
	not_ok "$deb exists"
	tap_done
	exit 1
fi
check "the package's version is the tree's ($version)" \
	test "$(dpkg-deb -f "$deb" Version)" = "$version"

want="/etc/cron.d/senko
/etc/senko/senko.conf
/lib/systemd/system/senkod.service
/usr/bin/senko
/usr/lib/sysusers.d/senko.conf
/usr/lib/tmpfiles.d/senko.conf
/usr/sbin/senkod
/usr/share/bash-completion/completions/senko
/usr/share/bash-completion/completions/senkod
/usr/share/doc/senko/README.md.gz
/usr/share/doc/senko/changelog.gz
/usr/share/doc/senko/copyright
/usr/share/doc/senko/senko.conf.example
/usr/share/lintian/overrides/senko
/usr/share/man/man1/senko.1.gz
/usr/share/man/man5/senko.conf.5.gz
/usr/share/man/man8/senkod.8.gz"
got=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort)
if [ "$got" = "$want" ]; then
	ok "the package holds exactly the expected files"
else
	not_ok "the package holds exactly the expected files"
	diag "$(diff <(echo "$want") <(echo "$got"))"
fi

dpkg-deb -e "$deb" "$tmp/control"
dpkg-deb -x "$deb" "$tmp/root"
check "conffiles: the configuration and the cron file" test \
	"$(sort "$tmp/control/conffiles")" = "$(printf '/etc/cron.d/senko\n/etc/senko/senko.conf')"
post=$tmp/control/postinst
line_of() { grep -n -m1 -- "$1" "$post" | cut -d: -f1; }
check "postinst creates the user (systemd-sysusers)" grep -q "systemd-sysusers.*senko.conf" "$post"
check "postinst creates the state folder (systemd-tmpfiles)" \
	grep -q "systemd-tmpfiles.*--create senko.conf" "$post"
check "... after the user exists" test "$(line_of systemd-sysusers)" -lt "$(line_of systemd-tmpfiles)"
check "postinst enables senkod.service" grep -q "deb-systemd-helper enable 'senkod.service'" "$post"
check "the cron file is disabled: no line that is not a comment" \
	test -z "$(grep -v '^[[:space:]]*\(#\|$\)' "$tmp/root/etc/cron.d/senko")"
check "... and names the installed senkod" grep -q "/usr/sbin/senkod --once" "$tmp/root/etc/cron.d/senko"

# The shipped configuration: valid, and names no repository or board, so
# the service the package starts stays idle until it is edited.
senko=$tmp/root/usr/bin/senko
out=$("$senko" -c "$tmp/root/etc/senko/senko.conf" config check 2>&1); rc=$?
check "the shipped senko.conf passes senko config check" test "$rc" = 0
[ "$rc" = 0 ] || diag "$out"
check "... and names no source and no device" \
	test -z "$(grep -E '^\[(source|device) ' <<<"$out")"
check "... state_dir is /var/lib/senko, the tmpfiles entry's folder" \
	grep -q '^d /var/lib/senko ' "$tmp/root/usr/lib/tmpfiles.d/senko.conf"
check "senko --version in the package is $version" \
	test "$("$senko" --version)" = "senko $version"

# Hardening from dpkg-buildflags: fortified calls and immediate binding.
for prog in usr/bin/senko usr/sbin/senkod; do
	check "$prog: fortified (_chk symbols)" bash -c \
		'nm -D "$1" | grep -q "_chk@"' _ "$tmp/root/$prog"
	check "$prog: BIND_NOW" bash -c \
		'readelf -d "$1" | grep -q "BIND_NOW"' _ "$tmp/root/$prog"
done

unit=$tmp/root/lib/systemd/system/senkod.service
check "the unit starts /usr/sbin/senkod" grep -qxF "ExecStart=/usr/sbin/senkod --foreground" "$unit"
if command -v systemd-analyze >/dev/null; then
	# verify wants ExecStart's program and Documentation='s pages to
	# exist: point them at the package's own.
	sed "s|^ExecStart=/usr/sbin/senkod|ExecStart=$tmp/root/usr/sbin/senkod|" \
		"$unit" >"$tmp/senkod.service"
	out=$(MANPATH=$tmp/root/usr/share/man systemd-analyze verify \
		--man="$(command -v man >/dev/null && echo yes || echo no)" \
		"$tmp/senkod.service" 2>&1); rc=$?
	check "systemd-analyze verify accepts the installed unit" test "$rc:$out" = "0:"
	[ "$rc:$out" = "0:" ] || diag "exit $rc: $out"
else
	ok "systemd-analyze verify # SKIP systemd-analyze is not installed"
fi

if command -v lintian >/dev/null; then
	out=$(lintian --fail-on error,warning "build/deb/senko_${version}_${arch}.changes" 2>&1); rc=$?
	out=$(grep -v 'running with root privileges' <<<"$out")
	check "lintian: no error or warning" test "$rc:$out" = "0:"
	[ "$rc:$out" = "0:" ] || diag "exit $rc: $out"
else
	ok "lintian # SKIP lintian is not installed"
fi
tap_done
