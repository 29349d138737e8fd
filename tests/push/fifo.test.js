'use strict';
// The credit scheme is what keeps the board's stdin ring (esp32 259,
// esp8266 255 usable bytes) from overflowing: at 115200 baud with a board
// that starts slowly (exec delay) and spends time programming flash, a push
// without credits, or with a window of 4 times the ring (test hooks), loses
// bytes and the hash check catches it, never leaving a damaged file; with
// credits nothing is lost.  On both profiles: this is the proof that the
// emulator can make a careless sender fail.

const test = require('node:test');
const assert = require('node:assert');
const L = require('./lib');

const corpus = { 'a.bin': L.randomBytes(11, 6000), 'b.py': L.pythonSource(12, 6000) };
const src = L.tmpdir('fifosrc');
L.writeTree(src, corpus);
const BOARD_ARGS = ['--baud', '115200', '--exec-delay', '400', '--no-deflate'];
const PROFILES = ['esp32', 'esp8266'];

test.after(L.stopAll);

function assertNeverDamaged(flash) {
  const got = L.readTree(flash);
  for (const [rel, data] of Object.entries(corpus)) {
    if (got[rel]) assert.ok(Buffer.compare(got[rel], Buffer.from(data)) === 0, `${rel} is complete if present`);
  }
  assert.deepStrictEqual(Object.keys(got).filter((f) => f.endsWith('.senko-tmp')), []);
}

// A careless push mostly waits for the host's stall timeouts: start them
// all at once (each test awaits its own).
function pushWith(profile, flags) {
  const flash = L.tmpdir('fifo');
  const p = (async () => {
    const b = await L.startBoard(flash, [...BOARD_ARGS, '--profile', profile]);
    const r = await L.push(b.path, src, flags);
    await b.stop();
    return { b, r, flash };
  })();
  p.catch(() => {}); // reported by the test that awaits it
  return p;
}
const runs = {};
for (const profile of PROFILES) {
  for (const flags of [['--no-credit'], ['--wide-window'], []]) runs[profile + flags] = pushWith(profile, flags);
}

for (const profile of PROFILES) {
  for (const [hook, flag] of [['without credits', '--no-credit'], ['with a window of 4x the ring', '--wide-window']]) {
    test(`fifo (${profile}): ${hook} bytes drop and the hash check catches it`, async () => {
      const { b, r, flash } = await runs[profile + flag];
      const c = b.counters();
      assert.ok(c.dropped_bytes > 0, `bytes dropped: ${JSON.stringify(c)}`);
      assert.notStrictEqual(r.code, 0, 'the push reports the failure');
      assert.match(r.stderr, /bytes were lost on the line|hash mismatch|arrived damaged/);
      assertNeverDamaged(flash);
    });
  }

  test(`fifo (${profile}): with credits nothing drops and every file lands`, async () => {
    const { b, r, flash } = await runs[profile];
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(b.counters().dropped_bytes, 0);
    const got = L.readTree(flash);
    for (const [rel, data] of Object.entries(corpus)) {
      assert.ok(got[rel] && Buffer.compare(got[rel], Buffer.from(data)) === 0, `${rel} landed`);
    }
  });
}
