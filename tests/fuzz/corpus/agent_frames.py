#!/usr/bin/env python3
# agent_frames.py - writes the seed corpus of tests/fuzz/fuzz_agent_frames.c
# (tests/fuzz/corpus/agent_frames/): whole agent visits, each what a board
# running src/board/agent.py sends for the host's calls, built from named
# fields so that a change to the protocol is one edit here.
#
#   tests/fuzz/corpus/agent_frames.py [DIR]      (default: next to this file)
#
# The input format is fuzz_agent_frames.c's: a flags byte, n and n
# operation bytes, then chunks (a length byte and that many board bytes;
# length 0 is a silence).  The host's side (src/board/agent.c) is modelled
# only as far as the board needs it: how many pieces each command and a
# put's 'D' units take (one credit, 06, per piece, as agent.py's piece()
# sends it before it acts) and the put's hash and compressed size (Python's zlib at agent.c's
# settings; FUZZ_VERBOSE shows the units and credits if a zlib ever
# compresses differently).  Each answer is one chunk: the
# command's credits, then its frame; fuzz_line.h hands a chunk over when
# the host waits, and agent.c takes its bytes one at a time, so credits in
# a chunk pace a put longer than the window as a real board would.
#
# A regress_* seed is the shape of a past finding (its commit says which);
# it must still reach the step that failed.  Check every seed with
#   FUZZ_VERBOSE=1 build/fuzz/fuzz_agent_frames tests/fuzz/corpus/agent_frames/NAME
import math
import os
import sys
import zlib

UNIT = 64                 # agent.py UNIT
PIECES = 16               # agent.py PIECES: a 'D' unit's pieces at most
PAYLOAD_MAX = UNIT - 4    # agent.c: type, length ... sum16
DATA_MAX = PIECES * UNIT - 5   # agent.c: 'D', length16 ... sum16
FOREIGN = b'\x01\x02\x03\x04\rz'   # agent.h AGENT_FOREIGN

# fuzz_agent_frames.c: the flags byte and the operations.
FLAG_VANISH, FLAG_BYTEWISE, FLAG_STOP = 0x01, 0x02, 0x04
PUT_SIZES = (0, 60, 300, 2000)   # bits 3-4 of the flags
OP = {'inventory': 0, 'list': 1, 'hash': 2, 'read': 3, 'put': 4,
      'journal': 5, 'commit': 6, 'finish': 7, 'put_batch': 4 | 8}
# What fuzz_agent_frames.c passes to each call.
DEST = '/'
PUT_PATH = '/lib/a.py'
BATCH_PATHS = ('/lib/a.py', '/lib/b.py')   # put_batch(): the same data
PUT_BYTE = b'x'
# fuzz_agent_frames.c: foreign bytes in the put's data, by offset.
PUT_FOREIGN = {UNIT - 3: b'\r', 1000: b'z'}
PUT_HEX = '0123456789abcdef' * 4      # the host's "hash": its last 40 or 64
JOURNAL_LINES = 'R 0123456789abcdef0123456789abcdef01234567 /lib/a.py\n'
READ_CAP = 1024                       # what agent_read() may keep

# agent.c agent_window_units(): usable ring bytes by platform.
RINGS = {'esp8266': 255, 'esp32': 259, 'rp2': 511, 'samd': 127}
RING_DEFAULT, RING_MARGIN = 127, 16

END_OF_RUN = b'\x04\x04>'   # the raw REPL: end of output, no error, prompt


def frame(kind, *fields):
    """1E type len16 body sum16 (agent.py send()); fields joined by NUL."""
    body = b'\0'.join(f if isinstance(f, bytes) else str(f).encode()
                      for f in fields)
    t = ord(kind)
    n = len(body)
    s = (t + (n >> 8) + (n & 255) + sum(body)) & 0xffff
    return bytes((0x1e, t, n >> 8, n & 255)) + body + bytes((s >> 8, s & 255))


def hello(version='1.22.0', platform='esp32', algo='sha1', flash=1433600,
          heap=112000, idle=1, inflate=1):
    """agent.py hello(): the 7 fields agent.c parse_hello() reads."""
    return dict(version=version, platform=platform, algo=algo, flash=flash,
                heap=heap, idle=idle, inflate=inflate)


def inventory(record='a94a8fe5ccb19ba61c4c0873d391e987982fbbd3',
              listing='0f3c9a21b07d4e', entries=12, journal='', temps=0,
              heap=21000):
    """agent.py inventory(): the body of an 'I' (and 'Q') frame."""
    return (record, listing, entries, journal, temps, heap)


def units(payload_len):
    """agent.c send_command(): units for a payload (an empty one is one)."""
    return max(1, math.ceil(payload_len / PAYLOAD_MAX))


def data_pieces(wire):
    """agent.c send_data(): the pieces of a put's 'D' units, each ended
    early where a later piece would start with a FOREIGN byte."""
    pieces = off = 0
    while off < len(wire):
        n = min(len(wire) - off, DATA_MAX)
        k = 1
        while k * UNIT - 3 < n:
            if wire[off + k * UNIT - 3] in FOREIGN:
                n = k * UNIT - 5
                break
            k += 1
        pieces += math.ceil((n + 5) / UNIT)
        off += n
    return pieces


def put_data(size):
    """What fuzz_agent_frames.c hands agent_put()."""
    data = bytearray(PUT_BYTE * size)
    for off, byte in PUT_FOREIGN.items():
        if off < size:
            data[off:off + 1] = byte
    return bytes(data)


class Visit:
    """One input: the host's operations and the board's chunks."""

    def __init__(self, name, board, flags=0, put_size=0):
        self.name = name
        self.board = board
        self.flags = flags | PUT_SIZES.index(put_size) << 3
        self.put_size = put_size
        self.ops = []
        self.chunks = []
        # The host's view, as agent.c parse_hello() sets it up.
        self.sha1 = board['algo'] == 'sha1'
        ring = RINGS.get(board['platform'], RING_DEFAULT)
        self.window = max(1, (ring - RING_MARGIN) // UNIT)
        heap = max(0, board['heap'])
        self.wbits = 9                         # zrun.c zrun_wbits()
        while self.wbits < 15 and (1 << (self.wbits + 1)) * 24 <= heap:
            self.wbits += 1
        self.zchunk = 2048 if heap < 64 * 1024 else 4096   # zrun_chunk()
        self.zstream = None                    # zrun's stream, None: fresh

    # ---------------------------------------------------- the board says
    def send(self, data):
        """A chunk of board bytes (at most 255: one length byte)."""
        while len(data) > 255:
            self.chunks.append(data[:255])
            data = data[255:]
        self.chunks.append(data)

    def silence(self):
        self.chunks.append(b'')

    def start(self, noise=b''):
        b = self.board
        self.send(noise + frame('V', b['version'], b['platform'], b['algo'],
                                b['flash'], b['heap'], b['idle'],
                                b['inflate']))

    def answer(self, op, n_units, reply, paced=False):
        """The host's op (n_units pieces), credited, then reply (or None:
        the board says nothing more for it)."""
        self.ops.append(OP[op])
        if paced:   # each credit on its own, as a slow board trickles them
            for _ in range(n_units):
                self.send(b'\x06')
            credits = b''
        else:
            credits = b'\x06' * n_units
        if reply is not None or credits:
            self.send(credits + (reply or b''))

    def end_run(self, traceback=b''):
        """The run ends: the raw REPL's 04, any exception text, 04, '>'."""
        self.send(b'\x04' + traceback + b'\x04>')

    def end_unfinished(self):
        """agent_end() without 'Q' first sends 'z': agent.py credits it,
        stops ('command 122') and the run ends."""
        self.send(b'\x06' + frame('S', 'command %d' % ord('z')) + END_OF_RUN)

    # ------------------------------------------------- the host's calls
    def hex(self):
        return PUT_HEX[-(40 if self.sha1 else 64):]

    def inventory(self, reply):
        self.answer('inventory', units(len(DEST)), reply)

    def list(self, reply):
        self.answer('list', units(len(DEST)), reply)

    def hash(self, reply):
        self.answer('hash', units(len('/main.py')), reply)

    def read(self, reply):
        self.answer('read', units(len('/main.py')), reply)

    def journal(self, reply):
        self.answer('journal', units(len(DEST) + 1 + len(JOURNAL_LINES)),
                    reply)

    def commit(self, reply):
        self.answer('commit', units(len(DEST)), reply)

    def finish(self, reply):
        self.answer('finish', units(len(DEST)), reply)

    def put(self, verdict='ok', paced=False):
        """agent_put(): the 'P' head, then the file's wire bytes in 'D'
        units.  verdict 'ok' is the 'K' frame with the host's hash; any
        other verdict is the frame to send (the run's stream restarts)."""
        data = put_data(self.put_size)
        wire, zmode, trial = self.compress(data)
        head = '\0'.join(str(f) for f in (
            PUT_PATH, len(data), self.hex(), 1, zmode, len(wire),
            self.wbits, self.zchunk))
        n = units(len(head)) + data_pieces(wire)
        ok = verdict == 'ok'
        self.answer('put', n, frame('K', self.hex()) if ok else verdict,
                    paced)
        if zmode:       # agent_put(): zrun_commit or zrun_restart
            self.zstream = trial if ok else None

    def put_batch(self, verdicts=('ok', 'ok')):
        """agent_put_batch() of the put's data under two names: the
        second file's command and data go before the first's verdict,
        which the board sends once it took the first file's last piece,
        between the credits of the second (agent.c batch_run())."""
        data = put_data(self.put_size)
        self.ops.append(OP['put_batch'])
        broken = False
        for path, verdict in zip(BATCH_PATHS, verdicts):
            wire, zmode, trial = self.compress(data)
            head = '\0'.join(str(f) for f in (
                path, len(data), self.hex(), 1, zmode, len(wire),
                self.wbits, self.zchunk))
            reply = frame('K', self.hex()) if verdict == 'ok' else verdict
            self.send(b'\x06' * (units(len(head)) + data_pieces(wire)) +
                      reply)
            if zmode:   # committed as sent (agent.c batch_prepare())
                self.zstream = trial
                broken |= verdict != 'ok'
        if broken:      # a compressed file failed: the stream restarts
            self.zstream = None

    def compress(self, data):
        """zrun_compress() as agent_put() uses it: (wire, zmode, stream)."""
        if not self.board['inflate'] or len(data) < 64:
            return data, 0, None
        fresh = self.zstream is None
        z = (zlib.compressobj(9, zlib.DEFLATED, -self.wbits, 9,
                              zlib.Z_DEFAULT_STRATEGY) if fresh
             else self.zstream.copy())
        wire = b''
        for off in range(0, len(data), self.zchunk):
            seg = z.compress(data[off:off + self.zchunk])
            seg += z.flush(zlib.Z_SYNC_FLUSH)
            wire += len(seg).to_bytes(2, 'big') + seg
        if len(wire) >= len(data) - len(data) // 32:
            return data, 0, None        # not worth it: goes raw
        return wire, 2 if fresh else 1, z

    def bytes(self):
        out = bytes((self.flags, len(self.ops))) + bytes(self.ops)
        for c in self.chunks:
            out += bytes((len(c),)) + c
        return out


def visits():
    esp32 = hello()
    # MicroPython 1.19 has no deflate module: a put goes raw, 2000 bytes
    # are 32 pieces in 3 'D' units (the CR at 61 ends the first after one
    # piece), far past the ESP8266's window of 3.
    esp8266 = hello(version='1.19.1', platform='esp8266', algo='sha256',
                    flash=-1, heap=30000, idle=0, inflate=0)
    bye = frame('Q', *inventory(heap=20500))

    v = Visit('visit_inventory_finish', esp32)
    v.start()
    v.inventory(frame('I', *inventory()))
    v.finish(bye)
    v.end_run(); yield v

    v = Visit('visit_journal_found', esp32)
    v.start()
    v.inventory(frame('I', *inventory(record='', listing='0' * 14,
                                      entries=0, journal='2 0 1', temps=3)))
    v.finish(bye)
    v.end_run(); yield v

    v = Visit('visit_list', esp32)
    v.start()
    v.list(frame('F', '-1 /lib\n812 /lib/a.py\n1520 /main.py\n'))
    v.send(frame('F', '0 /boot.py\n') + frame('Z'))
    v.finish(bye)
    v.end_run(); yield v

    v = Visit('visit_hash_read', esp32)
    v.start()
    v.hash(frame('H', 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3'))
    v.read(frame('R', 'print("hello")\n') + frame('R', 'import lib.a\n') +
           frame('Z'))
    v.hash(frame('H'))                 # no such file
    v.read(frame('N', 'ENOENT'))
    v.finish(bye)
    v.end_run(); yield v

    # More than the READ_CAP bytes fuzz_agent_frames.c lets agent_read()
    # keep (agent.py sends 512-byte frames): EFBIG, and the caller ends
    # the visit (session.c does), agent_end() reading past the rest.
    v = Visit('visit_read_too_large', esp32)
    v.start()
    v.read(b''.join(frame('R', b'#' * 511 + b'\n')
                    for _ in range(READ_CAP // 512 + 1)) + frame('Z'))
    v.end_unfinished(); yield v

    # A timer callback prints between frames; the board refuses twice.
    v = Visit('visit_noise_and_error', esp32)
    v.start(noise=b'hello from a timer\r\n')
    v.hash(b'tick\r\n' + frame('E', 'EIO'))
    v.list(frame('E', 'ENOTDIR'))
    v.finish(bye)
    v.end_run(); yield v

    v = Visit('visit_put_commit', esp32, put_size=300)   # compressed
    v.start()
    v.put()
    v.journal(frame('K'))
    v.commit(frame('C', 2, '/old.txt', '', 20500))
    v.finish(bye)
    v.end_run(); yield v

    # Two files through one deflate stream: the second continues it.
    v = Visit('visit_put_2000_compressed_twice', esp32, put_size=2000)
    v.start()
    v.put()
    v.put()
    v.finish(bye)
    v.end_run(); yield v

    # The board's hash differs: the stream restarts; the next file
    # starts a fresh one and arrives.
    v = Visit('visit_put_compressed_mismatch', esp32, put_size=300)
    v.start()
    v.put(frame('M', 'f' * 40))
    v.put()
    v.finish(bye)
    v.end_run(); yield v

    v = Visit('visit_put_2000_bytewise', esp8266, flags=FLAG_BYTEWISE,
              put_size=2000)
    v.start()
    v.put(paced=True)
    v.finish(frame('Q', *inventory(
        record='e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        heap=20500)))
    v.end_run(); yield v

    # Two files in flight: both written; then the second of a pair is
    # refused (the first still counts) and the run goes on.
    v = Visit('visit_put_batch', esp32, put_size=2000)
    v.start()
    v.put_batch()
    v.put_batch(('ok', frame('E', BATCH_PATHS[1], 'ENOSPC')))
    v.finish(bye)
    v.end_run(); yield v

    v = Visit('visit_put_mismatch', esp32, put_size=60)
    v.start()
    v.put(frame('M', 'f' * 40))
    v.finish(bye)
    v.end_run(); yield v

    v = Visit('visit_put_enospc', esp32, put_size=60)
    v.start()
    v.put(frame('E', PUT_PATH, 'ENOSPC'))
    v.inventory(frame('I', *inventory()))
    v.end_unfinished(); yield v

    # The stop flag rises after two operations: the put and the finish
    # are not sent (EINTR), and agent_end still ends the run.
    v = Visit('visit_stop_before_put', esp32, flags=FLAG_STOP, put_size=300)
    v.start()
    v.inventory(frame('I', *inventory()))
    v.hash(frame('H', 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3'))
    v.ops += [OP['put'], OP['finish']]
    v.end_unfinished(); yield v

    v = Visit('visit_gave_up', esp32)
    v.start()
    v.inventory(frame('S', 'idle'))
    v.end_run(); yield v

    v = Visit('visit_agent_crashes', esp32, flags=FLAG_VANISH)
    v.start()
    v.inventory(None)
    v.end_run(b'Traceback (most recent call last):\r\n  File "<stdin>", '
              b'line 3\r\nMemoryError: \r\n')
    v.ops.append(OP['list'])           # the board is gone: cannot write
    yield v

    v = Visit('visit_silent_after_hello', esp32)
    v.start()
    v.ops += [OP['inventory'], OP['finish']]
    v.silence()
    v.silence()
    yield v

    # Refusals with no words: agent_last_error() still says something.
    v = Visit('regress_error_without_reason', esp32)
    v.start()
    v.hash(frame('E'))
    v.put(frame('E', PUT_PATH, ''))
    v.finish(bye)
    v.end_run(); yield v

    # An inventory whose listing digest is not hex is refused.
    v = Visit('regress_inventory_listing_not_hex', esp32)
    v.start()
    v.inventory(frame('I', *inventory(listing='\x1b[2J\r', heap=21000)))
    v.finish(bye)
    v.end_run(); yield v

    # An algorithm name the host does not know means sha256: a 40-digit
    # record hash is then not a hash, and the inventory is refused.
    v = Visit('regress_inventory_record_not_hex',
              hello(platform='esp', algo='2sah31'), put_size=60)
    v.start()
    v.put(frame('E', PUT_PATH, 'ENOSPC'))
    v.inventory(frame('I', *inventory()))
    v.end_unfinished(); yield v


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here,
                                                             'agent_frames')
    os.makedirs(out, exist_ok=True)
    names = set()
    for v in visits():
        names.add(v.name)
        with open(os.path.join(out, v.name), 'wb') as f:
            f.write(v.bytes())
    for stale in sorted(set(os.listdir(out)) - names):
        print('%s: %s is not generated here (a finding? add it to '
              'visits())' % (sys.argv[0], stale), file=sys.stderr)


if __name__ == '__main__':
    main()
