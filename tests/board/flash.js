'use strict';
// The board's flash filesystem.
//
// The interpreter keeps its files in Emscripten's in-memory filesystem
// (MEMFS) under /flash, which MicroPython sees as its root "/".  The host
// directory given with --flash is the persistent copy:
//   - loadInto():  host dir -> MEMFS at power-on / every (re)start
//   - syncOut():   MEMFS -> host dir after every execution, on reset, on exit
//                  and at the instant of a power cut (partial files included)
// Only files whose size or mtime changed are rewritten, and host files that
// vanished from MEMFS are deleted, so a sync after each execution is cheap.
//
// Optional flash size: MEMFS file writes are wrapped so that growing the
// total beyond the size throws ENOSPC (errno 28), which MicroPython turns
// into OSError(28), like a full littlefs.  os.statvfs reports the same
// numbers with 4096-byte blocks.

const fs = require('fs');
const path = require('path');

const ROOT = '/flash';
const BLOCK = 4096;
const ENOSPC = 28;

// Walk a MEMFS directory; returns [{rel, isDir, node}].
function walkMem(FS, dir, rel, out) {
  for (const name of FS.readdir(dir)) {
    if (name === '.' || name === '..') continue;
    const p = dir + '/' + name;
    const r = rel ? rel + '/' + name : name;
    const st = FS.stat(p);
    if (FS.isDir(st.mode)) {
      out.push({ rel: r, isDir: true });
      walkMem(FS, p, r, out);
    } else if (FS.isFile(st.mode)) {
      out.push({ rel: r, isDir: false, size: st.size, mtime: +st.mtime });
    }
  }
  return out;
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
  constructor(hostDir, flashSize) {
    this.hostDir = path.resolve(hostDir);
    this.flashSize = flashSize || 0;
    this.seen = new Map(); // rel -> "size:mtime" at last sync
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
    for (const e of walkMem(FS, ROOT, '', [])) {
      if (!e.isDir) this.seen.set(e.rel, e.size + ':' + e.mtime);
    }
    this.FS = FS;
    this.installLimits(FS);
  }

  // Bytes used by all files in MEMFS.
  used() {
    let total = 0;
    for (const e of walkMem(this.FS, ROOT, '', [])) if (!e.isDir) total += e.size;
    return total;
  }

  installLimits(FS) {
    const self = this;
    // statvfs: report a board-sized filesystem instead of Emscripten's fake one.
    FS.statfs = () => {
      const size = self.flashSize || 2 * 1024 * 1024;
      const blocks = Math.floor(size / BLOCK);
      const free = Math.max(0, Math.floor((size - self.used()) / BLOCK));
      return { bsize: BLOCK, frsize: BLOCK, blocks, bfree: free, bavail: free,
        files: 0, ffree: 0, fsid: 0, flags: 0, namelen: 255 };
    };
    if (!this.flashSize) return;
    // All MEMFS files share one stream_ops table; wrap its write once per
    // interpreter instance so growth beyond the flash size fails with ENOSPC.
    FS.writeFile(ROOT + '/.probe', '');
    const ops = FS.lookupPath(ROOT + '/.probe').node.stream_ops;
    FS.unlink(ROOT + '/.probe');
    if (ops.__boardWrapped) return;
    const origWrite = ops.write;
    ops.write = function (stream, buffer, offset, length, position, canOwn) {
      const node = stream.node;
      if (self.flashSize && stream.path && stream.path.startsWith(ROOT + '/')) {
        const grow = Math.max(0, position + length - node.usedBytes);
        if (grow > 0 && self.used() + grow > self.flashSize) {
          throw new FS.ErrnoError(ENOSPC);
        }
      }
      return origWrite.call(this, stream, buffer, offset, length, position, canOwn);
    };
    ops.__boardWrapped = true;
  }

  // Write MEMFS back to the host directory (only what changed).
  syncOut() {
    const FS = this.FS;
    if (!FS) return;
    const mem = walkMem(FS, ROOT, '', []);
    const live = new Set();
    for (const e of mem) {
      live.add(e.rel);
      const hp = path.join(this.hostDir, e.rel);
      if (e.isDir) {
        fs.mkdirSync(hp, { recursive: true });
        continue;
      }
      const sig = e.size + ':' + e.mtime;
      if (this.seen.get(e.rel) === sig && fs.existsSync(hp)) continue;
      fs.mkdirSync(path.dirname(hp), { recursive: true });
      fs.writeFileSync(hp, FS.readFile(ROOT + '/' + e.rel));
      this.seen.set(e.rel, sig);
    }
    // Delete host entries that no longer exist on the board (deepest first).
    const host = walkHost(this.hostDir, '', []).reverse();
    for (const e of host) {
      if (live.has(e.rel)) continue;
      const hp = path.join(this.hostDir, e.rel);
      try {
        if (e.isDir) fs.rmSync(hp, { recursive: true, force: true });
        else fs.unlinkSync(hp);
      } catch { /* already gone */ }
      this.seen.delete(e.rel);
    }
  }
}

module.exports = { Flash, ROOT };
