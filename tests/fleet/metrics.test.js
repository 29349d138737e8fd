// Prometheus metrics (issue 14): senkod --once (cron) writes metrics_file
// after its cycle; the file parses as the text exposition format (a strict
// parser below, after prometheus/common's expfmt rules) and says what
// `senko status --json` says; the counters add up across runs (kept in
// state_dir), api requests match what the fake GitHub saw, and
// `senko status --prometheus` prints the same text.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('metrics');
const REPOS = path.join(T, 'repos');
const STATE = path.join(T, 'state');
const CONF = path.join(T, 'senko.conf');
const PROM = path.join(T, 'textfile', 'senko.prom');
let repo, gh, boards = [];

// ------------------------------------------------------------ the parser

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

// Parse exposition text (format 0.0.4) strictly; throws on anything a
// Prometheus server or promtool would refuse or warn about.  Returns
// {families: {name: {type, help, samples: [{labels, value}]}}}.
function parseProm(text) {
  assert.ok(text.endsWith('\n'), 'the text must end with a line break');
  const families = {};
  const seen = new Set();
  let current = null; // the family whose samples are being read
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') throw new Error(`${where}: empty line`);
    let m;
    if ((m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line))) {
      const [, kw, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      const f = families[name] || (families[name] = { samples: [] });
      if (f.samples.length) throw new Error(`${where}: ${kw} after samples`);
      if (kw === 'TYPE') {
        if (f.type) throw new Error(`${where}: second TYPE`);
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type`);
        f.type = rest;
      } else {
        if (f.help !== undefined) throw new Error(`${where}: second HELP`);
        if (/\\[^\\n]/.test(rest)) throw new Error(`${where}: bad escape in HELP`);
        f.help = rest;
      }
      current = name;
      return;
    }
    if (line.startsWith('#')) return; // a comment
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`${where}: not a sample`);
    const [, name, , body, value] = m;
    const labels = parseLabels(body || '', where);
    if (!/^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|NaN|[+-]Inf)$/.test(value))
      throw new Error(`${where}: bad value`);
    const f = families[name];
    if (!f || !f.type) throw new Error(`${where}: sample without a TYPE line`);
    if (current !== name) throw new Error(`${where}: samples of ${name} not together`);
    if (f.type === 'counter' && !name.endsWith('_total')) throw new Error(`${where}: counter without _total`);
    if (f.type === 'counter' && Number(value) < 0) throw new Error(`${where}: negative counter`);
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) throw new Error(`${where}: duplicate series`);
    seen.add(key);
    f.samples.push({ labels, value: Number(value) });
  });
  return { families };
}

function parseLabels(body, where) {
  const labels = {};
  let rest = body;
  while (rest.length) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
    if (!m) throw new Error(`${where}: bad labels at ${JSON.stringify(rest)}`);
    if (!LABEL.test(m[1]) || m[1].startsWith('__')) throw new Error(`${where}: bad label name`);
    if (m[1] in labels) throw new Error(`${where}: label ${m[1]} twice`);
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    rest = rest.slice(m[0].length);
    if (m[3] === '' && rest.length) throw new Error(`${where}: junk after labels`);
  }
  return labels;
}

// The value of name{labels}, or undefined when there is no such sample.
function value(p, name, labels) {
  const f = p.families[name];
  assert.ok(f, `no family ${name}`);
  const s = f.samples.find((x) => JSON.stringify(Object.entries(x.labels).sort()) ===
    JSON.stringify(Object.entries(labels).sort()));
  return s && s.value;
}

// --------------------------------------------------------------- fixtures

function conf() {
  const devices = {};
  for (const b of boards)
    devices[b.name] = { port: b.link, baud: 1000000, source: 'app', reset: 'none' };
  devices.ghost = { port: path.join(T, 'no-such-port'), source: 'app', reset: 'none' };
  h.writeConfig(CONF, {
    senkod: { state_dir: STATE, api_url: gh.base, metrics_file: PROM },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices,
  });
}

async function once() {
  const r = await h.senkod(['-c', CONF, '--once'], { env: { SENKO_HTTP_TIMEOUT: '5' } });
  return r;
}
async function statusJson() {
  const r = await h.senko(['-c', CONF, 'status', '--json']);
  return JSON.parse(r.stdout);
}
const dev = (j, n) => j.devices.find((d) => d.name === n);

test.before(async () => {
  repo = h.makeRepo(REPOS, 'acme', 'fw', { 'main.py': 'print("v1")\n', 'lib/a.py': 'A = 1\n' });
  gh = await h.startGitHub({ repos: REPOS });
  boards.push(await h.startBoard({ dir: T, name: 'one' }));
  boards.push(await h.startBoard({ dir: T, name: 'two' }));
  fs.mkdirSync(path.dirname(PROM), { recursive: true });
  conf();
});
test.after(async () => {
  await Promise.all(boards.map((b) => b.stop()));
  if (gh) gh.stop();
});

const sent = {}; // bytes each device was sent, summed over the runs
let requests = 0;

async function runAndTally() {
  await gh.clearLog();
  const r = await once();
  assert.equal(r.code, 1, `ghost is offline, so --once exits 1\n${r.stderr}`);
  requests += (await gh.log()).length;
  const j = await statusJson();
  for (const d of j.devices) sent[d.name] = (sent[d.name] || 0) + d.bytes_sent;
  return { j, r };
}

test('after a cycle the metrics file parses strictly and says what senko status --json says', async () => {
  const { j } = await runAndTally();
  const text = fs.readFileSync(PROM, 'utf8');
  const p = parseProm(text);
  for (const name of ['senko_device_in_sync', 'senko_device_healthy',
    'senko_device_last_success_timestamp_seconds', 'senko_device_sync_failures_total',
    'senko_device_bytes_sent_total', 'senko_device_sync_duration_seconds',
    'senko_source_last_poll_timestamp_seconds', 'senko_source_poll_failures_total',
    'senko_source_commit_info', 'senko_api_requests_total', 'senko_rate_limit_remaining'])
    assert.ok(p.families[name] && p.families[name].type, `family ${name} missing`);
  for (const n of ['one', 'two']) {
    const d = dev(j, n);
    assert.equal(d.state, 'updated', JSON.stringify(d));
    assert.equal(value(p, 'senko_device_in_sync', { device: n, source: 'app' }), 1);
    assert.equal(value(p, 'senko_device_healthy', { device: n }), 1);
    assert.equal(value(p, 'senko_device_last_success_timestamp_seconds', { device: n }), d.last_success);
    assert.equal(value(p, 'senko_device_bytes_sent_total', { device: n }), d.bytes_sent);
    assert.ok(d.bytes_sent > 0);
    assert.equal(value(p, 'senko_device_sync_failures_total', { device: n }), 0);
    const secs = value(p, 'senko_device_sync_duration_seconds', { device: n });
    assert.ok(secs > 0 && secs < 60, `duration ${secs}`);
  }
  const g = dev(j, 'ghost');
  assert.equal(g.state, 'offline');
  assert.equal(value(p, 'senko_device_in_sync', { device: 'ghost', source: 'app' }), 0);
  assert.equal(value(p, 'senko_device_healthy', { device: 'ghost' }), 0);
  assert.equal(value(p, 'senko_device_last_success_timestamp_seconds', { device: 'ghost' }), undefined,
    'a device never in sync has no last-success sample');
  assert.equal(value(p, 'senko_device_sync_failures_total', { device: 'ghost' }), 1);
  const s = j.sources[0];
  assert.equal(value(p, 'senko_source_last_poll_timestamp_seconds', { source: 'app' }), s.last_poll);
  assert.equal(value(p, 'senko_source_commit_info', { source: 'app', commit: s.commit }), 1);
  assert.equal(s.commit, repo.head());
  assert.equal(value(p, 'senko_source_poll_failures_total', { source: 'app' }), 0);
  assert.equal(value(p, 'senko_api_requests_total', { source: 'app' }), requests,
    'api requests differ from what the server saw');
  const stats = await (await fetch(new URL(gh.base).origin + '/_control/stats')).json();
  assert.equal(value(p, 'senko_rate_limit_remaining', {}), stats.buckets.anon.remaining);
});

test('senko status --prometheus prints the same text as the file', async () => {
  const r = await h.senko(['-c', CONF, 'status', '--prometheus']);
  assert.equal(r.code, 1, r.stderr); // ghost is offline
  assert.equal(r.stdout, fs.readFileSync(PROM, 'utf8'));
});

test('counters add up over runs (kept in state_dir across restarts); a failed poll is counted', async () => {
  repo.commit({ 'main.py': 'print("v2")\n' });
  await runAndTally();
  await gh.fault({ kind: 'status', status: 500, count: 50 });
  await runAndTally();
  await gh.clearFaults();
  const j = await statusJson();
  const p = parseProm(fs.readFileSync(PROM, 'utf8'));
  for (const n of ['one', 'two']) {
    assert.equal(value(p, 'senko_device_bytes_sent_total', { device: n }), sent[n]);
    assert.ok(sent[n] > dev(j, n).bytes_sent, 'the second update is not counted on top of the first');
  }
  assert.equal(value(p, 'senko_device_sync_failures_total', { device: 'ghost' }), 3);
  assert.equal(value(p, 'senko_source_poll_failures_total', { source: 'app' }), 1);
  assert.equal(j.sources[0].state, 'failed');
  assert.equal(value(p, 'senko_api_requests_total', { source: 'app' }), requests);
  assert.equal(value(p, 'senko_source_commit_info', { source: 'app', commit: repo.head() }), 1);
});

test('the parser is strict: it refuses what Prometheus refuses', () => {
  const ok = '# HELP a_total x\n# TYPE a_total counter\na_total{d="x"} 1\n';
  parseProm(ok);
  for (const bad of [
    ok.slice(0, -1),                                   // no final line break
    '# TYPE a gauge\na{d="x"} 1\na{d="x"} 2\n',        // duplicate series
    '# TYPE a counter\na 1\n',                         // counter without _total
    'a 1\n',                                           // no TYPE
    '# TYPE a gauge\na{d="x} 1\n',                     // unterminated label
    '# TYPE a gauge\na{d="x"} one\n',                  // not a number
    '# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n',      // samples out of their family
  ])
    assert.throws(() => parseProm(bad), undefined, JSON.stringify(bad));
});

test('under the unit\'s UMask=0077 the metrics file is still 0644; state files stay private', async () => {
  // node_exporter runs as another user: it must be able to read the file.
  const r = await h.run('/bin/sh', ['-c', 'umask 077 && exec "$0" "$@"', h.SENKOD, '-c', CONF, '--once'],
    { env: { SENKO_HTTP_TIMEOUT: '5' } });
  assert.equal(r.code, 1, `ghost is offline, so --once exits 1\n${r.stderr}`);
  const mode = (p) => (fs.statSync(p).mode & 0o777).toString(8);
  assert.equal(mode(PROM), '644', 'metrics_file');
  assert.equal(mode(path.join(STATE, 'metrics.json')), '600', 'state_dir/metrics.json');
});
