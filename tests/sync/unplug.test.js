// A board that goes away in the middle of a push (its USB cable pulled:
// the emulator killed, so the pseudo-terminal hangs up) at 115200 baud.
// senko says so once and stops at once: no reset, no goodbye to the
// agent and no wait for a deadline on a port that is gone, each of which
// logged an error of its own before.  Plugged in again, the board boots
// what it had and the next session completes the update.  Also: a board
// that goes away while senko watches it boot.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('unplug');
const TICKER = h.TICKER;

test('a board unplugged mid-push: one error that says so, no wind-down on a lost port; plugged in again, the next sync completes', async () => {
  const files = { 'app/main.py': TICKER };
  for (let i = 0; i < 4; i++) files[`app/data/r${i}.bin`] = crypto.randomBytes(16000);
  h.makeRepo(path.join(T, 'repos'), 'acme', 'fw', files);
  const gh = await h.startGitHub({ repos: path.join(T, 'repos') });
  let board = await h.startBoard({ dir: T, name: 'b', baud: 115200 });
  const conf = h.writeAppConfig(path.join(T, 'senko.conf'), {
    gh, state: path.join(T, 'state'),
    devices: { b: { port: board.link, baud: 115200, boot_watch: 0 } },
  });
  try {
    const rx0 = board.counters().rx_bytes;
    const sync = h.startSenko(['-c', conf, 'sync']);
    // The probe and the agent are about 6 KB; 20 KB in, the files flow.
    await h.until(() => board.counters().rx_bytes - rx0 >= 20000, 60000, 'the push under way');
    board.child.kill('SIGKILL');
    await board.exited;
    const { code, stderr } = await sync.done;
    assert.equal(code, 1, stderr);
    const lost = stderr.split('\n').filter((l) => /lost the board/.test(l));
    assert.equal(lost.length, 1, stderr);
    assert.match(lost[0], /b\.tty while (reading|writing) \(unplugged, reset or powered off\?\)/);
    assert.doesNotMatch(stderr, /reset failed|reset that restarts|while ending its run/, stderr);
    assert.equal(stderr.split('\n').filter((l) => /error:/.test(l)).length, 2, stderr);

    board = await h.startBoard({ dir: T, name: 'b', baud: 115200 });
    const r = await h.senko(['-c', conf, 'sync']);
    assert.equal(r.code, 0, r.stderr);
    const tree = h.readTree(board.flash);
    for (const [p, content] of Object.entries(files))
      assert.ok(tree[p.slice('app/'.length)] && tree[p.slice('app/'.length)].equals(Buffer.from(content)), `${p} on the board\n${r.stderr}`);
    assert.ok((await h.appTicks(board.link)) >= 3, 'the application does not print after the update\n' + r.stderr);
  } finally {
    await board.stop();
    gh.stop();
  }
});

// Unplugged while senko waits for the application's health line: the
// watch is cut short, which says nothing against the commit.  It is not
// judged (no failed health check, no rollback); plugged in again, the
// next sync restarts the application and watches it to its line.
test('a board unplugged during its health watch: the commit is not judged; plugged in again, the next sync watches it', async () => {
  const READY = 'import time\ntime.sleep(4)\nprint("READY")\n';
  const repo = h.makeRepo(path.join(T, 'repos-watch'), 'acme', 'fw', { 'app/main.py': READY });
  const gh = await h.startGitHub({ repos: path.join(T, 'repos-watch') });
  let board = await h.startBoard({ dir: T, name: 'w' });
  const state = path.join(T, 'watch-state');
  const conf = h.writeAppConfig(path.join(T, 'watch.conf'), {
    gh, state,
    devices: { w: { port: board.link, baud: 1000000, health: 'line READY', health_timeout: '60s' } },
  });
  const record = () => JSON.parse(require('fs').readFileSync(path.join(state, 'devices', 'w', 'rollout.json'), 'utf8'));
  try {
    const sync = h.startSenko(['-c', conf, 'sync']);
    // The reset inside the raw REPL, then the one that starts main.py.
    await h.until(() => (board.counters() || {}).soft_resets >= 2, 30000, 'the restart');
    board.child.kill('SIGKILL');
    await board.exited;
    const { stderr } = await sync.done;
    assert.match(stderr, /w: the boot watch was cut short \(the port failed\)/, stderr);
    assert.doesNotMatch(stderr, /failed its health check|rolling back/, stderr);
    assert.deepEqual([record().commit, record().health], [repo.head(), 'unknown']);

    board = await h.startBoard({ dir: T, name: 'w' });
    const r = await h.senko(['-c', conf, 'sync']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /restarting the application to watch it/, r.stderr);
    assert.deepEqual([record().commit, record().health], [repo.head(), 'healthy']);
  } finally {
    await board.stop();
    gh.stop();
  }
});
