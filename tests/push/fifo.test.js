'use strict';
// The credit scheme is what keeps a 256-byte UART FIFO from overflowing:
// at 115200 baud with a board that starts slowly (exec delay), a push
// without credits (test hook) loses bytes and the hash check catches it,
// never leaving a damaged file; with credits nothing is lost.

const test = require('node:test');
const assert = require('node:assert');
const L = require('./lib');

const corpus = { 'a.bin': L.randomBytes(11, 6000), 'b.py': L.pythonSource(12, 6000) };
const src = L.tmpdir('fifosrc');
L.writeTree(src, corpus);
const BOARD_ARGS = ['--baud', '115200', '--fifo', '256', '--exec-delay', '400', '--no-deflate'];

test.after(L.stopAll);

function assertNeverDamaged(flash) {
  const got = L.readTree(flash);
  for (const [rel, data] of Object.entries(corpus)) {
    if (got[rel]) assert.ok(Buffer.compare(got[rel], Buffer.from(data)) === 0, `${rel} is complete if present`);
  }
  assert.deepStrictEqual(Object.keys(got).filter((f) => f.endsWith('.senko-tmp')), []);
}

test('fifo: without credits bytes drop and the hash check catches it', async () => {
  const flash = L.tmpdir('nocredit');
  const b = await L.startBoard(flash, BOARD_ARGS);
  const r = await L.push(b.path, src, ['--no-credit']);
  await b.stop();
  const c = b.counters();
  assert.ok(c.dropped_bytes > 0, `bytes dropped: ${JSON.stringify(c)}`);
  assert.match(r.stderr, /bytes were lost on the line|hash mismatch/);
  assertNeverDamaged(flash);
});

test('fifo: with credits nothing drops and every file lands', async () => {
  const flash = L.tmpdir('credit');
  const b = await L.startBoard(flash, BOARD_ARGS);
  const r = await L.push(b.path, src, []);
  await b.stop();
  assert.strictEqual(r.code, 0, r.stderr);
  assert.strictEqual(b.counters().dropped_bytes, 0);
  const got = L.readTree(flash);
  for (const [rel, data] of Object.entries(corpus)) {
    assert.ok(got[rel] && Buffer.compare(got[rel], Buffer.from(data)) === 0, `${rel} landed`);
  }
});
