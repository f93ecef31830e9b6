// Runs a wasm32-wasip1 program under node's WASI with one preopened directory:
//   node --no-liftoff bench/wasi-run.mjs PROGRAM.wasm DIR [ARGS...]
// DIR is visible to the program as /fixture.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [wasmPath, dir, ...rest] = process.argv.slice(2);
const wasi = new WASI({
  version: 'preview1',
  args: ['verify-bench', '/fixture', ...rest],
  env: {},
  preopens: { '/fixture': dir },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasmPath));
// The filter crate's proxy-wasm layer is linked in too; its host imports are never called here.
const imports = wasi.getImportObject();
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.kind === 'function' && !(imp.module in imports && imp.name in imports[imp.module])) {
    imports[imp.module] ??= {};
    imports[imp.module][imp.name] = () => { throw new Error(`host call ${imp.module}.${imp.name}`); };
  }
}
const instance = await WebAssembly.instantiate(module, imports);
// The filter's proxy-wasm layer also exports `_initialize`, which WASI's start refuses beside
// `_start`: hand it only what a command needs.
const code = wasi.start({ exports: { memory: instance.exports.memory, _start: instance.exports._start } });
process.exitCode = code;
