#!/usr/bin/env bash
# Re-checking a 10,000-file mirror: cold (no index: every file hashed)
# and warm (index: one lstat per file, no reads).  Prints the figures.
set -eu
helper=$PWD/${SENKO_BUILD:-build}/tests/helper-mirror_scan
files=${MIRROR_BENCH_FILES:-10000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/state/devices/bench/mirror
mkdir -p "$root"

# 100 folders of files of 1-8 KiB, like a large MicroPython project.
node -e '
const fs = require("fs"), path = require("path");
const [root, n] = [process.argv[1], +process.argv[2]];
for (let i = 0; i < n; i++) {
	const dir = path.join(root, "pkg" + (i % 100), "sub" + (i % 7));
	fs.mkdirSync(dir, { recursive: true });
	const body = Buffer.alloc(1024 * (1 + (i % 8)), "x" + i);
	fs.writeFileSync(path.join(dir, "mod" + i + ".py"), body);
}' "$root" "$files"
total=$(du -sk "$root" | cut -f1)
echo "mirror: $files files, ${total} KiB on disk"
# Leave the index's racy window (mirror.h) so the warm runs trust it.
sleep 0.2
echo -n "cold (no index):  "; "$helper" "$tmp/state" bench
for run in 1 2 3; do
	echo -n "warm run $run:       "; "$helper" "$tmp/state" bench
done
touch "$root"/pkg0/sub0/*.py
echo -n "warm, 15 touched: "; "$helper" "$tmp/state" bench
