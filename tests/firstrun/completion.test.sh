#!/usr/bin/env bash
# Bash completion (contrib/completion/senko.bash): commands, options and the
# device names of the configuration given with -c (issue 15).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
senko=$(realpath "${SENKO_BIN:-build/senko}")
senkod=$(realpath "${SENKOD_BIN:-build/senkod}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/senko.conf" <<'CONF'
[senkod]
state_dir = /tmp/x
[source app]
user = u
repo = r
[device kitchen]
port = /dev/ttyUSB0
source = app
  [ device  garage.v2 ]   ; spaces and a comment
port = /dev/ttyUSB1
source = app
# [device commented]
[device lab-1]
port = /dev/ttyUSB2
source = app
CONF

# complete FUNCTION WORD...: what FUNCTION offers for the last word.
complete_words() {
	bash -c '
		. contrib/completion/senko.bash || exit 1
		f=$1; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		"$f"
		printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$@"
}
# expect DESCRIPTION "WANTED WORDS" FUNCTION WORD...
expect() {
	local what=$1 want got
	want=$(printf '%s\n' $2 | sort)
	shift 2
	got=$(complete_words "$@")
	if [ "$got" = "$want" ]; then
		ok "$what"
	else
		not_ok "$what"
		diag "want: $(echo $want); got: $(echo $got)"
	fi
}

check "the script registers completions for senko and senkod" bash -c '
	. contrib/completion/senko.bash && complete -p senko >/dev/null &&
	complete -p senkod >/dev/null'

# The commands as cli.c's table has them (read from the source), and help.
cmds=$(sed -n '/^const struct cli_command cli_commands\[\] = {/,/^};/p' \
	src/cli.c | sed -nE 's/^[[:space:]]*\{ "([a-z-]+)",.*/\1/p')
expect "senko <TAB>: every command" "$cmds help" _senko "$senko" ""
expect "senko sy<TAB>: sync" "sync" _senko "$senko" sy
expect "senko -v st<TAB>: status after a global option" "status" _senko "$senko" -v st
expect "senko help <TAB>: every command" "$cmds help" _senko "$senko" help ""
expect "senko --<TAB>: the global long options" \
	"--config --help --quiet --verbose --version" _senko "$senko" --
expect "senko sync --<TAB>: sync's options" "--force --help --now --verify --wait" \
	_senko "$senko" sync --
expect "senko status --<TAB>: --json, --prometheus" "--help --json --prometheus" _senko "$senko" status --
expect "senko -c FILE sync <TAB>: the devices of FILE" \
	"kitchen garage.v2 lab-1" _senko "$senko" -c "$tmp/senko.conf" sync ""
# bash splits "--config=FILE" into three words at the "=".
expect "senko --config=FILE check g<TAB>" "garage.v2" \
	_senko "$senko" --config = "$tmp/senko.conf" check g
expect "senko --config=<TAB>: files" "$tmp/senko.conf" \
	_senko "$senko" --config = "$tmp/s"
expect "senko --config FILE ls <TAB>: the devices" "kitchen garage.v2 lab-1" \
	_senko "$senko" --config "$tmp/senko.conf" ls ""
expect "senko -c FILE ls kitchen <TAB>: nothing more" "" \
	_senko "$senko" -c "$tmp/senko.conf" ls kitchen ""
expect "senko -c FILE reset kitchen <TAB>: soft or hard" "soft hard" \
	_senko "$senko" -c "$tmp/senko.conf" reset kitchen ""
expect "senko -c FILE run <TAB>: the devices" "kitchen garage.v2 lab-1" \
	_senko "$senko" -c "$tmp/senko.conf" run ""
expect "senko -c FILE run kitchen <TAB>: files" "$tmp/senko.conf" \
	_senko "$senko" -c "$tmp/senko.conf" run kitchen "$tmp/s"
expect "senko -c FILE rollback <TAB>: the devices" "kitchen garage.v2 lab-1" \
	_senko "$senko" -c "$tmp/senko.conf" rollback ""
expect "senko -c FILE pin <TAB>: the devices" "kitchen garage.v2 lab-1" \
	_senko "$senko" -c "$tmp/senko.conf" pin ""
expect "senko -c FILE rollout <TAB>: resume or a source" "resume app" \
	_senko "$senko" -c "$tmp/senko.conf" rollout ""
expect "senko -c FILE rollout resume <TAB>: the sources" "app" \
	_senko "$senko" -c "$tmp/senko.conf" rollout resume ""
expect "senko ports --<TAB>: --probe" "--help --probe" _senko "$senko" ports --
expect "senko config <TAB>: check" "check" _senko "$senko" config ""
expect "senko -c <TAB>: files" "$tmp/senko.conf" _senko "$senko" -c "$tmp/s"
touch "$tmp/main file.py"
check "senko hash <TAB>: a file name with a space stays one word" test \
	"$(complete_words _senko "$senko" hash "$tmp/main")" = "$tmp/main file.py"
expect "senko -c MISSING sync <TAB>: no devices, no error" "" \
	_senko "$senko" -c "$tmp/missing.conf" sync ""
expect "senkod --<TAB>: senkod's long options" \
	"--config --foreground --help --once --quiet --verbose --version" \
	_senkod "$senkod" --
tap_done
