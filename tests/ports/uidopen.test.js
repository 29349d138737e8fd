// port = uid:HEX at the edges of finding the board: the node the board
// answered on last is only trusted while it is unchanged.  A hard reset
// goes to the board that has the id, never to whatever now sits on its
// old node; a board another program holds is busy, and no other board is
// probed meanwhile; a board whose main.py ignores Ctrl-C is not "offline"
// but gets the hard reset its device asks for.
//
// Boards behind /dev/serial/by-id links (SENKO_PORTS_ROOT): a (device
// one, uid:), c (device two, named by path), p (no device).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('uidopen');
const ROOT = path.join(T, 'root');
const BYID = path.join(ROOT, 'dev/serial/by-id');
const CONF = path.join(T, 'senko.conf');
const ENV = { SENKO_PORTS_ROOT: ROOT };
const boards = {};
let holder;

const { mainPy } = require('./fixture');
const byId = require('./fixture').byIdLinks(ROOT);
function conf(reset = 'soft') {
  h.writeConfig(CONF, {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { one: { path: path.join(T, 'one') }, two: { path: path.join(T, 'two') } },
    devices: {
      one: { port: 'uid:0a0000000001', baud: 1000000, source: 'one', boot_watch: 0, reset },
      two: { port: path.join(BYID, 'usb-3'), baud: 1000000, source: 'two', boot_watch: 0 },
    },
  });
}
const senko = (args, opts = {}) => h.senko(['-c', CONF, ...args], Object.assign({ env: ENV }, opts));

test.after(async () => {
  if (holder && holder.exitCode === null) holder.kill('SIGKILL');
  for (const b of Object.values(boards)) await b.stop();
});

test('senko reset DEV hard after the by-id names swapped: the board with the id is reset, not the one on its old node', async () => {
  await Promise.all([['a', '0a0000000001'], ['p', '0e0000000005'], ['c', '0c0000000003']].map(
    ([n, uid]) => h.startBoard({ dir: T, name: n, args: ['--unique-id', uid] }).then((b) => { boards[n] = b; })));
  byId('usb-1', boards.a);
  byId('usb-2', boards.p);
  byId('usb-3', boards.c);
  for (const s of ['one', 'two']) {
    fs.mkdirSync(path.join(T, s), { recursive: true });
    fs.writeFileSync(path.join(T, s, 'main.py'), `print("${s}")\n`);
  }
  conf();
  let r = await senko(['sync']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mainPy(boards.a), 'print("one")\n');
  // Re-enumerated: board p is on usb-1 now, where one's board was.
  byId('usb-1', boards.p);
  byId('usb-2', boards.a);
  const a0 = boards.a.counters();
  r = await senko(['reset', 'one', 'hard']);
  // A pseudo-terminal has no RTS line: which port the pulse went to is
  // what the error names.
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`${BYID}/usb-2 has no DTR/RTS lines`));
  assert.doesNotMatch(r.stderr, /usb-1 has no DTR\/RTS lines/, 'the board on one\'s old node was hard-reset');
  // Board a was interrupted to confirm its id: its application runs again.
  await h.until(() => boards.a.counters().soft_resets > a0.soft_resets, 5000, 'board a given its application back');
});

// Board a held the way screen or mpremote hold a port: an flock.
async function hold(board) {
  if (holder && holder.exitCode === null && holder.signalCode === null) return;
  holder = h.track(spawn('python3', ['-c', `import fcntl,os,time
fd=os.open(${JSON.stringify(board.link)}, os.O_RDWR|os.O_NOCTTY)
fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)`], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await h.waitLine(holder, /held/, 5000, 'holder');
}

test('a uid: board another program holds: busy, and no other board is probed', async () => {
  // Found where it is now: its node is remembered, and unchanged.
  let r = await senko(['sync', '--force', 'one']);
  assert.equal(r.code, 0, r.stderr);
  await hold(boards.a);
  const p0 = boards.p.counters(), c0 = boards.c.counters();
  r = await senko(['sync', '--force', 'one']);
  assert.equal(boards.p.counters().raw_repl_entries, p0.raw_repl_entries, `board p (no device) was probed\n${r.stderr}`);
  assert.equal(boards.c.counters().raw_repl_entries, c0.raw_repl_entries, `board c (device two) was probed\n${r.stderr}`);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`\\(pid ${holder.pid}\\) is using ${BYID}/usb-2; stop it or wait for it to finish`));
  const st = JSON.parse((await senko(['status', '--json'])).stdout);
  assert.equal(st.devices.find((d) => d.name === 'one').state, 'busy');
});

test('sync --wait while a uid: board is held: it waits for that port alone, and updates the board once free', async () => {
  await hold(boards.a);
  const p0 = boards.p.counters(), c0 = boards.c.counters();
  fs.writeFileSync(path.join(T, 'one', 'main.py'), 'print("one v2")\n');
  const w = h.startSenko(['-c', CONF, 'sync', '--wait', 'one'], { env: ENV });
  let err = '';
  w.child.stderr.on('data', (d) => { err += d; });
  try {
    await h.until(() => /waiting for the port \(--wait\)/.test(err), 10000, 'senko waiting for the port');
  } finally {
    holder.kill('SIGKILL');
  }
  const wr = await w.done;
  assert.equal(boards.p.counters().raw_repl_entries, p0.raw_repl_entries, `board p (no device) was probed while senko waited\n${wr.stderr}`);
  assert.equal(boards.c.counters().raw_repl_entries, c0.raw_repl_entries, `board c (device two) was probed while senko waited\n${wr.stderr}`);
  assert.equal(wr.code, 0, wr.stderr);
  assert.equal(mainPy(boards.a), 'print("one v2")\n');
});

// Catches KeyboardInterrupt and goes on: no raw REPL for senko, ever.
const STUBBORN = `import time
while True:
    try:
        while True:
            time.sleep_ms(20)
    except KeyboardInterrupt:
        print('ignored')
`;

test('a uid: board whose main.py ignores Ctrl-C: no raw REPL is said as such, and reset = hard is tried', async () => {
  fs.writeFileSync(path.join(T, 'one', 'main.py'), STUBBORN);
  let r = await senko(['sync', 'one']);
  assert.equal(r.code, 0, r.stderr);
  conf('hard');
  const p0 = boards.p.counters();
  r = await senko(['sync', '--force', 'one'], { timeout: 200000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`no raw REPL on ${BYID}/usb-2 after 10 s; the board printed "[^"]*ignored`));
  assert.match(r.stderr, /one: no raw REPL; trying a hard reset \(reset = hard\)/);
  assert.match(r.stderr, new RegExp(`${BYID}/usb-2 has no DTR/RTS lines`));
  assert.doesNotMatch(r.stderr, /no board with unique id/);
  assert.equal(boards.p.counters().raw_repl_entries, p0.raw_repl_entries, 'board p (no device) was probed');
});
