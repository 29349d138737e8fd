// Fleet benchmark (issue 6): the same update pushed to 1, 4 and 8 emulated
// boards at the real 115200 baud.  Prints wall time, API requests, blobs
// downloaded and the peak RSS of senkod --once, then the time to re-check
// a 10,000-file mirror is left to mirror.bench.sh.
//
//   node tests/bench/fleet.bench.js     (or: make bench)
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const h = require('../lib/harness');

// Deterministic Python-like source: 12 files of about 4 KB.
function source(i, version) {
  const lines = [`# module ${i}, version ${version}`, 'import time', ''];
  for (let f = 0; lines.join('\n').length < 4000; f++)
    lines.push(`def handler_${i}_${f}(event, state):`,
      `    """Handle event ${f} of module ${i}."""`,
      `    value = state.get("key_${f}", ${f * 7 % 13})`,
      '    if value > 3:', `        return value * ${version}`, '    return None', '');
  return lines.join('\n');
}

// senkod --once under python's getrusage: exit code, seconds, peak RSS KiB.
function timed(conf) {
  const py = 'import os,resource,subprocess,sys,time\n' +
    't=time.monotonic();r=subprocess.run(sys.argv[1:],stderr=None if os.environ.get("FLEET_LOG") else subprocess.DEVNULL)\n' +
    'print(r.returncode, time.monotonic()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
  const out = execFileSync('python3', ['-c', py, h.SENKOD, '-c', conf, '--once', '-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const [code, secs, rss] = out.trim().split(' ');
  return { code: Number(code), secs: Number(secs), rss: Number(rss) };
}

async function run(n) {
  const T = h.tmpdir(`fleet${n}`);
  const files = {};
  for (let i = 0; i < 12; i++) files[`app/mod${i}.py`] = source(i, 1);
  const repo = h.makeRepo(path.join(T, 'repos'), 'acme', 'fw', files);
  const gh = await h.startGitHub({ repos: path.join(T, 'repos') });
  const boards = await Promise.all(Array.from({ length: n }, (_, i) =>
    h.startBoard({ dir: T, name: `b${i}`, baud: 115200 })));
  const devices = {};
  for (const b of boards) devices[b.name] = { port: b.link, source: 'app', reset: 'none' };
  const conf = h.writeConfig(path.join(T, 'senko.conf'), {
    senkod: { state_dir: path.join(T, 'state'), api_url: gh.base, jobs: 8 },
    sources: { app: { user: 'acme', repo: 'fw', working_dir: 'app' } },
    devices,
  });
  const first = timed(conf);
  // The update: three of the twelve files change.
  const change = {};
  for (const i of [1, 5, 9]) change[`app/mod${i}.py`] = source(i, 2);
  repo.commit(change);
  await gh.clearLog();
  const upd = timed(conf);
  const log = await gh.log();
  const result = {
    boards: n, first_s: first.secs.toFixed(1), update_s: upd.secs.toFixed(1),
    requests: log.length, blobs: log.filter((e) => e.path.includes('/git/blobs/')).length,
    peak_rss_kib: Math.max(first.rss, upd.rss), exit: `${first.code}/${upd.code}`,
  };
  await Promise.all(boards.map((b) => b.stop()));
  gh.stop();
  return result;
}

(async () => {
  const rows = [];
  for (const n of (process.env.FLEET_BOARDS || '1,4,8').split(',').map(Number)) rows.push(await run(n));
  console.log('boards  first sync  update (3 of 12 files)  API requests  blobs  peak RSS');
  for (const r of rows)
    console.log(`${String(r.boards).padStart(6)}  ${r.first_s.padStart(8)} s  ${r.update_s.padStart(20)} s` +
      `  ${String(r.requests).padStart(12)}  ${String(r.blobs).padStart(5)}  ${(r.peak_rss_kib / 1024).toFixed(1)} MB  (exit ${r.exit})`);
  const one = Number(rows[0].update_s), eight = Number(rows[rows.length - 1].update_s);
  if (rows.length === 3) console.log(`8 boards / 1 board wall time: ${(eight / one).toFixed(2)} (target <= 1.3)`);
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
