// Hotplug and verify_interval (issue 16).  A running senkod with a long
// poll interval and no upstream change:
//  - a board whose flash was emptied and whose pty is made anew (a board
//    re-flashed and plugged in again) has its files back within 5 s, and
//    the other board, whose node did not change, is not opened;
//  - a board that comes back after being offline long enough for a 40 s
//    back-off is synced within 5 s;
//  - verify_interval: a board whose files were removed behind senko's back
//    (pty unchanged) is repaired by the scheduled check, and its
//    application restarted; a board without verify_interval is not.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('hotplug');
const SRC = path.join(T, 'project');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
const boards = {};
let daemon, log = [];

test.after(async () => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  for (const b of Object.values(boards)) await b.stop();
});

const file = (b, p) => {
  try { return fs.readFileSync(path.join(b.flash, p), 'utf8'); } catch (e) { return null; }
};
const logged = (re) => log.some((l) => re.test(l));
function startDaemon(conf) {
  log = [];
  daemon = h.track(spawn(h.SENKOD, ['-c', conf, '--foreground', '-v'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  h.collectLines(daemon.stderr, log);
}
// Every device's last visit went well (the status files say so).
async function allSynced() {
  const r = await h.senko(['-c', CONF, 'status', '--json']);
  if (r.code !== 0) return false;
  return JSON.parse(r.stdout).devices.every((d) => d.state === 'updated' || d.state === 'in-sync');
}
async function stopDaemon() {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.on('exit', r));
}
// Power the board off, then on again with its flash as given (null: kept).
async function replug(name, flash) {
  await boards[name].stop();
  if (flash === 'empty') fs.rmSync(boards[name].flash, { recursive: true, force: true });
  boards[name] = await h.startBoard({ dir: T, name });
}

test('first sync of two boards', async () => {
  fs.mkdirSync(SRC, { recursive: true });
  fs.writeFileSync(path.join(SRC, 'main.py'), 'print("v1")\n');
  boards.plug = await h.startBoard({ dir: T, name: 'plug' });
  boards.steady = await h.startBoard({ dir: T, name: 'steady' });
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, interval: '1h' },
    sources: { app: { path: SRC } },
    devices: {
      plug: { port: boards.plug.link, baud: 1000000, source: 'app', boot_watch: 0 },
      steady: { port: boards.steady.link, baud: 1000000, source: 'app', boot_watch: 0 },
    },
  });
  startDaemon(CONF);
  await h.until(() => file(boards.plug, 'main.py') && file(boards.steady, 'main.py'), 30000, 'first sync');
});

test('a board plugged in again with an empty flash is repaired within 5 s; the other is not opened', async () => {
  // Let the first cycle finish (the status of both written) before counting.
  await h.until(allSynced, 10000, 'first cycle');
  const steady0 = boards.steady.counters();
  await replug('plug', 'empty');
  const plugged = Date.now();
  assert.equal(file(boards.plug, 'main.py'), null);
  await h.until(() => file(boards.plug, 'main.py') === 'print("v1")\n', 5000, 'the files back on the re-plugged board');
  console.log(`# repaired ${Date.now() - plugged} ms after the board was plugged in`);
  assert.ok(logged(/plug: its port changed/), 'senkod did not say why it checked the board');
  assert.equal(boards.steady.counters().raw_repl_entries, steady0.raw_repl_entries,
    'the board whose port did not change was opened');
});

test('a board back after an outage is synced within 5 s, not after its 40 s back-off', async () => {
  await boards.plug.stop();
  fs.writeFileSync(path.join(SRC, 'main.py'), 'print("v2")\n'); // the folder watch polls
  await h.until(() => logged(/plug: retry in 5 s/), 15000, 'the first failed attempt');
  for (const s of [10, 20, 40]) { // each SIGUSR1 retries every device now
    daemon.kill('SIGUSR1');
    await h.until(() => logged(new RegExp(`plug: retry in ${s} s`)), 15000, `back-off ${s} s`);
  }
  boards.plug = await h.startBoard({ dir: T, name: 'plug' });
  const plugged = Date.now();
  await h.until(() => file(boards.plug, 'main.py') === 'print("v2")\n', 5000, 'v2 on the board that came back');
  console.log(`# synced ${Date.now() - plugged} ms after the board came back`);
  assert.equal(file(boards.steady, 'main.py'), 'print("v2")\n');
});

test('verify_interval: files removed behind senko\'s back come back; a board without it is left', async () => {
  await stopDaemon();
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, interval: '1h' },
    sources: { app: { path: SRC } },
    devices: {
      plug: { port: boards.plug.link, baud: 1000000, source: 'app', boot_watch: 0 },
      steady: { port: boards.steady.link, baud: 1000000, source: 'app', boot_watch: 0, verify_interval: '2s' },
    },
  });
  // Behind senko's back (and before senkod runs: no port is contended).
  for (const n of ['plug', 'steady']) {
    const r = await h.senko(['-c', CONF, 'exec', n, "import os\nos.remove('main.py')"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(file(boards[n], 'main.py'), null, `main.py still on ${n}`);
  }
  const removed = boards.steady.counters();
  startDaemon(CONF);
  await h.until(() => file(boards.steady, 'main.py') === 'print("v2")\n', 10000, 'the scheduled check repairs steady');
  // One more scheduled check of steady: plug, without verify_interval,
  // had as long and was not repaired.
  const repaired = boards.steady.counters();
  await h.until(() => boards.steady.counters().raw_repl_entries > repaired.raw_repl_entries, 10000,
    'a second scheduled check');
  await h.until(() => boards.steady.counters().soft_resets > repaired.soft_resets, 10000,
    'the application restarted after the check');
  assert.ok(repaired.soft_resets > removed.soft_resets, 'no restart after the repair');
  assert.equal(file(boards.plug, 'main.py'), null, 'a board without verify_interval was checked');
  await stopDaemon();
});
