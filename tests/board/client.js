'use strict';
// A small raw-REPL client for the self-test, written from the protocol
// description (not from senko's code), plus helpers to start a board.

const fs = require('fs');
const os = require('os');
const path = require('path');
const tty = require('tty');
const { spawn } = require('child_process');

const BOARD = path.join(__dirname, 'board.js');

// Start an emulated board; resolves once it printed "READY <path>".
function startBoard(args = [], opts = {}) {
  const flash = opts.flash || fs.mkdtempSync(path.join(os.tmpdir(), 'board-flash-'));
  for (const [name, text] of Object.entries(opts.files || {})) {
    fs.mkdirSync(path.dirname(path.join(flash, name)), { recursive: true });
    fs.writeFileSync(path.join(flash, name), text);
  }
  const counters = path.join(flash + '.counters.json');
  const proc = spawn(process.execPath, [BOARD, '--flash', flash, '--counters', counters, '--exit-with-parent', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('board did not get ready: ' + stderr)), 60000);
    proc.stdout.on('data', (d) => {
      stdout += d;
      const m = /^READY (\S+)\n/.exec(stdout);
      if (m && !resolve.done) {
        resolve.done = true;
        clearTimeout(timer);
        resolve({
          proc, flash, counters, path: m[1], exited,
          stdout: () => stdout,
          stderr: () => stderr,
          readCounters: () => JSON.parse(fs.readFileSync(counters, 'utf8')),
          async stop() {
            if (proc.exitCode === null) proc.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    proc.on('exit', (code) => {
      if (!resolve.done) { clearTimeout(timer); reject(new Error(`board exited (${code}): ${stderr}`)); }
    });
  });
}

class Port {
  constructor(devPath) {
    // O_NONBLOCK so libuv can poll the tty instead of blocking a thread.
    this.fd = fs.openSync(devPath, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
    this.rs = new tty.ReadStream(this.fd);
    this.rs.setRawMode(true);
    this.buf = Buffer.alloc(0);
    this.waiter = null;
    this.rs.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      if (this.waiter) this.waiter();
    });
    // A board that powers off (a cut, a stop) closes the pty: reads end
    // with EIO, which is the line going dead, not a fault of the test.
    this.gone = false;
    this.rs.on('error', (e) => {
      if (e.code !== 'EIO') throw e;
      this.gone = true;
      if (this.waiter) this.waiter();
    });
  }

  write(data) {
    const b = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
    let off = 0;
    while (off < b.length) {
      try {
        off += fs.writeSync(this.fd, b, off);
      } catch (e) {
        if (e.code !== 'EAGAIN') throw e;
      }
    }
  }

  // Wait until `pred(buf)` returns an index (end of the wanted part) >= 0.
  async waitFor(pred, timeoutMs = 5000, what = 'data') {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = pred(this.buf);
      if (end >= 0) {
        const out = this.buf.subarray(0, end);
        this.buf = this.buf.subarray(end);
        return out;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timeout waiting for ${what}; have ${JSON.stringify(this.buf.toString('latin1'))}`);
      }
      await new Promise((resolve) => {
        const t = setTimeout(() => { this.waiter = null; resolve(); }, left);
        this.waiter = () => { clearTimeout(t); this.waiter = null; resolve(); };
      });
    }
  }

  // Read up to and including `marker`.
  readUntil(marker, timeoutMs, what) {
    const m = Buffer.from(marker, 'latin1');
    return this.waitFor((b) => { const i = b.indexOf(m); return i < 0 ? -1 : i + m.length; },
      timeoutMs, what || JSON.stringify(marker));
  }

  readN(n, timeoutMs) {
    return this.waitFor((b) => (b.length >= n ? n : -1), timeoutMs, `${n} bytes`);
  }

  async drain(ms = 100) {
    await new Promise((r) => setTimeout(r, ms));
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }

  async enterRaw() {
    this.write('\r\x03');
    await this.drain(150);
    this.write('\r\x01');
    await this.readUntil('raw REPL; CTRL-B to exit\r\n>', 5000);
  }

  // Plain raw REPL execution: returns {out, err} as latin1 strings.
  async exec(code, timeoutMs = 10000) {
    this.write(Buffer.concat([Buffer.from(code, 'utf8'), Buffer.from([4])]));
    await this.readUntil('OK', timeoutMs);
    return this.readResult(timeoutMs);
  }

  async readResult(timeoutMs = 10000) {
    const out = (await this.readUntil('\x04', timeoutMs)).toString('latin1').slice(0, -1);
    const err = (await this.readUntil('\x04', timeoutMs)).toString('latin1').slice(0, -1);
    await this.readUntil('>', timeoutMs);
    return { out, err };
  }

  // Raw-paste execution honouring the device's flow-control window.
  async execPaste(code, timeoutMs = 10000) {
    this.write('\x05A\x01');
    const r = (await this.readN(2, timeoutMs)).toString('latin1');
    if (r !== 'R\x01') throw new Error('raw-paste refused: ' + JSON.stringify(r));
    const hdr = await this.readN(3, timeoutMs);
    const window = hdr.readUInt16LE(0);
    if (hdr[2] !== 1) throw new Error('bad raw-paste header');
    let credit = 2 * window;
    const data = Buffer.from(code, 'utf8');
    let off = 0;
    while (off < data.length) {
      // Pick up credits the device has sent so far.
      while (this.buf.length && this.buf[0] === 1) { credit += window; this.buf = this.buf.subarray(1); }
      if (credit === 0) {
        const b = await this.readN(1, timeoutMs);
        if (b[0] === 1) credit += window;
        else throw new Error('unexpected byte during raw-paste: ' + b[0]);
        continue;
      }
      const n = Math.min(credit, data.length - off);
      this.write(data.subarray(off, off + n));
      off += n;
      credit -= n;
    }
    this.write('\x04');
    // Skip remaining credit bytes, then the end-of-input acknowledgement.
    for (;;) {
      const b = await this.readN(1, timeoutMs);
      if (b[0] === 4) break;
      if (b[0] !== 1) throw new Error('unexpected byte after raw-paste data: ' + b[0]);
    }
    return this.readResult(timeoutMs);
  }

  close() {
    try { this.rs.setRawMode(false); } catch { /* closed */ }
    this.rs.destroy();
  }
}

module.exports = { startBoard, Port };
