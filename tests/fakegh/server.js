#!/usr/bin/env node
// Fake GitHub REST API server for testing senko's forge client.
//
// It serves real git repositories from disk (REPOS/OWNER/REPO, non-bare, or
// REPOS/OWNER/REPO.git, bare) by running the `git` command for every request,
// so SHAs, modes and sizes are exactly what git computes.  Nothing is cached
// across requests: committing to a repo between two requests changes the next
// answer.  Node.js built-in modules only.  See README.md next to this file.
'use strict';

const http = require('http');
const https = require('https');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const zlib = require('zlib');
const { execFile, execFileSync, spawn } = require('child_process');

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

const USAGE = `usage: node server.js --repos DIR [options]
  --repos DIR             root of OWNER/REPO git repositories (required)
  --port N                port on 127.0.0.1 (default 0 = pick a free one)
  --prefix P              API path prefix, e.g. /api/v3 (default none)
  --token T               valid token (repeatable, or comma separated)
  --private OWNER/REPO    mark a repo private (repeatable); also REPOS/OWNER/REPO.private
  --rate-limit N          override the limit (default 60 anonymous, 5000 with token)
  --rate-window S         rate limit window in seconds (default 3600)
  --truncate-trees N      recursive trees with more than N entries are truncated
  --contents-limit BYTES  files above this get empty content from /contents (default 1048576)
  --contents-max N        a /contents folder listing shows at most N entries (default 1000, like GitHub)
  --unknown-ref-status N  status for an unknown ref on /commits (default 422, like GitHub)
  --tls DIR               serve HTTPS; CA + server cert generated into DIR if missing
  --log FILE              append one JSON line per request
`;

function parseArgs(argv) {
  const opt = {
    repos: null, port: 0, prefix: '', tokens: [], privates: [],
    rateLimit: null, rateWindow: 3600, truncateTrees: null,
    contentsLimit: 1048576, contentsMax: 1000, unknownRefStatus: 422, tls: null, log: null,
  };
  const need = (i) => {
    if (i + 1 >= argv.length) die(`missing value for ${argv[i]}`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--repos': opt.repos = path.resolve(need(i)); i++; break;
      case '--port': opt.port = toInt(need(i), a); i++; break;
      case '--prefix': opt.prefix = need(i).replace(/\/+$/, ''); i++; break;
      case '--token': opt.tokens.push(...need(i).split(',').filter(Boolean)); i++; break;
      case '--private': opt.privates.push(need(i)); i++; break;
      case '--rate-limit': opt.rateLimit = toInt(need(i), a); i++; break;
      case '--rate-window': opt.rateWindow = Number(need(i)); i++; break;
      case '--truncate-trees': opt.truncateTrees = toInt(need(i), a); i++; break;
      case '--contents-limit': opt.contentsLimit = toInt(need(i), a); i++; break;
      case '--contents-max': opt.contentsMax = toInt(need(i), a); i++; break;
      case '--unknown-ref-status': opt.unknownRefStatus = toInt(need(i), a); i++; break;
      case '--tls': opt.tls = path.resolve(need(i)); i++; break;
      case '--log': opt.log = path.resolve(need(i)); i++; break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0); break;
      default: die(`unknown option ${a}`);
    }
  }
  if (!opt.repos) die('--repos is required');
  if (opt.prefix && !opt.prefix.startsWith('/')) opt.prefix = '/' + opt.prefix;
  if (!(opt.rateWindow > 0)) die('--rate-window must be > 0');
  return opt;
}

function toInt(s, name) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) die(`${name} needs a non-negative integer`);
  return n;
}

function die(msg) {
  process.stderr.write(`fakegh: ${msg}\n${USAGE}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// git access
// ---------------------------------------------------------------------------

class NotFound extends Error {}

// Run git in a repository and resolve with stdout as a Buffer.  A non-zero
// exit rejects; callers decide whether that means "not found".
// A GIT_DIR inherited from the caller (e.g. tests run from a git hook) would
// override -C and serve the wrong repository: drop such variables.
const GIT_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
  !['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_COMMON_DIR',
    'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_NAMESPACE', 'GIT_CEILING_DIRECTORIES'].includes(k)));

function git(repo, args) {
  const base = repo.bare ? ['--git-dir', repo.dir] : ['-C', repo.dir];
  // --literal-pathspecs: request paths are data, never glob patterns.
  // safe.directory=*: fixtures may belong to another user (CI containers).
  const full = ['-c', 'safe.directory=*', ...base, '--literal-pathspecs', ...args];
  return new Promise((resolve, reject) => {
    execFile('git', full, { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024, env: GIT_ENV },
      (err, stdout, stderr) => {
        if (err) {
          err.stderrText = stderr ? stderr.toString() : '';
          reject(err);
        } else resolve(stdout);
      });
  });
}

// Owner/repo names become file system paths: allow only GitHub's charset and
// refuse "." and ".." so a request can never leave REPOS.
const NAME_RE = /^[A-Za-z0-9_.-]+$/;
function validName(s) { return NAME_RE.test(s) && s !== '.' && s !== '..'; }

function findRepo(owner, name) {
  if (!validName(owner) || !validName(name)) return null;
  const nonBare = path.join(OPT.repos, owner, name);
  if (fs.existsSync(path.join(nonBare, '.git'))) return { dir: nonBare, bare: false, owner, name };
  const bare = path.join(OPT.repos, owner, name + '.git');
  if (fs.existsSync(path.join(bare, 'HEAD'))) return { dir: bare, bare: true, owner, name };
  return null;
}

function isPrivate(repo) {
  const full = `${repo.owner}/${repo.name}`;
  return OPT.privates.includes(full) ||
    fs.existsSync(path.join(OPT.repos, repo.owner, repo.name + '.private'));
}

// Refs come from URLs; refuse anything git could read as an option or as
// revision syntax (a:b, a^, a~1, a..b, @{...}) so only names and SHAs resolve.
function validRef(ref) {
  return typeof ref === 'string' && ref.length > 0 && ref.length < 256 &&
    !ref.startsWith('-') && !ref.includes('..') && /^[A-Za-z0-9_.\/+-]+$/.test(ref);
}

async function resolveObject(repo, ref, kind) {
  if (!validRef(ref)) throw new NotFound();
  try {
    const out = await git(repo, ['rev-parse', '--verify', '--quiet', `${ref}^{${kind}}`]);
    return out.toString().trim();
  } catch (e) {
    throw new NotFound();
  }
}

async function defaultBranch(repo) {
  try {
    return (await git(repo, ['symbolic-ref', '--short', 'HEAD'])).toString().trim();
  } catch (e) {
    return 'main';
  }
}

// Parse `git ls-tree -z --long` output into entries.  Paths are raw bytes in
// git; they are decoded as UTF-8 (invalid bytes become U+FFFD).
function parseLsTree(buf) {
  const entries = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== 0) continue;
    const rec = buf.subarray(start, i);
    start = i + 1;
    const tab = rec.indexOf(9);
    const [mode, type, sha, size] = rec.subarray(0, tab).toString().trim().split(/\s+/);
    entries.push({
      path: rec.subarray(tab + 1).toString('utf8'),
      mode, type, sha,
      size: size === '-' ? undefined : Number(size),
    });
  }
  return entries;
}

async function lsTree(repo, treeish, recursive) {
  const args = ['ls-tree', '-z', '--long'];
  if (recursive) args.push('-r', '-t');
  args.push(treeish);
  return parseLsTree(await git(repo, args));
}

// Blobs come from one `git cat-file --batch` per repository, kept running:
// spawning git for each blob cost about 12 ms a request, and a first sync
// of 300 files asks for 300.  Objects are immutable, so a long-lived
// reader serves what `git cat-file blob` would.  Answers come in request
// order: "<sha> <type> <size>\n<content>\n" or "<sha> missing\n".  A miss
// goes to a git of its own (catBlob), so a 404 means what it meant.
const BATCHES = new Map(); // repo.dir -> {child, queue, parts, len, want}

function batchFor(repo) {
  let b = BATCHES.get(repo.dir);
  if (b) return b;
  const base = repo.bare ? ['--git-dir', repo.dir] : ['-C', repo.dir];
  const child = spawn('git', ['-c', 'safe.directory=*', ...base, 'cat-file', '--batch'],
    { stdio: ['pipe', 'pipe', 'ignore'], env: GIT_ENV });
  // parts: what arrived and is not answered yet (len bytes), joined only
  // once want bytes are there, so a large blob is not copied per chunk.
  b = { child, queue: [], parts: [], len: 0, want: 0 };
  const fail = () => {
    if (BATCHES.get(repo.dir) === b) BATCHES.delete(repo.dir);
    for (const q of b.queue.splice(0)) q.reject(new NotFound());
  };
  child.on('error', fail);
  child.on('exit', fail);
  child.stdin.on('error', fail);
  child.stdout.on('data', (d) => {
    b.parts.push(d);
    b.len += d.length;
    if (b.len < b.want) return;
    let buf = b.parts.length === 1 ? b.parts[0] : Buffer.concat(b.parts);
    for (;;) {
      const nl = buf.indexOf(10);
      if (nl < 0 || b.queue.length === 0) break;
      const [, type, size] = buf.subarray(0, nl).toString().split(' ');
      if (type === 'missing' || size === undefined) {
        buf = buf.subarray(nl + 1);
        b.queue.shift().resolve(null);
        continue;
      }
      const end = nl + 1 + Number(size);
      if (buf.length < end + 1) {
        b.want = end + 1;
        break;
      }
      const content = Buffer.from(buf.subarray(nl + 1, end));
      buf = buf.subarray(end + 1);
      b.want = 0;
      b.queue.shift().resolve(type === 'blob' ? content : null);
    }
    b.parts = buf.length ? [buf] : [];
    b.len = buf.length;
  });
  BATCHES.set(repo.dir, b);
  return b;
}

function readBlob(repo, sha) {
  const b = batchFor(repo);
  return new Promise((resolve, reject) => {
    b.queue.push({ resolve, reject });
    b.child.stdin.write(sha + '\n');
  });
}

async function catBlob(repo, sha) {
  if (!/^[0-9a-f]{40}$/.test(sha)) throw new NotFound();
  try {
    const blob = await readBlob(repo, sha);
    if (blob) return blob;
  } catch (e) { /* the reader died: ask git on its own below */ }
  // A miss is asked again of a git of its own, as before the reader: a
  // repository re-created at the same path is new to the one running.
  try {
    return await git(repo, ['cat-file', 'blob', sha]);
  } catch (e) {
    const synthetic = SYNTHETIC_BLOBS.get(sha);
    if (synthetic) return synthetic;
    throw new NotFound();
  }
}

// Parse `git cat-file commit` output into the parts GitHub exposes.
function parseCommit(buf) {
  const text = buf.toString('utf8');
  const sep = text.indexOf('\n\n');
  const head = sep < 0 ? text : text.slice(0, sep);
  const message = sep < 0 ? '' : text.slice(sep + 2).replace(/\n$/, '');
  const c = { tree: null, parents: [], author: null, committer: null, message };
  for (const line of head.split('\n')) {
    const sp = line.indexOf(' ');
    const key = line.slice(0, sp), val = line.slice(sp + 1);
    if (key === 'tree') c.tree = val;
    else if (key === 'parent') c.parents.push(val);
    else if (key === 'author' || key === 'committer') c[key] = parsePerson(val);
  }
  return c;
}

function parsePerson(val) {
  const m = /^(.*) <(.*)> (\d+) ([+-]\d{4})$/.exec(val);
  if (!m) return { name: val, email: '', date: null };
  return { name: m[1], email: m[2], date: new Date(Number(m[3]) * 1000).toISOString().replace('.000Z', 'Z') };
}

function gitBlobSha(buf) {
  return crypto.createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
}

// ---------------------------------------------------------------------------
// Rate limiting
// ---------------------------------------------------------------------------

// One bucket per identity, like GitHub: anonymous clients share "anon" (GitHub
// counts per IP; every client here is 127.0.0.1), each token has its own.
const BUCKETS = new Map();

function bucketFor(key) {
  let b = BUCKETS.get(key);
  if (!b) {
    const limit = OPT.rateLimit != null ? OPT.rateLimit : (key === 'anon' ? 60 : 5000);
    b = { limit, used: 0, resetMs: 0 };
    BUCKETS.set(key, b);
  }
  // Windows reset on whole seconds so x-ratelimit-reset is exact.
  const now = Date.now();
  if (now >= b.resetMs) {
    b.used = 0;
    b.resetMs = Math.ceil((now + OPT.rateWindow * 1000) / 1000) * 1000;
  }
  return b;
}

function rateHeaders(b) {
  return {
    'x-ratelimit-limit': String(b.limit),
    'x-ratelimit-remaining': String(Math.max(0, b.limit - b.used)),
    'x-ratelimit-used': String(b.used),
    'x-ratelimit-reset': String(Math.floor(b.resetMs / 1000)),
    'x-ratelimit-resource': 'core',
  };
}

// ---------------------------------------------------------------------------
// Faults, log, stats
// ---------------------------------------------------------------------------

let FAULTS = [];
let FAULT_SEQ = 0;
const STATS = { requests: 0, counted: 0, status: {}, faults_fired: {} };
let LOG = [];
// Requests are numbered as they arrive.  A clear forgets every request that
// arrived before it, also one still being answered (the git it waits for
// can finish after the clear): its entry must not land in the new log.
let REQUEST_SEQ = 0;
let LOG_CLEARED_SEQ = 0;
// Blobs referenced by hostile entries, so a client that follows them gets an
// answer instead of an unrelated 404.
const SYNTHETIC_BLOBS = new Map();

function addFault(spec) {
  const f = Object.assign({}, spec);
  if (!f.kind) f.kind = 'status';
  const kinds = ['status', 'delay', 'truncate', 'malformed', 'ratelimit', 'secondary', 'hostile_paths', 'conflicting_paths', 'trickle', 'redirect', 'tree_page_loop'];
  if (!kinds.includes(f.kind)) throw new Error(`unknown fault kind ${f.kind}`);
  if (f.kind === 'status') {
    f.status = f.status == null ? 500 : Number(f.status);
    if (!Number.isInteger(f.status) || f.status < 200 || f.status > 599) throw new Error('status must be 200..599');
  }
  f.id = ++FAULT_SEQ;
  f.fired = 0;
  FAULTS.push(f);
  return f;
}

// Pick the faults that apply to this request.  Delays stack with one other
// fault; everything else is "first match wins".  count/probability consumed here.
function takeFaults(apiPath) {
  const fired = { delay: 0, other: null };
  for (const f of FAULTS) {
    if (f.match && !apiPath.includes(f.match)) continue;
    if (f.count != null && f.fired >= f.count) continue;
    if (f.kind !== 'delay' && fired.other) continue;
    if (f.probability != null && Math.random() >= f.probability) continue;
    f.fired++;
    STATS.faults_fired[f.kind] = (STATS.faults_fired[f.kind] || 0) + 1;
    if (f.kind === 'delay') fired.delay += Number(f.ms) || 0;
    else fired.other = f;
  }
  FAULTS = FAULTS.filter((f) => f.count == null || f.fired < f.count);
  return fired;
}

function logRequest(entry, seq) {
  if (seq > LOG_CLEARED_SEQ) LOG.push(entry);
  if (LOG.length > 100000) LOG = LOG.slice(-50000);
  if (OPT.log) fs.appendFileSync(OPT.log, JSON.stringify(entry) + '\n');
}

// ---------------------------------------------------------------------------
// Response helpers
// ---------------------------------------------------------------------------

// A response under construction: handlers return one of these and the
// dispatcher adds rate-limit headers, ETag/304, faults, logging.
function jsonResp(status, obj, extra) {
  return { status, type: 'application/json; charset=utf-8', body: Buffer.from(JSON.stringify(obj)), headers: extra || {} };
}
function textResp(status, text, type) {
  return { status, type, body: Buffer.from(text), headers: {} };
}
function rawResp(buf) {
  return { status: 200, type: 'application/octet-stream', body: buf, headers: {} };
}
function notFound() {
  return jsonResp(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
}

function wantsRaw(accept) {
  return /application\/vnd\.github(\.v3)?\.raw(\+json)?/.test(accept || '');
}

// GitHub puts a newline after every 60 base64 characters (and at the end).
function base64Lines(buf) {
  const b = buf.toString('base64');
  let out = '';
  for (let i = 0; i < b.length; i += 60) out += b.slice(i, i + 60) + '\n';
  return out;
}

function etagFor(resp) {
  const h = crypto.createHash('sha256').update(resp.type).update('\0').update(resp.body);
  return `"${h.digest('hex').slice(0, 40)}"`;
}

// If-None-Match: "*", a list, and weak validators all match (weak comparison,
// as RFC 9110 requires for If-None-Match).
function etagMatches(header, etag) {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const strip = (t) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => strip(t) === strip(etag));
}

// ---------------------------------------------------------------------------
// API handlers
// ---------------------------------------------------------------------------

function apiUrl(p) { return BASE_URL + p; }

// GET /repos/{owner}/{repo}: the fields a client reads, with
// default_branch from the repository's HEAD as GitHub takes it.
async function handleRepo(repo) {
  let head = 'main';
  try {
    head = (await git(repo, ['symbolic-ref', '--short', 'HEAD'])).toString().trim();
  } catch (e) { /* detached HEAD: GitHub always has a default branch */ }
  const full = `${repo.owner}/${repo.name}`;
  return jsonResp(200, {
    id: 1, node_id: 'R_1', name: repo.name, full_name: full,
    owner: { login: repo.owner, type: 'User' }, private: isPrivate(repo),
    html_url: `${ORIGIN}/${full}`, url: apiUrl(`/repos/${full}`),
    default_branch: head,
  });
}

async function handleCommit(repo, ref, req) {
  let sha;
  try {
    sha = await resolveObject(repo, ref, 'commit');
  } catch (e) {
    return jsonResp(OPT.unknownRefStatus, {
      message: OPT.unknownRefStatus === 422 ? `No commit found for SHA: ${ref}` : 'Not Found',
      documentation_url: 'https://docs.github.com/rest/commits/commits#get-a-commit',
      status: String(OPT.unknownRefStatus),
    });
  }
  if (/application\/vnd\.github(\.v3)?\.sha/.test(req.headers.accept || '')) {
    return textResp(200, sha, 'text/plain; charset=utf-8');
  }
  const c = parseCommit(await git(repo, ['cat-file', 'commit', sha]));
  const r = `/repos/${repo.owner}/${repo.name}`;
  return jsonResp(200, {
    sha,
    node_id: '',
    commit: {
      author: c.author, committer: c.committer, message: c.message,
      tree: { sha: c.tree, url: apiUrl(`${r}/git/trees/${c.tree}`) },
      url: apiUrl(`${r}/git/commits/${sha}`),
      comment_count: 0,
    },
    url: apiUrl(`${r}/commits/${sha}`),
    html_url: `${ORIGIN}/${repo.owner}/${repo.name}/commit/${sha}`,
    parents: c.parents.map((p) => ({ sha: p, url: apiUrl(`${r}/commits/${p}`) })),
  });
}

async function handleTree(repo, ref, query) {
  let treeSha;
  try {
    treeSha = await resolveObject(repo, ref, 'tree');
  } catch (e) {
    return notFound();
  }
  // GitHub: any value of "recursive" turns recursion on.
  const recursive = query.has('recursive');
  let entries = await lsTree(repo, treeSha, recursive);
  let truncated = false;
  if (recursive && OPT.truncateTrees != null && entries.length > OPT.truncateTrees) {
    entries = entries.slice(0, OPT.truncateTrees);
    truncated = true;
  }
  const r = `/repos/${repo.owner}/${repo.name}`;
  const tree = entries.map((e) => treeEntry(r, e));
  return { kind: 'tree', repoPath: r, treeSha, tree, truncated };
}

function treeEntry(r, e) {
  const out = { path: e.path, mode: e.mode, type: e.type, sha: e.sha };
  if (e.type === 'blob') out.size = e.size;
  if (e.type === 'blob') out.url = apiUrl(`${r}/git/blobs/${e.sha}`);
  else if (e.type === 'tree') out.url = apiUrl(`${r}/git/trees/${e.sha}`);
  return out;
}

// loop: a broken paging server (Gitea-style "page"), answering page 1
// with truncated: true whatever page is asked.
function renderTree(t, hostile, loop, conflicting) {
  let tree = hostile ? t.tree.concat(hostileTreeEntries(t.repoPath)) : t.tree;
  if (conflicting) tree = tree.concat(conflictingEntries(tree, t.repoPath, (e) => e));
  const body = { sha: t.treeSha, url: apiUrl(`${t.repoPath}/git/trees/${t.treeSha}`), tree, truncated: loop ? true : t.truncated };
  if (loop) body.page = 1;
  return jsonResp(200, body);
}

// Paths a client must never write to a board.
const HOSTILE_NAMES = ['/etc/passwd', '../escape.py', 'a/../../b.py', '\u0001x.py', '\ud800.py', '\u0000x.py'];

function syntheticBlob(content) {
  const buf = Buffer.from(content);
  const sha = gitBlobSha(buf);
  SYNTHETIC_BLOBS.set(sha, buf);
  return { sha, size: buf.length };
}

function hostileTreeEntries(r) {
  const evil = syntheticBlob('print("pwned")\n');
  const out = HOSTILE_NAMES.map((p) => ({
    path: p, mode: '100644', type: 'blob', sha: evil.sha, size: evil.size, url: apiUrl(`${r}/git/blobs/${evil.sha}`),
  }));
  const link = syntheticBlob('/etc/passwd');
  out.push({ path: 'evil-link.py', mode: '120000', type: 'blob', sha: link.sha, size: link.size, url: apiUrl(`${r}/git/blobs/${link.sha}`) });
  out.push({ path: 'evil-submodule', mode: '160000', type: 'commit', sha: '1111111111111111111111111111111111111111' });
  return out;
}

// Entries no git tree can hold, after the first file and the first folder
// of an answer: the file's name again with other content, and a file named
// like the folder.
function conflictingEntries(list, r, wrap) {
  const other = syntheticBlob('print("the other one")\n');
  const out = [];
  const file = list.find((e) => e.type === 'blob' || e.type === 'file');
  const dir = list.find((e) => e.type === 'tree' || e.type === 'dir');
  for (const path of [file && file.path, dir && dir.path]) {
    if (path) out.push(wrap({ path, mode: '100644', type: 'blob', sha: other.sha, size: other.size, url: apiUrl(`${r}/git/blobs/${other.sha}`) }));
  }
  return out;
}

function hostileContentsEntries(repo, commit) {
  const out = [];
  const evil = syntheticBlob('print("pwned")\n');
  for (const p of HOSTILE_NAMES) {
    out.push(contentsEntry(repo, commit, { path: p, mode: '100644', type: 'blob', sha: evil.sha, size: evil.size }, true));
  }
  const link = syntheticBlob('/etc/passwd');
  out.push(contentsEntry(repo, commit, { path: 'evil-link.py', mode: '120000', type: 'blob', sha: link.sha, size: link.size }, true));
  out.push(contentsEntry(repo, commit, { path: 'evil-submodule', mode: '160000', type: 'commit', sha: '1111111111111111111111111111111111111111' }, true));
  return out;
}

// GitHub's content "type": in a directory listing submodules say "file" (a
// documented backwards-compatibility quirk); asked for directly they say
// "submodule".
function contentsType(e, inListing) {
  if (e.type === 'tree') return 'dir';
  if (e.type === 'commit') return inListing ? 'file' : 'submodule';
  if (e.mode === '120000') return 'symlink';
  return 'file';
}

// URL-encode each path segment.  Hostile names may hold lone surrogates,
// which encodeURIComponent refuses: replace those with U+FFFD in URLs.
function encPath(p) {
  return p.split('/').map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/gu, '\ufffd'))).join('/');
}

function contentsEntry(repo, commit, e, inListing) {
  const r = `/repos/${repo.owner}/${repo.name}`;
  const type = contentsType(e, inListing);
  const self = apiUrl(`${r}/contents/${encPath(e.path)}?ref=${commit.ref}`);
  const gitUrl = e.type === 'tree' ? apiUrl(`${r}/git/trees/${e.sha}`)
    : e.type === 'blob' ? apiUrl(`${r}/git/blobs/${e.sha}`) : null;
  const html = `${ORIGIN}/${repo.owner}/${repo.name}/${e.type === 'tree' ? 'tree' : 'blob'}/${commit.ref}/${encPath(e.path)}`;
  const out = {
    name: e.path.split('/').pop(),
    path: e.path,
    sha: e.sha,
    size: e.type === 'blob' ? e.size : 0,
    url: self,
    html_url: html,
    git_url: gitUrl,
    download_url: e.type === 'blob' ? `${ORIGIN}/_raw/${repo.owner}/${repo.name}/${commit.sha}/${encPath(e.path)}` : null,
    type,
    _links: { self, git: gitUrl, html },
  };
  if (e.type === 'commit') out.submodule_git_url = `https://example.invalid/submodule/${encodeURIComponent(e.path)}.git`;
  return out;
}

// Split a contents path into normalized segments; reject ".", ".." and empty
// segments (GitHub would 404 them too) so git never sees them.
function contentsSegments(p) {
  if (p === '' || p === '/') return [];
  const segs = p.replace(/^\/+|\/+$/g, '').split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..' || s.includes('\0'))) return null;
  return segs;
}

// Look up one path in a commit: returns its ls-tree entry (root = synthetic tree entry).
async function lookupPath(repo, commitSha, segs) {
  if (segs.length === 0) {
    const tree = (await git(repo, ['rev-parse', `${commitSha}^{tree}`])).toString().trim();
    return { path: '', mode: '040000', type: 'tree', sha: tree };
  }
  const parent = segs.slice(0, -1).join('/');
  let entries;
  try {
    entries = await lsTree(repo, `${commitSha}:${parent}`, false);
  } catch (e) {
    return null;
  }
  const name = segs[segs.length - 1];
  const e = entries.find((x) => x.path === name);
  if (!e) return null;
  e.path = segs.join('/');
  return e;
}

// Symlink target resolved against the link's directory, or null if it leaves
// the repository.
function resolveLinkTarget(linkPath, target) {
  if (target.startsWith('/')) return null;
  const out = linkPath.split('/').slice(0, -1);
  for (const s of target.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') { if (!out.length) return null; out.pop(); } else out.push(s);
  }
  return out;
}

async function handleContents(repo, rawPath, query, req) {
  const refParam = query.get('ref');
  const ref = refParam || await defaultBranch(repo);
  let commitSha;
  try {
    commitSha = await resolveObject(repo, ref, 'commit');
  } catch (e) {
    return jsonResp(404, { message: `No commit found for the ref ${ref}`, documentation_url: 'https://docs.github.com/rest/repos/contents', status: '404' });
  }
  const commit = { sha: commitSha, ref: encodeURIComponent(ref) };
  const segs = contentsSegments(rawPath);
  if (!segs) return notFound();
  let e = await lookupPath(repo, commitSha, segs);
  if (!e) return notFound();

  if (e.type === 'tree') {
    // GitHub lists at most 1,000 entries of a folder and says nothing
    // about the rest: no flag, no next page.
    const children = (await lsTree(repo, e.sha, false)).slice(0, OPT.contentsMax);
    const prefix = e.path ? e.path + '/' : '';
    const list = children.map((c) => contentsEntry(repo, commit, Object.assign(c, { path: prefix + c.path }), true));
    return { kind: 'dir', list, repo, commit, self: e, accept: req.headers.accept || '' };
  }
  if (e.type === 'commit') return jsonResp(200, contentsEntry(repo, commit, e, false));

  let content = await catBlob(repo, e.sha);
  if (e.mode === '120000') {
    // GitHub: a symlink to a regular file in the repo answers with that file;
    // otherwise with a "symlink" object carrying the target.
    const targetSegs = resolveLinkTarget(e.path, content.toString('utf8'));
    const t = targetSegs && targetSegs.length ? await lookupPath(repo, commitSha, targetSegs) : null;
    if (!t || t.type !== 'blob' || t.mode === '120000') {
      if (wantsRaw(req.headers.accept)) return rawResp(content);
      return jsonResp(200, Object.assign(contentsEntry(repo, commit, e, false), { target: content.toString('utf8') }));
    }
    e = t;
    content = await catBlob(repo, e.sha);
  }
  if (wantsRaw(req.headers.accept)) return rawResp(content);
  const obj = contentsEntry(repo, commit, e, false);
  // GitHub: above 1 MB the JSON form has empty content and encoding "none".
  if (content.length > OPT.contentsLimit) Object.assign(obj, { encoding: 'none', content: '' });
  else Object.assign(obj, { encoding: 'base64', content: base64Lines(content) });
  return jsonResp(200, obj);
}

function renderDir(d, hostile, conflicting) {
  let list = hostile ? d.list.concat(hostileContentsEntries(d.repo, d.commit)) : d.list;
  if (conflicting) list = list.concat(conflictingEntries(list, `/repos/${d.repo.owner}/${d.repo.name}`, (e) => contentsEntry(d.repo, d.commit, e, true)));
  // application/vnd.github.object: directory as an object with "entries".
  if (/application\/vnd\.github(\.v3)?\.object/.test(d.accept)) {
    const self = contentsEntry(d.repo, d.commit, d.self, false);
    return jsonResp(200, Object.assign(self, { entries: list }));
  }
  return jsonResp(200, list);
}

async function handleBlob(repo, sha, req) {
  let content;
  try {
    content = await catBlob(repo, sha);
  } catch (e) {
    return notFound();
  }
  if (wantsRaw(req.headers.accept)) return rawResp(content);
  return jsonResp(200, {
    sha, node_id: '', size: content.length,
    url: apiUrl(`/repos/${repo.owner}/${repo.name}/git/blobs/${sha}`),
    content: base64Lines(content), encoding: 'base64',
  });
}

// download_url target: /_raw/OWNER/REPO/COMMIT/PATH (not counted, like
// raw.githubusercontent.com which has no API rate limit headers).
async function handleRaw(parts) {
  const [owner, name, commit, ...segs] = parts;
  const repo = findRepo(owner, name);
  if (!repo || isPrivate(repo) || !/^[0-9a-f]{40}$/.test(commit || '')) return textResp(404, '404: Not Found', 'text/plain');
  const clean = contentsSegments(segs.join('/'));
  if (!clean || !clean.length) return textResp(404, '404: Not Found', 'text/plain');
  const e = await lookupPath(repo, commit, clean).catch(() => null);
  if (!e || e.type !== 'blob') return textResp(404, '404: Not Found', 'text/plain');
  return { status: 200, type: 'text/plain; charset=utf-8', body: await catBlob(repo, e.sha), headers: {} };
}

function rateLimitBody(b) {
  const core = { limit: b.limit, used: b.used, remaining: Math.max(0, b.limit - b.used), reset: Math.floor(b.resetMs / 1000), resource: 'core' };
  return { resources: { core }, rate: core };
}

// Route an API path (prefix already removed, no query).  Returns a response
// object, or a deferred {kind:'tree'|'dir'} rendered after faults are known.
async function route(apiPath, query, req, auth) {
  // Malformed %-escapes are a client bug: answer 404 instead of crashing.
  const decodeURIComponent = (x) => {
    try { return global.decodeURIComponent(x); } catch (e) { throw new NotFound(); }
  };
  if (apiPath === '/rate_limit') return jsonResp(200, rateLimitBody(bucketFor(auth.bucket)));
  const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(apiPath);
  if (!m) return notFound();
  const owner = decodeURIComponent(m[1]), name = decodeURIComponent(m[2]);
  const rest = m[3] || '';
  const repo = findRepo(owner, name);
  // Private repos are invisible without a valid token, exactly like GitHub.
  if (!repo || (isPrivate(repo) && !auth.valid)) return notFound();
  let sm;
  if (rest === '' || rest === '/') return handleRepo(repo);
  if ((sm = /^\/commits\/(.+)$/.exec(rest))) return handleCommit(repo, decodeURIComponent(sm[1]), req);
  if ((sm = /^\/git\/trees\/(.+)$/.exec(rest))) return handleTree(repo, decodeURIComponent(sm[1]), query);
  if ((sm = /^\/git\/blobs\/([^/]+)$/.exec(rest))) return handleBlob(repo, decodeURIComponent(sm[1]), req);
  if ((sm = /^\/contents(?:\/(.*))?$/.exec(rest))) return handleContents(repo, decodeURIComponent(sm[1] || ''), query, req);
  return notFound();
}

// ---------------------------------------------------------------------------
// Request dispatch
// ---------------------------------------------------------------------------

// Authorization: "Bearer T" or "token T".  Returns {present, valid, bucket}.
function checkAuth(req) {
  const h = req.headers.authorization;
  if (!h) return { present: false, valid: false, bucket: 'anon' };
  // RFC 9110 credentials: scheme, spaces, a token68.  A tab or any other
  // byte around the token is a malformed header, as on GitHub.
  const m = /^(?:bearer|token) +([A-Za-z0-9._~+\/-]+=*)$/i.exec(h);
  if (m && OPT.tokens.includes(m[1])) return { present: true, valid: true, bucket: 'token:' + m[1] };
  return { present: true, valid: false, bucket: 'anon' };
}

function send(res, resp, extraHeaders) {
  const headers = Object.assign({
    'content-type': resp.type,
    'content-length': String(resp.body.length),
    'x-github-api-version-selected': '2022-11-28',
    'x-github-media-type': 'github.v3; format=json',
  }, resp.headers, extraHeaders);
  if (resp.status === 304) { delete headers['content-type']; delete headers['content-length']; }
  res.writeHead(resp.status, headers);
  res.end(resp.status === 304 ? undefined : resp.body);
}

// Serve one API request (apiPath null = outside the --prefix: plain 404, but
// still counted, logged and carrying rate-limit headers like any answer).
async function handleApi(req, res, apiPath, query, pathWithQuery) {
  const started = Date.now();
  const seq = ++REQUEST_SEQ;
  const auth = checkAuth(req);
  const isRateLimit = apiPath === '/rate_limit';
  const entry = { t: started, method: req.method, path: pathWithQuery, status: 0, auth: auth.valid, counted: false, bytes: 0, accept: req.headers.accept || null };
  const finish = (resp, headers, opts = {}) => {
    resp = gzipIfAsked(req, resp);
    if (opts.truncateTo != null) opts.truncateTo = opts.sentBytes = Math.min(opts.truncateTo, Math.max(0, resp.body.length - 1));
    entry.status = resp.status;
    entry.bytes = resp.status === 304 ? 0 : (opts.sentBytes != null ? opts.sentBytes : resp.body.length);
    STATS.requests++;
    STATS.status[resp.status] = (STATS.status[resp.status] || 0) + 1;
    if (entry.counted) STATS.counted++;
    logRequest(entry, seq);
    if (opts.truncateTo != null) sendTruncated(res, resp, headers, opts.truncateTo);
    else if (opts.trickleMs != null) sendTrickled(res, resp, headers, opts.trickleMs);
    else send(res, resp, headers);
  };

  // Checks GitHub makes before any rate accounting.
  if (!req.headers['user-agent']) {
    return finish(jsonResp(403, { message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).' }), rateHeaders(bucketFor(auth.bucket)));
  }
  if (auth.present && !auth.valid) {
    return finish(jsonResp(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' }), rateHeaders(bucketFor('anon')));
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return finish(notFound(), rateHeaders(bucketFor(auth.bucket)));
  }

  const faults = takeFaults(pathWithQuery);
  if (faults.delay) await new Promise((r) => setTimeout(r, faults.delay));
  const fault = faults.other;

  const bucket = bucketFor(auth.bucket);
  if (!isRateLimit && bucket.used >= bucket.limit) {
    return finish(jsonResp(403, {
      message: `API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)`,
      documentation_url: 'https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting',
    }), rateHeaders(bucket));
  }

  // Reserve this request's unit now (so concurrent requests can't overshoot
  // the limit); refunded below for the answers that are free.
  entry.counted = !isRateLimit;
  if (entry.counted) bucket.used++;
  const refund = () => { if (entry.counted) { entry.counted = false; bucket.used = Math.max(0, bucket.used - 1); } };

  // Faults that replace the answer entirely.
  if (fault && fault.kind === 'ratelimit') {
    refund(); // the injected limit is fake: leave the real bucket alone
    const resetIn = fault.reset_in != null ? Number(fault.reset_in) : 2;
    const h = rateHeaders(bucket);
    h['x-ratelimit-remaining'] = '0';
    h['x-ratelimit-used'] = h['x-ratelimit-limit'];
    h['x-ratelimit-reset'] = String(Math.ceil(Date.now() / 1000 + resetIn));
    return finish(jsonResp(fault.status || 403, { message: 'API rate limit exceeded for 127.0.0.1.', documentation_url: 'https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting' }), h);
  }
  if (fault && fault.kind === 'secondary') {
    const h = rateHeaders(bucket);
    if (fault.retry_after !== null) h['retry-after'] = String(fault.retry_after != null ? fault.retry_after : 60);
    return finish(jsonResp(fault.status || 403, { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.', documentation_url: 'https://docs.github.com/rest/overview/resources-in-the-rest-api#secondary-rate-limits' }), h);
  }
  if (fault && fault.kind === 'redirect') {
    const h = rateHeaders(bucket);
    h.location = String(fault.to || '') + pathWithQuery;
    return finish(jsonResp(fault.status || 301, { message: 'Moved Permanently', url: h.location }), h);
  }
  if (fault && fault.kind === 'status') {
    return finish(jsonResp(fault.status, { message: fault.message || `Injected fault ${fault.status}` }), rateHeaders(bucket));
  }

  let resp;
  try {
    resp = apiPath === null ? notFound() : await route(apiPath, query, req, auth);
    if (resp.kind === 'tree') resp = renderTree(resp, fault && fault.kind === 'hostile_paths', fault && fault.kind === 'tree_page_loop', fault && fault.kind === 'conflicting_paths');
    else if (resp.kind === 'dir') resp = renderDir(resp, fault && fault.kind === 'hostile_paths', fault && fault.kind === 'conflicting_paths');
  } catch (e) {
    if (e instanceof NotFound) resp = notFound();
    else {
      process.stderr.write(`fakegh: ${apiPath}: ${e.stack || e}\n${e.stderrText || ''}`);
      resp = jsonResp(500, { message: 'Internal fake server error' });
    }
  }

  if (fault && fault.kind === 'malformed') {
    resp = { status: 200, type: resp.type.startsWith('application/json') ? resp.type : 'application/json; charset=utf-8', body: Buffer.from('{"sha": "deadbeef", "tree": [{"path": "x'), headers: {} };
  }

  // ETag over the final body; a matching If-None-Match gets 304.
  if (resp.status === 200) {
    resp.headers.etag = etagFor(resp);
    resp.headers['cache-control'] = auth.valid ? 'private, max-age=60, s-maxage=60' : 'public, max-age=60, s-maxage=60';
    resp.headers.vary = 'Accept, Authorization, Cookie, X-GitHub-OTP';
    if (etagMatches(req.headers['if-none-match'], resp.headers.etag)) {
      resp = { status: 304, type: resp.type, body: Buffer.alloc(0), headers: resp.headers };
    }
  }

  // Accounting: everything counts except /rate_limit and authenticated 304s.
  if (resp.status === 304 && auth.valid) refund();
  const headers = rateHeaders(bucket);

  if (fault && fault.kind === 'trickle' && resp.status !== 304) {
    return finish(resp, headers, { trickleMs: fault.ms != null ? Number(fault.ms) : 500 });
  }
  if (fault && fault.kind === 'truncate' && resp.status !== 304) {
    const n = Math.max(0, Math.min(Number(fault.bytes) || 0, resp.body.length - 1));
    return finish(resp, headers, { truncateTo: n, sentBytes: n });
  }
  finish(resp, headers);
}

// GitHub gzips its answers when the client says it can take them: the
// body on the wire (and its Content-Length) is then the compressed one,
// larger than the original for data that does not compress.
function gzipIfAsked(req, resp) {
  if (resp.status === 304 || resp.body.length === 0) return resp;
  if (!/\bgzip\b/.test(req.headers['accept-encoding'] || '')) return resp;
  const headers = Object.assign({}, resp.headers, { 'content-encoding': 'gzip', vary: 'Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding' });
  return Object.assign({}, resp, { body: zlib.gzipSync(resp.body), headers });
}

// A slow server: the headers at once, then the body one byte every ms
// until it is all sent or the client goes away.
function sendTrickled(res, resp, extraHeaders, ms) {
  const headers = Object.assign({ 'content-type': resp.type, 'content-length': String(resp.body.length) }, resp.headers, extraHeaders);
  res.writeHead(resp.status, headers);
  let i = 0;
  const timer = setInterval(() => {
    if (i >= resp.body.length || res.destroyed) { clearInterval(timer); res.end(); return; }
    res.write(resp.body.subarray(i, i + 1));
    i++;
  }, ms);
  res.on('close', () => clearInterval(timer));
}

// Announce the full Content-Length, send only the first n bytes, then drop
// the connection: the client sees a short read.
function sendTruncated(res, resp, extraHeaders, n) {
  const headers = Object.assign({ 'content-type': resp.type, 'content-length': String(resp.body.length) }, resp.headers, extraHeaders);
  res.writeHead(resp.status, headers);
  res.write(resp.body.subarray(0, n), () => {
    setTimeout(() => res.socket && res.socket.destroy(), 20);
  });
}

// ---------------------------------------------------------------------------
// Control API (/_control/..., never prefixed, counted or logged)
// ---------------------------------------------------------------------------

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function handleControl(req, res, p) {
  const body = await readBody(req);
  let json = {};
  try {
    if (body.trim()) json = JSON.parse(body);
  } catch (e) {
    return send(res, jsonResp(400, { message: 'bad JSON: ' + e.message }));
  }
  const key = `${req.method} ${p}`;
  try {
    switch (key) {
      case 'POST /_control/faults': {
        const list = Array.isArray(json) ? json : [json];
        return send(res, jsonResp(200, { added: list.map(addFault) }));
      }
      case 'GET /_control/faults': return send(res, jsonResp(200, FAULTS));
      case 'DELETE /_control/faults': FAULTS = []; return send(res, jsonResp(200, { cleared: true }));
      case 'GET /_control/log': return send(res, jsonResp(200, LOG));
      case 'POST /_control/log/clear': case 'DELETE /_control/log': LOG = []; LOG_CLEARED_SEQ = REQUEST_SEQ; return send(res, jsonResp(200, { cleared: true }));
      case 'GET /_control/stats': {
        const buckets = {};
        for (const [k, b] of BUCKETS) buckets[k.startsWith('token:') ? 'token#' + (OPT.tokens.indexOf(k.slice(6)) + 1) : k] = rateLimitBody(bucketFor(k)).rate;
        return send(res, jsonResp(200, Object.assign({}, STATS, { faults_active: FAULTS.length, buckets })));
      }
      case 'POST /_control/stats/clear': STATS.requests = 0; STATS.counted = 0; STATS.status = {}; STATS.faults_fired = {}; return send(res, jsonResp(200, { cleared: true }));
      case 'POST /_control/ratelimit': return send(res, jsonResp(200, setRateLimit(json)));
      default: return send(res, jsonResp(404, { message: 'unknown control endpoint' }));
    }
  } catch (e) {
    return send(res, jsonResp(400, { message: e.message }));
  }
}

// {"remaining":N, "reset_in":S, "limit":L, "token":T|"anon"} — without
// "token" it applies to the anonymous bucket and to every configured token.
function setRateLimit(j) {
  const keys = j.token === 'anon' ? ['anon'] : j.token ? ['token:' + j.token]
    : ['anon', ...OPT.tokens.map((t) => 'token:' + t)];
  const out = {};
  for (const k of keys) {
    const b = bucketFor(k);
    if (j.limit != null) b.limit = Number(j.limit);
    if (j.reset_in != null) b.resetMs = Math.ceil((Date.now() + Number(j.reset_in) * 1000) / 1000) * 1000;
    if (j.remaining != null) b.used = Math.max(0, b.limit - Number(j.remaining));
    out[k === 'anon' ? 'anon' : 'token'] = rateLimitBody(b).rate;
  }
  return out;
}

// ---------------------------------------------------------------------------
// TLS: throwaway CA made with the openssl command line
// ---------------------------------------------------------------------------

function ensureTls(dir) {
  const files = ['ca.pem', 'server.pem', 'server-key.pem'].map((f) => path.join(dir, f));
  if (files.every((f) => fs.existsSync(f))) return files;
  fs.mkdirSync(dir, { recursive: true });
  // Generate in a private temp dir and rename: concurrent servers sharing DIR
  // never see half-written files.
  const tmp = fs.mkdtempSync(path.join(dir, '.gen-'));
  const run = (args) => execFileSync('openssl', args, { cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem',
    '-days', '3650', '-subj', '/CN=fakegh throwaway test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=localhost']);
  fs.writeFileSync(path.join(tmp, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n' +
    'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem',
    '-set_serial', '0x' + crypto.randomBytes(8).toString('hex'), '-days', '825', '-sha256',
    '-extfile', 'ext.cnf', '-out', 'server.pem']);
  for (const f of ['ca.pem', 'ca-key.pem', 'server-key.pem', 'server.pem']) {
    fs.renameSync(path.join(tmp, f), path.join(dir, f));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  return files;
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const OPT = parseArgs(process.argv.slice(2));
let ORIGIN = '';   // scheme://127.0.0.1:port
let BASE_URL = ''; // ORIGIN + prefix

async function onRequest(req, res) {
  // Split the request target by hand: new URL() would resolve "." and ".."
  // segments and hide a client that sends them.
  const q = req.url.indexOf('?');
  const p = q < 0 ? req.url : req.url.slice(0, q);
  const search = q < 0 ? '' : req.url.slice(q);
  const query = new URLSearchParams(search);
  if (p === '/_control' || p.startsWith('/_control/')) return handleControl(req, res, p);
  if (p.startsWith('/_raw/')) {
    const resp = await handleRaw(p.slice(6).split('/').map(decodeURIComponent)).catch(() => textResp(404, '404: Not Found', 'text/plain'));
    return send(res, resp);
  }
  let apiPath = p;
  if (OPT.prefix) {
    if (p !== OPT.prefix && !p.startsWith(OPT.prefix + '/')) return handleApi(req, res, null, query, p + search);
    apiPath = p.slice(OPT.prefix.length) || '/';
  }
  return handleApi(req, res, apiPath, query, apiPath + search);
}

function main() {
  let server;
  const handler = (req, res) => {
    onRequest(req, res).catch((e) => {
      process.stderr.write(`fakegh: ${e.stack || e}\n`);
      if (!res.headersSent) send(res, jsonResp(500, { message: 'Internal fake server error' }));
    });
  };
  if (OPT.tls) {
    const [, cert, key] = ensureTls(OPT.tls);
    server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, handler);
  } else {
    server = http.createServer(handler);
  }
  // Clients keep one connection open between polls; don't drop it quickly.
  server.keepAliveTimeout = 60000;
  server.headersTimeout = 65000;
  server.listen(OPT.port, '127.0.0.1', () => {
    const port = server.address().port;
    ORIGIN = `${OPT.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    BASE_URL = ORIGIN + OPT.prefix;
    fs.writeSync(1, `LISTENING ${BASE_URL}\n`);
  });
  const stop = () => { server.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
