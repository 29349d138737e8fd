#!/usr/bin/env bash
# systemd/senkod.service: systemd accepts it (systemd-analyze verify, when
# the machine has it), it has every directive the service needs, and it
# agrees with the Makefile and the config defaults.  The sysusers entry
# creates user senko in group dialout.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
unit=systemd/senkod.service
sysusers=systemd/senko.sysusers.conf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# skip "description" "why": a TAP skip, which tests/run.sh counts as ok.
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1 # SKIP $2"; }

if command -v systemd-analyze >/dev/null; then
	# verify insists that ExecStart's program exists; the unit names the
	# installed path, so the copy points at a program this tree built.
	exe=${SENKOD_BIN:-}
	[ -x "$exe" ] || exe=$PWD/${SENKO_BUILD:-build}/senko
	[ -x "$exe" ] || exe=/bin/true
	sed "s|^ExecStart=/usr/local/sbin/senkod|ExecStart=$exe|" "$unit" \
		>"$tmp/senkod.service"
	if command -v man >/dev/null; then
		# Documentation= must name pages this tree ships.
		for page in man/*.[158]; do
			mkdir -p "$tmp/man/man${page##*.}"
			cp "$page" "$tmp/man/man${page##*.}/"
		done
		out=$(MANPATH=$tmp/man systemd-analyze verify --man=yes \
			"$tmp/senkod.service" 2>&1); rc=$?
	else
		out=$(systemd-analyze verify --man=no "$tmp/senkod.service" 2>&1)
		rc=$?
	fi
	if [ "$rc" = 0 ] && [ -z "$out" ]; then
		ok "systemd-analyze verify: no errors, no warnings"
	else
		not_ok "systemd-analyze verify: no errors, no warnings"
		diag "exit $rc: $out"
	fi
	out=$(systemd-analyze security --offline=true "$tmp/senkod.service" \
		2>&1 | grep 'Overall exposure')
	diag "${out:-systemd-analyze security gave no verdict}"
else
	skip "systemd-analyze verify" "systemd-analyze is not installed"
fi

# has "Key=Value": the unit has exactly that line.
has() { grep -qxF -- "$1" "$unit"; }
for line in 'Type=notify' 'NotifyAccess=main' \
	'ExecStart=/usr/local/sbin/senkod --foreground' \
	'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' \
	'RestartPreventExitStatus=78' \
	'User=senko' 'Group=senko' 'SupplementaryGroups=dialout' \
	'StateDirectory=senko' 'ConfigurationDirectory=senko' \
	'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
	'NoNewPrivileges=yes' 'PrivateDevices=no' 'DevicePolicy=closed' \
	'DeviceAllow=char-ttyUSB rw' 'DeviceAllow=char-ttyACM rw' \
	'DeviceAllow=char-ttyS rw' \
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
	'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' \
	'ProtectControlGroups=yes' 'WantedBy=multi-user.target'; do
	check "unit has $line" has "$line"
done
check "WatchdogSec= is set to a duration" \
	grep -qE '^WatchdogSec=[1-9][0-9]*(s|min)?$' "$unit"
check "/run/lock is writable (UUCP lock files)" \
	grep -qE '^ReadWritePaths=.*(^|[ =-])/run/lock( |$)' "$unit"
check "no PrivateDevices=yes (it would hide the serial ports)" \
	bash -c '! grep -qE "^PrivateDevices=(yes|true|1)" "$1"' _ "$unit"
check "no DynamicUser=yes (a fixed user owns the token and locks)" \
	bash -c '! grep -qE "^DynamicUser=(yes|true|1)" "$1"' _ "$unit"
check "no AF_NETLINK" bash -c '! grep -q AF_NETLINK <(grep -v "^#" "$1")' \
	_ "$unit"
check "the unit says why PrivateDevices is off and why no DynamicUser" \
	bash -c 'grep -q "PrivateDevices=yes would" "$1" &&
		grep -q "^# A fixed system user rather than DynamicUser=" "$1"' _ "$unit"

# The unit and the Makefile agree on where senkod is installed.
sbindir=$(printf 'print-sbindir:\n\t@echo $(SBINDIR)\n' |
	make --no-print-directory -s -f Makefile -f - print-sbindir)
check "ExecStart= is the Makefile's default SBINDIR ($sbindir)" \
	grep -qxF "ExecStart=$sbindir/senkod --foreground" "$unit"
# StateDirectory=senko is /var/lib/senko, state_dir's default.
check "StateDirectory= matches state_dir's default in config.c" \
	grep -qF '#define DEFAULT_STATE_DIR "/var/lib/senko"' src/config.c

if command -v systemd-sysusers >/dev/null; then
	root=$tmp/root
	mkdir -p "$root/etc"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\ndialout:x:20:\n' >"$root/etc/group"
	if systemd-sysusers --root="$root" "$PWD/$sysusers" >"$tmp/su.log" 2>&1
	then
		check "sysusers creates user senko with home /var/lib/senko" \
			grep -qE '^senko:x:[0-9]+:[0-9]+:[^:]*:/var/lib/senko:' \
			"$root/etc/passwd"
		check "sysusers creates group senko" \
			grep -qE '^senko:x:[0-9]+:' "$root/etc/group"
		check "sysusers puts senko in group dialout" \
			grep -qE '^dialout:x:20:(.*,)?senko(,|$)' "$root/etc/group"
	else
		not_ok "systemd-sysusers accepts $sysusers"
		diag "$(cat "$tmp/su.log")"
	fi
else
	skip "sysusers.d entry" "systemd-sysusers is not installed"
fi
tap_done
