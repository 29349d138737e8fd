// senkod reloaded after an operator fixed a device's port: the board on
// the new port is synced at once, not after the back-off the wrong port
// built up.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('reload');
const SRC = path.join(T, 'project');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
let daemon, board, log = [];

test.after(async () => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  if (board) await board.stop();
});

const file = (b, p) => {
  try { return fs.readFileSync(path.join(b.flash, p), 'utf8'); } catch (e) { return null; }
};
const logged = (re) => log.some((l) => re.test(l));
function conf(port) {
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, interval: '1h' },
    sources: { app: { path: SRC } },
    devices: { kitchen: { port, baud: 1000000, source: 'app', boot_watch: 0 } },
  });
}

test('a port fixed and reloaded is synced at once, not after its back-off', async () => {
  fs.mkdirSync(SRC, { recursive: true });
  fs.writeFileSync(path.join(SRC, 'main.py'), 'print("v1")\n');
  conf(path.join(T, 'wrong-port'));
  daemon = h.track(spawn(h.SENKOD, ['-c', CONF, '--foreground', '-v'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  h.collectLines(daemon.stderr, log);
  await h.until(() => logged(/kitchen: retry in 5 s/), 10000, 'the first failed attempt');
  for (const s of [10, 20, 40]) { // each SIGUSR1 retries every device now
    daemon.kill('SIGUSR1');
    await h.until(() => logged(new RegExp(`kitchen: retry in ${s} s`)), 10000, `back-off ${s} s`);
  }
  board = await h.startBoard({ dir: T, name: 'kitchen' });
  conf(board.link);
  daemon.kill('SIGHUP');
  const t0 = Date.now();
  await h.until(() => file(board, 'main.py') === 'print("v1")\n', 5000,
    () => `v1 on the board at the port fixed\n${log.join('\n')}`);
  console.log(`# synced ${Date.now() - t0} ms after the reload`);
  assert.ok(logged(/kitchen: its port or baud changed in the configuration/), log.join('\n'));
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.on('exit', r));
});
