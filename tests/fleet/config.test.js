// The [mqtt] section and metrics_file as senko.conf(5) says: defaults from
// the host name, every bad value refused with file, line and key (exit
// 78), and a password file others can read refused as the token file is.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('mqttconf');
const CONF = path.join(T, 'senko.conf');

function write(mqtt, senkod = {}) {
  h.writeConfig(CONF, {
    senkod: Object.assign({ state_dir: path.join(T, 'state') }, senkod),
    sources: { app: { user: 'acme', repo: 'fw' } },
    devices: { kitchen: { port: path.join(T, 'no-such-port'), source: 'app' } },
  });
  if (mqtt !== null) fs.appendFileSync(CONF, `\n[mqtt]\n${mqtt}\n`);
}
const check = () => h.senko(['-c', CONF, 'config', 'check']);

test('defaults: client_id senko-HOSTNAME, topic_prefix senko/HOSTNAME, qos 1, port from the scheme', async () => {
  write('url = mqtts://broker.lan');
  const r = await check();
  assert.equal(r.code, 0, r.stderr);
  const host = os.hostname();
  assert.match(r.stdout, new RegExp(`^client_id += senko-${host}$`, 'm'));
  assert.match(r.stdout, new RegExp(`^topic_prefix += senko/${host}$`, 'm'));
  assert.match(r.stdout, /^qos += 1$/m);
  assert.match(r.stdout, /^url += mqtts:\/\/broker\.lan$/m);
});

test('no [mqtt] section: nothing about MQTT in the effective configuration', async () => {
  write(null, { metrics_file: path.join(T, 'senko.prom') });
  const r = await check();
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /\[mqtt\]/);
  assert.match(r.stdout, /^metrics_file = .*senko\.prom$/m);
});

test('bad values are refused naming file, line and key; exit 78', async () => {
  const cases = [
    ['url = http://broker.lan', /:15: \[mqtt\] url: 'http:\/\/broker\.lan': expected mqtt:\/\//],
    ['url = mqtt://broker.lan:99999', /:15: \[mqtt\] url: .*port must be a number/],
    ['url = mqtt://broker.lan/topic', /:15: \[mqtt\] url: .*has no path/],
    ['url = mqtt://', /:15: \[mqtt\] url: .*names no host/],
    ['username = x', /:14: \[mqtt\] url: missing/],
    ['url = mqtt://b\nqos = 3', /:16: \[mqtt\] qos: '3' is not valid: expected 0, 1 or 2/],
    ['url = mqtt://b\ntopic_prefix = senko/#', /:16: \[mqtt\] topic_prefix: 'senko\/#' is not a topic prefix/],
    ['url = mqtt://b\ntopic_prefix = /senko', /:16: \[mqtt\] topic_prefix: .*not a topic prefix/],
    ['url = mqtt://b\nclient_id =', /:16: \[mqtt\] client_id: '' is not valid/],
    ['url = mqtt://b\nport = 1883', /:16: \[mqtt\] port: unknown key \(known here: url, username/],
    ['url = mqtt://b\n[mqtt]\nurl = mqtt://c', /:16: section \[mqtt\] is given twice \(first on line 14\)/],
  ];
  for (const [text, re] of cases) {
    write(text);
    const r = await check();
    assert.equal(r.code, 78, `${text}: ${r.stderr}`);
    assert.match(r.stderr, re, text);
  }
});

test('a password file every user can read is refused; senkod says so and syncs on without MQTT', async () => {
  const pw = path.join(T, 'pw');
  fs.writeFileSync(pw, 'secret\n');
  fs.chmodSync(pw, 0o644);
  write(`url = mqtt://127.0.0.1:1\npassword_file = ${pw}`);
  const r = await h.senkod(['-c', CONF, '--once'], { env: { SENKO_HTTP_TIMEOUT: '2' } });
  // --once does not use MQTT: the password is not even read.
  assert.doesNotMatch(r.stderr, /password_file/);
  const { spawn } = require('child_process');
  const d = h.track(spawn(h.SENKOD, ['-c', CONF, '--foreground'], { stdio: ['ignore', 'ignore', 'pipe'],
    env: Object.assign({}, process.env, { SENKO_HTTP_TIMEOUT: '2' }) }));
  let log = '';
  d.stderr.on('data', (x) => { log += x; });
  const exited = new Promise((res) => d.on('exit', res));
  try {
    await h.until(() => /not publishing/.test(log), 10000, `the refusal\n${log}`);
    assert.match(log, /\[mqtt\] password_file '.*pw' is readable by every user; run: chmod 600/);
    assert.doesNotMatch(log, /secret/);
    // The daemon runs on: its first cycle ends (the board is missing).
    await h.until(() => /kitchen/.test(log), 10000, `the first cycle\n${log}`);
    assert.equal(d.exitCode, null);
  } finally {
    d.kill('SIGTERM');
    await exited;
  }
});
