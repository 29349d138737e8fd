#!/usr/bin/env bash
# Every fault leaves the source's state untouched and says what to check;
# the next poll after the fault clears succeeds; rate limits are obeyed
# from the headers (short resets here, no real waiting).
set -u
. "$(dirname "$0")/../lib/tap.sh"
export SENKO_HTTP_TIMEOUT=2
. "$(dirname "$0")/lib.sh"

make_repo
start_server srv
R=/repos/acme/fw
write_conf "$tmp/a.conf" "$tmp/s" 1 'working_dir = app'
poll "$tmp/a.conf"
check "initial poll succeeds" test "$poll_rc" = 0
commit_files "next" app/main.py='print("next")'
c2=$(head_sha)
clear_log

# fault NAME JSON EXPECTED-MESSAGE-REGEX: one poll under the fault fails
# with the message and leaves the state alone; the next one succeeds.
fault() {
	local name=$1 json=$2 want=$3 before
	before=$(state_sum "$tmp/s")
	fault_add "$json"
	poll "$tmp/a.conf"
	if [ "$poll_rc" != 0 ] && grep -qE -- "$want" <<<"$out"; then
		ok "$name: poll fails saying '$want'"
	else
		not_ok "$name: poll fails saying '$want'"; diag "rc $poll_rc: $out"; diag "$poll_err"
	fi
	check "$name: state unchanged" test "$before" = "$(state_sum "$tmp/s")"
	check "$name: the message names the source" grep -q "source 'app'" <<<"$out"
	faults_clear
}

fault "500 on the head" '{"match":"/commits/","status":500}' "server error 500 .*retrying at the next poll"
fault "502 on the tree" '{"match":"/git/trees/","status":502}' "server error 502 reading the tree"
fault "timeout on the head" '{"match":"/commits/","kind":"delay","ms":5000}' "timed out: no progress for 2 s"
fault "stall on the tree" '{"match":"/git/trees/","kind":"delay","ms":5000}' "timed out"
fault "truncated tree" '{"match":"/git/trees/","kind":"truncate","bytes":100}' "cut short"
fault "malformed tree JSON" '{"match":"/git/trees/","kind":"malformed"}' "malformed JSON in the tree"
fault "403 forbidden" '{"match":"/git/trees/","status":403,"message":"Resource not accessible by personal access token"}' \
	"denied \(403: Resource not accessible.*Contents: read"
clear_log
poll "$tmp/a.conf"
check "after the faults clear the next poll succeeds" grep -qx "poll app ok commit=$c2 files=3 changed=yes" <<<"$out"

# A truncated blob download: the fetch fails, nothing is stored.
commit_files "blob" app/main.py='print("truncated blob")'
b_t=$(git_ rev-parse HEAD:app/main.py)
fault_add '{"match":"/git/blobs/","kind":"truncate","bytes":3}'
poll "$tmp/a.conf"
faults_clear
check "truncated blob: the fetch fails saying so" grep -q "fetch app error: source 'app': 1 blob of commit .* not fetched (first: source 'app': cannot read blob .* cut short" <<<"$out"
check "truncated blob: not in the store" test ! -e "$tmp/s/objects/${b_t:0:2}/${b_t:2}"

# A blob whose bytes do not hash to its SHA is refused by the store.
commit_files "big" app/big.py="$(printf 'x%.0s' {1..200})"
fault_add '{"match":"/git/blobs/","kind":"malformed"}'
poll "$tmp/a.conf"
faults_clear
check "corrupt blob: refused and reported" grep -q "blob .* of .big.py. from .* failed verification; not stored" <<<"$poll_err"
check "corrupt blob: the store says why" grep -q "refusing blob .* hash to" <<<"$poll_err"
b_big=$(git_ rev-parse HEAD:app/big.py)
check "corrupt blob: not in the store" test ! -e "$tmp/s/objects/${b_big:0:2}/${b_big:2}"
poll "$tmp/a.conf"
check "corrupt blob: fetched on the next try" test -f "$tmp/s/objects/${b_big:0:2}/${b_big:2}"

# 401: a bad token.
before=$(state_sum "$tmp/s")
TOKEN=wrong poll "$tmp/a.conf"
check "401: names the token and where it comes from" \
	grep -q "refused the token .*401: Bad credentials.*check token_file or SENKO_TOKEN" <<<"$out"
check "401: state unchanged" test "$before" = "$(state_sum "$tmp/s")"

# 404: a wrong repository, and a wrong branch (GitHub answers 422).
write_conf "$tmp/bad.conf" "$tmp/s" 0 'working_dir = app'
sed -i 's/^repo = fw/repo = nope/' "$tmp/bad.conf"
poll "$tmp/bad.conf"
check "404: names repo and branch to check" \
	grep -q "the branch head not found .*(404: Not Found): check user = acme, repo = nope and branch = main in \[source app\]" <<<"$out"
check "404: mentions private repositories" grep -q "private repository needs a token" <<<"$out"
write_conf "$tmp/bad.conf" "$tmp/s" 0 'working_dir = app' 'branch = nobranch'
poll "$tmp/bad.conf"
check "unknown branch: names the branch" grep -q "(422.*branch = nobranch" <<<"$out"

# A mistyped working_dir fails instead of looking like an emptied repo.
for api in trees contents; do
	write_conf "$tmp/wd.conf" "$tmp/swd" 0 'working_dir = ap' "api = $api"
	poll "$tmp/wd.conf"
	check "$api: a working_dir missing from the repo fails, naming working_dir" \
		grep -q "poll app error: .*working_dir" <<<"$out"
	check "$api: nothing saved for it" test ! -e "$tmp/swd/sources/app/manifest.json"
done

# An answer larger than the blob announced is refused while it arrives.
commit_files "tiny" app/tiny.py=t
fault_add '{"match":"/git/blobs/","kind":"malformed"}'
poll "$tmp/a.conf"
faults_clear
check "an oversized blob answer is refused" \
	grep -q "fetch app error: .*blob .* of 'tiny.py' .*larger than 2 bytes; refused" <<<"$out"
poll "$tmp/a.conf"
clear_log

# Primary rate limit with a short reset: the second poll in the same
# process makes no request; waiting until the reset lets it through.
commit_files "rl" app/main.py='print("rl")'
c3=$(head_sha)
clear_log
before=$(state_sum "$tmp/s")
fault_add '{"match":"/commits/","kind":"ratelimit","reset_in":3,"count":1}'
poll "$tmp/a.conf" -n 2
check "rate limit: the poll says it waits for the reset" \
	grep -q "poll app error: .*403 from the API (rate limit exhausted; waiting for x-ratelimit-reset); no request before" <<<"$out"
check "rate limit: the next poll is refused before the reset" \
	grep -q "poll app error: .*no request before .* retrying then" <<<"$(sed -n 2p <<<"$out")"
check "rate limit: forge_retry_after reports the reset" grep -qE "retry_after=[1-4]$" <<<"$out"
expect_log "rate limit: only the first poll asked" "403 $R/commits/main free"
check "rate limit: state unchanged" test "$before" = "$(state_sum "$tmp/s")"
poll "$tmp/a.conf"
check "rate limit: a new process keeps to it too" \
	grep -q "poll app error: .*no request before .* retrying then" <<<"$out"
expect_log "rate limit: the new process asked nothing" ""
poll "$tmp/a.conf" -w
check "rate limit: a new process waits for the reset, then succeeds" \
	grep -qx "poll app ok commit=$c3 files=5 changed=yes" <<<"$out"
commit_files "rl2" app/main.py='print("rl2")'
c3=$(head_sha)
clear_log
fault_add '{"match":"/commits/","kind":"ratelimit","reset_in":2,"count":1}'
poll "$tmp/a.conf" -n 2 -w
check "rate limit: after the reset the poll succeeds" \
	test "$(tail -3 <<<"$out" | head -1)" = "poll app ok commit=$c3 files=5 changed=yes"
check "rate limit: waited no longer than the reset said" grep -qE "^wait [0-3]$" <<<"$out"
clear_log

# Secondary limit with retry-after (429).
commit_files "sec" app/main.py='print("sec")'
c4=$(head_sha)
fault_add '{"match":"/git/trees/","kind":"secondary","retry_after":2,"status":429,"count":1}'
poll "$tmp/a.conf" -n 2
check "secondary limit: obeys retry-after" \
	grep -q "poll app error: .*429 from the API (secondary rate limit; the server sent retry-after); no request before .*(in 2 s)" <<<"$out"
expect_log "secondary limit: no request until retry-after passed" "200 $R/commits/main counted
429 $R/git/trees/$c4?recursive=1 counted"
fault_add '{"match":"/git/trees/","kind":"secondary","retry_after":2,"status":429,"count":1}'
poll "$tmp/a.conf" -n 2 -w
check "secondary limit: succeeds after retry-after" grep -qx "poll app ok commit=$c4 files=5 changed=yes" <<<"$out"
clear_log

# Secondary limit without retry-after: back off at least a minute (in a
# state_dir of its own: the wait is kept there for the next process).
write_conf "$tmp/b.conf" "$tmp/sb" 1 'working_dir = app'
fault_add '{"match":"/commits/","kind":"secondary","retry_after":null,"count":1}'
poll "$tmp/b.conf" -n 2
check "secondary limit without retry-after: backs off 60 s" \
	grep -q "backing off); no request before .*(in 60 s)" <<<"$out"
expect_log "secondary limit without retry-after: one request" "403 $R/commits/main counted"

# Running low: a warning under 10% of the limit.
ratelimit_set '{"remaining":5,"limit":100,"reset_in":60}'
poll "$tmp/a.conf"
check "rate limit running low: warned" grep -q "rate limit running low: 5 of 100 requests left" <<<"$poll_err"
ratelimit_set '{"remaining":100,"limit":5000}'

# Unauthenticated: a primary limit explains that a token helps.
fault_add '{"match":"/commits/","kind":"ratelimit","reset_in":2,"count":1}'
TOKEN= poll "$tmp/a.conf"
check "anonymous rate limit: suggests a token" grep -q "a token (token_file or SENKO_TOKEN) raises the limit" <<<"$out"

# A network black hole during the blob round: the first blob that gets no
# answer ends the round, instead of each of the 20 waiting its own 2 s
# timeout (a hundred would outlast systemd's watchdog).  Own folder and
# state_dir, so the sections above keep their file counts.
write_conf "$tmp/h.conf" "$tmp/sh" 0 'working_dir = hole'
files=()
for i in $(seq -w 1 20); do files+=("hole/f$i.py=F$i = $RANDOM"); done
commit_files "hole" "${files[@]}"
ctl POST /_control/stats/clear >/dev/null
fault_add '{"match":"/git/blobs/","kind":"delay","ms":5000}'
start=$SECONDS
poll "$tmp/h.conf"
took=$((SECONDS - start))
stats=$(ctl GET /_control/stats)
faults_clear
check "black hole: the blob round ends after one timeout (took $took s)" test "$took" -le 5
check "black hole: one blob was asked for" grep -q '"delay":1[,}]' <<<"$stats"
check "black hole: the fetch fails, saying the rest were not asked for" \
	grep -q "fetch app error: source 'app': 20 blobs of commit .* not fetched (first: .*timed out: no progress for 2 s.*); no answer came, so the other blobs were not asked for in this round; .*retrying at the next poll" <<<"$out"
poll "$tmp/h.conf"
check "black hole: the next poll fetches every blob" grep -qx "fetch app ok" <<<"$out"
tap_done
