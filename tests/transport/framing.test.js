// File data on the wire (issue 10: binary <= 1.02 wire bytes per payload
// byte): a put's data goes in 'D' units of up to PIECES pieces of UNIT
// bytes (src/board/agent.py's header).  What it costs, counted by the emulated
// board, and what a host killed in the middle of such a unit leaves: the
// next `senko sync` must get in without filler.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('framing');
const REPOS = path.join(T, 'repos');
const MAIN = 'print("app")\n';
// agent.h AGENT_FOREIGN: bytes the host never puts at the start of a
// unit's later piece (it ends the unit early instead).
const FOREIGN = [0x01, 0x02, 0x03, 0x04, 0x0d, 0x7a];
// The payload of a full 'D' unit, from agent.py's constants.
const AGENT_PY = fs.readFileSync(path.join(__dirname, '../../src/board/agent.py'), 'utf8');
const constant = (name) => Number(AGENT_PY.match(new RegExp(`^${name} = (\\d+)$`, 'm'))[1]);
const UNIT_DATA = constant('PIECES') * constant('UNIT') - 5;
let gh;

test.before(async () => {
  fs.mkdirSync(REPOS, { recursive: true });
  gh = await h.startGitHub({ repos: REPOS });
});

test.after(() => { if (gh) gh.stop(); });

function config(name, board, repo) {
  return h.writeConfig(path.join(T, `${name}.conf`), {
    senkod: { state_dir: path.join(T, `${name}-state`), api_url: gh.base },
    sources: { app: { user: 'acme', repo, working_dir: 'app' } },
    devices: { [name]: { port: board.link, baud: 1000000, source: 'app', boot_watch: 0 } },
  });
}

// A fresh board, one `senko sync` of repo, the board stopped (it writes
// its counters and flash back as it exits): {r, counters, files}.
async function freshPush(name, repo) {
  const board = await h.startBoard({ dir: T, name });
  let r;
  try {
    r = await h.senko(['-c', config(name, board, repo), 'sync']);
  } finally {
    await board.stop();
  }
  return { r, counters: board.counters(), files: h.readTree(board.flash) };
}

test('a fresh push of random data costs at most 1.02 wire bytes per byte over the same push without it', async (t) => {
  const size = 64 * 1024;
  const bin = crypto.randomBytes(size);
  h.makeRepo(REPOS, 'acme', 'plain', { 'app/main.py': MAIN });
  h.makeRepo(REPOS, 'acme', 'binary', { 'app/main.py': MAIN, 'app/data/r.bin': bin });
  const without = await freshPush('plain', 'plain');
  const withBin = await freshPush('binary', 'binary');
  assert.equal(without.r.code, 0, without.r.stderr);
  assert.equal(withBin.r.code, 0, withBin.r.stderr);
  assert.ok(withBin.files['data/r.bin'] && withBin.files['data/r.bin'].equals(bin),
    'r.bin did not arrive intact');
  // The two sessions differ in the file only: the same executions, and
  // the agent cached (or not) in both, else the difference measures that.
  assert.equal(withBin.counters.executions, without.counters.executions, 'executions differ');
  const cached = (t) => Object.keys(t.files).filter((f) => f.startsWith('.senko/')).sort();
  assert.deepEqual(cached(withBin), cached(without), 'the agent\'s cache differs');
  const ratio = (withBin.counters.rx_bytes - without.counters.rx_bytes) / size;
  t.diagnostic(`host->board: ${without.counters.rx_bytes} B without the file, ` +
    `${withBin.counters.rx_bytes} B with it: ${ratio.toFixed(4)} per payload byte`);
  assert.ok(ratio >= 1, `less than one wire byte per payload byte (${ratio}): not what was measured`);
  assert.ok(ratio <= 1.02, `${ratio.toFixed(4)} wire bytes per payload byte`);
});

test('a host killed inside a data unit: the next senko sync gets in and completes, without filler', async () => {
  const board = await h.startBoard({ dir: T, name: 'orphan' });
  // Random bytes without AGENT_FOREIGN ones: every 'D' unit carries
  // PIECES * UNIT - 5 bytes, so 500 bytes into the fifth unit the host is
  // killed inside it, and the unit's later pieces are never sent.
  const big = crypto.randomBytes(48 * 1024).map((b) => (FOREIGN.includes(b) ? b ^ 0x80 : b));
  const local = path.join(T, 'orphan.bin');
  fs.writeFileSync(local, big);
  const killed = await new Promise((resolve) => {
    const c = h.track(spawn(path.join(h.BUILD, 'tests/helper-agent'),
      ['-b', '1000000', '-K', String(4 * UNIT_DATA + 500), board.link, 'put', '/big.bin', local],
      { stdio: 'ignore' }));
    c.on('exit', (code, signal) => resolve(signal));
  });
  assert.equal(killed, 'SIGKILL', 'the host was not killed mid-file');
  h.makeRepo(REPOS, 'acme', 'orphan', { 'app/main.py': MAIN, 'app/lib/util.py': 'X = 1\n' });
  const started = Date.now();
  let r;
  try {
    r = await h.senko(['-v', '-c', config('orphan', board, 'orphan'), 'sync']);
  } finally {
    await board.stop();
  }
  const ms = Date.now() - started;
  assert.equal(r.code, 0, r.stderr);
  // At the first attempt: the agent stopped at the first byte of it (an
  // agent that took it for data holds the line until repl.c gives up,
  // after 10 s; one that waited for its idle timeout, 5 s, would need
  // more attempts).
  const entered = r.stderr.match(/raw REPL after (\d+) attempt/);
  assert.ok(entered, r.stderr);
  assert.equal(entered[1], '1', entered[0]);
  assert.ok(ms < 60000, `the sync took ${ms} ms`);
  const files = h.readTree(board.flash);
  assert.equal(String(files['main.py']), MAIN);
  assert.equal(String(files['lib/util.py']), 'X = 1\n');
  assert.ok(!files['big.bin'], 'a half-sent file under its real name');
  assert.deepEqual(Object.keys(files).filter((f) => f.endsWith('.senko-tmp')), [], 'temporary files left');
});
