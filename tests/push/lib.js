'use strict';
// Shared by the push suites: emulated boards, the push helper program and a
// deterministic corpus.  Every board started here is stopped by stopAll().

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFile } = require('child_process');

const ROOT = path.join(__dirname, '..', '..');
const BUILD = process.env.SENKO_BUILD ? path.resolve(ROOT, process.env.SENKO_BUILD) : path.join(ROOT, 'build');
const HELPER = path.join(BUILD, 'tests', 'helper-push');
// SENKO_BOARD_JS: run another emulator build (when debugging the emulator).
const BOARD = process.env.SENKO_BOARD_JS || path.join(ROOT, 'tests', 'board', 'board.js');

const boards = new Set();

function tmpdir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `senko-push-${tag}-`));
}

// Start an emulated board on flash dir `flash`; resolves {path, proc,
// exited, counters(), stop()} once it printed READY.
function startBoard(flash, args = []) {
  fs.mkdirSync(flash, { recursive: true });
  const countersFile = flash.replace(/\/$/, '') + '.counters.json';
  const proc = spawn(process.execPath, [BOARD, '--flash', flash, '--counters', countersFile, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  const b = {
    proc, flash, exited,
    stdout: () => stdout,
    stderr: () => stderr,
    counters: () => JSON.parse(fs.readFileSync(countersFile, 'utf8')),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const code = await exited;
      boards.delete(b);
      return code;
    },
  };
  boards.add(b);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('board did not get ready: ' + stderr)), 60000);
    proc.stdout.on('data', (d) => {
      stdout += d;
      const m = /^READY (\S+)\n/.exec(stdout);
      if (m && !b.path) {
        b.path = m[1];
        clearTimeout(timer);
        resolve(b);
      }
    });
    proc.on('exit', (code) => {
      if (!b.path) { clearTimeout(timer); reject(new Error(`board exited (${code}): ${stderr}`)); }
    });
  });
}

async function stopAll() {
  await Promise.all([...boards].map((b) => b.stop()));
}

// Run helper-push; resolves {code, stdout, stderr, ms}.
function push(port, dir, opts = [], timeoutMs = 120000) {
  const start = Date.now();
  return new Promise((resolve) => {
    execFile(HELPER, [...opts, port, dir], { timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr, ms: Date.now() - start, killed: !!(err && err.killed) });
      });
  });
}

// Deterministic pseudo-random numbers (xorshift32).
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

const WORDS = ('self value result config sensor reading buffer index count name data '
  + 'status error timeout retry interval pin led button state update client server '
  + 'request response payload message topic handler callback device address offset '
  + 'length width height temperature humidity pressure voltage current network wifi')
  .split(' ');

// Python source that looks like an application module: classes, functions,
// docstrings, comments, literals.  Same seed, same text.
function pythonSource(seed, bytes) {
  const r = rng(seed);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const ident = () => pick(WORDS) + (r() < 0.4 ? '_' + pick(WORDS) : '');
  const lines = [`"""${pick(WORDS)} ${pick(WORDS)} module: ${pick(WORDS)} handling."""`,
    'import time', 'import machine', `from ${pick(WORDS)} import ${ident()}`, ''];
  let size = lines.join('\n').length;
  while (size < bytes) {
    const block = [];
    if (r() < 0.3) {
      const cls = pick(WORDS)[0].toUpperCase() + pick(WORDS).slice(1) + pick(['Manager', 'Driver', 'Client', 'Sensor']);
      block.push(`class ${cls}:`, `    """Keeps the ${pick(WORDS)} ${pick(WORDS)} of a ${pick(WORDS)}."""`, '');
      block.push(`    def __init__(self, ${ident()}, ${ident()}=${Math.floor(r() * 1000)}):`);
      for (let i = 0; i < 3; i++) block.push(`        self.${ident()} = ${ident()}`);
      block.push('');
    }
    const fn = ident();
    const a = ident();
    const b = ident();
    block.push(`def ${fn}(${a}, ${b}=None):`);
    block.push(`    """Return the ${pick(WORDS)} for ${a}, or None on ${pick(WORDS)}."""`);
    for (let i = 0, n = 2 + Math.floor(r() * 6); i < n; i++) {
      const k = r();
      if (k < 0.2) block.push(`    # ${pick(WORDS)} ${pick(WORDS)} ${pick(WORDS)} before ${pick(WORDS)}`);
      else if (k < 0.4) block.push(`    if ${a} is None or ${b} > ${Math.floor(r() * 100)}:`, `        return ${ident()}(${a}, ${Math.floor(r() * 50)})`);
      else if (k < 0.6) block.push(`    for ${pick(['i', 'n', 'k'])} in range(${Math.floor(r() * 20)}):`, `        ${ident()}.append(${ident()}[${pick(['i', 'n', 'k'])}])`);
      else if (k < 0.8) block.push(`    ${ident()} = "${pick(WORDS)}-${Math.floor(r() * 100000)}"`);
      else block.push(`    print("${pick(WORDS)}:", ${ident()}, ${(r() * 100).toFixed(2)})`);
    }
    block.push(`    return ${ident()}`, '', '');
    const text = block.join('\n') + '\n';
    lines.push(text);
    size += text.length + 1;
  }
  return lines.join('\n').slice(0, bytes);
}

function randomBytes(seed, n) {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

// Write files {relpath: content} below dir.
function writeTree(dir, files) {
  for (const [rel, data] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
  }
}

// Every file below dir as {relpath: Buffer}.
function readTree(dir, rel = '', out = {}) {
  let ents = [];
  try { ents = fs.readdirSync(path.join(dir, rel), { withFileTypes: true }); } catch { return out; }
  for (const e of ents) {
    const r = rel ? rel + '/' + e.name : e.name;
    if (e.isDirectory()) readTree(dir, r, out);
    else out[r] = fs.readFileSync(path.join(dir, r));
  }
  return out;
}

// A small multi-file corpus: sources, a binary, a nested folder, an empty file.
function smallCorpus(seed = 1) {
  return {
    'main.py': pythonSource(seed, 6000),
    'boot.py': pythonSource(seed + 1, 300),
    'lib/util.py': pythonSource(seed + 2, 9000),
    'lib/net/mqtt.py': pythonSource(seed + 3, 4000),
    'data/blob.bin': randomBytes(seed + 4, 5000),
    'empty.py': '',
  };
}

module.exports = {
  HELPER, BOARD, tmpdir, startBoard, stopAll, push, pythonSource, randomBytes,
  writeTree, readTree, smallCorpus,
};
