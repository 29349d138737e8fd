// senkod schedules on CLOCK_MONOTONIC (issue 12): a step of the wall
// clock (NTP at a Raspberry Pi's boot) neither stops the watchdog pings in
// the middle of a cycle nor parks the poll loop for an hour.  The step is
// made with tests/daemon/clockshift.c, preloaded into senkod: it adds the
// number of seconds in a file to every reading of the wall clock.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('daemon-clock');
const REPOS = path.join(T, 'repos');
const SHIFT = path.join(h.BUILD, 'tests/clockshift.so');
const PTYBRIDGE = path.join(h.ROOT, 'tests/board/ptybridge');

let gh, repo, listener;
const boards = [];
const others = [];

function shifted(conf, offsetFile, extraEnv = {}) {
  fs.writeFileSync(offsetFile, '0');
  const d = h.track(spawn(h.SENKOD, ['-c', conf, '--foreground'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: Object.assign({}, process.env, {
      LD_PRELOAD: SHIFT,
      SENKO_TEST_CLOCK_OFFSET_FILE: offsetFile,
      // The sanitizer build wants its runtime first; the shim only wraps
      // libc's clock functions, which ASan does not.
      ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ? process.env.ASAN_OPTIONS + ':' : ''}verify_asan_link_order=0`,
    }, extraEnv),
  }));
  d.log = h.collectLines(d.stderr);
  others.push(d);
  return d;
}

test.before(async () => {
  repo = h.makeRepo(REPOS, 'acme', 'fw', { 'main.py': 'print("v1")\n' });
  gh = await h.startGitHub({ repos: REPOS });
});

test('the preloaded shim really moves senkod\'s wall clock', async () => {
  // Guard for the tests below: without it they would prove nothing.
  const off = path.join(T, 'probe.offset');
  fs.writeFileSync(off, String(10 * 365 * 86400));
  const r = await h.run('/bin/date', ['+%Y'], { env: { LD_PRELOAD: SHIFT, SENKO_TEST_CLOCK_OFFSET_FILE: off } });
  assert.equal(Number(r.stdout.trim()), new Date().getUTCFullYear() + 10);
});

test('a wall-clock step forward in the middle of a cycle does not stop the watchdog', async () => {
  // A port that never answers keeps the cycle busy for ~10 s.
  const pty = h.track(spawn(PTYBRIDGE, [], { stdio: ['pipe', 'pipe', 'inherit'] }));
  others.push(pty);
  let link = null, received = 0;
  pty.stdout.on('data', (d) => {
    if (link === null) { link = d.toString('latin1').split('\n')[0].trim(); return; }
    received += d.length;
  });
  await h.until(() => link, 5000, 'pty');
  const sock = path.join(T, 'notify.sock');
  listener = h.track(spawn(path.join(h.BUILD, 'tests/helper-notify_listen'), [sock],
    { stdio: ['ignore', 'pipe', 'inherit'] }));
  others.push(listener);
  const notes = h.collectLines(listener.stdout);
  await h.until(() => notes.includes('LISTENING'), 5000, 'notify listener');
  const conf = h.writeConfig(path.join(T, 'wd.conf'), {
    senkod: { state_dir: path.join(T, 'wd-state'), api_url: gh.base, interval: '1h' },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { mute: { port: link, baud: 115200, source: 'app', reset: 'none' } },
  });
  const off = path.join(T, 'wd.offset');
  const d = shifted(conf, off, { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '1000000' });
  await h.until(() => received > 0, 20000, 'the cycle opening the silent port');
  // NTP steps the clock two hours forward.
  fs.writeFileSync(off, String(2 * 3600));
  const pings = () => notes.filter((l) => l === 'WATCHDOG=1').length;
  const n0 = pings();
  await h.until(() => pings() >= n0 + 3, 6000,
    `three watchdog pings within 6 s of the clock step\n${d.log.join('\n')}`);
  d.kill('SIGTERM');
  await new Promise((r) => d.on('exit', r));
});

test('a wall-clock step back does not park the poll loop: the next commit still arrives on time', async () => {
  const b = await h.startBoard({ dir: T, name: 'one' });
  boards.push(b);
  const conf = h.writeConfig(path.join(T, 'poll.conf'), {
    senkod: { state_dir: path.join(T, 'poll-state'), api_url: gh.base, interval: '2s' },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { one: { port: b.link, baud: 1000000, source: 'app', reset: 'none' } },
  });
  const off = path.join(T, 'poll.offset');
  const d = shifted(conf, off);
  const has = (c) => { try { return fs.readFileSync(path.join(b.flash, 'main.py'), 'utf8') === c; } catch (e) { return false; } };
  await h.until(() => has('print("v1")\n'), 30000, 'first sync');
  // The clock steps an hour back (a gateway whose RTC ran fast).
  fs.writeFileSync(off, String(-3600));
  await new Promise((r) => setTimeout(r, 500));
  repo.commit({ 'main.py': 'print("v2")\n' });
  await h.until(() => has('print("v2")\n'), 15000, `v2 within a few 2 s intervals\n${d.log.join('\n')}`);
  d.kill('SIGTERM');
  await new Promise((r) => d.on('exit', r));
});

test.after(async () => {
  for (const c of others) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(boards.map((b) => b.stop()));
  if (gh) gh.stop();
});
