// A session stopped (SIGTERM) while the agent crosses the line to a fresh
// board (src/board/boot.py, agent.c's send_packed) at 115200 baud: the
// stream is finished first (a bootstrap left with half of it would take
// the next session's Ctrl-C for data), so the board's cache is whole,
// the application runs again, and the next session gets in at once.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('bootstop');
const TICKER = h.TICKER;

test('SIGTERM while the agent is sent: the stream is finished, the board is usable at once', async () => {
  h.makeRepo(path.join(T, 'repos'), 'acme', 'fw', {
    'app/main.py': TICKER, 'app/lib/util.py': 'X = 1\n'.repeat(200),
  });
  const gh = await h.startGitHub({ repos: path.join(T, 'repos') });
  // The board runs its application already (senko will not get to
  // writing anything).
  fs.mkdirSync(path.join(T, 'b.flash'), { recursive: true });
  fs.writeFileSync(path.join(T, 'b.flash', 'main.py'), TICKER);
  const board = await h.startBoard({ dir: T, name: 'b', baud: 115200 });
  const conf = h.writeAppConfig(path.join(T, 'senko.conf'), {
    gh, state: path.join(T, 'state'),
    devices: { b: { port: board.link, baud: 115200, boot_watch: 0 } },
  });
  try {
    // The probe (about 1.1 KB) and the bootstrap (2 KB) go first, then
    // the packed agent (about 3.8 KB): stop within it.
    const rx0 = board.counters().rx_bytes;
    const sync = h.startSenko(['-v', '-c', conf, 'sync']);
    await h.until(() => board.counters().rx_bytes - rx0 >= 4200, 30000, 'the agent crossing the line');
    sync.child.kill('SIGTERM');
    const start = Date.now();
    const { code, stderr } = await sync.done;
    assert.notEqual(code, 0, 'the stopped session reported success');
    assert.ok(Date.now() - start < 8000, `senko took ${Date.now() - start} ms to stop`);
    assert.match(stderr, /agent sent/, stderr);
    // The stream was finished: the bootstrap kept it in the cache whole.
    const cache = path.join(board.flash, '.senko');
    const names = fs.existsSync(cache) ? fs.readdirSync(cache) : [];
    assert.equal(names.length, 1, `cache: ${names.join(' ')}\n${stderr}`);
    assert.match(names[0], /^agent-[0-9a-f]{16}-[0-9]+\.z$/);
    assert.ok((await h.appTicks(board.link)) >= 3, 'the application does not print after the stop\n' + stderr);
    // The next session gets in at once and runs the agent from the cache.
    const t0 = Date.now();
    const r = await h.senko(['-v', '-c', conf, 'sync']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /agent from the board's cache/);
    assert.ok(Date.now() - t0 < 20000, `the next session took ${Date.now() - t0} ms`);
  } finally {
    await board.stop();
    gh.stop();
  }
});
