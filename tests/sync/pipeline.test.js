// A fresh push keeps several files in flight (src/board/agent.c,
// agent_put_batch): the next file's command and data go out while the
// board still writes the last.  A file the board refuses in the middle
// must still be named, alone, with the board's reason; the update must
// not land in part (the files before and after it are only staged, and
// the next session removes them); and once the obstacle is gone the next
// session completes.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const h = require('../lib/harness');

const T = h.tmpdir('pipeline');
const REPOS = path.join(T, 'repos');
const CONF = path.join(T, 'senko.conf');

// Compressible source on both sides of the refused file, and raw data
// (random: it goes uncompressed) before it.
const src = (n) => Array.from({ length: 300 }, (_, i) => `def f${n}_${i}(x):\n    return x + ${i}\n`).join('');
const FILES = {
  'app/a.py': src(1),
  'app/data.bin': crypto.randomBytes(6000),
  'app/lib/b.py': src(2),
  'app/main.py': 'print("up")\n',
  'app/z.py': src(3),
};
let gh, board;

function appFiles() {
  const t = h.readTree(board.flash);
  for (const k of Object.keys(t))
    if (h.isRecordFile(k) || k.startsWith('.senko/')) delete t[k];
  return t;
}

test.before(async () => {
  h.makeRepo(REPOS, 'acme', 'fw', FILES);
  gh = await h.startGitHub({ repos: REPOS });
  board = await h.startBoard({ dir: T, name: 'b', args: ['--profile', 'esp32'] });
  h.writeAppConfig(CONF, {
    gh, state: path.join(T, 'state'),
    devices: { b: { port: board.link, boot_watch: 0 } },
  });
});

test.after(async () => {
  if (board) await board.stop();
  if (gh) gh.stop();
});

// One sync and what it cost the board.  Several files in flight stay
// within the credit window (nothing overran the board's stdin ring) and
// in one probe and one agent run.
async function syncWithinWindow() {
  const before = board.counters();
  const r = await h.senko(['-c', CONF, 'sync']);
  const after = board.counters();
  assert.equal(after.dropped_bytes - before.dropped_bytes, 0, 'bytes dropped by the board');
  assert.ok(after.executions - before.executions <= 3, `${after.executions - before.executions} executions`);
  return r;
}

test('a file refused in the middle of a pipelined push', async () => {
  // The user's own file where upstream has a folder: /lib/b.py cannot
  // be written.
  const put = await h.senko(['-c', CONF, 'exec', 'b', "f = open('/lib', 'w')\nf.write('mine')\nf.close()"]);
  assert.equal(put.code, 0, put.stderr);
  const r = await syncWithinWindow();
  assert.notEqual(r.code, 0, 'the sync fails');
  assert.match(r.stderr, /cannot write '\/lib\/b\.py': .*nothing was changed/, r.stderr);
  const named = r.stderr.match(/cannot write '[^']*'/g) || [];
  assert.deepEqual(named, ["cannot write '/lib/b.py'"], 'only the refused file is named');
  assert.doesNotMatch(r.stderr, /arrived damaged|unexpected answer|gave up|did not finish/, r.stderr);
  // Nothing of the update under its name: the commit never came.
  assert.deepEqual(Object.keys(appFiles()).filter((k) => !k.endsWith('.senko-tmp')), ['lib'],
    'only the user\'s file is in place');
});

test('the next session, with the obstacle gone, completes the update', async () => {
  const rm = await h.senko(['-c', CONF, 'exec', 'b', "import os\nos.remove('/lib')"]);
  assert.equal(rm.code, 0, rm.stderr);
  const r = await syncWithinWindow();
  assert.equal(r.code, 0, r.stderr);
  const got = appFiles();
  const want = Object.fromEntries(Object.entries(FILES).map(([p, c]) => [p.slice(4), Buffer.from(c)]));
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), 'the whole update, no temporaries');
  for (const k of Object.keys(want)) assert.ok(got[k].equals(want[k]), `${k} intact`);
});
