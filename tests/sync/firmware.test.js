// Firmware variants (what tests/push/push.test.js asked of the old push,
// now of the board session): a sync lands the same files byte-identical
// on an esp8266, on firmware without deflate (file data goes
// raw), without raw-paste (the plain raw REPL), without hashlib.sha1
// (SHA-256 checks), and over older files; firmware without
// sys.stdin.buffer is refused with a clear error and keeps its files.
// Boards run in parallel at 1,000,000 baud.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const h = require('../lib/harness');

const T = h.tmpdir('firmware');
const TICKER = h.TICKER;
const FILES = {
  'app/main.py': TICKER,
  // Compressible source and incompressible bytes: both paths of a put.
  'app/lib/util.py': Array.from({ length: 120 }, (_, i) => `def f${i}(x):\n    return x * ${i}\n`).join(''),
  'app/data/blob.bin': Buffer.concat([Buffer.from('0123456789abcdef'.repeat(160)), crypto.randomBytes(3000)]),
};
const VARIANTS = {
  // The emulator cannot collect garbage inside one execution, so a whole
  // session's garbage must fit at once (tests/board/README.md, "Heap and
  // garbage collection"); tests/sync/powercut.test.js gives the esp8266
  // profile the same heap.  That the agent starts and writes in 40 KB
  // is tests/transport/agent.test.sh's 'window (esp8266)'.
  esp8266: ['--profile', 'esp8266', '--heap', '81920'],
  nodeflate: ['--no-deflate'],
  norawpaste: ['--no-raw-paste'],
  nosha1: ['--no-sha1'],
};
let gh;

test.before(async () => {
  h.makeRepo(path.join(T, 'repos'), 'acme', 'fw', FILES);
  gh = await h.startGitHub({ repos: path.join(T, 'repos') });
});
test.after(() => { if (gh) gh.stop(); });

async function syncOne(name, args, seed = {}) {
  const flash = path.join(T, `${name}.flash`);
  for (const [p, c] of Object.entries(seed)) {
    fs.mkdirSync(path.dirname(path.join(flash, p)), { recursive: true });
    fs.writeFileSync(path.join(flash, p), c);
  }
  const b = await h.startBoard({ dir: T, name, args });
  const conf = h.writeAppConfig(path.join(T, `${name}.conf`), {
    gh, state: path.join(T, `${name}-state`),
    devices: { [name]: { port: b.link, baud: 1000000, boot_watch: 0 } },
  });
  const r = await h.senko(['-c', conf, 'sync']);
  await b.stop();
  return { r, flash };
}

function assertLanded(flash) {
  for (const [p, c] of Object.entries(FILES)) {
    const got = path.join(flash, p.slice(4));
    assert.ok(fs.existsSync(got), `${p} missing`);
    assert.ok(fs.readFileSync(got).equals(Buffer.from(c)), `${p} differs`);
  }
}

const runs = {};
for (const [name, args] of Object.entries(VARIANTS)) {
  test(`firmware ${name}: every file lands byte-identical`, async () => {
    runs[name] = runs[name] || syncOne(name, args);
    const { r, flash } = await runs[name];
    assert.equal(r.code, 0, r.stderr);
    assertLanded(flash);
  });
}

test('older files on the board are replaced', async () => {
  const { r, flash } = await syncOne('old', [], { 'lib/util.py': 'OLD = 1\n', 'data/blob.bin': 'x'.repeat(9000) });
  assert.equal(r.code, 0, r.stderr);
  assertLanded(flash);
});

test('firmware without sys.stdin.buffer: refused with a clear error, nothing changed', async () => {
  const { r, flash } = await syncOne('nostdin', ['--no-stdin-buffer'], { 'keep.py': 'mine\n' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no sys\.stdin\.buffer/);
  assert.deepEqual(Object.keys(h.readTree(flash)).filter((f) => !f.startsWith('.senko/')), ['keep.py']);
});
