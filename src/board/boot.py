# boot.py - brings the agent (agent.py) onto a board in one execution.
#
# The host (src/board/agent.c, agent_start) sends this file through the
# raw REPL, followed by one line that runs it; the build turns it into C
# strings as it does agent.py (src/board/agent2c.c), so the same rules
# hold: no docstrings, no tabs, no '#' after code.
#
# The file has three parts (split where agent2c is told to).
#
# A board with the heap to inflate gets the agent's two parts as one
# raw-deflate stream, about 40 % of their size.  A board that has the
# stream in its cache gets the first part of this file and the line
#     senko_run(open(CACHE/NAME, 'rb'), SIZE1, SIZE2, WBITS)
# (the probe hashed the file to what the host would send).  A board
# without gets the first two parts and the line
#     senko_run(senko_boot(N, UNIT, IDLE_MS, CACHE, NAME, STORE, 1), ...)
#
# A board with less heap (an ESP8266) runs the plain agent from a copy
# in its cache, compiling it a piece at a time (the third part): one
# execution each for
#     senko_src(CACHE/NAME, 0, SIZES1)
#     senko_src(CACHE/NAME, SIZE1, SIZES2)
# The first session writes the copy: all three parts, and
#     senko_boot(N, UNIT, IDLE_MS, CACHE, NAME, 1, 0)
# before the first senko_src line.
#
# senko_boot's stream follows on stdin: N bytes in units of UNIT bytes, the
# host sending the next only when a credit (06) says a unit left the
# stdin ring, so it never has more in flight than the smallest ring holds
# (255 bytes on an ESP8266).  The bytes are any values, 03 too: Ctrl-C is
# off while they come, and on again after them or when the host goes
# quiet for IDLE_MS (the next session's Ctrl-C then gets in).  The host
# sends nothing before the first credit, which says Ctrl-C is off: a 03
# arriving earlier would interrupt the program.  With STORE set, the
# bytes go to the cache as they come, renamed into place once whole, and
# the older files there go; with HOLD set they are also kept in RAM and
# returned (a BytesIO), else None is returned.

import sys


def senko_builtin(name):
    # The built-in module, whatever the board's files are called: with
    # sys.path empty and the name out of sys.modules, no deflate.py on
    # the board can stand in for it (agent.py does the same).
    saved_path = list(sys.path)
    saved = sys.modules.pop(name, None)
    sys.path.clear()
    try:
        return __import__(name)
    finally:
        sys.path.extend(saved_path)
        if saved is not None:
            sys.modules[name] = saved


def senko_run(z, size1, size2, wbits):
    # Part 1 (definitions), then part 2 (the run), inflated from the
    # stream z and run in the REPL's globals (exec in a function runs in
    # the module's globals on MicroPython) one after the other, as the
    # plain code is: the compiler's peak stays that of one part.
    d = senko_builtin('deflate')
    s = d.DeflateIO(z, d.RAW, wbits)
    exec(s.read(size1))
    s = s.read(size2)
    z.close()
    z = None
    exec(s)

# agent2c: split (what follows only when the agent is sent)


def senko_boot(n, unit, idle_ms, cache, name, store, hold):
    # The stream from stdin into a BytesIO and/or the cache, credit-paced.
    io = senko_builtin('io')
    os = senko_builtin('os')
    micropython = senko_builtin('micropython')
    try:
        select = senko_builtin('select')
        poller = select.poll()
        poller.register(sys.stdin, select.POLLIN)
    except Exception:
        poller = None
    cache += '/'
    z = io.BytesIO(n) if hold else None
    f = None
    if store:
        tmp = cache + '.' + name + '.tmp'
        try:
            os.mkdir(cache[:-1])
        except OSError:
            pass
        try:
            f = open(tmp, 'wb')
        except OSError:
            f = None
    b = bytearray(unit)
    got = 0
    micropython.kbd_intr(-1)
    try:
        sys.stdout.buffer.write(b'\x06')
        while got < n:
            # ipoll, not poll: nothing allocated per unit.
            if poller and next(poller.ipoll(idle_ms), None) is None:
                raise OSError('the host went quiet')
            k = min(unit, n - got)
            sys.stdin.buffer.readinto(b if k == unit else memoryview(b)[:k])
            sys.stdout.buffer.write(b'\x06')
            got += k
            if z:
                z.write(b if k == unit else b[:k])
            if f:
                try:
                    f.write(b if k == unit else b[:k])
                except OSError:
                    senko_drop(os, f, tmp)
                    f = None
    finally:
        micropython.kbd_intr(3)
    if f:
        try:
            senko_keep(os, f, cache, tmp, name)
        except OSError:
            senko_drop(os, f, tmp)
    if z:
        z.seek(0)
    return z


def senko_drop(os, f, tmp):
    # A cache file that cannot be written (no room, say) goes; the agent
    # runs all the same, and a later session sends it again.
    try:
        f.close()
    except OSError:
        pass
    try:
        os.remove(tmp)
    except OSError:
        pass


def senko_keep(os, f, cache, tmp, name):
    # The cache file goes into place whole: closed and synced under its
    # temporary name, every other file in the cache (older builds, a
    # damaged copy, leftovers of a cut) removed, then renamed.  A power
    # cut leaves no cache or a whole one, never a torn file under the
    # name the probe looks for.
    f.close()
    try:
        os.sync()
    except AttributeError:
        pass
    for x in os.listdir(cache[:-1]):
        if cache + x != tmp:
            os.remove(cache + x)
    os.rename(tmp, cache + name)

# agent2c: split (what follows only for the plain agent from the cache)


def senko_src(p, o, sizes):
    # The plain agent's part at offset o of the cached copy p, compiled
    # and run a piece at a time (sizes: whole top-level statements, about
    # a kilobyte each, agent2c.c's struct pieces), in the REPL's globals:
    # the compiler holds one piece's parse tree, not the part's, and the
    # text is read into one buffer, not a string per piece.  The file is
    # closed before the last piece runs: the last piece of the second
    # part is the agent's run.
    b = bytearray(max(sizes))
    m = memoryview(b)
    f = open(p, 'rb')
    f.seek(o)
    i = 0
    for n in sizes:
        i += 1
        if f.readinto(m[:n]) != n:
            f.close()
            raise OSError('%s: short' % p)
        if i == len(sizes):
            f.close()
        exec(m[:n])
