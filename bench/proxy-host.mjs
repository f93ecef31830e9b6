// Times (and, with --perf-basic-prof, profiles) one module's whole per-request path in node's V8
// without Envoy's noise: context create, request headers with an `Authorization: Bearer` token,
// delete, N times, in the minimal host of proxy-wasm-host.mjs.
//
//   node --no-liftoff bench/proxy-host.mjs MODULE.wasm CONFIGURATION TOKEN_FILE [N]
//
// CONFIGURATION as proxy-wasm-host.mjs's `configuration` takes it: text, `@FILE`, or `jwks:FILE`.
// For the empty filter, `{}` or `host-calls`. The report gives ns per request and the host calls
// each request made.
import { readFileSync } from 'node:fs';
import { configuration, load } from './proxy-wasm-host.mjs';

const [wasmPath, configArg, tokenPath, nArg] = process.argv.slice(2);
const token = readFileSync(tokenPath, 'utf8').trim();
const N = Number(nArg || 200000);
const enc = new TextEncoder();
const headers = new Map([[':method', enc.encode('GET')], [':path', enc.encode('/')], [':authority', enc.encode('x')],
  ['authorization', enc.encode('Bearer ' + token)]]);
const calls = {};
const one = await load(wasmPath, configuration(configArg), {
  header: (name) => headers.get(name),
  count: (call) => { calls[call] = (calls[call] || 0) + 1; },
  log: true,
});
if (one() !== 0) throw new Error('first request not continued: ' + JSON.stringify(calls));
for (const k in calls) delete calls[k];
for (let i = 0; i < 20000; i++) one();
const t = process.hrtime.bigint();
for (let i = 0; i < N; i++) one();
const ns = Number(process.hrtime.bigint() - t) / N;
console.log(JSON.stringify({ module: wasmPath, ns_per_request: Math.round(ns), calls_per_request: Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, v / (N + 20000)])) }));
