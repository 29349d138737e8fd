// senkod as a service (issue 7): readiness and watchdog on a notify socket
// the test owns, polling on its interval, SIGUSR1, SIGHUP (broken and
// good files), idle CPU, and SIGTERM in the middle of a push.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('daemon');
const REPOS = path.join(T, 'repos');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
const SOCK = path.join(T, 'notify.sock');
const TICKS = 100; // USER_HZ on Linux

let repo, gh, boards = [], notes, daemon, listener;

// Lines a child prints, and a way to wait for one.
const waitFor = (lines, re, ms, what) =>
  h.until(() => lines.find((l) => re.test(l)), ms, `${what} (${re})`);

function conf(extra = {}, perDevice = {}) {
  const devices = {};
  for (const b of boards)
    devices[b.name] = Object.assign({ port: b.link, baud: 1000000, source: 'app', reset: 'none' },
      perDevice[b.name]);
  h.writeConfig(CONF, {
    senkod: Object.assign({ state_dir: STATE, api_url: gh.base, interval: '2s' }, extra),
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices,
  });
}

function boardHas(b, p, content) {
  try { return fs.readFileSync(path.join(b.flash, p), 'utf8') === content; } catch (e) { return false; }
}

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

function startDaemon() {
  const d = h.track(spawn(h.SENKOD, ['-c', CONF, '--foreground'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: Object.assign({}, process.env, { NOTIFY_SOCKET: SOCK, WATCHDOG_USEC: '1000000' }),
  }));
  d.log = h.collectLines(d.stderr);
  return d;
}

// Commit files and poll now; once the board has taken 8 KB of the push,
// act (freeze it, say) and send SIGTERM: {ms, code} of senkod's exit.
async function termMidPush(board, files, act = () => {}) {
  repo.commit(files);
  const from = daemon.log.length;
  daemon.kill('SIGUSR1');
  // The plan is made: what the line carries from here is the push (the
  // board writes its counters a little late, so bytes of the session
  // before could otherwise count).
  const planned = new RegExp(`${board.name}: \\d+ files? to write`);
  await h.until(() => daemon.log.slice(from).some((l) => planned.test(l)), 20000, 'the plan');
  const rx0 = board.counters().rx_bytes;
  await h.until(() => (board.counters() || {}).rx_bytes > rx0 + 8000, 20000, 'push under way');
  act();
  const t0 = Date.now();
  const exited = new Promise((r) => daemon.on('exit', (code) => r(code)));
  daemon.kill('SIGTERM');
  const code = await exited;
  return { ms: Date.now() - t0, code };
}

test('starts, reports READY and STATUS to the notify socket, syncs the boards', async () => {
  repo = h.makeRepo(REPOS, 'acme', 'fw', { 'main.py': 'print("v1")\n', 'lib/a.py': 'A = 1\n' });
  gh = await h.startGitHub({ repos: REPOS });
  boards.push(await h.startBoard({ dir: T, name: 'one' }));
  boards.push(await h.startBoard({ dir: T, name: 'two' }));
  listener = h.track(spawn(path.join(h.BUILD, 'tests/helper-notify_listen'), [SOCK],
    { stdio: ['ignore', 'pipe', 'inherit'] }));
  notes = h.collectLines(listener.stdout);
  await waitFor(notes, /^LISTENING$/, 5000, 'notify listener');
  conf();
  daemon = startDaemon();
  await waitFor(notes, /READY=1/, 10000, 'READY=1');
  await h.until(() => boards.every((b) => boardHas(b, 'main.py', 'print("v1")\n')), 30000, 'first sync');
  await waitFor(notes, /STATUS=2 of 2 boards in sync/, 10000, 'STATUS after the sync');
});

test('a new upstream commit reaches the boards within one interval', async () => {
  repo.commit({ 'main.py': 'print("v2")\n' });
  const t0 = Date.now();
  await h.until(() => boards.every((b) => boardHas(b, 'main.py', 'print("v2")\n')), 20000, 'v2 on the boards');
  // interval 2 s, jitter 0 at this interval; the push itself takes < 2 s.
  assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms`);
});

test('watchdog pings arrive while it runs', async () => {
  const n = notes.filter((l) => l === 'WATCHDOG=1').length;
  await h.until(() => notes.filter((l) => l === 'WATCHDOG=1').length >= n + 2, 5000, 'two more pings');
});

test('SIGHUP with a broken file keeps the running configuration and says why', async () => {
  const good = fs.readFileSync(CONF, 'utf8');
  fs.writeFileSync(CONF, good + '\n[device broken]\nbaud = fast\n');
  daemon.kill('SIGHUP');
  await waitFor(daemon.log, /keeping the configuration that was running/, 10000, 'rejection');
  assert.ok(daemon.log.some((l) => /senko\.conf:\d+: \[device broken\] baud/.test(l)), 'no file:line error in the log');
  await waitFor(notes, /RELOADING=1/, 5000, 'RELOADING=1');
  // READY=1 ends the reload for systemd (Type=notify), refused or not:
  // without it the unit stays "reloading".
  await h.until(() => {
    const r = notes.findLastIndex((l) => /RELOADING=1/.test(l));
    return notes.slice(r + 1).some((l) => /READY=1/.test(l));
  }, 5000, 'READY=1 after the RELOADING=1 of a refused reload');
  repo.commit({ 'main.py': 'print("v3")\n' });
  await h.until(() => boards.every((b) => boardHas(b, 'main.py', 'print("v3")\n')), 20000, 'still syncing after a bad reload');
  assert.equal(daemon.exitCode, null);
});

test('SIGHUP with a new board adds it; SIGUSR1 polls at once despite a 1 h interval', async () => {
  boards.push(await h.startBoard({ dir: T, name: 'three' }));
  conf({ interval: '1h' });
  daemon.kill('SIGHUP');
  await waitFor(daemon.log, /configuration reloaded: 1 source, 3 devices/, 10000, 'reload');
  await h.until(() => boardHas(boards[2], 'main.py', 'print("v3")\n'), 20000, 'the new board synced');
  repo.commit({ 'main.py': 'print("v4")\n' });
  const before = daemon.log.length;
  daemon.kill('SIGUSR1');
  await h.until(() => boards.every((b) => boardHas(b, 'main.py', 'print("v4")\n')), 20000, 'v4 after SIGUSR1');
  assert.ok(daemon.log.slice(before).some((l) => /SIGUSR1: polling now/.test(l)));
});

// Boards that cannot be reached (their ports gone): systemctl status must
// not say all is well.  Two of them, so that the reload's "5 devices" is
// this test's alone.
test('boards whose ports are missing: STATUS says some are failing', async () => {
  conf({ interval: '1h' });
  for (const g of ['ghost1', 'ghost2'])
    fs.appendFileSync(CONF, `\n[device ${g}]\nport = ${path.join(T, `${g}.tty`)}\nbaud = 1000000\nsource = app\n`);
  const from = daemon.log.length;
  daemon.kill('SIGHUP');
  await h.until(() => daemon.log.slice(from).some((l) => /configuration reloaded: 1 source, 5 devices/.test(l)),
    10000, 'reload with the missing boards');
  const n = notes.length;
  daemon.kill('SIGUSR1');
  const status = () => notes.slice(n).filter((l) => /^STATUS=\d+ of 5 boards in sync/.test(l)).pop();
  await h.until(status, 20000, 'STATUS after the poll');
  assert.match(status(), /^STATUS=3 of 5 boards in sync at \w+, some failing \(see the log\); /);
  // As before, for the tests that follow.
  const back = daemon.log.length;
  conf({ interval: '1h' });
  daemon.kill('SIGHUP');
  await h.until(() => daemon.log.slice(back).some((l) => /configuration reloaded: 1 source, 3 devices/.test(l)),
    10000, 'reload without them');
});

test('idle: no CPU to speak of over 10 s', async () => {
  // Let the last cycle finish, then measure.
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = cpuTicks(daemon.pid);
  await new Promise((r) => setTimeout(r, 10000));
  const used = cpuTicks(daemon.pid) - t0;
  assert.ok(used <= 5, `senkod used ${used / TICKS} s of CPU in 10 s of idling`);
});

test('SIGTERM in the middle of a push: exits within 5 s, no truncated file on the board', async () => {
  // A slow board (the real 115200 baud) and a 128 KB file: ~12 s on the
  // line, so that a stop that waited for the push would miss 5 s by far.
  const slow = await h.startBoard({ dir: T, name: 'slow', baud: 115200 });
  boards.push(slow);
  conf({ interval: '1h' });
  daemon.kill('SIGHUP');
  await waitFor(daemon.log, /configuration reloaded: 1 source, 4 devices/, 10000, 'reload');
  await h.until(() => boardHas(slow, 'main.py', 'print("v4")\n'), 30000, 'slow board synced');
  const big = crypto.randomBytes(128 * 1024);
  const before = daemon.log.length;
  const { ms, code } = await termMidPush(slow, { 'big.bin': big, 'after.py': 'Z = 1\n' });
  assert.ok(ms < 5000, `took ${ms} ms to stop`);
  assert.equal(code, 0);
  // A stop is not a failure: what journald shows in red stays for those.
  const errors = daemon.log.slice(before).filter((l) => /error:/.test(l));
  assert.deepEqual(errors, []);
  assert.ok(daemon.log.some((l) => /slow: stopping; the update was not applied/.test(l)), daemon.log.slice(before).join('\n'));
  await waitFor(notes, /STOPPING=1/, 2000, 'STOPPING=1');
  await slow.stop();
  const files = h.readTree(slow.flash);
  if (files['big.bin']) assert.ok(files['big.bin'].equals(big), 'big.bin is truncated');
  assert.equal(files['main.py'].toString(), 'print("v4")\n');
});

// A board that stops answering in the middle of a push (hung, a USB
// stall): the stop gives each session a grace to wind down in, then
// leaves such a board as it is.  Without one, the host waits out the
// board's silence (8 s), then the agent's end (5 s), then the reset's.
test('SIGTERM while a board has stopped answering mid-push: still exits within 5 s', async () => {
  // The last test stopped the slow board to read its flash: back on.
  const i = boards.findIndex((b) => b.name === 'slow');
  await boards[i].stop(); // already, unless the last test failed early
  const slow = boards[i] = await h.startBoard({ dir: T, name: 'slow', baud: 115200 });
  const one = boards.find((b) => b.name === 'one');
  // The default reset: the wind-down restarts the application too.
  conf({ interval: '1h' }, { slow: { reset: 'soft' }, one: { reset: 'soft' } });
  const ready = () => notes.filter((l) => /READY=1/.test(l)).length;
  const n = ready();
  daemon = startDaemon();
  await h.until(() => ready() > n, 10000, 'READY=1 again');
  // The update the last test stopped is finished first.
  await h.until(() => fs.existsSync(path.join(slow.flash, 'big.bin')), 30000, 'slow board synced');
  const resets0 = one.counters().soft_resets;
  let stopped;
  try {
    stopped = await termMidPush(slow, { 'big2.bin': crypto.randomBytes(64 * 1024) },
      () => process.kill(slow.child.pid, 'SIGSTOP'));
  } finally {
    process.kill(slow.child.pid, 'SIGCONT');
  }
  assert.ok(stopped.ms < 5000, `took ${stopped.ms} ms to stop`);
  assert.equal(stopped.code, 0);
  const said = daemon.log.filter((l) => /error: slow: /.test(l));
  assert.match(said[0] || '', /stopping: the board did not finish writing files within/);
  assert.match(said[1] || '', /stopping: the board did not answer the soft reset/);
  assert.equal(said.length, 2, said.join('\n'));
  // The session's reset inside the raw REPL, then the one that restarts
  // the application (the board writes its counters up to 20 ms later).
  await h.until(() => one.counters().soft_resets >= resets0 + 2, 5000, 'the answering board reset');
  assert.equal(one.counters().soft_resets, resets0 + 2);
  // Back, the board is usable by the next session without filler.
  const r = await h.senko(['-c', CONF, 'sync', 'slow']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(path.join(slow.flash, 'big2.bin')).length, 64 * 1024);
});

test.after(async () => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  if (listener) listener.kill('SIGKILL');
  await Promise.all(boards.map((b) => b.stop()));
  if (gh) gh.stop();
});
