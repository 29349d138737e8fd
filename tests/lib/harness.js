// harness.js - fixtures for end-to-end tests: real git repositories served
// by the fake GitHub, emulated boards on pseudo-terminals, a senko.conf
// pointing at both, and a way to run the senko binaries.
//
// Everything a test starts is killed and every temporary folder removed
// when the process exits, even when a test fails.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn, execFileSync } = require('child_process');
const { Port } = require('../board/client');

const ROOT = path.resolve(__dirname, '..', '..');
const BUILD = path.resolve(ROOT, process.env.SENKO_BUILD || 'build');
const SENKO = process.env.SENKO_BIN || path.join(BUILD, 'senko');
const SENKOD = process.env.SENKOD_BIN || path.join(BUILD, 'senkod');
const CHILDREN = new Set();
const TMPDIRS = [];

for (const k of Object.keys(process.env))
  if (/^GIT_/.test(k)) delete process.env[k];
delete process.env.SENKO_TOKEN;

process.on('exit', () => {
  for (const c of CHILDREN) { try { c.kill('SIGKILL'); } catch (e) { /* gone */ } }
  if (!process.env.KEEP_TMP)
    for (const d of TMPDIRS) fs.rmSync(d, { recursive: true, force: true });
});

function tmpdir(tag) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `senko-${tag}-`));
  TMPDIRS.push(d);
  return d;
}

// Resolve with the first stdout line of child matching re, or reject when
// the child exits or the deadline passes.
function waitLine(child, re, ms, what) {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
    const timer = setTimeout(() => done(new Error(`${what}: no ${re} within ${ms} ms\n${stderr}`)), ms);
    const onExit = (code) => done(new Error(`${what} exited (${code}) before ${re}\n${stderr}`));
    function done(err, m) {
      clearTimeout(timer);
      child.removeListener('exit', onExit);
      rl.removeAllListeners('line');
      if (err) reject(err); else resolve(m);
    }
    rl.on('line', (line) => { const m = re.exec(line); if (m) done(null, m); });
    child.on('exit', onExit);
  });
}

function track(child) {
  CHILDREN.add(child);
  child.on('exit', () => CHILDREN.delete(child));
  return child;
}

// ------------------------------------------------------------- git repos

function git(dir, ...args) {
  return execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
}

// Create REPOS/owner/name with files {path: string|Buffer}; returns a repo
// object whose commit(changes, message) writes (null deletes) and commits.
function makeRepo(reposDir, owner, name, files) {
  const dir = path.join(reposDir, owner, name);
  fs.mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'user.name', 'Test');
  git(dir, 'config', 'user.email', 'test@example.invalid');
  git(dir, 'config', 'commit.gpgsign', 'false');
  const repo = {
    dir,
    commit(changes, message = 'change') {
      for (const [p, content] of Object.entries(changes)) {
        const f = path.join(dir, p);
        if (content === null) { fs.rmSync(f, { force: true, recursive: true }); continue; }
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, content);
      }
      git(dir, 'add', '-A');
      git(dir, 'commit', '-q', '--allow-empty', '-m', message);
      return git(dir, 'rev-parse', 'HEAD');
    },
    head() { return git(dir, 'rev-parse', 'HEAD'); },
    blobSha(p) { return git(dir, 'rev-parse', `HEAD:${p}`); },
  };
  repo.commit(files, 'initial');
  return repo;
}

// ------------------------------------------------------------ fake GitHub

async function startGitHub({ repos, args = [] }) {
  const child = track(spawn(process.execPath,
    [path.join(ROOT, 'tests/fakegh/server.js'), '--repos', repos, '--port', '0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] }));
  const m = await waitLine(child, /^LISTENING (\S+)/, 15000, 'fake GitHub');
  const base = m[1];
  const origin = new URL(base).origin;
  const control = async (method, p, body) => {
    const res = await fetch(origin + p, {
      method, headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  };
  return {
    base, child,
    log: () => control('GET', '/_control/log'),
    clearLog: () => control('POST', '/_control/log/clear'),
    fault: (f) => control('POST', '/_control/faults', f),
    clearFaults: () => control('DELETE', '/_control/faults'),
    stop() { child.kill('SIGTERM'); },
  };
}

// ------------------------------------------------------------------ boards

// Start an emulated board whose flash lives in flashDir; resolves once it
// prints READY.  opts.args are extra board.js flags.
async function startBoard({ dir, name = 'board', args = [], baud = 1000000 }) {
  const flash = path.join(dir, `${name}.flash`);
  const link = path.join(dir, `${name}.tty`);
  const counters = path.join(dir, `${name}.counters.json`);
  fs.mkdirSync(flash, { recursive: true });
  const child = track(spawn(process.execPath,
    [path.join(ROOT, 'tests/board/board.js'), '--flash', flash, '--link', link,
      '--counters', counters, '--baud', String(baud), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] }));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  await waitLine(child, /^READY (\S+)/, 30000, `board ${name}`);
  return {
    name, flash, link, counters: countersFile(counters), child, exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function countersFile(file) {
  return () => {
    try { return JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) { return null; }
  };
}

// Every file below dir as {relative path: Buffer}.
function readTree(dir, prefix = '') {
  const out = {};
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, readTree(path.join(dir, e.name), rel));
    else out[rel] = fs.readFileSync(path.join(dir, e.name));
  }
  return out;
}

// Write files {path: string|Buffer} below dir, the inverse of readTree:
// those under prefix, with prefix taken off (a board's flash folder from a
// repository's working_dir).  Returns dir.
function writeTree(dir, files, prefix = '') {
  for (const [p, c] of Object.entries(files)) {
    if (!p.startsWith(prefix)) continue;
    const f = path.join(dir, p.slice(prefix.length));
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, c);
  }
  return dir;
}

// ------------------------------------------------------------------ config

// Write a senko.conf; sources: {name: {user, repo, ...}}, devices:
// {name: {port, source, ...}}.  Returns its path.
function writeConfig(file, { senkod = {}, sources = {}, devices = {} }) {
  const lines = ['[senkod]'];
  const kv = (o) => { for (const [k, v] of Object.entries(o)) lines.push(`${k} = ${v}`); };
  kv(Object.assign({ token_file: '', interval: '1m' }, senkod));
  for (const [n, s] of Object.entries(sources)) { lines.push('', `[source ${n}]`); kv(s); }
  for (const [n, d] of Object.entries(devices)) { lines.push('', `[device ${n}]`); kv(d); }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

// A senko.conf (file) for the tests' usual project: source 'app', the
// fake GitHub gh's acme/fw from its folder app/, which every device in
// devices ({name: {port, ...}}) follows; state is the state_dir.
function writeAppConfig(file, { gh, state, devices }) {
  const withSource = {};
  for (const [n, d] of Object.entries(devices)) withSource[n] = Object.assign({ source: 'app' }, d);
  return writeConfig(file, {
    senkod: { state_dir: state, api_url: gh.base },
    sources: { app: { user: 'acme', repo: 'fw', working_dir: 'app' } },
    devices: withSource,
  });
}

// Start a program: {child, done}, where done resolves {code, stdout,
// stderr} (never rejects on exit code; code is "signal NAME" when killed).
function launch(bin, args, { env = {}, timeout = 120000 } = {}) {
  const child = track(spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'], env: Object.assign({}, process.env, env),
  }));
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
  // 'close', not 'exit': at 'exit' the pipes may still hold the end of
  // what the command printed (a `senko status --json` cut short).
  const done = new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ code: code === null ? `signal ${signal}` : code, stdout, stderr });
  }));
  return { child, done };
}

// Run a program to its end: {code, stdout, stderr}.
const run = (bin, args, opts) => launch(bin, args, opts).done;
const senko = (args, opts) => run(SENKO, args, opts);
// senko started, for a test that acts while it runs: {child, done}.
const startSenko = (args, opts) => launch(SENKO, args, opts);
const senkod = (args, opts) => run(SENKOD, args, opts);

// Poll fn until it returns a truthy value or the deadline passes; what
// (a string, or a function called then) says what was awaited.
async function until(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The tests' application: a main.py that prints "tick N" every 100 ms,
// which appTicks() counts.
const TICKER = 'import time\nn = 0\nwhile True:\n    print("tick", n)\n    n += 1\n    time.sleep(0.1)\n';

// How many "tick N" lines the application prints within ms (up to 3), read
// from the board's port as a user's terminal would once senko let go of it:
// the tests' application prints one every 100 ms.
async function appTicks(link, ms = 4000) {
  const p = new Port(link);
  try {
    const end = Date.now() + ms;
    let seen = 0;
    while (Date.now() < end && seen < 3) {
      await new Promise((r) => setTimeout(r, 100));
      seen = (p.buf.toString('latin1').match(/tick \d+/g) || []).length;
    }
    return seen;
  } finally {
    p.close();
  }
}

// `senko run DEV` of a program that prints "looping" forever (written to
// dir), once it runs: it holds the board's port until kill() (kill -9),
// which leaves the board running that program, its application stopped.
async function startSenkoRun(conf, dev, dir) {
  const loop = path.join(dir, 'loop.py');
  fs.writeFileSync(loop, 'import time\nwhile True:\n    print("looping")\n    time.sleep(0.1)\n');
  const child = track(spawn(SENKO, ['-c', conf, 'run', dev, loop], { stdio: ['ignore', 'pipe', 'ignore'] }));
  const exited = new Promise((res) => child.on('exit', res));
  let out = '';
  child.stdout.on('data', (x) => { out += x; });
  await until(() => out.includes('looping'), 10000, `the program running on ${dev}`);
  return {
    // SIGKILL: no chance to restart the application or clear its mark.
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

// A senko killed while it has a board: startSenkoRun, then kill().
async function killSenkoRun(conf, dev, dir) {
  await (await startSenkoRun(conf, dev, dir)).kill();
}

// The lines a stream carries, as they come: the array returned (or the
// one given) grows as data arrives; a last line without '\n' waits.
function collectLines(stream, lines = []) {
  let rest = '';
  stream.on('data', (d) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop();
    lines.push(...parts);
  });
  return lines;
}

// senko's record on a board (src/board/record.h): the index .senko.json
// and its pages .senko-K.json, relative to dest.
const isRecordFile = (rel) => rel === '.senko.json' || /^\.senko-\d+\.json$/.test(rel);

// The record a board holds below dir (its flash folder joined with dest),
// as {commit, files: {path: sha}}: the index, then every page it names.
function boardRecord(dir) {
  const index = JSON.parse(fs.readFileSync(path.join(dir, '.senko.json'), 'utf8'));
  if (index.v === 1) return { commit: index.commit, files: index.files };
  const files = {};
  for (let k = 0; k < index.pages; k++)
    Object.assign(files, JSON.parse(fs.readFileSync(path.join(dir, `.senko-${k}.json`), 'utf8')).files);
  return { commit: index.commit, files, pages: index.pages };
}

module.exports = {
  isRecordFile, boardRecord,
  ROOT, BUILD, SENKO, SENKOD, tmpdir, track, waitLine, git, makeRepo, startGitHub,
  startBoard, readTree, writeTree, writeConfig, writeAppConfig, run, senko, startSenko, senkod, until, TICKER, appTicks, collectLines,
  startSenkoRun, killSenkoRun,
};
