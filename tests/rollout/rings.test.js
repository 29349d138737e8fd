// Safe rollout (issue 13) on six emulated boards in three rings
// (1 + 2 + 3), with the fake GitHub: a good commit goes ring by ring;
// soak makes ring 1 wait; a main.py that raises at import is rolled back
// on the ring 0 board and never reaches rings 1 and 2, and the next good
// commit rolls out; health = line ^READY$ both ways; pin and unpin; the
// object store keeps what a rollback needs; a board offline during a
// rollout does not halt it and is updated when it comes back.  The tests share the boards
// and run in order.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');
const { app, prints } = require('./app');

const T = h.tmpdir('rollout');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
const RINGS = { r0: 0, r1a: 1, r1b: 1, r2a: 2, r2b: 2, r2c: 2 };
const NAMES = Object.keys(RINGS);
let repo, gh;
const boards = {};
let soak = '0', r0extra = {};

function conf() {
  const devices = {};
  for (const n of NAMES)
    // The ring 0 board watches its boot for the default 2 s (its
    // traceback must be seen); the others need only pass, and 1 s keeps
    // the suite short.
    devices[n] = Object.assign({ port: boards[n].link, baud: 1000000, source: 'app', ring: RINGS[n] },
      n === 'r0' ? r0extra : { boot_watch: 1 });
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, api_url: gh.base, jobs: 3 },
    sources: { app: { user: 'acme', repo: 'fw', soak } },
    devices,
  });
}

const once = () => h.senkod(['-c', CONF, '--once']);
const mainOf = (n) => fs.readFileSync(path.join(boards[n].flash, 'main.py'), 'utf8');
const status = async () => JSON.parse((await h.senko(['-c', CONF, 'status', '--json'])).stdout);

// Index of the first stderr line that says board n was updated.
function updatedAt(lines, n) {
  return lines.findIndex((l) => l.includes(`${n}: `) && /wrote main\.py/.test(l));
}

test.before(async () => {
  repo = h.makeRepo(path.join(T, 'repos'), 'acme', 'fw', { 'main.py': app('A'), 'lib/x.py': 'X = 1\n' });
  gh = await h.startGitHub({ repos: path.join(T, 'repos') });
  const started = await Promise.all(NAMES.map((n) => h.startBoard({ dir: T, name: n })));
  NAMES.forEach((n, i) => { boards[n] = started[i]; });
  conf();
});

test.after(async () => {
  await Promise.all(Object.values(boards).map((b) => b.stop()));
  if (gh) gh.stop();
});

test('a good commit reaches every board, ring by ring, in order', async () => {
  const r = await once();
  assert.equal(r.code, 0, r.stderr);
  for (const n of NAMES) assert.equal(mainOf(n), app('A'), n);
  const lines = r.stderr.split('\n');
  const at = Object.fromEntries(NAMES.map((n) => [n, updatedAt(lines, n)]));
  for (const n of NAMES) assert.ok(at[n] >= 0, `${n} not updated:\n${r.stderr}`);
  // Every board of a ring is done before any board of the next starts.
  assert.ok(at.r0 < Math.min(at.r1a, at.r1b), r.stderr);
  assert.ok(Math.max(at.r1a, at.r1b) < Math.min(at.r2a, at.r2b, at.r2c), r.stderr);
  const rel1 = lines.findIndex((l) => /released to ring 1/.test(l));
  const rel2 = lines.findIndex((l) => /released to ring 2/.test(l));
  assert.ok(rel1 > at.r0 && rel1 < at.r1a && rel2 > at.r1b && rel2 < at.r2a, r.stderr);
  const st = await status();
  for (const d of st.devices) {
    assert.equal(d.healthy, true, JSON.stringify(d));
    assert.equal(d.last_healthy_commit, repo.head(), d.name);
    assert.equal(d.ring, RINGS[d.name]);
    assert.equal(d.pin, null);
  }
  assert.equal(st.sources[0].rollout.halted, false);
  assert.equal(st.sources[0].rollout.done, true);
});

test('with soak, ring 1 waits while ring 0 soaks; then the rollout goes on', async () => {
  soak = '1h';
  conf();
  repo.commit({ 'main.py': app('B') });
  let r = await once();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mainOf('r0'), app('B'));
  for (const n of ['r1a', 'r1b', 'r2a', 'r2b', 'r2c']) assert.equal(mainOf(n), app('A'), `${n} did not wait`);
  const ro = await h.senko(['-c', CONF, 'rollout']);
  assert.equal(ro.code, 0, ro.stdout + ro.stderr);
  assert.match(ro.stdout, /source app: commit \w{7}, ring 0/);
  assert.match(ro.stdout, /ring 0 healthy for \d+s of soak = 3600s/);
  // senko sync by hand follows the rollout too...
  const byHand = await h.senko(['-c', CONF, 'sync', 'r1a', 'r1b']);
  assert.equal(byHand.code, 0, byHand.stderr);
  assert.match(byHand.stdout, /r1b: waiting for commit \w{7}: ring 0 is soaking/);
  assert.equal(mainOf('r1b'), app('A'));
  // A waiting board is left alone, but not stopped: a senko killed while
  // it had the board (here `senko run`, kill -9) left the application
  // stopped, and the next sync restarts it without updating the board.
  await h.killSenkoRun(CONF, 'r1b', T);
  assert.equal(await prints(boards.r1b.link, 'A', 1500), false, 'r1b runs its application after the kill: nothing to test');
  const again = await h.senko(['-c', CONF, 'sync', 'r1b']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /r1b: waiting for commit/);
  assert.match(again.stderr, /r1b: the application was left stopped by senko run \(pid \d+\), which ended with the board open/);
  assert.ok(await prints(boards.r1b.link, 'A'), 'r1b\'s application is still stopped');
  assert.equal(mainOf('r1b'), app('A'));
  // ...unless --now names the device.
  const now = await h.senko(['-c', CONF, 'sync', '--now', 'r1a']);
  assert.equal(now.code, 0, now.stderr);
  assert.equal(mainOf('r1a'), app('B'));
  assert.equal(mainOf('r1b'), app('A'));
  assert.equal((await h.senko(['-c', CONF, 'sync', '--now'])).code, 2);
  // The soak is over (here: made shorter).
  soak = '0';
  conf();
  r = await once();
  assert.equal(r.code, 0, r.stderr);
  for (const n of NAMES) assert.equal(mainOf(n), app('B'), n);
});

test('a main.py that raises at import: ring 0 is rolled back, rings 1-2 never get it', async () => {
  const good = repo.head();
  const before = Object.fromEntries(NAMES.map((n) => [n, h.readTree(boards[n].flash)]));
  const bad = repo.commit({ 'main.py': 'import no_such_module\n' + app('C'), 'lib/x.py': 'X = 2\n' });
  const r = await once();
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /r0: failed its health check on commit \w{7}: .*ImportError.*; rolled back to/);
  // The ring 0 board holds exactly the previous commit again, and runs it.
  const after = h.readTree(boards.r0.flash);
  for (const f of ['main.py', 'lib/x.py']) assert.ok(after[f].equals(before.r0[f]), `r0 ${f} differs`);
  assert.ok(await prints(boards.r0.link, 'B'), 'the application does not run after the rollback');
  for (const n of NAMES.slice(1)) assert.equal(mainOf(n), app('B'), `${n} received the bad commit`);
  const st = await status();
  const r0 = st.devices.find((d) => d.name === 'r0');
  assert.equal(r0.state, 'rolled-back');
  assert.equal(r0.commit, good);
  assert.equal(r0.healthy, true);
  assert.equal(r0.last_healthy_commit, good);
  assert.equal(r0.rolled_back_from, bad);
  assert.equal(st.sources[0].rollout.halted, true);
  assert.equal(st.sources[0].rollout.failed_device, 'r0');
  assert.match(st.sources[0].rollout.reason, /ImportError/);
  assert.deepEqual(st.sources[0].rollout.bad_commits, [bad]);
  const table = await h.senko(['-c', CONF, 'status']);
  assert.equal(table.code, 1);
  assert.equal((await h.senko(['-c', CONF, 'status', '--json'])).code, 1);
  assert.match(table.stdout, /rollout of \w{7} halted: device 'r0' failed its health check/);
  // The next poll: still halted, nobody gets it, exit 1 again.
  const again = await once();
  assert.equal(again.code, 1, again.stderr);
  for (const n of NAMES) assert.equal(mainOf(n), app('B'), n);
  const ro = await h.senko(['-c', CONF, 'rollout', 'app']);
  assert.equal(ro.code, 1);
  assert.match(ro.stdout, /halted: device 'r0' failed its health check/);
  assert.match(ro.stdout, /r0 +\w{7} +healthy +rolled back from/);
});

test('the next good commit rolls out normally', async () => {
  repo.commit({ 'main.py': app('D'), 'lib/x.py': 'X = 3\n' });
  const r = await once();
  assert.equal(r.code, 0, r.stderr);
  for (const n of NAMES) assert.equal(mainOf(n), app('D'), n);
  const st = await status();
  assert.equal(st.sources[0].rollout.halted, false);
  assert.equal(st.devices.find((d) => d.name === 'r0').state, 'updated');
});

test('health = line ^READY$: a board that prints it passes, one that never does is rolled back', async () => {
  r0extra = { health: 'line ^READY$', health_timeout: '3s' };
  conf();
  repo.commit({ 'main.py': app('E', 'print("READY")\n') });
  let r = await once();
  assert.equal(r.code, 0, r.stderr);
  for (const n of NAMES) assert.equal(mainOf(n), app('E', 'print("READY")\n'), n);
  // "NOT READY" is not a line matching ^READY$.
  const e = repo.head();
  repo.commit({ 'main.py': app('F', 'print("NOT READY")\n') });
  r = await once();
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /r0: failed its health check on commit \w{7}: no line matching '\^READY\$' within 3s/);
  assert.equal(mainOf('r0'), app('E', 'print("READY")\n'));
  assert.equal((await status()).devices.find((d) => d.name === 'r0').commit, e);
  for (const n of NAMES.slice(1)) assert.equal(mainOf(n), app('E', 'print("READY")\n'), n);
  r0extra = {};
  conf();
});

// The line may come after more output than the watch keeps (64 KB): the
// output the cap drops must not take the line, or the lines read with
// it, along (seen: READY in the 100 ms slice that filled the buffer was
// never looked at).
test('health = line ^READY$ after 66 KB of other output: still seen', async () => {
  r0extra = { health: 'line ^READY$', health_timeout: '5s' };
  conf();
  const noisy = app('E2', "for i in range(1100):\n    print('x' * 59)\nprint('READY')\n");
  repo.commit({ 'main.py': noisy });
  const r = await once();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mainOf('r0'), noisy);
  r0extra = {};
  conf();
});

test('pin keeps a board at a tag while the others move; unpin brings it forward', async () => {
  repo.commit({ 'main.py': app('G') });
  h.git(repo.dir, 'tag', 'v1');
  let r = await once();
  assert.equal(r.code, 0, r.stderr);
  const pin = await h.senko(['-c', CONF, 'pin', 'r2a', 'v1']);
  assert.equal(pin.code, 0, pin.stderr);
  assert.match(pin.stdout, /r2a: pinned to v1/);
  const bad = await h.senko(['-c', CONF, 'pin', 'r2a', 'no-such-tag']);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /cannot resolve 'no-such-tag'/);
  repo.commit({ 'main.py': app('H') });
  r = await once();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mainOf('r2a'), app('G'), 'the pinned board moved');
  for (const n of NAMES.filter((x) => x !== 'r2a')) assert.equal(mainOf(n), app('H'), n);
  const d = (await status()).devices.find((x) => x.name === 'r2a');
  assert.equal(d.pin, 'v1');
  const un = await h.senko(['-c', CONF, 'unpin', 'r2a']);
  assert.equal(un.code, 0, un.stderr);
  r = await once();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mainOf('r2a'), app('H'), 'unpin did not bring it forward');
  assert.equal((await status()).devices.find((x) => x.name === 'r2a').pin, null);

  // A pin to a whole commit SHA cannot move: once resolved, a cycle asks
  // the API nothing about it (a pin by tag costs one request a cycle).
  const sha = h.git(repo.dir, 'rev-parse', 'v1^{commit}');
  assert.equal((await h.senko(['-c', CONF, 'pin', 'r2a', sha])).code, 0);
  r = await once();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mainOf('r2a'), app('G'), 'the board pinned by SHA did not go back');
  await gh.clearLog();
  r = await once();
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await gh.log()).map((e) => e.path).filter((p) => p.includes(sha)), [],
    'a cycle asked the API about a pin to a whole SHA');
  assert.equal((await h.senko(['-c', CONF, 'unpin', 'r2a'])).code, 0);
  r = await once();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mainOf('r2a'), app('H'));
});

test('garbage collection keeps every blob a rollback needs and removes the rest; an offline board does not halt the rollout', async () => {
  const blob = (sha) => path.join(STATE, 'objects', sha.slice(0, 2), sha.slice(2));
  const sha = (text) => crypto.createHash('sha1')
    .update(`blob ${Buffer.byteLength(text)}\0`).update(text).digest('hex');
  // r0 stays offline on a healthy commit while upstream moves twice.
  const healthyMain = app('H');
  const r0port = boards.r0.link;
  boards.r0.link = path.join(T, 'unplugged');
  conf();
  repo.commit({ 'main.py': app('I') });
  let r = await once();
  repo.commit({ 'main.py': app('J') });
  r = await once();
  assert.equal(mainOf('r1a'), app('J'));
  const stray = blob('0123456789abcdef0123456789abcdef01234567');
  fs.mkdirSync(path.dirname(stray), { recursive: true });
  fs.writeFileSync(stray, 'nothing needs this');
  // Every blob older than the grace period.
  const old = new Date(Date.now() - 2 * 3600 * 1000);
  const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]);
  for (const f of walk(path.join(STATE, 'objects'))) fs.utimesSync(f, old, old);
  // Nothing but r0's last healthy commit needs H's main.py now... except
  // its mirror, which is what it runs: drop the mirror so only the
  // rollout state keeps it.
  fs.rmSync(path.join(STATE, 'devices', 'r0', 'mirror'), { recursive: true, force: true });
  r = await once();
  assert.ok(!fs.existsSync(stray), 'an unreferenced blob was kept');
  // I is the previous healthy commit of the boards that got J: a
  // rollback from J's successor may need it (rollout.h).
  assert.ok(fs.existsSync(blob(sha(app('I')))), 'the blob of the boards\' previous healthy commit was removed');
  assert.ok(fs.existsSync(blob(sha(healthyMain))), 'the blob r0\'s last healthy commit needs was removed');
  assert.ok(fs.existsSync(blob(sha(app('J')))), 'the source\'s blob was removed');
  // Back online: r0 gets the commit its ring was released to long ago.
  boards.r0.link = r0port;
  conf();
  r = await once();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mainOf('r0'), app('J'));
});
