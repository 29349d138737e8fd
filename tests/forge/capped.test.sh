#!/usr/bin/env bash
# GitHub's contents API lists at most 1,000 entries of a folder and says
# nothing about the rest.  A listing that long is never taken as complete:
# the folder is read with git trees, or the poll fails; a fallback to the
# contents API holds for one poll and is never saved as a trees manifest;
# a manifest not known complete is read afresh (prune trusts only those).
set -u
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/lib.sh"

make_repo
mkdir -p "$repo/app/many"
for i in $(seq -w 0 1099); do echo "n = $i" >"$repo/app/many/f$i.py"; done
git_ add app/many && git_ commit -qm "1100 files in one folder"
c1=$(head_sha)
start_server srv
R=/repos/acme/fw
count_many() { grep -c '^  "many/f[0-9]*\.py": {$' <<<"$1"; }

write_conf "$tmp/c.conf" "$tmp/sc" 1 'working_dir = app' 'api = contents'
poll "$tmp/c.conf" -N -j
check "contents API, 1,100 files in a folder: the poll succeeds" test "$poll_rc" = 0
check "contents API: all 1,103 files are in the manifest, not 1,003" \
	grep -qx "poll app ok commit=$c1 files=1103 changed=yes" <<<"$out"
check "contents API: every one of the 1,100 is listed" test "$(count_many "$out")" = 1100
check "contents API: the capped listing is reported" \
	grep -q "listed 1000 entries of folder 'app/many', as many as it ever lists; reading the folder with git trees" <<<"$poll_err"
many_sha=$(git_ rev-parse HEAD:app/many)
check "contents API: the capped folder was read by its git tree" \
	grep -qx "200 $R/git/trees/$many_sha counted" <<<"$(requests)"
clear_log

# The capped folder is the top of the walk (working_dir itself).
write_conf "$tmp/top.conf" "$tmp/stop" 1 'working_dir = app/many' 'api = contents'
poll "$tmp/top.conf" -N
check "capped working_dir: read from the commit's trees, 1,100 files" \
	grep -qx "poll app ok commit=$c1 files=1100 changed=yes" <<<"$out"
clear_log

# No git trees to fall back to: refuse the poll, save nothing.
fault_add '{"match":"/git/trees/","status":404}'
write_conf "$tmp/nt.conf" "$tmp/snt" 1 'working_dir = app' 'api = contents'
poll "$tmp/nt.conf" -N
check "capped listing without git trees: the poll fails" test "$poll_rc" != 0
check "capped listing without git trees: says why and what helps" \
	grep -q "poll app error: source 'app': folder 'app/many' may hold more than the 1000 entries .*no git trees.*refusing an incomplete file list" <<<"$out"
check "capped listing without git trees: no manifest saved" test ! -e "$tmp/snt/sources/app/manifest.json"
# api = trees on a server without git trees falls back to contents and
# meets the same cap: the same refusal.
write_conf "$tmp/t.conf" "$tmp/st" 1 'working_dir = app'
poll "$tmp/t.conf" -N
check "trees 404, then a capped listing: the poll fails, nothing saved" \
	bash -c '[ "$1" != 0 ] && grep -q "refusing an incomplete file list" <<<"$2" && [ ! -e "$3" ]' _ \
	"$poll_rc" "$out" "$tmp/st/sources/app/manifest.json"
faults_clear
clear_log

# A fallback is decided per poll: the next poll (same process) asks for
# git trees again, and what the fallback read is not reused as a trees
# manifest (its head is asked unconditionally).
write_conf "$tmp/f.conf" "$tmp/sf" 1 'working_dir = app' 'files = main.py lib'
fault_add '{"match":"/git/trees/","status":404,"count":1}'
poll "$tmp/f.conf" -N -n 2
check "one 404 on git/trees: both polls succeed" \
	test "$(grep -c "^poll app ok commit=$c1 files=2" <<<"$out")" = 2
check "one 404 on git/trees: the fallback says it is for this poll" \
	grep -q "using the contents API for this poll" <<<"$poll_err"
got=$(requests | tail -2); clear_log
check "the next poll reads git trees again, its head unconditional" \
	test "$got" = "200 $R/commits/main counted
200 $R/git/trees/$c1?recursive=1 counted"
poll "$tmp/f.conf" -N
expect_log "after a poll through trees, the steady state is one 304" "304 $R/commits/main free"

# A saved manifest not marked complete (an older senko's) is read afresh.
sed -i '/"complete": true,/d' "$tmp/sf/sources/app/manifest.json"
poll "$tmp/f.conf" -N
check "a saved manifest without the complete mark: read afresh, said so" \
	grep -q "not marked complete .*reading it afresh" <<<"$poll_err"
expect_log "a saved manifest without the complete mark: head + tree" "200 $R/commits/main counted
200 $R/git/trees/$c1?recursive=1 counted"
check "the manifest saved now is marked complete" grep -q '"complete": true' "$tmp/sf/sources/app/manifest.json"
tap_done
