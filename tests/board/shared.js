'use strict';
// Layout of the SharedArrayBuffer shared by the main thread (the UART
// hardware + the wire) and the worker thread (the CPU running the firmware).
//
// The receive FIFO is a single-producer / single-consumer ring:
//   main thread  = UART receiver: appends bytes arriving from the wire
//   worker       = firmware: takes bytes out when the REPL or a program reads
// HEAD and TAIL are monotonically increasing byte counts (wrapping at 2^31 is
// irrelevant for a test run); HEAD - TAIL is the fill level.
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
  RXWAIT: 10,     // 1 while the firmware is reading the line (REPL, stdin reads)
  N: 11,
};

const CMD_NONE = 0;
const CMD_POWERCUT = 1;
const CMD_EXIT = 2;

// CTL.KIND values
const KIND_RAW = 1;       // raw REPL or raw-paste execution
const KIND_FRIENDLY = 2;  // a line typed at >>>
const KIND_FILE = 3;      // boot.py / main.py

function makeShared(fifoSize) {
  const sab = new SharedArrayBuffer(CTL.N * 4 + fifoSize);
  const ctl = new Int32Array(sab, 0, CTL.N);
  ctl[CTL.INTR] = -1;
  return sab;
}

function views(sab, fifoSize) {
  return {
    ctl: new Int32Array(sab, 0, CTL.N),
    fifo: new Uint8Array(sab, CTL.N * 4, fifoSize),
  };
}

function wake(ctl) {
  Atomics.add(ctl, CTL.SEQ, 1);
  Atomics.notify(ctl, CTL.SEQ);
}

module.exports = {
  CTL, CMD_NONE, CMD_POWERCUT, CMD_EXIT, KIND_RAW, KIND_FRIENDLY, KIND_FILE, makeShared, views, wake,
};
