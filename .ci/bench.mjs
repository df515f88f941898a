// `npm run bench`: set up, then run every tests/bench/*.bench.ts one after another.
//
//   npm run bench                               all benchmarks
//   npm run bench -- tests/bench/store          only files whose path starts with this
//   npm run bench -- --quick                    other arguments go to every benchmark

import { spawnSync } from "node:child_process";
import { ROOT, SYSTEM_PYTHON, TEST_APT, filterByPrefix, findFiles, prepare } from "./setup.mjs";

async function main() {
  const argv = process.argv.slice(2);
  const prefixes = argv
    .map((a) => a.replace(/^\.\//, ""))
    .filter((a) => a.startsWith("tests/bench/"));
  const passThrough = argv.filter((a) => !a.replace(/^\.\//, "").startsWith("tests/bench/"));

  // The kernel benchmark starts ipykernel and the stagelab kernel from the venv.
  await prepare(TEST_APT);

  const all = findFiles("tests/bench", ".bench.ts").filter((f) => !f.slice(12).includes("/"));
  const files = filterByPrefix(all, prefixes);
  if (files.length === 0) {
    console.log(
      all.length === 0
        ? "[stagelab] no benchmarks yet (tests/bench/*.bench.ts)"
        : `[stagelab] no benchmark matches ${prefixes.join(" ")}`,
    );
    process.exit(all.length === 0 ? 0 : 1);
  }

  let failed = 0;
  for (const file of files) {
    console.log(`[stagelab] bench: ${file}`);
    const r = spawnSync(process.execPath, ["--import", "tsx", file, ...passThrough], {
      cwd: ROOT,
      stdio: "inherit",
      env: { ...process.env, STAGELAB_SYSTEM_PYTHON: SYSTEM_PYTHON },
    });
    if (r.status !== 0) {
      failed++;
      console.error(`[stagelab] bench ${file} failed (exit ${r.status ?? r.signal})`);
    }
  }
  console.log(`[stagelab] ${files.length - failed} of ${files.length} benchmark(s) ran`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(`[stagelab] ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
