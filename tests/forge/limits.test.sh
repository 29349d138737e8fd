#!/usr/bin/env bash
# Bounds a hostile or broken server cannot get past: server-supplied waits
# (at most an hour, in memory and in .retry-after), an overall deadline per
# request (a server trickling one byte every 0.5 s), a stop request during
# a transfer (senkod's SIGTERM), a tree pager that repeats itself, a
# redirect from https to http, and a token over plain http.
set -u
. "$(dirname "$0")/../lib/tap.sh"
export SENKO_HTTP_TIMEOUT=2
. "$(dirname "$0")/lib.sh"
senko=$root/$build/senko
senkod=$root/$build/senkod

make_repo
start_server srv
plain_url=$fakegh_url
R=/repos/acme/fw
now_ms() { echo $(($(date +%s%N) / 1000000)); }
ra_file() { cat "$1/sources/.retry-after" 2>/dev/null || echo 0; }

# --- server-supplied waits: at most an hour ---------------------------------
write_conf "$tmp/w.conf" "$tmp/sw" 1 'working_dir = app'
fault_add '{"match":"/commits/","kind":"secondary","retry_after":100000000,"count":1}'
poll "$tmp/w.conf"
check "retry-after of 3 years: the wait is an hour" grep -q "no request before .*(in 3600 s)" <<<"$out"
check "retry-after of 3 years: a warning says it was cut" \
	grep -q "the API asked to wait 100000000 s; senko waits at most 3600 s" <<<"$poll_err"
check "retry-after of 3 years: .retry-after holds at most an hour" \
	test "$(ra_file "$tmp/sw")" -le $(($(date +%s) + 3601))
write_conf "$tmp/w2.conf" "$tmp/sw2" 1 'working_dir = app'
fault_add '{"match":"/commits/","kind":"ratelimit","reset_in":100000000,"count":1}'
poll "$tmp/w2.conf"
check "x-ratelimit-reset 3 years ahead: the wait is an hour" grep -q "no request before .*(in 3600 s)" <<<"$out"
check "x-ratelimit-reset 3 years ahead: .retry-after holds at most an hour" \
	test "$(ra_file "$tmp/sw2")" -le $(($(date +%s) + 3601))
faults_clear
# A .retry-after far in the future (edited, or a clock that jumped back).
mkdir -p "$tmp/sw3/sources"
echo $(($(date +%s) + 100000000)) >"$tmp/sw3/sources/.retry-after"
write_conf "$tmp/w3.conf" "$tmp/sw3" 1 'working_dir = app'
poll "$tmp/w3.conf"
check "a saved wait of 3 years: a new process waits at most an hour" \
	grep -qE "no request before .*\(in 3[56][0-9][0-9] s\)" <<<"$out"
first=$(ra_file "$tmp/sw3")
check "a saved wait of 3 years: rewritten to an hour from now" test "$first" -le $(($(date +%s) + 3601))
in_s() { sed -n 's/.*no request before .*(in \([0-9]*\) s).*/\1/p' <<<"$1" | head -1; }
wait1=$(in_s "$out")
sleep 1.1
poll "$tmp/w3.conf"
wait2=$(in_s "$out")
check "the saved wait does not slide forward with every run ($wait1 s, then $wait2 s)" \
	test "${wait2:-99999}" -lt "${wait1:-0}"
clear_log

# --- an overall deadline per request -----------------------------------------
cat >"$tmp/c.conf" <<CONF
[senkod]
state_dir = $tmp/sc
api_url = $plain_url
token_file =
[source app]
user = acme
repo = fw
working_dir = app
[device d0]
port = $tmp/no-such-port
source = app
CONF
fault_add '{"match":"/git/trees/","kind":"trickle","ms":500}'
t0=$(now_ms)
out=$(SENKO_TOKEN=$token timeout 60 "$senko" -c "$tmp/c.conf" check 2>&1); rc=$?
took=$(($(now_ms) - t0))
check "a server trickling a byte every 0.5 s: senko check fails (exit 1)" test "$rc" = 1
check "a trickling server: the error says the deadline passed" \
	grep -q "no complete answer within 6 s, the deadline for this request" <<<"$out"
check "a trickling server: senko check ends within the deadline (took ${took} ms; deadline 6 s)" \
	test "$took" -lt 15000

# --- a stop request aborts a transfer in progress -----------------------------
# The stall timeout is 60 s here, the deadline 180 s: only the stop can end it.
sed "s|^state_dir = .*|state_dir = $tmp/sd|" "$tmp/c.conf" >"$tmp/d.conf"
clear_log
SENKO_HTTP_TIMEOUT=60 SENKO_TOKEN=$token "$senkod" -c "$tmp/d.conf" --once --foreground \
	>"$tmp/senkod.out" 2>&1 &
pid=$!
deadline=$((SECONDS + 30))
until grep -q "/git/trees/" <<<"$(requests)" || [ $SECONDS -ge $deadline ]; do sleep 0.1; done
sleep 1
t0=$(now_ms)
kill -TERM "$pid"
deadline=$((SECONDS + 30))
while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
took=$(($(now_ms) - t0))
kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
check "SIGTERM during a trickling download: senkod exits within 5 s (took ${took} ms)" \
	test "$took" -lt 5000
check "SIGTERM during a download: the log says it stopped" grep -q "stopped: senko was asked to stop" "$tmp/senkod.out"
faults_clear
clear_log

# --- a tree pager that keeps answering page 1 --------------------------------
write_conf "$tmp/p.conf" "$tmp/sp" 1 'working_dir = app'
fault_add '{"match":"/git/trees/","kind":"tree_page_loop"}'
out=$(SENKO_TOKEN=$token timeout 60 "$helper" -c "$tmp/p.conf" -N 2>"$tmp/poll.err")
faults_clear
check "a pager repeating page 1: the poll fails, saying so" \
	grep -q "poll app error: source 'app': the server answered page 1 of the tree when asked for page 2" <<<"$out"
check "a pager repeating page 1: two tree requests, not thousands" \
	test "$(requests | grep -c /git/trees/)" = 2
check "a pager repeating page 1: nothing saved" test ! -e "$tmp/sp/sources/app/manifest.json"
clear_log

# --- https never follows a redirect to http ------------------------------------
start_server tls --tls "$tmp/tls"
tls_url=$fakegh_url
# The TLS server's control API speaks https: node, trusting the test CA.
node -e '
	const [url, ca, body] = process.argv.slice(1);
	const rq = require("https").request(url, { method: "POST", ca: require("fs").readFileSync(ca) },
		(res) => { res.resume(); res.on("end", () => process.exit(res.statusCode === 200 ? 0 : 1)); });
	rq.on("error", (e) => { console.error(e.message); process.exit(1); });
	rq.end(body);' "${tls_url%/}/_control/faults" "$tmp/tls/ca.pem" "{\"kind\":\"redirect\",\"to\":\"$plain_url\"}"
fakegh_origin=$plain_url
clear_log
CA_FILE=$tmp/tls/ca.pem write_conf "$tmp/r.conf" "$tmp/sr" 1 'working_dir = app'
poll "$tmp/r.conf"
check "https api_url redirected to http: the poll fails" test "$poll_rc" != 0
check "https redirected to http: the error says why" \
	grep -q "poll app error: .*refused a redirect to another protocol .*only followed to https" <<<"$out"
check "https redirected to http: nothing was asked over http" test -z "$(requests)"

# --- a token never goes over plain http but to this machine ---------------------
for url in http://example.invalid http://10.1.2.3:8080/api/v3 'http://127.0.0.1.evil.example'; do
	sed "s|^api_url = .*|api_url = $url|" "$tmp/c.conf" >"$tmp/h.conf"
	out=$(SENKO_TOKEN=$token timeout 60 "$senko" -c "$tmp/h.conf" check 2>&1); rc=$?
	check "token over $url: senko check exits 78" test "$rc" = 78
	check "token over $url: the error says why and what to do" \
		grep -q "is plain http and a token is set (SENKO_TOKEN): refusing to send the token in clear; use https://" <<<"$out"
done
sed "s|^api_url = .*|api_url = http://example.invalid|" "$tmp/c.conf" >"$tmp/h.conf"
out=$(timeout 60 "$senko" -c "$tmp/h.conf" check 2>&1); rc=$?
check "no token over http to another host: not a config error" test "$rc" != 78
tap_done
