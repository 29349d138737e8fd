// The application runs again (issue 10): after every senko command and
// every kind of session that interrupted it, a board's main.py prints
// again; an update costs at most 3 executions and one restart of the
// application; the boot watch reports a broken main.py in senko status.
// The tests share one board and run in order.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('app');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
const TICKER = h.TICKER;
const FILES = {
  'app/main.py': TICKER,
  'app/lib/util.py': 'X = 1\n' + '# padding\n'.repeat(100),
  'app/data/table.txt': 'a b c\n'.repeat(50),
};
let repo, gh, board;

// A session ends at the restart (boot_watch = 0) unless the test is about
// what follows it (boot_watch: null keeps the default, 2 s): the first
// update and the boot watch test watch, as a user's board would.
function conf(extra = {}) {
  const dev = Object.assign({ port: board.link, baud: 1000000, boot_watch: 0 }, extra);
  if (dev.boot_watch === null) delete dev.boot_watch;
  h.writeAppConfig(CONF, { gh, state: STATE, devices: { b: dev } });
}

// Lines the application prints within ms, read from the board's port as
// a user's terminal would after senko let go of it.
async function ticks(ms = 3000) {
  return h.appTicks(board.link, ms);
}

// Counter deltas over fn(), read once the application printed again (the
// emulator writes its counters file a few milliseconds after a change).
async function cost(fn) {
  const before = board.counters();
  const r = await fn();
  r.ticks = await ticks();
  const after = board.counters();
  const d = {};
  for (const k of ['executions', 'soft_resets', 'rx_bytes', 'tx_bytes']) d[k] = after[k] - before[k];
  return { r, d };
}

const sync = (...a) => h.senko(['-c', CONF, 'sync', ...a]);

test('an update: the application runs again; 2 executions, one restart after one clean reset', async () => {
  repo = h.makeRepo(path.join(T, 'repos'), 'acme', 'fw', FILES);
  // More than GitHub's anonymous 60 requests: one suite of many updates.
  gh = await h.startGitHub({ repos: path.join(T, 'repos'), args: ['--rate-limit', '1000'] });
  board = await h.startBoard({ dir: T, name: 'b' });
  conf({ boot_watch: null });
  const { r, d } = await cost(() => sync());
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.ticks >= 3, 'the application does not print after the update');
  assert.ok(d.executions <= 3, `executions: ${d.executions}`);
  // One reset inside the raw REPL (clean heap, main.py not started), one
  // that starts the application.
  assert.equal(d.soft_resets, 2, JSON.stringify(d));
});

test('one file changed: one agent run, the same cost shape', async () => {
  repo.commit({ 'app/lib/util.py': 'X = 2\n' });
  const { r, d } = await cost(() => sync());
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /wrote lib\/util\.py/);
  assert.ok(r.ticks >= 3, 'the application does not print after the update');
  assert.ok(d.executions <= 3, `executions: ${d.executions}`);
  assert.equal(d.soft_resets, 2, JSON.stringify(d));
});

test('one 12.5 KB source file changed: compressed on the wire, within issue 10\'s bytes', async () => {
  const lines = [];
  for (let i = 0; lines.join('\n').length < 12500; i++)
    lines.push(`def handler_${i}(event, state):`, `    return state.get("key_${i}", ${i % 13})`, '');
  const text = lines.join('\n').slice(0, 12500);
  repo.commit({ 'app/lib/big.py': text });
  const { r, d } = await cost(() => sync());
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(path.join(board.flash, 'lib/big.py'), 'utf8'), text);
  assert.ok(r.ticks >= 3, 'the application does not print after the update');
  assert.ok(d.rx_bytes <= 6144, `the board received ${d.rx_bytes} bytes`);
  assert.ok(d.tx_bytes <= 2048, `the board sent ${d.tx_bytes} bytes`);
});

test('300 files: one change writes one page of the record; a lost state_dir or an older record costs no file', async () => {
  // A board of its own with an ESP32-WROVER's PSRAM heap (MicroPython
  // gives it about 4 MB): the emulator cannot collect garbage inside one
  // execution, and a run over 300 files can allocate more than an 110 KB
  // heap holds (writing them did; a board collects it).  A fake API of its
  // own, without the anonymous limit of 60 requests: 300 blobs.
  const files = { 'app/main.py': TICKER };
  for (let i = 0; i < 300; i++) files[`app/gen/module_${i}.py`] = `V = ${i}\n`;
  const many = h.makeRepo(path.join(T, 'repos-many'), 'acme', 'many', files);
  const gh2 = await h.startGitHub({ repos: path.join(T, 'repos-many'), args: ['--rate-limit', '100000'] });
  const wrover = () => h.startBoard({ dir: T, name: 'wrover', args: ['--heap', '4194304'] });
  // The board holds the project already, as one set up by another tool
  // would: the first sync adopts its files by hash and writes only the
  // record.  Pushing 300 files would cost 300 block erases (15 s of the
  // emulated flash chip), which the fresh-push tests already pay.
  h.writeTree(path.join(T, 'wrover.flash'), files, 'app/');
  let b2 = await wrover();
  // Change the board's flash from outside: with the board off, as the
  // emulator reads its flash folder at power-on only (a soft reset, like a
  // board's, keeps what the flash holds).  The port's link stays the same.
  const offline = async (edit) => {
    await b2.stop();
    edit();
    b2 = await wrover();
  };
  const state = path.join(T, 'many-state');
  const conf2 = h.writeConfig(path.join(T, 'many.conf'), {
    senkod: { state_dir: state, api_url: gh2.base },
    sources: { app: { user: 'acme', repo: 'many', working_dir: 'app' } },
    // No boot watch: six sessions, and what this test counts is the
    // record's cost.
    devices: { w: { port: b2.link, baud: 1000000, source: 'app', boot_watch: 0 } },
  });
  const pages = () => Object.fromEntries(fs.readdirSync(b2.flash).filter(h.isRecordFile)
    .map((n) => [n, fs.readFileSync(path.join(b2.flash, n), 'utf8')]));
  const counted = async (what, args = []) => {
    const before = b2.counters();
    const r = await h.senko(['-v', '-c', conf2, 'sync', ...args]);
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    // The board writes file counters a little later, but in order: once
    // the reset that ends the session (the second: the first cleans the
    // heap) is counted, so are its files.
    const after = await h.until(() => {
      const c = b2.counters();
      return c && c.soft_resets >= before.soft_resets + 2 && c;
    }, 10000, 'the counters of the reset that ends the session');
    return { r, rx: after.rx_bytes - before.rx_bytes, written: after.files_written - before.files_written };
  };
  try {
    let r = await h.senko(['-v', '-c', conf2, 'sync']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /w: .*checking 301 of its files by hash/);
    assert.doesNotMatch(r.stderr, /w: wrote /);
    const first = pages();
    const size = Object.values(first).reduce((n, t) => n + t.length, 0);
    assert.ok(size > 15000, `record of ${size} bytes`);
    assert.equal(h.boardRecord(b2.flash).pages, Object.keys(first).length - 1);
    assert.ok(Object.keys(first).length >= 5, `${Object.keys(first).length} record files`);

    const changed = 'app/gen/module_7.py';
    const head = many.commit({ [changed]: 'V = "seven"\n' });
    const one = await counted('one change');
    // The changed file, one page of the record, its index and the
    // journal; not the record's 17 KB again.
    assert.equal(one.written, 4, `${one.written} files written on the board`);
    assert.ok(one.rx < 3000, `the board received ${one.rx} bytes (record: ${size})`);
    const second = pages();
    const differ = Object.keys(second).filter((n) => second[n] !== first[n]);
    assert.equal(differ.length, 2, `record files rewritten: ${differ}`);
    assert.ok(differ.includes('.senko.json'));
    const rec = h.boardRecord(b2.flash);
    assert.equal(rec.commit, head);
    assert.equal(rec.files['gen/module_7.py'], many.blobSha(changed));
    assert.equal(rec.files['gen/module_8.py'], many.blobSha('app/gen/module_8.py'));
    assert.equal(Object.keys(rec.files).length, 301);

    // A new gateway: the record's pages are read, every file is
    // adopted by hash, nothing is written to the board.
    fs.rmSync(state, { recursive: true, force: true });
    const lost = await counted('lost state_dir');
    assert.equal(lost.written, 0, `${lost.written} files written after a lost state_dir`);
    assert.doesNotMatch(lost.r.stderr, /w: wrote /);

    // A board an older senko left (the record in one file, version 1),
    // after senko was upgraded: the record is read and believed (no file
    // hashed), then replaced by the index and its pages.
    await offline(() => {
      for (const n of Object.keys(second)) fs.rmSync(path.join(b2.flash, n));
      fs.writeFileSync(path.join(b2.flash, '.senko.json'),
        JSON.stringify({ commit: rec.commit, files: rec.files, v: 1 }));
    });
    const old = await counted('version 1 record', ['--force']);
    assert.doesNotMatch(old.r.stderr, /by hash/);
    assert.equal(old.written, Object.keys(second).length + 1, // and the journal
      `${old.written} files written for a version 1 record`);
    assert.deepEqual(pages(), second);
    const again = await counted('in sync', ['--force']);
    assert.match(again.r.stderr, /w: the board is as senko left it/);
    assert.equal(again.written, 0, 'the record is written again and again');

    // A new gateway and a record with a page gone: nothing of the record
    // is believed, the board's files are adopted by hash, not sent again,
    // and the record is written back.
    const gone = Object.keys(second).find((n) => n !== '.senko.json');
    await offline(() => fs.rmSync(path.join(b2.flash, gone)));
    fs.rmSync(state, { recursive: true, force: true });
    const torn = await counted('a page missing');
    assert.match(torn.r.stderr, /w: the board's record has no page \d+/);
    assert.match(torn.r.stderr, /w: .*checking 301 of its files by hash/);
    assert.doesNotMatch(torn.r.stderr, /w: wrote /);
    // The record whole again (none of it could be believed) and the
    // journal, no more.
    assert.ok(torn.written <= Object.keys(second).length + 1,
      `${torn.written} files written for a missing page`);
    assert.deepEqual(pages(), second);
  } finally {
    await b2.stop();
    gh2.stop();
  }
});

test('the finish tells the board as the update left it: new folders, a replaced file, a pruned folder', async () => {
  // The agent answers the finish from the first walk's digest, kept up
  // to date as it changes the board; the next session's walk must agree.
  conf({ prune: 'yes' });
  const leftAsSaid = async (what) => {
    const r = await h.senko(['-v', '-c', CONF, 'sync', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /b: the board is as senko left it/, what);
  };
  try {
    repo.commit({ 'app/new/deep/x.py': 'Y = 1\n', 'app/lib/extra.py': 'E = 1\n' });
    let r = await sync();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(board.flash, 'new/deep/x.py'), 'utf8'), 'Y = 1\n');
    await leftAsSaid('after two new folders and two new files');
    repo.commit({ 'app/new/deep/x.py': null, 'app/lib/extra.py': 'E = 22\n' });
    r = await sync();
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!fs.existsSync(path.join(board.flash, 'new')), 'the emptied folders are still there');
    assert.equal(fs.readFileSync(path.join(board.flash, 'lib/extra.py'), 'utf8'), 'E = 22\n');
    await leftAsSaid('after a file replaced by a longer one and two folders pruned');
  } finally {
    conf();
  }
});

test('sync --force with nothing to write: the application runs again, and nothing drifted costs little', async () => {
  const { r, d } = await cost(() => h.senko(['-v', '-c', CONF, 'sync', '--force']));
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.ticks >= 3, 'the application does not print after sync --force');
  assert.ok(d.executions <= 3, `executions: ${d.executions}`);
  // The two digests matched: no listing, no record read, no hashing.
  assert.match(r.stderr, /b: the board is as senko left it/);
  assert.ok(d.tx_bytes < 2500, `the board sent ${d.tx_bytes} bytes`);
  // The agent ran from the board's cache: not its 8 KB of code, and
  // issue 10's 3 KB in all.
  assert.ok(d.rx_bytes + d.tx_bytes < 3072, `${d.rx_bytes} + ${d.tx_bytes} bytes`);
});

const cacheDir = () => path.join(board.flash, '.senko');
const cached = () => fs.readdirSync(cacheDir()).sort();

test('the agent cache: one version, verified before it runs, rewritten when damaged, never listed', async () => {
  const names = cached();
  // The agent compressed, as it crossed the line (src/board/boot.py).
  assert.equal(names.length, 1, names.join(' '));
  assert.match(names[0], /^agent-[0-9a-f]{16}-[0-9]+\.z$/);
  const copy = path.join(cacheDir(), names[0]);
  const good = fs.readFileSync(copy);
  // A damaged copy of the same size is never run: the agent is sent and
  // the copy rewritten.  An older version goes when the new one is
  // written.  Damaged on the board (the emulator reads its flash folder
  // at power-on only, so a change made from outside would need the board
  // off and on again).
  const damage = await h.senko(['-c', CONF, 'exec', 'b', [
    `p = '/.senko/${names[0]}'`,
    "f = open(p, 'rb')", 'b = bytearray(f.read())', 'f.close()',
    'b[-2] ^= 0x10',
    "f = open(p, 'wb')", 'f.write(b)', 'f.close()',
    "f = open('/.senko/agent-0123456789abcdef-12.z', 'w')", "f.write('raise SystemExit\\n')", 'f.close()',
  ].join('\n')]);
  assert.equal(damage.code, 0, damage.stderr);
  assert.ok(!fs.readFileSync(copy).equals(good), 'the copy was not damaged');
  let { r, d } = await cost(() => h.senko(['-v', '-c', CONF, 'sync', '--force']));
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.ticks >= 3, 'the application does not print after a damaged cache');
  assert.ok(d.rx_bytes > good.length, `the agent was not sent: ${d.rx_bytes} bytes`);
  assert.deepEqual(cached(), names);
  assert.ok(fs.readFileSync(copy).equals(good), 'the damaged copy stayed');
  // Never part of the inventory's listing, never pruned: a lost
  // state_dir with prune = yes lists the board and keeps the copy.
  // (senko ls shows the whole board, this too, as it shows the record.)
  conf({ prune: 'yes' });
  fs.rmSync(STATE, { recursive: true, force: true });
  const re = await h.senko(['-v', '-c', CONF, 'sync']);
  conf();
  assert.equal(re.code, 0, re.stderr);
  assert.doesNotMatch(re.stderr, /agent-|\.senko\//);
  assert.deepEqual(cached(), names);
  ({ r, d } = await cost(() => h.senko(['-v', '-c', CONF, 'sync', '--force'])));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /b: the board is as senko left it/);
  assert.ok(d.rx_bytes < 3072, `the cached agent was not used: ${d.rx_bytes} bytes`);
});

for (const [what, args] of [
  ['ls', ['ls', 'b']],
  ['exec', ['exec', 'b', 'print(6 * 7)']],
  ['verify', ['verify', 'b']],
]) {
  test(`senko ${what}: the application runs again`, async () => {
    const { r, d } = await cost(() => h.senko(['-c', CONF, ...args]));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.ticks >= 3, `the application does not print after senko ${what}`);
    assert.equal(d.soft_resets, 1, JSON.stringify(d));
    // verify hashes every file in one agent run, not one program each.
    if (what === 'verify') {
      assert.match(r.stdout, /^ok +\/lib\/util\.py$/m);
      assert.ok(d.executions <= 3, `${d.executions} executions`);
    }
  });
}

test('state_dir lost: a reconcile-only session re-sends nothing and the application runs again', async () => {
  fs.rmSync(STATE, { recursive: true, force: true });
  const { r, d } = await cost(() => sync());
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /wrote /);
  assert.ok(r.ticks >= 3, 'the application does not print after a reconcile');
  assert.ok(d.rx_bytes < 12000, `the board received ${d.rx_bytes} bytes`);
});

test('sync --verify repairs a same-size hand edit', async () => {
  // Same size as X = 2\n, other content: invisible to sizes and --force.
  await h.senko(['-c', CONF, 'exec', 'b', "f = open('/lib/util.py', 'w')\nf.write('X = 9\\n')\nf.close()"]);
  let r = await sync('--force');
  assert.equal(fs.readFileSync(path.join(board.flash, 'lib/util.py'), 'utf8'), 'X = 9\n', '--force repaired it?');
  r = await sync('--verify');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(path.join(board.flash, 'lib/util.py'), 'utf8'), 'X = 2\n');
  assert.ok(await ticks() >= 3);
});

test('sync --force: a managed file removed by hand (the record unchanged) is found by the listing and put back', async () => {
  // The board's record still says senko wrote /lib/util.py: only the
  // listing's digest, against the one senko left, shows the change.
  const before = fs.readFileSync(path.join(board.flash, 'lib/util.py'), 'utf8');
  let r = await h.senko(['-c', CONF, 'exec', 'b', "import os\nos.remove('/lib/util.py')"]);
  assert.equal(r.code, 0, r.stderr);
  r = await sync('--force');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /b: a file on the board has another size than senko wrote/);
  assert.equal(fs.readFileSync(path.join(board.flash, 'lib/util.py'), 'utf8'), before, 'the file is not back');
  assert.ok(await ticks() >= 3);
});

test('a failed session: a user folder in the way of a file; clear error, and the application runs again', async () => {
  // Upstream turns data/ into a file; the user keeps a file of their own
  // in /data on the board, so the folder cannot go.
  await h.senko(['-c', CONF, 'exec', 'b', "f = open('/data/mine.txt', 'w')\nf.write('keep')\nf.close()"]);
  fs.rmSync(path.join(repo.dir, 'app/data'), { recursive: true });
  repo.commit({ 'app/data': 'now a file\n' });
  const r = await sync();
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /cannot put '\/data' in place: E\w+ \([^)]*senko did not write[^)]*\)/);
  assert.ok(await ticks() >= 3, 'the application does not print after a failed session');
  assert.equal(fs.readFileSync(path.join(board.flash, 'data/mine.txt'), 'utf8'), 'keep');
  // Without the user's file the folder goes and the file takes its
  // place (checked inside one agent run in tests/transport/agent: the
  // emulator reads its flash folder at power-on only, and its write-back
  // cannot turn a folder into a file).
  await h.senko(['-c', CONF, 'exec', 'b', "import os\nos.remove('/data/mine.txt')"]);
  const again = await sync();
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /wrote data/);
});

test('upstream turns a file into a folder: the file goes first, whatever prune says', async () => {
  // data is a file on the board now (the test before); prune is off.
  fs.rmSync(path.join(repo.dir, 'app/data'));
  repo.commit({ 'app/data/table.txt': 'x y\n', 'app/data/sub/deep.txt': 'deep\n' });
  const r = await sync();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /b: 'data' is a file where the new commit has a folder/);
  assert.equal(fs.readFileSync(path.join(board.flash, 'data/table.txt'), 'utf8'), 'x y\n');
  assert.equal(fs.readFileSync(path.join(board.flash, 'data/sub/deep.txt'), 'utf8'), 'deep\n');
  assert.ok(await ticks() >= 3, 'the application does not print after the update');
  const again = await h.senko(['-v', '-c', CONF, 'sync', '--force']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /b: the board is as senko left it/);
  assert.doesNotMatch(again.stderr, /to write/);
});

test('boot watch: a main.py that raises shows in senko status', async () => {
  // health = none: the board keeps the broken main.py (with the default,
  // health = boot, it would be rolled back: tests/rollout).
  conf({ health: 'none', boot_watch: null });
  repo.commit({ 'app/main.py': 'print("starting")\nx = 1 / 0\n' });
  const r = await sync();
  assert.equal(r.code, 0, r.stderr);
  const st = await h.senko(['-c', CONF, 'status', '--json']);
  const dev = JSON.parse(st.stdout).devices[0];
  assert.equal(dev.boot.watched, true, st.stdout);
  assert.equal(dev.boot.traceback, true, st.stdout);
  assert.match(dev.boot.last_lines, /ZeroDivisionError/);
  const table = await h.senko(['-c', CONF, 'status']);
  assert.match(table.stdout, /after its restart the application raised: .*ZeroDivisionError/);
  // Restarted without a watch: that traceback was of an earlier boot, and
  // status no longer says it (main.py is still the broken one).
  conf({ health: 'none' });
  repo.commit({ 'app/lib/util.py': 'X = 9\n' });
  assert.equal((await sync()).code, 0);
  const st1 = JSON.parse((await h.senko(['-c', CONF, 'status', '--json'])).stdout).devices[0];
  assert.equal(st1.boot.watched, false, JSON.stringify(st1));
  assert.equal(st1.boot.traceback, false, JSON.stringify(st1));
  // Fixed: the next update clears it.
  conf({ boot_watch: null });
  repo.commit({ 'app/main.py': TICKER });
  await sync();
  const st2 = JSON.parse((await h.senko(['-c', CONF, 'status', '--json'])).stdout).devices[0];
  assert.equal(st2.boot.watched, true, JSON.stringify(st2));
  assert.equal(st2.boot.traceback, false, JSON.stringify(st2));
});

test('a chatty main.py (a timer callback printing every 10 ms) does not disturb an update', async () => {
  // The callback outlives main.py and Ctrl-C: it prints at the REPL,
  // between and inside what senko and the board say to each other,
  // until the soft reset.
  const chatty = 'import machine\n\ndef chat(t):\n    print("chatter " * 4)\n\n' +
    'machine.Timer(0).init(period=10, mode=machine.Timer.PERIODIC, callback=chat)\n';
  repo.commit({ 'app/main.py': chatty });
  let r = await sync();
  assert.equal(r.code, 0, r.stderr);
  // The commands that do not reset the board first hear it too.
  r = await h.senko(['-c', CONF, 'ls', 'b']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /lib\/util\.py/);
  assert.doesNotMatch(r.stdout, /chatter/);
  r = await h.senko(['-c', CONF, '-vv', 'exec', 'b', 'print(6 * 7)']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^42$/m);
  // The output never pauses: senko does not wait for quiet it will not
  // get before it asks for the raw REPL (it waited 1.5 s a session).
  const entered = /raw REPL after \d+ attempt\(s\), (\d+) ms/.exec(r.stderr);
  assert.ok(entered, r.stderr);
  assert.ok(Number(entered[1]) < 1000, `the raw REPL took ${entered[1]} ms`);
  repo.commit({ 'app/lib/util.py': 'X = 3\n' });
  const start = Date.now();
  r = await sync();
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Date.now() - start < 15000, `took ${Date.now() - start} ms`);
  assert.equal(fs.readFileSync(path.join(board.flash, 'lib/util.py'), 'utf8'), 'X = 3\n');
  repo.commit({ 'app/main.py': TICKER });
  r = await sync();
  assert.equal(r.code, 0, r.stderr);
});

// A senko killed while it has the board (kill -9, a crash, systemd's stop
// timeout running out) cannot restart the application.  The board's
// files are in sync, so no sync would open it; its open mark makes the
// next one do so.
test('a senko killed with the board open: the next sync restarts the application it left stopped', async () => {
  await h.killSenkoRun(CONF, 'b', T);
  assert.equal(await ticks(1500), 0, 'the application runs after the kill: nothing to test');
  const r = await sync();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /b: the application was left stopped by senko run \(pid \d+\), which ended with the board open/);
  assert.ok(await ticks() >= 3, 'the application is still stopped');
  // The mark is gone: the next sync leaves the board shut.
  const entries = board.counters().raw_repl_entries;
  assert.equal((await sync()).code, 0);
  assert.equal(board.counters().raw_repl_entries, entries, 'the board was opened again');
});

// The same when the sync has nothing to bring: the source failed (its
// blobs do not come), yet the application left stopped runs again.
test('a senko killed with the board open, and the source failing: the next sync still restarts the application', async () => {
  await h.killSenkoRun(CONF, 'b', T);
  assert.equal(await ticks(1500), 0, 'the application runs after the kill: nothing to test');
  repo.commit({ 'app/lib/util.py': 'X = 6\n' });
  await gh.fault({ kind: 'status', status: 500, match: '/git/blobs/' });
  let r;
  try {
    r = await sync();
  } finally {
    await gh.clearFaults();
  }
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /b: the application was left stopped by senko run \(pid \d+\)/);
  assert.ok(await ticks() >= 3, `the application is still stopped\n${r.stderr}`);
  assert.equal((await sync()).code, 0);
});

// A sync that finds the port held (here by `senko run`) has put its own
// mark in place of the holder's, and leaves it (session.c
// unmark_unopened()): if the holder then dies with the board open, the
// mark of a process that is gone still says the application is stopped.
test('a sync that found the port busy: when its holder dies, the next sync restarts the application', async () => {
  const holder = await h.startSenkoRun(CONF, 'b', T);
  try {
    const busy = await sync('--force');
    assert.equal(busy.code, 1, busy.stderr);
    assert.match(busy.stderr, /b: senko \(pid \d+\) is using \S+; stop it or wait for it to finish/);
  } finally {
    await holder.kill();
  }
  assert.equal(await ticks(1500), 0, 'the application runs after the kill: nothing to test');
  const r = await sync();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /b: the application was left stopped by senko sync \(pid \d+\), which ended with the board open/);
  assert.ok(await ticks() >= 3, 'the application is still stopped');
});

// A board that takes long to answer the probe (0.3 s before each
// execution), and a Ctrl-C once senko has it in the raw REPL: no session
// follows, yet the application was interrupted.  The restart must fit in
// the 2.5 s a stop leaves (repl.h REPL_STOP_GRACE_MS).
test('senko ls stopped while it probes the board: the application runs again', async () => {
  const dir = path.join(T, 'slow');
  fs.mkdirSync(path.join(dir, 'slow.flash'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'slow.flash/main.py'), TICKER);
  const slow = await h.startBoard({ dir, name: 'slow', args: ['--exec-delay', '300'] });
  try {
    const c = path.join(dir, 'senko.conf');
    h.writeAppConfig(c, { gh, state: path.join(dir, 'state'), devices: { s: { port: slow.link, baud: 1000000 } } });
    assert.ok(await h.appTicks(slow.link, 4000) >= 3, 'the application does not run to begin with');
    const p = h.startSenko(['-c', c, 'ls', 's']);
    await h.until(() => (slow.counters() || {}).raw_repl_entries >= 1, 10000, 'senko in the raw REPL');
    p.child.kill('SIGINT');
    const r = await p.done;
    assert.equal(r.code, 130, r.stderr);
    assert.ok(await h.appTicks(slow.link, 3000) >= 3, `the application is still stopped\n${r.stderr}`);
  } finally {
    await slow.stop();
  }
});

// The stop comes earlier: senko sent Ctrl-C, and the application takes
// 1.5 s to let go of it (a cleanup in its KeyboardInterrupt handler), so
// senko is still getting into the raw REPL.  The application was
// interrupted all the same: closing must start it again.
test('senko ls stopped while it gets into the raw REPL: the application runs again', async () => {
  const dir = path.join(T, 'slowstop');
  fs.mkdirSync(path.join(dir, 'b.flash'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'b.flash/main.py'), `import time
n = 0
try:
    while True:
        print("tick", n)
        n += 1
        time.sleep(0.1)
except KeyboardInterrupt:
    t = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t) < 1500:
        try:
            time.sleep_ms(50)
        except KeyboardInterrupt:
            pass
`);
  const b = await h.startBoard({ dir, name: 'b' });
  try {
    const c = path.join(dir, 'senko.conf');
    h.writeAppConfig(c, { gh, state: path.join(dir, 'state'), devices: { s: { port: b.link, baud: 1000000 } } });
    assert.ok(await h.appTicks(b.link, 4000) >= 3, 'the application does not run to begin with');
    const c0 = b.counters();
    const p = h.startSenko(['-c', c, 'ls', 's']);
    // Ctrl-C reached the board; it is not in the raw REPL yet.
    await h.until(() => b.counters().rx_bytes > c0.rx_bytes, 10000, 'senko\'s Ctrl-C on the line');
    assert.equal(b.counters().raw_repl_entries, c0.raw_repl_entries, 'senko in the raw REPL already: nothing tested');
    p.child.kill('SIGINT');
    const r = await p.done;
    assert.equal(r.code, 130, r.stderr);
    assert.ok(await h.appTicks(b.link, 4000) >= 3, `the application is still stopped\n${r.stderr}`);
  } finally {
    await b.stop();
  }
});

// The host's own work between two commands to the agent (here the
// mirror's fsyncs after the commit, 3 s each as on a worn SD card) must
// not outlast the agent's 5 s idle timeout: senko keeps it waiting.
test('a slow disk on the host: the agent waits for it, and the update completes', async () => {
  conf();
  repo.commit({ 'app/lib/util.py': 'X = 5\n', 'app/data/table.txt': 'slow disk\n' });
  const r = await h.senko(['-c', CONF, 'sync'], {
    env: {
      LD_PRELOAD: path.join(h.BUILD, 'tests/slowfsync.so'),
      SENKO_TEST_SLOW_FSYNC: `${path.join(STATE, 'devices/b/tmp')}/:3000`,
    },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /b: updated to /, r.stderr);
  assert.equal(fs.readFileSync(path.join(board.flash, 'data/table.txt'), 'utf8'), 'slow disk\n');
  assert.ok(await ticks() >= 3, 'the application is still stopped');
});

// What the mirror's index says must survive a power cut on the host: a
// file removed from the mirror, or one renamed into a new folder, is a
// change to its folder, durable only once the folder is synced.  Each
// must be synced before the index that counts on it is written (else a
// removed file comes back after the cut, and senko takes the board to
// hold it).  dirlog.so logs the changes and the folder syncs in order.
test('the mirror syncs each folder it changed before its index says so', async () => {
  conf({ prune: 'yes' });
  const log = path.join(T, 'dirlog.txt');
  fs.rmSync(log, { force: true });
  fs.rmSync(path.join(repo.dir, 'app/data/table.txt'), { force: true });
  repo.commit({ 'app/lib/util.py': 'X = 6\n', 'app/new/deep/a.txt': 'deep\n' });
  const r = await h.senko(['-c', CONF, 'sync'], {
    env: { LD_PRELOAD: path.join(h.BUILD, 'tests/dirlog.so'), SENKO_TEST_DIRLOG: log },
  });
  assert.equal(r.code, 0, r.stderr);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => {
    const sp = l.indexOf(' ');
    return { op: l.slice(0, sp), p: l.slice(sp + 1) };
  });
  const mirror = path.join(STATE, 'devices/b/mirror') + '/';
  const index = path.join(STATE, 'devices/b/index');
  const changes = lines.map((x, i) => ({ ...x, i })).filter((x) => x.op !== 'fsync' && x.p.startsWith(mirror));
  assert.ok(changes.some((x) => x.op === 'unlink'), `no file removed from the mirror:\n${lines.map((x) => x.op + ' ' + x.p).join('\n')}`);
  assert.ok(changes.some((x) => x.op === 'mkdir'), 'no folder made in the mirror');
  for (const c of changes) {
    const saved = lines.findIndex((x, j) => j > c.i && x.op === 'rename' && x.p === index);
    if (saved === -1) continue;
    const dir = path.dirname(c.p);
    const synced = lines.slice(c.i + 1, saved).some((x) => x.op === 'fsync' && x.p === dir);
    assert.ok(synced, `${c.op} ${c.p}: its folder is not synced before the index is written`);
  }
  assert.ok(await ticks() >= 3, 'the application is still stopped');
});

test('a lost state_dir on a slow disk: the mirror is rebuilt while the agent waits, and nothing is sent again', async () => {
  // Each of the board's files is copied into the new mirror with an
  // fsync: three of 3 s outlast the agent's 5 s idle timeout.
  fs.rmSync(STATE, { recursive: true, force: true });
  const r = await h.senko(['-c', CONF, 'sync'], {
    env: {
      LD_PRELOAD: path.join(h.BUILD, 'tests/slowfsync.so'),
      SENKO_TEST_SLOW_FSYNC: `${path.join(STATE, 'devices/b/tmp')}/:3000`,
    },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /wrote /);
  assert.ok(await ticks() >= 3, 'the application is still stopped');
});

test('a file that fails beside one whose name it begins with: only the failed one is taken as not written', async () => {
  // The board answers with the paths it could not put in place; "/x"
  // must not be read into "/x b.py ENOTEMPTY".
  conf();
  await h.senko(['-c', CONF, 'exec', 'b', "import os\nos.mkdir('/x b.py')\nf = open('/x b.py/mine.txt', 'w')\nf.write('keep')\nf.close()"]);
  repo.commit({ 'app/x': 'x\n', 'app/x b.py': 'X = 1\n' });
  const r = await sync();
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /cannot put '\/x b\.py' in place: ENOTEMPTY/);
  assert.match(r.stderr, /b: wrote x \(/, 'the file written beside it is not taken as written');
  assert.equal(fs.readFileSync(path.join(board.flash, 'x'), 'utf8'), 'x\n');
  await h.senko(['-c', CONF, 'exec', 'b', "import os\nos.remove('/x b.py/mine.txt')"]);
  const again = await sync();
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /wrote x \(/, 'x was sent again');
  assert.ok(await ticks() >= 3);
});

test('a boot.py that never ends (waiting for a network that is not there): the fixed one still reaches the board', async () => {
  conf();
  repo.commit({ 'app/boot.py': 'import time\nwhile True:\n    time.sleep(0.1)\n' });
  let r = await sync();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await ticks(1500), 0, 'main.py ran after a boot.py that never ends?');
  // The next session's clean reboot runs boot.py in the raw REPL too.
  repo.commit({ 'app/boot.py': '# fixed\n' });
  r = await sync();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /boot\.py still runs 5 s after the soft reboot; interrupting it/);
  assert.equal(fs.readFileSync(path.join(board.flash, 'boot.py'), 'utf8'), '# fixed\n');
  assert.ok(await ticks() >= 3, 'the application does not run again');
});

test('reset = none: the board is left at its REPL, as documented', async () => {
  conf({ reset: 'none' });
  const r = await sync('--force');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await ticks(1500), 0, 'reset = none restarted the application');
  conf();
  await sync('--force');
  assert.ok(await ticks() >= 3);
});

test.after(async () => {
  if (board) await board.stop();
  if (gh) gh.stop();
});
