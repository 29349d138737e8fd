// Rollback (issue 13): a power cut during the automatic rollback itself
// leaves the board with the old or the new files only, and the next
// session completes the rollback; `senko rollback` by hand works while
// senkod runs, and senkod does not bring the commit back; senkod
// releases a soaked ring when the soak ends, not an interval later.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');
const { app, prints } = require('./app');

const T = h.tmpdir('rollback');
// Good commit A, and B whose main.py raises at import.  Several files,
// so the rollback is a multi-file commit.
const A = { 'main.py': app('A'), 'lib/a.py': 'A = 1\n' + '# a\n'.repeat(200), 'lib/b.py': 'B = 1\n' };
const B = { 'main.py': 'import no_such_module\n' + app('B'), 'lib/a.py': 'A = 2\n' + '# b\n'.repeat(300), 'lib/b.py': 'B = 2\n' };
const CUTS = 4;
let gh;
const started = [], servers = [];
test.after(async () => {
  await Promise.all(started.map((b) => b.stop()));
  // Every server, also one a failed test left running: the suite must
  // end when its tests do.
  for (const s of servers) s.stop();
});
async function startGitHub(opts) {
  const s = await h.startGitHub(opts);
  servers.push(s);
  return s;
}
async function startBoard(opts) {
  const b = await h.startBoard(opts);
  started.push(b);
  return b;
}

function boardFiles(flash) {
  const t = h.readTree(flash);
  for (const k of Object.keys(t))
    if (k.startsWith('.senko') || k.endsWith('.senko-tmp') || k.startsWith('.')) delete t[k];
  return t;
}
const tree = (files) => Object.fromEntries(Object.entries(files).map(([p, c]) => [p, Buffer.from(c)]));
function same(got, want) {
  const g = Object.keys(got).sort(), w = Object.keys(want).sort();
  return g.length === w.length && g.every((k, i) => k === w[i] && got[k].equals(want[k]));
}

function config(dir, link, senkod = {}) {
  return h.writeConfig(path.join(dir, 'senko.conf'), {
    senkod: Object.assign({ state_dir: path.join(dir, 'state'), api_url: gh.base }, senkod),
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { b: { port: link, baud: 1000000, source: 'app', boot_watch: 1 } },
  });
}

test('a power cut during the rollback: old or new files only, the next session completes the rollback', async () => {
  const repos = path.join(T, 'cut', 'repos');
  const repo = h.makeRepo(repos, 'acme', 'fw', A);
  gh = await startGitHub({ repos });
  const tpl = path.join(T, 'cut', 'tpl');
  fs.mkdirSync(tpl, { recursive: true });
  let b = await startBoard({ dir: tpl, name: 'b' });
  let r = await h.senkod(['-c', config(tpl, b.link), '--once']);
  assert.equal(r.code, 0, r.stderr);
  await b.stop();
  assert.ok(same(boardFiles(b.flash), tree(A)), 'the template holds A');
  const aCommit = repo.head();
  repo.commit(B);
  const copy = (dir) => {
    fs.cpSync(path.join(tpl, 'b.flash'), path.join(dir, 'b.flash'), { recursive: true });
    fs.cpSync(path.join(tpl, 'state'), path.join(dir, 'state'), { recursive: true });
  };
  // The reference: the update to B, its failed check, the rollback to A.
  const ref = path.join(T, 'cut', 'ref');
  copy(ref);
  b = await startBoard({ dir: ref, name: 'b' });
  r = await h.senkod(['-c', config(ref, b.link), '--once']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /rolled back to/);
  await b.stop();
  assert.ok(same(boardFiles(b.flash), tree(A)), 'the reference rollback lands A');
  const total = b.counters().flash_ops;

  // Cuts among the last flash operations: the rollback's staging,
  // rename burst and record.
  const results = await Promise.all(Array.from({ length: CUTS }, async (_, i) => {
    const op = total - 1 - 3 * i;
    const dir = path.join(T, 'cut', `op${op}`);
    copy(dir);
    let bb = await startBoard({ dir, name: 'b', args: ['--power-cut-op', String(op)] });
    const conf = config(dir, bb.link);
    const r1 = await h.senkod(['-c', conf, '--once']);
    const exit = await bb.exited;
    const files = boardFiles(bb.flash);
    const journal = fs.existsSync(path.join(bb.flash, '.senko.journal'));
    bb = await startBoard({ dir, name: 'b' });
    const r2 = await h.senkod(['-c', conf, '--once']);
    const running = await prints(bb.link, 'A');
    const st = JSON.parse((await h.senko(['-c', conf, 'status', '--json'])).stdout);
    await bb.stop();
    return { op, r1, exit, files, journal, r2, running, st, after: boardFiles(bb.flash) };
  }));
  const a = tree(A), bt = tree(B);
  let inRollback = 0;
  for (const s of results) {
    const what = `cut at flash op ${s.op} of ${total}`;
    if (s.exit === 3 && /rolling back to/.test(s.r1.stderr)) inRollback++;
    for (const [p, c] of Object.entries(s.files))
      assert.ok((a[p] && c.equals(a[p])) || (bt[p] && c.equals(bt[p])), `${what}: ${p} is torn`);
    if (!s.journal)
      assert.ok(same(s.files, a) || same(s.files, bt), `${what}: a mix of A and B without a journal`);
    assert.ok(same(s.after, a), `${what}: the next session did not complete the rollback:\n${s.r2.stderr}`);
    assert.ok(s.running, `${what}: the application does not run after the rollback`);
    assert.equal(s.r2.code, 1, `${what}: the rollout is halted, the exit status says so`);
    assert.equal(s.st.devices[0].state, 'rolled-back', what);
    assert.equal(s.st.devices[0].commit, aCommit, what);
    assert.equal(s.st.devices[0].last_healthy_commit, aCommit, what);
    assert.equal(s.st.sources[0].rollout.halted, true, `${what}: the rollout is not halted`);
  }
  assert.ok(inRollback >= CUTS - 1, `only ${inRollback} of ${CUTS} cuts landed in the rollback`);
});

test('senko rollback by hand while senkod runs; senkod does not bring the commit back', async () => {
  const repos = path.join(T, 'hand', 'repos');
  const repo = h.makeRepo(repos, 'acme', 'fw', A);
  gh = await startGitHub({ repos });
  const dir = path.join(T, 'hand');
  const b = await startBoard({ dir, name: 'b' });
  const conf = config(dir, b.link, { interval: '2s' });
  const a = repo.head();
  let r = await h.senkod(['-c', conf, '--once']);
  assert.equal(r.code, 0, r.stderr);
  const good = Object.assign({}, A, { 'main.py': app('C') });
  const c = repo.commit(good);
  const daemon = h.track(spawn(h.SENKOD, ['-c', conf, '--foreground'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let log = '';
  daemon.stderr.on('data', (d) => { log += d; });
  const status = async () => {
    const st = await h.senko(['-c', conf, 'status', '--json']);
    try { return JSON.parse(st.stdout); } catch (e) { throw new Error(`senko status --json: exit ${st.code}: ${st.stderr}`); }
  };
  try {
    await h.until(async () => (await status()).devices[0].commit === c, 30000, 'senkod updating the board');
    r = await h.senko(['-c', conf, 'rollback', 'b']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /b: rolled back from commit \w{7} to \w{7}/);
    assert.ok(same(boardFiles(b.flash), tree(A)), 'the board does not hold A');
    let st = await status();
    assert.equal(st.devices[0].commit, a);
    assert.equal(st.devices[0].state, 'rolled-back');
    assert.equal(st.sources[0].rollout.halted, true);
    assert.match(st.sources[0].rollout.reason, /rolled back by hand on device 'b'/);
    // Two more of senkod's polls (interval 2s): the board stays at A.
    const after = Math.floor(Date.now() / 1000) + 3;
    await h.until(async () => (await status()).sources[0].last_poll >= after, 20000, 'two more polls')
      .catch((e) => { throw new Error(`${e.message}\n${log}`); });
    assert.ok(same(boardFiles(b.flash), tree(A)), `senkod brought the commit back:\n${log}`);
    assert.ok(await prints(b.link, 'A'), 'the application does not run after the rollback');
    // Resumed: senkod brings it forward again.
    r = await h.senko(['-c', conf, 'rollout', 'resume', 'app']);
    assert.equal(r.code, 0, r.stderr);
    await h.until(async () => (await status()).devices[0].commit === c, 30000, 'senkod after resume');
    st = await status();
    assert.equal(st.sources[0].rollout.halted, false);
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((res) => daemon.on('exit', res));
  }
});

test('senkod releases the next ring when the soak ends, not an interval later', async () => {
  const repos = path.join(T, 'soak', 'repos');
  h.makeRepo(repos, 'acme', 'fw', A);
  gh = await startGitHub({ repos });
  const dir = path.join(T, 'soak');
  const [b0, b1] = await Promise.all([startBoard({ dir, name: 'b0' }), startBoard({ dir, name: 'b1' })]);
  const conf = h.writeConfig(path.join(dir, 'senko.conf'), {
    senkod: { state_dir: path.join(dir, 'state'), api_url: gh.base, interval: '1h' },
    sources: { app: { user: 'acme', repo: 'fw', soak: '3s' } },
    devices: {
      b0: { port: b0.link, baud: 1000000, source: 'app', ring: 0, boot_watch: 1 },
      b1: { port: b1.link, baud: 1000000, source: 'app', ring: 1, boot_watch: 1 },
    },
  });
  const daemon = h.track(spawn(h.SENKOD, ['-c', conf, '--foreground'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let log = '';
  daemon.stderr.on('data', (d) => { log += d; });
  const has = (b) => fs.existsSync(path.join(b.flash, 'main.py')) &&
    fs.readFileSync(path.join(b.flash, 'main.py'), 'utf8') === A['main.py'];
  try {
    await h.until(() => has(b0), 30000, 'ring 0 updated');
    const t0 = Date.now();
    assert.ok(!has(b1), 'ring 1 did not wait for the soak');
    await h.until(() => has(b1), 30000, 'ring 1 after the soak')
      .catch((e) => { throw new Error(`${e.message}\n${log}`); });
    assert.ok(Date.now() - t0 >= 2000, `ring 1 got it ${Date.now() - t0} ms after ring 0`);
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((res) => daemon.on('exit', res));
  }
});
