#!/usr/bin/env bash
# Hostile answers never reach a manifest; TLS with the test CA works and
# without it fails clearly; a GitHub Enterprise prefix and truncated trees
# give the same manifest as the plain API.
set -u
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/lib.sh"

make_repo
start_server srv
plain_url=$fakegh_url
good="README.md app/boot.py app/lib/util.py app/main.py docs/a.md "

for api in trees contents; do
	write_conf "$tmp/$api.conf" "$tmp/s-$api" 1 "api = $api"
	fault_add '{"kind":"hostile_paths"}'
	poll "$tmp/$api.conf" -j
	faults_clear
	check "$api: hostile answer: the poll succeeds" test "$poll_rc" = 0
	check "$api: hostile paths never appear in the manifest" test "$(paths_of "$out")" = "$good"
	check "$api: absolute path refused and logged" grep -q "refusing entry '/etc/passwd': absolute path" <<<"$poll_err"
	check "$api: '..' refused and logged" grep -q "refusing entry '../escape.py': '..' component" <<<"$poll_err"
	check "$api: hidden '..' refused and logged" grep -q "refusing entry 'a/../../b.py': '..' component" <<<"$poll_err"
	check "$api: control character refused and logged" grep -q "refusing entry '\\\\x01x.py': control character" <<<"$poll_err"
	check "$api: NUL refused and logged" grep -q "refusing entry '\\\\x00x.py': NUL byte in path" <<<"$poll_err"
	check "$api: lone surrogate refused and logged" grep -q "refusing entry '\\\\x01.py': control character" <<<"$poll_err"
	check "$api: symlink skipped with a warning" grep -q "skipping symbolic link 'evil-link.py'" <<<"$poll_err"
	check "$api: submodule skipped with a warning" grep -q "skipping submodule 'evil-submodule'" <<<"$poll_err"
	check "$api: no hostile blob stored" test "$(find "$tmp/s-$api/objects" -type f | wc -l)" = 5
	check "$api: state saved without them" test "$("$helper" -c "$tmp/$api.conf" -s -j | paths_of "$(cat)")" = "$good"
done

# Names no git tree can hold (a path twice, a file that is also a folder):
# the poll fails and what was saved stays.
for api in trees contents; do
	saved=$("$helper" -c "$tmp/$api.conf" -s -j)
	commit_files "conflict-$api" "app/lib/util.py=def f(): return '$api'"
	fault_add '{"kind":"conflicting_paths"}'
	poll "$tmp/$api.conf"
	faults_clear
	check "$api: conflicting names: the poll fails" test "$poll_rc" != 0
	check "$api: conflicting names: said, naming the path" grep -Eq \
		"the server lists '[^']+' (twice|as a file and as a folder) in commit [0-9a-f]{12}, which no git tree can hold" <<<"$out$poll_err"
	check "$api: conflicting names: the saved file list stays" \
		test "$("$helper" -c "$tmp/$api.conf" -s -j)" = "$saved"
	poll "$tmp/$api.conf"
	check "$api: conflicting names: the next honest answer is taken" test "$poll_rc" = 0
done

trees_json=$(poll "$tmp/trees.conf" -j -N; sed -n '/^{$/,/^}$/p' <<<"$out")

# HTTPS with the test CA, under a GitHub Enterprise prefix, with trees
# truncated after 3 entries so the client walks subtrees.
start_server tls --tls "$tmp/tls" --prefix /api/v3 --truncate-trees 3 --log "$tmp/tls.log"
check "TLS server URL has the prefix" grep -q '^https://127.0.0.1:[0-9]*/api/v3$' <<<"$fakegh_url"
CA_FILE=$tmp/tls/ca.pem write_conf "$tmp/tls.conf" "$tmp/s-tls" 1
poll "$tmp/tls.conf" -j -N
check "TLS with ca_file: the poll succeeds" test "$poll_rc" = 0
check "truncated tree: the subtree walk gives the same manifest" \
	test "$(sed -n '/^{$/,/^}$/p' <<<"$out")" = "$trees_json"
check "truncated tree: logged" grep -q "is truncated; reading its folders one by one" <<<"$poll_err"
paths=$(sed -n 's/.*"path":"\([^"]*\)".*/\1/p' "$tmp/tls.log" | sed 's/[0-9a-f]\{40\}/SHA/g')
check "truncated tree: head, truncated tree, then root and 3 folders" test "$paths" = "/repos/acme/fw/commits/main
/repos/acme/fw/git/trees/SHA?recursive=1
/repos/acme/fw/git/trees/SHA
/repos/acme/fw/git/trees/SHA
/repos/acme/fw/git/trees/SHA
/repos/acme/fw/git/trees/SHA"
CA_FILE=$tmp/tls/ca.pem write_conf "$tmp/tls-wd.conf" "$tmp/s-tls-wd" 1 'working_dir = app' 'files = main.py'
: >"$tmp/tls.log"
poll "$tmp/tls-wd.conf" -j -N
check "truncated tree with working_dir: only the folders on the way" test "$(paths_of "$out")" = "main.py "
check "truncated tree with working_dir: 1 + 1 + 2 requests" test "$(wc -l <"$tmp/tls.log")" = 4
write_conf "$tmp/notrust.conf" "$tmp/s-notrust" 1
poll "$tmp/notrust.conf"
check "TLS without ca_file: fails" test "$poll_rc" != 0
check "TLS without ca_file: a clear certificate error" \
	grep -q "poll app error: .*TLS certificate problem: .*ca_file must name its certificate bundle" <<<"$out"
check "TLS without ca_file: nothing saved" test ! -e "$tmp/s-notrust/sources/app/state.json"
tap_done
