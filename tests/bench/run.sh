#!/usr/bin/env bash
# Runs every benchmark (tests/bench/*.bench.sh and *.bench.js) one after
# the other — they measure real-speed serial lines, so never in parallel —
# and prints their figures.  Usage: tests/bench/run.sh [PATTERN]
set -u
cd "$(dirname "$0")/../.."
export SENKO_BUILD=${SENKO_BUILD:-build}
export SENKO_BIN=$PWD/$SENKO_BUILD/senko SENKOD_BIN=$PWD/$SENKO_BUILD/senkod
rc=0
for b in tests/bench/*.bench.sh tests/bench/*.bench.js; do
	[ -e "$b" ] || continue
	[[ -n ${1:-} && $b != *$1* ]] && continue
	echo "== $b"
	case $b in
	*.js) node "$b" || rc=1 ;;
	*) "$b" || rc=1 ;;
	esac
done
exit $rc
