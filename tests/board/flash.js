'use strict';
// The board's flash filesystem.
//
// The interpreter keeps its files in Emscripten's in-memory filesystem
// (MEMFS) under /flash, which MicroPython sees as its root "/".  The host
// directory given with --flash is the persistent copy:
//   - loadInto():  host dir -> MEMFS at power-on and at a hard reset
//   - carryInto(): the MEMFS tree of the interpreter that ends -> the fresh
//                  one's at a soft reset, without reading the host dir (see
//                  carryInto for why)
//   - syncOut():   MEMFS -> host dir after every execution, on reset, on exit
//                  and at the instant of a power cut (partial files included),
//                  when a flash operation happened since the last load or sync
//                  (a board's soft reset does not read its files: with 2,000
//                  of them, a full comparison cost 15-30 ms a time here)
// Only files whose size, mtime or inode changed are rewritten, and host files that
// vanished from MEMFS are deleted, so a sync after each execution is cheap.
//
// Optional flash size: MEMFS file writes are wrapped so that growing the
// total beyond the size throws ENOSPC (errno 28), which MicroPython turns
// into OSError(28), like a full littlefs.  os.statvfs reports the same
// numbers with 4096-byte blocks.
//
// Flash operations (hooks on MEMFS, see installHooks): every write, close,
// flush, create, rename, remove, mkdir and rmdir is turned into the SPI
// flash operations the board's filesystem would issue, each of which
//   - may be the point of a power cut (onOp, see worker.js), and
//   - keeps the CPU busy (not reading the UART) for the chip's time.
// LittleFS (extmod/vfs_lfsx.c: progsize 32, cache_size = 4 * 32 = 128 bytes,
// 4096-byte blocks) programs file data 128 bytes at a time and erases a
// block before it writes into it.  Times are the typical figures of a SPI
// NOR chip of the kind on ESP modules (Winbond W25Q32FV datasheet, rev. H,
// AC electrical characteristics: page program tPP 0.7 ms typ / 3 ms max,
// 4 KB sector erase tSE 45 ms typ / 400 ms max); a program of a partial
// page costs about as long as a full one.  See --flash-prog-us /
// --flash-erase-us (0 turns the cost off; that is kinder than a board).
//
// What a power cut leaves (revertOpen): a file open for writing holds, after
// the cut, what it held when it was last committed, as on the board:
//   littlefs: data reaches the file only at lfs_file_sync / close; creating a
//             file commits an empty one at open (lib/littlefs/lfs2.c
//             lfs2_file_opencfg: LFS2_TYPE_CREATE commit; O_TRUNC only marks
//             the open file dirty, so the old content survives a cut);
//   FAT:      f_open with FA_CREATE_ALWAYS truncates on disk at once
//             (lib/oofatfs/ff.c: DIR_FileSize = 0, remove_chain, move_window);
//             the new size is written at f_sync / f_close.
// Renaming over an existing file: littlefs replaces it in one metadata commit
// (atomic); MicroPython's FAT driver removes the target first and renames in
// a second step (extmod/vfs_fat.c fat_vfs_rename: FR_EXIST ->
// fat_vfs_remove_internal, then f_rename again), so a cut between the two
// leaves no target.
//
// What a reset does to a file still open for writing:
//   soft reset: the board closes it, committing what was written (see
//               closeOpen);
//   hard reset (machine.reset(), esp_restart / system_restart): nothing
//               closes it; it holds what it held at its last commit, as
//               after a power cut (revertOpen).

const fs = require('fs');
const path = require('path');

const ROOT = '/flash';
const BLOCK = 4096;
const ENOSPC = 28;
const PROG = 128;            // littlefs cache: bytes per program operation
const O_ACCMODE = 3, O_CREAT = 64, O_TRUNC = 512;

// Walk a MEMFS directory; returns [{rel, isDir, size, sig, node}].  It goes
// through the directory nodes themselves (a MEMFS directory's contents are
// its children by name): stat-ing each path cost a path lookup per file,
// which with 2,000 files made every write-back 10-15 ms longer.
function walkMem(FS, dir) {
  return walkNode(FS, FS.lookupPath(dir).node, '', []);
}

function walkNode(FS, dirNode, rel, out) {
  for (const name of Object.keys(dirNode.contents)) {
    const node = dirNode.contents[name];
    const r = rel ? rel + '/' + name : name;
    if (FS.isDir(node.mode)) {
      out.push({ rel: r, isDir: true, node });
      walkNode(FS, node, r, out);
    } else if (FS.isFile(node.mode)) {
      out.push({ rel: r, isDir: false, size: node.usedBytes, sig: nodeSignature(node), node });
    }
  }
  return out;
}

// What syncOut compares to tell whether a MEMFS file changed since the
// last sync: what stat gives as size, mtime and inode.  The inode matters:
// a file renamed over another of the same size, both loaded in the same
// millisecond, has the old name's size and mtime but other bytes.
function nodeSignature(node) {
  return node.usedBytes + ':' + Math.trunc(node.mtime) + ':' + node.id;
}

function walkHost(dir, rel, out) {
  let ents;
  try { ents = fs.readdirSync(dir, { withFileTypes: true }); } catch { return out; }
  for (const e of ents) {
    const r = rel ? rel + '/' + e.name : e.name;
    if (e.isDirectory()) {
      out.push({ rel: r, isDir: true });
      walkHost(path.join(dir, e.name), r, out);
    } else if (e.isFile()) {
      out.push({ rel: r, isDir: false });
    }
  }
  return out;
}

class Flash {
  /**
   * @param {string} hostDir
   * @param {number} flashSize   0 = unlimited
   * @param {object} o
   * @param {string} o.fs        'lfs' (default) or 'fat'
   * @param {number} o.progUs    time of one program operation
   * @param {number} o.eraseUs   time of one 4 KB block erase
   * @param {function(string, string)} o.onOp   before each flash operation (kind, path)
   * @param {function(number)} o.onBusy         the CPU is busy for ms milliseconds
   * @param {function(string)} o.count          bump a counter
   */
  constructor(hostDir, flashSize, o = {}) {
    this.hostDir = path.resolve(hostDir);
    this.flashSize = flashSize || 0;
    this.fat = o.fs === 'fat';
    this.progUs = o.progUs || 0;
    this.eraseUs = o.eraseUs || 0;
    this.onOp = o.onOp || (() => {});
    this.onBusy = o.onBusy || (() => {});
    this.count = o.count || (() => {});
    // rel -> "size:mtime:ino" at last sync.  The inode matters: a file
    // renamed over another of the same size, both loaded in the same
    // millisecond, has the old name's size and mtime but other bytes.
    this.seen = new Map();
    this.open = new Set(); // streams open for writing
    this.internal = false; // our own MEMFS calls: no flash operations
    fs.mkdirSync(this.hostDir, { recursive: true });
  }

  // Copy the host directory into a fresh interpreter's MEMFS.
  loadInto(FS) {
    try { FS.mkdir(ROOT); } catch { /* exists */ }
    this.seen.clear();
    for (const e of walkHost(this.hostDir, '', [])) {
      const memPath = ROOT + '/' + e.rel;
      if (e.isDir) {
        try { FS.mkdir(memPath); } catch { /* exists */ }
      } else {
        FS.writeFile(memPath, fs.readFileSync(path.join(this.hostDir, e.rel)));
      }
    }
    for (const e of walkMem(FS, ROOT)) {
      if (!e.isDir) this.seen.set(e.rel, e.sig);
    }
    this.FS = FS;
    this.open.clear();
    this.dirty = false;
    this.installHooks(FS);
  }

  // A soft reset: the fresh interpreter's MEMFS gets the files of the one
  // that ends, node by node, sharing their data (that interpreter never runs
  // again), so the cost is a few microseconds per file and reads nothing
  // from the host dir.  Reloading every file from the host dir cost 120-160
  // ms per reset with 2,000 files (about 10 ms with 10).  A board's soft
  // reset does not read its files either: ports/esp32/main.c soft_reset:
  // gc_init, mp_init, then the frozen _boot.py mounts the littlefs partition
  // (ports/esp32/modules/_boot.py vfs.mount(bdev, "/")), and lfs mount
  // reads the superblock and the root's metadata pair, whatever the number
  // of files; ports/esp8266/main.c mp_reset and its _boot.py likewise.
  // Size, content and times are kept; only the inode numbers are new.
  // Files still open must be closed or reverted first (closeOpen,
  // revertOpen): their streams belong to the interpreter that ends.
  carryInto(FS) {
    const old = this.FS;
    const MEMFS = FS.filesystems.MEMFS;
    try { FS.mkdir(ROOT); } catch { /* exists */ }
    const seen = new Map();
    const carry = (from, to, rel) => {
      for (const name of Object.keys(from.contents)) {
        const node = from.contents[name];
        const r = rel ? rel + '/' + name : name;
        if (!old.isDir(node.mode) && !old.isFile(node.mode)) continue;
        const copy = MEMFS.createNode(to, name, node.mode, 0);
        if (old.isDir(node.mode)) carry(node, copy, r);
        copy.atime = node.atime;
        copy.mtime = node.mtime;
        copy.ctime = node.ctime;
        if (old.isFile(node.mode)) {
          copy.contents = node.contents;
          copy.usedBytes = node.usedBytes;
          // Still in step with the host copy if it was before the reset.
          if (this.seen.get(r) === nodeSignature(node)) seen.set(r, nodeSignature(copy));
        }
      }
    };
    carry(old.lookupPath(ROOT).node, FS.lookupPath(ROOT).node, '');
    this.seen = seen;
    this.FS = FS;
    this.open.clear();
    this.installHooks(FS);
  }

  // A soft reset: ports/esp32/main.c soft_reset_exit and ports/esp8266/
  // main.c soft_reset() call gc_sweep_all(), which runs every finaliser;
  // a littlefs file's is its close (extmod/vfs_lfsx_file.c: allocated
  // with_finaliser, __del__ = close -> lfs_file_close), a FAT file's too
  // (extmod/vfs_fat_file.c -> f_close), so each file still open for
  // writing is committed with the flash operations of a close.
  closeOpen() {
    for (const stream of this.open) {
      this.commit(stream, 'close');
      this.count('files_written');
    }
    this.open.clear();
  }

  // Program what is left in a stream's cache and commit its metadata
  // (lfs_file_sync / lfs_file_close; FAT f_sync / f_close).
  commit(stream, kind) {
    const p = stream.path;
    if (stream.__pend > 0) this.ops('program', p, 1, this.progUs);
    stream.__pend = 0;
    this.ops(kind, p, 1, this.progUs);
    try { stream.__committed = this.FS.readFile(p); } catch { /* removed meanwhile */ }
  }

  // Bytes used by all files in MEMFS.
  used() {
    let total = 0;
    for (const e of walkMem(this.FS, ROOT)) if (!e.isDir) total += e.size;
    return total;
  }

  // n flash operations of one kind on path: each may be cut; then the
  // chip is busy for their time.
  ops(kind, p, n, us) {
    this.dirty = true;
    for (let i = 0; i < n; i++) this.onOp(kind, p);
    if (n > 0 && us > 0) this.onBusy(n * us / 1000);
  }

  installHooks(FS) {
    const self = this;
    // statvfs: report a board-sized filesystem instead of Emscripten's fake one.
    FS.statfs = () => {
      const size = self.flashSize || 2 * 1024 * 1024;
      const blocks = Math.floor(size / BLOCK);
      const free = Math.max(0, Math.floor((size - self.used()) / BLOCK));
      return { bsize: BLOCK, frsize: BLOCK, blocks, bfree: free, bavail: free,
        files: 0, ffree: 0, fsid: 0, flags: 0, namelen: 255 };
    };
    const mine = (p) => !self.internal && typeof p === 'string' && p.startsWith(ROOT + '/');
    const fileAt = (p) => { try { return FS.isFile(FS.stat(p).mode); } catch { return false; } };
    const meta = (kind, p) => self.ops(kind, p, 1, self.progUs); // one metadata commit

    // Opening for writing: remember what a cut would leave (see header).
    const origOpen = FS.open;
    FS.open = function (p, flags, mode) {
      const writing = typeof flags === 'number' && (flags & O_ACCMODE) !== 0 && mine(p);
      if (!writing) return origOpen.call(this, p, flags, mode);
      const existed = fileAt(p);
      const old = existed ? FS.readFile(p) : null;
      if (!existed && (flags & O_CREAT)) meta('create', p);
      const stream = origOpen.call(this, p, flags, mode);
      let committed = old || new Uint8Array(0);
      if (old && (flags & O_TRUNC) && self.fat) {
        meta('truncate', p); // written at open on FAT
        committed = new Uint8Array(0);
      }
      stream.__committed = committed;
      stream.__pend = 0;
      self.open.add(stream);
      return stream;
    };

    // All MEMFS files share one stream_ops table; wrap it once per
    // interpreter instance.
    this.internal = true;
    FS.writeFile(ROOT + '/.probe', '');
    const ops = FS.lookupPath(ROOT + '/.probe').node.stream_ops;
    FS.unlink(ROOT + '/.probe');
    this.internal = false;
    if (!ops.__boardWrapped) {
      ops.__boardWrapped = true;
      const origWrite = ops.write;
      ops.write = function (stream, buffer, offset, length, position, canOwn) {
        const node = stream.node;
        if (!self.open.has(stream)) return origWrite.call(this, stream, buffer, offset, length, position, canOwn);
        const before = node.usedBytes;
        const grow = Math.max(0, position + length - before);
        if (self.flashSize && grow > 0 && self.used() + grow > self.flashSize) {
          throw new FS.ErrnoError(ENOSPC);
        }
        const p = stream.path;
        // A new block is erased before data goes into it.
        const erases = Math.max(0, Math.ceil((position + length) / BLOCK) - Math.ceil(before / BLOCK));
        self.ops('erase', p, erases, self.eraseUs);
        stream.__pend += length;
        const progs = Math.floor(stream.__pend / PROG);
        stream.__pend %= PROG;
        self.ops('program', p, progs, self.progUs);
        return origWrite.call(this, stream, buffer, offset, length, position, canOwn);
      };
      const commit = (stream, kind) => self.commit(stream, kind);
      const origClose = ops.close;
      ops.close = function (stream) {
        if (self.open.has(stream)) {
          commit(stream, 'close');
          self.open.delete(stream);
          self.count('files_written');
        }
        if (origClose) return origClose.call(this, stream);
        return undefined;
      };
      const origFsync = ops.fsync;
      ops.fsync = function (stream) {
        if (self.open.has(stream)) commit(stream, 'sync');
        return origFsync ? origFsync.call(this, stream) : 0;
      };
    }

    const origRename = FS.rename;
    FS.rename = function (a, b) {
      if (!mine(a)) return origRename.call(this, a, b);
      if (self.fat && fileAt(b) && fileAt(a)) {
        // extmod/vfs_fat.c fat_vfs_rename: remove the target, then rename.
        FS.unlink(b); // a flash operation of its own (see FS.unlink below)
      }
      meta('rename', a);
      const r = origRename.call(this, a, b);
      self.count('files_renamed');
      return r;
    };
    const origUnlink = FS.unlink;
    FS.unlink = function (p) {
      if (!mine(p)) return origUnlink.call(this, p);
      meta('remove', p);
      const r = origUnlink.call(this, p);
      self.count('files_removed');
      return r;
    };
    for (const name of ['mkdir', 'rmdir']) {
      const orig = FS[name];
      FS[name] = function (p, ...rest) {
        if (mine(p)) meta(name, p);
        return orig.call(this, p, ...rest);
      };
    }
  }

  // A power cut: every file open for writing goes back to what it held when
  // it was last committed (see header).
  revertOpen() {
    const FS = this.FS;
    if (!FS) return;
    this.dirty = true;
    this.internal = true;
    try {
      for (const stream of this.open) {
        let p;
        try { p = FS.getPath(stream.node); } catch { continue; }
        try {
          if (FS.isFile(FS.stat(p).mode)) FS.writeFile(p, stream.__committed);
        } catch { /* removed while open */ }
      }
    } finally {
      this.internal = false;
    }
  }

  // The host folder changed while the board ran: the board cannot see it
  // (it reads the folder at power-on only); say so, as the write-back
  // undoes it.
  behindBack(rel, what, done) {
    process.stderr.write(`board: '${rel}' was ${what} in the flash folder while the board ran; ` +
      `${done} (the board reads the folder at power-on only: change it with the board off)\n`);
  }

  // Write MEMFS back to the host directory (only what changed).  The host
  // folder is read once (one readdir per folder) for what it holds.
  syncOut() {
    const FS = this.FS;
    if (!FS || !this.dirty) return;
    const MEMFS = FS.filesystems.MEMFS;
    const onHost = walkHost(this.hostDir, '', []);
    const hostKinds = new Map(onHost.map((e) => [e.rel, e.isDir ? 'dir' : 'file']));
    const live = new Set();
    for (const e of walkMem(FS, ROOT)) {
      live.add(e.rel);
      const hp = path.join(this.hostDir, e.rel);
      // A folder that became a file on the board (or the other way
      // round): the host copy's old kind goes first.
      let host = hostKinds.get(e.rel);
      if (host && host !== (e.isDir ? 'dir' : 'file')) {
        fs.rmSync(hp, { recursive: true, force: true });
        this.seen.delete(e.rel);
        host = undefined;
      }
      if (e.isDir) {
        if (!host) fs.mkdirSync(hp, { recursive: true });
        continue;
      }
      if (this.seen.get(e.rel) === e.sig && host === 'file') continue;
      if (!host && this.seen.has(e.rel)) this.behindBack(e.rel, 'removed', 'written again');
      fs.mkdirSync(path.dirname(hp), { recursive: true });
      fs.writeFileSync(hp, MEMFS.getFileDataAsTypedArray(e.node));
      this.seen.set(e.rel, e.sig);
    }
    // Delete host entries that no longer exist on the board (deepest first).
    for (const e of onHost.reverse()) {
      if (live.has(e.rel)) continue;
      if (!e.isDir && !this.seen.has(e.rel)) this.behindBack(e.rel, 'added', 'removed');
      const hp = path.join(this.hostDir, e.rel);
      try {
        if (e.isDir) fs.rmSync(hp, { recursive: true, force: true });
        else fs.unlinkSync(hp);
      } catch { /* already gone */ }
      this.seen.delete(e.rel);
    }
    this.dirty = false;
  }
}

module.exports = { Flash, ROOT };
