// broker.js - a real Mosquitto broker for the fleet tests, on a free
// loopback port, optionally with TLS (a CA and server certificate made
// here with openssl) and a password file (mosquitto_passwd); and clients
// made of mosquitto_sub / mosquitto_pub.
'use strict';

const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const h = require('../lib/harness');

async function freePort() {
  const srv = net.createServer();
  await new Promise((res) => srv.listen(0, '127.0.0.1', res));
  const { port } = srv.address();
  await new Promise((res) => srv.close(res));
  return port;
}

// A CA and a certificate for localhost / 127.0.0.1 signed by it.
function makeCerts(dir) {
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2',
    '-subj', '/CN=senko test CA');
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
    '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext');
  return { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
}

// Start mosquitto in dir on port (a free one when not given).  opts.tls:
// {ca, cert, key}; opts.users: {name: password}.  Resolves with
// {port, child, log (lines), stop(), kill()}.
async function startBroker(dir, { port, tls, users } = {}) {
  port = port || await freePort();
  fs.mkdirSync(dir, { recursive: true });
  const conf = [
    `listener ${port} 127.0.0.1`,
    'persistence false',
    'log_dest stderr',
    'log_type all',
    `user ${os.userInfo().username}`,
  ];
  if (tls) conf.push(`cafile ${tls.ca}`, `certfile ${tls.cert}`, `keyfile ${tls.key}`);
  if (users) {
    const pw = path.join(dir, 'passwd');
    fs.writeFileSync(pw, '');
    for (const [u, p] of Object.entries(users))
      execFileSync('mosquitto_passwd', ['-b', pw, u, p], { stdio: 'pipe' });
    fs.chmodSync(pw, 0o600);
    conf.push(`password_file ${pw}`, 'allow_anonymous false');
  } else conf.push('allow_anonymous true');
  const file = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(file, conf.join('\n') + '\n');
  const child = h.track(spawn('mosquitto', ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const log = [];
  let rest = '';
  const onData = (d) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop();
    log.push(...parts);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((res) => child.on('exit', res));
  await h.until(() => log.some((l) => / running$/.test(l)) || child.exitCode !== null, 10000,
    'mosquitto running');
  if (child.exitCode !== null) throw new Error(`mosquitto exited:\n${log.join('\n')}`);
  return {
    port, child, log, exited,
    async stop() { if (child.exitCode === null) child.kill('SIGTERM'); await exited; },
    async kill() { if (child.exitCode === null) child.kill('SIGKILL'); await exited; },
  };
}

// Arguments that reach broker b as client opts {tls: {ca}, user, password}.
function clientArgs(b, opts = {}) {
  const a = ['-h', opts.tls ? 'localhost' : '127.0.0.1', '-p', String(b.port)];
  if (opts.tls) a.push('--cafile', opts.tls.ca);
  if (opts.user) a.push('-u', opts.user, '-P', opts.password);
  return a;
}

// The retained messages under filter now: {topic: payload}.
async function retained(b, filter, opts) {
  const r = await h.run('mosquitto_sub', [...clientArgs(b, opts), '-t', filter,
    '--retained-only', '-W', '1', '-F', '%t %p'], { timeout: 10000 });
  const out = {};
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const i = line.indexOf(' ');
    out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

// A live subscriber: msgs is [{retained, topic, payload}] as they come.
let SUB_SEQ = 0;
const SUBS = new Set();
// Stop every subscriber still running (a test that failed midway).
function stopSubscribers() {
  for (const c of SUBS) c.kill('SIGKILL');
  SUBS.clear();
}

async function subscribe(b, filter, opts) {
  const id = `test-sub-${process.pid}-${++SUB_SEQ}`;
  const child = h.track(spawn('mosquitto_sub', [...clientArgs(b, opts), '-i', id, '-t', filter,
    '-q', '1', '-F', '%r %t %p'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  SUBS.add(child);
  child.on('exit', () => SUBS.delete(child));
  const msgs = [];
  let rest = '';
  child.stdout.on('data', (d) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop();
    for (const line of parts) {
      const m = /^(\d) (\S+) ?(.*)$/.exec(line);
      if (m) msgs.push({ retained: m[1] === '1', topic: m[2], payload: m[3] });
    }
  });
  // Subscribed when the broker says it sent the SUBACK.
  await h.until(() => b.log.some((l) => l.includes(`Sending SUBACK to ${id}`)), 10000,
    `subscription of ${id}`);
  return { child, msgs, stop() { child.kill('SIGTERM'); } };
}

// opts: as clientArgs', and retain: true for a retained message.
function publish(b, topic, payload, opts = {}) {
  return h.run('mosquitto_pub', [...clientArgs(b, opts), '-t', topic, '-q', '1', '-m', payload,
    ...(opts.retain ? ['-r'] : [])], { timeout: 10000 });
}

module.exports = { freePort, makeCerts, startBroker, retained, subscribe, stopSubscribers, publish };
