// Local sources (issue 16): [source NAME] path = FOLDER.  A running senkod
// watches the folder: an edit reaches the emulated board within 3 s of the
// write settling; .gitignore'd and excluded files never reach it; prune
// removes a file deleted locally; a symbolic link leading out of the
// folder, a FIFO and a huge file are refused with a clear warning while
// the rest of the folder still syncs.  The folder removed and cloned
// again, swapped by two renames or gone for a while is watched again once
// it is back, and a folder renamed inside it under its new name.  And
// `path` with `user` is a configuration error naming the line.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('local');
const SRC = path.join(T, 'project');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
let board, daemon, log = [];

// A failed test must not leave the board or senkod running (node would
// wait for them).
test.after(async () => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  if (board) await board.stop();
});

function boardFile(p) {
  try { return fs.readFileSync(path.join(board.flash, p), 'utf8'); } catch (e) { return null; }
}
function write(p, text) {
  fs.mkdirSync(path.dirname(path.join(SRC, p)), { recursive: true });
  fs.writeFileSync(path.join(SRC, p), text);
}

test('a git work tree: the first sync sends what git would, less exclude', async () => {
  fs.mkdirSync(SRC, { recursive: true });
  h.git(SRC, 'init', '-q');
  write('.gitignore', 'build/\n*.log\n');
  write('main.py', 'print("v1")\n');
  write('lib/util.py', 'U = 1\n');
  write('build/out.bin', 'artefact\n');
  write('debug.log', 'noise\n');
  write('README.md', '# readme\n');
  write('docs/notes.txt', 'notes\n');
  h.git(SRC, 'add', 'main.py', '.gitignore');
  h.git(SRC, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'one');
  write('untracked.py', 'X = 1\n'); // untracked, not ignored: taken
  board = await h.startBoard({ dir: T, name: 'dev' });
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, interval: '10m' },
    sources: { here: { path: SRC, exclude: '*.md docs' } },
    devices: { dev: { port: board.link, baud: 1000000, source: 'here', reset: 'none', prune: 'yes' } },
  });
  daemon = h.track(spawn(h.SENKOD, ['-c', CONF, '--foreground', '-v'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  h.collectLines(daemon.stderr, log);
  await h.until(() => boardFile('main.py') === 'print("v1")\n', 30000, 'first sync');
  assert.equal(boardFile('lib/util.py'), 'U = 1\n');
  assert.equal(boardFile('untracked.py'), 'X = 1\n');
  assert.equal(boardFile('.gitignore'), 'build/\n*.log\n');
  for (const p of ['build/out.bin', 'debug.log', 'README.md', 'docs/notes.txt'])
    assert.equal(boardFile(p), null, `${p} must not reach the board`);
});

test('an edit in the watched folder is on the board within 3 s of settling', async () => {
  // The interval is 10 minutes: only the folder watch can explain a sync.
  for (let i = 2; i <= 3; i++) {
    write('main.py', `print("v${i}")\n`);
    const settled = Date.now();
    await h.until(() => boardFile('main.py') === `print("v${i}")\n`, 3000 + 300,
      `v${i} on the board`);
    const took = Date.now() - settled;
    console.log(`# edit ${i} reached the board in ${took} ms`);
  }
  write('new/mod.py', 'M = 2\n');
  await h.until(() => boardFile('new/mod.py') === 'M = 2\n', 3300, 'a file in a new folder');
});

test('ignored and excluded files written later never reach the board', async () => {
  write('later.log', 'ignored\n');
  write('later.md', 'excluded\n');
  write('build/later.bin', 'ignored\n');
  write('marker.py', 'K = 1\n'); // written last: once it is there, the rest was seen
  await h.until(() => boardFile('marker.py') === 'K = 1\n', 3300, 'marker');
  for (const p of ['later.log', 'later.md', 'build/later.bin'])
    assert.equal(boardFile(p), null, `${p} must not reach the board`);
});

test('prune removes a file deleted locally', async () => {
  fs.unlinkSync(path.join(SRC, 'lib/util.py'));
  await h.until(() => boardFile('lib/util.py') === null, 3300, 'util.py removed from the board');
  assert.equal(boardFile('main.py'), 'print("v3")\n');
});

test('a link out of the folder, a FIFO and a huge file are refused; the rest syncs', async () => {
  const secret = path.join(T, 'secret.txt');
  fs.writeFileSync(secret, 'outside\n');
  fs.symlinkSync(secret, path.join(SRC, 'escape.py'));
  fs.symlinkSync('main.py', path.join(SRC, 'alias.py')); // inside: taken
  execFileSync('mkfifo', [path.join(SRC, 'pipe.py')]);
  fs.closeSync(fs.openSync(path.join(SRC, 'huge.bin'), 'w'));
  fs.truncateSync(path.join(SRC, 'huge.bin'), 200 * 1024 * 1024); // sparse
  write('after.py', 'A = 3\n');
  await h.until(() => boardFile('after.py') === 'A = 3\n', 5000, 'after.py');
  assert.equal(boardFile('alias.py'), 'print("v3")\n');
  for (const p of ['escape.py', 'pipe.py', 'huge.bin'])
    assert.equal(boardFile(p), null, `${p} must not reach the board`);
  const text = log.join('\n');
  assert.match(text, /refusing entry 'escape\.py': a symbolic link leading out of the source's folder/);
  // git itself lists no FIFO in a work tree: it is simply not there.
  assert.match(text, /refusing entry 'huge\.bin': 209715200 bytes; senko refuses files over/);
});

// Whether senkod's inotify watches the folder dir (Linux lists each
// watch's inode in /proc/PID/fdinfo).  Asked once the board shows the
// poll the move caused: the move's events were read before that poll.
function watched(dir) {
  const ino = fs.statSync(dir, { bigint: true }).ino;
  const fds = `/proc/${daemon.pid}/fd`;
  return fs.readdirSync(fds).some((fd) => {
    let link;
    try { link = fs.readlinkSync(path.join(fds, fd)); } catch (e) { return false; }
    if (link !== 'anon_inode:inotify') return false;
    const info = fs.readFileSync(`/proc/${daemon.pid}/fdinfo/${fd}`, 'utf8');
    return [...info.matchAll(/\bino:([0-9a-f]+)/g)].some((m) => BigInt(`0x${m[1]}`) === ino);
  });
}

// The source's own folder made anew: removed and cloned again, swapped
// for another with two renames, gone for a while.  The new folder is
// watched as the old one was: the interval is 10 minutes, so only the
// watch can explain an edit on the board within 3 s.
async function editReachesBoard(tag) {
  write('main.py', `print("${tag}")\n`);
  await h.until(() => boardFile('main.py') === `print("${tag}")\n`, 3300,
    `an edit (${tag}) in the new folder on the board`);
  write(`pkg_${tag}/m.py`, `M = "${tag}"\n`);
  await h.until(() => boardFile(`pkg_${tag}/m.py`) === `M = "${tag}"\n`, 3300,
    `a file in a new folder of the new folder (${tag})`);
}

test('the folder removed and cloned again: its edits still reach the board', async () => {
  const upstream = path.join(T, 'upstream');
  fs.mkdirSync(upstream);
  h.git(upstream, 'init', '-q');
  fs.writeFileSync(path.join(upstream, 'main.py'), 'print("clone")\n');
  h.git(upstream, 'add', 'main.py');
  h.git(upstream, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'c');
  fs.rmSync(SRC, { recursive: true, force: true });
  h.git(T, 'clone', '-q', upstream, SRC);
  await h.until(() => boardFile('main.py') === 'print("clone")\n', 3300, 'the clone on the board');
  await editReachesBoard('cloned');
});

test('the folder swapped by two renames: the new one is watched', async () => {
  const next = `${SRC}.new`, old = `${SRC}.old`;
  fs.mkdirSync(next);
  fs.writeFileSync(path.join(next, 'main.py'), 'print("swapped")\n');
  fs.renameSync(SRC, old);
  fs.renameSync(next, SRC);
  await h.until(() => boardFile('main.py') === 'print("swapped")\n', 3300, 'the new folder on the board');
  await editReachesBoard('swap');
  // The old folder is no source any more: not watched.
  assert.ok(watched(SRC), `${SRC} not watched`);
  assert.ok(!watched(old), `${old} still watched`);
});

test('the folder gone for a while, then made again: watched again', async () => {
  const before = log.length;
  fs.rmSync(SRC, { recursive: true, force: true });
  // The poll the removal causes finds no folder; only then make it again.
  await h.until(() => log.slice(before).some((l) => l.includes(`cannot read folder '${SRC}'`)),
    3300, () => `a poll finding no '${SRC}' (log: ${log.slice(before).join(' | ')})`);
  fs.mkdirSync(SRC);
  fs.writeFileSync(path.join(SRC, 'main.py'), 'print("back")\n');
  await h.until(() => boardFile('main.py') === 'print("back")\n', 3300, 'the folder back on the board');
  await editReachesBoard('back');
});

test('a folder renamed inside the source is watched under its new name', async () => {
  write('a/x.py', 'X = 1\n');
  await h.until(() => boardFile('a/x.py') === 'X = 1\n', 3300, 'a/x.py');
  fs.renameSync(path.join(SRC, 'a'), path.join(SRC, 'b'));
  await h.until(() => boardFile('b/x.py') === 'X = 1\n' && boardFile('a/x.py') === null, 3300,
    'a/ renamed b/ on the board');
  write('b/c/y.py', 'Y = 1\n');
  await h.until(() => boardFile('b/c/y.py') === 'Y = 1\n', 3300, 'b/c/y.py');
  write('b/c/y.py', 'Y = 2\n');
  await h.until(() => boardFile('b/c/y.py') === 'Y = 2\n', 3300, 'an edit in b/c/ on the board');
  // Moved out of the source: no longer watched, under any name.
  const away = path.join(T, 'away');
  fs.renameSync(path.join(SRC, 'b'), away);
  await h.until(() => boardFile('b/x.py') === null, 3300, 'b/ pruned from the board');
  assert.ok(!watched(away) && !watched(path.join(away, 'c')), `${away} still watched`);
});

test('stop the daemon', async () => {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.on('exit', r));
});

test('a plain folder (no git): senko sync takes every file, refuses a FIFO', async () => {
  const plain = path.join(T, 'plain');
  fs.mkdirSync(path.join(plain, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(plain, 'main.py'), 'print("plain")\n');
  fs.writeFileSync(path.join(plain, 'sub', 'x.py'), 'X = 9\n');
  fs.writeFileSync(path.join(plain, 'notes.md'), 'excluded\n');
  execFileSync('mkfifo', [path.join(plain, 'pipe.py')]);
  const conf2 = path.join(T, 'plain.conf');
  h.writeConfig(conf2, {
    senkod: { state_dir: path.join(T, 'state2') },
    sources: { plain: { path: plain, exclude: '*.md' } },
    devices: { dev: { port: board.link, baud: 1000000, source: 'plain', reset: 'none', prune: 'yes' } },
  });
  const r = await h.senko(['-c', conf2, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /refusing entry 'pipe\.py': a FIFO, not a regular file/);
  assert.equal(boardFile('main.py'), 'print("plain")\n');
  assert.equal(boardFile('sub/x.py'), 'X = 9\n');
  assert.equal(boardFile('notes.md'), null, 'excluded');
  assert.equal(boardFile('pipe.py'), null, 'a FIFO');
  await board.stop();
});

test('path with user or url is a configuration error naming the line', async () => {
  const bad = path.join(T, 'bad.conf');
  fs.writeFileSync(bad, `[senkod]\nstate_dir = ${STATE}\n\n[source s]\nuser = acme\nrepo = fw\npath = ${SRC}\n\n[device d]\nport = /dev/null\nsource = s\n`);
  const r = await h.senko(['-c', bad, 'config', 'check']);
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /bad\.conf:7: \[source s\] path: .*either a local folder \(path\) or a repository/);
  fs.writeFileSync(bad, `[senkod]\nstate_dir = ${STATE}\n\n[source s]\npath = relative/dir\n`);
  const r2 = await h.senko(['-c', bad, 'config', 'check']);
  assert.equal(r2.code, 78, r2.stderr);
  assert.match(r2.stderr, /bad\.conf:5: .*path.*must be an absolute folder/);
});

// Without git a work tree cannot be read as git lists it: read whole it
// would send what .gitignore keeps out, so the poll fails saying to
// install git, for the work tree's top and for a folder inside it.  A
// folder outside any work tree needs no git.
test('git cannot be run: a work tree is refused, a plain folder still syncs', async () => {
  const proj = path.join(T, 'nogit');
  fs.mkdirSync(path.join(proj, 'lib'), { recursive: true });
  h.git(proj, 'init', '-q');
  fs.writeFileSync(path.join(proj, '.gitignore'), 'secrets.py\n');
  fs.writeFileSync(path.join(proj, 'secrets.py'), 'KEY = "hunter2"\n');
  fs.writeFileSync(path.join(proj, 'main.py'), 'print("w")\n');
  fs.writeFileSync(path.join(proj, 'lib', 'util.py'), 'U = 1\n');
  const conf3 = path.join(T, 'nogit.conf');
  const state3 = path.join(T, 'state3');
  const noGit = { env: { PATH: '/nonexistent' } };
  const sourceAt = (dir) => h.writeConfig(conf3, {
    senkod: { state_dir: state3 },
    sources: { w: { path: dir } },
    devices: { dev: { port: '/dev/null', source: 'w' } },
  });
  for (const [dir, files] of [[proj, 3], [path.join(proj, 'lib'), 1]]) {
    sourceAt(dir);
    const r = await h.senko(['-c', conf3, 'check'], noGit);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(`source 'w': '${dir}' is in a git work tree ('${proj}/.git') ` +
      'but git cannot be run; install git'), r.stderr);
    assert.equal(fs.existsSync(path.join(state3, 'sources', 'w', 'manifest.json')), false,
      'no manifest saved');
    // With git the same folder is read as git lists it.
    const ok = await h.senko(['-c', conf3, 'check']);
    assert.equal(ok.code, 100, ok.stderr);
    assert.match(ok.stdout, new RegExp(`dev: ${files} files? to write`));
    fs.rmSync(state3, { recursive: true, force: true });
  }
  sourceAt(path.join(T, 'plain'));
  const r = await h.senko(['-c', conf3, 'check'], noGit);
  assert.equal(r.code, 100, r.stderr);
  assert.match(r.stdout, /dev: \d+ files to write/);
});
