// Board session benchmark (issue 10): the README's corpus (40 Python
// files, about 341 KB, plus 64 KB random) at the real 115200 baud on both
// profiles, with a main.py that prints every 100 ms.  For a fresh push, one
// changed 12.5 KB file, and `sync --force` on a board in sync it prints the
// time from the start of `senko sync` until the application prints again,
// the bytes each way, executions and reboots (the emulator's counters).
//
//   node tests/bench/session.bench.js     (or: make bench)
'use strict';

const path = require('path');
const crypto = require('crypto');
const h = require('../lib/harness');
const { Port } = require('../board/client');

const TICKER = 'import time\nn = 0\nwhile True:\n    print("tick", n)\n    n += 1\n    time.sleep(0.1)\n';

function source(i, bytes, version) {
  const lines = [`# module ${i}, version ${version}`, 'import time', ''];
  for (let f = 0; lines.join('\n').length < bytes; f++)
    lines.push(`def handler_${i}_${f}(event, state):`,
      `    """Handle event ${f} of module ${i}."""`,
      `    value = state.get("key_${f}", ${f * 7 % 13})`,
      '    if value > 3:', `        return value * ${version}`, '    return None', '');
  return lines.join('\n').slice(0, bytes);
}

// Milliseconds until the application prints a tick on the board's port.
async function untilTick(link, since) {
  const p = new Port(link);
  try {
    for (;;) {
      if (/tick \d+/.test(p.buf.toString('latin1'))) return Date.now() - since;
      if (Date.now() - since > 60000) return NaN;
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    p.close();
  }
}

async function measure(board, what, args, conf) {
  const before = board.counters();
  const start = Date.now();
  const r = await h.senko(['-c', conf, 'sync', ...args]);
  const ms = await untilTick(board.link, start);
  const after = board.counters();
  const d = (k) => after[k] - before[k];
  console.log(`  ${what.padEnd(26)} ${r.code === 0 ? '' : 'FAILED '}${(ms / 1000).toFixed(2)} s to the app's next line, ` +
    `host->board ${d('rx_bytes')} B, board->host ${d('tx_bytes')} B, ` +
    `${d('executions')} executions, ${d('soft_resets')} soft resets`);
  if (r.code !== 0) console.log(r.stderr);
}

async function run(profile, args) {
  const T = h.tmpdir(`bench-${profile}`);
  const files = { 'app/main.py': TICKER };
  for (let i = 0; i < 39; i++) files[`app/lib/mod${i}.py`] = source(i, i === 0 ? 12500 : 8400, 1);
  files['app/data/blob.bin'] = Buffer.concat(Array.from({ length: 2048 }, (_, i) => crypto.createHash('sha256').update(String(i)).digest()));
  const repo = h.makeRepo(path.join(T, 'repos'), 'acme', 'fw', files);
  const gh = await h.startGitHub({ repos: path.join(T, 'repos') });
  const board = await h.startBoard({ dir: T, name: 'b', baud: 115200, args });
  const conf = h.writeConfig(path.join(T, 'senko.conf'), {
    senkod: { state_dir: path.join(T, 'state'), api_url: gh.base },
    sources: { app: { user: 'acme', repo: 'fw', working_dir: 'app' } },
    devices: { b: { port: board.link, baud: 115200, source: 'app', boot_watch: 0 } },
  });
  const total = Object.values(files).reduce((n, c) => n + Buffer.byteLength(c), 0);
  console.log(`${profile}: ${Object.keys(files).length} files, ${total} bytes, 115200 baud`);
  await measure(board, 'fresh push', [], conf);
  repo.commit({ 'app/lib/mod0.py': source(0, 12500, 2) });
  await measure(board, 'one 12.5 KB file changed', [], conf);
  await measure(board, 'sync --force, in sync', ['--force'], conf);
  await board.stop();
  gh.stop();
}

(async () => {
  // The emulator cannot collect garbage inside one execution, and its
  // stdin/stdout shims allocate on every call (more calls per byte at a
  // slow baud), so one agent run moving 400 KB exhausts any board-sized
  // heap there although a board collects it: no heap limit here.
  await run('esp32', ['--profile', 'esp32', '--heap', '0']);
  await run('esp8266', ['--profile', 'esp8266', '--heap', '0']);
  process.exit(0);
})();
