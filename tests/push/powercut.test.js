'use strict';
// Power cut sweep: cut the board's power at 20 points spread over a
// multi-file push.  After each cut every target file is either its
// complete old version or its complete new version, and after a restart
// the next push (with devfs_clean_temps) completes the job.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const L = require('./lib');

const BAUD = '1000000';
const POINTS = 20;
const PARALLEL = 4;
const newFiles = {
  'main.py': L.pythonSource(21, 5000),
  'boot.py': L.pythonSource(22, 1500),
  'lib/a.py': L.pythonSource(23, 7000),
  'lib/b.bin': L.randomBytes(24, 6000),
  'lib/c.py': L.pythonSource(25, 3000),
};
const oldFiles = {
  'main.py': L.pythonSource(31, 4000),
  'boot.py': L.pythonSource(32, 1200),
  'lib/a.py': L.pythonSource(33, 8000),
  'lib/b.bin': L.randomBytes(34, 5000),
};
// Compression is covered elsewhere; here the subject is atomicity.
const BOARD_ARGS = ['--baud', BAUD, '--no-deflate'];
const src = L.tmpdir('cutsrc');
L.writeTree(src, newFiles);

test.after(L.stopAll);

function classify(flash) {
  const got = L.readTree(flash);
  const bad = [];
  for (const rel of Object.keys(newFiles)) {
    const g = got[rel];
    const isNew = g && Buffer.compare(g, Buffer.from(newFiles[rel])) === 0;
    const isOld = oldFiles[rel] === undefined ? g === undefined
      : g && Buffer.compare(g, Buffer.from(oldFiles[rel])) === 0;
    if (!isNew && !isOld) bad.push(`${rel} (${g ? g.length : 'missing'} bytes)`);
  }
  return bad;
}

async function scenario(cut) {
  const flash = L.tmpdir('cut' + cut);
  L.writeTree(flash, oldFiles);
  let b = await L.startBoard(flash, [...BOARD_ARGS, '--power-cut-after', String(cut)]);
  const r1 = await L.push(b.path, src, ['-b', BAUD], 60000);
  const exit = await b.stop();
  const bad = classify(flash);
  b = await L.startBoard(flash, BOARD_ARGS);
  const r2 = await L.push(b.path, src, ['-b', BAUD, '--clean'], 60000);
  await b.stop();
  const after = L.readTree(flash);
  return { cut, exit, r1, r2, bad, after };
}

test('powercut: 20 cuts over a multi-file push never leave a broken file', async () => {
  // How many bytes a whole push takes on the line (probe included).
  const ref = L.tmpdir('cutref');
  L.writeTree(ref, oldFiles);
  const b = await L.startBoard(ref, BOARD_ARGS);
  const r = await L.push(b.path, src, ['-b', BAUD]);
  await b.stop();
  assert.strictEqual(r.code, 0, r.stderr);
  const total = b.counters().rx_bytes;
  const cuts = [];
  for (let i = 0; i < POINTS; i++) cuts.push(Math.max(1, Math.floor(total * (i + 0.5) / POINTS)));

  const results = [];
  for (let i = 0; i < cuts.length; i += PARALLEL) {
    results.push(...await Promise.all(cuts.slice(i, i + PARALLEL).map(scenario)));
  }
  let cutMidPush = 0;
  for (const s of results) {
    assert.deepStrictEqual(s.bad, [], `cut after ${s.cut} of ${total} bytes: files neither old nor new`);
    if (s.exit === 3) cutMidPush++;
    assert.notStrictEqual(s.r1.killed, true, `cut after ${s.cut}: the push gave up by itself`);
    if (s.exit === 3) assert.notStrictEqual(s.r1.code, 0, `cut after ${s.cut}: the push reports the failure`);
    assert.strictEqual(s.r2.code, 0, `cut after ${s.cut}: the next push completes: ${s.r2.stderr}`);
    for (const [rel, data] of Object.entries(newFiles)) {
      assert.ok(s.after[rel] && Buffer.compare(s.after[rel], Buffer.from(data)) === 0,
        `cut after ${s.cut}: ${rel} is new after the second push`);
    }
    assert.deepStrictEqual(Object.keys(s.after).filter((f) => f.endsWith('.senko-tmp')), [],
      `cut after ${s.cut}: no temporary files left`);
  }
  assert.ok(cutMidPush >= POINTS - 1, `${cutMidPush} of ${POINTS} cuts landed during the push`);
});
