// Stopping on time (issue 12): senkod exits within 5 s of SIGTERM whatever
// the boards do (silent ports, jobs = 1), and `senko sync` handles Ctrl-C
// like senkod: it stops after the group in flight, hands the board back to
// its REPL, restarts the application, records "stopped" and exits 130; a
// second Ctrl-C ends it at once.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('daemon-stop');
const REPOS = path.join(T, 'repos');
const PTYBRIDGE = path.join(h.ROOT, 'tests/board/ptybridge');

let gh, repo;
const boards = [];
const silent = [];

// A serial port that never answers: a pty whose other end reads what the
// host writes and says nothing.  Resolves {link, received()}.
async function startSilentPort() {
  const child = h.track(spawn(PTYBRIDGE, [], { stdio: ['pipe', 'pipe', 'inherit'] }));
  let first = '', received = 0, link = null;
  const ready = new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`ptybridge exited (${code})`)));
    child.stdout.on('data', (d) => {
      if (link !== null) { received += d.length; return; }
      first += d.toString('latin1');
      const nl = first.indexOf('\n');
      if (nl < 0) return;
      link = first.slice(0, nl).trim();
      received += Buffer.byteLength(first.slice(nl + 1), 'latin1');
      resolve();
    });
  });
  await ready;
  const port = { link, child, received: () => received, stop() { child.stdin.end(); child.kill('SIGTERM'); } };
  silent.push(port);
  return port;
}

function stderrLines(child) {
  const lines = [];
  let rest = '';
  child.stderr.on('data', (d) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop();
    lines.push(...parts);
  });
  return lines;
}

// senkod in the foreground on conf: {d, log (its stderr lines), exited}.
function startSenkod(conf) {
  const d = h.track(spawn(h.SENKOD, ['-c', conf, '--foreground'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  const log = stderrLines(d);
  const exited = new Promise((res) => d.on('exit', (code, signal) => res({ code, signal })));
  return { d, log, exited };
}

// A project of its own for a boot-watch test: repository acme/NAME holding
// main.py, a fake GitHub for it, a board at 1,000,000 baud and a config
// with one device NAME (dev: its health keys; args: the board's options).
// record() reads the device's rollout record, status() its status.  The
// caller stops gh.
async function watchProject(name, mainPy, dev, args = []) {
  const repos = path.join(T, `repos-${name}`);
  const repo = h.makeRepo(repos, 'acme', name, { 'main.py': mainPy });
  const gh = await h.startGitHub({ repos });
  const board = await h.startBoard({ dir: T, name, args });
  boards.push(board);
  const state = path.join(T, `${name}-state`);
  const conf = h.writeConfig(path.join(T, `${name}.conf`), {
    senkod: { state_dir: state, api_url: gh.base, interval: '1h' },
    sources: { app: { user: 'acme', repo: name } },
    devices: { [name]: Object.assign({ port: board.link, baud: 1000000, source: 'app' }, dev) },
  });
  const record = () => JSON.parse(fs.readFileSync(path.join(state, 'devices', name, 'rollout.json'), 'utf8'));
  return { repo, gh, board, conf, record, status: () => statusOf(state, name) };
}

// Send sig and wait for the exit (SIGKILL after 90 s, so that a hung
// process fails the test rather than the run): {code, signal, took}.
async function signalAndWait(child, exited, sig) {
  const t0 = Date.now();
  child.kill(sig);
  const killer = setTimeout(() => child.kill('SIGKILL'), 90000);
  const e = await exited;
  clearTimeout(killer);
  return { ...e, took: Date.now() - t0 };
}

function statusOf(state, name) {
  return JSON.parse(fs.readFileSync(path.join(state, 'devices', name, 'status.json'), 'utf8'));
}

test.before(async () => {
  repo = h.makeRepo(REPOS, 'acme', 'fw', { 'main.py': 'print("v1")\n' });
  gh = await h.startGitHub({ repos: REPOS });
});

test('SIGTERM with three silent boards and jobs = 1: senkod exits within 5 s', async () => {
  const ports = [await startSilentPort(), await startSilentPort(), await startSilentPort()];
  const state = path.join(T, 'silent-state');
  const devices = {};
  ports.forEach((p, i) => { devices[`mute${i}`] = { port: p.link, baud: 115200, source: 'app', reset: 'none' }; });
  const conf = h.writeConfig(path.join(T, 'silent.conf'), {
    senkod: { state_dir: state, api_url: gh.base, interval: '1h', jobs: 1 },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices,
  });
  const { d, log, exited } = startSenkod(conf);
  // The first board is being opened: senko's interrupts reach its line.
  await h.until(() => ports[0].received() > 0, 20000, 'senkod talking to the first silent port');
  const r = await signalAndWait(d, exited, 'SIGTERM');
  assert.ok(r.took < 5000, `senkod took ${r.took} ms to stop after SIGTERM\n${log.join('\n')}`);
  assert.equal(r.code, 0, log.join('\n'));
  assert.equal(ports[2].received(), 0, 'the third board was opened after SIGTERM');
  // The interrupted visit is recorded as stopped, not as a failure
  // "without a message"; boards never reached keep no status at all.
  const st = statusOf(state, 'mute0');
  assert.equal(st.state, 'stopped');
  assert.doesNotMatch(st.last_error, /without a message/);
  assert.ok(!fs.existsSync(path.join(state, 'devices', 'mute2', 'status.json')), 'mute2 has a status');
});

// Ctrl-C went to the board before the stop: its application may be
// letting go of it, so the opening ends with a soft reset given the stop
// grace (repl.h REPL_STOP_GRACE_MS, 2.5 s), not ENTER_MS's 10 s.
test('senko ls on a board that does not answer: Ctrl-C gives up the opening within the stop grace, exit 130', async () => {
  const port = silent[0] || await startSilentPort();
  const conf = h.writeConfig(path.join(T, 'ls.conf'), {
    senkod: { state_dir: path.join(T, 'ls-state'), api_url: gh.base },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { mute: { port: port.link, baud: 115200, source: 'app' } },
  });
  const before = port.received();
  const child = h.track(spawn(h.SENKO, ['-c', conf, 'ls', 'mute'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  const log = stderrLines(child);
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  await h.until(() => port.received() > before, 10000, 'senko talking to the port');
  const t0 = Date.now();
  child.kill('SIGINT');
  const e = await exited;
  assert.ok(Date.now() - t0 < 3500, `took ${Date.now() - t0} ms`);
  assert.equal(e.code, 130, `exit ${e.code}/${e.signal}\n${log.join('\n')}`);
  assert.ok(log.some((l) => /stopped by Ctrl-C/.test(l)), log.join('\n'));
});

// The running daemon, not --once (tests/forge/limits.test.sh has that):
// the HTTP transfer aborts on the same stop flag (forge_set_stop).
test('SIGTERM while a server trickles an answer: senkod exits within 5 s', async () => {
  // One byte every half second: above any low-speed limit, never done.
  const http = require('http');
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{');
    const timer = setInterval(() => res.write(' '), 500);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const conf = h.writeConfig(path.join(T, 'trickle.conf'), {
    senkod: { state_dir: path.join(T, 'trickle-state'), api_url: `http://127.0.0.1:${server.address().port}`, interval: '1h' },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { trickle: { port: path.join(T, 'no-such-port'), source: 'app' } },
  });
  const { d, log, exited } = startSenkod(conf);
  try {
    await h.until(() => requests > 0, 10000, 'senkod asking the trickling server');
    await new Promise((r) => setTimeout(r, 1000)); // well inside the transfer
    const r = await signalAndWait(d, exited, 'SIGTERM');
    assert.ok(r.took < 5000, `senkod took ${r.took} ms to stop after SIGTERM\n${log.join('\n')}`);
    assert.equal(r.code, 0, log.join('\n'));
    // The poll was cut short, not failed: the source is not recorded as
    // failing (the next start would poll it quietly).
    const sf = path.join(T, 'trickle-state', 'sources/app/status.json');
    const st = fs.existsSync(sf) ? JSON.parse(fs.readFileSync(sf, 'utf8')) : {};
    assert.notEqual(st.state, 'failed', JSON.stringify(st));
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

// A source that is a folder on this machine is listed by `git ls-files`;
// a git that takes its time (a large tree, a slow SD card) must not hold
// SIGTERM.  Here a git on PATH that sleeps 30 s.
test('SIGTERM while git lists a local folder: senkod exits within 5 s', async () => {
  const dir = path.join(T, 'local');
  const bin = path.join(T, 'slowgit');
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(dir, 'main.py'), 'print(1)\n');
  const started = path.join(T, 'slowgit.started');
  fs.writeFileSync(path.join(bin, 'git'), `#!/bin/sh\ntouch '${started}'\nexec sleep 30\n`, { mode: 0o755 });
  const conf = h.writeConfig(path.join(T, 'local.conf'), {
    senkod: { state_dir: path.join(T, 'local-state'), interval: '1h' },
    sources: { app: { path: dir } },
    devices: { local: { port: path.join(T, 'no-such-port'), source: 'app' } },
  });
  const d = h.track(spawn(h.SENKOD, ['-c', conf, '--foreground'], {
    stdio: ['ignore', 'ignore', 'pipe'], env: Object.assign({}, process.env, { PATH: `${bin}:${process.env.PATH}` }),
  }));
  const log = stderrLines(d);
  const exited = new Promise((res) => d.on('exit', (code, signal) => res({ code, signal })));
  await h.until(() => fs.existsSync(started), 10000, `senkod running git\n${log.join('\n')}`);
  const r = await signalAndWait(d, exited, 'SIGTERM');
  assert.ok(r.took < 5000, `senkod took ${r.took} ms to stop after SIGTERM\n${log.join('\n')}`);
  assert.equal(r.code, 0, log.join('\n'));
});

test('senko sync: Ctrl-C mid-push stops after the group in flight, frees the board, restarts main.py, exits 130', async () => {
  // main.py counts its runs in a file on the board's flash, then raises
  // (health = none: a traceback does not roll it back).
  const counter = 'n = 0\ntry:\n    n = int(open("runs").read())\nexcept OSError:\n    pass\n' +
    'open("runs", "w").write(str(n + 1))\nraise ValueError("run %d" % (n + 1))\n';
  repo.commit({ 'main.py': counter });
  const b = await h.startBoard({ dir: T, name: 'slow', baud: 115200 });
  boards.push(b);
  const state = path.join(T, 'int-state');
  const conf = h.writeConfig(path.join(T, 'int.conf'), {
    senkod: { state_dir: state, api_url: gh.base },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { slow: { port: b.link, baud: 115200, source: 'app', reset: 'soft', health: 'none' } },
  });
  let r = await h.senko(['-c', conf, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statusOf(state, 'slow').boot_traceback, true, 'the boot watch missed the ValueError');
  const runs = () => Number(fs.readFileSync(path.join(b.flash, 'runs'), 'utf8'));

  // Three 24 KB files: three groups at 115200 baud (about 2 s each).
  const files = {};
  for (const n of ['a.bin', 'b.bin', 'c.bin']) files[n] = crypto.randomBytes(24 * 1024);
  repo.commit(files);
  const rx0 = b.counters().rx_bytes;
  const child = h.track(spawn(h.SENKO, ['-c', conf, 'sync'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout.on('data', (x) => { out += x; });
  const log = stderrLines(child);
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  await h.until(() => (b.counters() || {}).rx_bytes > rx0 + 4000, 30000, 'push under way');
  // main.py is not running now (senko interrupted it to push).
  const runsBefore = runs();
  const e = await signalAndWait(child, exited, 'SIGINT');
  assert.equal(e.code, 130, `exit ${e.code}/${e.signal}\n${log.join('\n')}`);
  assert.ok(e.took < 5000, `took ${e.took} ms`);
  assert.match(out, /slow: stopped/);

  const st = statusOf(state, 'slow');
  assert.equal(st.state, 'stopped');
  assert.doesNotMatch(st.last_error, /without a message/);
  // Restarted without a watch (senko was stopping): the traceback the
  // status held was an earlier boot's.
  assert.deepEqual([st.boot_watched, st.boot_traceback], [false, false], JSON.stringify(st));
  // Not every file went: it stopped between groups, and what is on the
  // board under a real name is whole.
  const tree = h.readTree(b.flash);
  const sent = Object.keys(files).filter((n) => tree[n]);
  assert.ok(sent.length < 3, 'all three files were written: the stop did not stop anything');
  for (const n of sent) assert.ok(tree[n].equals(files[n]), `${n} is not whole`);
  // The application ran again after the stop.
  await h.until(() => runs() > runsBefore, 10000, 'main.py running again');
  // The board answers a REPL at once (mpremote, Thonny and rshell would):
  // `senko exec` opens it without any rescue.
  const t1 = Date.now();
  r = await h.senko(['-c', conf, 'exec', 'slow', 'print(6 * 7)']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /42/);
  assert.ok(Date.now() - t1 < 8000, `the board took ${Date.now() - t1} ms to answer`);
  // The next sync carries on and completes the commit.
  r = await h.senko(['-c', conf, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  const after = h.readTree(b.flash);
  for (const n of Object.keys(files)) assert.ok(after[n] && after[n].equals(files[n]), n);
});

test('a second Ctrl-C ends senko sync at once, even in the middle of a file', async () => {
  const b = boards.find((x) => x.name === 'slow');
  const conf = path.join(T, 'int.conf');
  // One 64 KB file: one group, about 6 s on the line at 115200 baud, so
  // the first Ctrl-C alone would wait for it.
  const big = crypto.randomBytes(64 * 1024);
  repo.commit({ 'big.bin': big });
  const rx0 = b.counters().rx_bytes;
  const child = h.track(spawn(h.SENKO, ['-c', conf, 'sync'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  await h.until(() => (b.counters() || {}).rx_bytes > rx0 + 4000, 30000, 'push under way');
  child.kill('SIGINT');
  await new Promise((res) => setTimeout(res, 50));
  const t0 = Date.now();
  child.kill('SIGINT');
  const e = await exited;
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms after the second Ctrl-C`);
  assert.equal(e.signal, 'SIGINT', `exit ${e.code}/${e.signal}`);
  // The board is left inside the receiver; the next sync frees it and
  // delivers the file whole.
  const r = await h.senko(['-c', conf, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(h.readTree(b.flash)['big.bin'].equals(big), 'big.bin is not whole');
});

// A restart of senkod (systemctl restart) while it watches a board boot
// for its health line: the watch is cut short, which says nothing about
// the commit.  It must not be recorded as a failed health check, nor roll
// the board back, nor pass as healthy: the next sync watches it again.
test('SIGTERM during a health-line watch: exits within 5 s, the commit is not judged, the next sync watches it', async () => {
  const { repo: wrepo, gh: wgh, board: b, conf, record } =
    await watchProject('w', 'print("v1 READY")\n', { health: 'line READY', health_timeout: '60s' });
  try {
    let r = await h.senko(['-c', conf, 'sync']);
    assert.equal(r.code, 0, r.stderr);
    // v2 prints its health line after 4 s: the watch is still on when
    // SIGTERM comes.
    const v2 = wrepo.commit({ 'main.py': 'import time\ntime.sleep(4)\nprint("v2 READY")\n' });
    const resets = b.counters().soft_resets;
    const { d, log, exited } = startSenkod(conf);
    // The reset inside the raw REPL, then the one that starts v2: the
    // watch has begun.
    await h.until(() => (b.counters() || {}).soft_resets >= resets + 2, 30000, 'the restart of v2');
    await h.until(() => h.readTree(b.flash)['main.py'].toString().includes('v2'), 5000, 'v2 on the board');
    const e = await signalAndWait(d, exited, 'SIGTERM');
    assert.ok(e.took < 5000, `senkod took ${e.took} ms to stop during the watch\n${log.join('\n')}`);
    assert.equal(e.code, 0, log.join('\n'));
    const text = log.join('\n');
    assert.doesNotMatch(text, /failed its health check|rolling back/, text);
    assert.match(text, /w: the boot watch was cut short \(stopping\)/, text);
    assert.match(text, /w: commit [0-9a-f]{7} is on the board, its health not judged yet/, text);
    assert.deepEqual([record().commit, record().health], [v2, 'unknown']);
    assert.ok(h.readTree(b.flash)['main.py'].toString().includes('v2'), 'the board was rolled back to v1');
    // The next sync has nothing to write, but restarts v2 and watches
    // it to its line; the one after leaves the board alone.
    const before = b.counters().soft_resets;
    r = await h.senko(['-c', conf, 'sync']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /w: commit [0-9a-f]{7} was never seen to boot to its health line; restarting/, r.stderr);
    assert.ok(b.counters().soft_resets > before, 'the application was not restarted to be watched');
    assert.deepEqual([record().commit, record().health], [v2, 'healthy']);
    const after = b.counters().soft_resets;
    r = await h.senko(['-c', conf, 'sync']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(b.counters().soft_resets, after, 'a judged commit was watched again');
  } finally {
    wgh.stop();
  }
});

// health = none: the boot watch is only for senko status, so a watch cut
// short leaves nothing to judge later, and no sync restarts the board for it.
test('SIGTERM during the boot watch with health = none: the commit is not left unjudged', async () => {
  const { repo: nrepo, gh: ngh, board: b, conf, record } =
    await watchProject('n', 'print("v1")\n', { health: 'none', boot_watch: '60s' });
  try {
    const v2 = nrepo.commit({ 'main.py': 'print("v2")\n' });
    const { d, log, exited } = startSenkod(conf);
    // The reset inside the raw REPL, then the one that starts v2.
    await h.until(() => (b.counters() || {}).soft_resets >= 2, 30000, 'the restart of v2');
    const e = await signalAndWait(d, exited, 'SIGTERM');
    const text = log.join('\n');
    assert.equal(e.code, 0, text);
    assert.match(text, /n: the boot watch was cut short \(stopping\)/, text);
    assert.doesNotMatch(text, /not judged yet|restarts the application/, text);
    assert.deepEqual([record().commit, record().health], [v2, 'healthy']);
  } finally {
    ngh.stop();
  }
});

// SIGTERM while the board carries out the commit (its renames): the grace
// lets the commit finish, so the board holds the new commit whole, but
// senkod stops before it restarts the application to watch it.  That
// commit must not pass as healthy unwatched: the next sync watches it, and
// a broken one is rolled back.
test('SIGTERM while the board carries out the commit: the new commit is left unjudged, the next sync catches it broken', async () => {
  // Each flash program takes 0.1 s: the commit's renames (one metadata
  // commit each) outlast the signal's way to senkod.
  const { repo: crepo, gh: cgh, board: b, conf, record, status } =
    await watchProject('c', 'print("v1")\n', {}, ['--flash-prog-us', '100000']);
  try {
    let r = await h.senko(['-c', conf, 'sync']);
    assert.equal(r.code, 0, r.stderr);
    const v1 = record().commit;
    const v2 = crepo.commit({ 'main.py': 'raise ValueError("v2 is broken")\n', 'a.py': 'A = 1\n', 'b.py': 'B = 2\n' });
    const renamed = b.counters().files_renamed;
    const { d, log, exited } = startSenkod(conf);
    // The journal goes into place first: the commit has begun.
    await h.until(() => (b.counters() || {}).files_renamed > renamed, 60000, 'the commit under way');
    const e = await signalAndWait(d, exited, 'SIGTERM');
    const text = log.join('\n');
    assert.equal(e.code, 0, text);
    // Stopped in the commit, not in the boot watch after it.
    assert.equal(status().state, 'stopped', text);
    assert.match(status().last_error, /stopped with the board at its new commit/);
    assert.ok(h.readTree(b.flash)['main.py'].toString().includes('v2'), 'the commit did not land');
    assert.match(text, /c: commit [0-9a-f]{7} is on the board, its health not judged yet/, text);
    assert.deepEqual([record().commit, record().health], [v2, 'unknown']);
    // The next sync restarts v2 to watch it, sees it raise and rolls back.
    r = await h.senko(['-c', conf, 'sync']);
    assert.match(r.stderr, /c: failed its health check on commit [0-9a-f]{7}.*ValueError/, r.stderr);
    assert.equal(record().commit, v1, JSON.stringify(record()));
    assert.ok(h.readTree(b.flash)['main.py'].toString().includes('v1'), 'v2 is still on the board');
  } finally {
    cgh.stop();
  }
});

test.after(async () => {
  for (const p of silent) p.stop();
  await Promise.all(boards.map((b) => b.stop()));
  if (gh) gh.stop();
});
