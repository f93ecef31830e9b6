// The minimal proxy-wasm host that bench/proxy-host.mjs and bench/cold-ab.mjs run modules in:
// enough of the ABI for context create, request headers and delete, with the plugin configured.
// Host calls cost far less here than in Envoy: compare modules with each other, not with Envoy.
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

/// The plugin configuration for a command-line argument: the text itself, `@FILE` (read from
/// FILE), or `jwks:FILE` (this filter's bench configuration around FILE as a local key set; the
/// key set and tokens of a `make bench` run are in bench/tmp/<stamp>/).
export function configuration(arg) {
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

/// Loads and configures the module at `path` in a fresh instance. `header(name)` answers request
/// header reads (bytes, or undefined when absent); `count(call)`, if given, sees every header,
/// reply and callout call (`get:<name>`, `remove:<name>`, `time`, ...); `log`, if true, prints
/// the module's log lines. Returns `request()`, which runs one request through context create,
/// request headers and delete and returns the action (0: continue).
export async function load(path, config, { header, count = () => {}, log = false }) {
  const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
  const module = await WebAssembly.compile(readFileSync(path));
  let inst, u8, dv;
  const view = () => {
    if (!u8 || u8.buffer !== inst.exports.memory.buffer) {
      u8 = new Uint8Array(inst.exports.memory.buffer);
      dv = new DataView(inst.exports.memory.buffer);
    }
  };
  const text = (p, n) => { view(); return Buffer.from(u8.subarray(p, p + n)).toString(); };
  const give = (bytes, ptrPtr, sizePtr) => {
    const p = inst.exports.proxy_on_memory_allocate(bytes.length);
    view();
    u8.set(bytes, p);
    dv.setUint32(ptrPtr, p, true);
    dv.setUint32(sizePtr, bytes.length, true);
    return 0;
  };
  let metrics = 0;
  const host = {
    proxy_log: (level, p, n) => { if (log) console.error(`log ${level}: ${text(p, n)}`); return 0; },
    proxy_get_current_time_nanoseconds: (p) => {
      count('time');
      view();
      dv.setBigUint64(p, BigInt(Date.now()) * 1000000n, true);
      return 0;
    },
    proxy_set_tick_period_milliseconds: () => 0,
    proxy_define_metric: (type, p, n, idPtr) => { view(); dv.setUint32(idPtr, ++metrics, true); return 0; },
    proxy_increment_metric: () => 0,
    proxy_record_metric: () => 0,
    proxy_get_buffer_bytes: (type, start, max, ptrPtr, sizePtr) => (type === 7 ? give(config, ptrPtr, sizePtr) : 1),
    proxy_get_header_map_value: (type, p, n, ptrPtr, sizePtr) => {
      const name = text(p, n);
      count('get:' + name);
      const value = type === 0 ? header(name) : undefined;
      return value === undefined ? 1 : give(value, ptrPtr, sizePtr);
    },
    proxy_remove_header_map_value: (type, p, n) => { count('remove:' + text(p, n)); return 0; },
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
  return () => {
    x.proxy_on_context_create(id, 1);
    const action = x.proxy_on_request_headers(id, 4, 1);
    x.proxy_on_delete(id);
    id++;
    return action;
  };
}
