// senko exec DEVICE - and senko run DEVICE FILE (issue 16).  exec - takes
// the code from standard input; run streams what a local file prints as
// it prints it, until the file ends or Ctrl-C interrupts it on the board;
// either way the board's application (a main.py that ticks) prints again
// afterwards.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('run');
const CONF = path.join(T, 'senko.conf');
const TICKER = h.TICKER;
let board;

test.after(async () => { if (board) await board.stop(); });

// Lines "tick N" the application prints within ms, read as a terminal would.
async function ticks(ms = 4000) {
  return h.appTicks(board.link, ms);
}

// Start senko; stdout is collected as it comes, with the time of each line.
function start(args, input) {
  const child = h.track(spawn(h.SENKO, ['-c', CONF, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
  const out = { child, stdout: '', stderr: '', lines: [] };
  let rest = '';
  child.stdout.on('data', (d) => {
    out.stdout += d;
    const parts = (rest + d).split('\n');
    rest = parts.pop();
    for (const l of parts) out.lines.push({ l, at: Date.now() });
  });
  child.stderr.on('data', (d) => { out.stderr += d; });
  out.exited = new Promise((r) => child.on('close', (code, sig) => { // all output read
    out.exitAt = Date.now();
    r(code === null ? sig : code);
  }));
  // A command that fails before it reads its input (a missing file)
  // closes the pipe: EPIPE here is not the test's business.
  child.stdin.on('error', () => {});
  child.stdin.end(input === undefined ? '' : input);
  return out;
}

test('exec - runs the code on standard input', async () => {
  fs.mkdirSync(path.join(T, 'b.flash'), { recursive: true });
  fs.writeFileSync(path.join(T, 'b.flash', 'main.py'), TICKER);
  board = await h.startBoard({ dir: T, name: 'b' });
  fs.mkdirSync(path.join(T, 'src'), { recursive: true });
  h.writeConfig(CONF, {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { app: { path: path.join(T, 'src') } },
    devices: { b: { port: board.link, baud: 1000000, source: 'app', boot_watch: 0 } },
  });
  let r = start(['exec', 'b', '-'], 'x = 6 * 7\nprint(x)\nprint("from stdin")\n');
  assert.equal(await r.exited, 0, r.stderr);
  assert.equal(r.stdout, '42\nfrom stdin\n');
  assert.ok(await ticks() >= 3, 'the application does not print after exec -');

  r = start(['exec', 'b', '-'], 'import nosuchmodule\n');
  assert.equal(await r.exited, 1);
  assert.match(r.stderr, /  \| ImportError: no module named 'nosuchmodule'/);
  assert.match(r.stderr, /b: the code raised ImportError/);
});

test('run FILE streams the output while the file runs, and ends with it', async () => {
  const f = path.join(T, 'count.py');
  fs.writeFileSync(f, 'import time\nfor i in range(15):\n    print("line", i)\n    time.sleep(0.2)\nprint("done")\n');
  const before = board.counters();
  const r = start(['run', 'b', f]);
  assert.equal(await r.exited, 0, r.stderr);
  const want = [...Array(15).keys()].map((i) => `line ${i}`).concat(['done']);
  assert.deepEqual(r.lines.map((x) => x.l), want);
  // The file prints its first line 3 s before it ends: a run that
  // streams has shown it long before senko exits.
  assert.ok(r.exitAt - r.lines[0].at > 1000,
    `the first line came ${r.exitAt - r.lines[0].at} ms before senko ended: not streamed`);
  assert.ok(!r.stdout.includes('\r'), 'CRLF reached stdout');
  assert.deepEqual(board.counters().files_written, before.files_written, 'run wrote a file on the board');
  assert.ok(await ticks() >= 3, 'the application does not print after run');
});

test('run FILE: Ctrl-C interrupts the code on the board; the application prints again', async () => {
  const f = path.join(T, 'forever.py');
  fs.writeFileSync(f, 'import time\nn = 0\nwhile True:\n    print("forever", n)\n    n += 1\n    time.sleep(0.1)\n');
  const before = board.counters();
  const r = start(['run', 'b', f]);
  await h.until(() => /forever 3\n/.test(r.stdout), 15000, 'the file printing');
  r.child.kill('SIGINT');
  const code = await Promise.race([r.exited, new Promise((res) => setTimeout(() => res('still running'), 15000))]);
  assert.equal(code, 130, r.stderr);
  assert.match(r.stderr, /b: .*forever\.py interrupted by Ctrl-C; the application runs again/);
  assert.ok(await ticks() >= 3, 'the application does not print after the Ctrl-C');
  assert.ok(board.counters().soft_resets > before.soft_resets);
});

test('run FILE | head -1: the reader goes, the code stops and the application prints again (exit 141)', async () => {
  const f = path.join(T, 'forever.py');
  const before = board.counters();
  const r = start(['run', 'b', f]);
  await h.until(() => /forever 1\n/.test(r.stdout), 15000, 'the file printing');
  r.child.stdout.destroy(); // as head does after its line
  const code = await Promise.race([r.exited, new Promise((res) => setTimeout(() => res('still running'), 15000))]);
  assert.equal(code, 141, r.stderr);
  assert.match(r.stderr, /forever\.py interrupted by a closed output/);
  assert.ok(await ticks() >= 3, 'the application does not print after the reader went');
  assert.ok(board.counters().soft_resets > before.soft_resets);
});

test('run FILE: SIGHUP (the ssh session dropped) stops it and the application prints again (exit 129)', async () => {
  const r = start(['run', 'b', path.join(T, 'forever.py')]);
  await h.until(() => /forever 1\n/.test(r.stdout), 15000, 'the file printing');
  r.child.kill('SIGHUP');
  const code = await Promise.race([r.exited, new Promise((res) => setTimeout(() => res('still running'), 15000))]);
  assert.equal(code, 129, r.stderr);
  assert.match(r.stderr, /forever\.py interrupted by SIGHUP/);
  assert.ok(await ticks() >= 3, 'the application does not print after SIGHUP');
});

test('run FILE: an exception is shown with exit 1; a missing file is refused before the board is touched', async () => {
  const f = path.join(T, 'raise.py');
  fs.writeFileSync(f, 'print("before")\nraise ValueError("bad value")\n');
  let r = start(['run', 'b', f]);
  assert.equal(await r.exited, 1);
  assert.equal(r.stdout, 'before\n');
  assert.match(r.stderr, /  \| ValueError: bad value/);
  assert.match(r.stderr, /b: .*raise\.py raised ValueError: bad value/);

  const before = board.counters();
  r = start(['run', 'b', path.join(T, 'missing.py')]);
  assert.equal(await r.exited, 1);
  assert.match(r.stderr, /cannot read file to run '.*missing\.py'/);
  assert.equal(board.counters().raw_repl_entries, before.raw_repl_entries);
});

test('another program with the port open (no lock, as screen or a serial monitor) is named; the board side of a pty is not', async () => {
  let r = await h.senko(['-c', CONF, 'exec', 'b', 'print(6 * 7)']);
  assert.equal(r.code, 0, r.stderr);
  // The emulated board's own side of the pty (its bridge holds the
  // master and the slave) is not a reader.  This test's process may
  // still hold the port a moment from the ticks read last (a tty stream
  // closes asynchronously): that one is a reader, rightly named.
  for (const line of r.stderr.split('\n').filter((l) => /also has/.test(l)))
    assert.match(line, new RegExp(`\\(pid ${process.pid}\\)`), `not a reader of the port: ${line}`);
  const holder = h.track(spawn('python3', ['-c',
    'import os, sys, time\nos.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)\nprint("open", flush=True)\ntime.sleep(60)', board.link],
  { stdio: ['ignore', 'pipe', 'inherit'] }));
  try {
    const said = h.collectLines(holder.stdout);
    await h.until(() => said.includes('open'), 10000, 'the other program opening the port');
    r = await h.senko(['-c', CONF, 'exec', 'b', 'print(6 * 7)']);
    assert.match(r.stderr, new RegExp(`python3 \\(pid ${holder.pid}\\) also has .*b\\.tty open: .*close it`));
  } finally {
    holder.kill();
  }
  assert.ok(await ticks() >= 3, 'the application does not print');
});

test('every baud rate senko.conf(5) lists opens: exec at 2,500,000 and 3,500,000 baud', async () => {
  for (const baud of [2500000, 3500000]) {
    const name = `fast${baud}`;
    const b = await h.startBoard({ dir: T, name, baud });
    try {
      const conf = path.join(T, `${name}.conf`);
      h.writeConfig(conf, {
        senkod: { state_dir: path.join(T, `state-${name}`) },
        sources: { app: { path: path.join(T, 'src') } },
        devices: { f: { port: b.link, baud, source: 'app', boot_watch: 0 } },
      });
      const r = await h.senko(['-c', conf, 'exec', 'f', 'print(6 * 7)']);
      assert.equal(r.code, 0, `${baud}: ${r.stderr}`);
      assert.equal(r.stdout, '42\n');
    } finally {
      await b.stop();
    }
  }
});
