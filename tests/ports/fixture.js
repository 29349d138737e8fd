// fixture.js - a fake "/" for senko's port listing (SENKO_PORTS_ROOT):
// sysfs attributes of USB serial adapters and the links between them, as
// Linux lays them out (/sys/class/tty/TTY/device -> the USB interface,
// whose parent holds idVendor, serial, ...).
'use strict';

const fs = require('fs');
const path = require('path');

function sysfsFixture(root) {
  function put(p, text) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), text + '\n');
  }
  function link(p, target) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.symlinkSync(target, path.join(root, p));
  }
  // A USB device at sys/... with attrs, whose interface :1.0 has tty.
  function usbDevice(dir, attrs, tty) {
    for (const [k, v] of Object.entries(attrs)) put(`${dir}/${k}`, v);
    fs.mkdirSync(path.join(root, dir, `${path.basename(dir)}:1.0`, tty), { recursive: true });
    link(`sys/class/tty/${tty}/device`, `../../../${dir.slice(4)}/${path.basename(dir)}:1.0`);
  }
  return { put, link, usbDevice };
}

// /dev/serial/by-id under root: byId(name, board) makes (or moves) the
// link name to an emulated board's port.
function byIdLinks(root) {
  const dir = path.join(root, 'dev/serial/by-id');
  return function byId(name, board) {
    fs.mkdirSync(dir, { recursive: true });
    fs.rmSync(path.join(dir, name), { force: true });
    fs.symlinkSync(board.link, path.join(dir, name));
  };
}

// A board's main.py as its flash holds it, or null.
function mainPy(board) {
  try { return fs.readFileSync(path.join(board.flash, 'main.py'), 'utf8'); } catch (e) { return null; }
}

module.exports = { sysfsFixture, byIdLinks, mainPy };
