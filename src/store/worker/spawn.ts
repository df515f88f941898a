/**
 * Start a worker thread on a module of this package, from the compiled `.js` beside the
 * caller or, when running from TypeScript sources (tests under tsx), from its `.ts`.
 */
import fs from "node:fs";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";

/** `entry` is the module's URL without extension, e.g. new URL("./store-thread", import.meta.url). */
export function spawnModuleWorker(entry: URL): Worker {
  const js = new URL(`${entry.href}.js`);
  if (fs.existsSync(fileURLToPath(js))) return new Worker(js);
  // tsx's loader must be registered inside the worker before the entry loads (a worker's
  // --import hooks are not applied to its entry file).
  const ts = `${entry.href}.ts`;
  const api = import.meta.resolve("tsx/esm/api");
  return new Worker(
    `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); })`,
    { eval: true },
  );
}
