// Self-test of the fake GitHub server.  Run: node --test --test-reporter=tap tests/fakegh/
// Top-level test() calls only, so each test is one line of TAP.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('http');
const https = require('https');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');

const SERVER = path.join(__dirname, 'server.js');
const TOKEN = 'ghp_selftestTOKEN0123456789';
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'fakegh-test-'));
const REPOS = path.join(TMP, 'repos');
const CHILDREN = [];

process.on('exit', () => {
  for (const c of CHILDREN) { try { c.kill('SIGKILL'); } catch (e) { /* gone */ } }
  fs.rmSync(TMP, { recursive: true, force: true });
});

// ---------------------------------------------------------------- fixtures

// Fixture git commands must not follow a GIT_DIR inherited from the caller.
for (const k of Object.keys(process.env)) if (/^GIT_(DIR|WORK_TREE|INDEX_FILE|OBJECT_DIRECTORY|COMMON_DIR)$/.test(k)) delete process.env[k];

function sh(cwd, ...args) {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

// A repo with a subfolder, a binary file, an empty file, an executable, a
// symlink and a submodule entry.
function makeRepo(owner, name) {
  const dir = path.join(REPOS, owner, name);
  fs.mkdirSync(path.join(dir, 'lib', 'deep'), { recursive: true });
  sh(dir, 'init', '-q', '-b', 'main');
  sh(dir, 'config', 'user.name', 'Self Test');
  sh(dir, 'config', 'user.email', 'selftest@example.invalid');
  sh(dir, 'config', 'commit.gpgsign', 'false');
  fs.writeFileSync(path.join(dir, 'main.py'), 'print("hello")\n');
  fs.writeFileSync(path.join(dir, 'boot.py'), '# boot\n');
  fs.writeFileSync(path.join(dir, 'empty.txt'), '');
  fs.writeFileSync(path.join(dir, 'lib', 'util.py'), 'X = 1\n');
  fs.writeFileSync(path.join(dir, 'lib', 'deep', 'core.py'), 'Y = 2\n');
  fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  const bin = Buffer.alloc(3000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7 + 3) & 0xff;
  fs.writeFileSync(path.join(dir, 'lib', 'blob.bin'), bin);
  fs.symlinkSync('main.py', path.join(dir, 'link.py'));
  fs.symlinkSync('/etc/hostname', path.join(dir, 'outside'));
  sh(dir, 'add', '-A');
  sh(dir, 'update-index', '--add', '--cacheinfo', '160000,1234567890123456789012345678901234567890,vendor');
  sh(dir, 'commit', '-q', '-m', 'initial');
  return dir;
}

let FIX = null;
function fixtures() {
  if (FIX) return FIX;
  const pub = makeRepo('acme', 'fw');
  const priv = makeRepo('acme', 'secret');
  fs.writeFileSync(path.join(REPOS, 'acme', 'secret.private'), '');
  // A bare clone to check REPO.git support.
  execFileSync('git', ['clone', '-q', '--bare', pub, path.join(REPOS, 'acme', 'barefw.git')]);
  FIX = { pub, priv };
  return FIX;
}

// ---------------------------------------------------------------- server

// Start the server, resolve with {base, origin, child} once it prints LISTENING.
function startServer(args = [], env = {}) {
  fixtures();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER, '--repos', REPOS, '--port', '0', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'], env: Object.assign({}, process.env, env) });
    CHILDREN.push(child);
    let out = '', err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^LISTENING (\S+)\n/.exec(out);
      if (m) resolve({ base: m[1], origin: new URL(m[1]).origin, child, stop: () => child.kill() });
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
}

// One request; resolves {status, headers, body: Buffer, aborted}.
function req(url, opts = {}) {
  const u = new URL(url);
  const headers = Object.assign({ 'user-agent': 'fakegh-selftest' }, opts.headers || {});
  for (const k of Object.keys(headers)) if (headers[k] === null) delete headers[k];
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    // rawPath: send the path verbatim (new URL() would resolve "..").
    const options = { method: opts.method || 'GET', headers, agent: opts.agent, ca: opts.ca,
      protocol: u.protocol, hostname: u.hostname, port: u.port, path: opts.rawPath || u.pathname + u.search };
    const r = mod.request(options, (res) => {
      const chunks = [];
      let aborted = false;
      res.on('data', (c) => chunks.push(c));
      res.on('aborted', () => { aborted = true; });
      const done = () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), aborted, reused: r.reusedSocket });
      res.on('end', done);
      res.on('error', () => { aborted = true; done(); });
    });
    r.on('error', reject);
    if (opts.body !== undefined) r.end(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
    else r.end();
  });
}

const json = (r) => JSON.parse(r.body.toString('utf8'));
const auth = { authorization: `Bearer ${TOKEN}` };
const control = (s, p, method, body) => req(s.origin + p, { method, body, headers: { 'content-type': 'application/json' } });

// ---------------------------------------------------------------- tests

test('LISTENING line, prefix, rate_limit endpoint not counted', async () => {
  const s = await startServer(['--prefix', '/api/v3']);
  try {
    assert.match(s.base, /^http:\/\/127\.0\.0\.1:\d+\/api\/v3$/);
    assert.equal((await req(s.origin + '/repos/acme/fw/commits/main')).status, 404);
    const r1 = await req(s.base + '/rate_limit');
    assert.equal(r1.status, 200);
    assert.equal(json(r1).resources.core.limit, 60);
    assert.equal(r1.headers['x-ratelimit-resource'], 'core');
    const r2 = await req(s.base + '/rate_limit');
    assert.equal(r2.headers['x-ratelimit-remaining'], r1.headers['x-ratelimit-remaining']);
    const r3 = await req(s.base + '/repos/acme/fw/commits/main');
    assert.equal(r3.status, 200);
    assert.equal(Number(r3.headers['x-ratelimit-remaining']), Number(r1.headers['x-ratelimit-remaining']) - 1);
    assert.ok(Number(r3.headers['x-ratelimit-reset']) > Date.now() / 1000);
  } finally { s.stop(); }
});

test('commits: sha media type, JSON object, new commit changes the answer', async () => {
  const { pub } = fixtures();
  const s = await startServer();
  try {
    const head = sh(pub, 'rev-parse', 'HEAD');
    const r = await req(s.base + '/repos/acme/fw/commits/main', { headers: { accept: 'application/vnd.github.sha' } });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/plain/);
    assert.equal(r.body.toString(), head);
    const j = json(await req(s.base + '/repos/acme/fw/commits/main'));
    assert.equal(j.sha, head);
    assert.equal(j.commit.tree.sha, sh(pub, 'rev-parse', 'HEAD^{tree}'));
    assert.equal(j.commit.message, 'initial');
    // By SHA too.
    assert.equal((await req(s.base + `/repos/acme/fw/commits/${head}`, { headers: { accept: 'application/vnd.github.sha' } })).body.toString(), head);
    // Unknown ref / repo / hostile ref.
    assert.equal((await req(s.base + '/repos/acme/fw/commits/nope')).status, 422);
    assert.equal((await req(s.base + '/repos/acme/nope/commits/main')).status, 404);
    assert.equal(json(await req(s.base + '/repos/acme/nope/commits/main')).message, 'Not Found');
    assert.notEqual((await req(s.base + '/repos/acme/fw/commits/--help')).status, 200);
    assert.notEqual((await req(s.base + '/repos/acme/fw/commits/main~0')).status, 200);
    // Commit on a branch, the answer moves.
    fs.writeFileSync(path.join(pub, 'new.py'), 'N = 1\n');
    sh(pub, 'add', 'new.py');
    sh(pub, 'commit', '-q', '-m', 'second');
    const r2 = await req(s.base + '/repos/acme/fw/commits/main', { headers: { accept: 'application/vnd.github.sha' } });
    assert.equal(r2.body.toString(), sh(pub, 'rev-parse', 'HEAD'));
    assert.notEqual(r2.body.toString(), head);
    assert.notEqual(r2.headers.etag, r.headers.etag);
    // Bare repositories are served too.
    const b = await req(s.base + '/repos/acme/barefw/commits/main', { headers: { accept: 'application/vnd.github.sha' } });
    assert.equal(b.status, 200);
    assert.equal(b.body.toString(), head);
  } finally { s.stop(); }
});

test('ETag/304 and accounting: authenticated 304 free, anonymous 304 counted', async () => {
  const s = await startServer(['--token', TOKEN]);
  try {
    const url = s.base + '/repos/acme/fw/commits/main';
    const acc = { accept: 'application/vnd.github.sha' };
    const a = await req(url, { headers: Object.assign({}, acc, auth) });
    assert.equal(a.status, 200);
    assert.match(a.headers.etag, /^"[0-9a-f]+"$/);
    assert.equal(a.headers['x-ratelimit-limit'], '5000');
    const left = Number(a.headers['x-ratelimit-remaining']);
    const b = await req(url, { headers: Object.assign({ 'if-none-match': a.headers.etag }, acc, auth) });
    assert.equal(b.status, 304);
    assert.equal(b.body.length, 0);
    assert.equal(Number(b.headers['x-ratelimit-remaining']), left);
    // Weak form of the same validator also matches.
    const w = await req(url, { headers: Object.assign({ 'if-none-match': 'W/' + a.headers.etag }, acc, auth) });
    assert.equal(w.status, 304);
    // Anonymous: 304 still costs one.
    const c = await req(url, { headers: acc });
    assert.equal(c.headers['x-ratelimit-limit'], '60');
    const d = await req(url, { headers: Object.assign({ 'if-none-match': c.headers.etag }, acc) });
    assert.equal(d.status, 304);
    assert.equal(Number(d.headers['x-ratelimit-remaining']), Number(c.headers['x-ratelimit-remaining']) - 1);
    // A stale ETag gets a full answer.
    const e = await req(url, { headers: Object.assign({ 'if-none-match': '"stale"' }, acc, auth) });
    assert.equal(e.status, 200);
    const log = json(await control(s, '/_control/log', 'GET'));
    assert.deepEqual(log.map((l) => [l.status, l.auth, l.counted]),
      [[200, true, true], [304, true, false], [304, true, false], [200, false, true], [304, false, true], [200, true, true]]);
    assert.equal(log[0].path, '/repos/acme/fw/commits/main');
    assert.equal(log[0].bytes, 40);
    assert.equal(log[0].accept, 'application/vnd.github.sha');
    assert.equal(typeof log[0].t, 'number');
  } finally { s.stop(); }
});

test('rate limit exhaustion gives 403 and resets after the window', async () => {
  const s = await startServer(['--rate-limit', '3', '--rate-window', '2']);
  try {
    const url = s.base + '/repos/acme/fw/commits/main';
    const first = await req(url);
    assert.equal(first.headers['x-ratelimit-limit'], '3');
    // Pin the window far enough out that the next requests share it.
    await control(s, '/_control/ratelimit', 'POST', { remaining: 2, reset_in: 30 });
    assert.equal((await req(url)).headers['x-ratelimit-remaining'], '1');
    const last = await req(url);
    assert.deepEqual([last.status, last.headers['x-ratelimit-remaining'], last.headers['x-ratelimit-used']], [200, '0', '3']);
    const over = await req(url);
    assert.equal(over.status, 403);
    assert.match(json(over).message, /API rate limit exceeded/);
    assert.equal(over.headers['x-ratelimit-remaining'], '0');
    assert.ok(Number(over.headers['x-ratelimit-reset']) >= Math.floor(Date.now() / 1000) + 28);
    assert.equal((await req(s.base + '/rate_limit')).status, 200); // never blocked, never counted
    // Short window: blocked now, fine again once x-ratelimit-reset has passed.
    await control(s, '/_control/ratelimit', 'POST', { remaining: 0, reset_in: 1 });
    const blocked = await req(url);
    assert.equal(blocked.status, 403);
    const reset = Number(blocked.headers['x-ratelimit-reset']);
    await new Promise((res) => setTimeout(res, Math.max(0, reset * 1000 - Date.now()) + 50));
    const after = await req(url);
    assert.equal(after.status, 200);
    assert.equal(after.headers['x-ratelimit-remaining'], '2');
    assert.ok(Number(after.headers['x-ratelimit-reset']) > reset);
  } finally { s.stop(); }
});

test('trees: recursive listing, blob SHAs equal git hash-object, modes', async () => {
  const { pub } = fixtures();
  const s = await startServer();
  try {
    const j = json(await req(s.base + '/repos/acme/fw/git/trees/main?recursive=1'));
    assert.equal(j.truncated, false);
    assert.equal(j.sha, sh(pub, 'rev-parse', 'main^{tree}'));
    const by = Object.fromEntries(j.tree.map((e) => [e.path, e]));
    for (const f of ['main.py', 'empty.txt', 'lib/util.py', 'lib/deep/core.py', 'lib/blob.bin', 'run.sh']) {
      assert.equal(by[f].sha, sh(pub, 'hash-object', f), f);
      assert.equal(by[f].size, fs.statSync(path.join(pub, f)).size);
      assert.equal(by[f].type, 'blob');
    }
    assert.equal(by['empty.txt'].sha, 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391');
    assert.equal(by['main.py'].mode, '100644');
    assert.equal(by['run.sh'].mode, '100755');
    assert.equal(by['link.py'].mode, '120000');
    assert.deepEqual([by.lib.mode, by.lib.type, by.lib.size], ['040000', 'tree', undefined]);
    assert.deepEqual([by.vendor.mode, by.vendor.type], ['160000', 'commit']);
    // Non-recursive by tree SHA and by commit SHA.
    const top = json(await req(s.base + `/repos/acme/fw/git/trees/${by.lib.sha}`));
    assert.deepEqual(top.tree.map((e) => e.path).sort(), ['blob.bin', 'deep', 'util.py']);
    const commit = sh(pub, 'rev-parse', 'main');
    const root = json(await req(s.base + `/repos/acme/fw/git/trees/${commit}`));
    assert.equal(root.sha, j.sha);
    assert.ok(!root.tree.some((e) => e.path.includes('/')));
    assert.equal((await req(s.base + '/repos/acme/fw/git/trees/0000000000000000000000000000000000000000')).status, 404);
  } finally { s.stop(); }
});

test('trees: --truncate-trees cuts recursive listings only', async () => {
  const s = await startServer(['--truncate-trees', '3']);
  try {
    const j = json(await req(s.base + '/repos/acme/fw/git/trees/main?recursive=1'));
    assert.equal(j.truncated, true);
    assert.equal(j.tree.length, 3);
    const flat = json(await req(s.base + '/repos/acme/fw/git/trees/main'));
    assert.equal(flat.truncated, false);
    assert.ok(flat.tree.length > 3);
  } finally { s.stop(); }
});

test('contents: root, directory, file, raw, symlink, submodule, 404', async () => {
  const { pub } = fixtures();
  const s = await startServer();
  try {
    for (const p of ['/contents', '/contents/']) {
      const root = json(await req(s.base + '/repos/acme/fw' + p));
      assert.ok(Array.isArray(root));
      const names = Object.fromEntries(root.map((e) => [e.name, e]));
      assert.equal(names.lib.type, 'dir');
      assert.equal(names['main.py'].type, 'file');
      assert.equal(names['link.py'].type, 'symlink');
      assert.equal(names.vendor.type, 'file'); // GitHub's documented quirk for submodules in listings
    }
    const dir = json(await req(s.base + '/repos/acme/fw/contents/lib?ref=main'));
    const util = dir.find((e) => e.name === 'util.py');
    assert.equal(util.path, 'lib/util.py');
    assert.equal(util.sha, sh(pub, 'hash-object', 'lib/util.py'));
    for (const k of ['url', 'git_url', 'download_url', 'html_url', '_links', 'size']) assert.ok(k in util, k);
    const file = json(await req(s.base + '/repos/acme/fw/contents/lib/blob.bin?ref=main'));
    assert.equal(file.encoding, 'base64');
    assert.ok(file.content.split('\n').every((l) => l.length <= 60));
    assert.ok(file.content.includes('\n'));
    assert.deepEqual(Buffer.from(file.content, 'base64'), fs.readFileSync(path.join(pub, 'lib/blob.bin')));
    for (const accept of ['application/vnd.github.raw', 'application/vnd.github.raw+json']) {
      const raw = await req(s.base + '/repos/acme/fw/contents/lib/blob.bin', { headers: { accept } });
      assert.deepEqual(raw.body, fs.readFileSync(path.join(pub, 'lib/blob.bin')));
      assert.ok(raw.headers.etag);
    }
    const empty = json(await req(s.base + '/repos/acme/fw/contents/empty.txt'));
    assert.equal(empty.content, '');
    assert.equal(empty.size, 0);
    // ETag/304 on contents.
    const a = await req(s.base + '/repos/acme/fw/contents/main.py');
    assert.equal((await req(s.base + '/repos/acme/fw/contents/main.py', { headers: { 'if-none-match': a.headers.etag } })).status, 304);
    // Symlink to a file in the repo answers with that file; outside: symlink object.
    assert.equal(json(await req(s.base + '/repos/acme/fw/contents/link.py')).path, 'main.py');
    const out = json(await req(s.base + '/repos/acme/fw/contents/outside'));
    assert.deepEqual([out.type, out.target], ['symlink', '/etc/hostname']);
    const sub = json(await req(s.base + '/repos/acme/fw/contents/vendor'));
    assert.equal(sub.type, 'submodule');
    assert.ok(sub.submodule_git_url);
    assert.equal((await req(s.base + '/repos/acme/fw/contents/nope.py')).status, 404);
    for (const p of ['lib/../main.py', 'lib/%2e%2e/main.py', './main.py', 'lib//util.py']) {
      assert.equal((await req(s.base, { rawPath: '/repos/acme/fw/contents/' + p })).status, 404, p);
    }
    assert.equal((await req(s.base + '/repos/acme/fw/contents/main.py?ref=nope')).status, 404);
    // download_url works.
    const dl = await req(util.download_url);
    assert.equal(dl.body.toString(), 'X = 1\n');
  } finally { s.stop(); }
});

test('contents: files above --contents-limit have empty content', async () => {
  const s = await startServer(['--contents-limit', '100']);
  try {
    const j = json(await req(s.base + '/repos/acme/fw/contents/lib/blob.bin'));
    assert.deepEqual([j.encoding, j.content, j.size], ['none', '', 3000]);
    const raw = await req(s.base + '/repos/acme/fw/contents/lib/blob.bin', { headers: { accept: 'application/vnd.github.raw+json' } });
    assert.equal(raw.body.length, 3000);
  } finally { s.stop(); }
});

test('blobs: JSON and raw, binary and empty', async () => {
  const { pub } = fixtures();
  const s = await startServer();
  try {
    for (const f of ['lib/blob.bin', 'empty.txt', 'main.py']) {
      const sha = sh(pub, 'hash-object', f);
      const bytes = fs.readFileSync(path.join(pub, f));
      const j = json(await req(s.base + `/repos/acme/fw/git/blobs/${sha}`));
      assert.deepEqual([j.sha, j.size, j.encoding], [sha, bytes.length, 'base64']);
      assert.deepEqual(Buffer.from(j.content, 'base64'), bytes);
      const raw = await req(s.base + `/repos/acme/fw/git/blobs/${sha}`, { headers: { accept: 'application/vnd.github.raw+json' } });
      assert.equal(raw.headers['content-type'], 'application/octet-stream');
      assert.deepEqual(raw.body, bytes);
    }
    assert.equal((await req(s.base + '/repos/acme/fw/git/blobs/' + 'ab'.repeat(20))).status, 404);
    assert.equal((await req(s.base + '/repos/acme/fw/git/blobs/HEAD')).status, 404);
    // A tree SHA is not a blob.
    assert.equal((await req(s.base + '/repos/acme/fw/git/blobs/' + sh(pub, 'rev-parse', 'HEAD^{tree}'))).status, 404);
  } finally { s.stop(); }
});

test('auth: private repo 404 without token, 401 bad token, 403 without User-Agent', async () => {
  const s = await startServer(['--token', 'other,' + TOKEN]);
  try {
    const url = s.base + '/repos/acme/secret/commits/main';
    assert.equal((await req(url)).status, 404);
    assert.equal((await req(url, { headers: auth })).status, 200);
    assert.equal((await req(url, { headers: { authorization: `token ${TOKEN}` } })).status, 200);
    const bad = await req(url, { headers: { authorization: 'Bearer wrong' } });
    assert.equal(bad.status, 401);
    assert.equal(json(bad).message, 'Bad credentials');
    const noUa = await req(s.base + '/repos/acme/fw/commits/main', { headers: { 'user-agent': null } });
    assert.equal(noUa.status, 403);
    // --private flag works like the marker file.
    const s2 = await startServer(['--private', 'acme/fw']);
    try {
      assert.equal((await req(s2.base + '/repos/acme/fw/commits/main')).status, 404);
    } finally { s2.stop(); }
  } finally { s.stop(); }
});

test('keep-alive: requests share one connection', async () => {
  const s = await startServer();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const r = [];
    for (let i = 0; i < 4; i++) r.push(await req(s.base + '/repos/acme/fw/git/trees/main', { agent }));
    assert.ok(r.every((x) => x.status === 200));
    assert.deepEqual(r.map((x) => x.reused), [false, true, true, true]);
  } finally { agent.destroy(); s.stop(); }
});

test('TLS: works with the generated CA, fails without it', async () => {
  const dir = path.join(TMP, 'tls');
  const s = await startServer(['--tls', dir, '--prefix', '/api/v3']);
  try {
    assert.match(s.base, /^https:\/\/127\.0\.0\.1:\d+\/api\/v3$/);
    const ca = fs.readFileSync(path.join(dir, 'ca.pem'));
    const ok = await req(s.base + '/repos/acme/fw/commits/main', { ca, agent: false });
    assert.equal(ok.status, 200);
    const byName = await req(s.base.replace('127.0.0.1', 'localhost') + '/rate_limit', { ca, agent: false });
    assert.equal(byName.status, 200);
    await assert.rejects(req(s.base + '/rate_limit', { agent: false }), /self[- ]signed|unable to (get|verify)/i);
    for (const f of ['ca.pem', 'server.pem', 'server-key.pem']) assert.ok(fs.existsSync(path.join(dir, f)));
  } finally { s.stop(); }
});

test('log file: one JSON line per request, control calls not logged', async () => {
  const logFile = path.join(TMP, 'req.log');
  const s = await startServer(['--log', logFile, '--prefix', '/api/v3']);
  try {
    await req(s.base + '/repos/acme/fw/git/trees/main?recursive=1');
    await control(s, '/_control/stats', 'GET');
    await req(s.base + '/rate_limit');
    const lines = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.equal(lines[0].path, '/repos/acme/fw/git/trees/main?recursive=1');
    assert.deepEqual([lines[0].method, lines[0].status, lines[0].counted, lines[0].auth], ['GET', 200, true, false]);
    assert.ok(lines[0].bytes > 0);
    assert.deepEqual([lines[1].path, lines[1].counted], ['/rate_limit', false]);
    await control(s, '/_control/log/clear', 'POST');
    assert.deepEqual(json(await control(s, '/_control/log', 'GET')), []);
  } finally { s.stop(); }
});

test('log clear: a request that arrived before the clear and is answered after it is not in the new log', async () => {
  const s = await startServer();
  try {
    await control(s, '/_control/faults', 'POST', { kind: 'delay', ms: 2000, match: '/git/trees/' });
    let answered = false;
    const slow = req(s.base + '/repos/acme/fw/git/trees/main').then((r) => { answered = true; return r; });
    // The request has arrived once its fault fired.
    while (!(json(await control(s, '/_control/stats', 'GET')).faults_fired.delay >= 1)) await new Promise((r) => setTimeout(r, 20));
    await control(s, '/_control/log/clear', 'POST');
    assert.equal(answered, false, 'the request was answered before the clear; the test proves nothing');
    assert.equal((await slow).status, 200);
    await req(s.base + '/rate_limit');
    assert.deepEqual(json(await control(s, '/_control/log', 'GET')).map((e) => e.path), ['/rate_limit']);
  } finally { s.stop(); }
});

test('faults: status with match and count, DELETE clears, stats', async () => {
  const s = await startServer();
  try {
    await control(s, '/_control/faults', 'POST', { match: '/git/trees/', status: 500, count: 2 });
    await control(s, '/_control/faults', 'POST', { kind: 'status', status: 502, match: '/commits/' });
    assert.equal((await req(s.base + '/repos/acme/fw/git/trees/main')).status, 500);
    assert.equal((await req(s.base + '/repos/acme/fw/git/trees/main')).status, 500);
    assert.equal((await req(s.base + '/repos/acme/fw/git/trees/main')).status, 200);
    assert.equal((await req(s.base + '/repos/acme/fw/commits/main')).status, 502);
    assert.equal((await req(s.base + '/repos/acme/fw/commits/main')).status, 502);
    await control(s, '/_control/faults', 'DELETE');
    assert.equal((await req(s.base + '/repos/acme/fw/commits/main')).status, 200);
    const st = json(await control(s, '/_control/stats', 'GET'));
    assert.equal(st.requests, 6);
    assert.equal(st.status['500'], 2);
    assert.equal(st.faults_fired.status, 4);
    // probability 0 never fires, 1 always does.
    await control(s, '/_control/faults', 'POST', { status: 503, probability: 0 });
    assert.equal((await req(s.base + '/repos/acme/fw/commits/main')).status, 200);
    await control(s, '/_control/faults', 'DELETE');
    await control(s, '/_control/faults', 'POST', { status: 503, probability: 1, count: 1 });
    assert.equal((await req(s.base + '/repos/acme/fw/commits/main')).status, 503);
    assert.equal((await control(s, '/_control/faults', 'POST', { kind: 'bogus' })).status, 400);
  } finally { s.stop(); }
});

test('faults: delay, truncate, malformed', async () => {
  const s = await startServer();
  try {
    await control(s, '/_control/faults', 'POST', { kind: 'delay', ms: 400, count: 1 });
    const t0 = Date.now();
    assert.equal((await req(s.base + '/repos/acme/fw/commits/main')).status, 200);
    assert.ok(Date.now() - t0 >= 380);
    await control(s, '/_control/faults', 'POST', { kind: 'truncate', bytes: 10, count: 1 });
    const tr = await req(s.base + '/repos/acme/fw/git/trees/main');
    assert.equal(tr.status, 200);
    assert.ok(tr.aborted || tr.body.length < Number(tr.headers['content-length']));
    assert.equal(tr.body.length, 10);
    await control(s, '/_control/faults', 'POST', { kind: 'malformed', count: 1, match: '/git/trees/' });
    const mal = await req(s.base + '/repos/acme/fw/git/trees/main');
    assert.equal(mal.status, 200);
    assert.throws(() => json(mal));
    assert.equal((await req(s.base + '/repos/acme/fw/git/trees/main')).status, 200);
  } finally { s.stop(); }
});

test('faults: ratelimit and secondary rate limit', async () => {
  const s = await startServer();
  try {
    await control(s, '/_control/faults', 'POST', { kind: 'ratelimit', count: 1 });
    const rl = await req(s.base + '/repos/acme/fw/commits/main');
    assert.equal(rl.status, 403);
    assert.equal(rl.headers['x-ratelimit-remaining'], '0');
    const resetIn = Number(rl.headers['x-ratelimit-reset']) - Date.now() / 1000;
    assert.ok(resetIn > 0 && resetIn <= 3, String(resetIn));
    assert.match(json(rl).message, /rate limit exceeded/);
    await control(s, '/_control/faults', 'POST', { kind: 'secondary', retry_after: 2, count: 1 });
    const sec = await req(s.base + '/repos/acme/fw/commits/main');
    assert.equal(sec.status, 403);
    assert.equal(sec.headers['retry-after'], '2');
    assert.notEqual(sec.headers['x-ratelimit-remaining'], '0');
    await control(s, '/_control/faults', 'POST', { kind: 'secondary', status: 429, retry_after: 1, count: 1 });
    assert.equal((await req(s.base + '/repos/acme/fw/commits/main')).status, 429);
    assert.equal((await req(s.base + '/repos/acme/fw/commits/main')).status, 200);
  } finally { s.stop(); }
});

test('faults: hostile_paths in trees and contents', async () => {
  const s = await startServer();
  try {
    await control(s, '/_control/faults', 'POST', { kind: 'hostile_paths' });
    const r = await req(s.base + '/repos/acme/fw/git/trees/main?recursive=1');
    const text = r.body.toString('latin1');
    assert.ok(text.includes('"\\ud800.py"'), 'lone surrogate escape in raw JSON');
    assert.ok(text.includes('"\\u0000x.py"'));
    const paths = json(r).tree.map((e) => e.path);
    for (const p of ['/etc/passwd', '../escape.py', 'a/../../b.py', '\u0001x.py', '\u0000x.py']) assert.ok(paths.includes(p), p);
    const t = json(r).tree;
    assert.ok(t.some((e) => e.mode === '120000' && e.path === 'evil-link.py'));
    assert.ok(t.some((e) => e.mode === '160000' && e.type === 'commit' && e.path === 'evil-submodule'));
    const evil = t.find((e) => e.path === '../escape.py');
    assert.equal((await req(s.base + '/repos/acme/fw/git/blobs/' + evil.sha)).status, 200);
    const c = json(await req(s.base + '/repos/acme/fw/contents/'));
    assert.ok(c.some((e) => e.path === '../escape.py'));
    assert.ok(c.some((e) => e.type === 'symlink' && e.name === 'evil-link.py'));
    await control(s, '/_control/faults', 'DELETE');
    assert.ok(!json(await req(s.base + '/repos/acme/fw/contents/')).some((e) => e.path === '../escape.py'));
  } finally { s.stop(); }
});
