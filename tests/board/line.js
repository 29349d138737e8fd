'use strict';
// The serial line between host and board, and the board's UART receiver.
//
// Model (one instance per board, lives in the main thread):
//
//   host writes ──► wire queue (host tx buffer, unbounded)
//                     │  paced at baud/10 bytes per second (8N1)
//                     ▼
//                UART receiver: Ctrl-C check, then the RX FIFO (N bytes).
//                A byte that arrives while the FIFO is full is DROPPED and
//                counted, exactly like a UART without flow control.
//                     │
//                     ▼  consumed by the firmware (worker thread)
//
//   board output ──► tx queue ──► paced at the same baud ──► host
//
// With baud 0 the line is unpaced and behaves like USB-CDC instead: nothing
// is dropped, the wire queue simply waits until the FIFO has room.
//
// Host scheduling: a real board that is *reading* (REPL, raw-paste, a
// program inside sys.stdin.buffer.read) drains its FIFO faster than the line
// fills it.  The emulator's CPU is a thread on a possibly busy host and can
// be descheduled for tens of milliseconds, which would overflow the FIFO for
// reasons no board has.  So while the firmware says it is reading (RXWAIT),
// a full FIFO holds the wire back instead of dropping; drops happen only when
// the board is busy with something else (sleeping, computing, compiling).

const { CTL, CMD_POWERCUT, wake } = require('./shared');

// Token bucket: how many byte times have elapsed on the line.
class Pacer {
  constructor(baud) {
    this.rate = baud / 10 / 1000; // bytes per millisecond (start+8+stop bits)
    this.tokens = 0;
    this.last = performance.now();
    // Cap the bucket so an idle line does not build up a burst; a few ms
    // of slack absorbs timer jitter without losing throughput.
    this.cap = Math.max(1, this.rate * 5);
  }
  take(max) {
    const now = performance.now();
    this.tokens = Math.min(this.cap, this.tokens + (now - this.last) * this.rate);
    this.last = now;
    const n = Math.min(max, Math.floor(this.tokens));
    this.tokens -= n;
    return n;
  }
  // Called when a queue goes from empty to non-empty: the line was idle, so
  // start counting byte times from now.
  restart() {
    this.last = performance.now();
    this.tokens = Math.min(this.tokens, 1);
  }
}

class Line {
  /**
   * @param {object} o
   * @param {number} o.baud        0 = unpaced
   * @param {number} o.fifoSize
   * @param {Int32Array} o.ctl     shared control words
   * @param {Uint8Array} o.fifo    shared FIFO storage
   * @param {function(Buffer)} o.toHost   deliver board output to the pty
   * @param {number} o.powerCutAfter      0 = never
   * @param {function()} o.onPowerCut
   * @param {object} o.counters    rx_bytes / tx_bytes / dropped_bytes live here
   */
  constructor(o) {
    Object.assign(this, o);
    this.wire = [];        // pending host->board chunks
    this.wireOff = 0;      // offset into wire[0]
    this.txq = [];         // pending board->host chunks
    this.rxPacer = o.baud > 0 ? new Pacer(o.baud) : null;
    this.txPacer = o.baud > 0 ? new Pacer(o.baud) : null;
    this.timer = null;
    this.dead = false;     // after a power cut nothing moves any more
  }

  // Bytes written by the host into the pty.
  fromHost(buf) {
    if (this.dead || buf.length === 0) return;
    if (this.wire.length === 0 && this.rxPacer) this.rxPacer.restart();
    this.wire.push(buf);
    this.pump();
  }

  // Bytes printed by the firmware.
  fromBoard(buf) {
    if (this.dead || buf.length === 0) return;
    this.counters.tx_bytes += buf.length;
    if (this.txq.length === 0 && this.txPacer) this.txPacer.restart();
    this.txq.push(Buffer.from(buf));
    this.pump();
  }

  // The firmware took bytes out of the FIFO: in unpaced mode the wire may
  // now continue (flow control).
  fifoDrained() {
    if (!this.rxPacer && this.wire.length) this.pump();
  }

  pump() {
    if (this.dead) return;
    this.pumpRx();
    this.pumpTx();
    const more = this.wire.length > 0 || this.txq.length > 0;
    if (more && !this.timer) {
      // Unpaced + FIFO full: poll until the firmware drains it.
      this.timer = setTimeout(() => { this.timer = null; this.pump(); }, 1);
    }
  }

  pumpRx() {
    const ctl = this.ctl;
    while (this.wire.length && !this.dead) {
      const chunk = this.wire[0];
      let n = chunk.length - this.wireOff;
      if (!this.rxPacer || Atomics.load(ctl, CTL.RXWAIT)) {
        // Only as much as fits into the FIFO (+ Ctrl-C bytes), see above.
        const room = this.fifoSize - (Atomics.load(ctl, CTL.HEAD) - Atomics.load(ctl, CTL.TAIL));
        n = Math.min(n, Math.max(room, 0));
        if (n === 0) {
          // A Ctrl-C must still get through to an armed interrupt even
          // when the FIFO is full.
          if (chunk[this.wireOff] === Atomics.load(ctl, CTL.INTR)) n = 1;
        }
      }
      if (this.rxPacer) n = this.rxPacer.take(n);
      if (n === 0) break;
      let delivered = false;
      for (let i = 0; i < n; i++) {
        this.receive(chunk[this.wireOff++]);
        delivered = true;
        if (this.dead) break;
      }
      if (this.wireOff >= chunk.length) { this.wire.shift(); this.wireOff = 0; }
      if (delivered) wake(ctl);
    }
  }

  // One byte arrives at the UART: this is the firmware's RX interrupt.
  receive(b) {
    const ctl = this.ctl;
    this.counters.rx_bytes++;
    const intr = Atomics.load(ctl, CTL.INTR);
    if (intr >= 0 && b === intr) {
      // The ISR swallows the interrupt char and schedules KeyboardInterrupt.
      Atomics.store(ctl, CTL.KBD, 1);
      if (this.onInterrupt) this.onInterrupt();
    } else {
      const head = Atomics.load(ctl, CTL.HEAD);
      if (head - Atomics.load(ctl, CTL.TAIL) >= this.fifoSize) {
        this.counters.dropped_bytes++;
      } else {
        this.fifo[head % this.fifoSize] = b;
        Atomics.store(ctl, CTL.HEAD, head + 1);
      }
    }
    if (this.powerCutAfter > 0 && this.counters.rx_bytes >= this.powerCutAfter) {
      this.dead = true;
      this.wire = [];
      Atomics.store(ctl, CTL.CMD, CMD_POWERCUT);
      wake(ctl);
      this.onPowerCut();
    }
  }

  pumpTx() {
    while (this.txq.length && !this.dead) {
      const chunk = this.txq[0];
      const n = this.txPacer ? this.txPacer.take(chunk.length) : chunk.length;
      if (n === 0) break;
      this.toHost(chunk.subarray(0, n));
      if (n === chunk.length) this.txq.shift();
      else this.txq[0] = chunk.subarray(n);
    }
  }

  // Everything the board has printed, flushed at once (used at exit).
  flushTx() {
    for (const c of this.txq) this.toHost(c);
    this.txq = [];
  }

  stop() {
    this.dead = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

module.exports = { Line };
