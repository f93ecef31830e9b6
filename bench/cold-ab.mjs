// Paired A/B of several proxy-wasm modules in node's V8 with cold caches: before each request the
// host walks a large buffer and runs many distinct JS functions, as Envoy's own request handling
// does between two requests' Wasm code. Warm, this filter's path above the host calls alone costs
// ~0.25 µs (bench/proxy-host.mjs); cold, 1-2.7 µs, the order of what Envoy shows (results/SUMMARY.md).
//
//   node --no-liftoff bench/cold-ab.mjs TOKEN_FILE ITERATIONS NAME=MODULE@CONFIGURATION ...
//
// CONFIGURATION as in proxy-host.mjs: text, `@FILE`, or `jwks:FILE` (this filter's bench
// configuration around a local key set). Each iteration times one request of every module (the
// order reversed on odd iterations, each request after its own pollution); the report gives each
// module's median and its differences from the first and second module, paired per iteration
// (median and quartiles). Environment: POLLUTE_KB (32768), POLLUTE_FUNCTIONS (400), REPS (3
// instances per module, taken in turn: one instance's memory layout alone moves it ~0.2 µs),
// PREFILL=TOKEN_FILE with PREFILL_N (3000): run those tokens through every instance first.
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

const [tokenPath, iterations, ...specs] = process.argv.slice(2);
const env = (name, fallback) => Number(process.env[name] ?? fallback);
const enc = new TextEncoder();
const lines = (path) => readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);

function configuration(arg) {
  if (arg.startsWith('@')) return Buffer.from(readFileSync(arg.slice(1), 'utf8'));
  if (!arg.startsWith('jwks:')) return Buffer.from(arg);
  return Buffer.from(JSON.stringify({
    realm: 'bench',
    providers: [{
      name: 'mock', issuer: 'https://idp.example.test/', audiences: ['https://api.example.test'],
      local_jwks: { inline_string: readFileSync(arg.slice(5), 'utf8') },
      algorithms: ['RS256', 'ES384'], clock_skew_seconds: 60,
    }],
  }));
}

// One instance of a module behind a minimal host; returns a function running one request.
async function instance(path, config, token) {
  const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
  const module = await WebAssembly.compile(readFileSync(path));
  let inst, u8, dv;
  const view = () => {
    if (!u8 || u8.buffer !== inst.exports.memory.buffer) {
      u8 = new Uint8Array(inst.exports.memory.buffer);
      dv = new DataView(inst.exports.memory.buffer);
    }
  };
  const give = (bytes, ptrPtr, sizePtr) => {
    const p = inst.exports.proxy_on_memory_allocate(bytes.length);
    view();
    u8.set(bytes, p);
    dv.setUint32(ptrPtr, p, true);
    dv.setUint32(sizePtr, bytes.length, true);
    return 0;
  };
  let authorization = enc.encode('Bearer ' + token);
  const path_ = enc.encode('/');
  const header = (p, n) => {
    view();
    const name = Buffer.from(u8.subarray(p, p + n)).toString();
    return name === 'authorization' ? authorization : name === ':path' ? path_ : undefined;
  };
  const host = {
    proxy_log: () => 0,
    proxy_get_current_time_nanoseconds: (p) => { view(); dv.setBigUint64(p, BigInt(Date.now()) * 1000000n, true); return 0; },
    proxy_set_tick_period_milliseconds: () => 0,
    proxy_define_metric: (t, p, n, idPtr) => { view(); dv.setUint32(idPtr, 1, true); return 0; },
    proxy_increment_metric: () => 0,
    proxy_record_metric: () => 0,
    proxy_get_buffer_bytes: (type, s, m, ptrPtr, sizePtr) => (type === 7 ? give(config, ptrPtr, sizePtr) : 1),
    proxy_get_header_map_value: (t, p, n, ptrPtr, sizePtr) => {
      const value = t === 0 ? header(p, n) : undefined;
      return value === undefined ? 1 : give(value, ptrPtr, sizePtr);
    },
    proxy_remove_header_map_value: () => 0,
    proxy_replace_header_map_value: () => 0,
    proxy_add_header_map_value: () => 0,
    proxy_send_local_response: () => 0,
    proxy_get_property: () => 1,
    proxy_get_shared_data: () => 1,
    proxy_set_shared_data: () => 0,
    proxy_set_effective_context: () => 0,
    proxy_continue_stream: () => 0,
    proxy_http_call: () => 1,
  };
  const imports = wasi.getImportObject();
  imports.env = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind === 'function' && imp.module === 'env') {
      imports.env[imp.name] = host[imp.name] ?? (() => { throw new Error(`host call ${imp.name}`); });
    }
  }
  inst = await WebAssembly.instantiate(module, imports);
  wasi.initialize({ exports: { memory: inst.exports.memory, _initialize: inst.exports._initialize } });
  const x = inst.exports;
  x.proxy_on_context_create(1, 0);
  x.proxy_on_vm_start(1, 0);
  if (!x.proxy_on_configure(1, config.length)) throw new Error(`${path}: configuration refused`);
  let id = 2;
  const request = () => {
    x.proxy_on_context_create(id, 1);
    const action = x.proxy_on_request_headers(id, 4, 1);
    x.proxy_on_delete(id);
    id++;
    return action;
  };
  if (process.env.PREFILL) {
    const kept = authorization;
    for (const other of lines(process.env.PREFILL).slice(0, env('PREFILL_N', 3000))) {
      authorization = enc.encode('Bearer ' + other);
      request();
    }
    authorization = kept;
  }
  for (let i = 0; i < 8; i++) if (request() !== 0) throw new Error(`${path}: request not continued`);
  return request;
}

const token = lines(tokenPath)[0];
const modules = [];
for (const spec of specs) {
  const [name, rest] = [spec.slice(0, spec.indexOf('=')), spec.slice(spec.indexOf('=') + 1)];
  const at = rest.indexOf('@');
  const config = configuration(rest.slice(at + 1));
  const reps = [];
  for (let r = 0; r < env('REPS', 3); r++) reps.push(await instance(rest.slice(0, at), config, token));
  let turn = 0;
  modules.push({ name, request: () => reps[turn++ % reps.length](), ns: [] });
}

// The pollution: a strided walk of a large buffer, then many distinct compiled functions.
const buffer = new Float64Array(env('POLLUTE_KB', 32768) * 128);
const functions = Array.from({ length: env('POLLUTE_FUNCTIONS', 400) }, (_, i) => new Function('a', 'b',
  Array.from({ length: 30 }, (_, j) => `a = (a * ${i + j + 3} + b ^ ${i * 7 + j}) | 0; b = (b + a * ${j + 1}) | 0;`)
    .join('\n') + '\nreturn a + b;'));
let sink = 0;
function pollute() {
  let s = 0;
  for (let i = 0; i < buffer.length; i += 8) s += buffer[i];
  for (const f of functions) s = f(s | 0, 3);
  sink += s;
}

for (let i = 0; i < 2000; i++) for (const m of modules) m.request();
const n = Number(iterations);
for (let i = 0; i < n; i++) {
  for (const m of i % 2 ? [...modules].reverse() : modules) {
    pollute();
    const t0 = process.hrtime.bigint();
    m.request();
    m.ns.push(Number(process.hrtime.bigint() - t0));
  }
}
const quantile = (sorted, q) => sorted[Math.floor((sorted.length - 1) * q)];
const paired = (a, b) => {
  const d = a.ns.map((v, i) => v - b.ns[i]).sort((x, y) => x - y);
  return `${quantile(d, 0.5)} [${quantile(d, 0.25)}, ${quantile(d, 0.75)}]`;
};
const [first, second = first] = modules;
for (const m of modules) {
  const sorted = [...m.ns].sort((x, y) => x - y);
  console.log(`${m.name.padEnd(12)} median ${quantile(sorted, 0.5)} ns   − ${first.name}: ${paired(m, first)}   − ${second.name}: ${paired(m, second)}`);
}
if (sink === 0.5) console.log('');
