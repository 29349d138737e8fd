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
function conf(port, extra = {}) {
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, interval: '1h' },
    sources: { app: { path: SRC } },
    devices: { kitchen: Object.assign({ port, baud: 1000000, source: 'app', boot_watch: 0 }, extra) },
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

test('reloads more often than verify_interval do not put the check off', async () => {
  // The board from the test before; a hand edit only a check repairs.
  conf(board.link, { verify_interval: '3s' });
  // A hand edit on the board (the emulator reads its flash folder at
  // power-on only), made before senkod runs.
  const ed = await h.senko(['-c', CONF, 'exec', 'kitchen', "f = open('/main.py', 'w')\nf.write('print(\"edited\")\\n')\nf.close()"]);
  assert.equal(ed.code, 0, ed.stderr);
  assert.equal(file(board, 'main.py'), 'print("edited")\n');
  log = [];
  daemon = h.track(spawn(h.SENKOD, ['-c', CONF, '--foreground', '-v'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  h.collectLines(daemon.stderr, log);
  await h.until(() => logged(/source 'app': folder .*\(unchanged\)/), 10000, () => `the first cycle\n${log.join('\n')}`);
  // A reload every second, as config management might; the check is due
  // 3 s after the first cycle whatever the reloads.
  const reloads = setInterval(() => daemon.kill('SIGHUP'), 1000);
  try {
    await h.until(() => file(board, 'main.py') === 'print("v1")\n', 8000,
      () => `the hand edit not repaired while reloading (senkod exit ${daemon.exitCode} ${daemon.signalCode})\n${log.join("\n")}`);
    assert.ok(logged(/kitchen: checking the board \(verify_interval 3 s\)/), log.join('\n'));
  } finally {
    clearInterval(reloads);
  }
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.on('exit', r));
});
