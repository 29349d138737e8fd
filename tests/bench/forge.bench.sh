#!/usr/bin/env bash
# Forge benchmark (not a timed test): requests and bytes per poll, and poll
# latency, for 1, 10 and 100 boards on one source, against the fake GitHub
# on this machine.  Cold = empty state_dir; steady = nothing moved (304);
# push = a commit changing one file.  Usage: tests/bench/forge.bench.sh
set -u
cd "$(dirname "$0")/../.."
. tests/forge/lib.sh

make_repo
for i in $(seq 1 30); do printf 'x = %d\n' "$i" >"$repo/app/lib/mod$i.py"; done
git_ add -A && git_ commit -qm "30 modules"
start_server bench
steady=20
# figures OUT: "REQUESTS BYTES" from the helper's stats line.
figures() { sed -n 's/^stats requests=\([0-9]*\) .* bytes=\([0-9]*\) .*/\1 \2/p' <<<"$1"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-7s %-7s %9s %11s %12s\n' boards phase "req/poll" "bytes/poll" "latency ms"
for n in 1 10 100; do
	write_conf "$tmp/b$n.conf" "$tmp/s$n" "$n" 'working_dir = app'
	poll "$tmp/b$n.conf" -t
	read -r req bytes <<<"$(figures "$out")"
	lat=$(sed -n 's/^latency app //p' <<<"$out")
	printf '%-7s %-7s %9s %11s %12s\n' "$n" cold "$req" "$bytes" "$lat"
	poll "$tmp/b$n.conf" -t -n "$steady"
	read -r req bytes <<<"$(figures "$out")"
	lat=$(sed -n 's/^latency app //p' <<<"$out" | median)
	printf '%-7s %-7s %9s %11s %12s\n' "$n" steady "$((req / steady))" "$((bytes / steady))" "$lat (median)"
	commit_files "push $n" app/main.py="print($n)"
	poll "$tmp/b$n.conf" -t
	read -r req bytes <<<"$(figures "$out")"
	lat=$(sed -n 's/^latency app //p' <<<"$out")
	printf '%-7s %-7s %9s %11s %12s\n' "$n" push "$req" "$bytes" "$lat"
done
echo "(requests include blob downloads; steady-state 304s answered to a token do not count against the rate limit)"
