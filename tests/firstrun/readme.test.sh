#!/usr/bin/env bash
# The README's "Set-up" and "Quick start" commands, run in the order the
# README gives them (issue 15), and its cron line: in a scratch root
# (make install DESTDIR=, systemd-sysusers --root=, systemd-tmpfiles
# --root=), with `sudo -u senko` played by the user systemd-sysusers made
# there, against the fake GitHub.  Needs root (to become that user).
#
# What the README's commands become here:
#   make deps                 skipped (apt-get; CI's own first step)
#   sudo -u senko CMD         setpriv --reuid=UID --regid=GID CMD
#   sudo CMD                  CMD (the test runs as root)
#   -o senko -g senko         -o UID -g GID
#   systemd-sysusers, systemd-tmpfiles, make install: into the scratch root
#   /etc/senko, /usr/local    the same paths below the scratch root
#   senko CMD                 the installed senko with -c the scratch config
#   sudoedit FILE             the test writes FILE in place
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tmp=$(mktemp -d)
gh_pid=
trap '[ -n "$gh_pid" ] && kill "$gh_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
unset SENKO_TOKEN
for k in $(env | sed -n 's/^\(GIT_[A-Z_]*\)=.*/\1/p'); do unset "$k"; done
build=${SENKO_BUILD:-build}
san=
[ "$build" = build/sanitize ] && san=SANITIZE=1

skip_all() { echo "1..0 # SKIP $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "needs root to act as the service user"
for tool in systemd-sysusers systemd-tmpfiles setpriv; do
	command -v $tool >/dev/null || skip_all "$tool is not installed"
done

# blocks TITLE: the lines of the ```sh blocks of one README section.
blocks() {
	awk -v t="## $1" '/^## / { on = ($0 == t); next }
		on && /^```sh$/ { code = 1; next } code && /^```$/ { code = 0 }
		on && code' README.md
}
setup=$(blocks "Set-up")
quick=$(blocks "Quick start")
check "the README has set-up commands" test -n "$setup"
check "the README has quick-start commands" test -n "$quick"
check "the service user is created before senko first runs" bash -c '
	[ "$(grep -n "systemd-sysusers" <<<"$1" | head -1 | cut -d: -f1)" -lt \
	  "$(grep -n "senko senko" <<<"$1$2" | head -1 | cut -d: -f1)" ]' _ "$setup" "$quick"

# The repository the configuration will name, on the fake GitHub.
repo=$tmp/repos/acme/fw
git init -q -b main "$repo"
echo 'print("hi")' >"$repo/main.py"
git -C "$repo" add -A
git -C "$repo" -c user.name=T -c user.email=t@example.invalid \
	-c commit.gpgsign=false commit -q -m first
node tests/fakegh/server.js --repos "$tmp/repos" --token s3cret \
	>"$tmp/gh.out" 2>"$tmp/gh.err" &
gh_pid=$!
for _ in $(seq 150); do
	grep -q '^LISTENING ' "$tmp/gh.out" 2>/dev/null && break
	kill -0 "$gh_pid" 2>/dev/null || break
	sleep 0.1
done
api=$(sed -n 's/^LISTENING //p' "$tmp/gh.out")
[ -n "$api" ] || { not_ok "the fake GitHub starts"; diag "$(cat "$tmp/gh.err")"; tap_done; exit 1; }

root=$tmp/root
mkdir -p "$root/etc"
conf=$root/etc/senko/senko.conf
export root conf api san

# What the administrator types into the files sudoedit opens.  The
# device's files key selects nothing, so sync needs no board.
edit() {
	case $1 in
	*/senko.conf)
		cat >"$1" <<CONF
[senkod]
interval   = 5m
state_dir  = /var/lib/senko
api_url    = $api
token_file = /etc/senko/token

[source app]
user  = acme
repo  = fw
files = nothing.py

[device kitchen]
port   = /dev/serial/by-id/usb-none
source = app
CONF
		# The scratch root's folders stand for the real ones.
		sed -i "s|= /var/lib/senko|= $root/var/lib/senko|; s|= /etc/senko|= $root/etc/senko|" "$1"
		;;
	*/token) echo s3cret >"$1" ;;
	*) return 1 ;;
	esac
}
# The scratch root's senko user (made by the README's systemd-sysusers).
as_senko() {
	local uid gid
	uid=$(awk -F: '$1 == "senko" { print $3 }' "$root/etc/passwd")
	gid=$(awk -F: '$1 == "senko" { print $4 }' "$root/etc/passwd")
	[ -n "$uid" ] || { echo "no user senko in $root/etc/passwd" >&2; return 1; }
	setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
}
senko_uid() { awk -F: '$1 == "senko" { print $3 }' "$root/etc/passwd"; }
export -f edit as_senko senko_uid

# translate LINE: the README line as this test runs it.
translate() {
	local l=$1
	l=${l//make deps && /}
	l=${l//sudo make install/env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make install DESTDIR=\$root \$san}
	[[ $l == make* ]] && l="env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${l/make/make \$san}"
	l=${l//sudo systemd-sysusers/systemd-sysusers --root=\$root}
	l=${l//sudo systemd-tmpfiles --create/systemd-tmpfiles --root=\$root --create}
	l=${l//sudoedit /edit }
	l=${l//sudo -u senko /as_senko }
	l=${l//-o senko -g senko/-o \$(senko_uid) -g \$(senko_uid)}
	l=${l//sudo /}
	l=${l//\/usr\/local/\$root\/usr\/local}
	l=${l//\/etc\/senko/\$root\/etc\/senko}
	l=$(sed -E 's#(as_senko) senko #\1 $root/usr/local/bin/senko -c $conf #' <<<"$l")
	printf '%s\n' "$l"
}

# Run every line in order; each must exit 0.
while IFS= read -r line; do
	[ -z "$line" ] && continue
	cmd=$(translate "$line")
	out=$(bash -c "$cmd" 2>&1); rc=$?
	if [ "$rc" = 0 ]; then
		ok "README: ${line%%  *}"
	else
		not_ok "README: ${line%%  *}"
		diag "ran: $cmd"
		diag "exit $rc: $(tail -5 <<<"$out")"
	fi
	case $line in *"senko senko"*)
		check "... no warning about the state folder" \
			bash -c '! grep -q "state folder" <<<"$1"' _ "$out" ;;
	esac
done < <(printf '%s\n' "$setup" "$quick" | sed 's/[[:space:]]*#.*//')

# What the set-up promised.
uid=$(senko_uid)
check "the state folder belongs to the service user" \
	test "$(stat -c %u "$root/var/lib/senko" 2>/dev/null)" = "$uid"
check "everything senko wrote there belongs to the service user" \
	test -z "$(find "$root/var/lib/senko" ! -uid "$uid" 2>/dev/null)"
check "senko wrote state there (the sync ran)" \
	test -n "$(find "$root/var/lib/senko" -mindepth 1 2>/dev/null)"
check "the token file is the service user's, mode 600" \
	test "$(stat -c '%u %a' "$root/etc/senko/token" 2>/dev/null)" = "$uid 600"

# The cron line: user and command as cron would run them.
cron=$(awk '/^```cron$/ { c = 1; next } c && /^```$/ { c = 0 } c && !/^#/' README.md)
user=$(awk '{ print $6 }' <<<"$cron")
cmd=$(awk '{ $1 = $2 = $3 = $4 = $5 = $6 = ""; sub(/^ +/, ""); print }' <<<"$cron")
check "the cron line runs as user senko" test "$user" = senko
out=$(as_senko ${cmd//\/usr\/local/$root/usr/local} -c "$conf" 2>&1); rc=$?
check "the cron line's command works as that user: $cmd" test "$rc" = 0
[ "$rc" = 0 ] || diag "exit $rc: $out"
tap_done
