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

module.exports = { sysfsFixture };
