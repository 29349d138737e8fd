// What the board emulator itself costs per soft reset and per execution,
// with few and with many files on its flash (issue 10: "the same project
// with 2,000 files and one changed" must stay close to the 41-file figure;
// a real board's soft reset mounts littlefs, whose cost does not grow with
// the number of files, so the emulator's must not either).
//
// For 10 and 2,000 small files on an esp32-profile board with an unpaced
// line (--baud 0: the figures are the emulator's CPU time, not the wire's)
// and no flash chip time (--flash-prog-us 0 --flash-erase-us 0: the write
// row shows the write-back's cost, not the 45 ms erase of a new block),
// it times over the raw REPL:
//   - soft resets: an empty buffer and Ctrl-D, until the raw REPL's '>'
//   - empty executions: 'pass' Ctrl-D, until '>'
//   - executions that write one small file (the flash write-back after it)
// and prints the mean milliseconds of each.
//
//   node tests/bench/reset.bench.js          (RESET_BENCH_N=40 resets per row)
'use strict';

const { startBoard, Port } = require('../board/client');

const N = Number(process.env.RESET_BENCH_N || 40);
const SIZES = [10, 2000];

function files(count) {
  const out = {};
  for (let i = 0; i < count; i++) out[`lib/m${i}.py`] = `# module ${i}\nVALUE = ${i}\n`;
  return out;
}

async function timed(n, fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

async function measure(count) {
  const board = await startBoard(['--baud', '0', '--flash-prog-us', '0', '--flash-erase-us', '0'], { files: files(count) });
  const port = new Port(board.path);
  try {
    await port.enterRaw();
    const softReset = async () => {
      port.write('\x04');
      await port.readUntil('OK\r\n', 10000);
      await port.readUntil('MPY: soft reboot\r\n', 10000);
      await port.readUntil('raw REPL; CTRL-B to exit\r\n>', 10000);
    };
    const exec = async (code) => {
      const r = await port.exec(code);
      if (r.err) throw new Error(`'${code}' failed: ${r.err}`);
    };
    // Warm up (the wasm module is compiled once per worker).
    await softReset();
    await exec('pass');
    const reset = await timed(N, softReset);
    const empty = await timed(N, () => exec('pass'));
    const write = await timed(N, (i) => exec(`f=open('w.txt','w');f.write('${i}');f.close()`));
    const c = board.readCounters();
    if (c.soft_resets < N + 1) throw new Error(`board counted ${c.soft_resets} soft resets, expected ${N + 1}`);
    return { reset, empty, write };
  } finally {
    port.close();
    await board.stop();
  }
}

(async () => {
  const rows = [];
  for (const count of SIZES) rows.push([count, await measure(count)]);
  const ms = (v) => v.toFixed(1).padStart(8);
  process.stdout.write(`board emulator, esp32 profile, --baud 0, no flash chip time, mean of ${N}\n`);
  process.stdout.write('   files  soft reset  empty exec  exec+write   (ms)\n');
  for (const [count, r] of rows)
    process.stdout.write(`${String(count).padStart(8)}  ${ms(r.reset)}    ${ms(r.empty)}    ${ms(r.write)}\n`);
})().catch((e) => {
  process.stderr.write('reset.bench: ' + (e && e.stack || e) + '\n');
  process.exit(1);
});
