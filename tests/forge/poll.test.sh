#!/usr/bin/env bash
# Forge request counts, asserted from the fake GitHub's log: first poll,
# steady state, a one-file commit, a deletion, two sources, ten boards on
# one source, files filters, config changes and the contents API.
set -u
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/lib.sh"

make_repo
start_server srv
R=/repos/acme/fw
c1=$(head_sha)
b_main=$(git_ rev-parse HEAD:app/main.py)
b_boot=$(git_ rev-parse HEAD:app/boot.py)
b_util=$(git_ rev-parse HEAD:app/lib/util.py)

write_conf "$tmp/one.conf" "$tmp/s1" 1 'working_dir = app'
poll "$tmp/one.conf" -j
check "first poll succeeds" test "$poll_rc" = 0
check "first poll reports commit, 3 files, changed" \
	grep -qx "poll app ok commit=$c1 files=3 changed=yes" <<<"$out"
check "manifest paths are relative to working_dir" \
	test "$(paths_of "$out")" = "boot.py lib/util.py main.py "
expect_log "first poll: commit + tree + 3 blobs" "200 $R/commits/main counted
200 $R/git/trees/$c1?recursive=1 counted
200 $R/git/blobs/$b_boot counted
200 $R/git/blobs/$b_util counted
200 $R/git/blobs/$b_main counted"
check "blobs are in the object store" test -f "$tmp/s1/objects/${b_main:0:2}/${b_main:2}"
check "state files written" test -f "$tmp/s1/sources/app/state.json" -a -f "$tmp/s1/sources/app/manifest.json"

poll "$tmp/one.conf" -n 3
check "steady state: 3 polls report no change" \
	test "$(grep -c "poll app ok commit=$c1 files=3 changed=no" <<<"$out")" = 3
expect_log "steady state: exactly 1 request per poll, 304, not counted (new process: nothing re-downloaded)" \
	"304 $R/commits/main free
304 $R/commits/main free
304 $R/commits/main free"
check "stats say 3 requests, 3 not modified, 0 blobs" \
	grep -q "stats requests=3 not_modified=3 blobs=0 " <<<"$out"

commit_files "touch one" app/main.py='print("v2")'
c2=$(head_sha); b_main2=$(git_ rev-parse HEAD:app/main.py)
poll "$tmp/one.conf"
check "a commit touching one file is seen" grep -qx "poll app ok commit=$c2 files=3 changed=yes" <<<"$out"
expect_log "a commit touching one file: commit + tree + 1 blob" "200 $R/commits/main counted
200 $R/git/trees/$c2?recursive=1 counted
200 $R/git/blobs/$b_main2 counted"

commit_files "delete one" app/boot.py=-
c3=$(head_sha)
poll "$tmp/one.conf" -j
check "a deletion is seen" grep -qx "poll app ok commit=$c3 files=2 changed=yes" <<<"$out"
check "the deleted file left the manifest" test "$(paths_of "$out")" = "lib/util.py main.py "
expect_log "a commit only deleting a file: commit + tree, no blob" "200 $R/commits/main counted
200 $R/git/trees/$c3?recursive=1 counted"

commit_files "outside" docs/a.md=doc2
c4=$(head_sha)
poll "$tmp/one.conf"
check "a commit outside working_dir: new commit, manifest unchanged" \
	grep -qx "poll app ok commit=$c4 files=2 changed=yes" <<<"$out"
expect_log "a commit outside working_dir: commit + tree" "200 $R/commits/main counted
200 $R/git/trees/$c4?recursive=1 counted"

# Ten boards on one source cost what one does: forge_poll is per source.
write_conf "$tmp/ten.conf" "$tmp/s10" 10 'working_dir = app'
poll "$tmp/ten.conf"
check "ten boards: one poll line for the source" test "$(grep -c '^poll ' <<<"$out")" = 1
b_main4=$(git_ rev-parse HEAD:app/main.py); b_util4=$(git_ rev-parse HEAD:app/lib/util.py)
expect_log "ten boards on one source: commit + tree + 2 blobs, same as one" "200 $R/commits/main counted
200 $R/git/trees/$c4?recursive=1 counted
200 $R/git/blobs/$b_util4 counted
200 $R/git/blobs/$b_main4 counted"
poll "$tmp/ten.conf" -n 2
expect_log "ten boards, steady state: 1 request per poll" "304 $R/commits/main free
304 $R/commits/main free"

# Two sources; a blob both share is fetched once.
commit_files "shared" docs/main.py='print("v2")' docs/b.md=bee
c5=$(head_sha)
write_conf "$tmp/two.conf" "$tmp/s2" 1 'working_dir = app' 'branch = main' \
	'[source docs]' 'user = acme' 'repo = fw' 'branch = main' 'working_dir = docs' \
	'[device x]' 'port = /dev/ttyACM0' 'source = docs'
poll "$tmp/two.conf"
check "two sources both polled" test "$(grep -c "^poll .* ok commit=$c5" <<<"$out")" = 2
b_a=$(git_ rev-parse HEAD:docs/a.md); b_b=$(git_ rev-parse HEAD:docs/b.md)
expect_log "two sources: commit + tree each, each blob once (docs/main.py = app/main.py)" \
	"200 $R/commits/main counted
200 $R/git/trees/$c5?recursive=1 counted
200 $R/git/blobs/$b_util4 counted
200 $R/git/blobs/$b_main4 counted
200 $R/commits/main counted
200 $R/git/trees/$c5?recursive=1 counted
200 $R/git/blobs/$b_a counted
200 $R/git/blobs/$b_b counted"
poll "$tmp/two.conf"
expect_log "two sources, steady state: one 304 each" "304 $R/commits/main free
304 $R/commits/main free"

# files: a file entry matches that file, a folder entry everything below.
write_conf "$tmp/files.conf" "$tmp/s1" 1 'working_dir = app' 'files = main.py lib'
commit_files "more" app/lib/deep/x.py=x app/library.py=no
c6=$(head_sha)
poll "$tmp/files.conf" -j -N
check "files filter: a file and a folder (not library.py)" \
	test "$(paths_of "$out")" = "lib/deep/x.py lib/util.py main.py "
clear_log
# A config change forces a fresh tree read even though the ETag matches.
write_conf "$tmp/files2.conf" "$tmp/s1" 1 'working_dir = app' 'files = main.py'
poll "$tmp/files.conf" -N
clear_log
poll "$tmp/files2.conf" -N -j
check "changed files list: fresh read" test "$(paths_of "$out")" = "main.py "
expect_log "a config change: head asked unconditionally + tree" "200 $R/commits/main counted
200 $R/git/trees/$c6?recursive=1 counted"

# saved manifest without the network
out=$("$helper" -c "$tmp/files2.conf" -s)
check "forge_saved_manifest gives the last manifest" grep -qx "saved app commit=$c6 files=1" <<<"$out"
out=$("$helper" -c "$tmp/files.conf" -s 2>/dev/null)
check "forge_saved_manifest refuses a manifest of another config" grep -qx "saved app none" <<<"$out"
clear_log

# The contents API yields the same manifest as the trees API.
write_conf "$tmp/trees.conf" "$tmp/st" 1 'working_dir = app'
write_conf "$tmp/contents.conf" "$tmp/sc" 1 'working_dir = app' 'api = contents'
poll "$tmp/trees.conf" -j -N; trees_out=$out
poll "$tmp/contents.conf" -j; contents_out=$out
nomode() { sed -n '/^{$/,/^}$/p' <<<"$1" | grep -v '"mode"' | sed 's/,$//'; }
check "contents API: same manifest as trees (paths, shas, sizes)" \
	test "$(nomode "$trees_out")" = "$(nomode "$contents_out")"
clear_log
poll "$tmp/contents.conf"
expect_log "contents API, steady state: 1 request, 304" "304 $R/commits/main free"
commit_files "docs only" docs/a.md=doc3
c7=$(head_sha)
poll "$tmp/contents.conf"
# Each listing is asked of the commit the head named (its saved ETag
# goes too, but the answer names the commit, so it is a 200).
got=$(requests | cut -d' ' -f2); clear_log
check "contents API, commit outside working_dir: head + the 3 listings, no blob" \
	test "$got" = "$R/commits/main
$R/contents/app?ref=$c7
$R/contents/app/lib?ref=$c7
$R/contents/app/lib/deep?ref=$c7"
commit_files "deep" app/lib/deep/x.py=y
c8=$(head_sha); b_x=$(git_ rev-parse HEAD:app/lib/deep/x.py)
poll "$tmp/contents.conf"
check "contents API sees the new commit" grep -qx "poll app ok commit=$c8 files=4 changed=yes" <<<"$out"
expect_log "contents API, deep change: head + 3 listings + 1 blob" \
	"200 $R/commits/main counted
200 $R/contents/app?ref=$c8 counted
200 $R/contents/app/lib?ref=$c8 counted
200 $R/contents/app/lib/deep?ref=$c8 counted
200 $R/git/blobs/$b_x counted"

# A commit pushed while the contents API walks the folders: every listing
# is of the commit the head named, never a mix labelled with one of them.
# The delay holds the lib/ listing until the new commit is in.
commit_files "before the walk" app/main.py='print("walk")'
c_walk=$(head_sha)
fault_add '{"kind":"delay","ms":1500,"match":"/contents/app/lib?"}'
SENKO_TOKEN=$token "$helper" -c "$tmp/contents.conf" -j >"$tmp/race.out" 2>"$tmp/race.err" &
race_pid=$!
for _ in $(seq 100); do requests | grep -q "/contents/app?" && break; sleep 0.05; done
commit_files "during the walk" app/lib/util.py='def f(): return 9'
wait $race_pid
faults_clear
out=$(cat "$tmp/race.out")
want=$(git_ rev-parse "$c_walk:app/lib/util.py")
check "contents API, a commit during the walk: the manifest is all of commit ${c_walk:0:7}" \
	grep -qx "poll app ok commit=$c_walk files=4 changed=yes" <<<"$out"
check "contents API, a commit during the walk: lib/util.py is the named commit's" \
	grep -q "\"sha\": \"$want\"" <<<"$(sed -n '/"lib\/util.py": {/,/}/p' <<<"$out")"
poll "$tmp/contents.conf"
check "contents API, a commit during the walk: the next poll sees it" \
	grep -qx "poll app ok commit=$(head_sha) files=4 changed=yes" <<<"$out"
clear_log

# No git/trees endpoint (404): fall back to the contents API, logged once.
write_conf "$tmp/fb.conf" "$tmp/sf" 1 'working_dir = app'
fault_add '{"match":"/git/trees/","status":404}'
poll "$tmp/fb.conf" -j -N
faults_clear
check "trees 404: the poll succeeds through contents" test "$poll_rc" = 0
check "trees 404: the fallback is logged" grep -q "no git/trees endpoint" <<<"$poll_err"
poll "$tmp/trees.conf" -j -N; trees_out=$out
clear_log
fault_add '{"match":"/git/trees/","status":404}'
poll "$tmp/fb.conf" -j -N
check "fallback manifest equals the trees manifest (paths, shas, sizes)" \
	test "$(nomode "$trees_out")" = "$(nomode "$out")"
faults_clear
tap_done
