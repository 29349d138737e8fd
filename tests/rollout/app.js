// What the rollout suites share: an application that keeps printing its
// tag, and a way to see that it runs.
'use strict';

const { Port } = require('../board/client');

// A main.py that prints tag every 0.3 s, after extra (its first lines).
const app = (tag, extra = '') =>
  `${extra}import time\nwhile True:\n    print("${tag}")\n    time.sleep(0.3)\n`;

// Whether the board on link prints the line `line` at least twice within
// ms, read from its port as a user's terminal would.
async function prints(link, line, ms = 4000) {
  const p = new Port(link);
  try {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      if ((p.buf.toString('latin1').match(new RegExp(`^${line}\\r?$`, 'gm')) || []).length >= 2) return true;
    }
    return false;
  } finally {
    p.close();
  }
}

module.exports = { app, prints };
