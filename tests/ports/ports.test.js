// senko ports and port = usb:SERIAL (issue 16).  A fixture of sysfs
// attributes (SENKO_PORTS_ROOT stands for "/") describes two USB serial
// adapters, a phantom 8250 UART and a virtual terminal; its /dev nodes are
// links to emulated boards' ptys, so usb: resolution is tested end to end:
// the board with the matching serial gets the files, a device whose serial
// matches nothing is offline saying so, and the other board is never
// written.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('../lib/harness');

const T = h.tmpdir('ports');
const ROOT = path.join(T, 'root');
const SRC = path.join(T, 'app');
const CONF = path.join(T, 'senko.conf');
const ENV = { SENKO_PORTS_ROOT: ROOT };
let cp2102, other;

const { put, link, usbDevice } = require('./fixture').sysfsFixture(ROOT);

test.after(async () => {
  for (const b of [cp2102, other]) if (b) await b.stop();
});

test('senko ports lists the USB adapters of a sysfs fixture, not phantom UARTs', async () => {
  cp2102 = await h.startBoard({ dir: T, name: 'cp2102' });
  other = await h.startBoard({ dir: T, name: 'other' });
  usbDevice('sys/devices/pci0000:00/usb1/1-1',
    { idVendor: '10c4', idProduct: 'ea60', serial: '0001', manufacturer: 'Silicon Labs',
      product: 'CP2102 USB to UART Bridge Controller' }, 'ttyUSB0');
  usbDevice('sys/devices/pci0000:00/usb1/1-2',
    { idVendor: '2e8a', idProduct: '0005', serial: 'E66138528F3B2A2A', manufacturer: 'MicroPython',
      product: 'Board in FS mode' }, 'ttyACM0');
  fs.mkdirSync(path.join(ROOT, 'sys/devices/platform/serial8250/tty/ttyS0'), { recursive: true });
  link('sys/class/tty/ttyS0/device', '../../../devices/platform/serial8250');
  fs.mkdirSync(path.join(ROOT, 'sys/class/tty/tty0'), { recursive: true });
  link('dev/serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0', '../../ttyUSB0');
  link('dev/ttyUSB0', cp2102.link);
  link('dev/ttyACM0', other.link);

  const r = await h.senko(['-c', path.join(T, 'none.conf'), 'ports'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
  assert.deepEqual(rows[0], ['PORT', 'USB', 'SERIAL', 'MANUFACTURER', 'PRODUCT', 'BY-ID', 'DEVICE']);
  assert.deepEqual(rows.slice(1), [
    [`${ROOT}/dev/ttyACM0`, '2e8a:0005', 'E66138528F3B2A2A', 'MicroPython', 'Board in FS mode', '-', '-'],
    [`${ROOT}/dev/ttyUSB0`, '10c4:ea60', '0001', 'Silicon Labs', 'CP2102 USB to UART Bridge Controller',
      `${ROOT}/dev/serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0`, '-'],
  ]);
});

test('port = usb:SERIAL: the matching board is synced, an unknown serial is offline, no other board is written', async () => {
  fs.mkdirSync(SRC, { recursive: true });
  fs.writeFileSync(path.join(SRC, 'main.py'), 'print("by serial")\n');
  h.writeConfig(CONF, {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { app: { path: SRC } },
    devices: {
      bench: { port: 'usb:0001', baud: 1000000, source: 'app', reset: 'none' },
      ghost: { port: 'usb:NOPE', baud: 1000000, source: 'app', reset: 'none' },
      emu: { port: cp2102.link, baud: 1000000, source: 'app', reset: 'none' },
    },
  });
  const r = await h.senko(['-c', CONF, 'sync', 'bench', 'ghost'], { env: ENV });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(fs.readFileSync(path.join(cp2102.flash, 'main.py'), 'utf8'), 'print("by serial")\n');
  assert.deepEqual(fs.readdirSync(other.flash), [], 'the board behind ttyACM0 is never written');
  const st = await h.senko(['-c', CONF, 'status', '--json'], { env: ENV });
  const ghost = JSON.parse(st.stdout).devices.find((d) => d.name === 'ghost');
  assert.equal(ghost.state, 'offline');
  assert.match(ghost.last_error, /no board with USB serial NOPE/);

  // senko ports names the devices: the pty of 'emu' is the same board.
  const p = await h.senko(['-c', CONF, 'ports'], { env: ENV });
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, new RegExp(`^${ROOT}/dev/ttyUSB0\\t.*\\tbench,emu$`, 'm'));
  assert.match(p.stdout, /^usb:NOPE\t-\tNOPE\t.*\tghost: no board with USB serial NOPE/m);
});

test('config check rejects two devices with the same USB serial', async () => {
  const bad = path.join(T, 'dup.conf');
  h.writeConfig(bad, {
    senkod: { state_dir: path.join(T, 'state') },
    sources: { app: { path: SRC } },
    devices: { a: { port: 'usb:0001', source: 'app' }, b: { port: 'usb:0001', source: 'app' } },
  });
  const r = await h.senko(['-c', bad, 'config', 'check'], { env: ENV });
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /\[device b\] port: 'usb:0001' is also the port of device 'a'/);
});
