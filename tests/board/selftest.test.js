'use strict';
// Self-test of the board emulator: drives real boards over their pty with the
// small independent raw-REPL client in client.js.
//
//   node --test --test-reporter=tap tests/board/
//
// Boards are started eagerly (in parallel) when this file loads; each test
// then awaits its own board, so start-up costs are paid once, concurrently.
// Everything runs unpaced (--baud 0) or fast, except where a test measures
// the line model itself.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { startBoard, Port } = require('./client');

const FAST = ['--baud', '0'];

function board(args, opts) {
  const p = startBoard(args, opts);
  p.catch(() => {}); // reported by the test that awaits it
  return p;
}

// Boards shared by several tests, all booting at once.  Tests run in file
// order; a test that changes a board's state in a way others would notice
// gets its own board.
const LINK = path.join(os.tmpdir(), `board-link-${process.pid}`);
const B = {
  repl: board(FAST, { files: { 'boot.py': "print('boot-ran')\n", 'main.py': "print('main-ran')\n" } }),
  lean: board([...FAST, '--no-raw-paste', '--no-deflate', '--no-stdin-buffer', '--no-sha1']),
  stdin: board([...FAST, '--link', LINK]),
  drop: board(['--baud', '1000000']),
  pace: board(['--baud', '115200']),
  full: board([...FAST, '--flash-size', '16384', '--heap', '60000']),
  cut: board([...FAST, '--power-cut-after', '3000']),
  e8266: board([...FAST, '--profile', 'esp8266', '--exec-delay', '300']),
  reset: board(FAST, { files: { 'boot.py': "print('boot-ran')\n" } }),
  soft: board([...FAST, '--flash-size', '131072'], {
    files: { 'boot.py': "print('boot-ran')\n", 'counted.py': "print('top-level ran')\nX = 1\n", 'd/sub/deep.txt': 'deep' },
  }),
  ring8: board(['--baud', '1000000', '--profile', 'esp8266']),
  soft8: board([...FAST, '--profile', 'esp8266', '--heap-soft']),
  tb: board(FAST, { files: { 'main.py': "print('app')\ndef f():\n    return undefined_name\nf()\n" } }),
  // Sleeps in a loop from boot on; cheap while idle.
  loop: board(FAST, { files: { 'main.py': 'import time\nwhile True:\n    time.sleep_ms(20)\n' } }),
  // Long sleeps from boot on.
  nap: board(FAST, { files: { 'main.py': 'import time\nwhile True:\n    time.sleep(30)\n' } }),
};
B.e32 = B.repl;
B.paste = B.repl;
B.raw = B.repl;
B.flash = B.repl;
B.oldfw = B.lean;
B.heap = B.full;
B.delay = B.e8266;
B.tty = B.lean;
B.term = B.stdin;

const ALL_BYTES = Buffer.from(Array.from({ length: 4096 }, (_, i) => i & 0xff));

async function rawPort(b) {
  const p = new Port((await b).path);
  await p.enterRaw();
  return p;
}

test.after(async () => {
  await Promise.all(Object.values(B).map(async (bp) => {
    try {
      const b = await bp;
      await b.stop();
      fs.rmSync(b.flash, { recursive: true, force: true });
      fs.rmSync(b.counters, { force: true });
    } catch { /* failed to start */ }
  }));
});

test('friendly REPL: banner, prompt, echo, expression value, Ctrl-C, Ctrl-B, Ctrl-D soft reset runs boot.py and main.py', async () => {
  const b = await B.repl;
  const p = new Port(b.path);
  p.write('\r\x03');
  // Sync: everything before this expression's value is boot noise.
  p.write("'sync'\r");
  await p.readUntil("\r\n'sync'\r\n>>> ");
  p.write('\x02');
  const banner = (await p.readUntil('>>> ')).toString();
  assert.match(banner, /MicroPython v1\.27\.0 on .*; Generic ESP32 module with ESP32\r\nType "help\(\)" for more information\.\r\n>>> $/);
  p.write('6*7\r');
  assert.equal((await p.readUntil('>>> ')).toString(), '6*7\r\n42\r\n>>> ');
  p.write('abc\x03');
  assert.equal((await p.readUntil('>>> ')).toString(), 'abc\r\n>>> ');
  p.write('for i in range(2):\r    print(i)\r\r');
  assert.match((await p.readUntil('>>> ')).toString(), /\.\.\. .*0\r\n1\r\n>>> $/s);
  p.write('\x04');
  const reboot = (await p.readUntil('>>> ')).toString();
  assert.match(reboot, /^\r\nMPY: soft reboot\r\nboot-ran\r\nmain-ran\r\nMicroPython v1\.27\.0/);
  p.close();
});

test('raw REPL: OK, output, 04, exception, 04, >; Ctrl-A banner, Ctrl-C clears, Ctrl-B leaves', async () => {
  const b = await B.raw;
  const p = new Port(b.path);
  p.write('\r\x03');
  await p.drain(300);
  p.write('\r\x01');
  assert.match((await p.readUntil('raw REPL; CTRL-B to exit\r\n>')).toString(), /\r\n>>> \r\nraw REPL; CTRL-B to exit\r\n>$/);
  p.write('print(123)\x04');
  assert.equal((await p.readUntil('>')).toString(), 'OK123\r\n\x04\x04>');
  p.write('1/0\x04');
  assert.equal((await p.readUntil('\x04>')).toString(),
    'OK\x04Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n' +
    'ZeroDivisionError: divide by zero\r\n\x04>');
  p.write('garbage\x03print(1)\x04');
  assert.equal((await p.readUntil('>')).toString(), 'OK1\r\n\x04\x04>');
  p.write('\x01');
  assert.equal((await p.readUntil('>')).toString(), 'raw REPL; CTRL-B to exit\r\n>');
  p.write('\x02');
  assert.match((await p.readUntil('>>> ')).toString(), /^\r\nMicroPython v1\.27\.0/);
  p.close();
});

test('raw-paste: R\\x01, window 128, \\x01 credits, end ack; R\\x00 for an unknown command', async () => {
  const b = await B.paste;
  const p = await rawPort(B.paste);
  // A program much larger than two windows, so credits must flow.
  const code = 'x = 0\n' + 'x += 1\n'.repeat(200) + 'print(x)\n';
  const r = await p.execPaste(code);
  assert.deepEqual(r, { out: '200\r\n', err: '' });
  // Check the header bytes explicitly, too.
  p.write('\x05A\x01');
  assert.deepEqual([...(await p.readN(5))], [0x52, 0x01, 0x80, 0x00, 0x01]);
  p.write('print(7)\x04');
  assert.equal((await p.readUntil('>')).toString(), '\x047\r\n\x04\x04>');
  // Unknown raw-paste command.
  p.write('\x05B\x01');
  assert.equal((await p.readUntil('>')).toString(), 'R\x00>');
  // Ctrl-C while pasting aborts with a KeyboardInterrupt report.
  p.write('\x05A\x01');
  await p.readN(5);
  p.write('print(1)\x03');
  assert.match((await p.readUntil('>')).toString(), /^\x04\x04KeyboardInterrupt: \r\n\x04>$/);
  const c = b.readCounters();
  assert.ok(c.raw_paste_sessions >= 3);
  p.close();
});

test('--no-raw-paste answers like old firmware (raw REPL banner, no R)', async () => {
  const p = await rawPort(B.oldfw);
  p.write('\x05A\x01');
  assert.equal((await p.readUntil('>')).toString(), 'raw REPL; CTRL-B to exit\r\n>');
  assert.deepEqual(await p.exec('print(2)'), { out: '2\r\n', err: '' });
  p.close();
});

test('a main.py that loops forever keeps the REPL busy until Ctrl-C (sleeping and pure loops)', async () => {
  const lazy = {
    loop: B.loop,
    // Started only now: it burns a CPU until interrupted.
    spin: startBoard(FAST, { files: { 'main.py': 'while True:\n    pass\n' } }),
  };
  for (const name of ['loop', 'spin']) {
    const b = await lazy[name];
    const p = new Port(b.path);
    p.write('\r\x01'); // ignored while main.py runs
    await p.drain(300);
    p.write('\x03');
    const out = (await p.readUntil('>>> ', 5000)).toString();
    assert.match(out, /KeyboardInterrupt: \r\n/, name);
    assert.match(out, /MicroPython v1\.27\.0/, name);
    p.write('\r\x01');
    await p.readUntil('raw REPL; CTRL-B to exit\r\n>');
    assert.deepEqual(await p.exec('print(5)'), { out: '5\r\n', err: '' });
    p.close();
    if (name === 'spin') {
      await b.stop();
      fs.rmSync(b.flash, { recursive: true, force: true });
      fs.rmSync(b.counters, { force: true });
    }
  }
});

// ports/esp32/mphalport.c mp_hal_delay_ms handles pending exceptions
// every FreeRTOS tick (10 ms): a Ctrl-C ends a long time.sleep at once, as
// it ends the ticking application senko interrupts.  A sleep still lasts
// its time.
test('Ctrl-C ends a long time.sleep within a tick; sleeps keep their length', async () => {
  const p = new Port((await B.nap).path);
  await p.drain(300); // main.py is in its first 30 s sleep
  const t0 = Date.now();
  p.write('\x03');
  const out = (await p.readUntil('>>> ', 10000)).toString();
  assert.match(out, /KeyboardInterrupt: \r\n/);
  assert.ok(Date.now() - t0 < 3000, `Ctrl-C took ${Date.now() - t0} ms to end time.sleep(30)`);
  p.write('\r\x01');
  await p.readUntil('raw REPL; CTRL-B to exit\r\n>');
  const r = await p.exec('import time\nfrom time import sleep_ms\nt = time.ticks_ms()\ntime.sleep(0.25)\nsleep_ms(150)\ntime.sleep_us(100000)\nprint(time.ticks_diff(time.ticks_ms(), t))');
  const ms = Number(r.out.trim());
  assert.ok(ms >= 500 && ms < 1500, `slept ${r.out.trim()} ms for 500`);
  p.close();
});

test('sys.stdin.buffer: 4096 bytes of all values land byte-identical in the flash directory', async () => {
  const b = await B.stdin;
  const p = await rawPort(B.stdin);
  // The program acknowledges each 128-byte block so the stdin ring never overflows.
  const code = [
    'import sys, micropython',
    'micropython.kbd_intr(-1)',
    "f = open('all.bin', 'wb')",
    'buf = bytearray(128)',
    'for i in range(32):',
    "    sys.stdout.write('A')",
    '    sys.stdin.buffer.readinto(buf)',
    '    f.write(buf)',
    'f.close()',
    "print('done')",
  ].join('\n');
  p.write(code + '\x04');
  await p.readUntil('OK');
  for (let i = 0; i < 32; i++) {
    await p.readUntil('A');
    p.write(ALL_BYTES.subarray(i * 128, (i + 1) * 128));
  }
  assert.deepEqual(await p.readResult(), { out: 'done\r\n', err: '' });
  assert.ok(fs.readFileSync(path.join(b.flash, 'all.bin')).equals(ALL_BYTES));
  assert.equal(b.readCounters().dropped_bytes, 0);

  // The same transfer without kbd_intr(-1): the 0x03 in the data interrupts it.
  const code2 = code.replace('micropython.kbd_intr(-1)', 'pass').replace("'all.bin'", "'all2.bin'");
  p.write(code2 + '\x04');
  await p.readUntil('OK');
  await p.readUntil('A');
  p.write(ALL_BYTES.subarray(0, 128));
  const res = await p.readResult();
  assert.equal(res.out, '');
  assert.match(res.err, /KeyboardInterrupt/);
  await p.drain(200);
  p.close();
});

test('long session: 64 KB through sys.stdin.buffer and 200 executions do not exhaust the heap', async () => {
  const b = await B.stdin;
  const p = await rawPort(B.stdin);
  const N = 65536;
  const data = Buffer.from(Array.from({ length: N }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
  p.write("import sys, micropython\nmicropython.kbd_intr(-1)\nf = open('big.bin', 'wb')\nbuf = bytearray(256)\n" +
    `sys.stdout.write('G')\nfor i in range(${N / 256}):\n    sys.stdin.buffer.readinto(buf)\n    f.write(buf)\nf.close()\x04`);
  await p.readUntil('OKG');
  p.write(data); // unpaced line: the FIFO holds the host back, nothing is lost
  assert.deepEqual(await p.readResult(30000), { out: '', err: '' });
  assert.ok(fs.readFileSync(path.join(b.flash, 'big.bin')).equals(data));
  const free0 = parseInt((await p.exec('import gc\ngc.collect()\nprint(gc.mem_free())')).out, 10);
  for (let i = 0; i < 200; i++) {
    const r = await p.exec(`v = ${i} * 2\nprint(v)`);
    assert.equal(r.out, `${i * 2}\r\n`);
  }
  const free1 = parseInt((await p.exec('import gc\ngc.collect()\nprint(gc.mem_free())')).out, 10);
  assert.ok(free0 - free1 < 4096, `heap shrank from ${free0} to ${free1}`);
  p.close();
});

test('line model: blasting 2000 bytes while the board sleeps 0.5 s drops bytes and counts them', async () => {
  const b = await B.drop;
  const p = await rawPort(B.drop);
  const before = b.readCounters();
  p.write("import sys, time\nsys.stdout.write('S')\ntime.sleep(0.5)\nprint('slept')\x04");
  await p.readUntil('OKS');
  p.write(Buffer.alloc(2000, 0x61)); // 'a' x 2000: 20 ms on the wire at 1 Mbaud
  assert.deepEqual(await p.readResult(), { out: 'slept\r\n', err: '' });
  // The 259 bytes that fit are still in the ring; clear them.
  p.write('\x03');
  await p.drain(100);
  const after = b.readCounters();
  // 259 fit into the esp32's ring (260 slots, one kept empty), the rest is
  // lost (fewer only if the host was scheduled so late that the board woke
  // up meanwhile).
  const dropped = after.dropped_bytes - before.dropped_bytes;
  assert.ok(dropped > 1000 && dropped <= 2000 - 259, `dropped ${dropped}`);
  assert.ok(after.rx_bytes - before.rx_bytes >= 2000);
  p.close();
});

test('line model: 11,520 bytes at 115200 baud take about a second', async () => {
  const b = await B.pace;
  const p = await rawPort(B.pace);
  p.write("import sys, micropython\nmicropython.kbd_intr(-1)\nsys.stdout.write('G')\n" +
    'n = len(sys.stdin.buffer.read(11520))\nprint(n)\x04');
  await p.readUntil('OKG', 10000);
  const t0 = Date.now();
  p.write(Buffer.alloc(11520, 0x55));
  const r = await p.readResult(10000);
  const dt = (Date.now() - t0) / 1000;
  assert.deepEqual(r, { out: '11520\r\n', err: '' });
  assert.ok(dt > 0.8 && dt < 2.5, `took ${dt} s`);
  assert.equal(b.readCounters().dropped_bytes, 0);
  // Output is paced too: 5760 bytes back take about half a second.
  const t1 = Date.now();
  const r2 = await p.exec("import sys\nsys.stdout.write('x' * 5760)", 10000);
  const dt2 = (Date.now() - t1) / 1000;
  assert.equal(r2.out.length, 5760);
  assert.ok(dt2 > 0.4 && dt2 < 1.5, `output took ${dt2} s`);
  p.close();
});

test('flash: os functions work and every execution is written back to the host directory', async () => {
  const b = await B.flash;
  const p = await rawPort(B.flash);
  const r = await p.exec([
    'import os',
    "os.mkdir('lib')",
    "with open('lib/a.py', 'w') as f: f.write('A = 1\\n')",
    "with open('tmp.txt', 'w') as f: f.write('hello')",
    "os.rename('tmp.txt', 'hello.txt')",
    "with open('gone.txt', 'w') as f: f.write('x')",
    "os.remove('gone.txt')",
    "os.mkdir('empty'); os.rmdir('empty')",
    'os.sync()',
    "print(sorted(os.listdir()), os.stat('hello.txt')[6], [e[0] for e in os.ilistdir('lib')])",
    "st = os.statvfs('/'); print(st[0] > 0 and st[2] >= st[3])",
    "import sys; sys.path.append('/lib'); import a; print(a.A)",
  ].join('\n'));
  assert.deepEqual(r, { out: "['boot.py', 'hello.txt', 'lib', 'main.py'] 5 ['a.py']\r\nTrue\r\n1\r\n", err: '' });
  assert.equal(fs.readFileSync(path.join(b.flash, 'hello.txt'), 'utf8'), 'hello');
  assert.equal(fs.readFileSync(path.join(b.flash, 'lib', 'a.py'), 'utf8'), 'A = 1\n');
  assert.ok(!fs.existsSync(path.join(b.flash, 'tmp.txt')));
  assert.ok(!fs.existsSync(path.join(b.flash, 'gone.txt')));
  assert.ok(!fs.existsSync(path.join(b.flash, 'empty')));
  p.close();
});

test('flash size: writing past it fails with OSError 28 (ENOSPC)', async () => {
  const p = await rawPort(B.full);
  const r = await p.exec([
    "f = open('big.bin', 'wb')",
    'try:',
    '    for i in range(40):',
    "        f.write(b'x' * 1024)",
    'except OSError as e:',
    '    print(e.errno, i)',
    'f.close()',
  ].join('\n'));
  assert.match(r.out, /^28 1[0-6]\r\n$/);
  p.close();
});

test('power cut after N received bytes: files open for writing keep their last committed state (littlefs), POWERCUT, exit 3', async () => {
  const b = await B.cut;
  fs.writeFileSync(path.join(b.flash, 'old.txt'), 'old content');
  const p = await rawPort(B.cut);
  // Make the board load old.txt (written on the host while it ran).
  assert.deepEqual(await p.exec("f = open('old.txt', 'w'); f.write('old content'); f.close()"), { out: '', err: '' });
  // part.bin: flushed (lfs_file_sync) every 512 bytes; old.txt: truncated
  // and rewritten but never committed.
  const code = "import sys, micropython\nmicropython.kbd_intr(-1)\nf = open('part.bin', 'wb')\n" +
    "g = open('old.txt', 'w')\ng.write('new')\nsys.stdout.write('G')\nn = 0\n" +
    'while True:\n    f.write(sys.stdin.buffer.read(64))\n    n += 64\n    if n % 512 == 0:\n        f.flush()\n';
  p.write(code + '\x04');
  await p.readUntil('OKG');
  const before = b.readCounters().rx_bytes;
  // Feed slowly enough for the ring; the cut comes at 3000 received bytes.
  for (let i = 0; i < 40; i++) {
    try {
      p.write(ALL_BYTES.subarray(0, 128));
    } catch (e) {
      if (e.code === 'EIO') break; // the board is gone: power cut
      throw e;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const code3 = await b.exited;
  assert.equal(code3, 3);
  assert.match(b.stdout(), /^READY \S+\nPOWERCUT\n$/);
  const part = fs.readFileSync(path.join(b.flash, 'part.bin'));
  const c = b.readCounters();
  assert.equal(c.rx_bytes, 3000);
  const fed = 3000 - before;
  assert.ok(part.length > 0 && part.length % 512 === 0 && part.length <= fed, `committed part of ${part.length} bytes (${fed} fed)`);
  assert.ok(part.equals(Buffer.concat(Array(40).fill(ALL_BYTES.subarray(0, 128))).subarray(0, part.length)));
  assert.equal(fs.readFileSync(path.join(b.flash, 'old.txt'), 'utf8'), 'old content');
  p.close();
});

test('profiles: esp8266 vs esp32 banner, sys.platform, unique_id, freq, heap', async () => {
  const p8 = await rawPort(B.e8266);
  const r8 = await p8.exec("import sys, machine, os\nprint(sys.platform, len(machine.unique_id()), machine.freq(), os.uname().sysname)");
  assert.deepEqual(r8, { out: 'esp8266 4 80000000 esp8266\r\n', err: '' });
  const big = await p8.exec('b = bytearray(60000)');
  assert.match(big.err, /MemoryError/);
  p8.write('\x02');
  assert.match((await p8.readUntil('>>> ')).toString(), /; ESP module with ESP8266\r\n/);
  p8.close();
  const p32 = await rawPort(B.e32);
  const r32 = await p32.exec("import sys, machine\nprint(sys.platform, len(machine.unique_id()), machine.freq())\nb = bytearray(60000)\nprint(len(b))");
  assert.deepEqual(r32, { out: 'esp32 6 160000000\r\n60000\r\n', err: '' });
  const huge = await p32.exec('b = None\nc = bytearray(150000)');
  assert.match(huge.err, /MemoryError/);
  p32.close();
});

test('--heap sets the heap: oversized buffers and code raise MemoryError', async () => {
  const p = await rawPort(B.heap);
  const r = await p.exec('import gc\nf = gc.mem_free()\nprint(f > 20000 and f <= 60000)\nb = bytearray(40000)\nb = None\nc = bytearray(70000)');
  assert.equal(r.out, 'True\r\n');
  assert.match(r.err, /MemoryError/);
  // A program that does not fit into the heap once compiled.
  const code = Array.from({ length: 1500 }, (_, i) => `v${i} = ${i}`).join('\n');
  const r2 = await p.execPaste(code, 20000);
  assert.match(r2.err, /MemoryError/);
  assert.deepEqual(await p.exec('print(1)'), { out: '1\r\n', err: '' });
  p.close();
});

// The bench's boards: software sees an ESP8266's free heap, but an
// execution may allocate past it, as a board that collects garbage could.
test('--heap-soft: gc.mem_free() is the profile heap\'s, allocations past it succeed', async () => {
  const p = await rawPort(B.soft8);
  const r = await p.exec('import gc\nf = gc.mem_free()\nprint(f > 20000 and f <= 40960)\nb = [bytearray(8000) for i in range(10)]\nprint(len(b))');
  assert.deepEqual(r, { out: 'True\r\n10\r\n', err: '' });
  p.close();
});

test('fallback switches: --no-deflate, --no-stdin-buffer, --no-sha1 (and the defaults have them)', async () => {
  const p = await rawPort(B.lean);
  const r = await p.exec([
    'import sys, hashlib',
    "print(hasattr(sys.stdin, 'buffer'), hasattr(hashlib, 'sha1'), hasattr(hashlib, 'sha256'))",
    'try:',
    '    import deflate',
    "    print('deflate')",
    'except ImportError:',
    "    print('no deflate')",
  ].join('\n'));
  assert.deepEqual(r, { out: 'False False True\r\nno deflate\r\n', err: '' });
  p.close();
  const q = await rawPort(B.e32);
  const r2 = await q.exec([
    'import sys, hashlib, deflate, binascii',
    "print(hasattr(sys.stdin, 'buffer'), binascii.hexlify(hashlib.sha1(b'abc').digest()))",
    "h = hashlib.sha1(); h.update(b'a'); h.update(b'bc'); print(binascii.hexlify(h.digest()))",
    "print(binascii.hexlify(hashlib.sha256(b'abc').digest())[:8], hasattr(deflate, 'DeflateIO'))",
  ].join('\n'));
  assert.deepEqual(r2, {
    out: "True b'a9993e364706816aba3e25717850c26c9cd0d89d'\r\nb'a9993e364706816aba3e25717850c26c9cd0d89d'\r\nb'ba7816bf' True\r\n",
    err: '',
  });
  q.close();
});

test('resets: soft reset from raw REPL runs boot.py not main.py; SystemExit, machine.soft_reset, machine.reset; counters', async () => {
  const b = await B.reset;
  fs.writeFileSync(path.join(b.flash, 'main.py'), "print('main-ran')\n");
  const p = await rawPort(B.reset);
  // main.py was written on the host while the board ran; make the board see it.
  assert.deepEqual(await p.exec("f = open('main.py', 'w'); f.write(\"print('main-ran')\\n\"); f.close()"), { out: '', err: '' });
  p.write('\x04');
  const soft = (await p.readUntil('raw REPL; CTRL-B to exit\r\n>')).toString();
  assert.equal(soft, 'OK\r\nMPY: soft reboot\r\nboot-ran\r\nraw REPL; CTRL-B to exit\r\n>');
  p.write('import machine\nmachine.soft_reset()\x04');
  assert.equal((await p.readUntil('raw REPL; CTRL-B to exit\r\n>')).toString(),
    'OK\x04\x04MPY: soft reboot\r\nboot-ran\r\nraw REPL; CTRL-B to exit\r\n>');
  p.write('import sys\nsys.exit()\x04');
  assert.match((await p.readUntil('raw REPL; CTRL-B to exit\r\n>')).toString(), /^OK\x04\x04MPY: soft reboot\r\n/);
  p.write('import machine\nmachine.reset()\x04');
  const hard = (await p.readUntil('>>> ', 5000)).toString();
  assert.match(hard, /^OKboot-ran\r\nmain-ran\r\nMicroPython v1\.27\.0/);
  const c = b.readCounters();
  assert.deepEqual(Object.keys(c).sort(), ['dropped_bytes', 'executions', 'files_removed', 'files_renamed',
    'files_written', 'flash_busy_us', 'flash_ops', 'hard_resets', 'raw_paste_sessions', 'raw_repl_entries',
    'rx_bytes', 'rx_wait_us', 'soft_resets', 'tx_bytes']);
  for (const v of Object.values(c)) assert.ok(Number.isInteger(v));
  assert.equal(c.soft_resets, 3);
  assert.equal(c.hard_resets, 1);
  assert.equal(c.raw_repl_entries, 1);
  assert.ok(c.files_written >= 1);
  assert.ok(c.executions >= 4);
  assert.ok(c.rx_bytes > 50 && c.tx_bytes > 100);
  p.close();
});

// What a board keeps across a soft reset (ports/esp32/main.c soft_reset_exit
// / soft_reset): the flash as committed; what it loses: the heap, globals,
// imported modules, sys.path.  Open files are closed by gc_sweep_all()'s
// finalisers on a soft reset and simply lost on a hard reset.
test('soft reset: flash kept (files, folders, times, open files closed), heap fresh (globals, modules, sys.path, free memory), flash hooks still on', async () => {
  const b = await B.soft;
  const p = await rawPort(B.soft);
  const softReset = async () => {
    p.write('\x04');
    assert.equal((await p.readUntil('raw REPL; CTRL-B to exit\r\n>')).toString(),
      'OK\r\nMPY: soft reboot\r\nboot-ran\r\nraw REPL; CTRL-B to exit\r\n>');
  };
  const ok = async (code, out = '') => assert.deepEqual(await p.exec(code), { out, err: '' }, code);
  const FREE = 'import gc\ngc.collect()\nprint(gc.mem_free())';
  const free0 = parseInt((await p.exec(FREE)).out, 10);
  await ok([
    "f = open('kept.txt', 'w'); f.write('kept content'); f.close()",
    "import os; os.mkdir('e')",
    "o = open('open.txt', 'w'); o.write('written, never closed')",
    'import counted',
    'kept_global = bytearray(30000)',
    "import sys; sys.path.append('/elsewhere')",
  ].join('\n'), 'top-level ran\r\n');
  await ok('import counted', '');
  const free1 = parseInt((await p.exec(FREE)).out, 10);
  assert.ok(free0 - free1 >= 30000, `heap before the reset: ${free0} free at start, ${free1} with the globals`);
  const STAT = "import os; print(os.stat('kept.txt')[8], os.stat('d/sub/deep.txt')[8])";
  const times = (await p.exec(STAT)).out;
  const hostKept = path.join(b.flash, 'kept.txt');
  const hostMtime = fs.statSync(hostKept).mtimeMs;
  const c0 = b.readCounters();
  await softReset();
  const c1 = b.readCounters();
  const free2 = parseInt((await p.exec(FREE)).out, 10);
  assert.ok(Math.abs(free2 - free0) <= 1024, `free heap after the reset ${free2}, at start ${free0}`);
  // And no bigger than the profile's 110 KB: the heap is pinned again.
  await ok('try:\n    b = bytearray(150000)\nexcept MemoryError:\n    print("MemoryError")', 'MemoryError\r\n');
  await ok([
    "print(open('kept.txt').read(), open('open.txt').read(), open('d/sub/deep.txt').read())",
    "import os; print(sorted(os.listdir()), os.listdir('e'))",
  ].join('\n'), "kept content written, never closed deep\r\n['boot.py', 'counted.py', 'd', 'e', 'kept.txt', 'open.txt'] []\r\n");
  // gc_sweep_all() closed open.txt: one close committed, with its last page.
  assert.equal(c1.files_written - c0.files_written, 1, 'the open file was closed at the reset');
  assert.equal(c1.flash_ops - c0.flash_ops, 2, 'its last page programmed and its metadata committed');
  assert.equal((await p.exec(STAT)).out, times, 'modification times are kept');
  await ok("print('kept_global' in globals(), 'counted' in __import__('sys').modules, '/elsewhere' in __import__('sys').path)",
    'False False False\r\n');
  await ok('import counted', 'top-level ran\r\n');
  // The flash's hooks are on the new interpreter's files: writes are flash
  // operations and counted, the flash size holds, statvfs is the board's.
  await ok([
    "f = open('after.txt', 'w'); f.write('after'); f.close()",
    "import os; st = os.statvfs('/'); print(st[0], st[2])",
    "f = open('big.bin', 'wb')",
    "k = b'x' * 1024",
    'try:',
    '    for i in range(200):',
    '        f.write(k)',
    'except OSError as e:',
    '    print(e.errno)',
    'f.close()',
    "os.remove('big.bin')",
  ].join('\n'), '4096 32\r\n28\r\n');
  const c2 = b.readCounters();
  assert.equal(c2.files_written - c1.files_written, 2);
  assert.equal(c2.files_removed - c1.files_removed, 1);
  // The host copy follows; files that did not change are not rewritten.
  assert.equal(fs.readFileSync(path.join(b.flash, 'after.txt'), 'utf8'), 'after');
  assert.equal(fs.readFileSync(path.join(b.flash, 'open.txt'), 'utf8'), 'written, never closed');
  assert.ok(!fs.existsSync(path.join(b.flash, 'big.bin')));
  assert.equal(fs.statSync(hostKept).mtimeMs, hostMtime, 'kept.txt was written to the host again');
  p.close();
});

test('a power cut after a soft reset: the flash operations are counted on the new interpreter, and the open file keeps its last commit', async () => {
  // Nothing is written before the reset; after it: create (op 1), erase
  // and program the first 128 bytes (2, 3), flush (4), program the next
  // 128 bytes (5, not committed), then the third (6): the power goes off
  // before that.
  const b = await startBoard([...FAST, '--power-cut-op', '6']);
  const p = await rawPort(Promise.resolve(b));
  try {
    p.write('\x04');
    await p.readUntil('raw REPL; CTRL-B to exit\r\n>');
    p.write("f = open('p.bin', 'wb')\nf.write(b'a' * 128)\nf.flush()\nf.write(b'b' * 128)\nf.write(b'c' * 128)\nf.close()\x04");
    const code = await Promise.race([b.exited, new Promise((r) => setTimeout(() => r('no cut'), 20000))]);
    assert.equal(code, 3, b.stderr());
    assert.match(b.stderr(), /power cut before flash operation 6 \(program \/p\.bin\)/);
    assert.equal(fs.readFileSync(path.join(b.flash, 'p.bin'), 'latin1'), 'a'.repeat(128));
  } finally {
    p.close();
    await b.stop();
    fs.rmSync(b.flash, { recursive: true, force: true });
  }
});

test('hard reset (machine.reset): files open for writing keep what was last committed (littlefs), nothing closes them', async () => {
  const b = await startBoard(FAST, { files: { 'old.txt': 'old content' } });
  const p = await rawPort(Promise.resolve(b));
  try {
    // old.txt is truncated and rewritten, new.txt created and written:
    // neither is closed or flushed when the chip restarts.
    p.write("f = open('old.txt', 'w'); f.write('new content')\ng = open('new.txt', 'w'); g.write('data')\n" +
      'import machine\nmachine.reset()\x04');
    await p.readUntil('>>> ', 10000);
    p.write('\r\x01');
    await p.readUntil('raw REPL; CTRL-B to exit\r\n>');
    // littlefs: O_TRUNC only marks the open file; creating commits it empty.
    assert.deepEqual(await p.exec("print(repr(open('old.txt').read()), repr(open('new.txt').read()))"),
      { out: "'old content' ''\r\n", err: '' });
    p.close();
    await b.stop();
    assert.equal(fs.readFileSync(path.join(b.flash, 'old.txt'), 'utf8'), 'old content');
    assert.equal(fs.readFileSync(path.join(b.flash, 'new.txt'), 'utf8'), '');
  } finally {
    p.close();
    await b.stop();
    fs.rmSync(b.flash, { recursive: true, force: true });
  }
});

test('--exec-delay delays each execution', async () => {
  const p = await rawPort(B.delay);
  const t0 = Date.now();
  await p.exec('print(1)');
  await p.exec('print(2)');
  const dt = Date.now() - t0;
  assert.ok(dt >= 600 && dt < 3000, `two executions took ${dt} ms`);
  p.close();
});

test('pty: termios calls work, close and reopen keep the board alive, several boards run at once', async () => {
  const b = await B.tty;
  // stty does tcgetattr/tcsetattr on the slave, as any serial client would.
  execFileSync('stty', ['-F', b.path, '115200', 'raw', '-echo']);
  // Modem-control ioctls (DTR/RTS): they fail on a pty, which must not hurt.
  // Node has no ioctl(), so use python3 when it is there.
  let py = null;
  try { execFileSync('python3', ['-c', 'import fcntl, termios']); py = 'python3'; } catch { /* skip */ }
  if (py) {
    const out = execFileSync(py, ['-c', [
      'import os, sys, fcntl, termios, struct',
      'fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)',
      'for req in (termios.TIOCMGET, termios.TIOCMSET, termios.TIOCMBIS):',
      '    try: fcntl.ioctl(fd, req, struct.pack("i", termios.TIOCM_DTR))',
      '    except OSError as e: print(e.errno)',
      'os.close(fd)',
    ].join('\n'), b.path]).toString();
    assert.ok(out.trim().length > 0); // errors reported, nothing crashed
  }
  for (let i = 0; i < 3; i++) {
    const p = await rawPort(B.tty);
    assert.deepEqual(await p.exec(`print(${i})`), { out: `${i}\r\n`, err: '' });
    p.close();
  }
  // Two other boards answer concurrently.
  const [x, y] = await Promise.all([B.e32, B.e8266].map(async (bp) => {
    const p = await rawPort(bp);
    const r = await p.exec('import sys\nprint(sys.platform)');
    p.close();
    return r.out;
  }));
  assert.deepEqual([x, y], ['esp32\r\n', 'esp8266\r\n']);
  assert.notEqual((await B.e32).path, (await B.e8266).path);
});

test('SIGTERM: flash and counters written, --link removed, clean exit', async () => {
  const b = await B.term;
  const link = LINK;
  assert.equal(fs.readlinkSync(link), b.path);
  const p = await rawPort(Promise.resolve({ path: link }));
  // Write without an execution boundary being the last thing: the file is
  // written back after the execution anyway, and again at exit.
  assert.deepEqual(await p.exec("f = open('x.txt', 'w'); f.write('kept'); f.close()"), { out: '', err: '' });
  p.close();
  b.proc.kill('SIGTERM');
  assert.equal(await b.exited, 0);
  assert.equal(fs.readFileSync(path.join(b.flash, 'x.txt'), 'utf8'), 'kept');
  assert.ok(!fs.existsSync(link));
  assert.ok(b.readCounters().executions >= 1);
});

// A program that sleeps while the host sends `n` bytes, then counts what the
// stdin ring kept, reading with select.poll until 100 ms pass without a byte.
const RING_PROBE = [
  'import sys, time, select, micropython',
  'micropython.kbd_intr(-1)',
  "sys.stdout.write('S')",
  'time.sleep_ms(400)',
  'p = select.poll()',
  'p.register(sys.stdin, select.POLLIN)',
  'b = bytearray(1)',
  'n = 0',
  'while p.poll(100):',
  '    sys.stdin.buffer.readinto(b)',
  '    n += 1',
  'print(n)',
].join('\n');

test('stdin ring: esp32 keeps 259 bytes, esp8266 255 (ring arrays of 260 / 256, one slot empty); the rest is dropped', async () => {
  for (const [name, usable] of [['drop', 259], ['ring8', 255]]) {
    const b = await B[name];
    const p = await rawPort(B[name]);
    const before = b.readCounters();
    p.write(RING_PROBE + '\x04');
    await p.readUntil('OKS');
    p.write(Buffer.alloc(1000, 0x61)); // 10 ms at 1 Mbaud, well inside the sleep
    assert.deepEqual(await p.readResult(), { out: `${usable}\r\n`, err: '' }, name);
    const after = b.readCounters();
    assert.equal(after.dropped_bytes - before.dropped_bytes, 1000 - usable, name);
    p.close();
  }
});

test('select.poll on sys.stdin: times out without input, reports POLLIN when a byte arrives', async () => {
  const p = await rawPort(B.pace);
  const r = await p.exec([
    'import sys, select, time',
    'p = select.poll()',
    'p.register(sys.stdin, select.POLLIN)',
    't = time.ticks_ms()',
    'r = p.poll(300)',
    'print(r, time.ticks_diff(time.ticks_ms(), t) >= 290)',
  ].join('\n'));
  assert.deepEqual(r, { out: '[] True\r\n', err: '' });
  p.write("import sys, select\np = select.poll()\np.register(sys.stdin.buffer, select.POLLIN)\nsys.stdout.write('W')\n" +
    'r = p.poll(5000)\nprint(r[0][1] == select.POLLIN, sys.stdin.buffer.read(2))\x04');
  await p.readUntil('OKW');
  p.write('hi');
  assert.deepEqual(await p.readResult(), { out: "True b'hi'\r\n", err: '' });
  p.close();
});

test('flash program/erase time: a sender that does not wait for a board writing to flash overruns its ring', async () => {
  const b = await B.pace; // 115200 baud: a 45 ms block erase lets 518 bytes arrive
  const p = await rawPort(B.pace);
  const before = b.readCounters();
  // Reads 128-byte blocks and writes each to flash: quick enough for the
  // line if writing cost nothing.
  p.write([
    'import sys',
    "f = open('recv.bin', 'wb')",
    'blk = bytearray(128)',
    "sys.stdout.write('G')",
    'for i in range(32):',
    '    sys.stdin.buffer.readinto(blk)',
    '    f.write(blk)',
    'f.close()',
    "print('all')",
  ].join('\n') + '\x04');
  await p.readUntil('OKG');
  p.write(Buffer.alloc(4096, 0x55)); // 0.36 s on the line, unpaced by the board
  // Lost bytes leave the program waiting for more: interrupt it once the
  // line has been quiet for a while.
  await new Promise((r) => setTimeout(r, 1500));
  const after = b.readCounters();
  p.write('\x03');
  const r = await p.readResult(10000);
  const dropped = after.dropped_bytes - before.dropped_bytes;
  assert.ok(dropped > 0, `dropped ${dropped}: ${JSON.stringify(r)}`);
  assert.match(r.err, /KeyboardInterrupt/);
  assert.ok(after.flash_ops - before.flash_ops >= 3, 'create, erase, program');
  // The chip's time is counted: one 4 KB erase (45 ms) at least.
  const busy = after.flash_busy_us - before.flash_busy_us;
  assert.ok(busy >= 45000 && busy < 1000000, `flash busy ${busy} us`);
  p.close();
});

test('counters are written while a program runs (a test can act in the middle of a transfer)', async () => {
  const b = await B.pace;
  const p = await rawPort(B.pace);
  const before = b.readCounters();
  p.write("import sys, micropython\nmicropython.kbd_intr(-1)\nsys.stdout.write('G')\n" +
    'n = len(sys.stdin.buffer.read(11520))\nprint(n)\x04');
  await p.readUntil('OKG', 10000);
  p.write(Buffer.alloc(11520, 0x55)); // one second on the line
  let mid = null;
  const deadline = Date.now() + 10000;
  while (!mid && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const c = b.readCounters();
    const moved = c.rx_bytes - before.rx_bytes;
    if (moved > 1000 && moved < 11000) mid = c;
  }
  assert.ok(mid, 'rx_bytes seen between 1000 and 11000 during the transfer');
  assert.equal(mid.executions, before.executions, 'the execution has not ended yet');
  assert.deepEqual(await p.readResult(10000), { out: '11520\r\n', err: '' });
  assert.equal(b.readCounters().executions, before.executions + 1);
  p.close();
});

test('rx_wait_us: the time a program waited for the line, not the time it wrote flash between looks at the ring', async () => {
  const b = await B.pace;
  const p = await rawPort(B.pace);
  let before = b.readCounters();
  // A read that waits until the host sends a byte at least 0.4 s later.
  p.write("import sys\nsys.stdout.write('G')\nprint(sys.stdin.buffer.read(1))\x04");
  await p.readUntil('G', 5000);
  await new Promise((r) => setTimeout(r, 400));
  p.write('x');
  assert.deepEqual(await p.readResult(5000), { out: "b'x'\r\n", err: '' });
  let c = b.readCounters();
  const waited = c.rx_wait_us - before.rx_wait_us;
  assert.ok(waited >= 380000 && waited < 5000000, `rx_wait_us grew by ${waited} for a 0.4 s wait`);
  // 16 KB written in 512-byte writes (four block erases, 45 ms each),
  // the ring looked at (and found empty) before each: that is the chip's
  // time, not the line's.
  before = c;
  assert.deepEqual(await p.exec("import sys, select\nq = select.poll()\nq.register(sys.stdin, select.POLLIN)\n" +
    "f = open('w.bin', 'wb')\nb = bytearray(512)\nfor i in range(32):\n" +
    "    next(q.ipoll(0), None)\n    f.write(b)\nf.close()\nprint('done')"), { out: 'done\r\n', err: '' });
  c = b.readCounters();
  const busy = c.flash_busy_us - before.flash_busy_us;
  const polled = c.rx_wait_us - before.rx_wait_us;
  assert.ok(busy >= 180000, `flash busy ${busy} us`);
  assert.ok(polled < busy / 4, `rx_wait_us grew by ${polled} while the chip was busy ${busy} us`);
  p.close();
});

test('main.py that raises: the board prints its traceback as the firmware does, then the REPL', async () => {
  const b = await B.tb;
  const p = new Port(b.path);
  await p.drain(200);
  p.write('\x04'); // soft reset at the friendly prompt runs main.py again
  const out = (await p.readUntil('>>> ', 5000)).toString();
  assert.match(out, /MPY: soft reboot\r\napp\r\nTraceback \(most recent call last\):\r\n {2}File "main\.py", line 4, in <module>\r\n {2}File "main\.py", line 3, in f\r\nNameError: name 'undefined_name' isn't defined\r\nMicroPython v1\.27\.0/);
  p.close();
});

// Writes a.tmp, then (second execution) renames it over a.txt.
const WRITE_TMP = "f = open('a.tmp', 'w')\nf.write('new')\nf.close()";
const RENAME = "import os\nos.rename('a.tmp', 'a.txt')";

async function renameOps(fsArgs) {
  const b = await startBoard([...FAST, ...fsArgs], { files: { 'a.txt': 'old' } });
  const p = await rawPort(Promise.resolve(b));
  assert.deepEqual(await p.exec(WRITE_TMP), { out: '', err: '' });
  const ops1 = b.readCounters().flash_ops;
  assert.deepEqual(await p.exec(RENAME), { out: '', err: '' });
  const c = b.readCounters();
  p.close();
  await b.stop();
  assert.equal(fs.readFileSync(path.join(b.flash, 'a.txt'), 'utf8'), 'new');
  fs.rmSync(b.flash, { recursive: true, force: true });
  return { ops1, renameOps: c.flash_ops - ops1, renamed: c.files_renamed, removed: c.files_removed };
}

async function cutAt(fsArgs, op) {
  const b = await startBoard([...FAST, ...fsArgs, '--power-cut-op', String(op)], { files: { 'a.txt': 'old' } });
  const p = await rawPort(Promise.resolve(b));
  await p.exec(WRITE_TMP);
  p.write(RENAME + '\x04');
  assert.equal(await b.exited, 3);
  p.close();
  const files = {};
  for (const n of fs.readdirSync(b.flash)) files[n] = fs.readFileSync(path.join(b.flash, n), 'utf8');
  fs.rmSync(b.flash, { recursive: true, force: true });
  return { files, stderr: b.stderr() };
}

test('--fs fat: rename over a file is remove-then-rename, and a power cut between leaves no target; littlefs renames atomically', async () => {
  const fat = await renameOps(['--fs', 'fat']);
  assert.equal(fat.renameOps, 2, 'FAT: remove, then rename');
  assert.deepEqual([fat.renamed, fat.removed], [1, 1]);
  const lfs = await renameOps([]);
  assert.equal(lfs.renameOps, 1, 'littlefs: one metadata commit');
  assert.deepEqual([lfs.renamed, lfs.removed], [1, 0]);
  const cutFat = await cutAt(['--fs', 'fat'], fat.ops1 + 2);
  assert.deepEqual(cutFat.files, { 'a.tmp': 'new' }, 'the target is gone, the new file waits under its temporary name');
  assert.match(cutFat.stderr, /power cut before flash operation \d+ \(rename \/a\.tmp\)/);
  const cutLfs = await cutAt([], lfs.ops1 + 1);
  assert.deepEqual(cutLfs.files, { 'a.tmp': 'new', 'a.txt': 'old' });
});

test('--power-cut-seed: the cut point comes from the seed, is printed, and replays identically', async () => {
  const prog = "f = open('log.bin', 'wb')\nfor i in range(24):\n    f.write(bytes([i]) * 128)\n    if i % 4 == 3:\n        f.flush()\nf.close()";
  const runs = [];
  for (let i = 0; i < 2; i++) {
    const b = await startBoard([...FAST, '--power-cut-seed', '42', '--power-cut-ops', '40']);
    const p = await rawPort(Promise.resolve(b));
    p.write(prog + '\x04');
    assert.equal(await b.exited, 3);
    p.close();
    const m = /power-cut seed 42: the power goes off before flash operation (\d+) of 40 \(replay: --power-cut-seed 42 --power-cut-ops 40\)/.exec(b.stderr());
    assert.ok(m, b.stderr());
    runs.push({ op: m[1], data: fs.readFileSync(path.join(b.flash, 'log.bin')) });
    fs.rmSync(b.flash, { recursive: true, force: true });
  }
  assert.equal(runs[0].op, runs[1].op);
  assert.ok(runs[0].data.equals(runs[1].data));
  // Cut mid-file: what was flushed is there, a multiple of 512 bytes.
  assert.equal(runs[0].data.length % 512, 0);
});

// machine.Timer (see shim.py _Timer): the callback prints at the REPL,
// main.py's Ctrl-C does not stop it, a soft reset does.
test('machine.Timer: a callback runs while the REPL waits, outlives Ctrl-C, ends at a soft reset', async () => {
  const b = await startBoard(FAST, {
    files: { 'main.py': "import machine\n\ndef t(_):\n    print('tick')\n\nmachine.Timer(0).init(period=20, mode=machine.Timer.PERIODIC, callback=t)\n" },
  });
  const p = new Port(b.path);
  try {
    await p.readUntil('tick\r\ntick\r\n', 3000, 'ticks at the friendly REPL');
    await p.enterRaw();
    await p.readUntil('tick\r\n', 3000, 'ticks at the raw REPL, after Ctrl-C');
    p.write('\x04');
    await p.readUntil('raw REPL; CTRL-B to exit\r\n>', 5000);
    await p.drain(300);
    assert.equal((await p.drain(300)).toString('latin1'), '', 'a tick after the soft reset');
  } finally {
    p.close();
    await b.stop();
  }
});
