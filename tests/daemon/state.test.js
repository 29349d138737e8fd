// senkod's state folder under faults (issue 12): state_dir deleted while
// it runs, a push whose blobs could not all be fetched, status files
// written only on change, object-store garbage collection, private modes,
// and relative paths with a detached senkod.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('daemon-state');
const REPOS = path.join(T, 'repos');

let gh, repo;
const boards = [];
const daemons = [];

const gitBlob = (content) => crypto.createHash('sha1')
  .update(Buffer.concat([Buffer.from(`blob ${Buffer.byteLength(content)}\0`), Buffer.from(content)])).digest('hex');
const blobPath = (state, sha) => path.join(state, 'objects', sha.slice(0, 2), sha.slice(2));

function boardHas(b, p, content) {
  try { return fs.readFileSync(path.join(b.flash, p), 'utf8') === content; } catch (e) { return false; }
}

// A daemon left running by a failed test must not hold a board for the next.
async function stopAll() {
  await Promise.all(daemons.filter((d) => d.exitCode === null && d.signalCode === null).map((d) => {
    d.kill('SIGTERM');
    return new Promise((r) => d.on('exit', r));
  }));
}
test.afterEach(stopAll);

function startDaemon(conf, opts = {}) {
  const d = h.track(spawn(h.SENKOD, ['-c', conf, ...(opts.args || ['--foreground'])], {
    stdio: ['ignore', 'ignore', 'pipe'], cwd: opts.cwd,
  }));
  d.log = h.collectLines(d.stderr);
  daemons.push(d);
  return d;
}

// The senkod that parent d left running once detached (d returns at
// once), found by its command line: the config file name is the run's
// own, and a detached senkod runs in / (or still in cwd).
async function detachedPid(d, conf, cwd) {
  await new Promise((r) => d.on('exit', r));
  return h.until(() => {
    for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        const pcwd = fs.readlinkSync(`/proc/${p}/cwd`);
        if (cmd[0] === h.SENKOD && cmd.includes(conf) && Number(p) !== d.pid &&
            (pcwd === '/' || pcwd === cwd)) return Number(p);
      } catch (e) { /* gone */ }
    }
    return null;
  }, 10000, 'the detached senkod');
}

// Every file and folder below dir, with its mode.
function modes(dir) {
  const out = [];
  const walk = (p) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const f = path.join(p, e.name);
      out.push({ f, mode: fs.lstatSync(f).mode & 0o777 });
      if (e.isDirectory()) walk(f);
    }
  };
  walk(dir);
  return out;
}

test.before(async () => {
  repo = h.makeRepo(REPOS, 'acme', 'fw', { 'main.py': 'print("v1")\n', 'lib/a.py': 'A = 1\n' });
  // The suite makes more than the 60 anonymous requests an hour GitHub
  // allows; none of its tests is about the rate limit.
  gh = await h.startGitHub({ repos: REPOS, args: ['--rate-limit', '600'] });
  boards.push(await h.startBoard({ dir: T, name: 'one' }));
  boards.push(await h.startBoard({ dir: T, name: 'two' }));
});

test('state_dir deleted while senkod runs: re-created, the next commit arrives, only the changed file is sent', async () => {
  const b = boards[0];
  const state = path.join(T, 'lost-state');
  const conf = h.writeConfig(path.join(T, 'lost.conf'), {
    senkod: { state_dir: state, api_url: gh.base, interval: '1s' },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { one: { port: b.link, baud: 1000000, source: 'app', reset: 'none' } },
  });
  const d = startDaemon(conf);
  await h.until(() => boardHas(b, 'main.py', 'print("v1")\n'), 30000, 'first sync');
  await h.until(() => d.log.some((l) => /one: /.test(l)) || fs.existsSync(path.join(state, 'devices/one/status.json')), 10000, 'status');
  // Out of senkod's way at once (a rename is atomic), then gone.
  fs.renameSync(state, `${state}.gone`);
  fs.rmSync(`${state}.gone`, { recursive: true, force: true });
  // Let at least one cycle run without the folder, then move upstream.
  const n0 = (await gh.log()).length;
  await h.until(async () => (await gh.log()).length > n0 + 1, 10000, 'a poll after the deletion');
  repo.commit({ 'main.py': 'print("v2")\n' });
  await h.until(() => boardHas(b, 'main.py', 'print("v2")\n'), 20000, `v2 on the board after state_dir was deleted\n${d.log.join('\n')}`);
  assert.ok(fs.existsSync(path.join(state, 'objects')), 'objects/ was not re-created');
  assert.equal(fs.statSync(state).mode & 0o777, 0o700, 'state_dir re-created with a mode other than 0700');
  // The board's record lists every file, so the next run hashes nothing
  // and sends nothing again.
  await h.until(() => {
    try { return JSON.parse(fs.readFileSync(path.join(state, 'devices/one/status.json'), 'utf8')).state === 'updated'; } catch (e) { return false; }
  }, 10000, () => {
    let st;
    try { st = fs.readFileSync(path.join(state, 'devices/one/status.json'), 'utf8'); } catch (e) { st = e.message; }
    return `status updated (status.json: ${st})\n${d.log.join('\n')}`;
  });
  const st = JSON.parse(fs.readFileSync(path.join(state, 'devices/one/status.json'), 'utf8'));
  assert.equal(st.files_sent, 1, `sent ${st.files_sent} files for a one-file change`);
  const text = JSON.stringify(h.boardRecord(b.flash));
  assert.match(text, /main\.py/);
  assert.match(text, /lib\/a\.py/, 'the board record lost lib/a.py');
  d.kill('SIGTERM');
  await new Promise((r) => d.on('exit', r));
});

test('a blob that cannot be fetched: the board keeps its files and its record, no mix of two commits', async () => {
  const b = boards[1];
  const state = path.join(T, 'partial-state');
  const conf = h.writeConfig(path.join(T, 'partial.conf'), {
    senkod: { state_dir: state, api_url: gh.base },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { two: { port: b.link, baud: 1000000, source: 'app', reset: 'none' } },
  });
  let r = await h.senkod(['-c', conf, '--once']);
  assert.equal(r.code, 0, r.stderr);
  const before = h.readTree(b.flash);
  const newLib = 'A = 3\n', newMain = 'print("v3")\n';
  repo.commit({ 'main.py': newMain, 'lib/a.py': newLib });
  // main.py's blob fails, lib/a.py's (fetched first) arrives.
  await gh.fault({ kind: 'status', status: 500, match: `git/blobs/${gitBlob(newMain)}` });
  r = await h.senkod(['-c', conf, '--once']);
  await gh.clearFaults();
  assert.equal(r.code, 1);
  const during = h.readTree(b.flash);
  for (const p of ['main.py', 'lib/a.py', '.senko.json', '.senko-0.json'])
    assert.ok(during[p] && during[p].equals(before[p]), `${p} changed although the commit was incomplete`);
  const st = JSON.parse(fs.readFileSync(path.join(state, 'devices/two/status.json'), 'utf8'));
  assert.equal(st.state, 'failed');
  assert.match(st.last_error, /keeps its files/);
  // Once the blob comes, the whole commit goes.
  r = await h.senkod(['-c', conf, '--once']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(boardHas(b, 'main.py', 'print("v3")\n') && boardHas(b, 'lib/a.py', newLib));
});

test('status.json is written on change only, not every poll', async () => {
  const b = boards[0];
  const state = path.join(T, 'quiet-state');
  const conf = h.writeConfig(path.join(T, 'quiet.conf'), {
    senkod: { state_dir: state, api_url: gh.base, interval: '1s' },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { one: { port: b.link, baud: 1000000, source: 'app', reset: 'none' } },
  });
  const file = path.join(state, 'devices/one/status.json');
  const d = startDaemon(conf);
  await h.until(() => fs.existsSync(file), 30000, 'first status');
  // The first cycle may write it once more (counters back to 0).
  const n0 = (await gh.log()).length;
  await h.until(async () => (await gh.log()).length >= n0 + 2, 15000, 'two polls');
  const ino = fs.statSync(file).ino;
  const n1 = (await gh.log()).length;
  await h.until(async () => (await gh.log()).length >= n1 + 4, 20000, 'four more polls');
  assert.equal(fs.statSync(file).ino, ino, 'status.json was replaced although nothing happened');
  // A change is still written.
  repo.commit({ 'main.py': 'print("v4")\n' });
  await h.until(() => fs.statSync(file).ino !== ino, 20000, 'status.json after an update');
  assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).state, 'updated');
  d.kill('SIGTERM');
  await new Promise((r) => d.on('exit', r));
});

test('garbage collection keeps what sources and boards need, removes the rest after the grace period', async () => {
  const [one, two] = boards;
  const state = path.join(T, 'gc-state');
  const devices = {
    one: { port: one.link, baud: 1000000, source: 'app', reset: 'none' },
    two: { port: two.link, baud: 1000000, source: 'app', reset: 'none' },
  };
  const confFile = path.join(T, 'gc.conf');
  const conf = (devs) => h.writeConfig(confFile, {
    senkod: { state_dir: state, api_url: gh.base },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: devs,
  });
  conf(devices);
  const oldMain = 'print("gc old")\n', newMain = 'print("gc new")\n';
  repo.commit({ 'main.py': oldMain });
  let r = await h.senkod(['-c', confFile, '--once']);
  assert.equal(r.code, 0, r.stderr);
  // Board two goes offline and stays on the old commit.
  conf({ one: devices.one, two: Object.assign({}, devices.two, { port: path.join(T, 'unplugged') }) });
  repo.commit({ 'main.py': newMain });
  r = await h.senkod(['-c', confFile, '--once']);
  assert.ok(boardHas(one, 'main.py', newMain));
  const stray = blobPath(state, '0123456789abcdef0123456789abcdef01234567');
  fs.mkdirSync(path.dirname(stray), { recursive: true });
  fs.writeFileSync(stray, 'not referenced by anything');
  // Everything in the store is older than the grace period.
  const old = new Date(Date.now() - 2 * 3600 * 1000);
  for (const { f } of modes(path.join(state, 'objects'))) fs.utimesSync(f, old, old);
  r = await h.senkod(['-c', confFile, '--once']);
  assert.ok(!fs.existsSync(stray), 'an unreferenced blob was kept');
  assert.ok(fs.existsSync(blobPath(state, gitBlob(newMain))), 'the source\'s blob was removed');
  assert.ok(fs.existsSync(blobPath(state, gitBlob(oldMain))), 'the blob board two still runs was removed');
  assert.ok(fs.existsSync(blobPath(state, gitBlob('A = 3\n'))), 'lib/a.py\'s blob was removed');
  // Board two leaves the configuration: the old blob is board one's
  // previous healthy commit's (a rollback may need it) until one moves
  // on again; then nothing needs it.
  conf({ one: devices.one });
  r = await h.senkod(['-c', confFile, '--once']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(blobPath(state, gitBlob(oldMain))), 'the blob of board one\'s previous healthy commit was removed');
  repo.commit({ 'main.py': 'print("gc newer")\n' });
  r = await h.senkod(['-c', confFile, '--once']);
  assert.equal(r.code, 0, r.stderr);
  for (const { f } of modes(path.join(state, 'objects'))) fs.utimesSync(f, old, old);
  r = await h.senkod(['-c', confFile, '--once']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!fs.existsSync(blobPath(state, gitBlob(oldMain))), 'a blob nobody needs was kept');
  assert.ok(fs.existsSync(blobPath(state, gitBlob(newMain))), 'the blob of board one\'s previous healthy commit was removed');
  // A fresh blob is kept whatever refers to it (another senko may be using it).
  fs.writeFileSync(stray, 'fresh');
  r = await h.senkod(['-c', confFile, '--once']);
  assert.ok(fs.existsSync(stray), 'a blob younger than the grace period was removed');
});

test('state files are private: state_dir 0700, nothing wider than the umask', async () => {
  const b = boards[0];
  for (const umask of ['022', '077']) {
    const state = path.join(T, `modes-${umask}`, 'state');
    const conf = h.writeConfig(path.join(T, `modes-${umask}.conf`), {
      senkod: { state_dir: state, api_url: gh.base },
      sources: { app: { user: 'acme', repo: 'fw' } },
      devices: { one: { port: b.link, baud: 1000000, source: 'app', reset: 'none' } },
    });
    const r = await h.run('/bin/sh', ['-c', `umask ${umask}; exec "$0" -c "$1" --once`, h.SENKOD, conf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(state).mode & 0o777, 0o700, `state_dir mode with umask ${umask}`);
    const all = modes(state);
    assert.ok(all.some(({ f }) => f.includes('/objects/')), 'no blobs stored');
    assert.ok(all.some(({ f }) => f.includes('/mirror/')), 'no mirror files');
    const mask = parseInt(umask, 8);
    const wide = all.filter(({ mode }) => mode & mask);
    assert.deepEqual(wide.map(({ f, mode }) => `${f} ${mode.toString(8)}`), [], `modes wider than umask ${umask}`);
  }
});

test('relative -c and state_dir with a detached senkod: state stays where it started, SIGHUP finds the file', async () => {
  const b = boards[1];
  const cwd = path.join(T, 'rel');
  fs.mkdirSync(cwd, { recursive: true });
  const tag = crypto.randomBytes(4).toString('hex');
  const rel = `relstate-${tag}`;
  // The file's name is the run's own: a detached senkod runs in /, and
  // another run of this test on the machine has one too.
  const conf = `rel-${tag}.conf`;
  const write = (interval) => h.writeConfig(path.join(cwd, conf), {
    senkod: { state_dir: rel, api_url: gh.base, interval },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { two: { port: b.link, baud: 1000000, source: 'app', reset: 'none' } },
  });
  write('1h');
  const d = startDaemon(conf, { args: ['-v'], cwd });
  let pid = null;
  try {
    pid = await detachedPid(d, conf, cwd);
    await h.until(() => fs.existsSync(path.join(cwd, rel, 'devices/two/status.json')), 30000,
      `state in ${cwd}/${rel}\n${d.log.join('\n')}`);
    assert.ok(fs.existsSync(path.join(cwd, rel, 'objects')), 'objects/ is not in the relative state_dir');
    assert.ok(!fs.existsSync(`/${rel}`), `state written to /${rel}`);
    write('2h');
    process.kill(pid, 'SIGHUP');
    await h.until(() => d.log.some((l) => /configuration reloaded/.test(l) || /is broken/.test(l)), 10000, 'reload');
    assert.ok(d.log.some((l) => /configuration reloaded/.test(l)), d.log.join('\n'));
    process.kill(pid, 'SIGTERM');
    await h.until(() => !fs.existsSync(`/proc/${pid}`), 10000, 'the detached senkod to stop');
    pid = null;
  } finally {
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch (e) { /* gone */ }
    fs.rmSync(`/${rel}`, { recursive: true, force: true });
  }
});

test('relative token_file with a detached senkod: the token is read where it started, also after SIGHUP', async () => {
  const priv = await h.startGitHub({ repos: REPOS, args: ['--token', 's3cret', '--private', 'acme/fw'] });
  const cwd = path.join(T, 'reltok');
  fs.mkdirSync(cwd, { recursive: true });
  fs.writeFileSync(path.join(cwd, 'tok'), 's3cret\n', { mode: 0o600 });
  const tag = crypto.randomBytes(4).toString('hex');
  const conf = `reltok-${tag}.conf`;
  const write = (interval) => h.writeConfig(path.join(cwd, conf), {
    senkod: { state_dir: `state-${tag}`, api_url: priv.base, interval, token_file: 'tok' },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { two: { port: boards[1].link, baud: 1000000, source: 'app', reset: 'none' } },
  });
  write('1s');
  const d = startDaemon(conf, { args: ['-v'], cwd });
  let pid = null;
  try {
    pid = await detachedPid(d, conf, cwd);
    const polled = async () => (await priv.log()).filter((e) => /\/commits\/main/.test(e.path));
    await h.until(async () => (await polled()).length > 0, 15000, `a poll\n${d.log.join('\n')}`);
    write('2s');
    process.kill(pid, 'SIGHUP');
    await h.until(() => d.log.some((l) => /configuration reloaded/.test(l)), 10000, `reload\n${d.log.join('\n')}`);
    await priv.clearLog();
    await h.until(async () => (await polled()).length > 0, 15000, `a poll after the reload\n${d.log.join('\n')}`);
    const after = await polled();
    assert.ok(after.every((e) => e.auth && e.status !== 404), `polls after the reload without the token: ${JSON.stringify(after)}\n${d.log.join('\n')}`);
    process.kill(pid, 'SIGTERM');
    await h.until(() => !fs.existsSync(`/proc/${pid}`), 10000, 'the detached senkod to stop');
    pid = null;
  } finally {
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch (e) { /* gone */ }
    priv.stop();
  }
});

test.after(async () => {
  for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
  await Promise.all(boards.map((b) => b.stop()));
  if (gh) gh.stop();
});
