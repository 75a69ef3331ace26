// Times the wasm token loops in this Node.js's V8: `node run.mjs <module.wasm> [millis]`.
// Prints one JSON line: {"engine", "sign_per_sec", "verify_per_sec"}.
import { readFile } from "node:fs/promises";

const [path, millisArg] = process.argv.slice(2);
const window = Number(millisArg ?? 1500);
const bytes = await readFile(path);
// The module needs no host functions; any import left by a dependency's glue is
// answered with a stub that fails loudly if it is ever called.
const stub = new Proxy({}, {
  get: (_, module) => new Proxy({}, {
    get: (_, name) => () => { throw new Error(`unexpected import ${String(module)}.${String(name)}`); },
  }),
});
const imports = {};
for (const i of WebAssembly.Module.imports(new WebAssembly.Module(bytes))) {
  imports[i.module] ??= {};
  imports[i.module][i.name] = stub[i.module][i.name];
}
const { instance } = await WebAssembly.instantiate(bytes, imports);
const { sign_n, verify_n } = instance.exports;

function rate(f) {
  if (f(200) === 0) throw new Error("the loop reported a failure");
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < window) {
    if (f(100) === 0) throw new Error("the loop reported a failure");
    n += 100;
  }
  return n / ((performance.now() - start) / 1000);
}

console.log(JSON.stringify({
  engine: `node ${process.version} (V8 ${process.versions.v8})`,
  sign_per_sec: Math.round(rate(sign_n)),
  verify_per_sec: Math.round(rate(verify_n)),
}));
