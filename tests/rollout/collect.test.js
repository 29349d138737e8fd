// The object store's garbage collection and rollbacks (a review's
// findings): collection keeps the blobs of a board's last and previous
// healthy commits; a rollback whose blobs are gone fetches them again
// (GitHub: from the forge; a local folder: from its git objects) or, when
// it cannot, fails having changed nothing (no commit marked bad, no
// rollout halted, and senkod does not try it again and again); a blob a
// run reuses is dated again, so a collection within the grace keeps it;
// one device whose rollout state cannot be read does not stop collection
// for the others.  Files are aged with utimes, never waited for.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');
const { app } = require('./app');

const T = h.tmpdir('collect');
const started = [], servers = [];
test.after(async () => {
  await Promise.all(started.map((b) => b.stop()));
  for (const s of servers) s.stop();
});
async function startBoard(opts) {
  const b = await h.startBoard(opts);
  started.push(b);
  return b;
}

const TWO_HOURS_AGO = () => new Date(Date.now() - 2 * 3600 * 1000);
// Every blob of the store dated two hours ago (older than the grace).
function ageObjects(state) {
  const objects = path.join(state, 'objects');
  const when = TWO_HOURS_AGO();
  for (const fan of fs.readdirSync(objects)) {
    const d = path.join(objects, fan);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d)) fs.utimesSync(path.join(d, f), when, when);
  }
}
const blobPath = (state, sha) => path.join(state, 'objects', sha.slice(0, 2), sha.slice(2));
const gitBlob = (text) => {
  const tmp = path.join(T, 'hash-me');
  fs.writeFileSync(tmp, text);
  return h.git(T, 'hash-object', tmp);
};
const file = (b, p) => {
  try { return fs.readFileSync(path.join(b.flash, p), 'utf8'); } catch (e) { return null; }
};
const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));
function write(dir, files) {
  for (const [p, c] of Object.entries(files)) {
    const f = path.join(dir, p);
    if (c === null) { fs.rmSync(f, { force: true }); continue; }
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, c);
  }
}

// A local-folder source (a git work tree when git is true) and one board,
// on two healthy contents: V1 had lib/b.py, V2 has not.
const V1 = { 'main.py': 'print("v1")\n', 'lib/b.py': 'B = 1\n' };
const V2 = { 'main.py': 'print("v2")\n', 'lib/b.py': null };
async function twoHealthy(name, { git = false } = {}) {
  const dir = path.join(T, name);
  const src = path.join(dir, 'src'), state = path.join(dir, 'state');
  fs.mkdirSync(src, { recursive: true });
  const commit = (m) => {
    h.git(src, 'add', '-A');
    h.git(src, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', m);
  };
  if (git) h.git(src, 'init', '-q');
  write(src, V1);
  if (git) commit('v1');
  const b = await startBoard({ dir, name: 'b1' });
  const conf = h.writeConfig(path.join(dir, 'senko.conf'), {
    senkod: { state_dir: state, interval: '1m' },
    sources: { here: { path: src } },
    devices: { b1: { port: b.link, baud: 1000000, source: 'here', boot_watch: 0, prune: 'yes' } },
  });
  let r = await h.senkod(['-c', conf, '--once']);
  assert.equal(r.code, 0, r.stderr);
  const v1 = readJson(path.join(state, 'devices', 'b1', 'rollout.json')).last_healthy;
  write(src, V2);
  if (git) commit('v2');
  r = await h.senkod(['-c', conf, '--once']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(file(b, 'lib/b.py'), null);
  const rec = readJson(path.join(state, 'devices', 'b1', 'rollout.json'));
  assert.equal(rec.previous_healthy, v1, 'two healthy commits recorded');
  return { dir, src, state, b, conf, v1, v2: rec.last_healthy };
}

// Nothing changed by a rollback that could not run.
function assertNothingMarked(s, what) {
  const ro = readJson(path.join(s.state, 'sources', 'here', 'rollout.json'));
  assert.equal(ro.halted, false, `${what}: the rollout was halted: ${JSON.stringify(ro)}`);
  assert.deepEqual(ro.bad || [], [], `${what}: a commit was marked bad`);
  const rec = readJson(path.join(s.state, 'devices', 'b1', 'rollout.json'));
  assert.equal(rec.health, 'healthy', `${what}: the board was marked ${rec.health}`);
  assert.equal(rec.last_healthy, s.v2, what);
  assert.equal(rec.previous_healthy, s.v1, what);
}

test('collection keeps the previous healthy commit\'s blobs; senko rollback then needs nothing fetched', async () => {
  const s = await twoHealthy('keep');
  ageObjects(s.state);
  let r = await h.senkod(['-c', s.conf, '--once']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(blobPath(s.state, gitBlob(V1['lib/b.py']))),
    `collection removed a blob of the previous healthy commit:\n${r.stderr}`);
  r = await h.senko(['-c', s.conf, 'rollback', 'b1']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(file(s.b, 'lib/b.py'), V1['lib/b.py']);
  assert.equal(file(s.b, 'main.py'), V1['main.py']);
});

test('a rollback whose blobs are gone from a plain folder fails having changed nothing, and senkod does not retry it', async () => {
  const s = await twoHealthy('plain');
  // What a collection by an older senko left: the blob is gone.
  fs.rmSync(blobPath(s.state, gitBlob(V1['lib/b.py'])));
  let r = await h.senko(['-c', s.conf, 'rollback', 'b1']);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /lib\/b\.py/, 'the error names what is missing');
  assert.match(r.stderr, /not a git work tree/, 'the error says why it cannot be fetched');
  assert.match(r.stderr, /nothing was changed/, r.stderr);
  assertNothingMarked(s, 'after senko rollback');
  assert.equal(file(s.b, 'main.py'), V2['main.py'], 'the board keeps its files');
  for (let i = 0; i < 2; i++) {
    r = await h.senkod(['-c', s.conf, '--once']);
    assert.equal(r.code, 0, `senkod run ${i + 1} after the failed rollback:\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /retry|roll/i, r.stderr);
  }
  assertNothingMarked(s, 'after senkod');
});

test('a rollback whose blobs are gone from a git work tree fetches them from its git objects', async () => {
  const s = await twoHealthy('git', { git: true });
  fs.rmSync(blobPath(s.state, gitBlob(V1['lib/b.py'])));
  const r = await h.senko(['-c', s.conf, 'rollback', 'b1']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.equal(file(s.b, 'lib/b.py'), V1['lib/b.py']);
  assert.equal(file(s.b, 'main.py'), V1['main.py']);
});

test('an automatic rollback whose blobs are gone fetches them from the forge first', async () => {
  const repos = path.join(T, 'forge', 'repos');
  const A = { 'main.py': app('A'), 'lib/b.py': 'B = 1\n' };
  const B = { 'main.py': 'import no_such_module\n' + app('B'), 'lib/b.py': 'B = 2\n' };
  const repo = h.makeRepo(repos, 'acme', 'fw', A);
  const gh = await h.startGitHub({ repos });
  servers.push(gh);
  const dir = path.join(T, 'forge'), state = path.join(dir, 'state');
  const b = await startBoard({ dir, name: 'b' });
  const conf = h.writeConfig(path.join(dir, 'senko.conf'), {
    senkod: { state_dir: state, api_url: gh.base },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { b: { port: b.link, baud: 1000000, source: 'app', boot_watch: 1 } },
  });
  let r = await h.senkod(['-c', conf, '--once']);
  assert.equal(r.code, 0, r.stderr);
  const a = repo.head();
  repo.commit(B);
  fs.rmSync(blobPath(state, gitBlob(A['lib/b.py'])));
  // The update to B fails its check; the board goes back to A in the
  // same visit, its missing blob fetched first.
  r = await h.senkod(['-c', conf, '--once']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /rolled back to/, r.stderr);
  assert.equal(file(b, 'lib/b.py'), A['lib/b.py']);
  assert.equal(file(b, 'main.py'), A['main.py']);
  const st = JSON.parse((await h.senko(['-c', conf, 'status', '--json'])).stdout);
  assert.equal(st.devices[0].commit, a);
});

test('a blob a run reuses is dated again: a collection within the grace keeps it', async () => {
  // No board: the device is unplugged, only the polls and the store act.
  const dir = path.join(T, 'reuse'), src = path.join(dir, 'src'), state = path.join(dir, 'state');
  fs.mkdirSync(src, { recursive: true });
  const conf = h.writeConfig(path.join(dir, 'senko.conf'), {
    senkod: { state_dir: state, interval: '1m' },
    sources: { here: { path: src } },
    devices: { b1: { port: path.join(dir, 'unplugged'), baud: 1000000, source: 'here' } },
  });
  write(src, { 'main.py': 'print("v1")\n', 'lib/b.py': 'B = 1\n' });
  await h.senkod(['-c', conf, '--once']);
  write(src, { 'main.py': 'print("v2")\n', 'lib/b.py': null });
  await h.senkod(['-c', conf, '--once']);
  ageObjects(state);
  // A run reuses the old blob of lib/b.py (stored two hours ago)...
  write(src, { 'main.py': 'print("v3")\n', 'lib/b.py': 'B = 1\n' });
  await h.senko(['-c', conf, 'sync', 'b1']);
  // ...then nothing names it any more, and senkod collects.
  write(src, { 'main.py': 'print("v4")\n', 'lib/b.py': null });
  const r = await h.senkod(['-c', conf, '--once']);
  assert.ok(!fs.existsSync(blobPath(state, gitBlob('print("v2")\n'))),
    `an old blob nothing reused was kept: did the collection run?\n${r.stderr}`);
  assert.ok(fs.existsSync(blobPath(state, gitBlob('B = 1\n'))),
    `a blob reused within the grace was collected:\n${r.stderr}`);
});

test('one device whose state cannot be read does not stop collection for the others', async () => {
  const dir = path.join(T, 'unreadable'), src = path.join(dir, 'src'), state = path.join(dir, 'state');
  fs.mkdirSync(src, { recursive: true });
  const [b1, b2] = await Promise.all([startBoard({ dir, name: 'b1' }), startBoard({ dir, name: 'b2' })]);
  const conf = (b2port) => h.writeConfig(path.join(dir, 'senko.conf'), {
    senkod: { state_dir: state, interval: '1m' },
    sources: { here: { path: src } },
    devices: {
      b1: { port: b1.link, baud: 1000000, source: 'here', boot_watch: 0 },
      b2: { port: b2port, baud: 1000000, source: 'here', boot_watch: 0 },
    },
  });
  write(src, V1);
  conf(b2.link);
  let r = await h.senkod(['-c', path.join(dir, 'senko.conf'), '--once']);
  assert.equal(r.code, 0, r.stderr);
  // b2 unplugged stays healthy on V1 while b1 goes on to V2 and V3.
  const cfile = conf(path.join(dir, 'unplugged'));
  write(src, V2);
  await h.senkod(['-c', cfile, '--once']);
  write(src, { 'main.py': 'print("v3")\n' });
  await h.senkod(['-c', cfile, '--once']);
  assert.equal(file(b1, 'main.py'), 'print("v3")\n');
  const stray = blobPath(state, '0123456789abcdef0123456789abcdef01234567');
  fs.mkdirSync(path.dirname(stray), { recursive: true });
  fs.writeFileSync(stray, 'nothing needs this');
  ageObjects(state);
  // b2's rollout.json is not JSON and its mirror cannot be opened.
  const d2 = path.join(state, 'devices', 'b2');
  fs.writeFileSync(path.join(d2, 'rollout.json'), '{ not json');
  fs.rmSync(path.join(d2, 'mirror'), { recursive: true, force: true });
  fs.writeFileSync(path.join(d2, 'mirror'), 'not a folder');
  r = await h.senkod(['-c', cfile, '--once']);
  assert.ok(!fs.existsSync(stray), `collection stopped for every board:\n${r.stderr}`);
  assert.match(r.stderr, /b2/, 'the warning names the device');
  // What b2's readable files name (healthy/V1.json) is kept.
  assert.ok(fs.existsSync(blobPath(state, gitBlob(V1['lib/b.py']))),
    `the blob of b2's healthy commit was removed:\n${r.stderr}`);
});

test('a board failing its check on its own last healthy commit goes back to the previous one, whose blobs are fetched first', async () => {
  // A git work tree: the previous commit's blob comes from git objects.
  const dir = path.join(T, 'repair'), src = path.join(dir, 'src'), state = path.join(dir, 'state');
  fs.mkdirSync(src, { recursive: true });
  h.git(src, 'init', '-q');
  const commit = (m) => {
    h.git(src, 'add', '-A');
    h.git(src, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', m);
  };
  // B needs cfg.py, a file of the board's own that senko does not manage.
  fs.mkdirSync(path.join(dir, 'b1.flash'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'b1.flash', 'cfg.py'), 'X = 1\n');
  let b = await startBoard({ dir, name: 'b1' });
  const conf = h.writeConfig(path.join(dir, 'senko.conf'), {
    senkod: { state_dir: state, interval: '1m' },
    sources: { here: { path: src } },
    devices: { b1: { port: b.link, baud: 1000000, source: 'here', boot_watch: 1 } },
  });
  write(src, { 'main.py': app('A') });
  commit('A');
  let r = await h.senkod(['-c', conf, '--once']);
  assert.equal(r.code, 0, r.stderr);
  write(src, { 'main.py': 'import cfg\n' + app('B') });
  commit('B');
  r = await h.senkod(['-c', conf, '--once']);
  assert.equal(r.code, 0, r.stderr);
  const rec = readJson(path.join(state, 'devices', 'b1', 'rollout.json'));
  assert.ok(rec.previous_healthy && rec.last_healthy !== rec.previous_healthy, JSON.stringify(rec));
  // A's blob is gone from the store; the board loses cfg.py and main.py
  // is damaged (the board off, as its flash is read at power-on): the
  // check repairs main.py, and B fails its health check.
  fs.rmSync(blobPath(state, gitBlob(app('A'))));
  await b.stop();
  fs.rmSync(path.join(b.flash, 'cfg.py'));
  fs.appendFileSync(path.join(b.flash, 'main.py'), '# damaged\n');
  b = await startBoard({ dir, name: 'b1' });
  r = await h.senko(['-c', conf, 'sync', 'b1', '--verify']);
  assert.match(r.stderr, /rolled back to/, r.stderr);
  assert.equal(file(b, 'main.py'), app('A'), r.stderr);
});
