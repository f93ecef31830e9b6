// Paired A/B of several proxy-wasm modules in node's V8 with cold caches: before each request the
// host walks a large buffer and runs many distinct JS functions, as Envoy's own request handling
// does between two requests' Wasm code. Warm, this filter's path above the host calls alone costs
// ~0.25 µs (bench/proxy-host.mjs); cold, 1-2.7 µs, the order of what Envoy shows (results/SUMMARY.md).
//
//   node --no-liftoff bench/cold-ab.mjs TOKEN_FILE ITERATIONS NAME=MODULE@CONFIGURATION ...
//
// CONFIGURATION as proxy-wasm-host.mjs's `configuration` takes it: text, `@FILE`, or `jwks:FILE`
// (this filter's bench configuration around a local key set). Each iteration times one request of
// every module (the order reversed on odd iterations, each request after its own pollution); the
// report gives each module's median and its differences from the first and second module, paired per iteration
// (median and quartiles). Environment: POLLUTE_KB (32768), POLLUTE_FUNCTIONS (400), REPS (3
// instances per module, taken in turn: one instance's memory layout alone moves it ~0.2 µs),
// PREFILL=TOKEN_FILE with PREFILL_N (3000): run those tokens through every instance first.
import { readFileSync } from 'node:fs';
import { configuration, load } from './proxy-wasm-host.mjs';

const [tokenPath, iterations, ...specs] = process.argv.slice(2);
const env = (name, fallback) => Number(process.env[name] ?? fallback);
const enc = new TextEncoder();
const lines = (path) => readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const slash = enc.encode('/');

// One instance of a module; returns a function running one request with `token`.
async function instance(path, config, token) {
  let authorization = enc.encode('Bearer ' + token);
  const header = (name) => (name === 'authorization' ? authorization : name === ':path' ? slash : undefined);
  const request = await load(path, config, { header });
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
