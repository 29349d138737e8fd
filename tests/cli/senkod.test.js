// senkod as a service with a source that keeps failing (a revoked token):
// the journal gets the error once, not at every poll, and systemd's
// STATUS (what `systemctl status senkod` shows) says the source fails.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');

const T = h.tmpdir('senkod');
const REPOS = path.join(T, 'repos');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
const SOCK = path.join(T, 'notify.sock');
let gh, daemon, listener;

test.after(() => {
  if (daemon) daemon.kill('SIGTERM');
  if (listener) listener.kill('SIGTERM');
  if (gh) gh.stop();
});

test('a source failing at every poll: one error line, and STATUS says so', async () => {
  h.makeRepo(REPOS, 'acme', 'fw', { 'main.py': 'print(1)\n' });
  gh = await h.startGitHub({ repos: REPOS, args: ['--token', 's3cret'] });
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, api_url: gh.base, interval: '1s' },
    // A named branch: every poll is one head request (no default-branch one).
    sources: { app: { user: 'acme', repo: 'fw', branch: 'main' } },
    devices: { kitchen: { port: path.join(T, 'ttyUSB9'), source: 'app' } },
  });
  listener = h.track(spawn(path.join(h.BUILD, 'tests/helper-notify_listen'), [SOCK],
    { stdio: ['ignore', 'pipe', 'inherit'] }));
  const notes = h.collectLines(listener.stdout);
  await h.until(() => notes.includes('LISTENING'), 5000, 'notify listener');
  daemon = h.track(spawn(h.SENKOD, ['-c', CONF, '--foreground'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: Object.assign({}, process.env, { NOTIFY_SOCKET: SOCK, SENKO_TOKEN: 'revoked' }),
  }));
  const log = h.collectLines(daemon.stderr);
  // Wait for three polls of the branch head (each refused).  A source is
  // polled when a board that uses it is due, and the failing board backs
  // off (5 s, then 10 s): about 15 s.
  await h.until(async () => (await gh.log()).filter((e) => e.path.includes('/commits/')).length >= 3,
    60000, 'three polls');
  await h.until(() => notes.some((n) => /STATUS=.*source app failing/.test(n)), 10000,
    'STATUS naming the failing source');
  const refused = log.filter((l) => /Bad credentials/.test(l));
  assert.equal(refused.length, 1, log.join('\n'));
  assert.equal(log.filter((l) => /nothing to sync/.test(l)).length, 1, log.join('\n'));
  const st = await h.senko(['-c', CONF, 'status']);
  assert.equal(st.code, 1);
  assert.match(st.stdout, /^app +failed /m);
});
