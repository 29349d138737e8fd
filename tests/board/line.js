'use strict';
// The serial line between host and board, and the board's UART receiver.
//
// Model (one instance per board, lives in the main thread):
//
//   host writes ──► wire queue (the host's tx buffer / the USB-serial chip)
//                     │  paced at baud/10 bytes per second (8N1), never held
//                     ▼
//                UART RX interrupt: Ctrl-C check, then the stdin ring
//                (ports/esp32/uart.c uart_irq_handler, ports/esp8266/uart.c
//                uart0_rx_intr_handler -> ringbuf_put(&stdin_ringbuf, c)).
//                The ring holds --ring minus one bytes (py/ringbuf.h keeps
//                one slot empty: 259 on esp32, 255 on esp8266); a byte that
//                arrives while it is full is DROPPED and counted, since
//                ringbuf_put() discards it and a UART has no flow control.
//                     │
//                     ▼  consumed by the firmware (worker thread)
//
//   board output ──► tx queue ──► paced at the same baud ──► host
//
// Who is reading decides how full the ring is (ringFill below).  While the
// firmware is blocked in a read a real board takes each byte out of the ring
// as it arrives, so the bytes a read has asked for (a sys.stdin read of n
// bytes, or the REPL up to the control character that ends its input) never
// occupy the ring, even when this emulator's worker thread is descheduled
// and takes them late.  Everything else stays in the ring until the firmware
// reads it: bytes arriving while it runs Python (computing, sleeping,
// programming flash, compiling) beyond the ring's capacity are lost.
//
// With baud 0 the line is unpaced and behaves like the ESP32's USB
// serial/JTAG port instead (ports/esp32/usb_serial_jtag.c
// usb_serial_jtag_handle_rx() takes only ringbuf_free() bytes from the USB
// FIFO, so the host waits): nothing is dropped, the wire waits for room in
// the ring, and a Ctrl-C behind a full ring waits too.

const { CTL, CMD_POWERCUT, RX_PROGRAM, RX_REPL, STORE, wake } = require('./shared');

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
   * @param {number} o.ringSize    stdin ring array size (usable: one less)
   * @param {Int32Array} o.ctl     shared control words
   * @param {Uint8Array} o.fifo    shared receive storage (STORE bytes)
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
    this.usable = o.ringSize - 1;
    this.seenGen = -1;     // RX_REPL spell whose pending bytes were scanned
    this.stoppedGen = -1;  // RX_REPL spell that has seen its terminator
    this.replStop = 0;     // ... at this HEAD position (bytes before it are the REPL's)
  }

  // Bytes occupying the stdin ring now (see the header).
  ringFill() {
    const ctl = this.ctl;
    const head = Atomics.load(ctl, CTL.HEAD);
    let consumed = Atomics.load(ctl, CTL.TAIL);
    const mode = Atomics.load(ctl, CTL.RXWAIT);
    if (mode === RX_PROGRAM) {
      consumed = Math.max(consumed, Atomics.load(ctl, CTL.WANT_END));
    } else if (mode === RX_REPL) {
      const gen = Atomics.load(ctl, CTL.GEN);
      if (gen !== this.seenGen) this.newReplSpell(gen, consumed, head);
      if (gen !== this.stoppedGen) return 0; // the REPL takes every byte
      consumed = Math.max(consumed, this.replStop);
    }
    return Math.max(0, head - consumed);
  }

  // The REPL started reading again: bytes already waiting may contain the
  // control character that will end this spell.
  newReplSpell(gen, tail, head) {
    this.seenGen = gen;
    const terms = Atomics.load(this.ctl, CTL.TERMS);
    for (let i = tail; i < head; i++) {
      const b = this.fifo[i % STORE];
      if (b < 32 && (terms >>> b) & 1) {
        this.stoppedGen = gen;
        this.replStop = i + 1;
        return;
      }
    }
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

  pump() {
    if (this.dead) return;
    this.pumpRx();
    this.pumpTx();
    if (this.changed) this.changed(); // counters moved
    const more = this.wire.length > 0 || this.txq.length > 0;
    if (more && !this.timer) {
      // Unpaced + ring full: poll until the firmware drains it.
      this.timer = setTimeout(() => { this.timer = null; this.pump(); }, 1);
    }
  }

  pumpRx() {
    const ctl = this.ctl;
    while (this.wire.length && !this.dead) {
      const chunk = this.wire[0];
      let n = chunk.length - this.wireOff;
      // Storage for a lagging worker (not the ring: see the header); only
      // reached if the worker is stuck for about a megabyte of line time.
      n = Math.min(n, STORE - 1 - (Atomics.load(ctl, CTL.HEAD) - Atomics.load(ctl, CTL.TAIL)));
      if (!this.rxPacer) {
        // USB serial/JTAG: only what fits into the ring leaves the host.
        n = Math.min(n, Math.max(0, this.usable - this.ringFill()));
      }
      if (this.rxPacer) n = this.rxPacer.take(n);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) {
        this.receive(chunk[this.wireOff++]);
        if (this.dead) break;
      }
      if (this.wireOff >= chunk.length) { this.wire.shift(); this.wireOff = 0; }
      wake(ctl);
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
    } else if (this.ringFill() >= this.usable) {
      this.counters.dropped_bytes++; // ringbuf_put() on a full ring
    } else {
      const head = Atomics.load(ctl, CTL.HEAD);
      this.fifo[head % STORE] = b;
      Atomics.store(ctl, CTL.HEAD, head + 1);
      if (b < 32 && Atomics.load(ctl, CTL.RXWAIT) === RX_REPL) {
        const gen = Atomics.load(ctl, CTL.GEN);
        if (gen !== this.stoppedGen && (Atomics.load(ctl, CTL.TERMS) >>> b) & 1) {
          this.stoppedGen = gen;
          this.replStop = head + 1;
        }
      }
    }
    if (this.powerCutAfter > 0 && this.counters.rx_bytes >= this.powerCutAfter) this.cut();
  }

  // Power off: nothing moves on the line any more; the worker persists the
  // flash as a cut leaves it.
  cut() {
    if (this.dead) return;
    this.dead = true;
    this.wire = [];
    Atomics.store(this.ctl, CTL.CMD, CMD_POWERCUT);
    wake(this.ctl);
    this.onPowerCut();
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
