# Board personality, installed into every fresh interpreter (power-on and each
# soft reset).  Runs in its own globals dict, so nothing here shows up in the
# REPL's namespace.
#
# The WebAssembly build lacks what a board has (machine, a readable
# sys.stdin, hashlib.sha1, a board-sized gc.mem_free) and has things some
# firmware lacks (deflate).  MicroPython's import statement calls
# builtins.__import__, so we hook it and hand out wrapper objects that add or
# hide names and delegate everything else to the real module.
#
# worker.js replaces the CONFIG placeholder below with a dict literal.

# A board's firmware imports nothing from its filesystem before boot.py
# (ports/esp32/main.c mp_task: mp_init, then pyexec_file_if_exists), so
# the shim imports with only the firmware's frozen modules on sys.path (this
# port's os is a frozen package, '.frozen' in sys.path): a user's
# binascii.py or lib/hashlib.py on the flash cannot reach them.
import sys
import _brd  # the emulator's own, registered from JS (worker.js)
_path = sys.path[:]
sys.path.clear()
if '.frozen' in _path:
    sys.path.append('.frozen')
import builtins
import binascii
import io
import uctypes

# Strings returned from JS to Python are never freed by this build, and
# within one execution nothing is garbage-collected at all (the WebAssembly
# port collects only between executions).  So data crosses to and from JS as
# (address, length) of Python buffers, found with uctypes.addressof, and the
# loops below allocate nothing per iteration.
_scratch = bytearray(64)
_brd.setbuf(uctypes.addressof(_scratch), len(_scratch))

CFG = @CONFIG@

_real_import = builtins.__import__
_sys = _real_import('sys')
_mp = _real_import('micropython')
_hashlib = _real_import('hashlib')
_gc = _real_import('gc')
_os_real = _real_import('os')


class _Delegate:
    # Attribute lookups not defined on the wrapper go to the real module.
    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)


_POLLIN = 1
_POLLOUT = 4
_MP_STREAM_POLL = 3


class _StdinBuffer(io.IOBase):
    # sys.stdin.buffer: blocking binary reads from the serial line (the
    # stdin ring).  Like the firmware's stream (shared/runtime/
    # sys_stdio_mphal.c stdio_buffer_read), read(n) returns exactly n bytes.
    #
    # Pollable like the firmware's: select.poll() asks ioctl(MP_STREAM_POLL)
    # and mp_hal_stdio_poll (ports/esp32/mphalport.c, ports/esp8266/
    # esp_mphal.c) answers POLLIN when the stdin ring holds a byte and
    # POLLOUT always (UART output blocks rather than refuses).
    def ioctl(self, req, arg):
        if req == _MP_STREAM_POLL:
            r = 0
            if arg & _POLLIN and _brd.avail() > 0:
                r |= _POLLIN
            if arg & _POLLOUT:
                r |= _POLLOUT
            return r
        return 0

    def read(self, n=-1):
        if n is None or n < 0:
            # Until EOF, which a UART never signals: collect forever.
            out = bytearray()
            while True:
                out.extend(self.read(1))
        # Allocate once, like the firmware's vstr.
        buf = bytearray(n)
        self.readinto(buf)
        return bytes(buf)

    def readinto(self, buf, n=None):
        if n is None or n > len(buf):
            n = len(buf)
        addr = uctypes.addressof(buf)
        got = 0
        _brd.rxwait(n)
        try:
            while got < n:
                # JS writes straight into buf; blocks for at least one byte.
                # 0 means Ctrl-C: the pending KeyboardInterrupt fires at the
                # loop's next iteration.
                got += _brd.rd(addr + got, n - got)
        finally:
            _brd.rxwait(0)
        return got

    def readline(self):
        out = bytearray()
        while True:
            b = self.read(1)
            out.extend(b)
            if b == b'\n':
                return bytes(out)

    def write(self, b):
        return 0


class _Stdin(io.IOBase):
    # Text stdin: like stdio_read, CR reads as LF.
    def __init__(self, with_buffer):
        if with_buffer:
            self.buffer = _StdinBuffer()
        self._b = _StdinBuffer()

    def ioctl(self, req, arg):
        return self._b.ioctl(req, arg)

    def read(self, n=-1):
        return self._b.read(n).replace(b'\r', b'\n').decode()

    def readline(self):
        return self._b.readline().decode()

    def readinto(self, buf, n=None):
        return self._b.readinto(buf, n)


class _StdoutBuffer:
    # Binary output goes out unmodified (no LF -> CRLF), like the firmware.
    def write(self, b):
        if isinstance(b, str):
            b = b.encode()
        _brd.txraw(uctypes.addressof(b), len(b))
        return len(b)


class _Stdout(_Delegate):
    def __init__(self, real):
        super().__init__(real)
        self.buffer = _StdoutBuffer()

    def write(self, s):
        return self._real.write(s)


class _Sys(_Delegate):
    def __init__(self):
        super().__init__(_sys)
        self.platform = CFG['platform']
        self.stdin = _Stdin(CFG['stdin_buffer'])
        self.stdout = _Stdout(_sys.stdout)


class _Micropython(_Delegate):
    def kbd_intr(self, c):
        # Tell the UART model at once, so that 0x03 bytes arriving from now
        # on are data, not interrupts.
        _brd.intr(c)
        return self._real.kbd_intr(c)


class _Gc(_Delegate):
    # The WebAssembly heap can grow, a board's cannot: report free memory
    # relative to the configured heap size.
    def mem_free(self):
        return max(0, CFG['heap'] - _gc.mem_alloc())


class _Os(_Delegate):
    # os.sync() exists on boards (flushes littlefs); MEMFS needs nothing.
    def sync(self):
        pass

    # The WebAssembly port's VfsPosix mounted at '/' fails to rename between
    # absolute paths in a subfolder (OSError ENOENT) where a board succeeds;
    # renaming through paths relative to '/' works, so do that.
    def rename(self, old, new):
        os = self._real
        cwd = os.getcwd()

        def rooted(p):
            if p[:1] != '/':
                p = cwd.rstrip('/') + '/' + p
            return p.lstrip('/')

        old, new = rooted(old), rooted(new)
        os.chdir('/')
        try:
            os.rename(old, new)
        finally:
            os.chdir(cwd)

    def uname(self):
        from collections import namedtuple
        t = namedtuple('uname_result', ('sysname', 'nodename', 'release', 'version', 'machine'))
        return t(CFG['platform'], CFG['platform'], '1.27.0', 'v1.27.0 on 2025-12-10', CFG['machine'])


class _Sha1:
    # hashlib.sha1 backed by the host (node:crypto); real ESP firmware has it.
    def __init__(self, data=None):
        self._id = _brd.sha1_new()
        if data:
            self.update(data)

    def update(self, data):
        if isinstance(data, str):
            data = data.encode()
        _brd.sha1_update(self._id, uctypes.addressof(data), len(data))

    def digest(self):
        _brd.sha1_digest(self._id)
        return bytes(_scratch[:20])


class _Hashlib(_Delegate):
    def __init__(self):
        super().__init__(_hashlib)
        if CFG['sha1']:
            self.sha1 = _Sha1


_time = _real_import('time')
_timers = []


class _Timer:
    # machine.Timer (ports/esp32/machine_timer.c, ports/esp8266/
    # machine_timer.c): a callback every period ms (PERIODIC) or once
    # (ONE_SHOT).  A board's timer interrupt schedules the callback
    # (mp_sched_schedule), which runs wherever the VM handles pending
    # work: between bytecodes, and while the REPL waits for input
    # (mp_hal_stdin_rx_chr runs MICROPY_EVENT_POLL_HOOK).  Ctrl-C's
    # KeyboardInterrupt ends main.py, not its timers: they keep printing
    # at the REPL until a soft reset (machine_timer_deinit_all()), which
    # here is a fresh interpreter.  This WebAssembly build has no VM hook,
    # so callbacks run while the firmware waits for input (worker.js rx()),
    # not in the middle of running code.
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, *args, **kw):
        self._cb = None
        if args or kw:
            self.init(*args, **kw)

    def init(self, mode=1, period=-1, callback=None, freq=-1, tick_hz=1000):
        if freq > 0:
            period = max(1, 1000 // freq)
        self._mode = mode
        self._period = max(1, period)
        self._cb = callback
        self._due = _time.ticks_add(_time.ticks_ms(), self._period)
        if self not in _timers:
            _timers.append(self)
        _brd.timer(self._period)

    def deinit(self):
        if self in _timers:
            _timers.remove(self)

    def value(self):
        return max(0, _time.ticks_diff(self._due, _time.ticks_ms()))


class _TimerHub:
    # worker.js calls fire() when a callback is due and the firmware waits
    # for input; the next due time goes back through _brd.timer().
    def fire(self):
        now = _time.ticks_ms()
        for t in list(_timers):
            if _time.ticks_diff(t._due, now) > 0:
                continue
            if t._mode == _Timer.PERIODIC:
                t._due = _time.ticks_add(now, t._period)
            else:
                _timers.remove(t)
            if t._cb:
                try:
                    t._cb(t)
                except Exception as e:
                    _sys.print_exception(e)
        nxt = -1
        now = _time.ticks_ms()
        for t in _timers:
            d = max(0, _time.ticks_diff(t._due, now))
            if nxt < 0 or d < nxt:
                nxt = d
        _brd.timer(nxt)


_sys.modules['_brd_timers'] = _TimerHub()


class _Machine:
    # The subset of `machine` that host tools use.
    Timer = _Timer

    def __init__(self):
        self._freq = CFG['freq']

    def unique_id(self):
        return binascii.unhexlify(CFG['uid'])

    def reset(self):
        _brd.hard_reset()
        raise SystemExit

    def soft_reset(self):
        raise SystemExit

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f

    def idle(self):
        pass


_overrides = {
    'sys': _Sys(),
    'micropython': _Micropython(_mp),
    'gc': _Gc(_gc),
    'hashlib': _Hashlib(),
    'machine': _Machine(),
    'os': _Os(_os_real),
}
_blocked = set(CFG['blocked'])


# The overridden modules that are extensible built-ins
# (MP_REGISTER_EXTENSIBLE_MODULE: extmod/modos.c, extmod/modhashlib.c,
# extmod/modmachine.c; sys, gc and micropython are not): a board finds a
# module already loaded under the name first, then a file or folder of
# that name on sys.path, and only then the built-in (py/builtinimport.c
# process_import_at_level, stat_top_level: a folder, name.py, name.mpy).
_extensible = ('os', 'hashlib', 'machine')


def _loaded_file(name):
    # This port keeps its built-ins in sys.modules too; only a module
    # loaded from a file counts.
    m = _sys.modules.get(name)
    return m is not None and m is not _os_real and m is not _hashlib


def _on_path(name):
    for d in _sys.path:
        base = name if d == '' else d.rstrip('/') + '/' + name
        for p in (base, base + '.py', base + '.mpy'):
            try:
                _os_real.stat(p)
                return True
            except OSError:
                pass
    return False


def _import(name, *args):
    level = args[3] if len(args) > 3 else 0
    if level == 0:
        if name in _extensible and (_loaded_file(name) or _on_path(name)):
            return _real_import(name, *args)
        o = _overrides.get(name)
        if o is not None:
            return o
        if name in _blocked:
            raise ImportError("no module named '%s'" % name)
    return _real_import(name, *args)


builtins.__import__ = _import
sys.path.clear()
sys.path.extend(_path)
# What this port froze (os, binascii, io: found through '.frozen') is in
# sys.modules now, loaded by worker.js and the lines above; a board has
# them built in, never in sys.modules, so that a user's os.py or
# binascii.py on sys.path comes first (py/builtinimport.c).  Loaded,
# they would hide such a file, as no board does.
for _name in ('os', 'os.path', 'binascii', 'io'):
    sys.modules.pop(_name, None)
