'use strict';
// The firmware's REPL, following shared/runtime/pyexec.c and ports/esp32's
// main loop byte for byte (non-event-driven variant, as on ESP32/ESP8266):
//
//   power-on / soft reset:  boot.py, then main.py (friendly mode only),
//                           then the REPL in its current mode
//   friendly REPL:          banner, ">>> ", readline with echo, Ctrl-A/B/C/D/E
//   raw REPL:               ">" prompt, OK / output / 04 / exception / 04 / ">"
//   raw-paste:              05 'A' 01 -> "R\x01" + window (128) + 01 credits
//
// All I/O goes through `io` (worker.js): rx() blocks for one byte from the
// UART FIFO, tx() writes protocol bytes, exec() runs Python.

const { KIND_FRIENDLY } = require('./shared');

const CTRL_A = 0x01, CTRL_B = 0x02, CTRL_C = 0x03, CTRL_D = 0x04, CTRL_E = 0x05;

// ESP ports use MICROPY_REPL_STDIN_BUFFER_MAX = 256 -> window of 128.
const RAW_PASTE_WINDOW = 128;

const COMPOUND = /^(if|while|for|try|with|def|class|async|@)\b|^@/;

// py/repl.c mp_repl_continue_with_input(), simplified: open brackets or
// triple quotes, a trailing backslash, or a compound statement that has not
// yet been ended by an empty line.
function needsMore(text) {
  let depth = 0;
  let quote = null; // '"', "'", '"""', "'''"
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') { i++; continue; }
      if (quote.length === 3 ? text.startsWith(quote, i) : c === quote) {
        i += quote.length - 1;
        quote = null;
      } else if (quote.length === 1 && c === '\n') {
        quote = null;
      }
      continue;
    }
    if (c === '#') { while (i < text.length && text[i] !== '\n') i++; continue; }
    if (c === '"' || c === "'") {
      quote = text.startsWith(c.repeat(3), i) ? c.repeat(3) : c;
      i += quote.length - 1;
      continue;
    }
    if ('([{'.includes(c)) depth++;
    if (')]}'.includes(c)) depth--;
  }
  if (depth > 0 || (quote && quote.length === 3)) return true;
  if (text.endsWith('\\')) return true;
  const lines = text.split('\n');
  if (COMPOUND.test(lines[0].trimStart()) || lines[0].trimEnd().endsWith(':')) {
    return lines[lines.length - 1].trim() !== '';
  }
  return false;
}

// What a KeyboardInterrupt looks like when the watchdog had to restart the
// interpreter (see board.js): the interrupted frame is unknown.
const KBD_TRACEBACK = 'Traceback (most recent call last):\n  File "<stdin>", line 1, in <module>\nKeyboardInterrupt: \n';

class Firmware {
  constructor(io, cfg) {
    this.io = io;
    this.cfg = cfg;
    this._mode = 'friendly';
    this.readySent = false;
  }

  // The current REPL mode is mirrored into shared memory for the watchdog.
  get mode() { return this._mode; }
  set mode(m) { this._mode = m; this.io.setMode(m); }

  banner() {
    return `MicroPython v1.27.0 on 2025-12-10; ${this.cfg.machine}\r\n` +
      'Type "help()" for more information.\r\n';
  }

  ready() {
    if (!this.readySent) {
      this.readySent = true;
      this.io.post({ t: 'ready' });
    }
  }

  printExc(text) {
    if (text) this.io.txCooked(Buffer.from(text, 'utf8'));
  }

  async run() {
    let hard = true;
    let resume = this.cfg.resume;
    for (;;) {
      const r = resume ? await this.resume(resume) : await this.boot(hard);
      resume = null;
      let reason = r;
      while (!reason || reason === 'switch') {
        reason = this.mode === 'raw' ? this.rawRepl() : this.friendlyRepl();
      }
      if (reason === 'hard') {
        this.io.post({ t: 'inc', k: 'hard_resets' });
        this.mode = 'friendly';
        hard = true;
      } else {
        // ports/esp32/main.c soft_reset_exit: gc_sweep_all(), then the message
        this.io.sweep();
        this.io.tx('MPY: soft reboot\r\n');
        this.io.post({ t: 'inc', k: 'soft_resets' });
        hard = false;
      }
    }
  }

  // Start a fresh interpreter and run boot.py / main.py.
  // Returns 'soft' / 'hard' if one of them asked for a reset, else null.
  async boot(hard) {
    if (hard) this.mode = 'friendly';
    await this.io.reboot(hard);
    let r = this.io.execFile('boot.py');
    this.printExc(r.exc);
    if (r.kind === 'hard') return 'hard';
    if (r.kind === 'exit') return 'soft';
    if (this.mode === 'friendly') {
      this.io.post({ t: 'main-start' });
      r = this.io.execFile('main.py');
      this.printExc(r.exc);
      if (r.kind === 'hard') return 'hard';
      if (r.kind === 'exit') return 'soft';
    }
    this.io.sync();
    this.ready();
    return null;
  }

  // The watchdog restarted us after a Ctrl-C that pure computation never
  // noticed: report the KeyboardInterrupt as the firmware would have, then
  // carry on in the same REPL state (without running boot.py again).
  async resume(state) {
    this.mode = state.mode;
    await this.io.reboot(true); // a fresh worker: the flash comes from the host dir
    this.ready();
    if (state.kind === 'raw') {
      this.io.tx('\x04');
      this.printExc(KBD_TRACEBACK);
      this.io.tx('\x04');
      this.executed();
      this.skipRawBanner = true;
    } else if (state.kind === 'friendly') {
      this.printExc(KBD_TRACEBACK);
      this.executed();
      this.skipFriendlyBanner = true;
    } else {
      this.printExc(KBD_TRACEBACK);
    }
    return null;
  }

  executed() {
    this.io.sync();
    this.io.post({ t: 'inc', k: 'executions', sync: true });
  }

  // ------------------------------------------------------------- raw REPL

  rawRepl() {
    const io = this.io;
    if (!this.skipRawBanner) io.tx('raw REPL; CTRL-B to exit\r\n');
    this.skipRawBanner = false;
    for (;;) {
      io.tx('>');
      // Reads until Ctrl-D; then it compiles and runs (not reading).
      io.listen([CTRL_D]);
      let line = [];
      let restart = false;
      for (;;) {
        const c = io.rx();
        if (c === CTRL_A) {
          if (line.length === 2 && line[0] === CTRL_E && this.cfg.rawPaste) {
            const ret = this.rawPaste(line[1]);
            if (ret) return ret;
            line = [];
            io.tx('>');
            io.listen([CTRL_D]);
            continue;
          }
          restart = true;
          break;
        } else if (c === CTRL_B) {
          io.tx('\r\n');
          this.mode = 'friendly';
          return 'switch';
        } else if (c === CTRL_C) {
          line = [];
        } else if (c === CTRL_D) {
          break;
        } else {
          line.push(c);
        }
      }
      if (restart) {
        io.tx('raw REPL; CTRL-B to exit\r\n');
        continue;
      }
      io.tx('OK');
      if (line.length === 0) {
        io.tx('\r\n');
        return 'soft';
      }
      const r = io.exec(Buffer.from(line).toString('utf8'));
      const ret = this.finishExec(r);
      if (ret) return ret;
    }
  }

  // Output after a raw / raw-paste execution (EXEC_FLAG_PRINT_EOF).
  finishExec(r) {
    const io = this.io;
    if (r.kind === 'hard') { this.executed(); return 'hard'; }
    io.tx('\x04');
    if (r.kind === 'exit') {
      // v1.24+: SystemExit / machine.soft_reset() -> "04 04" then soft reboot.
      io.tx('\x04');
      this.executed();
      return 'soft';
    }
    this.printExc(r.exc);
    io.tx('\x04');
    this.executed();
    return null;
  }

  // do_reader_stdin(): raw-paste mode with a flow-control window.
  rawPaste(cmd) {
    const io = this.io;
    if (cmd !== 0x41) { // 'A'
      io.tx('R\x00');
      return null;
    }
    io.tx('R\x01');
    io.tx(Buffer.from([RAW_PASTE_WINDOW & 0xff, RAW_PASTE_WINDOW >> 8, 0x01]));
    io.post({ t: 'inc', k: 'raw_paste_sessions' });
    io.listen([CTRL_C, CTRL_D]);
    const src = [];
    let remain = RAW_PASTE_WINDOW;
    for (;;) {
      const c = io.rx();
      if (c === CTRL_C || c === CTRL_D) {
        io.tx('\x04'); // end of input acknowledged
        if (c === CTRL_C) {
          // KeyboardInterrupt raised by the reader while compiling.
          io.tx('\x04');
          this.printExc('KeyboardInterrupt: \n');
          io.tx('\x04');
          return null;
        }
        break;
      }
      src.push(c);
      // The window frees up as the firmware consumes bytes from its buffer.
      if (--remain === 0) {
        io.tx('\x01');
        remain = RAW_PASTE_WINDOW;
      }
    }
    const r = io.exec(Buffer.from(src).toString('utf8'));
    return this.finishExec(r);
  }

  // -------------------------------------------------------- friendly REPL

  // readline(): returns {ctrl: code} or {line: string}.
  readline(prompt, buf) {
    const io = this.io;
    io.tx(prompt);
    // A line ends the reading (it may run); so does Ctrl-D (soft reset).
    io.listen([0x0d, CTRL_D]);
    let line = '';
    let esc = 0;
    for (;;) {
      const c = io.rx();
      if (esc) {
        // Swallow VT100 escape sequences (arrow keys etc.).
        if (esc === 1 && c === 0x5b) { esc = 2; continue; }
        if (esc === 2 && c >= 0x30 && c <= 0x3f) continue;
        esc = 0;
        continue;
      }
      if (c === CTRL_C) {
        io.tx('\r\n');
        return { ctrl: CTRL_C };
      }
      if ((c === CTRL_A || c === CTRL_B || c === CTRL_D || c === CTRL_E) && line.length === 0 && buf === '') {
        return { ctrl: c };
      }
      if (c === CTRL_D && line.length === 0) return { ctrl: c };
      if (c === 0x0d) {
        io.tx('\r\n');
        return { line };
      }
      if (c === 0x1b) { esc = 1; continue; }
      if (c === 0x08 || c === 0x7f) {
        if (line.length) {
          line = line.slice(0, -1);
          io.tx('\x08\x1b[K');
        }
        continue;
      }
      if (c >= 0x20 && c < 0x7f) {
        line += String.fromCharCode(c);
        io.tx(String.fromCharCode(c));
      } else if (c >= 0x80) {
        line += String.fromCharCode(c);
        io.tx(Buffer.from([c]));
      }
    }
  }

  friendlyRepl() {
    const io = this.io;
    if (!this.skipFriendlyBanner) io.tx(this.banner());
    this.skipFriendlyBanner = false;
    this.ready();
    for (;;) {
      const r = this.readline('>>> ', '');
      let src;
      let single = true;
      if (r.ctrl === CTRL_A) {
        io.tx('\r\n');
        this.mode = 'raw';
        io.post({ t: 'inc', k: 'raw_repl_entries' });
        return 'switch';
      } else if (r.ctrl === CTRL_B) {
        io.tx('\r\n');
        io.tx(this.banner());
        continue;
      } else if (r.ctrl === CTRL_C) {
        continue;
      } else if (r.ctrl === CTRL_D) {
        io.tx('\r\n');
        return 'soft';
      } else if (r.ctrl === CTRL_E) {
        io.tx('\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ');
        io.listen([CTRL_C, CTRL_D]);
        const bytes = [];
        let cancelled = false;
        for (;;) {
          const c = io.rx();
          if (c === CTRL_C) { io.tx('\r\n'); cancelled = true; break; }
          if (c === CTRL_D) { io.tx('\r\n'); break; }
          bytes.push(c);
          if (c === 0x0d) io.tx('\r\n=== ');
          else io.tx(Buffer.from([c]));
        }
        if (cancelled) continue;
        src = Buffer.from(bytes).toString('utf8').replace(/\r\n?/g, '\n');
        single = false;
      } else if (r.line.length === 0) {
        continue;
      } else {
        src = r.line;
        let cancelled = false;
        while (needsMore(src)) {
          const more = this.readline('... ', src);
          if (more.ctrl === CTRL_C) { cancelled = true; break; }
          if (more.ctrl === CTRL_D) break;
          if (more.ctrl !== undefined) continue;
          src += '\n' + more.line;
        }
        if (cancelled) continue;
      }
      const res = io.exec(src, { single, kind: KIND_FRIENDLY });
      if (res.kind === 'hard') { this.executed(); return 'hard'; }
      if (res.kind === 'exit') { this.executed(); return 'soft'; }
      this.printExc(res.exc);
      this.executed();
    }
  }
}

module.exports = { Firmware, needsMore };
