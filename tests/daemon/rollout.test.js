// senkod and a rollout that is not moving: a board held back by a halted
// rollout still has its forced checks (verify_interval) carried out,
// against the commit it holds, not the held one; a ring whose soak ended
// is released at the next poll though no board of the ring before is due
// (unplugged, backing off); and a soak that ended while the source fails
// does not make senkod run a cycle every second.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('rollout-daemon');
const SRC = path.join(T, 'project');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
const boards = {};
const daemons = [];
let daemon, log = [];

test.after(async () => {
  for (const d of daemons) if (d.exitCode === null) d.kill('SIGKILL');
  for (const b of Object.values(boards)) await b.stop();
});

const file = (b, p) => {
  try { return fs.readFileSync(path.join(b.flash, p), 'utf8'); } catch (e) { return null; }
};
// What senkod tells systemd (STATUS=), read as systemd would.
const SOCK = path.join(T, 'notify.sock');
let notes = [];
function startDaemon() {
  log = [];
  daemon = h.track(spawn(h.SENKOD, ['-c', CONF, '--foreground', '-v'], {
    stdio: ['ignore', 'ignore', 'pipe'], env: Object.assign({}, process.env, { NOTIFY_SOCKET: SOCK }),
  }));
  daemons.push(daemon);
  h.collectLines(daemon.stderr, log);
}
async function stopDaemon() {
  if (daemon.exitCode !== null) return;
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.on('exit', r));
}
// The source's rollout as senkod keeps it (rollout.c, rollout_source_save).
const rolloutFile = path.join(STATE, 'sources', 'app', 'rollout.json');

test('a board held by a halted rollout is still checked, against the commit it holds', async () => {
  fs.mkdirSync(SRC, { recursive: true });
  fs.writeFileSync(path.join(SRC, 'main.py'), 'print("v1")\n');
  boards.held = await h.startBoard({ dir: T, name: 'held' });
  const held = { port: boards.held.link, baud: 1000000, source: 'app', boot_watch: 0, ring: 1 };
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, interval: '1h' },
    sources: { app: { path: SRC, soak: '1h' } },
    devices: { held },
  });
  let r = await h.senkod(['-c', CONF, '--once']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(file(boards.held, 'main.py'), 'print("v1")\n');

  // v2 starts its rollout at ring 0, a board that is not plugged in; the
  // soak keeps ring 1 waiting.  Then the rollout is halted on v2.
  fs.writeFileSync(path.join(SRC, 'main.py'), 'print("v2")\n');
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, interval: '1h', metrics_file: path.join(T, 'metrics.prom') },
    sources: { app: { path: SRC, soak: '1h' } },
    devices: {
      gone: { port: path.join(T, 'no-such-port'), baud: 1000000, source: 'app', boot_watch: 0, ring: 0 },
      held: Object.assign({}, held, { verify_interval: '1s' }),
    },
  });
  r = await h.senkod(['-c', CONF, '--once']);
  assert.equal(file(boards.held, 'main.py'), 'print("v1")\n', r.stderr);
  // senko status (and the metrics) say so too: in sync at v1 it was,
  // its source is at v2, the rollout keeps it waiting.
  const st = await h.senko(['-c', CONF, 'status', '--json']);
  const heldStatus = JSON.parse(st.stdout).devices.find((d) => d.name === 'held');
  assert.equal(heldStatus.state, 'waiting', st.stdout);
  const metrics = fs.readFileSync(path.join(T, 'metrics.prom'), 'utf8');
  assert.match(metrics, /^senko_device_in_sync\{device="held"[^}]*\} 0$/m, metrics);
  const ro = JSON.parse(fs.readFileSync(rolloutFile, 'utf8'));
  Object.assign(ro, { halted: true, failed_device: 'gone', reason: 'halted by the test' });
  fs.writeFileSync(rolloutFile, JSON.stringify(ro));

  // Behind senko's back, before senkod runs (no port is contended).
  r = await h.senko(['-c', CONF, 'exec', 'held', "import os\nos.remove('main.py')"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(file(boards.held, 'main.py'), null);

  const listener = h.track(spawn(path.join(h.BUILD, 'tests/helper-notify_listen'), [SOCK],
    { stdio: ['ignore', 'pipe', 'inherit'] }));
  daemons.push(listener);
  notes = h.collectLines(listener.stdout);
  await h.until(() => notes.includes('LISTENING'), 5000, 'notify listener');
  startDaemon();
  // systemctl status tells the truth: no board runs the halted commit.
  const cycled = () => notes.find((l) => /^STATUS=.*boards in sync/.test(l));
  await h.until(cycled, 10000, () => `a STATUS after the first cycle\n${notes.join('\n')}`);
  assert.match(cycled(), /STATUS=0 of 2 boards in sync at \w+, 2 waiting for the rollout; rollout halted: source app \(see senko rollout\)/);
  listener.kill();
  await h.until(() => log.some((l) => /held: checking the board/.test(l)), 10000, 'a scheduled check');
  await h.until(() => file(boards.held, 'main.py') !== null, 8000,
    () => `main.py back on the held board\n${log.join('\n')}`);
  assert.equal(file(boards.held, 'main.py'), 'print("v1")\n', 'the held commit reached the board');
  await stopDaemon();
  assert.equal(JSON.parse(fs.readFileSync(rolloutFile, 'utf8')).halted, true, 'the rollout is no longer halted');
});

test('a ring whose soak ended is released at the next poll though the ring before is offline', async () => {
  // Ring 0's board is not plugged in (it backs off); ring 1's waits for
  // the 2 s soak, then takes the commit at the poll the soak ends on.
  const project = path.join(T, 'project2');
  const state = path.join(T, 'state2');
  fs.mkdirSync(project, { recursive: true });
  fs.writeFileSync(path.join(project, 'main.py'), 'print("soaked")\n');
  boards.next = await h.startBoard({ dir: T, name: 'next' });
  h.writeConfig(CONF, {
    senkod: { state_dir: state, interval: '1h' },
    sources: { app: { path: project, soak: '2s' } },
    devices: {
      gone: { port: path.join(T, 'no-such-port'), baud: 1000000, source: 'app', boot_watch: 0, ring: 0 },
      next: { port: boards.next.link, baud: 1000000, source: 'app', boot_watch: 0, ring: 1 },
    },
  });
  startDaemon();
  await h.until(() => log.some((l) => /next: waiting for commit/.test(l) || /rolling out commit/.test(l)), 10000,
    () => `the rollout started\n${log.join('\n')}`);
  await h.until(() => file(boards.next, 'main.py') !== null, 8000,
    () => `main.py on the ring 1 board after the soak\n${log.join('\n')}`);
  assert.equal(file(boards.next, 'main.py'), 'print("soaked")\n');
  assert.ok(log.some((l) => /released to ring 1/.test(l)), log.join('\n'));
  await stopDaemon();
});

test('a soak that ended while the source fails does not poll it every second', async () => {
  const repos = path.join(T, 'repos');
  h.makeRepo(repos, 'acme', 'fw', { 'main.py': 'print("gh")\n' });
  const gh = await h.startGitHub({ repos });
  try {
    const state = path.join(T, 'state3');
    const now = Math.floor(Date.now() / 1000);
    // A rollout whose ring 0 soaked an hour past its end (rollout.c's
    // rollout_source_save writes this): nothing but a poll releases it.
    fs.mkdirSync(path.join(state, 'sources', 'app'), { recursive: true });
    fs.writeFileSync(path.join(state, 'sources', 'app', 'rollout.json'), JSON.stringify({
      commit: 'a'.repeat(40), ring: 0, done: false, started: now - 10800,
      ring_healthy_since: now - 7200, halted: false, failed_device: '', reason: '', bad: [],
    }));
    h.writeConfig(CONF, {
      senkod: { state_dir: state, api_url: gh.base, interval: '1h' },
      sources: { app: { user: 'acme', repo: 'fw', soak: '1h' } },
      devices: {
        gone0: { port: path.join(T, 'no-such-port0'), baud: 1000000, source: 'app', ring: 0 },
        gone1: { port: path.join(T, 'no-such-port1'), baud: 1000000, source: 'app', ring: 1 },
      },
    });
    await gh.fault({ kind: 'status', status: 502, match: '/commits/' });
    // Every cycle rewrites metrics.json (metrics_record): count them.
    let cycles = 0;
    const watch = fs.watch(state, (ev, name) => { if (name === 'metrics.json') cycles++; });
    try {
      startDaemon();
      await h.until(() => cycles > 0 && log.some((l) => /source 'app'/.test(l) && /502/.test(l)), 10000,
        () => `the failed poll\n${log.join('\n')}`);
      // The boards back off 5 s and the next poll is an hour away: in the
      // next 3.5 s no cycle runs (it ran one a second).
      const first = cycles;
      await new Promise((r) => setTimeout(r, 3500));
      assert.ok(cycles - first <= 1, `${cycles - first} cycles in 3.5 s\n${log.join('\n')}`);
    } finally {
      watch.close();
    }
    await stopDaemon();
  } finally {
    gh.stop();
  }
});
