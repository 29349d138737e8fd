// `make demo` (issue 15): one command, offline, two emulated boards.  The
// boards end with exactly the sample repository's files after its second
// commit, in under a minute, and nothing the demo started outlives it:
// neither after a normal end nor after Ctrl-C.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const h = require('../lib/harness');

const SANITIZE = h.BUILD.endsWith(path.join('build', 'sanitize')) ? ['SANITIZE=1'] : [];
// Process groups of demos still running: killed when the tests end, so a
// demo that fails to clean up fails its test instead of hanging the suite.
const GROUPS = new Set();
test.after(() => {
  for (const pid of GROUPS) { try { process.kill(-pid, 'SIGKILL'); } catch (e) { /* gone */ } }
});

// Start the demo in its own process group (as a terminal would run it);
// collects its output and resolves waits on it.
function startDemo(cmd, args) {
  const env = Object.assign({}, process.env);
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL']) delete env[k];
  const child = spawn(cmd, args, { cwd: h.ROOT, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  GROUPS.add(child.pid);
  const demo = { child, out: '', started: Date.now() };
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    GROUPS.delete(child.pid);
    resolve(code === null ? `signal ${signal}` : code);
  }));
  // The exit status, or a string saying it did not exit within 30 s.
  demo.exit = async () => {
    let timer;
    const code = await Promise.race([exited, new Promise((resolve) => {
      timer = setTimeout(() => resolve('still running after 30 s'), 30000);
    })]);
    clearTimeout(timer);
    return code;
  };
  child.stdout.on('data', (d) => { demo.out += d; });
  child.stderr.on('data', (d) => { demo.out += d; });
  demo.waitFor = (re, ms) => h.until(() => re.exec(demo.out) ||
    (child.exitCode !== null && Promise.reject(new Error(`demo exited:\n${demo.out}`))),
  ms, `${re} in the demo's output:\n${demo.out.slice(-3000)}`);
  return demo;
}

// Processes whose command line names the demo's folder (fake GitHub,
// boards, senkod, the log tail).
function processesIn(dir) {
  const found = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(dir)) found.push(`${pid}: ${cmd}`);
    } catch (e) { /* exited meanwhile */ }
  }
  return found;
}

// The files of a board's flash folder, without senko's own record.
function flashFiles(dir) {
  const t = h.readTree(dir);
  for (const k of Object.keys(t)) if (h.isRecordFile(k)) delete t[k];
  // The agent's cache (src/board/agent.c), not the application's.
  for (const k of Object.keys(t)) if (k.startsWith('.senko/')) delete t[k];
  return t;
}

test('make demo: both boards end byte-identical to the repository after its second commit, in under 60 s, and nothing is left behind', async () => {
  const demo = startDemo('make', ['--no-print-directory', 'demo', ...SANITIZE]);
  const dir = (await demo.waitFor(/(\/\S*senko-demo\.\w+)/, 30000))[1];
  await demo.waitFor(/Press Enter to stop everything/, 90000);
  const running = (Date.now() - demo.started) / 1000;

  const repo = path.join(dir, 'repos', 'demo', 'app');
  assert.equal(h.git(repo, 'rev-list', '--count', 'HEAD'), '2', 'the repository has its second commit');
  assert.equal(h.git(repo, 'status', '--porcelain'), '', 'the work tree is the commit');
  const want = h.readTree(repo);
  for (const k of Object.keys(want)) if (k.startsWith('.git/')) delete want[k];
  assert.ok(Object.keys(want).includes('lib/colors.py'), 'the second commit added lib/colors.py');
  for (const board of ['kitchen', 'garage']) {
    const got = flashFiles(path.join(dir, `${board}.flash`));
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${board}: file list`);
    for (const k of Object.keys(want))
      assert.ok(got[k].equals(want[k]), `${board}: ${k} differs from the repository`);
  }
  assert.match(demo.out, /hello from esp32 \(version 2, pushed by senko\)[\s\S]*hello from esp32 \(version 2/,
    'both boards print the new greeting');

  const enter = Date.now();
  demo.child.stdin.end('\n');
  const code = await demo.exit();
  const total = running + (Date.now() - enter) / 1000;
  assert.equal(code, 0, `make demo exits 0:\n${demo.out.slice(-2000)}`);
  assert.ok(total < 60, `the demo took ${total.toFixed(1)} s (limit 60 s)`);
  assert.equal(fs.existsSync(dir), false, `${dir} is removed`);
  assert.deepEqual(processesIn(dir), [], 'no process of the demo is left');
});

test('Ctrl-C in the middle of the demo stops everything it started and removes its folder', async () => {
  const demo = startDemo(path.join(h.ROOT, 'tests/demo/demo.sh'), []);
  const dir = (await demo.waitFor(/(\/\S*senko-demo\.\w+)/, 30000))[1];
  await demo.waitFor(/==> 5\. senkod/, 90000);
  // The heading comes before senkod starts: wait until it runs.
  await h.until(() => processesIn(dir).some((p) => / --foreground/.test(p)), 30000, 'senkod started by the demo')
    .catch((e) => { throw new Error(`${e.message}:\n${processesIn(dir).join('\n')}`); });
  const before = processesIn(dir);
  assert.ok(before.length >= 4, `the fake GitHub, two boards and senkod run:\n${before.join('\n')}`);
  // What a terminal does on Ctrl-C: SIGINT to the whole foreground group.
  process.kill(-demo.child.pid, 'SIGINT');
  const code = await demo.exit();
  assert.equal(code, 130, `the demo exits 130 after Ctrl-C:\n${demo.out.slice(-2000)}`);
  assert.match(demo.out, /interrupted/);
  assert.equal(fs.existsSync(dir), false, `${dir} is removed`);
  assert.deepEqual(processesIn(dir), [], 'no process of the demo is left');
});
