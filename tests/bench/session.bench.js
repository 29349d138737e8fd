// Board session benchmark (issue 10): the README's corpus (40 Python
// files, about 341 KB, plus 64 KB random) at the real 115200 baud on both
// profiles, with a main.py that prints every 100 ms.  For a fresh push, one
// changed 12.5 KB file, and `sync --force` on a board in sync it prints the
// time from the start of `senko sync` until the application prints again,
// the bytes each way, executions and reboots (the emulator's counters).
// In the same run, on a fresh board of the same profile: the mpremote-style
// baseline (mpremote's `fs cp`: one raw-paste execution per 256 bytes of
// w(b'...'), the final name written directly; then a soft reset), and a
// fresh push of the source alone and of the binary alone (wire bytes per
// payload byte), and of main.py alone: the binary's marginal cost is its
// push minus that one, per payload byte (the agent's start and the
// session's fixed commands cancel out).  Last, the same project grown to 2,000 files (1,959 small
// modules more) with one 12.5 KB file changed, on the esp32 profile.  The
// one-change case runs three times in each project; its median is compared.
//
//   node tests/bench/session.bench.js     (or: make bench)
//   BENCH_PROFILES=esp32 BENCH_BIG=0 ...  fewer cases
//   BENCH_MAIN_ONLY=1: only the fresh push, one change and --force (no
//   parts, no baseline); BENCH_SKIP_MAIN=1: all but those
//   BENCH_BOARD_ARGS="--flash-erase-us 0 --flash-prog-us 0": more emulator
//   options for the boards (here: no flash chip time), to take a cost apart
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const h = require('../lib/harness');
const { Port } = require('../board/client');

const TICKER = h.TICKER;
const PROFILES = (process.env.BENCH_PROFILES ?? 'esp32 esp8266').split(' ').filter(Boolean);
const BIG = process.env.BENCH_BIG !== '0';
// More emulator options for the main project's boards, to take a cost
// apart (e.g. "--flash-erase-us 0 --flash-prog-us 0": no flash chip).
const EXTRA_ARGS = (process.env.BENCH_BOARD_ARGS ?? '').split(' ').filter(Boolean);

function source(i, bytes, version) {
  const lines = [`# module ${i}, version ${version}`, 'import time', ''];
  for (let f = 0; lines.join('\n').length < bytes; f++)
    lines.push(`def handler_${i}_${f}(event, state):`,
      `    """Handle event ${f} of module ${i}."""`,
      `    value = state.get("key_${f}", ${f * 7 % 13})`,
      '    if value > 3:', `        return value * ${version}`, '    return None', '');
  return lines.join('\n').slice(0, bytes);
}

function corpus() {
  const files = { 'app/main.py': TICKER };
  for (let i = 0; i < 39; i++) files[`app/lib/mod${i}.py`] = source(i, i === 0 ? 12500 : 8400, 1);
  files['app/data/blob.bin'] = Buffer.concat(Array.from({ length: 2048 }, (_, i) => crypto.createHash('sha256').update(String(i)).digest()));
  return files;
}

const bytesOf = (files) => Object.values(files).reduce((n, c) => n + Buffer.byteLength(c), 0);
const pick = (files, re) => Object.fromEntries(Object.entries(files).filter(([p]) => re.test(p)));

// Milliseconds until the application prints a tick on the board's port.
async function untilTick(link, since) {
  const p = new Port(link);
  try {
    for (;;) {
      if (/tick \d+/.test(p.buf.toString('latin1'))) return Date.now() - since;
      if (Date.now() - since > 600000) return NaN;
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    p.close();
  }
}

function report(what, ms, d, payload, failed) {
  console.log(`  ${what.padEnd(30)} ${failed ? 'FAILED ' : ''}${(ms / 1000).toFixed(2)} s to the app's next line, ` +
    `host->board ${d('rx_bytes')} B${payload ? ` (${(d('rx_bytes') / payload).toFixed(3)} per payload byte)` : ''}, ` +
    `board->host ${d('tx_bytes')} B, ${d('executions')} executions, ${d('soft_resets')} soft resets, ` +
    `${(d('flash_busy_us') / 1e6).toFixed(2)} s waiting for the flash chip, ${(d('rx_wait_us') / 1e6).toFixed(2)} s for the line`);
}

// rx (optional) gets the host->board bytes.
async function measure(board, what, args, conf, payload = 0, rx = {}) {
  const before = board.counters();
  const start = Date.now();
  const r = await h.senko(['-c', conf, ...(process.env.BENCH_LOG ? ['-vv'] : []), 'sync', ...args]);
  if (process.env.BENCH_LOG) fs.appendFileSync(process.env.BENCH_LOG, r.stderr);
  const ms = await untilTick(board.link, start);
  const after = board.counters();
  report(what, ms, (k) => after[k] - before[k], payload, r.code !== 0);
  rx.bytes = after.rx_bytes - before.rx_bytes;
  if (r.code !== 0) console.log(r.stderr);
  return ms;
}

// One 12.5 KB file changed, three times (three commits, each a new
// version of the same file): a run on a shared machine varies by a tenth
// of a second, so the figure compared is the median.  Returns it.
async function oneChange(board, repo, conf) {
  const runs = [];
  for (let v = 2; v <= 4; v++) {
    repo.commit({ 'app/lib/mod0.py': source(0, 12500, v) });
    runs.push(await measure(board, 'one 12.5 KB file changed', [], conf));
  }
  const median = [...runs].sort((a, b) => a - b)[1];
  console.log(`  one change, median of ${runs.map((ms) => (ms / 1000).toFixed(2)).join(', ')} s: ${(median / 1000).toFixed(2)} s`);
  return median;
}

// Python's repr() of bytes, as mpremote puts file data in its code.
function bytesRepr(b) {
  let s = "b'";
  for (const c of b) {
    if (c === 0x5c || c === 0x27) s += '\\' + String.fromCharCode(c);
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x09) s += '\\t';
    else if (c < 0x20 || c >= 0x7f) s += '\\x' + c.toString(16).padStart(2, '0');
    else s += String.fromCharCode(c);
  }
  return s + "'";
}

// mpremote's fs cp of every file (tools/mpremote/mpremote/transport_serial.py
// fs_writefile: "f=open(...,'wb')\nw=f.write", then w(<256 bytes>) per
// execution, then f.close()), folders made first; then a soft reset, as
// `mpremote cp ... + reset` would leave it.
async function baseline(board, files, dest) {
  const before = board.counters();
  const start = Date.now();
  const p = new Port(board.link);
  await p.enterRaw();
  const dirs = new Set();
  for (const f of Object.keys(files))
    for (let d = path.dirname(f); d !== '.'; d = path.dirname(d)) dirs.add(d);
  for (const d of [...dirs].sort())
    await p.execPaste(`try:\n import os\n os.mkdir('/${d.slice(dest.length)}')\nexcept OSError:\n pass`);
  for (const [f, content] of Object.entries(files)) {
    const b = Buffer.from(content);
    await p.execPaste(`f=open('/${f.slice(dest.length)}','wb')\nw=f.write`);
    for (let off = 0; off < b.length; off += 256)
      await p.execPaste(`w(${bytesRepr(b.subarray(off, off + 256))})`, 30000);
    await p.execPaste('f.close()');
  }
  p.write('\x02\x04');
  p.close();
  const ms = await untilTick(board.link, start);
  const after = board.counters();
  report('baseline (mpremote way)', ms, (k) => after[k] - before[k], bytesOf(files), false);
  return ms;
}

async function project(T, name, files, baud, args) {
  const repos = path.join(T, `repos-${name}`);
  const repo = h.makeRepo(repos, 'acme', 'fw', files);
  // Packed, as GitHub keeps its repositories: with every object loose,
  // the fake server's `git ls-tree -l` (the tree API's sizes) opened all
  // 2,000 of them, 85 ms of the 2,000-file case against 12 ms packed.
  execFileSync('git', ['-C', repo.dir, 'gc', '-q']);
  // Without the anonymous 60 requests: 2,000 blobs.
  const gh = await h.startGitHub({ repos, args: ['--rate-limit', '100000'] });
  const board = await h.startBoard({ dir: T, name, baud, args });
  const conf = h.writeConfig(path.join(T, `${name}.conf`), {
    senkod: { state_dir: path.join(T, `${name}-state`), api_url: gh.base },
    sources: { app: { user: 'acme', repo: 'fw', working_dir: 'app' } },
    devices: { b: { port: board.link, baud, source: 'app', boot_watch: 0 } },
  });
  return { repo, gh, board, conf, async stop() { await board.stop(); gh.stop(); } };
}

async function run(profile) {
  const T = h.tmpdir(`bench-${profile}`);
  // The profile's heap as the software sees it (gc.mem_free(), which
  // decides the agent's start and the inflate window), but allocations
  // not held to it (--heap-soft): the emulator cannot collect garbage
  // inside one execution (the WebAssembly port collects only between
  // executions, ports/webassembly/main.c gc_collect), and one agent run
  // writing 41 files allocates more than a board's heap in all (a board
  // collects).
  const args = ['--profile', profile, '--heap-soft', ...EXTRA_ARGS];
  const files = corpus();
  const total = bytesOf(files);
  console.log(`${profile}: ${Object.keys(files).length} files, ${total} bytes, 115200 baud`);
  let fresh = NaN;
  let one = NaN;
  if (!process.env.BENCH_SKIP_MAIN) {
    const m = await project(T, 'main', files, 115200, args);
    fresh = await measure(m.board, 'fresh push', [], m.conf, total);
    one = await oneChange(m.board, m.repo, m.conf);
    await measure(m.board, 'sync --force, in sync', ['--force'], m.conf);
    await m.stop();
    if (process.env.BENCH_MAIN_ONLY) return one;
  }
  // Each with main.py (the app that says the board runs again); the
  // ratio is taken over the part's own bytes.
  const rx = {};
  for (const [what, re] of [['source', /\.py$/], ['binary', /\.bin$/], ['main.py', /\/main\.py$/]]) {
    const part = pick(files, re);
    const s = await project(T, what.replace('.', ''), { ...part, 'app/main.py': TICKER }, 115200, args);
    rx[what] = {};
    await measure(s.board, `fresh push, ${what} only`, [], s.conf, what === 'main.py' ? 0 : bytesOf(part), rx[what]);
    await s.stop();
  }
  console.log(`  binary, marginal: ${((rx.binary.bytes - rx['main.py'].bytes) / bytesOf(pick(files, /\.bin$/))).toFixed(3)} ` +
    'wire bytes per payload byte (fresh push, binary only, minus main.py only)');
  const b = await project(T, 'base', { 'app/README': 'x' }, 115200, args);
  const base = await baseline(b.board, pick(files, /^app\//), 'app/');
  await b.stop();
  console.log(`  fresh push: ${(base / fresh).toFixed(2)}x faster than the baseline`);
  return one;
}

// The project grown to 2,000 files: the files are put into the board's
// flash folder and a first sync at 1,000,000 baud finds them there (it
// hashes them on the board and writes only senko's record; not
// measured), then the board starts again at 115200 for the measured
// change.
async function runBig(one41) {
  const T = h.tmpdir('bench-big');
  const files = corpus();
  for (let i = 0; Object.keys(files).length < 2000; i++)
    files[`app/pkg${i % 20}/m${i}.py`] = `# small module ${i}\nVALUE = ${i}\n`;
  console.log(`esp32: ${Object.keys(files).length} files, ${bytesOf(files)} bytes`);
  h.writeTree(path.join(T, 'big.flash'), files, 'app/');
  // The esp32 profile's heap, not enforced (--heap-soft; see run()):
  // walking 2,000 entries in one run allocates more than a board's heap
  // holds, which a board collects and the emulator cannot.
  const args = ['--profile', 'esp32', '--heap-soft'];
  const fill = await project(T, 'big', files, 1000000, args);
  const r = await h.senko(['-c', fill.conf, 'sync'], { timeout: 1800000 });
  if (r.code !== 0) console.log(r.stderr);
  await fill.board.stop();
  const board = await h.startBoard({ dir: T, name: 'big', baud: 115200, args });
  const conf = h.writeConfig(path.join(T, 'big115200.conf'), {
    senkod: { state_dir: path.join(T, 'big-state'), api_url: fill.gh.base },
    sources: { app: { user: 'acme', repo: 'fw', working_dir: 'app' } },
    devices: { b: { port: board.link, baud: 115200, source: 'app', boot_watch: 0 } },
  });
  await measure(board, 'sync --force, in sync', ['--force'], conf);
  const one = await oneChange(board, fill.repo, conf);
  console.log(`  one changed file: ${(one / 1000).toFixed(2)} s with 2,000 files` +
    `${one41 ? `, ${((one / one41 - 1) * 100).toFixed(0)} % over the 41-file figure` : ''} (medians)`);
  await board.stop();
  fill.gh.stop();
}

(async () => {
  let one41 = 0;
  for (const profile of PROFILES) {
    const one = await run(profile);
    if (profile === 'esp32') one41 = one;
  }
  if (BIG) await runBig(one41);
  process.exit(0);
})();
