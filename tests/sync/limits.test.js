// Boards at their limits (issue 12, "Boards"): an update that does not fit
// the flash changes nothing; verify at an 8 KB heap and with an empty
// mirror; prune keeps a file whose content senko did not write.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('limits');
const FILES = {
  'app/main.py': 'print("v1")\n',
  'app/lib/a.py': 'A = 1\n' + '# pad\n'.repeat(800),
  'app/lib/b.py': 'B = 1\n' + '# pad\n'.repeat(800),
  'app/old.py': 'OLD = 1\n',
};
let repo, gh;
const boards = [];

async function board(name, args = []) {
  const b = await h.startBoard({ dir: T, name, args });
  boards.push(b);
  return b;
}

function conf(name, link, extra = {}) {
  return h.writeAppConfig(path.join(T, `${name}.conf`), {
    gh, state: path.join(T, `${name}-state`),
    devices: { b: Object.assign({ port: link, baud: 1000000, boot_watch: 0 }, extra) },
  });
}

test.before(async () => {
  repo = h.makeRepo(path.join(T, 'repos'), 'acme', 'fw', FILES);
  // 5,000 requests an hour, as with a token: one test fetches 61 blobs.
  gh = await h.startGitHub({ repos: path.join(T, 'repos'), args: ['--rate-limit', '5000'] });
});

test('not enough flash for the whole update: said before the first file, nothing changed', async () => {
  fs.mkdirSync(path.join(T, 'full.flash'), { recursive: true });
  fs.writeFileSync(path.join(T, 'full.flash/main.py'), 'print("mine")\n');
  const b = await board('full', ['--flash-size', '12000']);
  const before = b.counters();
  const r = await h.senko(['-c', conf('full', b.link), 'sync']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /not enough free flash for the update: it needs \d+ bytes, \d+ are free; nothing was changed/);
  const after = b.counters();
  assert.equal(after.files_written - before.files_written, 0, 'a file was written');
  assert.equal(fs.readFileSync(path.join(b.flash, 'main.py'), 'utf8'), 'print("mine")\n');
});

test('verify at an 8 KB heap, and with an empty mirror', async () => {
  let b = await board('small');
  const c = conf('small', b.link);
  let r = await h.senko(['-c', c, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  await b.stop();
  b = await board('small', ['--heap', '8192']);
  r = await h.senko(['-c', c, 'verify', 'b']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok +\/lib\/a\.py$/m);
  // A mirror folder with nothing in it: nothing to verify, no crash.
  const mirror = path.join(T, 'small-state/devices/b/mirror');
  fs.rmSync(mirror, { recursive: true });
  fs.mkdirSync(mirror);
  r = await h.senko(['-c', c, 'verify', 'b']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr + r.stdout, /all 0 file\(s\) match/);
});

test('prune keeps a file whose content is not what senko wrote, and says how to remove it', async () => {
  const b = await board('prune');
  const c = conf('prune', b.link, { prune: 'yes' });
  let r = await h.senko(['-c', c, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  // Edited on the board, same size as senko's version.
  r = await h.senko(['-c', c, 'exec', 'b', "f = open('/old.py', 'w')\nf.write('OLD = 9\\n')\nf.close()"]);
  assert.equal(r.code, 0, r.stderr);
  repo.commit({ 'app/old.py': null, 'app/main.py': 'print("v2")\n' });
  r = await h.senko(['-c', c, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /kept '\/old\.py': upstream dropped it, but its content on the board is not what senko wrote; remove it by hand/);
  const got = await h.senko(['-c', c, 'exec', 'b', "print(open('/old.py').read(), end='')"]);
  assert.equal(got.stdout, 'OLD = 9\n');
  // Not senko's any more: the next sync leaves it alone, quietly.
  r = await h.senko(['-c', c, 'sync', '--force']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /old\.py/);
});

// The commit's answer names every file prune kept; 60 of them with long
// paths are more than one frame (agent.c FRAME_MAX, 4 KB) holds: the
// board cuts the list and says so, and the update completes.
test('prune keeps 60 long-named files: the board cuts its list, and the update completes', async () => {
  const dir = 'd'.repeat(60);
  const files = { 'app/main.py': 'print("v1")\n' };
  for (let i = 0; i < 60; i++) files[`app/${dir}/module_with_a_long_name_${String(i).padStart(3, '0')}.py`] = `V = ${i}\n`;
  const many = h.makeRepo(path.join(T, 'repos'), 'acme', 'many', files);
  // A board collects garbage within a run; the emulated one cannot, and
  // 61 files in one run fill its heap (tests/board/README.md).
  const b = await board('many', ['--heap-soft']);
  const c = h.writeConfig(path.join(T, 'many.conf'), {
    senkod: { state_dir: path.join(T, 'many-state'), api_url: gh.base },
    sources: { app: { user: 'acme', repo: 'many', working_dir: 'app' } },
    devices: { b: { port: b.link, baud: 1000000, boot_watch: 0, source: 'app', prune: 'yes' } },
  });
  let r = await h.senko(['-c', c, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  // Every one edited on the board, at the same size.
  r = await h.senko(['-c', c, 'exec', 'b', `import os\nd = '/${dir}/'\nfor n in os.listdir(d):\n` +
    "    t = open(d + n).read().replace('V', 'W')\n    f = open(d + n, 'w')\n    f.write(t)\n    f.close()"]);
  assert.equal(r.code, 0, r.stderr);
  const gone = { 'app/main.py': 'print("v2")\n' };
  for (const p of Object.keys(files)) if (p !== 'app/main.py') gone[p] = null;
  many.commit(gone);
  r = await h.senko(['-c', c, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /b: and more files kept \(the board's list was cut\)/);
  assert.equal(fs.readdirSync(path.join(b.flash, dir)).length, 60, 'a kept file was removed');
  assert.equal(fs.readFileSync(path.join(b.flash, 'main.py'), 'utf8'), 'print("v2")\n');
});

test.after(async () => {
  await Promise.all(boards.map((b) => b.stop()));
  if (gh) gh.stop();
});
