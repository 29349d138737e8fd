// Power cuts over a multi-file update (issue 10, "a commit lands as a
// whole"), on both profiles.  The board holds commit A; senko updates it
// to B (three files changed, one added, one pruned) and the power goes at
// points spread over the whole session.  After each cut every file is A's
// or B's, never missing or torn; unless the cut hit the rename burst (a
// journal is then on the board) the board holds exactly A or exactly B;
// the next sync completes B and says so when it finished a commit.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('cut');
const POINTS = 6;
const A = {
  'app/main.py': 'print("A main")\n' + '# a\n'.repeat(300),
  'app/boot.py': '# A boot\n',
  'app/lib/a.py': 'A = 1\n' + '# pad\n'.repeat(500),
  'app/lib/gone.py': 'GONE = 1\n',
  'app/data.bin': Buffer.alloc(3000, 7),
};
const B = {
  'app/main.py': 'print("B main")\n' + '# b\n'.repeat(400),
  'app/boot.py': '# A boot\n',
  'app/lib/a.py': 'A = 2\n' + '# pad\n'.repeat(700),
  'app/lib/new.py': 'NEW = 1\n',
  'app/data.bin': Buffer.alloc(3500, 9),
};
// The emulator cannot collect garbage inside one execution, and its
// stdin and stdout go through Python shims that allocate on every call,
// so one agent run leaves some 3 bytes of garbage per byte moved that a
// board would collect (tests/board/README.md, "Heap and garbage
// collection").  The esp8266 board runs with --heap-soft: its heap as a
// board reports it (40 KB), so senko starts the agent as on an ESP8266
// (plain, from the copy in its cache), and the garbage does not count.
// (It had --heap 81920: with the probe's own garbage gone, 80 KB is a
// heap for the compressed agent, which no ESP8266 gets.)
const PROFILE_ARGS = {
  esp32: ['--profile', 'esp32'],
  esp8266: ['--profile', 'esp8266', '--heap-soft'],
  // FAT renames over a file as remove-then-rename: cut between the two.
  'esp32-fat': ['--profile', 'esp32', '--fs', 'fat'],
};
let gh;
const started = [];
async function startBoard(opts) {
  const b = await h.startBoard(opts);
  started.push(b);
  return b;
}
test.after(async () => {
  await Promise.all(started.map((b) => b.stop()));
  if (gh) gh.stop();
});

const tree = (files) => Object.fromEntries(Object.entries(files)
  .map(([p, c]) => [p.slice(4), Buffer.from(c)]));

// The board's files without senko's own.
function boardFiles(flash) {
  const t = h.readTree(flash);
  for (const k of Object.keys(t))
    if (h.isRecordFile(k) || k.endsWith('.senko-tmp') || k === '.senko.journal' ||
        k.startsWith('.senko/')) delete t[k];
  return t;
}

function same(got, want) {
  const g = Object.keys(got).sort(), w = Object.keys(want).sort();
  return g.length === w.length && g.every((k, i) => k === w[i] && got[k].equals(want[k]));
}

function config(dir, link, profile) {
  return h.writeAppConfig(path.join(dir, 'senko.conf'), {
    gh, state: path.join(dir, 'state'),
    devices: { b: { port: link, baud: 1000000, prune: 'yes', boot_watch: 0 } },
  });
}

// Cut points: spread over the session's bytes on the line, or (byOps)
// every other flash operation at the end of the session, where the
// rename burst is.
function cutPoints(ref, byOps) {
  const out = [];
  for (let i = 0; i < POINTS; i++) {
    if (byOps) out.push(['--power-cut-op', String(ref.flash_ops - 1 - 2 * i)]);
    else out.push(['--power-cut-after', String(Math.floor(ref.rx_bytes * (i + 0.5) / POINTS))]);
  }
  return out;
}

async function profileSweep(profile, byOps) {
  const sweep = `${profile}-${byOps ? 'ops' : 'bytes'}`;
  const repos = path.join(T, sweep, 'repos');
  const repo = h.makeRepo(repos, 'acme', 'fw', A);
  gh = await h.startGitHub({ repos });
  // The template: a board at A, and senko's state for it.
  const tpl = path.join(T, sweep, 'tpl');
  fs.mkdirSync(tpl, { recursive: true });
  let b = await startBoard({ dir: tpl, name: 'b', args: PROFILE_ARGS[profile] });
  let r = await h.senkod(['-c', config(tpl, b.link, profile), '--once']);
  assert.equal(r.code, 0, r.stderr);
  await b.stop();
  assert.ok(same(boardFiles(b.flash), tree(A)), 'the template holds A');
  for (const [p, c] of Object.entries(B)) if (A[p] !== c) repo.commit({ [p]: c });
  repo.commit({ 'app/lib/gone.py': null });

  const copy = (dir) => {
    fs.cpSync(path.join(tpl, 'b.flash'), path.join(dir, 'b.flash'), { recursive: true });
    fs.cpSync(path.join(tpl, 'state'), path.join(dir, 'state'), { recursive: true });
  };
  // How many bytes the whole update takes on the line.
  const ref = path.join(T, sweep, 'ref');
  copy(ref);
  b = await startBoard({ dir: ref, name: 'b', args: PROFILE_ARGS[profile] });
  r = await h.senkod(['-c', config(ref, b.link, profile), '--once']);
  assert.equal(r.code, 0, r.stderr);
  await b.stop();
  const refCounters = b.counters();
  const total = byOps ? refCounters.flash_ops : refCounters.rx_bytes;
  assert.ok(same(boardFiles(b.flash), tree(B)), 'the reference update lands B');

  const results = [];
  for (const cutArgs of cutPoints(refCounters, byOps)) {
    const cut = cutArgs.join(' ');
    const dir = path.join(T, sweep, cut.replace(/\W+/g, '_'));
    copy(dir);
    b = await startBoard({ dir, name: 'b', args: [...PROFILE_ARGS[profile], ...cutArgs] });
    const conf = config(dir, b.link, profile);
    const r1 = await h.senkod(['-c', conf, '--once']);
    const exit = await b.exited;
    const files = boardFiles(b.flash);
    const temps = h.readTree(b.flash);
    const journal = fs.existsSync(path.join(b.flash, '.senko.journal'));
    b = await startBoard({ dir, name: 'b', args: PROFILE_ARGS[profile] });
    const r2 = await h.senkod(['-c', conf, '--once']);
    const st = JSON.parse((await h.senko(['-c', conf, 'status', '--json'])).stdout).devices[0];
    await b.stop();
    results.push({ cut, exit, r1, r2, files, temps, journal, after: boardFiles(b.flash), st });
  }
  gh.stop();
  return { total, results };
}

// By flash operation on littlefs too: its journal is completed by the
// next session (renames over files are atomic there, FAT's are not).
for (const [profile, byOps] of [['esp32', false], ['esp8266', false], ['esp32', true], ['esp32-fat', true]]) {
  test(`power cuts over a multi-file update (${profile}, by ${byOps ? 'flash operation' : 'byte'}): old or new, never a mix outside the burst`, async () => {
    const { total, results } = await profileSweep(profile, byOps);
    const a = tree(A), bb = tree(B);
    let cutsInSession = 0, journals = 0;
    for (const s of results) {
      const what = `${profile}, cut ${s.cut} (of ${total})`;
      if (s.exit === 3) cutsInSession++;
      if (s.journal) journals++;
      for (const [p, c] of Object.entries(s.files))
        assert.ok((a[p] && c.equals(a[p])) || (bb[p] && c.equals(bb[p])), `${what}: ${p} is torn`);
      for (const p of Object.keys(bb)) {
        if (!a[p] || s.files[p]) continue;
        // Only FAT's remove-then-rename window leaves a file missing, and
        // then its verified new version waits under the temporary name.
        const tmp = p.replace(/([^/]*)$/, '.$1.senko-tmp');
        assert.ok(s.journal && s.temps[tmp] && s.temps[tmp].equals(bb[p]), `${what}: ${p} is missing`);
      }
      if (!s.journal)
        assert.ok(same(s.files, a) || same(s.files, bb), `${what}: a mix of A and B without a journal: ${Object.keys(s.files)}`);
      assert.equal(s.r2.code, 0, `${what}: the next sync: ${s.r2.stderr}`);
      assert.ok(same(s.after, bb), `${what}: B after the next sync`);
      if (s.journal) assert.equal(s.st.commit_completed, true, `${what}: status does not say the commit was completed`);
    }
    assert.ok(cutsInSession >= POINTS - 1, `${cutsInSession} of ${POINTS} cuts landed in the session`);
    if (byOps) assert.ok(journals >= 2, `only ${journals} cuts landed in the rename burst`);
  });
}
