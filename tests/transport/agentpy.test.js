'use strict';
// The on-board agent's own functions (src/board/agent.py), run on an
// emulated board: its definitions (the part before agent2c's first split),
// then a call with the board's os made to fail as a flash would.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { startBoard, Port } = require('../board/client');

const AGENT_PY = fs.readFileSync(path.join(__dirname, '../../src/board/agent.py'), 'utf8');
const DEFINITIONS = AGENT_PY.slice(0, AGENT_PY.indexOf('# agent2c: split'));

// os with a rename that fails like a flash that answers EIO (littlefs's
// block device errors come out of extmod/vfs_lfsx.c as OSError(EIO)).
const FAILING_RENAME = `
class FailingOs:
    def __init__(self, real):
        self.real = real
    def __getattr__(self, name):
        return getattr(self.real, name)
    def rename(self, a, b):
        raise OSError(5)
os = FailingOs(os)
`;

async function withAgent(files, fn) {
  const b = await startBoard(['--baud', '0'], { files });
  const p = new Port(b.path);
  try {
    await p.enterRaw();
    const r = await p.execPaste(DEFINITIONS, 20000);
    assert.equal(r.err, '', 'the agent definitions did not run');
    await fn(p);
  } finally {
    p.close();
    await b.stop();
    fs.rmSync(b.flash, { recursive: true, force: true });
  }
}

test('replace(): a rename the flash refuses keeps the file it was to replace', async () => {
  await withAgent({ 'a.py': 'old' }, async (p) => {
    const t = await p.exec("print(temp('/a.py'))");
    assert.equal(t.err, '');
    const staged = t.out.trim();
    const r = await p.exec(`f = open(${JSON.stringify(staged)}, 'w'); f.write('new'); f.close()\n` +
      FAILING_RENAME +
      `try:\n    replace(${JSON.stringify(staged)}, '/a.py')\nexcept OSError as e:\n    print('refused', e.args[0])\n` +
      "print(repr(open('/a.py').read()))\nprint(repr(open(" + JSON.stringify(staged) + ').read()))');
    assert.equal(r.err, '', r.err);
    assert.deepEqual(r.out.split('\r\n').slice(0, 3), ['refused 5', "'old'", "'new'"], JSON.stringify(r));
  });
});
