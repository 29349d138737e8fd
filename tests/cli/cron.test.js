// senkod --once from cron: cron mails whatever a run prints, so a board
// that stays offline or a source that keeps failing is reported by the
// run that sees it first and not by every run after it ("already
// reported" is carried in the status files).  Each failure is one line.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('cron');
const REPOS = path.join(T, 'repos');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
const PORT = path.join(T, 'ttyUSB9');
const TOKEN = 's3cret';
let gh;

const once = (token = TOKEN) => h.senkod(['-c', CONF, '--once'],
  { env: { SENKO_TOKEN: token, SENKO_HTTP_TIMEOUT: '5' } });
const lines = (s) => s.split('\n').filter((l) => l.length);

test.before(async () => {
  h.makeRepo(REPOS, 'acme', 'fw', { 'app/main.py': 'print(1)\n' });
  gh = await h.startGitHub({ repos: REPOS, args: ['--token', TOKEN] });
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, api_url: gh.base },
    sources: { app: { user: 'acme', repo: 'fw', branch: 'main', working_dir: 'app' } },
    devices: { kitchen: { port: PORT, source: 'app' } },
  });
});
test.after(() => gh && gh.stop());

test('a board that is not plugged in: the first run says so once, naming the device', async () => {
  const r = await once();
  assert.equal(r.code, 1);
  assert.equal((r.stderr.match(/no serial port/g) || []).length, 1, r.stderr);
  assert.match(r.stderr, /kitchen: no serial port .*ttyUSB9/);
});

test('the next runs print nothing while it stays offline (nothing for cron to mail)', async () => {
  for (let i = 0; i < 2; i++) {
    const r = await once();
    assert.equal(r.code, 1, 'still failing: exit 1');
    assert.deepEqual(lines(r.stderr), [], `run ${i + 2} printed`);
    assert.equal(r.stdout, '');
  }
});

test('with -v the quiet retries are shown: a run that debugs sees the attempt and why it failed', async () => {
  const r = await h.senkod(['-c', CONF, '--once', '-v'],
    { env: { SENKO_TOKEN: TOKEN, SENKO_HTTP_TIMEOUT: '5' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /kitchen: no serial port .*ttyUSB9/);
  // And without -v the next run is as quiet as before.
  assert.deepEqual(lines((await once()).stderr), []);
});

test('a different failure is reported once, then quiet again', async () => {
  fs.writeFileSync(PORT, 'not a tty');
  const r = await once();
  assert.equal(r.code, 1);
  assert.equal(lines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /kitchen: .*not a serial port/);
  const again = await once();
  assert.deepEqual(lines(again.stderr), []);
});

test('the same state with another message is a different failure: reported once, then quiet', async () => {
  // Still a port that cannot be used, now a folder instead of a file.
  fs.rmSync(PORT, { force: true });
  fs.mkdirSync(PORT);
  const before = JSON.parse((await h.senko(['-c', CONF, 'status', '--json'])).stdout).devices[0];
  const r = await once();
  const after = JSON.parse((await h.senko(['-c', CONF, 'status', '--json'])).stdout).devices[0];
  const again = await once();
  fs.rmSync(PORT, { recursive: true });
  fs.writeFileSync(PORT, 'not a tty');
  assert.equal(after.state, before.state, 'the state stayed the same');
  assert.equal(r.code, 1);
  assert.equal(lines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /kitchen: .*Is a directory/);
  assert.deepEqual(lines(again.stderr), [], 'the same failure was reported again');
});

test('a revoked token: the first run says it once, the next ones nothing, recovery is said', async () => {
  const r = await once('revoked');
  assert.equal(r.code, 1);
  assert.equal((r.stderr.match(/Bad credentials/g) || []).length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /source app: source/);
  const again = await once('revoked');
  assert.deepEqual(lines(again.stderr), [], 'the same failure was reported again');
  const back = await once();
  assert.match(back.stderr, /source 'app': polled again/);
  assert.doesNotMatch(back.stderr, /Bad credentials/);
});
