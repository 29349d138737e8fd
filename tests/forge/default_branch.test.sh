#!/usr/bin/env bash
# branch unset (issue 15, Senko migration): the repository's default
# branch is asked once (GET /repos/{owner}/{repo}), kept in the source
# state, and followed; a named branch asks nothing of the kind.
set -u
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/lib.sh"

make_repo
git_ branch -q -m main trunk   # the repository's default is trunk
start_server srv
R=/repos/acme/fw
c1=$(head_sha)

write_conf "$tmp/d.conf" "$tmp/s" 0 'working_dir = app' 'url = https://github.com/acme/fw'
# url without a branch: write_conf adds none either.
sed -i '/^url = /d' "$tmp/d.conf"
poll "$tmp/d.conf"
check "branch unset: the poll succeeds" test "$poll_rc" = 0
check "branch unset: the default branch's commit is found" \
	grep -qx "poll app ok commit=$c1 files=3 changed=yes" <<<"$out"
expect_log "branch unset: the repository once, then the default branch" "200 $R counted
200 $R/commits/trunk counted
200 $R/git/trees/$c1?recursive=1 counted
200 $R/git/blobs/$(git_ rev-parse HEAD:app/boot.py) counted
200 $R/git/blobs/$(git_ rev-parse HEAD:app/lib/util.py) counted
200 $R/git/blobs/$(git_ rev-parse HEAD:app/main.py) counted"
check "the default branch is kept in the source state" \
	grep -q '"default_branch":"trunk"' "$tmp/s/sources/app/default-branch.json"

poll "$tmp/d.conf" -n 2
expect_log "next polls (a new process): no repository request, 304 on trunk" \
	"304 $R/commits/trunk free
304 $R/commits/trunk free"

write_conf "$tmp/n.conf" "$tmp/s2" 0 'working_dir = app' 'branch = trunk'
poll "$tmp/n.conf"
check "a named branch: the poll succeeds" test "$poll_rc" = 0
check "a named branch: no repository request" \
	test -z "$(requests | grep -x "200 $R counted")"
clear_log

write_conf "$tmp/x.conf" "$tmp/s3" 0 'working_dir = app'
sed -i 's/^branch = main$//; s/^repo = fw$/repo = nope/' "$tmp/x.conf"
poll "$tmp/x.conf"
check "unknown repository: the poll fails" test "$poll_rc" != 0
check "unknown repository: names user and repo to check" \
	grep -q "the repository not found .*check user = acme and repo = nope in \[source app\]" <<<"$poll_err"
check "unknown repository: nothing cached" test ! -e "$tmp/s3/sources/app/default-branch.json"
tap_done
