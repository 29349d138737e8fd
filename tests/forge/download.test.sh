#!/usr/bin/env bash
# Downloads: a file that does not compress arrives although the server
# gzips (as GitHub does); one failing blob does not stop the others; and a
# commit whose blobs are not all in the store never reaches a board (an
# emulated one here), which keeps its files until every blob is there.
set -u
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/lib.sh"
senko=$root/$build/senko

make_repo
start_server srv
R=/repos/acme/fw
write_conf "$tmp/a.conf" "$tmp/s" 1 'working_dir = app'
in_store() { test -f "$tmp/s/objects/${1:0:2}/${1:2}"; }

# 64 KiB of random bytes: gzip makes the answer larger than the file.
head -c 65536 /dev/urandom >"$repo/app/font.bin"
git_ add app/font.bin && git_ commit -qm font
b_font=$(git_ rev-parse HEAD:app/font.bin)
clear_log
poll "$tmp/a.conf"
check "an incompressible 64 KiB file is fetched" grep -qx "fetch app ok" <<<"$out"
check "it is in the store" in_store "$b_font"
wire=$(ctl GET /_control/log | grep -o "\"path\":\"$R/git/blobs/$b_font\",[^}]*\"bytes\":[0-9]*" | sed 's/.*"bytes"://')
check "the server really sent it gzipped, larger than the file ($wire bytes)" test "${wire:-0}" -gt 65536

# Three changed files, the first one's blob fails: the other two are
# fetched all the same, and the failure is named.
commit_files "three" app/a_first.py='A = 1' app/main.py='print("v3")' app/lib/util.py='def f(): return 3'
b_a=$(git_ rev-parse HEAD:app/a_first.py); b_m=$(git_ rev-parse HEAD:app/main.py); b_u=$(git_ rev-parse HEAD:app/lib/util.py)
fault_add "{\"match\":\"/git/blobs/$b_a\",\"status\":503}"
poll "$tmp/a.conf"
faults_clear
check "one blob failing: the fetch fails, naming how many and why" \
	grep -q "fetch app error: source 'app': 1 blob of commit .* not fetched (first: .*server error 503 reading blob ${b_a:0:12} of 'a_first.py'" <<<"$out"
check "one blob failing: the others are fetched anyway" bash -c "$(declare -f in_store); tmp=$tmp; in_store $b_m && in_store $b_u"
check "one blob failing: it is not in the store" bash -c "! test -f $tmp/s/objects/${b_a:0:2}/${b_a:2}"
poll "$tmp/a.conf"
check "the failed blob is fetched at the next poll" in_store "$b_a"

# A board (the emulator) at one commit; the next commit changes two
# files that go together, and one of their blobs cannot be fetched.
mkdir -p "$tmp/flash"
node "$root/tests/board/board.js" --flash "$tmp/flash" --link "$tmp/port" --baud 1000000 \
	--exit-with-parent >"$tmp/board.out" 2>"$tmp/board.err" </dev/null &
server_pids+=($!)
deadline=$((SECONDS + 60))
until grep -qs '^READY ' "$tmp/board.out" || [ $SECONDS -ge $deadline ]; do sleep 0.1; done
cat >"$tmp/b.conf" <<CONF
[senkod]
state_dir = $tmp/sb
api_url = $fakegh_url
token_file =
[source app]
user = acme
repo = fw
working_dir = app
[device kitchen]
port = $tmp/port
baud = 1000000
source = app
reset = none
CONF
sync_() { out=$(SENKO_TOKEN=$token "$senko" -c "$tmp/b.conf" sync 2>&1); rc=$?; }
sync_
check "the board is synced to the first commit" \
	bash -c '[ "$1" = 0 ] && grep -q "v3" "$2/main.py"' _ "$rc" "$tmp/flash"
commit_files "pair" app/main.py='from lib.util import g; g()' app/lib/util.py='def g(): return 4'
b_u2=$(git_ rev-parse HEAD:app/lib/util.py)
fault_add "{\"match\":\"/git/blobs/$b_u2\",\"status\":503}"
sync_
faults_clear
check "a blob missing: senko sync exits 1" test "$rc" = 1
check "a blob missing: the source is reported failed, saying why" \
	grep -q "error: source 'app': 1 blob of commit .* not fetched (first: .*server error 503 .*no board gets this commit" <<<"$out"
check "a blob missing: the board is reported failed, keeping its files" \
	bash -c 'grep -q "^kitchen: failed" <<<"$1" && grep -q "kitchen: nothing to sync: source .app. failed .*the board keeps its files" <<<"$1"' _ "$out"
check "a blob missing: the board keeps its old main.py (no mix of commits)" grep -q 'print("v3")' "$tmp/flash/main.py"
check "a blob missing: the board keeps its old lib/util.py" grep -q "return 3" "$tmp/flash/lib/util.py"
sync_
check "next sync: exit 0" test "$rc" = 0
check "next sync: both files of the commit arrive together" \
	bash -c 'grep -q "import g" "$1/main.py" && grep -q "return 4" "$1/lib/util.py"' _ "$tmp/flash"
tap_done
