// A minimal proxy-wasm host in node's V8, to time (and, with --perf-basic-prof, profile) one
// module's whole per-request path without Envoy's noise: context create, request headers with an
// `Authorization: Bearer` token, delete, N times.
//
//   node --no-liftoff bench/proxy-host.mjs MODULE.wasm CONFIGURATION TOKEN_FILE [N]
//
// CONFIGURATION is the plugin configuration as text; `@FILE` reads it from FILE, and `jwks:FILE`
// builds the bench's configuration for this filter around FILE as a local key set (the key set
// and tokens of a `make bench` run are in bench/tmp/<stamp>/). For the empty filter, `{}` or
// `host-calls`. Host calls cost far less here than in Envoy: compare modules with each other.
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
const [wasmPath, configArg, tokenPath, nArg] = process.argv.slice(2);
const config = Buffer.from(configArg.startsWith('@') ? readFileSync(configArg.slice(1), 'utf8')
  : configArg.startsWith('jwks:') ? JSON.stringify({
    realm: 'bench',
    providers: [{
      name: 'mock', issuer: 'https://idp.example.test/', audiences: ['https://api.example.test'],
      local_jwks: { inline_string: readFileSync(configArg.slice(5), 'utf8') },
      algorithms: ['RS256', 'ES384'], clock_skew_seconds: 60,
    }],
  }) : configArg);
const token = readFileSync(tokenPath, 'utf8').trim();
const N = Number(nArg || 200000);
const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(wasmPath));
const imports = wasi.getImportObject();
let inst, mem;
const u8 = () => new Uint8Array(mem.buffer);
const dv = () => new DataView(mem.buffer);
const enc = new TextEncoder(), dec = new TextDecoder();
const str = (p, n) => dec.decode(u8().subarray(p, p + n));
function give(bytes, ptrPtr, sizePtr) {
  const p = inst.exports.proxy_on_memory_allocate(bytes.length);
  u8().set(bytes, p);
  dv().setUint32(ptrPtr, p, true);
  dv().setUint32(sizePtr, bytes.length, true);
  return 0;
}
let headers = new Map();
const calls = {};
const count = (name) => { calls[name] = (calls[name] || 0) + 1; };
const env = {
  proxy_log: (l, p, n) => { console.error(`log ${l}: ${str(p, n)}`); return 0; },
  proxy_get_current_time_nanoseconds: (p) => { count('time'); dv().setBigUint64(p, BigInt(Date.now()) * 1000000n, true); return 0; },
  proxy_set_tick_period_milliseconds: () => 0,
  proxy_define_metric: (t, p, n, idp) => { dv().setUint32(idp, 1 + (calls.metric = (calls.metric || 0) + 1), true); return 0; },
  proxy_increment_metric: () => 0,
  proxy_record_metric: () => 0,
  proxy_get_buffer_bytes: (t, start, max, pp, sp) => { if (t === 7) return give(config, pp, sp); return 1; },
  proxy_get_header_map_value: (t, kp, kn, pp, sp) => {
    count('get:' + str(kp, kn));
    const v = t === 0 ? headers.get(str(kp, kn)) : undefined;
    if (v === undefined) return 1;
    return give(v, pp, sp);
  },
  proxy_remove_header_map_value: (t, kp, kn) => { count('remove:' + str(kp, kn)); return 0; },
  proxy_replace_header_map_value: () => { count('replace'); return 0; },
  proxy_add_header_map_value: () => { count('add'); return 0; },
  proxy_send_local_response: () => { count('local_response'); return 0; },
  proxy_get_property: () => 1,
  proxy_get_shared_data: () => 1,
  proxy_set_shared_data: () => 0,
  proxy_set_effective_context: () => 0,
  proxy_continue_stream: () => 0,
  proxy_http_call: () => { count('http_call'); return 1; },
};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.kind !== 'function') continue;
  if (imp.module === 'env') {
    imports.env ??= {};
    imports.env[imp.name] = env[imp.name] ?? ((...a) => { throw new Error(`host call ${imp.name}`); });
  }
}
inst = await WebAssembly.instantiate(module, imports);
mem = inst.exports.memory;
wasi.initialize({ exports: { memory: mem, _initialize: inst.exports._initialize } });
const x = inst.exports;
x.proxy_on_context_create(1, 0);
x.proxy_on_vm_start(1, 0);
if (!x.proxy_on_configure(1, config.length)) throw new Error('configure refused');
headers = new Map([[':method', enc.encode('GET')], [':path', enc.encode('/')], [':authority', enc.encode('x')],
  ['authorization', enc.encode('Bearer ' + token)]]);
let id = 2;
function one() {
  x.proxy_on_context_create(id, 1);
  const a = x.proxy_on_request_headers(id, 4, 1);
  x.proxy_on_delete(id);
  id++;
  return a;
}
if (one() !== 0) throw new Error('first request not continued: ' + JSON.stringify(calls));
for (const k in calls) delete calls[k];
for (let i = 0; i < 20000; i++) one();
const t = process.hrtime.bigint();
for (let i = 0; i < N; i++) one();
const ns = Number(process.hrtime.bigint() - t) / N;
console.log(JSON.stringify({ module: wasmPath, ns_per_request: Math.round(ns), calls_per_request: Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, v / (N + 20000)])) }));
