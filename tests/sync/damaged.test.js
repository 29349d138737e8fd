// senko's own files on a board, damaged (flash gone bad, a hand edit,
// another version's format): a journal's unreadable lines are skipped and
// none is obeyed outside dest; a record that is not believed costs
// hashing, with a warning, not an error; the board is never left unable
// to sync.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('journal');
const A = { 'app/main.py': 'print("A")\n', 'app/lib/a.py': 'A = 1\n' };
let gh, board, repo, conf;
test.after(async () => {
  if (board) await board.stop();
  if (gh) gh.stop();
});

test('a damaged journal is skipped, not obeyed outside dest, and the update goes on', async () => {
  repo = h.makeRepo(path.join(T, 'repos'), 'acme', 'fw', A);
  gh = await h.startGitHub({ repos: path.join(T, 'repos') });
  board = await h.startBoard({ dir: T, name: 'b', args: ['--profile', 'esp32'] });
  conf = h.writeAppConfig(path.join(T, 'senko.conf'), {
    gh, state: path.join(T, 'state'),
    devices: { b: { port: board.link, baud: 1000000, dest: '/app', boot_watch: 0 } },
  });
  let r = await h.senko(['-c', conf, 'sync']);
  assert.equal(r.code, 0, r.stderr);

  // The board's flash is read at power-on: change it with the board off.
  await board.stop();
  fs.writeFileSync(path.join(board.flash, 'keep.py'), 'KEEP = 1\n');
  fs.writeFileSync(path.join(board.flash, 'app/.senko.journal'), Buffer.concat([
    Buffer.from('D  /keep.py\n'), // well formed, but outside dest
    Buffer.from('garbage\n'),
    Buffer.from([0x52, 0x20, 0xff, 0xfe, 0x20, 0x2f, 0x61, 0x0a]), // not UTF-8
    Buffer.from('X 00 /app/lib/a.py\n'),
  ]));
  board = await h.startBoard({ dir: T, name: 'b', args: ['--profile', 'esp32'] });
  repo.commit({ 'app/lib/a.py': 'A = 2\n' });

  r = await h.senko(['-c', conf, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /found in the middle of an update.*0 done, 0 kept, 4 failed/);
  await board.stop();
  assert.equal(fs.readFileSync(path.join(board.flash, 'keep.py'), 'utf8'), 'KEEP = 1\n');
  assert.equal(fs.readFileSync(path.join(board.flash, 'app/lib/a.py'), 'utf8'), 'A = 2\n');
  assert.ok(!fs.existsSync(path.join(board.flash, 'app/.senko.journal')), 'the journal is still there');

  board = await h.startBoard({ dir: T, name: 'b', args: ['--profile', 'esp32'] });
  r = await h.senko(['-c', conf, 'sync', '--force']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /middle of an update/);
});

// The record (index and page) replaced by garbage, and a file changed on
// the board behind senko's back: the session believes nothing of it,
// hashes the board's files, rewrites the one that differs and the record.
test('a damaged record is not believed: the board is hashed and repaired', async () => {
  await board.stop();
  fs.writeFileSync(path.join(board.flash, 'app/.senko.json'), 'garbage{');
  fs.writeFileSync(path.join(board.flash, 'app/.senko-0.json'), '{"v":2,"files":{"../x":"0"}}');
  fs.writeFileSync(path.join(board.flash, 'app/lib/a.py'), 'A = 9\n');
  board = await h.startBoard({ dir: T, name: 'b', args: ['--profile', 'esp32'] });

  let r = await h.senko(['-c', conf, 'sync', '--force']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: b: .*\.senko\.json: record is not valid JSON/);
  assert.doesNotMatch(r.stderr, /error:/);
  assert.match(r.stderr, /no record of senko's on the board to believe/);
  assert.equal(fs.readFileSync(path.join(board.flash, 'app/lib/a.py'), 'utf8'), 'A = 2\n');
  r = await h.senko(['-c', conf, 'status']);
  assert.match(r.stdout, /\nb +updated .* 1 file, 6 B +-\n/);
  r = await h.senko(['-c', conf, 'sync', '--force']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /record|warning/);
});

// A refusal outside a file's put (here the journal's rename, onto a
// folder of that name) is logged with what the board said, not as a
// failure "without a message".
test('a refusal while committing names itself', async () => {
  await board.stop();
  fs.mkdirSync(path.join(board.flash, 'app/.senko.journal'));
  board = await h.startBoard({ dir: T, name: 'b', args: ['--profile', 'esp32'] });
  repo.commit({ 'app/lib/a.py': 'A = 3\n' });
  const r = await h.senko(['-c', conf, 'sync']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /b: .*the board refused while committing the update: \S/);
  assert.doesNotMatch(r.stderr, /without a message/);
  assert.equal(fs.readFileSync(path.join(board.flash, 'app/lib/a.py'), 'utf8'), 'A = 2\n');
});
