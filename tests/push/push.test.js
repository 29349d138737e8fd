'use strict';
// devfs_push against emulated boards: both profiles and every fallback
// land byte-identical files (replacing old ones, leaving no temporary
// files), an unchanged tree sends no file data, a full flash replaces
// nothing, and a board that vanishes gives an error, not a hang.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const L = require('./lib');

const BAUD = '1000000';
const corpus = L.smallCorpus(7);
const src = L.tmpdir('src');
L.writeTree(src, corpus);
const oldFiles = { 'main.py': 'print("old main")\n', 'lib/util.py': '# old util\n' };

test.after(L.stopAll);

function assertLanded(flash) {
  const got = L.readTree(flash);
  for (const [rel, data] of Object.entries(corpus)) {
    assert.ok(got[rel], `${rel} is on the board`);
    assert.ok(Buffer.compare(got[rel], Buffer.from(data)) === 0, `${rel} is byte-identical`);
  }
  const temps = Object.keys(got).filter((f) => f.endsWith('.senko-tmp'));
  assert.deepStrictEqual(temps, [], 'no temporary files left');
}

async function pushTo(name, boardArgs) {
  const flash = L.tmpdir(name);
  L.writeTree(flash, oldFiles);
  const b = await L.startBoard(flash, ['--baud', BAUD, ...boardArgs]);
  const r = await L.push(b.path, src, ['-b', BAUD]);
  assert.strictEqual(r.code, 0, `push exits 0: ${r.stderr}`);
  assert.match(r.stdout, new RegExp(`pushed ${Object.keys(corpus).length} failed 0`));
  await b.stop();
  assertLanded(flash);
  assert.strictEqual(b.counters().dropped_bytes, 0, 'no byte dropped');
  return { b, r, flash };
}

test('push: esp32 profile, files land byte-identical over old ones', async () => {
  await pushTo('esp32', ['--profile', 'esp32']);
});

test('push: esp8266 profile (40 KB heap)', async () => {
  await pushTo('esp8266', ['--profile', 'esp8266']);
});

test('push: without deflate on the board (uncompressed stream)', async () => {
  await pushTo('nodeflate', ['--no-deflate']);
});

test('push: without sys.stdin.buffer (base64 runs)', async () => {
  await pushTo('nostdin', ['--profile', 'esp8266', '--no-stdin-buffer']);
});

test('push: without raw-paste (plain raw REPL)', async () => {
  await pushTo('nopaste', ['--no-raw-paste']);
});

test('push: without sha1 on the board (SHA-256 check)', async () => {
  await pushTo('nosha1', ['--no-sha1']);
});

test('push: an unchanged tree sends no file data; one changed file sends only it', async () => {
  const flash = L.tmpdir('same');
  L.writeTree(flash, corpus);
  const b = await L.startBoard(flash, ['--baud', BAUD]);
  let r = await L.push(b.path, src, ['-b', BAUD, '--skip-same']);
  assert.strictEqual(r.code, 0, r.stderr);
  assert.match(r.stdout, /pushed 0 failed 0 skipped 6/);
  assert.doesNotMatch(r.stdout, /^done /m, 'no file was sent');
  const changed = L.tmpdir('changed');
  L.writeTree(changed, corpus);
  fs.appendFileSync(path.join(changed, 'lib/util.py'), '\n# changed\n');
  r = await L.push(b.path, changed, ['-b', BAUD, '--skip-same']);
  assert.strictEqual(r.code, 0, r.stderr);
  assert.match(r.stdout, /pushed 1 failed 0 skipped 5/);
  assert.match(r.stdout, /^done \/lib\/util.py$/m);
  await b.stop();
  assert.ok(fs.readFileSync(path.join(flash, 'lib/util.py'), 'utf8').endsWith('# changed\n'));
});

test('push: not enough free flash replaces nothing and says so', async () => {
  const flash = L.tmpdir('full');
  L.writeTree(flash, oldFiles);
  const b = await L.startBoard(flash, ['--baud', BAUD, '--flash-size', '20000']);
  const r = await L.push(b.path, src, ['-b', BAUD]);
  await b.stop();
  assert.strictEqual(r.code, 1, 'files failed');
  assert.match(r.stderr, /not enough free flash for the push: it needs \d+ bytes, \d+ are free; nothing was replaced/);
  const got = L.readTree(flash);
  for (const [rel, data] of Object.entries(oldFiles)) {
    assert.strictEqual(got[rel].toString(), data, `${rel} keeps its old version`);
  }
  assert.deepStrictEqual(Object.keys(got).filter((f) => f.endsWith('.senko-tmp')), []);
});

test('push: a board that vanishes mid-push gives a clear error, not a hang', async () => {
  const flash = L.tmpdir('vanish');
  const big = L.tmpdir('bigsrc');
  L.writeTree(big, { 'a.bin': L.randomBytes(3, 60000), 'b.bin': L.randomBytes(4, 60000) });
  // 115200 baud: the push takes about 10 s, so the kill lands mid-file.
  const b = await L.startBoard(flash, []);
  const pending = L.push(b.path, big, [], 60000);
  await new Promise((r) => setTimeout(r, 3000));
  b.proc.kill('SIGKILL');
  const r = await pending;
  assert.strictEqual(r.killed, false, 'the helper ended by itself');
  assert.strictEqual(r.code, 3, `connection failure exit status: ${r.stderr}`);
  assert.match(r.stderr, /vanished|stopped answering|cannot write to the board/);
  assert.ok(r.ms < 30000, `gave up in ${r.ms} ms`);
});
