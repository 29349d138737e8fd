// Fleet state over MQTT (issue 14) with a real mosquitto broker: senkod's
// retained device and source topics say what `senko status --json` says;
// the cmd topic syncs and polls, malformed commands are refused and change
// nothing; `senko fleet` shows two senkod instances in one table; a broker
// killed in the middle of a cycle does not stop the syncs and gets the
// retained state again when it is back; SIGKILL leaves the last will
// "offline"; over TLS with a password file, wrong credentials are one log
// line while syncs go on, and the right ones connect after SIGHUP.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../lib/harness');
const mq = require('./broker');

const T = h.tmpdir('mqtt');
const REPOS = path.join(T, 'repos');
let repo, gh, broker, boards = [];
const daemons = {};

function lines(stream) {
  const out = [];
  let rest = '';
  stream.on('data', (d) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop();
    out.push(...parts);
  });
  return out;
}

// Write d's config: its devices (boards) and the [mqtt] keys.
function writeDaemonConfig(d) {
  const devs = {};
  for (const b of d.devices)
    devs[b.name] = { port: b.link, baud: 1000000, source: 'app', reset: 'none' };
  h.writeConfig(d.conf, {
    senkod: { state_dir: d.state, api_url: gh.base, interval: '1h' },
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: devs,
  });
  fs.appendFileSync(d.conf, '\n[mqtt]\n' + Object.entries(d.mqtt).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
}

// A senkod named name with its own state and config; mqtt: the [mqtt] keys.
function startDaemon(name, { devices, mqtt }) {
  const state = path.join(T, `state-${name}`);
  const conf = path.join(T, `${name}.conf`);
  writeDaemonConfig({ conf, state, devices, mqtt });
  const child = h.track(spawn(h.SENKOD, ['-c', conf, '--foreground'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: Object.assign({}, process.env, { SENKO_HTTP_TIMEOUT: '10' }),
  }));
  const d = { name, conf, state, mqtt, child, log: lines(child.stderr), devices };
  d.exited = new Promise((res) => child.on('exit', (code, sig) => res(code === null ? sig : code)));
  daemons[name] = d;
  return d;
}
const logHas = (d, re) => d.log.some((l) => re.test(l));
const waitLog = (d, re, ms, what) => h.until(() => logHas(d, re), ms, `${what}: ${re}\n${d.log.join('\n')}`);

async function statusJson(d) {
  const r = await h.senko(['-c', d.conf, 'status', '--json']);
  return JSON.parse(r.stdout);
}

function boardHas(b, p, content) {
  try { return fs.readFileSync(path.join(b.flash, p), 'utf8') === content; } catch (e) { return false; }
}
const allHave = (bs, content) => bs.every((b) => boardHas(b, 'main.py', content));

// Do the retained topics of d under prefix say what its status says?
async function retainedMatchStatus(d, prefix, b = broker, opts) {
  const [topics, j] = [await mq.retained(b, `${prefix}/#`, opts), await statusJson(d)];
  if (topics[`${prefix}/state`] !== 'online') return false;
  for (const dev of j.devices) {
    const t = topics[`${prefix}/device/${dev.name}`];
    if (!t) return false;
    try { assert.deepEqual(JSON.parse(t), dev); } catch (e) { return false; }
  }
  for (const src of j.sources) {
    const t = topics[`${prefix}/source/${src.name}`];
    if (!t) return false;
    const o = JSON.parse(t);
    const rl = o.rate_limit_remaining;
    delete o.rate_limit_remaining;
    try { assert.deepEqual(o, src); } catch (e) { return false; }
    if (!(Number.isInteger(rl) && rl >= 0)) return false;
  }
  return { topics, j };
}

// Retained topics of d under prefix that match its status and name exactly
// the devices names (one level below device/), else false; lastDevices
// keeps the names seen, for a message.
let lastDevices = [];
async function retainedDevicesAre(d, prefix, names) {
  const r = await retainedMatchStatus(d, prefix);
  const re = new RegExp(`^${prefix}/device/([^/]+)$`);
  lastDevices = Object.keys(r ? r.topics : await mq.retained(broker, `${prefix}/#`))
    .map((t) => re.exec(t)).filter(Boolean).map((m) => m[1]).sort();
  return r && JSON.stringify(lastDevices) === JSON.stringify([...names].sort()) && r;
}
const clearedLines = (d, topic) => d.log.filter((l) => l.includes(`mqtt: cleared retained topic '${topic}'`));

test.before(async () => {
  repo = h.makeRepo(REPOS, 'acme', 'fw', { 'main.py': 'v1\n', 'lib/a.py': 'A = 1\n' });
  gh = await h.startGitHub({ repos: REPOS });
  boards.push(await h.startBoard({ dir: T, name: 'one' }));
  boards.push(await h.startBoard({ dir: T, name: 'two' }));
  broker = await mq.startBroker(path.join(T, 'broker'));
});
test.after(async () => {
  mq.stopSubscribers();
  for (const d of Object.values(daemons)) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  await Promise.all(boards.map((b) => b.stop()));
  if (broker) await broker.kill();
  if (gh) gh.stop();
});

test('retained device and source topics say what senko status --json says', async () => {
  const a = startDaemon('a', { devices: boards, mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, topic_prefix: 'senko/gw-a', client_id: 'senko-test-a' } });
  await h.until(() => allHave(boards, 'v1\n'), 30000, 'first sync');
  await waitLog(a, /mqtt: connected to 'mqtt:\/\/127\.0\.0\.1:\d+'/, 10000, 'connected');
  const got = await h.until(() => retainedMatchStatus(a, 'senko/gw-a'), 15000,
    'retained topics matching senko status --json');
  assert.equal(got.j.devices.length, 2);
  assert.ok(got.j.devices.every((d) => d.state === 'updated'), JSON.stringify(got.j.devices));
  const stats = await (await fetch(new URL(gh.base).origin + '/_control/stats')).json();
  assert.equal(JSON.parse(got.topics['senko/gw-a/source/app']).rate_limit_remaining,
    stats.buckets.anon.remaining);
});

test('{"cmd":"sync"} on the cmd topic syncs a new commit at once (interval 1 h); events and an answer', async () => {
  const a = daemons.a;
  const sub = await mq.subscribe(broker, 'senko/gw-a/#');
  const head = repo.commit({ 'main.py': 'v2\n' });
  await mq.publish(broker, 'senko/gw-a/cmd', '{"cmd": "sync", "id": "t2"}');
  const ans = await h.until(() => sub.msgs.find((m) => m.topic === 'senko/gw-a/cmd/result'), 10000, 'answer');
  assert.deepEqual(JSON.parse(ans.payload), { ok: true, id: 't2', result: 'a poll and sync start now' });
  await h.until(() => allHave(boards, 'v2\n'), 30000, 'v2 on the boards');
  const events = await h.until(() => {
    const e = sub.msgs.filter((m) => m.topic === 'senko/gw-a/event').map((m) => JSON.parse(m.payload));
    return e.length >= 2 && e;
  }, 10000, 'two events');
  for (const name of ['one', 'two']) {
    const e = events.find((x) => x.device === name);
    assert.ok(e, `no event for ${name}: ${JSON.stringify(events)}`);
    assert.equal(e.event, 'updated');
    assert.equal(e.commit, head);
    assert.ok(e.bytes_sent > 0);
  }
  assert.ok(sub.msgs.filter((m) => m.topic === 'senko/gw-a/event').every((m) => !m.retained));
  // The device topics followed, retained.
  await h.until(() => retainedMatchStatus(a, 'senko/gw-a'), 10000, 'retained after the sync');
  sub.stop();
});

test('{"cmd":"poll"} polls at once', async () => {
  repo.commit({ 'main.py': 'v3\n' });
  await mq.publish(broker, 'senko/gw-a/cmd', '{"cmd":"poll"}');
  await h.until(() => allHave(boards, 'v3\n'), 30000, 'v3 on the boards');
  assert.ok(logHas(daemons.a, /mqtt: poll asked on 'senko\/gw-a\/cmd': polling now/));
});

test('malformed and unknown commands get an error answer and change nothing', async () => {
  const a = daemons.a;
  const sub = await mq.subscribe(broker, 'senko/gw-a/cmd/result');
  await gh.clearLog();
  repo.commit({ 'main.py': 'v4\n' });
  const bad = [
    ['not json', /not JSON/],
    ['{"cmd":"reboot","id":1}', /unknown command/],
    ['{"cmd":"sync","devices":"one","id":2}', /non-empty list/],
    ['{"cmd":"poll","devices":["one"],"id":3}', /with "sync" only/],
    ['{"cmd":"sync","rm":"-rf","id":4}', /unknown key 'rm'/],
    ['["sync"]', /JSON object/],
    ['{"cmd":"sync","devices":["one","nope"],"id":5}', /no device 'nope'/],
  ];
  for (const [payload] of bad) await mq.publish(broker, 'senko/gw-a/cmd', payload);
  await h.until(() => sub.msgs.length >= bad.length, 10000, `${bad.length} answers`);
  const answers = sub.msgs.map((m) => JSON.parse(m.payload));
  for (const [payload, re] of bad) {
    const a1 = answers.find((x) => re.test(x.error || ''));
    assert.ok(a1, `no error answer matching ${re} for ${payload}: ${JSON.stringify(answers)}`);
    assert.equal(a1.ok, false);
  }
  assert.ok(answers.every((x) => x.ok === false), JSON.stringify(answers));
  // Each answer above was given instead of queueing a cycle: nothing ran.
  assert.deepEqual(await gh.log(), [], 'a refused command made a request');
  assert.ok(allHave(boards, 'v3\n'), 'a board changed');
  assert.equal(a.log.filter((l) => /refused a command/.test(l)).length, bad.length, a.log.join('\n'));
  sub.stop();
});

test('senko fleet shows two senkod instances (two prefixes) in one table', async () => {
  const three = await h.startBoard({ dir: T, name: 'three' });
  boards.push(three);
  const b = startDaemon('b', { devices: [three], mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, topic_prefix: 'senko/gw-b', client_id: 'senko-test-b' } });
  await h.until(() => boardHas(three, 'main.py', 'v4\n'), 30000, 'three synced');
  await h.until(() => retainedMatchStatus(b, 'senko/gw-b'), 15000, 'gw-b retained');
  const r = await h.senko(['fleet', '--broker', `mqtt://127.0.0.1:${broker.port}`, '--prefix', 'senko/#']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const rows = r.stdout.trim().split('\n');
  assert.match(rows[0], /^GATEWAY +DEVICE +STATE +COMMIT +LAST SUCCESS +LAST ERROR$/);
  const ja = await statusJson(daemons.a), jb = await statusJson(b);
  const want = [
    ['senko/gw-a', ja.devices.find((d) => d.name === 'one')],
    ['senko/gw-a', ja.devices.find((d) => d.name === 'two')],
    ['senko/gw-b', jb.devices.find((d) => d.name === 'three')],
  ];
  assert.equal(rows.length, 1 + want.length, r.stdout);
  want.forEach(([gw, d], i) => assert.match(rows[i + 1],
    new RegExp(`^${gw} +${d.name} +${d.state} +${d.commit.slice(0, 7)} +\\d+ s ago +-$`), r.stdout));
  const j = await h.senko(['fleet', '--broker', `mqtt://127.0.0.1:${broker.port}`, '--json']);
  assert.equal(j.code, 0, j.stderr);
  const fleet = JSON.parse(j.stdout);
  assert.deepEqual(fleet.gateways.map((g) => [g.prefix, g.state]), [['senko/gw-a', 'online'], ['senko/gw-b', 'online']]);
  assert.deepEqual(fleet.gateways[0].devices, ja.devices);
  assert.deepEqual(fleet.gateways[1].devices, jb.devices);
});

test('SIGKILL: the broker publishes the last will, state offline; senko fleet says so', async () => {
  const b = daemons.b;
  b.child.kill('SIGKILL');
  await b.exited;
  await h.until(async () => (await mq.retained(broker, 'senko/gw-b/state'))['senko/gw-b/state'] === 'offline',
    10000, 'offline as the last will');
  const r = await h.senko(['fleet', '--broker', `mqtt://127.0.0.1:${broker.port}`, '--prefix', 'senko/gw-b']);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stdout, /gateway senko\/gw-b is offline/);
});

test('broker killed in the middle of a cycle: the syncs go on; back, it gets the retained state again', async () => {
  const a = daemons.a;
  // The cycle's first request waits 3 s at the server: the cycle is under way.
  await gh.fault({ kind: 'delay', ms: 3000, count: 1 });
  await mq.publish(broker, 'senko/gw-a/cmd', '{"cmd":"sync"}');
  await h.until(async () => {
    const s = await (await fetch(new URL(gh.base).origin + '/_control/stats')).json();
    return (s.faults_fired.delay || 0) >= 1;
  }, 10000, 'the cycle under way');
  const port = broker.port;
  await broker.kill();
  await h.until(() => allHave(boards.slice(0, 2), 'v4\n'), 30000, 'v4 on the boards with the broker gone');
  await waitLog(a, /mqtt: lost the connection to/, 10000, 'lost');
  const j = await statusJson(a);
  assert.ok(j.devices.every((d) => d.state === 'updated'), JSON.stringify(j.devices));
  assert.equal(a.child.exitCode, null);
  broker = await mq.startBroker(path.join(T, 'broker'), { port });
  await waitLog(a, /mqtt: connected to .* again/, 90000, 'reconnected');
  await h.until(() => retainedMatchStatus(a, 'senko/gw-a'), 15000, 'retained state published again');
});

test('SIGTERM: senkod says offline itself before it goes', async () => {
  const a = daemons.a;
  a.child.kill('SIGTERM');
  assert.equal(await a.exited, 0);
  assert.equal((await mq.retained(broker, 'senko/gw-a/state'))['senko/gw-a/state'], 'offline');
});

test('TLS and a password file: wrong credentials are one log line and syncs go on; right ones connect after SIGHUP', async () => {
  const dir = path.join(T, 'tls');
  fs.mkdirSync(dir, { recursive: true });
  const certs = mq.makeCerts(dir);
  const tb = await mq.startBroker(path.join(dir, 'broker'), { tls: certs, users: { gateway: 'right-password' } });
  try {
    const pwfile = path.join(dir, 'mqtt-password');
    fs.writeFileSync(pwfile, 'wrong-password\n', { mode: 0o600 });
    const c = startDaemon('c', {
      devices: boards.slice(0, 2),
      mqtt: { url: `mqtts://localhost:${tb.port}`, ca_file: certs.ca, username: 'gateway',
        password_file: pwfile, topic_prefix: 'senko/gw-c', client_id: 'senko-test-c' },
    });
    await waitLog(c, /mqtt: broker 'mqtts:\/\/localhost:\d+' refused the connection: .*(password|authori[sz]ed)/i,
      15000, 'refusal');
    repo.commit({ 'main.py': 'v5\n' });
    c.child.kill('SIGUSR1');
    await h.until(() => allHave(boards.slice(0, 2), 'v5\n'), 30000, 'v5 with the broker refusing');
    // Several attempts (back-off 1, 2, 4 s), one line.
    await h.until(() => tb.log.filter((l) => /New connection from/.test(l)).length >= 3, 30000,
      'three connection attempts');
    assert.equal(c.log.filter((l) => /refused the connection/.test(l)).length, 1, c.log.join('\n'));
    assert.ok(!c.log.some((l) => /right-password|wrong-password/.test(l)), 'a password in the log');
    fs.writeFileSync(pwfile, 'right-password\n', { mode: 0o600 });
    c.child.kill('SIGHUP');
    await waitLog(c, /mqtt: connected to 'mqtts:\/\/localhost:\d+' as 'senko-test-c'/, 30000, 'connected over TLS');
    const opts = { tls: certs, user: 'gateway', password: 'right-password' };
    await h.until(() => retainedMatchStatus(c, 'senko/gw-c', tb, opts), 15000, 'retained over TLS');
    c.child.kill('SIGTERM');
    assert.equal(await c.exited, 0);
  } finally {
    await tb.kill();
  }
});

test('a device removed from the config while senkod was stopped: its retained topic is cleared at start; other topics stay', async () => {
  const P = 'senko/gw-d';
  const mqtt = { url: `mqtt://127.0.0.1:${broker.port}`, topic_prefix: P, client_id: 'senko-test-d' };
  let d = startDaemon('d', { devices: boards.slice(0, 2), mqtt });
  await h.until(() => retainedDevicesAre(d, P, ['one', 'two']), 30000, 'gw-d retained with two devices');
  d.child.kill('SIGTERM');
  assert.equal(await d.exited, 0);
  // Not senkod's to clear: another prefix, a deeper level, another level-2 name.
  const foreign = { 'senko/gw-dx/device/two': '{}', [`${P}/device/two/extra`]: 'x', [`${P}/devices/two`]: 'y' };
  for (const [t, p] of Object.entries(foreign)) await mq.publish(broker, t, p, { retain: true });
  d = startDaemon('d', { devices: boards.slice(0, 1), mqtt });
  await h.until(() => retainedDevicesAre(d, P, ['one']), 15000,
    () => `only device one retained under ${P}/device/ (seen: ${lastDevices.join(', ')})\n${d.log.join('\n')}`);
  assert.equal(clearedLines(d, `${P}/device/two`).length, 1, d.log.join('\n'));
  const all = await mq.retained(broker, 'senko/#');
  for (const [t, p] of Object.entries(foreign)) assert.equal(all[t], p, `${t} was touched`);
  d.child.kill('SIGTERM');
  assert.equal(await d.exited, 0);
});

test('SIGHUP: a device removed is cleared by the same client (same [mqtt]) and by a new one ([mqtt] qos changed)', async () => {
  const P = 'senko/gw-e';
  const d = startDaemon('e', { devices: boards.slice(0, 3),
    mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, topic_prefix: P, client_id: 'senko-test-e' } });
  await h.until(() => retainedDevicesAre(d, P, ['one', 'two', 'three']), 30000, 'gw-e retained with three devices');
  const clients = () => d.log.filter((l) => /mqtt: connected to .* as 'senko-test-e'/.test(l)).length;
  assert.equal(clients(), 1);
  const reload = async (n) => {
    writeDaemonConfig(d);
    d.child.kill('SIGHUP');
    await waitLog(d, new RegExp(`configuration reloaded: 1 source, ${n} device`), 10000, 'reloaded');
  };

  d.devices = boards.slice(0, 2);
  await reload(2);
  await h.until(() => retainedDevicesAre(d, P, ['one', 'two']), 15000,
    () => `three cleared by the same client (seen: ${lastDevices.join(', ')})\n${d.log.join('\n')}`);
  assert.equal(clients(), 1, 'the same [mqtt] started a new client');
  assert.equal(clearedLines(d, `${P}/device/three`).length, 1, d.log.join('\n'));

  d.devices = boards.slice(0, 1);
  d.mqtt = Object.assign({}, d.mqtt, { qos: 0 });
  await reload(1);
  await h.until(() => clients() === 2, 10000, () => `a new client after qos changed\n${d.log.join('\n')}`);
  await h.until(() => retainedDevicesAre(d, P, ['one']), 15000,
    () => `two cleared by the new client (seen: ${lastDevices.join(', ')})\n${d.log.join('\n')}`);
  assert.equal(clearedLines(d, `${P}/device/two`).length, 1, d.log.join('\n'));
  d.child.kill('SIGTERM');
  assert.equal(await d.exited, 0);
});
