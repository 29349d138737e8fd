// senko ports --probe (issue 16): each port's board says its platform,
// MicroPython version and machine.unique_id(); its application runs again
// afterwards; a board found by its unique id is named by the uid: device
// that wants it.  A fixture of sysfs attributes (SENKO_PORTS_ROOT) lists
// two USB ports whose /dev nodes lead to emulated boards.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('probe');
const ROOT = path.join(T, 'root');
const ENV = { SENKO_PORTS_ROOT: ROOT };
const TICKER = h.TICKER;
let ticker, quiet;

const { put, link, usbDevice } = require('./fixture').sysfsFixture(ROOT);

// Lines "tick N" the application prints within ms, read as a terminal would.
async function ticks(board, ms = 4000) {
  return h.appTicks(board.link, ms);
}

test.after(async () => {
  for (const b of [ticker, quiet]) if (b) await b.stop();
});

test('--probe reports platform, version and unique id of each board, and restarts its application', async () => {
  fs.mkdirSync(path.join(T, 'ticker.flash'), { recursive: true });
  fs.writeFileSync(path.join(T, 'ticker.flash', 'main.py'), TICKER);
  ticker = await h.startBoard({ dir: T, name: 'ticker', args: ['--unique-id', '0a0b0c0d0e0f'] });
  quiet = await h.startBoard({ dir: T, name: 'quiet', args: ['--profile', 'esp8266', '--unique-id', 'c0ffee42'] });
  usbDevice('sys/devices/pci0000:00/usb1/1-1',
    { idVendor: '10c4', idProduct: 'ea60', serial: '0001', manufacturer: 'Silicon Labs', product: 'CP2102' },
    'ttyUSB0');
  usbDevice('sys/devices/pci0000:00/usb1/1-2',
    { idVendor: '1a86', idProduct: '7523', manufacturer: 'QinHeng', product: 'CH340' }, 'ttyUSB1');
  link('dev/serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0', '../../ttyUSB0');
  link('dev/ttyUSB0', ticker.link);
  link('dev/ttyUSB1', quiet.link);

  const before = ticker.counters();
  const r = await h.senko(['-c', path.join(T, 'none.conf'), 'ports', '--probe'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
  assert.deepEqual(rows[0], ['PORT', 'USB', 'SERIAL', 'MANUFACTURER', 'PRODUCT', 'BY-ID', 'DEVICE',
    'PLATFORM', 'VERSION', 'UNIQUE-ID']);
  assert.equal(rows.length, 3, r.stdout);
  const [usb0, usb1] = rows.slice(1);
  assert.deepEqual([usb0[0], usb0[7], usb0[9]], [`${ROOT}/dev/ttyUSB0`, 'esp32', '0a0b0c0d0e0f']);
  assert.deepEqual([usb1[0], usb1[7], usb1[9]], [`${ROOT}/dev/ttyUSB1`, 'esp8266', 'c0ffee42']);
  for (const row of [usb0, usb1]) assert.match(row[8], /^1\.\d+\.\d+$/, 'a MicroPython version');

  // The probe stopped the application; it was started again.
  assert.ok(await ticks(ticker) >= 3, 'the application does not print after the probe');
  assert.ok(ticker.counters().soft_resets > before.soft_resets, 'no soft reset restarted main.py');
  assert.equal(ticker.counters().files_written, before.files_written, 'the probe wrote to the board');
});

test('--probe names the uid: device of a board and remembers where it is; without --probe nothing is opened', async () => {
  const conf = h.writeConfig(path.join(T, 'senko.conf'), {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { app: { path: T } },
    devices: {
      kitchen: { port: 'uid:C0FFEE42', source: 'app', baud: 1000000 },
      ghost: { port: 'uid:00000000dead', source: 'app' },
    },
  });
  const before = quiet.counters();
  let r = await h.senko(['-c', conf, 'ports'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^uid:c0ffee42\t.*\tkitchen: not found yet/m);
  assert.equal(quiet.counters().raw_repl_entries, before.raw_repl_entries, 'senko ports without --probe opened a port');

  r = await h.senko(['-c', conf, 'ports', '--probe'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${ROOT}/dev/ttyUSB1\\t.*\\tkitchen\\tesp8266\\t[0-9.]+\\tc0ffee42$`, 'm'));
  assert.match(r.stdout, /^uid:00000000dead\t.*\tghost: no board with unique id 00000000dead\tno answer/m);
  assert.equal(fs.readFileSync(path.join(T, 'state/devices/kitchen/node'), 'utf8').split('\n')[0],
    `${ROOT}/dev/ttyUSB1`);

  // Remembered: the plain listing names it on its port, opening nothing.
  const mid = quiet.counters();
  r = await h.senko(['-c', conf, 'ports'], { env: ENV });
  assert.match(r.stdout, new RegExp(`^${ROOT}/dev/ttyUSB1\\t.*\\tkitchen$`, 'm'));
  assert.equal(quiet.counters().raw_repl_entries, mid.raw_repl_entries);
});
