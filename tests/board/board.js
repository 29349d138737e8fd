#!/usr/bin/env node
'use strict';
// MicroPython board emulator: a real MicroPython interpreter (WebAssembly)
// behind a pseudo-terminal, behaving like an ESP32/ESP8266 on the wire.
//
//   node tests/board/board.js --flash DIR [--link PATH] [--profile esp32|esp8266]
//        [--baud N] [--ring N] [--exec-delay MS] [--heap BYTES]
//        [--flash-size BYTES] [--fs lfs|fat] [--flash-prog-us US] [--flash-erase-us US]
//        [--power-cut-after N] [--power-cut-seed S (--power-cut-ops N | --power-cut-bytes N)]
//        [--power-cut-op K] [--no-deflate]
//        [--no-stdin-buffer] [--no-raw-paste] [--no-sha1] [--counters FILE]
//
// Prints exactly one line "READY <pty-slave-path>" on stdout when the board
// has booted; everything else (logs) goes to stderr.
//
// Threads / processes:
//   ptybridge (C)  pty master <-> pipes           (ptybridge.c)
//   main thread    CLI, wire + UART model, counters (this file, line.js)
//   worker thread  the CPU: interpreter + REPL     (worker.js, repl.js)

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawn, execFileSync } = require('child_process');
const { Worker } = require('worker_threads');
const { CTL, CMD_EXIT, makeShared, views, wake } = require('./shared');
const { Line } = require('./line');

const PROFILES = {
  esp32: {
    platform: 'esp32',
    machine: 'Generic ESP32 module with ESP32',
    heap: 110 * 1024,
    freq: 160000000,
    uidLen: 6,
    ring: 260,  // ports/esp32/mphalport.c: stdin_ringbuf_array[260] (259 usable)
  },
  esp8266: {
    platform: 'esp8266',
    machine: 'ESP module with ESP8266',
    heap: 40 * 1024,
    freq: 80000000,
    uidLen: 4,
    ring: 256,  // ports/esp8266/esp_mphal.c: stdin_ringbuf_array[256] (255 usable)
  },
};

function usage(msg) {
  if (msg) process.stderr.write('board: ' + msg + '\n');
  process.stderr.write(
    'usage: node tests/board/board.js --flash DIR [--link PATH] [--profile esp32|esp8266]\n' +
    '       [--baud N (default 115200; 0 = unpaced)] [--ring N (stdin ring; default esp32 260, esp8266 256)]\n' +
    '       [--exec-delay MS] [--heap BYTES] [--heap-soft] [--flash-size BYTES] [--fs lfs|fat]\n' +
    '       [--flash-prog-us US (default 700)] [--flash-erase-us US (default 45000)]\n' +
    '       [--power-cut-after N] [--power-cut-op K] [--power-cut-seed S --power-cut-ops N|--power-cut-bytes N]\n' +
    '       [--no-deflate]\n' +
    '       [--no-stdin-buffer] [--no-raw-paste] [--no-sha1] [--counters FILE]\n' +
    '       [--exit-with-parent] [--unique-id HEX]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    flash: null, link: null, profile: 'esp32', baud: 115200, ring: null, execDelay: 0,
    heap: null, heapSoft: false, flashSize: 0, powerCutAfter: 0, deflate: true, stdinBuffer: true,
    rawPaste: true, sha1: true, counters: null, exitWithParent: false,
    fs: 'lfs', progUs: 700, eraseUs: 45000,
    cutOp: 0, cutSeed: null, cutOps: 0, cutBytes: 0, uniqueId: null,
  };
  const num = (v, name) => {
    if (v === undefined || !/^\d+$/.test(v)) usage(`${name} needs a non-negative integer`);
    return parseInt(v, 10);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--flash': o.flash = argv[++i]; break;
      case '--link': o.link = argv[++i]; break;
      case '--profile': o.profile = argv[++i]; break;
      case '--baud': o.baud = num(argv[++i], a); break;
      // --fifo: the old name of --ring (same meaning: the ring array's size).
      case '--ring': case '--fifo': o.ring = num(argv[++i], a); break;
      case '--fs': o.fs = argv[++i]; break;
      case '--flash-prog-us': o.progUs = num(argv[++i], a); break;
      case '--flash-erase-us': o.eraseUs = num(argv[++i], a); break;
      case '--power-cut-op': o.cutOp = num(argv[++i], a); break;
      case '--power-cut-seed': o.cutSeed = num(argv[++i], a); break;
      case '--power-cut-ops': o.cutOps = num(argv[++i], a); break;
      case '--power-cut-bytes': o.cutBytes = num(argv[++i], a); break;
      case '--exec-delay': o.execDelay = num(argv[++i], a); break;
      case '--heap': o.heap = num(argv[++i], a); break;
      case '--heap-soft': o.heapSoft = true; break;
      case '--flash-size': o.flashSize = num(argv[++i], a); break;
      case '--power-cut-after': o.powerCutAfter = num(argv[++i], a); break;
      case '--counters': o.counters = argv[++i]; break;
      case '--unique-id': o.uniqueId = argv[++i]; break;
      case '--no-deflate': o.deflate = false; break;
      case '--no-stdin-buffer': o.stdinBuffer = false; break;
      case '--no-raw-paste': o.rawPaste = false; break;
      case '--no-sha1': o.sha1 = false; break;
      case '--exit-with-parent': o.exitWithParent = true; break;
      case '-h': case '--help': usage(); break;
      default: usage('unknown option ' + a);
    }
  }
  if (!o.flash) usage('--flash DIR is required');
  if (!PROFILES[o.profile]) usage('unknown profile ' + o.profile);
  if (o.ring === null) o.ring = PROFILES[o.profile].ring;
  // machine.unique_id() is the chip's id, as many bytes as the port gives:
  // 6 on the ESP32 (ports/esp32/modmachine.c: esp_efuse_mac_get_default
  // into chipid[6]), 4 on the ESP8266 (system_get_chip_id()).
  if (o.uniqueId !== null && (!/^([0-9a-f]{2})+$/.test(o.uniqueId) ||
      o.uniqueId.length !== 2 * PROFILES[o.profile].uidLen))
    usage(`--unique-id needs ${PROFILES[o.profile].uidLen} bytes in lowercase hex for ${o.profile}`);
  if (o.ring < 2) usage('--ring must be at least 2 (one slot stays empty)');
  if (o.fs !== 'lfs' && o.fs !== 'fat') usage('--fs must be lfs or fat');
  if (o.cutSeed !== null) {
    if (!!o.cutOps === !!o.cutBytes) usage('--power-cut-seed needs one of --power-cut-ops N or --power-cut-bytes N (N >= 1)');
    const k = 1 + Math.floor(seeded(o.cutSeed) * (o.cutOps || o.cutBytes));
    if (o.cutOps) o.cutOp = k; else o.powerCutAfter = k;
    process.stderr.write(`board: power-cut seed ${o.cutSeed}: the power goes off ` +
      (o.cutOps ? `before flash operation ${k} of ${o.cutOps}` : `at received byte ${k} of ${o.cutBytes}`) +
      ` (replay: --power-cut-seed ${o.cutSeed} ${o.cutOps ? '--power-cut-ops ' + o.cutOps : '--power-cut-bytes ' + o.cutBytes})\n`);
  } else if (o.cutOps || o.cutBytes) {
    usage('--power-cut-ops / --power-cut-bytes need --power-cut-seed');
  }
  return o;
}

// A number in [0, 1) from a seed: the same seed always gives the same cut.
function seeded(seed) {
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < 8; i++) { // xorshift32, a few rounds to spread small seeds
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
  }
  return x / 4294967296;
}

// Build the pty helper if it is missing or older than its source.
function ensureBridge() {
  const src = path.join(__dirname, 'ptybridge.c');
  const bin = path.join(__dirname, 'ptybridge');
  let stale = true;
  try { stale = fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs; } catch { /* missing */ }
  if (stale) {
    // Several boards may start at once: build privately, then rename into
    // place atomically so nobody executes a half-written binary.
    const tmp = `${bin}.${process.pid}.tmp`;
    execFileSync('cc', ['-O2', '-Wall', '-o', tmp, src], { stdio: ['ignore', 'inherit', 'inherit'] });
    fs.renameSync(tmp, bin);
  }
  return bin;
}

function main() {
  const opt = parseArgs(process.argv.slice(2));
  const prof = PROFILES[opt.profile];
  fs.mkdirSync(opt.flash, { recursive: true });

  // See README.md "Counters"; written while things happen (writeSoon).
  const counters = {
    rx_bytes: 0, tx_bytes: 0, dropped_bytes: 0, executions: 0,
    raw_repl_entries: 0, raw_paste_sessions: 0, soft_resets: 0, hard_resets: 0,
    files_written: 0, files_renamed: 0, files_removed: 0, flash_ops: 0, flash_busy_us: 0, rx_wait_us: 0,
  };
  let counterTimer = null;
  // Counters change all the time during a push: write them at most every
  // 20 ms, so a test can read them (and act) in the middle of one.
  function writeSoon() {
    if (!opt.counters || counterTimer || finished) return;
    counterTimer = setTimeout(() => { counterTimer = null; writeCounters(); }, 20);
  }
  function writeCounters() {
    if (!opt.counters) return;
    if (counterTimer) { clearTimeout(counterTimer); counterTimer = null; }
    const tmp = opt.counters + '.tmp' + process.pid;
    try {
      fs.writeFileSync(tmp, JSON.stringify(counters) + '\n');
      fs.renameSync(tmp, opt.counters);
    } catch (e) {
      process.stderr.write('board: cannot write counters: ' + e.message + '\n');
    }
  }

  const bridge = spawn(ensureBridge(), [], { stdio: ['pipe', 'pipe', 'inherit'] });
  let slavePath = null;
  let linkMade = false;
  let finished = false;
  let line = null;
  let worker = null;

  function finish(code) {
    if (finished) return;
    finished = true;
    if (line) line.stop();
    writeCounters();
    if (linkMade) { try { fs.unlinkSync(opt.link); } catch { /* gone */ } }
    try { bridge.stdin.end(); } catch { /* gone */ }
    try { bridge.kill('SIGTERM'); } catch { /* gone */ }
    const done = () => {
      if (code === 3) process.stdout.write('POWERCUT\n');
      process.exitCode = code;
      setImmediate(() => process.exit(code));
    };
    if (worker) worker.terminate().then(done, done); else done();
  }

  // Ask the firmware to write its flash back and stop; give up after a while
  // (e.g. code stuck in a loop that never calls into the host).
  function requestExit(code) {
    if (finished) return;
    if (!worker) return finish(code);
    Atomics.store(ctl, CTL.CMD, CMD_EXIT);
    wake(ctl);
    exitCode = code;
    setTimeout(() => finish(code), 2000).unref();
  }
  let exitCode = 0;

  // For test harnesses: do not outlive a parent that crashed or was killed.
  if (opt.exitWithParent) {
    const parent = process.ppid;
    setInterval(() => { if (process.ppid !== parent) requestExit(0); }, 500).unref();
  }

  process.on('SIGTERM', () => requestExit(0));
  process.on('SIGINT', () => requestExit(0));
  bridge.on('exit', () => {
    if (!finished) {
      process.stderr.write('board: ptybridge exited\n');
      requestExit(1); // still write the flash back
    }
  });

  const sab = makeShared();
  const { ctl, fifo } = views(sab);

  let readyPrinted = false;
  function printReady() {
    if (readyPrinted || !slavePath) return;
    readyPrinted = true;
    writeCounters();
    process.stdout.write('READY ' + slavePath + '\n');
  }

  let pending = Buffer.alloc(0);
  bridge.stdout.on('data', (d) => {
    if (slavePath === null) {
      pending = Buffer.concat([pending, d]);
      const nl = pending.indexOf(10);
      if (nl < 0) return;
      slavePath = pending.subarray(0, nl).toString().trim();
      const rest = pending.subarray(nl + 1);
      start();
      if (rest.length) line.fromHost(rest);
      return;
    }
    line.fromHost(d);
  });

  function start() {
    if (opt.link) {
      try { fs.unlinkSync(opt.link); } catch { /* none */ }
      fs.symlinkSync(slavePath, opt.link);
      linkMade = true;
    }
    line = new Line({
      baud: opt.baud,
      ringSize: opt.ring,
      ctl, fifo,
      counters,
      changed: writeSoon,
      powerCutAfter: opt.powerCutAfter,
      toHost: (b) => {
        // Nobody reading the port for a long time: like a USB-serial chip
        // with a full buffer, further output is lost instead of piling up.
        if (!finished && bridge.stdin.writableLength < (1 << 20)) bridge.stdin.write(Buffer.from(b));
      },
      onPowerCut: () => {
        // The worker persists the flash at once; fall back to the last
        // write-back if it cannot answer (stuck in pure computation).
        setTimeout(() => finish(3), 2000).unref();
      },
    });
    line.onInterrupt = armWatchdog;
    spawnWorker(null);
  }

  // A stable per-board chip id, derived from the flash directory unless
  // --unique-id gives it (a board keeps its id when its pty changes).
  const uid = opt.uniqueId || crypto.createHash('sha256').update(path.resolve(opt.flash)).digest()
    .subarray(0, prof.uidLen).toString('hex');
  let mainTimer = null;

  function spawnWorker(resume) {
    worker = new Worker(path.join(__dirname, 'worker.js'), {
      workerData: {
        sab, baud: opt.baud,
        flashDir: opt.flash, flashSize: opt.flashSize,
        fs: opt.fs, progUs: opt.progUs, eraseUs: opt.eraseUs,
        cutOp: opt.cutOp, powerCutAfter: opt.powerCutAfter,
        heap: opt.heap === null ? prof.heap : opt.heap,
        heapSoft: opt.heapSoft,
        execDelay: opt.execDelay,
        deflate: opt.deflate, stdinBuffer: opt.stdinBuffer, rawPaste: opt.rawPaste, sha1: opt.sha1,
        platform: prof.platform, machine: prof.machine, freq: prof.freq, uid,
        resume,
      },
    });
    const me = worker;
    worker.on('message', (m) => {
      if (me !== worker) return; // a worker we already replaced
      switch (m.t) {
        case 'tx': line.fromBoard(m.b); break;
        case 'inc':
          counters[m.k]++;
          if (m.k === 'flash_ops' || m.k.startsWith('files_')) writeSoon(); else writeCounters();
          break;
        case 'add':
          counters[m.k] += m.v;
          writeSoon();
          break;
        case 'ready': printReady(); break;
        case 'main-start':
          // A main.py that never returns must not keep READY back forever.
          if (!readyPrinted && !mainTimer) mainTimer = setTimeout(printReady, 300);
          break;
        case 'powercut':
          process.stderr.write(`board: power cut ${m.where}\n`);
          finish(3);
          break;
        case 'exited': finish(exitCode); break;
        case 'crash': crashed(); break;
        default: break;
      }
    });
    worker.on('error', (e) => {
      if (me !== worker) return;
      process.stderr.write('board: worker error: ' + (e && e.stack || e) + '\n');
      crashed();
    });
    worker.on('exit', () => { if (me === worker && !finished) crashed(); });
  }

  // The interpreter died (a wasm abort, a bug of ours): like a board after a
  // crash, come back with a hard reset rather than disappear.
  let crashes = 0;
  function crashed() {
    if (finished) return;
    if (++crashes > 20) { process.stderr.write('board: too many crashes\n'); finish(1); return; }
    const old = worker;
    worker = null;
    if (old) old.terminate();
    for (const k of ['KBD', 'BUSY', 'KIND', 'CMD']) Atomics.store(ctl, CTL[k], 0);
    Atomics.store(ctl, CTL.INTR, -1);
    counters.hard_resets++;
    writeCounters();
    spawnWorker(null);
  }

  // Watchdog for Ctrl-C.  The interpreter notices a pending Ctrl-C only when
  // the running code calls into the host (sleep, print, I/O).  Pure
  // computation (`while True: pass`) never does, so if a Ctrl-C stays
  // unclaimed for a second we restart the interpreter and let the firmware
  // report the KeyboardInterrupt.  Globals are lost; the flash is as of the
  // last write-back.  (A real board would stop the loop in place.)
  let watchdog = null;
  function armWatchdog() {
    if (watchdog || !Atomics.load(ctl, CTL.BUSY)) return;
    watchdog = setTimeout(() => {
      watchdog = null;
      if (finished || !Atomics.load(ctl, CTL.KBD) || !Atomics.load(ctl, CTL.BUSY)) return;
      const kind = { 1: 'raw', 2: 'friendly', 3: 'file' }[Atomics.load(ctl, CTL.KIND)] || 'file';
      const mode = Atomics.load(ctl, CTL.MODE) === 1 ? 'raw' : 'friendly';
      process.stderr.write(`board: code ignored Ctrl-C; restarting the interpreter (${mode}/${kind}; ` +
        'a loop without calls into the host, or a MemoryError on a full heap: tests/board/README.md)\n');
      const old = worker;
      worker = null;
      old.terminate();
      for (const k of ['KBD', 'BUSY', 'KIND']) Atomics.store(ctl, CTL[k], 0);
      Atomics.store(ctl, CTL.INTR, -1);
      spawnWorker({ mode, kind });
    }, 1000);
  }
}

main();
