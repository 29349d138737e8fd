'use strict';
// The board's CPU: runs the MicroPython (WebAssembly) interpreter and the
// firmware's REPL loop in a worker thread, so that the firmware can block on
// its UART exactly like the real thing (Atomics.wait on the shared FIFO)
// while the main thread keeps the wire moving.
//
// This file owns the interpreter and the low-level I/O that the firmware
// loop (repl.js) uses:
//   rx()        blocking read of one byte from the RX FIFO
//   tx()        output to the line (LF -> CRLF like mp_hal_stdout_tx_strn_cooked)
//   exec()      run Python source, report stdout / exception / SystemExit
//   reboot()    fresh interpreter (soft or hard reset), flash carried over
//   sweep()     what a soft reset does before "MPY: soft reboot"
//
// Things the WebAssembly build cannot do by itself and how we get them:
//   - Ctrl-C: the build has no VM hook into JS, so we wrap some of the wasm
//     imports the interpreter calls anyway (time, output) and our own
//     functions; each checks the shared KBD flag and schedules a
//     KeyboardInterrupt with mp_sched_keyboard_interrupt().
//   - A fixed heap: the build's GC heap grows on demand via malloc.  After
//     start-up we deny wasm memory growth and "eat" all free malloc memory,
//     keeping only a small reserve for the JS glue; any GC heap extension
//     request is at least the heap size and so fails -> MemoryError.
//   - time.sleep busy-waits on ticks_ms; we throttle rapid ticks calls with
//     short Atomics.wait naps (woken early by line events) to spare the CPU.

const { workerData, parentPort } = require('worker_threads');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { CTL, CMD_POWERCUT, KIND_RAW, KIND_FILE, RX_NONE, RX_PROGRAM, RX_REPL, STORE } = require('./shared');
const { Flash } = require('./flash');
const { Firmware } = require('./repl');

const cfg = workerData;
const ctl = new Int32Array(cfg.sab, 0, CTL.N);
const fifo = new Uint8Array(cfg.sab, CTL.N * 4, STORE);
let flashOps = 0;
const flash = new Flash(cfg.flashDir, cfg.flashSize, {
  fs: cfg.fs,
  progUs: cfg.progUs,
  eraseUs: cfg.eraseUs,
  onOp(kind, p) {
    flashOps++;
    count('flash_ops');
    if (cfg.cutOp && flashOps === cfg.cutOp) powerCut(`before flash operation ${flashOps} (${kind} ${p.replace(/^\/flash/, '')})`);
  },
  // The CPU waits for the flash chip: nothing reads the UART meanwhile.
  onBusy(ms) {
    parentPort.postMessage({ t: 'add', k: 'flash_busy_us', v: Math.round(ms * 1000) });
    lastEmptyAsk = -1;
    sleepMs(ms);
  },
  count,
});

function count(k) {
  parentPort.postMessage({ t: 'inc', k });
}

// The power goes off now: flash as a cut leaves it (see flash.js), then
// nothing ever again (the main thread ends us).
function powerCut(where) {
  flushTx();
  try {
    flash.revertOpen();
    flash.syncOut();
  } catch (e) { process.stderr.write('board: flash sync failed: ' + e + '\n'); }
  parentPort.postMessage({ t: 'powercut', where });
  const never = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(never, 0, 0);
}

// ---------------------------------------------------------------- wasm hooks

let M = null;            // current Emscripten module
let mp = null;           // current loadMicroPython() API object
let denyGrow = false;    // set once the heap is pinned
let lastTick = 0;
let fastTicks = 0;
let napped = false;

const realInstantiate = WebAssembly.instantiate;
WebAssembly.instantiate = async function (bin, imports) {
  const env = imports.env;
  const wrap = (name, fn) => {
    const orig = env[name];
    if (typeof orig === 'function') env[name] = fn(orig);
  };
  wrap('emscripten_resize_heap', (orig) => (size) => (denyGrow ? 0 : orig(size)));
  const ticking = (orig) => () => {
    poll();
    // Busy-wait loops (time.sleep) call this millions of times a second.
    // After 200 back-to-back calls (< 50 us apart, or right after a nap),
    // each call naps 0.5 ms: wall-clock time stays right, the CPU idles.
    const now = performance.now();
    if (now - lastTick < (napped ? 0.8 : 0.05)) {
      napped = ++fastTicks > 200;
      if (napped) napOnLine(0.5);
    } else {
      fastTicks = 0;
      napped = false;
    }
    lastTick = performance.now();
    return orig();
  };
  wrap('mp_js_ticks_ms', (orig) => {
    const tick = ticking(orig);
    return () => {
      const ms = tick();
      if (kbdAt >= 0 && sleepWakes()) {
        // Out of any mp_hal_delay_ms in progress: 2**31 more ms than it
        // waits for.  Python never sees the jump: time.ticks_ms() keeps
        // 30 bits (extmod/modtime.c, MICROPY_PY_TIME_TICKS_PERIOD), and
        // ticks_us, ms * 1000, gains 2**34 * 125, nothing in 32 bits.
        ticksJump = (ticksJump + 2 ** 31) % 2 ** 32;
        kbdAt = -1;
      }
      return ms + ticksJump;
    };
  });
  wrap('mp_js_time_ms', ticking);
  const wasi = imports.wasi_snapshot_preview1;
  if (wasi && typeof wasi.fd_write === 'function') {
    const orig = wasi.fd_write;
    wasi.fd_write = (...a) => { const r = orig(...a); poll(); return r; };
  }
  if (env.fd_write) {
    const orig = env.fd_write;
    env.fd_write = (...a) => { const r = orig(...a); poll(); return r; };
  }
  // Compile once per worker; soft resets only instantiate again.
  if (!compiled) compiled = bin instanceof WebAssembly.Module ? bin : await WebAssembly.compile(bin);
  const instance = await realInstantiate.call(this, compiled, imports);
  wasmMemory = instance.exports.memory;
  return { module: compiled, instance };
};
let compiled = null;
let wasmMemory = null;

// Sleep until something happens on the line, at most ms milliseconds.
function napOnLine(ms) {
  flushTx();
  const seq = Atomics.load(ctl, CTL.SEQ);
  Atomics.wait(ctl, CTL.SEQ, seq, ms);
}

// ------------------------------------------------------------------ the line

let txbuf = [];
let lastFlush = 0;

function flushTx() {
  if (txbuf.length) {
    parentPort.postMessage({ t: 'tx', b: Uint8Array.from(txbuf) });
    txbuf = [];
  }
  lastFlush = performance.now();
}

// Cooked output: what print() and tracebacks produce.
// Some interpreter paths (mem_info, ...) already cook; never double the CR.
let lastOut = 0;
function txCooked(bytes) {
  for (const c of bytes) {
    if (c === 10 && lastOut !== 13) txbuf.push(13);
    txbuf.push(c);
    lastOut = c;
  }
  if (txbuf.length >= 512) flushTx();
}

// Raw output: protocol bytes and sys.stdout.buffer.
function tx(data) {
  if (typeof data === 'string') {
    for (let i = 0; i < data.length; i++) txbuf.push(data.charCodeAt(i) & 0xff);
  } else {
    for (const c of data) txbuf.push(c);
  }
  if (txbuf.length >= 512) flushTx();
}

let busy = false;        // executing Python code (interrupt char armed)
let kbdScheduled = false;

// A Ctrl-C ends a time.sleep on a board: ports/esp32/mphalport.c
// mp_hal_delay_ms runs MICROPY_EVENT_POLL_HOOK (pending exceptions), then
// waits one FreeRTOS tick (ulTaskNotifyTake, 10 ms); ports/esp8266/
// esp_mphal.c mp_hal_delay_us handles them in its loop.  The WebAssembly
// port's mp_hal_delay_ms busy-waits on mp_js_ticks_ms without
// (ports/webassembly/mphalport.c), so a KeyboardInterrupt waited for the
// sleep to end.  From the tick after a Ctrl-C (esp32) or at once
// (esp8266), the ticks it reads jump far ahead, which ends the wait.
let kbdAt = -1;          // when a Ctrl-C was scheduled; -1: none waits
let ticksJump = 0;       // added to mp_js_ticks_ms, 0 or 2**31
const TICK_MS = 10;      // CONFIG_FREERTOS_HZ 100

function sleepWakes() {
  if (cfg.platform !== 'esp32') return true;
  return Math.floor(performance.now() / TICK_MS) > Math.floor(kbdAt / TICK_MS);
}

// Called from many places while Python runs: handles main-thread commands
// and delivers Ctrl-C.
function poll() {
  Atomics.add(ctl, CTL.BEAT, 1);
  const cmd = Atomics.load(ctl, CTL.CMD);
  if (cmd) handleCmd(cmd);
  if (busy && Atomics.load(ctl, CTL.KBD)) {
    Atomics.store(ctl, CTL.KBD, 0);
    if (M) { M._mp_sched_keyboard_interrupt(); kbdScheduled = true; kbdAt = performance.now(); }
  }
  if (txbuf.length && performance.now() - lastFlush > 5) flushTx();
}

// Power cut or exit: persist the flash as it is right now, tell the main
// thread, and stop forever (the main thread terminates us).
function handleCmd(cmd) {
  if (cmd === CMD_POWERCUT) powerCut('after ' + cfg.powerCutAfter + ' received bytes');
  flushTx();
  try { flash.syncOut(); } catch (e) { process.stderr.write('board: flash sync failed: ' + e + '\n'); }
  parentPort.postMessage({ t: cmd === CMD_POWERCUT ? 'powercut' : 'exited' });
  const never = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(never, 0, 0);
}

// Time a running program waited for the line: in a blocking read with the
// stdin ring empty, or polling it (select.poll's ipoll asks avail() again
// and again until a byte comes or it times out: the time between two
// such asks that found the ring empty, when they follow each other within
// POLL_SPIN_MS with no flash operation between, is waiting; a single ask
// that finds nothing, as a program checking the ring between its writes
// does, is not).  The counter
// rx_wait_us, beside flash_busy_us, tells a session's time apart.
const POLL_SPIN_MS = 12;
let lastEmptyAsk = -1;
let waitedMs = 0;
function lineWaited(ms) {
  waitedMs += ms;
  if (waitedMs >= 5) flushWaited();
}
function flushWaited() {
  if (waitedMs > 0) parentPort.postMessage({ t: 'add', k: 'rx_wait_us', v: Math.round(waitedMs * 1000) });
  waitedMs = 0;
}
// avail() answered n: a poll's spell of asking.
function asked(n) {
  const now = performance.now();
  if (busy && lastEmptyAsk >= 0 && now - lastEmptyAsk < POLL_SPIN_MS) lineWaited(now - lastEmptyAsk);
  lastEmptyAsk = n > 0 ? -1 : now;
}

// Blocking read of one byte from the RX FIFO (the firmware's
// mp_hal_stdin_rx_chr).  Returns -1 if interrupted by Ctrl-C while Python
// code is running and waiting for input.
function rx() {
  lastEmptyAsk = -1;
  for (;;) {
    const cmd = Atomics.load(ctl, CTL.CMD);
    if (cmd) handleCmd(cmd);
    // Like mp_hal_stdin_rx_chr: bytes already in the ring buffer are
    // returned first; a pending Ctrl-C fires only when it runs dry.
    const tail = Atomics.load(ctl, CTL.TAIL);
    if (Atomics.load(ctl, CTL.HEAD) !== tail) {
      const b = fifo[tail % STORE];
      Atomics.store(ctl, CTL.TAIL, tail + 1);
      return b;
    }
    if (busy && Atomics.load(ctl, CTL.KBD)) {
      Atomics.store(ctl, CTL.KBD, 0);
      return -1;
    }
    if (!busy && timerDue >= 0 && performance.now() >= timerDue) {
      fireTimers();
      continue;
    }
    flushTx();
    const seq = Atomics.load(ctl, CTL.SEQ);
    if (Atomics.load(ctl, CTL.HEAD) !== tail || Atomics.load(ctl, CTL.CMD) ||
        (busy && Atomics.load(ctl, CTL.KBD))) continue;
    const w0 = performance.now();
    Atomics.wait(ctl, CTL.SEQ, seq, timerWait());
    if (busy) lineWaited(performance.now() - w0);
  }
}

// machine.Timer callbacks (shim.py _Timer) run while the firmware waits
// for input, as a board's MICROPY_EVENT_POLL_HOOK runs them in
// mp_hal_stdin_rx_chr; timerDue is when the next one is due
// (performance.now()), -1 for none.
let timerDue = -1;
function timerWait() {
  if (busy || timerDue < 0) return 1000;
  return Math.max(0, Math.min(1000, timerDue - performance.now()));
}
function fireTimers() {
  timerDue = -1;
  try {
    mp.runPython("__import__('_brd_timers').fire()\n");
  } catch (e) {
    process.stderr.write('board: timer callbacks failed: ' + e + '\n');
  }
  flushTx();
}

// Non-blocking: bytes waiting in the FIFO.
function rxAvail() {
  return Atomics.load(ctl, CTL.HEAD) - Atomics.load(ctl, CTL.TAIL);
}

function sleepMs(ms) {
  const end = performance.now() + ms;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) return;
    const cmd = Atomics.load(ctl, CTL.CMD);
    if (cmd) handleCmd(cmd);
    napOnLine(Math.min(left, 50));
  }
}

// ------------------------------------------------------- the JS side of _brd

let hardResetRequested = false;
let scratchAddr = 0;
let scratchLen = 0;
const sha1s = new Map();
let sha1Next = 1;

const brdApi = {
  // A scratch buffer in wasm memory for results (see shim.py).
  setbuf(addr, len) {
    scratchAddr = addr;
    scratchLen = len;
    return 0;
  },
  // Read up to n bytes straight into wasm memory at addr, blocking for at
  // least one; returns the count (0 = interrupted by Ctrl-C).
  rd(addr, n) {
    n = Math.max(1, n | 0);
    const first = rx();
    if (first < 0) {
      // Raise KeyboardInterrupt in the reading program.
      if (M) { M._mp_sched_keyboard_interrupt(); kbdScheduled = true; }
      return 0;
    }
    const view = new Uint8Array(wasmMemory.buffer, addr, n);
    view[0] = first;
    let got = 1;
    while (got < n && rxAvail() > 0) {
      const b = rx();
      if (b < 0) break;
      view[got++] = b;
    }
    return got;
  },
  // shim.py: a timer callback is due in ms.  From Timer.init() (running
  // code) one more timer: the earlier of the two; from fire() the next of
  // all of them (-1: none).
  timer(ms) {
    ms = Number(ms);
    const due = ms < 0 ? -1 : performance.now() + ms;
    if (!busy || timerDue < 0 || (due >= 0 && due < timerDue)) timerDue = due;
    return 0;
  },
  intr(c) {
    Atomics.store(ctl, CTL.INTR, c | 0);
    if ((c | 0) < 0) Atomics.store(ctl, CTL.KBD, 0);
  },
  txraw(addr, len) {
    tx(new Uint8Array(wasmMemory.buffer, addr, len).slice());
    return 0;
  },
  sha1_new() {
    const id = sha1Next++;
    sha1s.set(id, crypto.createHash('sha1'));
    return id;
  },
  sha1_update(id, addr, len) {
    sha1s.get(id).update(new Uint8Array(wasmMemory.buffer, addr, len));
    return 0;
  },
  sha1_digest(id) {
    const d = sha1s.get(id).copy().digest();
    new Uint8Array(wasmMemory.buffer, scratchAddr, scratchLen).set(d);
    return d.length;
  },
  hard_reset() {
    hardResetRequested = true;
  },
  // The program starts (n > 0) or ends (0) a sys.stdin read of n bytes:
  // the UART model counts those bytes as taken as they arrive (line.js).
  rxwait(n) {
    if (n > 0) {
      Atomics.store(ctl, CTL.WANT_END, Atomics.load(ctl, CTL.TAIL) + n);
      Atomics.store(ctl, CTL.RXWAIT, RX_PROGRAM);
    } else {
      Atomics.store(ctl, CTL.RXWAIT, RX_NONE);
    }
    return 0;
  },
  // Bytes waiting in the stdin ring (mp_hal_stdio_poll).
  avail() {
    const cmd = Atomics.load(ctl, CTL.CMD);
    if (cmd) handleCmd(cmd);
    const n = rxAvail();
    asked(n);
    return n;
  },
};

// A Python string literal for s (JSON string syntax is valid Python).
function pyStr(s) {
  return JSON.stringify(s);
}

// ------------------------------------------------------- interpreter control

const SHIM = fs.readFileSync(path.join(__dirname, 'shim.py'), 'utf8');
let mpModulePromise = null;
let eaten = [];

// Eat all free malloc memory in small chunks so that the GC heap cannot grow
// (see header).  Chunks are small so that temporarily releasing a few for a
// large JS->wasm string never leaves a hole as big as a heap extension.
const CHUNK = 4096;
// The heap the allocator holds the interpreter to: none with --heap-soft,
// where the heap is only what gc.mem_free() reports.
const heapLimit = cfg.heapSoft ? 0 : cfg.heap;
function pinHeap() {
  if (!heapLimit) return;
  denyGrow = true;
  for (;;) {
    const p = M._malloc(CHUNK);
    if (!p) break;
    eaten.push(p);
  }
  for (let s = CHUNK / 2; s >= 16; s >>= 1) {
    for (;;) {
      const p = M._malloc(s);
      if (!p) break;
      eaten.push(p);
    }
  }
  // Reserve for the JS glue (argument strings, result slots).
  const reserve = Math.min(16384, Math.floor(heapLimit / 3));
  for (let freed = 0; freed < reserve && eaten.length;) {
    M._free(eaten.shift());
    freed += CHUNK;
  }
}

function reEat() {
  if (!heapLimit) return;
  for (;;) {
    const p = M._malloc(CHUNK);
    if (!p) break;
    eaten.push(p);
  }
}

// Run fn with room for `bytes` extra bytes of JS->wasm data.
function withRoom(bytes, fn) {
  if (!heapLimit || bytes < 8192) return fn();
  let freed = 0;
  while (freed < bytes + CHUNK && eaten.length) {
    M._free(eaten.shift());
    freed += CHUNK;
  }
  try {
    return fn();
  } finally {
    reEat();
  }
}

// A fresh interpreter: a new WebAssembly instance, so its GC heap, modules,
// sys.path and sys.modules are as new as after a board's gc_init/mp_init.
// carry: a soft reset (the flash's MEMFS tree goes over from the instance
// that ends, see Flash.carryInto); else power-on or a hard reset (the flash
// is read from the host dir).
async function startInterpreter(carry) {
  if (!mpModulePromise) mpModulePromise = import('@micropython/micropython-webassembly-pyscript');
  const { loadMicroPython } = await mpModulePromise;
  denyGrow = false;
  eaten = [];
  timerDue = -1; // a soft reset ends every timer (machine_timer_deinit_all)
  const out = (b) => txCooked(b);
  mp = await loadMicroPython({
    heapsize: heapLimit || 1024 * 1024,
    stdout: out,
    stderr: out,
    linebuffer: false,
  });
  M = mp._module;
  if (carry) flash.carryInto(mp.FS); else flash.loadInto(mp.FS);
  mp.registerJsModule('_brd', brdApi);
  // Make the flash directory the root filesystem, like a board's littlefs.
  mp.runPython("import os\nos.umount('/')\nos.mount(os.VfsPosix('/flash'), '/')\nos.chdir('/')\ndel os\n");
  const blocked = [];
  if (!cfg.deflate) blocked.push('deflate', 'zlib');
  const conf = {
    platform: cfg.platform,
    machine: cfg.machine,
    stdin_buffer: !!cfg.stdinBuffer,
    fs: cfg.fs,
    sha1: !!cfg.sha1,
    heap: cfg.heap || 1024 * 1024,
    freq: cfg.freq,
    uid: cfg.uid,
    blocked,
  };
  const src = SHIM.replace('@CONFIG@', JSON.stringify(conf).replace(/true/g, 'True').replace(/false/g, 'False'));
  // Compiled as "<board>" so its frames can be removed from tracebacks.
  mp.runPython('exec(compile(' + pyStr(src) + ", '<board>', 'exec'), {})\n");
  mp.runPython('import gc\ngc.collect()\ndel gc\n');
  pinHeap();
}

// Run Python source.  Returns {exc: text|null, kind: 'ok'|'exc'|'exit'|'hard'}.
// `single`: friendly REPL semantics (an expression's value is printed).
function exec(code, opts = {}) {
  // Not reading the line from here on (compiling, running); see line.js.
  Atomics.store(ctl, CTL.RXWAIT, RX_NONE);
  flushTx(); // "OK" etc. go out now, even if the code then computes for long
  if (cfg.execDelay > 0) sleepMs(cfg.execDelay);
  hardResetRequested = false;
  let text = code;
  if (opts.single) {
    // The friendly REPL compiles in "single" mode (expression statements
    // print their value).  runPython only does "exec" mode, so wrap it; the
    // wrapper's own traceback frame is removed below.
    text = 'exec(compile(' + pyStr(code) + ", '<stdin>', 'single'))\n";
  }
  busy = true;
  kbdScheduled = false;
  kbdAt = -1;
  Atomics.store(ctl, CTL.KBD, 0);
  Atomics.store(ctl, CTL.INTR, 3);
  Atomics.store(ctl, CTL.KIND, opts.kind || KIND_RAW);
  Atomics.store(ctl, CTL.BUSY, 1);
  let result = { kind: 'ok', exc: null };
  try {
    withRoom(Buffer.byteLength(text) + 64, () => mp.runPython(text));
  } catch (e) {
    if (e && e.name === 'PythonError') {
      if (e.type === 'SystemExit') result = { kind: 'exit', exc: null };
      else if (!e.type) {
        // Out of memory even for formatting the traceback.
        result = { kind: 'exc', exc: 'MemoryError: memory allocation failed\n' };
      } else {
        let msg = e.message.replace(/^ {2}File "<board>", line \d+, in .*\n/gm, '');
        if (opts.single) msg = dropFirstFrame(msg);
        result = { kind: 'exc', exc: msg };
      }
    } else {
      result = { kind: 'exc', exc: 'RuntimeError: ' + (e && e.message) + '\n' };
    }
  }
  flushWaited();
  lastEmptyAsk = -1;
  busy = false;
  Atomics.store(ctl, CTL.BUSY, 0);
  Atomics.store(ctl, CTL.KIND, 0);
  Atomics.store(ctl, CTL.INTR, -1);
  Atomics.store(ctl, CTL.KBD, 0);
  if (kbdScheduled) {
    // A KeyboardInterrupt was scheduled but the code ended first: clear it,
    // as the firmware does with mp_handle_pending(..CLEAR_EXCEPTIONS).
    try { mp.runPython('for _ in range(2):\n pass\n'); } catch { /* swallowed */ }
    kbdScheduled = false;
  }
  if (hardResetRequested) result = { kind: 'hard', exc: null };
  return result;
}

// Remove the first traceback entry: the frame of our own wrapper code.
function dropFirstFrame(msg) {
  return msg.replace(/^(Traceback \(most recent call last\):\n) {2}File "<stdin>", line 1, in <module>\n/, '$1');
}

function fileExists(name) {
  try { return mp.FS.isFile(mp.FS.stat('/flash/' + name).mode); } catch { return false; }
}

// pyexec_file_if_exists(): run boot.py / main.py.
function execFile(name) {
  if (!fileExists(name)) return { kind: 'ok', exc: null };
  const r = exec("execfile('" + name + "')", { kind: KIND_FILE });
  if (r.exc) r.exc = dropFirstFrame(r.exc); // our execfile() wrapper
  return r;
}

function post(msg) {
  flushTx();
  parentPort.postMessage(msg);
}

const io = {
  rx, tx, txCooked, flushTx, exec, execFile, post, count,
  // The REPL starts reading input that ends with one of `terms` (control
  // characters); see line.js.
  listen(terms) {
    let mask = 0;
    for (const c of terms) mask |= 1 << c;
    Atomics.store(ctl, CTL.TERMS, mask);
    Atomics.add(ctl, CTL.GEN, 1);
    Atomics.store(ctl, CTL.RXWAIT, RX_REPL);
  },
  setMode(m) { Atomics.store(ctl, CTL.MODE, m === 'raw' ? 1 : 0); },
  sync() { try { flash.syncOut(); } catch (e) { process.stderr.write('board: flash sync: ' + e + '\n'); } },
  // ports/esp32/main.c soft_reset_exit: gc_sweep_all() (open files are
  // closed, see Flash.closeOpen) comes before "MPY: soft reboot".
  sweep() {
    if (M) flash.closeOpen();
  },
  // hard: power-on or machine.reset(): nothing closes the files still open
  // (esp_restart / system_restart never return: the chip restarts), so
  // they lose what was not committed, as after a power cut.
  async reboot(hard) {
    Atomics.store(ctl, CTL.RXWAIT, RX_NONE);
    flushTx();
    const carry = !hard && !!M;
    if (hard) flash.revertOpen();
    try { flash.syncOut(); } catch { /* best effort */ }
    await startInterpreter(carry);
  },
};

(async () => {
  try {
    const fw = new Firmware(io, cfg);
    await fw.run();
  } catch (e) {
    process.stderr.write('board: firmware crashed: ' + (e && e.stack || e) + '\n');
    post({ t: 'crash' });
  }
})();
