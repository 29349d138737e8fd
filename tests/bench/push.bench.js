'use strict';
// Push benchmark: devfs_push against the mpremote way of copying, on the
// emulated board at 115200 baud with a 256-byte FIFO (ESP32 and ESP8266
// profiles).  Corpus, made at run time from fixed seeds: about 300 KB of
// application-like Python source in 40 files, plus one 64 KB random binary.
//
// Figures: wire bytes (host to board, whole session including the probe)
// per payload byte, payload throughput as a share of the line's 11,520 B/s,
// dropped bytes, and wall time of: a fresh push, a push where one file
// changed and one where nothing changed (both with --skip-same: the helper
// hashes each file on the board and pushes only those that differ), and
// the mpremote-style baseline (one raw-paste run per 256 bytes of
// w(b'...'), final name written directly).
//
//   node tests/bench/push.bench.js            (make bench runs it)
//   BENCH_BOARD_ARGS="--heap 0" ...            extra emulator options
//   SENKO_BOARD_JS=/path/board.js ...          another emulator build

const fs = require('fs');
const path = require('path');
const L = require('../push/lib');

const LINE = 11520;
const EXTRA = (process.env.BENCH_BOARD_ARGS || '').split(' ').filter(Boolean);
const PROFILES = (process.env.BENCH_PROFILES || 'esp32 esp8266').split(' ');

function makeCorpus() {
  const src = {};
  for (let i = 0; i < 40; i++) {
    // 2.5 .. 12.5 KB, about 300 KB in all.
    const size = 2500 + ((i * 7919) % 40) * 250;
    src[`app/mod${String(i).padStart(2, '0')}.py`] = L.pythonSource(1000 + i, size);
  }
  const bin = { 'data/blob.bin': L.randomBytes(4242, 65536) };
  return { src, bin };
}

const { src, bin } = makeCorpus();
const bytesOf = (files) => Object.values(files).reduce((n, d) => n + Buffer.byteLength(d), 0);
const dirs = {};
for (const [name, files] of Object.entries({ src, bin, all: { ...src, ...bin } })) {
  dirs[name] = L.tmpdir('bench-' + name);
  L.writeTree(dirs[name], files);
}
const changed = L.tmpdir('bench-changed');
L.writeTree(changed, { ...src, ...bin });
fs.appendFileSync(path.join(changed, 'app/mod07.py'), '\n# one line changed\n');

async function run(profile, flash, dir, opts) {
  const b = await L.startBoard(flash, ['--profile', profile, '--baud', '115200', '--fifo', '256', ...EXTRA]);
  const r = await L.push(b.path, dir, opts, 900000);
  await b.stop();
  const c = b.counters();
  const m = /pushed (\d+) failed (\d+) skipped (\d+)/.exec(r.stdout) || [0, '?', '?', '?'];
  return { ms: r.ms, code: r.code, rx: c.rx_bytes, tx: c.tx_bytes, dropped: c.dropped_bytes,
    pushed: m[1], failed: m[2], skipped: m[3], err: r.stderr.split('\n').filter((l) => /error/.test(l)).slice(0, 2).join(' | ') };
}

function line(label, payload, r) {
  const s = r.ms / 1000;
  const thr = payload ? (payload / s / LINE) : 0;
  console.log(`  ${label.padEnd(24)} ${s.toFixed(1).padStart(6)} s  wire/payload ${payload ? (r.rx / payload).toFixed(3) : '   -  '}`
    + `  throughput ${(thr * 100).toFixed(0).padStart(3)}% of line  rx ${r.rx}  dropped ${r.dropped}`
    + `  pushed ${r.pushed} failed ${r.failed} skipped ${r.skipped}${r.code ? '  EXIT ' + r.code + ' ' + r.err : ''}`);
}

(async () => {
  const pSrc = bytesOf(src);
  const pBin = bytesOf(bin);
  const pAll = pSrc + pBin;
  console.log(`corpus: ${Object.keys(src).length} Python files, ${pSrc} bytes; binary ${pBin} bytes; 115200 baud, FIFO 256${EXTRA.length ? ', emulator ' + EXTRA.join(' ') : ''}`);
  for (const profile of PROFILES) {
    console.log(`profile ${profile}:`);
    const flash = L.tmpdir('bench-flash');
    const fresh = await run(profile, flash, dirs.all, []);
    line('fresh push', pAll, fresh);
    const one = await run(profile, flash, changed, ['--skip-same']);
    line('one file changed', Buffer.byteLength(fs.readFileSync(path.join(changed, 'app/mod07.py'))), one);
    const none = await run(profile, flash, changed, ['--skip-same']);
    line('nothing changed', 0, none);
    const s = await run(profile, L.tmpdir('bench-flash'), dirs.src, []);
    line('source only (fresh)', pSrc, s);
    const bn = await run(profile, L.tmpdir('bench-flash'), dirs.bin, []);
    line('binary only (fresh)', pBin, bn);
    const base = await run(profile, L.tmpdir('bench-flash'), dirs.all, ['--baseline']);
    line('baseline (mpremote way)', pAll, base);
    console.log(`  fresh push is ${(base.ms / fresh.ms).toFixed(2)}x faster than the baseline; `
      + `wire bytes ${(fresh.rx / base.rx).toFixed(2)}x of the baseline's`);
  }
  await L.stopAll();
})().catch(async (e) => {
  console.error(e);
  await L.stopAll();
  process.exit(1);
});
