// `npm test`: set everything up, then run every tests/**/*.test.ts with Node's test runner.
//
//   npm test                         all tests
//   npm test -- tests/store          only files whose path starts with tests/store
//   npm test -- --test-name-pattern=open tests/store/open.test.ts
//
// Arguments starting with "-" go to node (use the --flag=value form); the others are path
// prefixes. Ends with one plain line "N passed, N failed[, N skipped]".

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ROOT,
  SYSTEM_PYTHON,
  TEST_APT,
  ensureApt,
  ensureBuild,
  ensureNodeModules,
  ensureVenv,
  filterByPrefix,
  findFiles,
} from "./setup.mjs";

function readTapCounts(path) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return null;
  }
  const count = (name) => {
    // The run's totals are the last top-level "# name N" lines.
    const matches = [...text.matchAll(new RegExp(`^# ${name} (\\d+)$`, "gm"))];
    const last = matches.at(-1);
    return last ? Number(last[1]) : null;
  };
  const pass = count("pass");
  const fail = count("fail");
  if (pass === null || fail === null) return null;
  return {
    pass,
    fail: fail + (count("cancelled") ?? 0),
    skipped: (count("skipped") ?? 0) + (count("todo") ?? 0),
  };
}

async function main() {
  const argv = process.argv.slice(2);
  const nodeFlags = argv.filter((a) => a.startsWith("-"));
  const prefixes = argv.filter((a) => !a.startsWith("-"));

  await ensureNodeModules();
  await ensureApt(TEST_APT);
  const { python } = await ensureVenv();
  await ensureBuild();

  const files = filterByPrefix(findFiles("tests", ".test.ts"), prefixes);
  if (files.length === 0) {
    console.error(`[stagelab] no tests/**/*.test.ts files match ${prefixes.join(" ") || "(all)"}`);
    console.log("0 passed, 0 failed");
    process.exit(1);
  }
  console.log(`[stagelab] running ${files.length} test file(s)`);

  const tmp = mkdtempSync(join(tmpdir(), "stagelab-test-"));
  const tap = join(tmp, "report.tap");
  const args = [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=2",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=tap",
    `--test-reporter-destination=${tap}`,
    ...nodeFlags,
    ...files,
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: "inherit",
    env: {
      ...process.env,
      STAGELAB_SYSTEM_PYTHON: SYSTEM_PYTHON,
      STAGELAB_VENV_PYTHON: python,
    },
  });
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => child.kill(signal));
  }
  const code = await new Promise((done) => {
    child.on("error", (err) => {
      console.error(`[stagelab] could not start node: ${err.message}`);
      done(1);
    });
    child.on("exit", (c, s) => done(c ?? (s ? 1 : 0)));
  });

  const counts = readTapCounts(tap);
  rmSync(tmp, { recursive: true, force: true });
  if (!counts) {
    console.error("[stagelab] the test runner wrote no summary");
    process.exit(code || 1);
  }
  const { pass, fail, skipped } = counts;
  console.log(`${pass} passed, ${fail} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
  if (pass + fail === 0) {
    console.error("[stagelab] no test ran");
    process.exit(code || 1);
  }
  process.exit(fail > 0 ? code || 1 : code);
}

main().catch((err) => {
  console.error(`[stagelab] ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
