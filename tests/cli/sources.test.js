// senko status shows each source's last poll (commit, error, rate-limit
// wait) from state_dir/sources/NAME/status.json and exits 1 while one is
// failing, so monitoring sees GitHub unreachable or a revoked token; the
// failure itself is printed once.  Fake GitHub, no boards: `senko check`
// polls without opening any.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const net = require('net');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('sources');
const REPOS = path.join(T, 'repos');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
const STATUS_FILE = path.join(STATE, 'sources/app/status.json');
const TOKEN = 's3cret';
const ENV = { SENKO_TOKEN: TOKEN, SENKO_HTTP_TIMEOUT: '5' };
let repo, gh;

function writeConf(apiUrl) {
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, api_url: apiUrl },
    sources: { app: { user: 'acme', repo: 'fw', branch: 'main', working_dir: 'app' } },
    devices: { kitchen: { port: path.join(T, 'no-such-port'), source: 'app' } },
  });
}

const check = (env = ENV) => h.senko(['-c', CONF, 'check'], { env });
const status = () => h.senko(['-c', CONF, 'status']);
async function statusJson() {
  const r = await h.senko(['-c', CONF, 'status', '--json']);
  return { code: r.code, j: JSON.parse(r.stdout) };
}
const app = (j) => j.sources.find((s) => s.name === 'app');
const now = () => Math.floor(Date.now() / 1000);

// Every value that is not known is null, never "" (one spelling).
function assertNoEmptyStrings(v, where = 'status') {
  if (v === '') assert.fail(`${where} is "" (unknown must be null)`);
  if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) assertNoEmptyStrings(x, `${where}.${k}`);
}

test.before(async () => {
  repo = h.makeRepo(REPOS, 'acme', 'fw', { 'app/main.py': 'print(1)\n' });
  gh = await h.startGitHub({ repos: REPOS, args: ['--token', TOKEN] });
  writeConf(gh.base);
});
test.after(() => gh && gh.stop());

test('never polled: the source is unknown, every unknown value is null, exit 0', async () => {
  const { code, j } = await statusJson();
  assert.equal(code, 0);
  assert.equal(j.schema, 1);
  assert.deepEqual(Object.keys(app(j)).sort(), ['branch', 'commit', 'failing_since',
    'last_error', 'last_poll', 'last_success', 'name', 'path', 'repo', 'retry_after', 'rollout',
    'state', 'status_readable', 'user']);
  assert.equal(app(j).rollout, null);
  assert.equal(app(j).state, 'unknown');
  assert.equal(app(j).commit, null);
  assert.equal(app(j).last_poll, null);
  assert.equal(j.devices[0].commit, null);
  assert.equal(j.devices[0].last_error, null);
  assert.equal(j.devices[0].platform, null);
  assertNoEmptyStrings(j);
});

test('a poll that works: state ok, the commit, when it polled', async () => {
  const before = now();
  const r = await check();
  assert.equal(r.code, 100, r.stderr);
  const { code, j } = await statusJson();
  assert.equal(code, 0, JSON.stringify(j));
  const s = app(j);
  assert.equal(s.state, 'ok');
  assert.equal(s.commit, repo.head());
  assert.ok(s.last_poll >= before && s.last_poll <= now() + 1, `last_poll ${s.last_poll}`);
  assert.equal(s.last_success, s.last_poll);
  assert.equal(s.last_error, null);
  assert.equal(s.failing_since, null);
  assert.equal(s.retry_after, null);
  assertNoEmptyStrings(j);
  const t = await status();
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, new RegExp(`^app +ok +${repo.head().slice(0, 7)} +\\d+ s ago`, 'm'));
});

test('a poll that finds a new commit says so in one line', async () => {
  const head = repo.commit({ 'app/main.py': 'print(2)\n' });
  const r = await check();
  assert.equal(r.code, 100, r.stderr);
  const said = r.stderr.split('\n').filter((l) => /source '?app'?/.test(l));
  assert.equal(said.length, 1, r.stderr);
  assert.match(said[0], new RegExp(head.slice(0, 7)));
});

test('a poll that changes nothing does not rewrite the file, yet the last poll moves on', async () => {
  // As if the last poll that changed something was an hour ago.
  const old = now() - 3600;
  const rec = JSON.parse(fs.readFileSync(STATUS_FILE, 'utf8'));
  rec.last_poll = rec.last_success = old;
  fs.writeFileSync(STATUS_FILE, JSON.stringify(rec));
  fs.utimesSync(STATUS_FILE, old, old);
  const text = fs.readFileSync(STATUS_FILE, 'utf8');
  const ino = fs.statSync(STATUS_FILE).ino;
  assert.equal(app((await statusJson()).j).last_poll, old);
  const before = now();
  await check();
  assert.equal(fs.readFileSync(STATUS_FILE, 'utf8'), text, 'the file was rewritten');
  assert.equal(fs.statSync(STATUS_FILE).ino, ino, 'the file was replaced');
  const s = app((await statusJson()).j);
  assert.ok(s.last_poll >= before, `last_poll ${s.last_poll} < ${before}`);
  assert.equal(s.last_success, s.last_poll);
});

test('a revoked token: status shows the source failed and why, exits 1; the error is printed once', async () => {
  const head = repo.head();
  const before = now();
  const r = await check(Object.assign({}, ENV, { SENKO_TOKEN: 'revoked' }));
  assert.equal(r.code, 1, r.stderr);
  const all = r.stdout + r.stderr;
  assert.equal((all.match(/Bad credentials/g) || []).length, 1, `printed more than once:\n${all}`);
  assert.doesNotMatch(all, /source app: source/);
  const { code, j } = await statusJson();
  assert.equal(code, 1, 'senko status exits 0 while a source fails');
  const s = app(j);
  assert.equal(s.state, 'failed');
  assert.match(s.last_error, /refused the token .*401: Bad credentials/);
  assert.equal(s.commit, head, 'the last commit seen is kept');
  assert.ok(s.failing_since >= before);
  assert.ok(s.last_success < s.failing_since || s.last_success <= before);
  const t = await status();
  assert.equal(t.code, 1);
  assert.match(t.stdout, /^app +failed .*refused the token/m);
});

test('GitHub unreachable: failed, exit 1; failing_since stays at the first failure', async () => {
  const first = app((await statusJson()).j).failing_since;
  // A port nobody listens on: connection refused.
  const srv = net.createServer();
  await new Promise((res) => srv.listen(0, '127.0.0.1', res));
  const dead = `http://127.0.0.1:${srv.address().port}`;
  await new Promise((res) => srv.close(res));
  writeConf(dead);
  const r = await check();
  assert.equal(r.code, 1, r.stderr);
  const { code, j } = await statusJson();
  assert.equal(code, 1);
  assert.equal(app(j).state, 'failed');
  assert.match(app(j).last_error, /cannot read the branch head|connect/i);
  assert.equal(app(j).failing_since, first);
  writeConf(gh.base);
});

test('a rate limit: state rate-limited with the wait, shown in the table', async () => {
  await gh.fault({ kind: 'ratelimit', reset_in: 900, count: 1 });
  const r = await check();
  assert.equal(r.code, 1, r.stderr);
  const { j } = await statusJson();
  const s = app(j);
  assert.equal(s.state, 'rate-limited', JSON.stringify(s));
  assert.ok(s.retry_after > now() + 600 && s.retry_after <= now() + 960, `retry_after ${s.retry_after}`);
  const t = await status();
  assert.match(t.stdout, /^app +rate-limited .* 1[45] min +/m);
  // The wait is kept across runs: lift it and the next poll works.
  fs.rmSync(path.join(STATE, 'sources/.retry-after'), { force: true });
  await gh.clearFaults();
  const ok = await check();
  assert.equal(ok.code, 100, ok.stderr); // polled; the board is behind
  const again = app((await statusJson()).j);
  assert.equal(again.state, 'ok');
  assert.equal(again.retry_after, null);
  assert.equal(again.failing_since, null);
});
