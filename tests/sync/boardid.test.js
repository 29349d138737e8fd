// A device's board is the one senko last updated for it: each device
// remembers its board's machine.unique_id() (state_dir/devices/NAME/
// board-id).  Two devices named by path (/dev/ttyUSB0, /dev/ttyUSB1, or
// by-id names that collide for boards without a USB serial number) whose
// boards swap places: neither board gets the other device's files, and the
// error says which board is where and what to do.  A board replaced by an
// unknown one is taken as a new board: the host's mirror is not believed,
// the board's own record decides.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('boardid');
const CONF = path.join(T, 'senko.conf');
const X = path.join(T, 'ttyUSB0');
const Y = path.join(T, 'ttyUSB1');
const boards = {};
test.after(async () => { for (const b of Object.values(boards)) await b.stop(); });

const read = (b, f) => {
  try { return fs.readFileSync(path.join(b.flash, f), 'utf8'); } catch (e) { return null; }
};
function plug(link, board) {
  fs.rmSync(link, { force: true });
  fs.symlinkSync(board.link, link);
}
const sync = (...a) => h.senko(['-c', CONF, 'sync', ...a]);

test('boards swapped between two path-named ports: each device refuses the other\'s board, and says what to do', async () => {
  await Promise.all([['a', '0a0000000001'], ['b', '0b0000000002']].map(
    ([n, uid]) => h.startBoard({ dir: T, name: n, args: ['--unique-id', uid] }).then((x) => { boards[n] = x; })));
  plug(X, boards.a);
  plug(Y, boards.b);
  for (const s of ['kitchen', 'garage']) {
    fs.mkdirSync(path.join(T, s), { recursive: true });
    fs.writeFileSync(path.join(T, s, 'main.py'), `print("${s}")\n`);
    fs.writeFileSync(path.join(T, s, 'lib.py'), `NAME = "${s}"\n`);
  }
  h.writeConfig(CONF, {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { kitchen: { path: path.join(T, 'kitchen') }, garage: { path: path.join(T, 'garage') } },
    devices: {
      kitchen: { port: X, baud: 1000000, source: 'kitchen', boot_watch: 0 },
      garage: { port: Y, baud: 1000000, source: 'garage', boot_watch: 0 },
    },
  });
  let r = await sync();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(read(boards.a, 'main.py'), 'print("kitchen")\n');
  assert.equal(read(boards.b, 'main.py'), 'print("garage")\n');

  // Re-enumerated: ttyUSB0 is now board b, ttyUSB1 board a.
  plug(X, boards.b);
  plug(Y, boards.a);
  fs.writeFileSync(path.join(T, 'kitchen', 'main.py'), 'print("kitchen v2")\n');
  fs.writeFileSync(path.join(T, 'garage', 'main.py'), 'print("garage v2")\n');
  const a0 = boards.a.counters(), b0 = boards.b.counters();
  r = await sync();
  assert.equal(read(boards.a, 'main.py'), 'print("kitchen")\n', `board a was written\n${r.stderr}`);
  assert.equal(read(boards.b, 'main.py'), 'print("garage")\n', `board b was written\n${r.stderr}`);
  assert.equal(read(boards.b, 'lib.py'), 'NAME = "garage"\n');
  assert.equal(boards.a.counters().files_written, a0.files_written, 'a file was written to board a');
  assert.equal(boards.b.counters().files_written, b0.files_written, 'a file was written to board b');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`kitchen: the board on ${X} is device garage's board \\(unique id 0b0000000002\\), not kitchen's \\(0a0000000001\\)`));
  assert.match(r.stderr, new RegExp(`garage: the board on ${Y} is device kitchen's board \\(unique id 0a0000000001\\), not garage's \\(0b0000000002\\)`));
  assert.match(r.stderr, /port = uid:0a0000000001/);
  assert.match(r.stderr, /cabling/);
  assert.doesNotMatch(r.stderr, /will be repaired/);
  const st = JSON.parse((await h.senko(['-c', CONF, 'status', '--json'])).stdout);
  for (const d of st.devices) {
    assert.equal(d.state, 'failed', d.name);
    assert.match(d.last_error, /is device \w+'s board/);
  }
  // Interrupted by the probe, both boards run their application again.
  await h.until(() => boards.a.counters().soft_resets > a0.soft_resets &&
    boards.b.counters().soft_resets > b0.soft_resets, 5000, 'both boards soft-reset after the refusal');
  // Cabled back: each gets its own update.
  plug(X, boards.a);
  plug(Y, boards.b);
  r = await sync();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(read(boards.a, 'main.py'), 'print("kitchen v2")\n');
  assert.equal(read(boards.b, 'main.py'), 'print("garage v2")\n');
});

// A spare board that was kitchen's once (a copy of its flash from when it
// held old.py, since dropped from the repository) takes its place.  The
// mirror senko kept for the old board does not describe it: the spare's
// own record says which files senko wrote there, so old.py is pruned.
test('a board replaced by one senko does not know: a notice, its own record decides, the new id is remembered', async () => {
  const kitchenConf = (prune) => h.writeConfig(CONF, {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { kitchen: { path: path.join(T, 'kitchen') }, garage: { path: path.join(T, 'garage') } },
    devices: {
      kitchen: { port: X, baud: 1000000, source: 'kitchen', boot_watch: 0, prune },
      garage: { port: Y, baud: 1000000, source: 'garage', boot_watch: 0 },
    },
  });
  plug(X, boards.a);
  plug(Y, boards.b);
  kitchenConf('yes');
  fs.writeFileSync(path.join(T, 'kitchen', 'old.py'), 'OLD = 1\n');
  let r = await sync('kitchen');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(read(boards.a, 'old.py'), 'OLD = 1\n');
  const spare = path.join(T, 'spare.flash');
  fs.cpSync(boards.a.flash, spare, { recursive: true });
  fs.rmSync(path.join(T, 'kitchen', 'old.py'));
  r = await sync('kitchen');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(read(boards.a, 'old.py'), null, 'prune = yes');

  boards.spare = await h.startBoard({ dir: T, name: 'spare', args: ['--unique-id', '0f000000000f'] });
  plug(X, boards.spare);
  fs.writeFileSync(path.join(T, 'kitchen', 'main.py'), 'print("kitchen v3")\n');
  r = await sync('kitchen');
  assert.equal(read(boards.spare, 'old.py'), null, `old.py, which the spare's record says senko wrote, was kept\n${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`kitchen: the board on ${X} is not the one senko last updated as kitchen \\(id 0a0000000001, now 0f000000000f\\): taking it as a new board`));
  assert.equal(read(boards.spare, 'main.py'), 'print("kitchen v3")\n');
  assert.equal(read(boards.spare, 'lib.py'), 'NAME = "kitchen"\n');
  assert.equal(read(boards.a, 'main.py'), 'print("kitchen v2")\n');
  // Remembered: the next visit is an ordinary one.
  r = await sync('--force', 'kitchen');
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /not the one senko last updated/);
  // The old board is nobody's now: on ttyUSB0 again it is a new board
  // too (opened at once: nothing changed upstream).
  plug(X, boards.a);
  r = await sync('--force', 'kitchen');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /taking it as a new board/);
  assert.equal(read(boards.a, 'main.py'), 'print("kitchen v3")\n');
});
