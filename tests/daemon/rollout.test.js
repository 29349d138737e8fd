// senkod and a rollout that is not moving: a board held back by a halted
// rollout still has its forced checks (verify_interval) carried out,
// against the commit it holds, not the held one.
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
let daemon, log = [];

test.after(async () => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  for (const b of Object.values(boards)) await b.stop();
});

const file = (b, p) => {
  try { return fs.readFileSync(path.join(b.flash, p), 'utf8'); } catch (e) { return null; }
};
function startDaemon() {
  log = [];
  daemon = h.track(spawn(h.SENKOD, ['-c', CONF, '--foreground', '-v'], { stdio: ['ignore', 'ignore', 'pipe'] }));
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
    senkod: { state_dir: STATE, interval: '1h' },
    sources: { app: { path: SRC, soak: '1h' } },
    devices: {
      gone: { port: path.join(T, 'no-such-port'), baud: 1000000, source: 'app', boot_watch: 0, ring: 0 },
      held: Object.assign({}, held, { verify_interval: '1s' }),
    },
  });
  r = await h.senkod(['-c', CONF, '--once']);
  assert.equal(file(boards.held, 'main.py'), 'print("v1")\n', r.stderr);
  const ro = JSON.parse(fs.readFileSync(rolloutFile, 'utf8'));
  Object.assign(ro, { halted: true, failed_device: 'gone', reason: 'halted by the test' });
  fs.writeFileSync(rolloutFile, JSON.stringify(ro));

  // Behind senko's back, before senkod runs (no port is contended).
  r = await h.senko(['-c', CONF, 'exec', 'held', "import os\nos.remove('main.py')"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(file(boards.held, 'main.py'), null);

  startDaemon();
  await h.until(() => log.some((l) => /held: checking the board/.test(l)), 10000, 'a scheduled check');
  await h.until(() => file(boards.held, 'main.py') !== null, 8000,
    () => `main.py back on the held board\n${log.join('\n')}`);
  assert.equal(file(boards.held, 'main.py'), 'print("v1")\n', 'the held commit reached the board');
  await stopDaemon();
  assert.equal(JSON.parse(fs.readFileSync(rolloutFile, 'utf8')).halted, true, 'the rollout is no longer halted');
});
