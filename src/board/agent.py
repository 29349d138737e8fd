# agent.py - the program senko runs on a board for one visit.
#
# The host (src/board/agent.c) gets this file onto the board in two parts
# (split where agent2c is told to): the first defines, the second runs.
# A board with deflate gets both as one compressed stream through a small
# bootstrap (src/board/boot.py), which also keeps the stream in CACHE and
# runs it from there in later sessions; one without gets them as plain
# code in two executions.  The run speaks a framed, checksummed,
# credit-paced protocol on the serial line until the host says 'Q' (or goes quiet for IDLE_MS, or
# sends something that is not a unit).  Everything lives in the REPL's
# globals until the reset that ends every session.  The build turns it
# into a C string (src/board/agent2c.c: comments and blank lines go,
# indentation shrinks); keep it plain: no docstrings, no tabs, and no
# '#' inside strings except at the start of a comment line.
#
# File data in a put is raw, or segments of one raw-deflate stream that
# runs across the files of the run (src/zrun.h has the layout).
#
# Host -> board: commands in units of exactly UNIT bytes, each written by
# the host in one piece:  type, n (payload length, bit 7: more units
# follow for this command), payload, zero padding, 16-bit sum of every
# byte before it.  File data goes in larger 'D' units of up to PIECES
# pieces of UNIT bytes:  'D', n (16 bits), payload, zero padding to the
# end of the last piece, 16-bit sum of every byte before it; 5 bytes of
# framing per 982 payload bytes (a one-piece unit costs 4 per 43).  The
# agent sends one credit byte (06) per piece it took out of the stdin
# ring, so the host never has more in flight than the ring holds, in
# pieces of UNIT bytes whatever the units.  UNIT is 47 so that five
# pieces (235 bytes) fit both an ESP32's ring (259 bytes usable) and an
# ESP8266's (255) with agent.c's margin: the fuller the window, the more
# the line carries while the board waits for its flash chip.
#
# A foreign byte (the next session's Ctrl-C, when this host died) must
# stop the agent at once, not vanish into a unit's payload.  The first
# byte of every unit must be a unit type.  The host writes each piece in
# one write(), but may die between the pieces of one 'D' unit (SIGKILL
# while it waits for a credit).  So the later pieces of a 'D' unit never
# start with a FOREIGN byte (Ctrl-A to Ctrl-D, CR, and the host's own
# 'z'): the host ends a unit early, at the piece before, when one would
# (one piece in 43 of random data, 5 bytes more each time).  Whatever a
# new session sends first (senko's enter_raw "\r\x03\x03", mpremote's
# "\r\x03", a user's Ctrl-C) then stops the agent at the next piece's
# start; the rest of its bytes find the raw REPL, as at a unit's start.
# Only a host killed inside the write() of one piece leaves part of a
# piece (as a part of a unit could before); the next session's attempts
# then fill that piece, and the next starts with one of their bytes, all
# of which are FOREIGN (that session may time out first; the next gets
# in).
# With no next session, ipoll's IDLE_MS before every piece ends the run.
#
# Read-ahead: while the board waits for its flash chip the line can
# carry only what the ring holds (20 ms of it at 115200), and the source
# files of a push keep the chip busy far longer than the line.  So,
# between the writes of a put, the agent takes the pieces that have
# arrived out of the ring and keeps them, in order, in a BytesIO of up to
# la_max pieces (ahead()), crediting each as usual: the host never has
# more in flight than the ring holds, and the line keeps moving while the
# chip works.  piece() takes from there first.  What it reads ahead is
# what the host sends next (agent.c sends compressed files first, raw
# ones after): 16 KB of it taken during the source's flash time leaves
# 16 KB less to wait for when the raw data comes.  A piece is taken only
# once it should have arrived whole (due[]: from when its credit went,
# the host's turn and the line's rate): reading one that is still on
# the way would hold the CPU until it has.  A piece that starts with a
# FOREIGN byte ends the run as it leaves the ring, not once what was read
# ahead of it is written: the host's 'z' (agent_end) and a new session's
# Ctrl-C stop a busy board within a window's worth of its work.
#
# Board -> host: frames 1E, type, length (16 bits), payload, 16-bit sum of
# type, length and payload.  Anything outside frames (text a timer
# callback printed, say) is not ours and the host skips it.
#
# It allocates nothing per piece (a board collects garbage, but the
# emulator cannot inside one execution) and imports only built-ins: with
# sys.path emptied and the names dropped from sys.modules, a file on the
# board called hashlib.py or binascii.py cannot stand in for them.

UNIT = 47
PIECES = 21
IDLE_MS = 5000
RECORD = '.senko.json'
JOURNAL = '.senko.journal'
SUFFIX = '.senko-tmp'
# The agent's own cached copy (src/board/boot.py writes it): never
# listed, counted or pruned, and off sys.path.
CACHE = '/.senko'
# Unit types: pad, Abort, Commit, Data, Hash, Inventory, List, Put,
# Quit, Read, and z (the host giving up).
TYPES = b'\x00ACDHILPQRz'
# Never the first byte of a 'D' unit's later pieces (agent.h
# AGENT_FOREIGN): Ctrl-A to Ctrl-D, CR, 'z'.
FOREIGN = b'\x01\x02\x03\x04\rz'
NAMES = ('ENOENT', 'EIO', 'ENOMEM', 'EACCES', 'EEXIST', 'ENOTDIR', 'EISDIR',
         'EINVAL', 'ENOSPC', 'EROFS', 'ENOTEMPTY')


import sys
saved_path = list(sys.path)
saved_mods = {}
for name in ('os', 'gc', 'micropython', 'binascii', 'hashlib', 'select', 'errno',
             'io', 'deflate', 'time'):
    if name in sys.modules:
        saved_mods[name] = sys.modules.pop(name)
sys.path.clear()
try:
    import os
    import gc
    import micropython
    import binascii
    import hashlib
    import time
    import io
    try:
        import select
    except ImportError:
        select = None
    try:
        import errno
    except ImportError:
        errno = None
    # An inflater for raw deflate: (stream, window bits) -> stream.
    try:
        import deflate
        inflater = lambda s, w: deflate.DeflateIO(s, deflate.RAW, w)
    except ImportError:
        inflater = None
finally:
    sys.path.extend(saved_path)
    for name in saved_mods:
        sys.modules[name] = saved_mods[name]

inp = sys.stdin.buffer
out = sys.stdout.buffer
hb = bytearray(512)
hm = memoryview(hb)
tb = bytearray(32)
tm = memoryview(tb)
have_sha1 = hasattr(hashlib, 'sha1')
poller = None
if select:
    try:
        poller = select.poll()
        poller.register(sys.stdin, select.POLLIN)
    except Exception:
        poller = None

class Stop(Exception):
    pass

class Abort(Exception):
    pass

# Compressed file data (src/zrun.h): one inflater for the run reading
# segments staged in a BytesIO; where the current 'D' unit's payload
# stands.
staged_z = None
wf = None
wh = None
werr = ''
unz = None
zlen = 0
up = 0
un = 0
# The listing digest of the last inventory, [prefix of its top, sum,
# entries], kept up to date as this run changes the board (note()), so
# that the finish needs no second walk: a board lists 2,000 files
# slowly.  None when unknown (no inventory yet, or a change that went
# wrong halfway).  Temporary files this run left behind: the finish
# walks to remove them.
ledger = None
temps_out = 0
# Read-ahead (ahead()): la holds la_n pieces from slot la_r on, a ring of
# la_max; due[dk] is when the next piece in the stdin ring should have
# arrived whole, a ring of the host's window (ticks_us); piece_us is a
# piece's time on the line.  Set up by the first put that asks for it.
la = None
la_max = 0
la_r = la_w = la_n = 0
due = None
dk = 0
piece_us = 0
la_taken = 0

def send(t, payload=b''):
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    s = (t + (n >> 8) + (n & 255) + sum(payload)) & 65535
    out.write(bytes((30, t, n >> 8, n & 255)))
    out.write(payload)
    out.write(bytes((s >> 8, s & 255)))

def piece(i):
    # Piece i of a unit: what was read ahead, or out of the ring and its
    # credit.  Its first byte alone first: anything but a unit type at a
    # unit's start, or a FOREIGN byte at a later piece's, ends the run at
    # once.
    # ipoll, not poll: poll() builds a list per call, one per piece here,
    # which the emulator cannot collect within the run (and a board
    # spends collections on).
    global la_r, la_n
    if la_n:
        la.seek(la_r * UNIT)
        la.readinto(whole[i])
        la_r += 1
        if la_r == la_max:
            la_r = 0
        la_n -= 1
        if foreign[rb[i * UNIT]] if i else not known[rb[i * UNIT]]:
            raise Stop('not a unit')
        return
    if poller and next(poller.ipoll(IDLE_MS), None) is None:
        raise Stop('idle')
    inp.readinto(one)
    if foreign[one[0]] if i else not known[one[0]]:
        raise Stop('not a unit')
    rb[i * UNIT] = one[0]
    inp.readinto(pr[i])
    out.write(b'\x06')
    credited()

def credited():
    # A piece left the ring and its credit went: the piece that credit
    # lets the host send is due a piece's line time after the later of
    # now plus the host's turn (a millisecond) and the piece due before it.
    global dk
    if due is None:
        return
    t = time.ticks_add(time.ticks_us(), 1000)
    if time.ticks_diff(due[dk - 1], t) > 0:
        t = due[dk - 1]
    due[dk] = time.ticks_add(t, piece_us)
    dk += 1
    if dk == len(due):
        dk = 0

def ahead():
    # The pieces that have arrived whole, out of the ring into la.
    global la_w, la_n, la_taken
    while la_n < la_max:
        if time.ticks_diff(time.ticks_us(), due[dk]) < 0:
            return
        if next(poller.ipoll(0), None) is None:
            return
        inp.readinto(one)
        if foreign[one[0]]:
            raise Stop('not a unit')
        la.seek(la_w * UNIT)
        la.write(one)
        inp.readinto(pb)
        la.write(pb)
        out.write(b'\x06')
        credited()
        la_w += 1
        if la_w == la_max:
            la_w = 0
        la_n += 1
        la_taken += 1

def unit():
    # One unit from the host, or Stop when it went away.  The type is
    # returned; a command's payload length is rb[1] & 127, a 'D' unit's
    # rb[1] << 8 | rb[2] (no tuple: nothing allocated per unit).
    piece(0)
    k = 1
    if rb[0] == 68:
        # Pieces for 5 bytes of framing and n of payload, rounded up.
        k = ((rb[1] << 8 | rb[2]) + 4 + UNIT) // UNIT
        if k > PIECES:
            raise Stop('length')
        for i in range(1, k):
            piece(i)
    s = 0
    for i in range(k):
        s += rb[i * UNIT] + sum(pr[i])
    e = k * UNIT
    s -= rb[e - 2] + rb[e - 1]
    if s & 65535 != rb[e - 2] << 8 | rb[e - 1]:
        raise Stop('checksum')
    return rb[0]

def command():
    # The next command: (type, payload bytes); pad units are skipped.
    while True:
        t = unit()
        if t:
            break
    body = bytes(rm[2:2 + (rb[1] & 127)])
    while rb[1] & 128:
        unit()
        body += bytes(rm[2:2 + (rb[1] & 127)])
    return t, body

def why(e):
    # An OSError by name (ENOENT), not by a number that differs per
    # port; the host names bare numbers by MicroPython's own table.
    if isinstance(e, OSError) and e.args and isinstance(e.args[0], int):
        n = e.args[0]
        if errno:
            name = errno.errorcode.get(n)
            if name:
                return name
            for name in NAMES:
                if getattr(errno, name, None) == n:
                    return name
        return 'errno %d' % n
    return repr(e)

def temp(p):
    d, _, f = p.rpartition('/')
    return d + '/.' + f + SUFFIX

def stat_entry(p):
    # What the listing shows for p: its size, -1 for a folder, None if
    # there is nothing.
    try:
        s = os.stat(p)
    except OSError:
        return None
    return -1 if s[0] & 0x4000 else s[6]

def exists(p):
    return stat_entry(p) is not None

def isdir(p):
    return stat_entry(p) == -1

def hasher(size):
    if have_sha1:
        h = hashlib.sha1()
        h.update(('blob %d\x00' % size).encode())
        return h
    return hashlib.sha256()

def hexof(h):
    return binascii.hexlify(h.digest()).decode()

def hash_file(p):
    try:
        size = os.stat(p)[6]
    except OSError:
        return ''
    h = hasher(size)
    with open(p, 'rb') as f:
        while True:
            k = f.readinto(hb)
            if not k:
                break
            h.update(hb if k == 512 else hm[:k])
    return hexof(h)

def entry_sum(p, size):
    # An entry's share of the listing digest; temporary files have none.
    if size >= 0 and p.endswith(SUFFIX):
        return 0
    h = hashlib.sha256('%s\x00%d' % (p, size))
    return int.from_bytes(h.digest()[:7], 'big')

def note(p, size, sign):
    # The entry (p, size) appeared (sign 1) or went (-1).
    if ledger and size is not None and p.startswith(ledger[0]):
        v = entry_sum(p, size)
        if v:
            ledger[1] = (ledger[1] + sign * v) & 0xffffffffffffff
            ledger[2] += sign

def sync():
    try:
        os.sync()
    except AttributeError:
        pass

def replace(t, p):
    # The temporary file t becomes p.  Only a folder in the way (one of
    # files senko emptied) is removed first: both drivers rename over a
    # file themselves (vfs_fat.c removes it first), so a rename onto a
    # file that fails is the flash's failure, and the file must stay.
    global temps_out
    old = stat_entry(p)
    try:
        os.rename(t, p)
    except OSError:
        if not isdir(p):
            raise
        os.rmdir(p)
        os.rename(t, p)
    temps_out -= 1
    note(p, old, -1)
    note(p, stat_entry(p), 1)

def mkdirs(d):
    path = ''
    for part in d.split('/'):
        if part:
            path += '/' + part
            if not isdir(path):
                os.mkdir(path)
                note(path, -1, 1)

def prune_dirs(p, top):
    # Remove the folders above p that are left empty, up to top.
    d = p.rpartition('/')[0]
    while d and d != top and d.startswith(top):
        try:
            os.rmdir(d)
        except OSError:
            return
        note(d, -1, -1)
        d = d.rpartition('/')[0]

def walk(d, visit):
    try:
        entries = list(os.ilistdir(d))
    except OSError:
        return
    for e in entries:
        # A name with a newline is never senko's (src/path.c) and would
        # break the listing's lines: the board's own such file is left out.
        if '\n' in e[0]:
            continue
        p = (d if d != '/' else '') + '/' + e[0]
        if p == CACHE:
            continue
        if e[1] & 0x4000:
            visit(p, -1)
            walk(p, visit)
        else:
            visit(p, e[3] if len(e) > 3 and e[3] >= 0 else os.stat(p)[6])

def complete(top, verify):
    # Carry out the journal: deletes, then renames of staged files.
    global ledger
    jp = top.rstrip('/') + '/' + JOURNAL
    done = 0
    kept = []
    # A path, a tab (never in a path senko writes: src/path.c) and why.
    failed = []
    n = 0
    f = open(jp, 'rb')
    while True:
        line = f.readline()
        if not line:
            break
        n += 1
        line = line.rstrip(b'\n')
        if not line:
            continue
        # A line senko did not write (flash gone bad, a hand edit, another
        # version's format) is skipped and reported, never obeyed outside
        # top nor allowed to stop every later session here.
        try:
            kind, hexd, p = line.decode().split(' ', 2)
            if kind not in ('D', 'R') or not p.startswith(jp[:-len(JOURNAL)]):
                raise ValueError
        except Exception:
            failed.append('%s:%d\tunreadable' % (jp, n))
            continue
        # A line the flash refuses is reported, never raised: the
        # journal would stay and stop every later session here.
        try:
            if kind == 'D':
                if exists(p):
                    if hexd and hash_file(p) != hexd:
                        kept.append(p)
                        continue
                    old = stat_entry(p)
                    os.remove(p)
                    note(p, old, -1)
                    prune_dirs(p, top)
                done += 1
                continue
            t = temp(p)
            if not exists(t):
                # Renamed before a power cut (or never staged).
                continue
            if verify and hash_file(t) != hexd:
                os.remove(t)
                failed.append(p + '\tunverified')
                continue
            try:
                replace(t, p)
                done += 1
            except OSError as e:
                ledger = None
                os.remove(t)
                # A folder that would not go still holds files.
                failed.append(p + '\t' + ('ENOTEMPTY' if isdir(p) else why(e)))
        except OSError as e:
            ledger = None
            failed.append(p + '\t' + why(e))
    f.close()
    sync()
    os.remove(jp)
    return done, kept, failed

def feed(k, sink):
    # k bytes of a put's 'D' units into sink; sink None: k bytes read as
    # a big-endian number.  Anything but a 'D' unit raises Abort(type).
    global up, un
    v = 0
    while k:
        if up >= un:
            kind = unit()
            if kind != 68:
                raise Abort(kind)
            un = rb[1] << 8 | rb[2]
            up = 0
        m = un - up
        if m > k:
            m = k
        if sink is None:
            for i in range(m):
                v = v << 8 | rb[3 + up + i]
        elif up == 0 and m == un and (un + 5) % UNIT == 0:
            sink(dv[(un + 5) // UNIT])
        else:
            sink(rm[3 + up:3 + up + m])
        up += m
        k -= m
    return v

def drop(b):
    pass

def emit(b):
    # File data to the file being written and its hash.  A failed write
    # is remembered, not raised: our place in the units must not be lost.
    global wf, werr
    if wf:
        try:
            wf.write(b)
        except OSError as e:
            werr = why(e)
            wf.close()
            wf = None
    wh.update(b)
    if la_max:
        ahead()

# agent2c: split (the board compiles each part on its own: an ESP8266
# has too little heap to compile the whole agent at once.  Both parts
# must compile in the esp8266 profile's 40 KB heap, the second beside
# what the first left; tests/transport/boot.test.sh tries it.  Names
# cost heap too: each new one is interned for good, in a table that
# grows by doubling (micropython.qstr_info(): 196 names after part 1).)

def edit(base, n):
    # The file made from base and an edit script (src/board/recdelta.h:
    # ops C/S/I and a 24-bit length; I's bytes follow).  Anything wrong
    # shows as a hash mismatch: the host then sends the file whole.
    try:
        old = open(base, 'rb')
    except OSError:
        feed(n, drop)
        return
    with old:
        try:
            while n > 0:
                op = feed(1, None)
                k = feed(3, None)
                n -= 4
                if op == 73:
                    n -= k
                    feed(k, emit)
                elif op == 83:
                    old.seek(k, 1)
                else:
                    while k:
                        m = old.readinto(hb if k >= 512 else hm[:k])
                        if not m:
                            break
                        emit(hb if m == 512 else hm[:m])
                        k -= m
        except OSError:
            feed(n, drop)

def inventory(top):
    # Finish an interrupted commit, drop temporaries no journal vouches
    # for, then describe the board in a few dozen bytes.
    global ledger, temps_out
    jp = top.rstrip('/') + '/' + JOURNAL
    journal = ''
    s = stat_entry(jp)
    if s is not None and s >= 0:
        done, kept, failed = complete(top, True)
        journal = '%d %d %d' % (done, len(kept), len(failed))
    # One walk: a board lists 2,000 files slowly.  The digest is a sum
    # of per-entry hashes: the order a folder lists in may change (it
    # does in the emulator after a reset), the sum not.
    temps = []
    ledger = None
    acc = [top.rstrip('/') + '/', 0, 0]

    def visit(p, size):
        v = entry_sum(p, size)
        if not v:
            temps.append(p)
            return
        acc[1] = (acc[1] + v) & 0xffffffffffffff
        acc[2] += 1

    walk(top, visit)
    for t in temps:
        os.remove(t)
    ledger = acc
    temps_out = 0
    return summary(top, journal, len(temps))

def summary(top, journal, temps):
    # The inventory's answer: the record's hash, the listing digest.
    rec = hash_file(top.rstrip('/') + '/' + RECORD)
    return '%s\x00%014x\x00%d\x00%s\x00%d\x00%d' % (rec, ledger[1], ledger[2], journal, temps, gc.mem_free())

def inflate(size, wire, fresh, w, ch):
    # The file from segments of the run's deflate stream: each is its
    # compressed length and bytes, staged whole, then exactly its raw
    # bytes read back (what the inflater has not read yet stays).
    global unz, zlen, staged_z
    if staged_z is None:
        staged_z = io.BytesIO()
    got = 0
    try:
        if fresh or unz is None:
            unz = None
            unz = inflater(staged_z, w)
            zlen = 0
            staged_z.seek(0)
        while got < size:
            # What the inflater has not read of the last segment (the
            # end of its block and the sync flush, a few bytes) moves to
            # the front; tb is reused, so nothing is allocated but a view.
            j = zlen - staged_z.seek(0, 1)
            if j > len(tb):
                raise ValueError('tail')
            if j > 0:
                staged_z.readinto(tb)
            staged_z.seek(0)
            if j > 0:
                staged_z.write(tm[:j])
            n = feed(2, None)
            wire -= 2 + n
            feed(n, staged_z.write)
            zlen = j + n
            staged_z.seek(0)
            n = min(ch, size - got)
            while n:
                k = unz.readinto(hm if n >= 512 else hm[:n])
                if not k:
                    raise ValueError('short')
                emit(hm if k == 512 else hm[:k])
                got += k
                n -= k
    except (ValueError, OSError, EOFError):
        # Damaged on the way: the hash says so (a mismatch, sent again).
        unz = None
    if wire > 0:
        feed(wire, drop)

def put(body):
    # File data follows in 'D' units: raw, compressed (z 1, or 2 for a
    # fresh stream), or an edit script over the board file named in ch
    # (z 'U'); the file goes to its temporary name, is hashed as written
    # and, unless staged, renamed at once.
    global unz, wf, wh, werr, up, un, ledger, temps_out
    p, size, want, staged, z, wire, w, ch, ra, us, win = body.decode().split('\x00')
    if la is None and poller and int(ra):
        read_ahead(int(ra), int(us), int(win))
    size = int(size)
    t = temp(p)
    wf = None
    werr = ''
    up = un = 0
    try:
        mkdirs(p.rpartition('/')[0])
        wf = open(t, 'wb')
        temps_out += 1
    except OSError as e:
        werr = why(e)
    wh = hasher(size)
    try:
        if z == '0':
            feed(size, emit)
        elif z == 'U':
            edit(ch, int(wire))
        elif inflater:
            inflate(size, int(wire), z == '2', int(w), int(ch))
        else:
            raise Stop('no inflater')
    except Abort as e:
        # 'A' (abort) or garbage: the temporary file stays behind for
        # the next session to remove.
        unz = None
        if wf:
            wf.close()
        return e.args[0] == 65
    if wf:
        wf.close()
    have = hexof(wh)
    err = werr
    if err:
        if exists(t):
            os.remove(t)
            temps_out -= 1
        send(69, p + '\x00' + err)
        return True
    if have != want:
        os.remove(t)
        temps_out -= 1
        send(77, have)
        return True
    if staged != '1':
        sync()
        try:
            replace(t, p)
        except OSError as e:
            ledger = None
            send(69, p + '\x00' + why(e))
            return True
    send(75, have)
    return True

def read_ahead(n, us, win):
    # Room for up to n pieces read ahead (io.BytesIO(n) only reserves
    # it), half as much while the heap has no such block, none below two
    # windows; and the window's due times, all as if due now.
    global la, la_max, due, dk, piece_us
    la = b''
    while n >= 2 * win:
        try:
            la = io.BytesIO(n * UNIT)
            break
        except MemoryError:
            n //= 2
    if not la:
        return
    la_max = n
    piece_us = us
    due = [time.ticks_us()] * win
    dk = 0

def listing(top):
    chunk = []
    size = [0]

    def visit(p, n):
        line = '%d %s\n' % (n, p)
        chunk.append(line)
        size[0] += len(line)
        if size[0] > 400:
            send(70, ''.join(chunk))
            chunk.clear()
            size[0] = 0

    walk(top, visit)
    if chunk:
        send(70, ''.join(chunk))
    send(90)

def cut(lines):
    # A list of paths for the commit's answer, cut to about 1.5 KB so
    # that the answer stays one frame (agent.c FRAME_MAX); a last line
    # of 01, never a path senko writes, says it was cut.
    s = '\n'.join(lines)
    if len(s) > 1500:
        s = s[:s.rfind('\n', 0, 1500) + 1] + '\x01'
    return s

def read_file(p):
    try:
        f = open(p, 'rb')
    except OSError as e:
        send(78, why(e))
        return
    with f:
        while True:
            k = f.readinto(hb)
            if not k:
                break
            send(82, hb if k == 512 else hm[:k])
    send(90)

def hello():
    try:
        s = os.statvfs('/')
        flash = s[0] * s[3]
    except Exception:
        flash = -1
    gc.collect()
    v = sys.implementation.version
    send(86, '%d.%d.%d\x00%s\x00%s\x00%d\x00%d\x00%d\x00%d' % (
        v[0], v[1], v[2], sys.platform, 'sha1' if have_sha1 else 'sha256',
        flash, gc.mem_free(), 1 if poller else 0, 1 if inflater else 0))

# The units' buffer, made here rather than with the rest of the globals:
# an ESP8266 compiles this second part with what the first left free.
rb = bytearray(UNIT * PIECES)
rm = memoryview(rb)
known = bytearray(256)
for c in TYPES:
    known[c] = 1
foreign = bytearray(256)
for c in FOREIGN:
    foreign[c] = 1
# A piece's first byte is read into one, the rest into its place in rb
# (pr[i]); a 'D' unit that fills its k pieces hands dv[k] to the sink:
# views made once.
one = bytearray(1)
pr = []
dv = [None]
whole = []
for i in range(PIECES):
    pr.append(rm[i * UNIT + 1:(i + 1) * UNIT])
    dv.append(rm[3:(i + 1) * UNIT - 2])
    whole.append(rm[i * UNIT:(i + 1) * UNIT])
# A piece read ahead: its first byte in one, the rest here.
pb = bytearray(UNIT - 1)

micropython.kbd_intr(-1)
try:
    hello()
    while True:
        t, body = command()
        try:
            if t == 73:
                send(73, inventory(body.decode()))
            elif t == 76:
                listing(body.decode())
            elif t == 72:
                send(72, hash_file(body.decode()))
            elif t == 82:
                read_file(body.decode())
            elif t == 80:
                if not put(body):
                    raise Stop('data')
            elif t == 65:
                send(65)
            elif t == 67:
                # The journal came staged, like any file (hashed as it
                # was written): into place, then carried out.
                top = body.decode()
                jp = top.rstrip('/') + '/' + JOURNAL
                if exists(temp(jp)):
                    sync()
                    os.rename(temp(jp), jp)
                    temps_out -= 1
                done, kept, failed = complete(top, False)
                # No gc.collect() here: the emulator cannot collect
                # inside a run (the heap free, as it stands, is enough
                # to decide on writing the agent's cache).
                send(67, '%d\x00%s\x00%s\x00%d' % (done, cut(kept), cut(failed), gc.mem_free()))
            elif t == 81:
                # The ledger tells the listing as this run left it,
                # unless something is left over that the inventory's
                # walk removes or completes.  Then the pieces read ahead.
                top = body.decode()
                if ledger and ledger[0] == top.rstrip('/') + '/' and not temps_out:
                    send(81, summary(top, '', 0) + '\x00%d' % la_taken)
                else:
                    send(81, inventory(top) + '\x00%d' % la_taken)
                break
            else:
                raise Stop('command %d' % t)
        except OSError as e:
            # A change that stopped halfway: walk at the finish.
            ledger = None
            send(69, why(e))
except Stop as e:
    send(83, str(e.args[0]) if e.args else 'stop')
finally:
    micropython.kbd_intr(3)
