// ctl.js - talk to the fake GitHub's control API from shell tests.
//   node ctl.js log ORIGIN          one line per logged request: STATUS PATH COUNTED
//   node ctl.js clear ORIGIN        empty the request log
//   node ctl.js fault ORIGIN JSON   add a fault
//   node ctl.js nofaults ORIGIN     clear all faults
//   node ctl.js ratelimit ORIGIN JSON
'use strict';
const [cmd, origin, body] = process.argv.slice(2);
async function call(method, path, data) {
  const r = await fetch(origin + path, {
    method, body: data, headers: data ? { 'content-type': 'application/json' } : {},
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text;
}
(async () => {
  switch (cmd) {
    case 'log':
      for (const e of JSON.parse(await call('GET', '/_control/log'))) {
        console.log(`${e.status} ${e.path} ${e.counted ? 'counted' : 'free'}`);
      }
      break;
    case 'clear': await call('POST', '/_control/log/clear'); break;
    case 'fault': await call('POST', '/_control/faults', body); break;
    case 'nofaults': await call('DELETE', '/_control/faults'); break;
    case 'ratelimit': await call('POST', '/_control/ratelimit', body); break;
    default: throw new Error(`unknown command ${cmd}`);
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
