// A board whose own files are named like MicroPython's extensible
// built-ins (issue 10): micropython-lib's python-stdlib replayed onto a
// board puts binascii.py, hashlib.py, os/ ... in / and /lib, and a board
// finds those before the built-in (py/builtinimport.c).  Every senko
// program on the board must still get the built-ins: the probe (the
// unique id, sha1 for the agent's cache), the agent, and the short
// programs senko ls and verify run.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('shadow');
const SRC = path.join(T, 'src');
const CONF = path.join(T, 'senko.conf');
const UID = '5ad0000000e1';
// The board behind a /dev/serial/by-id link, found by its unique id.
const ENV = { SENKO_PORTS_ROOT: path.join(T, 'root') };
const senko = (args) => h.senko(['-c', CONF, ...args], { env: ENV });
const SHADOWED = ['binascii', 'hashlib', 'os', 'errno', 'select', 'io', 'machine', 'json'];
let board;

test.after(async () => {
  if (board) await board.stop();
});

test('modules of a board named like built-ins: every senko command still works, and the agent stays cached', async () => {
  // On the flash before power-on, as they would be on a user's board.
  const flash = path.join(T, 'b.flash');
  for (const m of SHADOWED) {
    const text = `raise ImportError("the board's own ${m} was imported")\n`;
    h.writeTree(flash, { [`${m}.py`]: text, [`lib/${m}.py`]: text });
  }
  board = await h.startBoard({ dir: T, name: 'b', args: ['--unique-id', UID] });
  const byId = path.join(ENV.SENKO_PORTS_ROOT, 'dev/serial/by-id');
  fs.mkdirSync(byId, { recursive: true });
  fs.symlinkSync(board.link, path.join(byId, 'usb-Espressif_1-if00'));
  h.writeTree(SRC, { 'main.py': h.TICKER, 'lib/util.py': 'X = 1\n' });
  h.writeConfig(CONF, {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { app: { path: SRC } },
    devices: { b: { port: `uid:${UID}`, baud: 1000000, source: 'app', boot_watch: 0 } },
  });
  // The stand-ins bite: a plain import on this board gets them.
  const e = await senko(['exec', 'b', 'import binascii']);
  assert.notEqual(e.code, 0, 'the board imported the built-in binascii: the test proves nothing');
  assert.match(e.stderr, /the board's own binascii was imported/);

  let r = await senko(['sync']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(path.join(board.flash, 'lib/util.py'), 'utf8'), 'X = 1\n');
  assert.ok(fs.existsSync(path.join(board.flash, 'lib/hashlib.py')), 'the board\'s own file went');

  r = await senko(['ls', 'b']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /lib\/util\.py/);
  r = await senko(['verify', 'b']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok +\/lib\/util\.py$/m);

  // The probe saw sha1, so the second session runs the agent from the
  // board's cache instead of sending it again (about 5 KB).
  fs.writeFileSync(path.join(SRC, 'lib/util.py'), 'X = 2\n');
  const before = board.counters();
  r = await senko(['sync']);
  assert.equal(r.code, 0, r.stderr);
  const sent = board.counters().rx_bytes - before.rx_bytes;
  assert.equal(fs.readFileSync(path.join(board.flash, 'lib/util.py'), 'utf8'), 'X = 2\n');
  assert.ok(sent < 3000, `the board received ${sent} bytes: the agent was sent again`);
  assert.ok(await h.appTicks(board.link, 3000) >= 3, 'the application does not run again');
});
