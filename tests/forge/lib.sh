# lib.sh - shared setup for the forge suites: a fake GitHub, a git
# repository to serve and senko.conf files pointing at it.
# Source after tap.sh.  Sets: tmp, helper, fakegh_url, fakegh_origin.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${SENKO_BUILD:-build}
helper=$root/$build/tests/helper-forge_poll
tmp=$(mktemp -d)
server_pids=()
cleanup() {
	local p
	for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
unset SENKO_TOKEN GIT_DIR GIT_WORK_TREE
export SENKO_HTTP_TIMEOUT=${SENKO_HTTP_TIMEOUT:-3}
token=s3cret

# start_server NAME [server options...]: sets fakegh_url and fakegh_origin.
start_server() {
	local name=$1 deadline line
	shift
	node "$root/tests/fakegh/server.js" --repos "$tmp/repos" --port 0 \
		--token "$token" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	server_pids+=($!)
	deadline=$((SECONDS + 30))
	while [ $SECONDS -lt $deadline ]; do
		line=$(head -1 "$tmp/$name.out" 2>/dev/null)
		case $line in LISTENING\ *) break ;; esac
		sleep 0.1
	done
	fakegh_url=${line#LISTENING }
	fakegh_origin=$(echo "$fakegh_url" | sed -E 's|^(https?://[^/]*).*|\1|')
	[ -n "$fakegh_url" ] || { echo "Bail out! fake GitHub did not start"; cat "$tmp/$name.err"; exit 1; }
}

# ctl METHOD PATH [JSON]: a call to the fake GitHub's control API (plain
# HTTP through bash's /dev/tcp: starting node per call is slow on a busy
# machine).  Prints the answer's body.
ctl() {
	local hostport=${fakegh_origin#http://} body=${3:-} fd
	exec {fd}<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || return 1
	printf '%s %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
		"$1" "$2" "$hostport" "${#body}" "$body" >&$fd
	sed '1,/^\r$/d' <&$fd
	exec {fd}<&-
}
fault_add() { ctl POST /_control/faults "$1" >/dev/null; }
faults_clear() { ctl DELETE /_control/faults >/dev/null; }
ratelimit_set() { ctl POST /_control/ratelimit "$1" >/dev/null; }
# requests: the log since the last clear, one "STATUS PATH counted|free" a line.
requests() {
	ctl GET /_control/log | sed 's/},{"t"/}\n{"t"/g' | sed -n \
		's/.*"path":"\([^"]*\)","status":\([0-9]*\),.*"counted":\([a-z]*\).*/\2 \1 \3/p' |
		sed 's/ true$/ counted/; s/ false$/ free/'
}
clear_log() { ctl POST /_control/log/clear >/dev/null; }

repo=$tmp/repos/acme/fw
git_() { git -C "$repo" -c user.name=t -c user.email=t@example.com "$@"; }
# commit_files "msg" path=content...: write (or with content "-" delete) and commit.
commit_files() {
	local msg=$1 kv p c
	shift
	for kv in "$@"; do
		p=${kv%%=*}; c=${kv#*=}
		if [ "$c" = - ]; then git_ rm -q "$p"; else
			mkdir -p "$(dirname "$repo/$p")"; printf '%s\n' "$c" >"$repo/$p"; git_ add "$p"; fi
	done
	git_ commit -qm "$msg"
}
make_repo() {
	mkdir -p "$repo"
	git init -q -b main "$repo"
	commit_files init app/main.py='print("main")' app/boot.py='import gc' \
		app/lib/util.py='def f(): pass' README.md=readme docs/a.md=doc
}
head_sha() { git_ rev-parse HEAD; }

# write_conf FILE STATE_DIR NDEVICES [source lines...]: one [source app].
write_conf() {
	local file=$1 state=$2 ndev=$3 i
	shift 3
	{
		printf '[senkod]\nstate_dir = %s\napi_url = %s\ntoken_file =\n' "$state" "$fakegh_url"
		[ -n "${CA_FILE:-}" ] && printf 'ca_file = %s\n' "$CA_FILE"
		printf '[source app]\nuser = acme\nrepo = fw\n'
		# A named branch, so request counts do not include the one
		# default-branch request (default_branch.test.sh has that).
		case " $* " in
		*" branch = "* | *" url = "*) ;;
		*) printf 'branch = main\n' ;;
		esac
		for l in "$@"; do printf '%s\n' "$l"; done
		for ((i = 0; i < ndev; i++)); do
			printf '[device d%d]\nport = /dev/ttyUSB%d\nsource = app\n' "$i" "$i"
		done
	} >"$file"
}

# poll CONF [helper options]: run the helper with the token; output in $out.
poll() {
	local conf=$1
	shift
	out=$(SENKO_TOKEN=${TOKEN-$token} "$helper" -c "$conf" "$@" 2>"$tmp/poll.err")
	poll_rc=$?
	poll_err=$(cat "$tmp/poll.err")
}

# expect_log "desc" "expected lines": compare the request log, then clear it.
expect_log() {
	local got
	got=$(requests)
	if [ "$got" = "$2" ]; then ok "$1"; else
		not_ok "$1"; diag "expected:"; diag "$2"; diag "got:"; diag "$got"; fi
	clear_log
}
# state_sum DIR: a checksum of a state folder's source files.
state_sum() { (cd "$1" && find sources -mindepth 2 -type f | sort | xargs -r md5sum) 2>/dev/null; }
# manifest_of "$out": the JSON lines printed after the summary, without mode.
paths_of() { sed -n 's/^  "\([^"]*\)": {$/\1/p' <<<"$1" | tr '\n' ' '; }
