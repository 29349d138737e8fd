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

// The board's os with one function failing like a flash that answers EIO
// (littlefs's block device errors come out of extmod/vfs_lfsx.c as
// OSError(EIO)), for the paths `when` (a Python expression in p) names.
function failingOs(name, args, when = 'True') {
  return `
class FailingOs:
    def __init__(self, real):
        self.real = real
    def __getattr__(self, name):
        return getattr(self.real, name)
    def ${name}(self, ${args}):
        if ${when}:
            raise OSError(5)
        return self.real.${name}(${args})
os = FailingOs(os)
`;
}
const FAILING_RENAME = failingOs('rename', 'p, q');

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

// The definitions and code after them, in one execution (os.listdir in
// an execution after the one that ran the definitions fails in this
// emulator with OSError 48; a board's agent runs as one program).
async function runAgent(files, code) {
  const b = await startBoard(['--baud', '0'], { files });
  const p = new Port(b.path);
  try {
    await p.enterRaw();
    return await p.execPaste(DEFINITIONS + '\n' + code, 20000);
  } finally {
    p.close();
    await b.stop();
    fs.rmSync(b.flash, { recursive: true, force: true });
  }
}

const FAILING_REMOVE = failingOs('remove', 'p', "p == '/x.py'");

test('complete(): a delete the flash refuses is reported, and the journal goes (the next session is not stopped by it)', async () => {
  const r = await runAgent({ 'x.py': 'old', 'y.py': 'old' },
    "f = open('/.senko.journal', 'w'); f.write('D  /x.py\\nD  /y.py\\n'); f.close()\n" +
    FAILING_REMOVE +
    "print(repr(complete('/', False)))\nprint(sorted(os.listdir('/')))\n");
  assert.equal(r.err, '', r.err);
  const lines = r.out.split('\r\n');
  assert.equal(lines[0], "(1, [], ['/x.py\\tEIO'])", JSON.stringify(r));
  assert.equal(lines[1], "['x.py']", 'the journal or y.py is still there');
});

test('walk(): a name with a newline, which the listing cannot carry, is left out', async () => {
  const r = await runAgent({ 'a.py': 'a', 'b\nc.py': 'b' }, "walk('/', lambda q, n: print(repr(q), n))\n");
  assert.equal(r.err, '', r.err);
  assert.equal(r.out, "'/a.py' 1\r\n", JSON.stringify(r));
});
