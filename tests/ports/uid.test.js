// port = uid:HEX (issue 16): boards named by machine.unique_id().  Three
// emulated boards behind /dev/serial/by-id links (SENKO_PORTS_ROOT);
// two devices name two of them by unique id, a third device names an id
// no board has.  Each board gets its own device's files, also after the
// links are swapped; the board nobody names is never written; the device
// whose id matches no board is offline saying so.  A running senkod finds
// a board plugged in again, empty, by its unique id and repairs it.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('uid');
const ROOT = path.join(T, 'root');
const CONF = path.join(T, 'senko.conf');
const ENV = { SENKO_PORTS_ROOT: ROOT };
const boards = {};
let daemon;

const { mainPy } = require('./fixture');
const byId = require('./fixture').byIdLinks(ROOT);

test.after(async () => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  for (const b of Object.values(boards)) await b.stop();
});

test('each board gets its own files by unique id; an unknown id is offline; the third board is never written', async () => {
  const starts = [['a', '0a0000000001'], ['b', '0b0000000002'], ['c', '0c0000000003']].map(
    ([n, uid]) => h.startBoard({ dir: T, name: n, args: ['--unique-id', uid] }).then((b) => { boards[n] = b; }));
  await Promise.all(starts);
  byId('usb-Espressif_1-if00', boards.a);
  byId('usb-Espressif_2-if00', boards.b);
  byId('usb-Espressif_3-if00', boards.c);
  for (const s of ['one', 'two']) {
    fs.mkdirSync(path.join(T, s), { recursive: true });
    fs.writeFileSync(path.join(T, s, 'main.py'), `print("${s}")\n`);
  }
  h.writeConfig(CONF, {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { one: { path: path.join(T, 'one') }, two: { path: path.join(T, 'two') } },
    devices: {
      // No boot watch (2 s a session): what is tested is which port.
      one: { port: 'uid:0A0000000001', baud: 1000000, source: 'one', boot_watch: 0 },
      two: { port: 'uid:0b0000000002', baud: 1000000, source: 'two', boot_watch: 0 },
      ghost: { port: 'uid:0d0000000004', baud: 1000000, source: 'one', boot_watch: 0 },
    },
  });
  const r = await h.senko(['-c', CONF, 'sync'], { env: ENV });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(mainPy(boards.a), 'print("one")\n', r.stderr);
  assert.equal(mainPy(boards.b), 'print("two")\n', r.stderr);
  assert.deepEqual(fs.readdirSync(boards.c.flash), [], 'the board no device names was written');
  const st = JSON.parse((await h.senko(['-c', CONF, 'status', '--json'], { env: ENV })).stdout);
  const ghost = st.devices.find((d) => d.name === 'ghost');
  assert.equal(ghost.state, 'offline');
  assert.match(ghost.last_error, /no board with unique id 0d0000000004/);
});

test('the by-id names swap: each board still gets its own files', async () => {
  byId('usb-Espressif_1-if00', boards.b);
  byId('usb-Espressif_2-if00', boards.a);
  for (const s of ['one', 'two']) fs.writeFileSync(path.join(T, s, 'main.py'), `print("${s} v2")\n`);
  const r = await h.senko(['-c', CONF, 'sync', 'one', 'two'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mainPy(boards.a), 'print("one v2")\n', r.stderr);
  assert.equal(mainPy(boards.b), 'print("two v2")\n', r.stderr);
  assert.deepEqual(fs.readdirSync(boards.c.flash), []);
});

test('where a board was found is remembered: no other port is opened while it answers there', async () => {
  const c0 = boards.c.counters(), b0 = boards.b.counters();
  const r = await h.senko(['-c', CONF, 'sync', '--force', 'one'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(boards.c.counters().raw_repl_entries, c0.raw_repl_entries, 'board c was probed');
  assert.equal(boards.b.counters().raw_repl_entries, b0.raw_repl_entries, 'board b was probed');
  assert.equal(mainPy(boards.a), 'print("one v2")\n');
});

test('senkod: a board plugged in again with an empty flash is found by its unique id and repaired', async () => {
  daemon = h.track(spawn(h.SENKOD, ['-c', CONF, '--foreground', '-v'], {
    stdio: ['ignore', 'ignore', 'pipe'], env: Object.assign({}, process.env, ENV),
  }));
  let log = '';
  daemon.stderr.on('data', (d) => { log += d; });
  await h.until(() => /ghost: .*no board with unique id/.test(log), 30000, 'the first cycle');
  const b0 = boards.b.counters();
  // Power off, flash erased, power on: udev makes its by-id link anew.
  await boards.a.stop();
  fs.rmSync(boards.a.flash, { recursive: true, force: true });
  boards.a = await h.startBoard({ dir: T, name: 'a', args: ['--unique-id', '0a0000000001'] });
  byId('usb-Espressif_2-if00', boards.a);
  const plugged = Date.now();
  await h.until(() => mainPy(boards.a) === 'print("one v2")\n', 5000, 'the files back on board a');
  console.log(`# repaired ${Date.now() - plugged} ms after the board was plugged in`);
  assert.equal(boards.b.counters().raw_repl_entries, b0.raw_repl_entries, 'board b, whose node did not change, was opened');
  assert.deepEqual(fs.readdirSync(boards.c.flash), []);
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.on('exit', r));
});

test('config check: two devices with one unique id, in any case, and a malformed id are refused', async () => {
  const bad = path.join(T, 'dup.conf');
  h.writeConfig(bad, {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { one: { path: path.join(T, 'one') } },
    devices: { a: { port: 'uid:0A0000000001', source: 'one' }, b: { port: 'uid:0a0000000001', source: 'one' } },
  });
  let r = await h.senko(['-c', bad, 'config', 'check']);
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /\[device b\] port: 'uid:0a0000000001' is also the port of device 'a'/);
  h.writeConfig(bad, {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { one: { path: path.join(T, 'one') } },
    devices: { a: { port: 'uid:0A00000000z1', source: 'one' } },
  });
  r = await h.senko(['-c', bad, 'config', 'check']);
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /\[device a\] port: 'uid:0A00000000z1' is not valid: expected .*uid:HEX/);
});
