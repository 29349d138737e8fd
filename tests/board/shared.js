'use strict';
// Layout of the SharedArrayBuffer shared by the main thread (the UART
// hardware + the wire) and the worker thread (the CPU running the firmware).
//
// The receive path is a single-producer / single-consumer queue:
//   main thread  = UART receiver: appends bytes arriving from the wire
//   worker       = firmware: takes bytes out when the REPL or a program reads
// HEAD and TAIL are monotonically increasing byte counts (wrapping at 2^31 is
// irrelevant for a test run).
//
// The board's stdin ring (ports/esp32/mphalport.c stdin_ringbuf_array[260],
// ports/esp8266/esp_mphal.c stdin_ringbuf_array[256]; py/ringbuf.h keeps one
// slot empty, so 259 / 255 bytes usable) is enforced by line.js's accounting,
// not by the size of the storage below: while the firmware is blocked in a
// read, a real board moves each byte out of the ring as it arrives (at CPU
// speed, far faster than the line), so bytes the reader has asked for are
// counted as already consumed even if this thread has not taken them yet.
// The storage is large so that those bytes have somewhere to wait for a
// descheduled worker; only the ring's usable size decides what is dropped.
//
// The worker sleeps with Atomics.wait on SEQ; the main thread bumps SEQ and
// calls Atomics.notify whenever anything happens that the worker may care
// about (new byte, Ctrl-C, power cut, exit request).

const CTL = {
  HEAD: 0,        // bytes ever put into the FIFO
  TAIL: 1,        // bytes ever taken out of the FIFO
  KBD: 2,         // 1 = a Ctrl-C arrived while the interrupt char was armed
  INTR: 3,        // current interrupt char as set by the firmware (-1 = off)
  CMD: 4,         // CMD_* below, set by the main thread
  SEQ: 5,         // event counter the worker waits on
  BUSY: 6,        // 1 while the worker executes Python code
  BEAT: 7,        // bumped by the worker each time it polls (watchdog)
  MODE: 8,        // REPL mode: 0 friendly, 1 raw (for a watchdog restart)
  KIND: 9,        // what is executing: KIND_* below
  RXWAIT: 10,     // RX_* below: whether and how the firmware is reading the line
  WANT_END: 11,   // RX_PROGRAM: the read is satisfied when HEAD reaches this
  GEN: 12,        // RX_REPL: bumped each time the REPL starts reading
  TERMS: 13,      // RX_REPL: bit c set = control char c ends this reading spell
  N: 14,
};

// CTL.RXWAIT values
const RX_NONE = 0;     // not reading: bytes stay in the ring, overflow is dropped
const RX_PROGRAM = 1;  // sys.stdin read of a known length (WANT_END)
const RX_REPL = 2;     // the REPL reads until one of TERMS arrives

// Bytes the emulator can hold for a descheduled worker (see above).
const STORE = 1 << 20;

const CMD_NONE = 0;
const CMD_POWERCUT = 1;
const CMD_EXIT = 2;

// CTL.KIND values
const KIND_RAW = 1;       // raw REPL or raw-paste execution
const KIND_FRIENDLY = 2;  // a line typed at >>>
const KIND_FILE = 3;      // boot.py / main.py

function makeShared() {
  const sab = new SharedArrayBuffer(CTL.N * 4 + STORE);
  const ctl = new Int32Array(sab, 0, CTL.N);
  ctl[CTL.INTR] = -1;
  return sab;
}

function views(sab) {
  return {
    ctl: new Int32Array(sab, 0, CTL.N),
    fifo: new Uint8Array(sab, CTL.N * 4, STORE),
  };
}

function wake(ctl) {
  Atomics.add(ctl, CTL.SEQ, 1);
  Atomics.notify(ctl, CTL.SEQ);
}

module.exports = {
  CTL, CMD_NONE, CMD_POWERCUT, CMD_EXIT, RX_NONE, RX_PROGRAM, RX_REPL, STORE, KIND_RAW, KIND_FRIENDLY, KIND_FILE, makeShared, views, wake,
};
