// What `senko sync` and friends print, on emulated boards: the progress
// line fits the terminal and is erased before a log line (no "kitchen:
// donesenko: ..."), sizes have one unit style, `--wait` says once that it
// waits, and text from a board never reaches the terminal raw.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('output');
const REPOS = path.join(T, 'repos');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
const NAMES = ['greenhouse-east', 'weather-station'];
let repo, gh, boards;

test.before(async () => {
  repo = h.makeRepo(REPOS, 'acme', 'fw', {
    'app/main.py': 'print("v1")\n',
    'app/lib/big.py': '# padding\n'.repeat(2500), // 25000 bytes
  });
  gh = await h.startGitHub({ repos: REPOS });
  boards = await Promise.all(NAMES.map((name) => h.startBoard({ dir: T, name })));
  const devices = {};
  NAMES.forEach((n, i) => {
    devices[n] = { port: boards[i].link, baud: 1000000, source: 'app', reset: 'soft' };
  });
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, api_url: gh.base, jobs: 2 },
    sources: { app: { user: 'acme', repo: 'fw', branch: 'main', working_dir: 'app' } },
    devices,
  });
});
test.after(async () => {
  if (boards) await Promise.all(boards.map((b) => b.stop()));
  if (gh) gh.stop();
});

// Run a command on a pseudo-terminal `cols` wide; resolves its raw output.
function onTerminal(cmd, cols) {
  return new Promise((resolve) => {
    const shell = `stty cols ${cols} rows 24; exec ${cmd}`;
    const child = h.track(spawn('script', ['-qfec', shell, '/dev/null'],
      { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('close', (code) => resolve({ code, out })); // all output read
  });
}

const ERASE = '\r\x1b[K';

test('on a terminal: the progress fits the width and never runs into a log line', async () => {
  const cols = 40;
  const r = await onTerminal(`${h.SENKO} -c ${CONF} sync`, cols);
  assert.equal(r.code, 0, r.out);
  assert.ok(r.out.includes(ERASE), `no progress was drawn:\n${JSON.stringify(r.out)}`);
  // Each drawing of the progress line is the text after an erase that
  // no newline ends: it must fit, or the terminal wraps and the next
  // redraw leaves the wrapped part behind.
  const pieces = r.out.split(ERASE).slice(1);
  for (const p of pieces) {
    if (p.includes('\n')) continue; // a log line (or stdout) after an erase
    assert.ok([...p].length < cols, `progress wider than ${cols} columns: ${JSON.stringify(p)}`);
  }
  // What the screen shows, line by line: '\r' returns to column 0 and
  // ESC[K clears to the end of the line.
  for (const raw of r.out.split('\n')) {
    let line = '';
    for (const seg of raw.replace(/\r$/, '').split('\r')) {
      const clear = seg.startsWith('\x1b[K');
      const text = clear ? seg.slice(3) : seg;
      line = clear ? text : text + line.slice(text.length);
    }
    if (line.includes('senko:'))
      assert.match(line, /^senko: /, `a log line ran into the progress: ${JSON.stringify(line)}`);
  }
  assert.match(r.out, /senko: greenhouse-east: soft reset/);
});

test('sizes in one unit style: KiB on the terminal, no "KB" or "bytes"', async () => {
  repo.commit({ 'app/lib/big.py': '# padded\n'.repeat(3000) }); // 27000 bytes
  const r = await h.senko(['-c', CONF, 'sync']);
  assert.equal(r.code, 0, r.stderr);
  const all = r.stdout + r.stderr;
  assert.doesNotMatch(all, /\bKB\b|\bbytes\b/, all);
  assert.match(r.stderr, /wrote lib\/big\.py \(26\.4 KiB\)/);
  assert.match(r.stdout, /^greenhouse-east: updated to [0-9a-f]{7} \(1 file written, 26\.4 KiB; 0 deleted\)$/m);
});

test('--wait on a port another process holds: one notice that it waits, no error every half second', async () => {
  const real = fs.realpathSync(boards[0].link);
  const marker = path.join(T, 'locked');
  const holder = h.track(spawn('flock', ['-x', real, '-c', `touch ${marker}; sleep 2.5`],
    { stdio: 'ignore' }));
  await h.until(() => fs.existsSync(marker), 10000, 'the lock holder');
  const r = await h.senko(['-c', CONF, 'sync', '--wait', '--force', 'greenhouse-east']);
  await new Promise((res) => (holder.exitCode !== null ? res() : holder.on('exit', res)));
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.stderr.match(/is using/g) || []).length, 1, r.stderr);
  assert.match(r.stderr, /senko: greenhouse-east: .*is using .*; waiting for the port \(--wait\)/);
  assert.doesNotMatch(r.stderr, /error:/);
});

test('text from a board is escaped: no raw escape sequences on the terminal or in the log', async () => {
  const code = 'raise ValueError("\\x1b[2J\\x1b]0;pwned\\x07\\r\\nsenko: error: fake")';
  const r = await h.senko(['-c', CONF, 'exec', 'weather-station', code]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /ValueError/);
  assert.doesNotMatch(r.stderr, /[\x00-\x08\x0b-\x1f\x7f]/, JSON.stringify(r.stderr));
  assert.match(r.stderr, /\\x1b\[2J\\x1b\]0;pwned\\x07/);
  // One message, one line: the board cannot forge a second log line.
  assert.equal(r.stderr.split('\n').filter((l) => /^senko: error: fake/.test(l)).length, 0, r.stderr);
  assert.match(r.stderr, /^ {2}\| Traceback \(most recent call last\):$/m);
});
