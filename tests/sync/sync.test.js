// End-to-end: senkod --once and senko sync against the fake GitHub and
// emulated boards (issue 6).  The tests run in order and share one
// repository and three boards, like a gateway living through updates.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const h = require('../lib/harness');

const T = h.tmpdir('sync');
const REPOS = path.join(T, 'repos');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');

// A repository whose app/ folder is what the boards run.
const binary = crypto.createHash('sha256').update('seed').digest();
const BIN = Buffer.concat(Array.from({ length: 2048 }, (_, i) =>
  crypto.createHash('sha256').update(binary).update(String(i)).digest()));
const FILES = {
  'README.md': '# not for boards\n',
  'app/boot.py': '# boot\nimport gc\ngc.collect()\n',
  'app/main.py': 'import lib.util\nprint("hello", lib.util.X)\n',
  'app/empty.py': '',
  'app/lib/__init__.py': '',
  'app/lib/util.py': 'X = 1\n' + '# padding\n'.repeat(200),
  'app/lib/net/wifi.py': 'SSID = "lab"\n',
  'app/data/blob.bin': BIN,
};
let repo, gh, boards, cfg;

function appTree(filter = () => true) {
  const out = {};
  for (const [p, c] of Object.entries(FILES))
    if (p.startsWith('app/') && filter(p.slice(4))) out[p.slice(4)] = Buffer.from(c);
  return out;
}

// The board's files as the boards see them, without senko's record.
function boardFiles(b, dest = '') {
  const t = h.readTree(path.join(b.flash, dest));
  for (const k of Object.keys(t)) if (h.isRecordFile(k)) delete t[k];
  // The agent's cache (src/board/agent.c), not the application's.
  for (const k of Object.keys(t)) if (k.startsWith('.senko/')) delete t[k];
  return t;
}

function assertSameTree(got, want, what) {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: file list`);
  for (const k of Object.keys(want))
    assert.ok(got[k].equals(want[k]), `${what}: ${k} differs`);
}

function writeConf(extra = {}) {
  cfg = {
    senkod: { state_dir: STATE, api_url: gh.base, jobs: 3 },
    sources: {
      app: { user: 'acme', repo: 'fw', branch: 'main', working_dir: 'app' },
      some: { user: 'acme', repo: 'fw', branch: 'main', working_dir: 'app', files: 'main.py lib/' },
    },
    devices: {
      kitchen: { port: boards[0].link, baud: 1000000, source: 'app', reset: 'none', prune: 'yes' },
      garage: { port: boards[1].link, baud: 1000000, source: 'app', reset: 'soft', prune: 'no' },
      lab: { port: boards[2].link, baud: 1000000, source: 'some', dest: '/sub', reset: 'none' },
    },
  };
  for (const [k, v] of Object.entries(extra)) Object.assign(cfg.devices[k], v);
  h.writeConfig(CONF, cfg);
}

const once = () => h.senkod(['-c', CONF, '--once']);
const requests = async () => (await gh.log()).map((e) => e.path);
const rx = () => boards.map((b) => (b.counters() || { rx_bytes: 0 }).rx_bytes);

test('first sync: every board gets its files, honouring working_dir, files and dest', async () => {
  repo = h.makeRepo(REPOS, 'acme', 'fw', FILES);
  gh = await h.startGitHub({ repos: REPOS, args: ['--rate-limit', '1000'] });
  boards = await Promise.all(['kitchen', 'garage', 'lab'].map((name) =>
    h.startBoard({ dir: T, name })));
  writeConf();
  const r = await once();
  assert.equal(r.code, 0, r.stderr);
  assertSameTree(boardFiles(boards[0]), appTree(), 'kitchen');
  assertSameTree(boardFiles(boards[1]), appTree(), 'garage');
  assertSameTree(boardFiles(boards[2], 'sub'),
    appTree((p) => p === 'main.py' || p.startsWith('lib/')), 'lab');
  // Each blob was downloaded once for the whole fleet.
  const blobs = (await requests()).filter((p) => p.includes('/git/blobs/'));
  assert.equal(blobs.length, new Set(blobs).size, 'a blob fetched twice');
  assert.equal(blobs.length, Object.keys(appTree()).length - 1, 'blob count (two empty files share a blob)');
  const st = await h.senko(['-c', CONF, 'status', '--json']);
  const json = JSON.parse(st.stdout);
  for (const d of json.devices) assert.ok(['updated', 'in-sync'].includes(d.state), JSON.stringify(d));
});

test('nothing changed: exactly one request per source and not a byte on any serial line', async () => {
  await gh.clearLog();
  const before = rx();
  const r = await once();
  assert.equal(r.code, 0, r.stderr);
  const log = await gh.log();
  assert.equal(log.length, 2, JSON.stringify(log.map((e) => e.path)));
  assert.ok(log.every((e) => e.status === 304));
  assert.deepEqual(rx(), before);
});

test('one file changed: one blob downloaded once; each board receives only that file', async () => {
  await gh.clearLog();
  const before = rx();
  FILES['app/lib/util.py'] = 'X = 2\n' + '# padding\n'.repeat(200);
  const commit = repo.commit({ 'app/lib/util.py': FILES['app/lib/util.py'] });
  // senko check sees it without touching a board: exit 100, per device.
  const chk = await h.senko(['-c', CONF, 'check']);
  assert.equal(chk.code, 100, chk.stdout + chk.stderr);
  for (const name of ['kitchen', 'garage', 'lab'])
    assert.match(chk.stdout, new RegExp(`^${name}: 1 file to write .* -> ${commit.slice(0, 7)}$`, 'm'));
  assert.deepEqual(rx(), before, 'senko check talked to a board');
  const r = await once();
  assert.equal(r.code, 0, r.stderr);
  const paths = await requests();
  assert.equal(paths.filter((p) => p.includes('/git/blobs/')).length, 1, paths.join('\n'));
  assertSameTree(boardFiles(boards[0]), appTree(), 'kitchen');
  assertSameTree(boardFiles(boards[2], 'sub'),
    appTree((p) => p === 'main.py' || p.startsWith('lib/')), 'lab');
  // The whole app is ~8 KB of payload; one 2 KB file plus the protocol
  // must stay well below re-sending everything.
  const total = Object.values(appTree()).reduce((n, b) => n + b.length, 0);
  rx().forEach((n, i) => {
    const sent = n - before[i];
    assert.ok(sent > 0 && sent < total, `${boards[i].name} received ${sent} bytes (app is ${total})`);
  });
});

test('senko check after the sync: exit 0, every device up to date', async () => {
  const chk = await h.senko(['-c', CONF, 'check']);
  assert.equal(chk.code, 0, chk.stdout + chk.stderr);
  assert.equal((chk.stdout.match(/: up to date at /g) || []).length, 3, chk.stdout);
});

test('deleted upstream: gone with prune = yes, kept with prune = no; user files untouched', async () => {
  // The user's own file, written through the board as a user would.
  for (const name of ['kitchen', 'garage']) {
    const r = await h.senko(['-c', CONF, 'exec', name,
      "f = open('/config.json', 'w')\nf.write('{\"wifi\": \"mine\"}')\nf.close()"]);
    assert.equal(r.code, 0, r.stderr);
  }
  // A user file is not senko's even when it sits where senko writes.
  delete FILES['app/lib/net/wifi.py'];
  repo.commit({ 'app/lib/net/wifi.py': null });
  await gh.clearLog();
  const r = await once();
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!(await requests()).some((p) => p.includes('/git/blobs/')), 'a deletion needs no blob');
  assert.ok(!fs.existsSync(path.join(boards[0].flash, 'lib/net/wifi.py')), 'prune = yes keeps a deleted file');
  assert.ok(fs.existsSync(path.join(boards[1].flash, 'lib/net/wifi.py')), 'prune = no deleted a file');
  for (const b of boards.slice(0, 2))
    assert.equal(fs.readFileSync(path.join(b.flash, 'config.json'), 'utf8'), '{"wifi": "mine"}');
});

test('a missing board: exit 1, the others sync, status says which and why; the next run repairs it', async () => {
  await boards[1].stop();
  FILES['app/main.py'] = 'print("v2")\n';
  repo.commit({ 'app/main.py': FILES['app/main.py'] });
  const r = await once();
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /garage/);
  assertSameTree(boardFiles(boards[0]), Object.assign(appTree(),
    { 'config.json': Buffer.from('{"wifi": "mine"}') }), 'kitchen');
  const st = JSON.parse((await h.senko(['-c', CONF, 'status', '--json'])).stdout);
  const garage = st.devices.find((d) => d.name === 'garage');
  assert.equal(garage.state, 'offline', JSON.stringify(garage));
  assert.match(garage.last_error, /garage\.tty|No such file|port/i);
  boards[1] = await h.startBoard({ dir: T, name: 'garage' });
  const again = await once();
  assert.equal(again.code, 0, again.stderr);
  const want = appTree();
  want['lib/net/wifi.py'] = Buffer.from('SSID = "lab"\n'); // prune = no
  want['config.json'] = Buffer.from('{"wifi": "mine"}');
  assertSameTree(boardFiles(boards[1]), want, 'garage');
});

test('state_dir deleted: nothing unchanged is re-sent, the mirror is rebuilt; a hand edit is repaired', async () => {
  fs.rmSync(STATE, { recursive: true, force: true });
  // Edit one file on the kitchen board behind senko's back (its flash
  // folder is only read at power-on).
  await boards[0].stop();
  fs.writeFileSync(path.join(boards[0].flash, 'boot.py'), '# edited by hand\n');
  boards[0] = await h.startBoard({ dir: T, name: 'kitchen' });
  const before = rx();
  const r = await once();
  assert.equal(r.code, 0, r.stderr);
  assertSameTree(boardFiles(boards[0]), Object.assign(appTree(),
    { 'config.json': Buffer.from('{"wifi": "mine"}') }), 'kitchen');
  // Only the edited boot.py went back: the 64 KB binary was not re-sent.
  rx().forEach((n, i) => assert.ok(n - before[i] < BIN.length,
    `${boards[i].name} received ${n - before[i]} bytes after a state_dir loss`));
  assert.ok(fs.existsSync(path.join(STATE, 'devices/kitchen/mirror/main.py')), 'mirror rebuilt');
});

test('power cut in the middle of a sync: never a truncated file; the next run completes it', async () => {
  const conf = path.join(T, 'cut.conf');
  const state = path.join(T, 'cut-state');
  const write = (b) => h.writeAppConfig(conf, {
    gh, state,
    devices: { cut: { port: b.link, baud: 1000000, reset: 'none' } },
  });
  // Cut when about half of the 64 KB binary is on the line.
  let b = await h.startBoard({ dir: T, name: 'cut', args: ['--power-cut-after', '40000'] });
  write(b);
  const r = await h.senkod(['-c', conf, '--once']);
  assert.equal(r.code, 1, 'a board that lost power mid-sync is a failure');
  assert.equal(await b.exited, 3, 'the board did not lose power');
  const want = appTree();
  for (const [p, c] of Object.entries(boardFiles(b)))
    if (!p.endsWith('.senko-tmp'))
      assert.ok(want[p] && c.equals(want[p]), `${p} is truncated or wrong after the power cut`);
  b = await h.startBoard({ dir: T, name: 'cut' });
  write(b);
  const again = await h.senkod(['-c', conf, '--once']);
  assert.equal(again.code, 0, again.stderr);
  assertSameTree(boardFiles(b), want, 'cut board after the next run');
  await b.stop();
});

test('hostile tree paths never reach a board nor escape the mirror', async () => {
  await gh.fault({ kind: 'hostile_paths' });
  repo.commit({ 'app/new.py': 'N = 1\n' });
  FILES['app/new.py'] = 'N = 1\n';
  const r = await once();
  await gh.clearFaults();
  for (const b of boards) {
    const files = Object.keys(h.readTree(b.flash));
    assert.ok(!files.some((f) => /passwd|escape|\.\.|\u0001|b\.py$/.test(f)), `${b.name}: ${files}`);
  }
  assert.ok(!fs.existsSync(path.join(STATE, 'devices/escape.py')));
  assert.ok(!fs.existsSync(path.join(STATE, 'escape.py')));
  assert.ok(!fs.existsSync(path.join(T, 'escape.py')));
  assert.match(r.stderr, /refus|unsafe|hostile|\.\./i, 'the hostile entries were not reported');
  // The honest part of the commit still arrived.
  assert.ok(fs.existsSync(path.join(boards[0].flash, 'new.py')), r.stderr);
});

test('an agent killed mid-file leaves the board in it; the next sync gets in without filler', async () => {
  const b = await h.startBoard({ dir: T, name: 'orphan', baud: 115200 });
  const big = path.join(T, 'orphan.big');
  fs.writeFileSync(big, crypto.randomBytes(48 * 1024));
  const agent = h.track(require('child_process').spawn(path.join(h.BUILD, 'tests/helper-agent'),
    ['-b', '115200', b.link, 'put', '/small.txt', CONF, 'put', '/big.bin', big],
    { stdio: ['ignore', 'pipe', 'pipe'] }));
  const exited = new Promise((r) => agent.on('exit', r));
  // small.txt lands first; the 48 KB file then needs about 4 s of line
  // time: kill the host a second into it, with Ctrl-C off on the board.
  await h.waitLine(agent, /^put \/small\.txt /, 30000, 'helper-agent');
  await new Promise((r) => setTimeout(r, 1000));
  agent.kill('SIGKILL');
  await exited;
  const conf = h.writeAppConfig(path.join(T, 'orphan.conf'), {
    gh, state: path.join(T, 'orphan-state'),
    devices: { orphan: { port: b.link, baud: 115200, reset: 'none' } },
  });
  const started = Date.now();
  const r = await h.senkod(['-c', conf, '--once']);
  await b.stop();
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Date.now() - started < 20000, `the sync took ${Date.now() - started} ms`);
  const files = h.readTree(b.flash);
  assert.ok(!files['big.bin'], 'a half-pushed file under its real name');
  assert.deepEqual(Object.keys(files).filter((f) => f.endsWith('.senko-tmp')), [], 'temporary files left');
  for (const [p, c] of Object.entries(appTree())) assert.ok(files[p] && files[p].equals(c), p);
});

test('a board that keeps the REPL away: reset = hard is tried, and a pty says it cannot', async () => {
  const dir = path.join(T, 'stuck.flash');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'main.py'),
    'import micropython, time\nmicropython.kbd_intr(-1)\nwhile True:\n    time.sleep(1)\n');
  const b = await h.startBoard({ dir: T, name: 'stuck' });
  const conf = h.writeAppConfig(path.join(T, 'stuck.conf'), {
    gh, state: path.join(T, 'stuck-state'),
    devices: { stuck: { port: b.link, baud: 1000000, reset: 'hard' } },
  });
  const r = await h.senkod(['-c', conf, '--once']);
  await b.stop();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /stuck: no raw REPL; trying a hard reset/);
  assert.match(r.stderr, /no DTR\/RTS lines/);
});

test.after(async () => {
  if (boards) await Promise.all(boards.map((b) => b.stop()));
  if (gh) gh.stop();
});
