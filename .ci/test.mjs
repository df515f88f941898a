// `npm test`: set everything up, then run every tests/**/*.test.ts with Node's test runner,
// then the UI tests tests/ui/**/*.spec.ts with Playwright (galata, the real JupyterLab of .venv/
// in Debian's Chromium).
//
//   npm test                         all tests
//   npm test -- tests/store          only files whose path starts with tests/store
//   npm test -- tests/ui             only the UI tests
//   npm test -- --test-name-pattern=open tests/store/open.test.ts
//
// Arguments starting with "-" go to node (use the --flag=value form; --test-name-pattern also
// becomes Playwright's --grep); the others are path prefixes. Ends with one plain line
// "N passed, N failed[, N skipped]" that counts both kinds of tests.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, SYSTEM_PYTHON, TEST_APT, filterByPrefix, prepare, findFiles } from "./setup.mjs";

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

/** Counts from Playwright's JSON report (null when there is none). */
function readPlaywrightCounts(path) {
  let report;
  try {
    report = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return null;
  }
  const stats = report?.stats;
  if (!stats) return null;
  return {
    pass: (stats.expected ?? 0) + (stats.flaky ?? 0),
    fail: stats.unexpected ?? 0,
    skipped: stats.skipped ?? 0,
    flaky: stats.flaky ?? 0,
    errors: (report.errors ?? []).map((e) => String(e.message ?? e).split("\n")[0]),
  };
}

/** Resolve with the exit code of a child process (1 when killed or not started). */
function exitCode(child, what) {
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => child.kill(signal));
  }
  return new Promise((done) => {
    child.on("error", (err) => {
      console.error(`[stagelab] could not start ${what}: ${err.message}`);
      done(1);
    });
    child.on("exit", (c, s) => done(c ?? (s ? 1 : 0)));
  });
}

/** `port` when it is free on 127.0.0.1, otherwise some free port. */
function freePort(port) {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (err) => {
      if (port !== 0 && err.code === "EADDRINUSE") freePort(0).then(resolve, reject);
      else reject(err);
    });
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(address.port));
    });
  });
}

/**
 * The UI tests: `npx playwright test -c tests/ui/playwright.config.ts` (which starts JupyterLab
 * from .venv/ and drives /usr/bin/chromium). Returns {pass, fail, skipped, code}.
 */
async function runUiTests(specs, allSpecs, nodeFlags, tmp) {
  const started = Date.now();
  const json = join(tmp, "ui-report.json");
  const args = ["--no", "playwright", "test", "-c", "tests/ui/playwright.config.ts"];
  const grep = nodeFlags
    .filter((flag) => flag.startsWith("--test-name-pattern="))
    .map((flag) => flag.slice("--test-name-pattern=".length));
  // A name pattern meant for the node tests may match no UI test: that is not a failure.
  if (grep.length > 0) args.push(`--grep=${grep.join("|")}`, "--pass-with-no-tests");
  if (specs.length < allSpecs.length) args.push(...specs);
  const port = process.env.STAGELAB_UI_PORT ?? String(await freePort(8888));
  console.log(`[stagelab] running ${specs.length} UI test file(s) (JupyterLab on port ${port})`);
  const npx = process.platform === "win32" ? "npx.cmd" : "npx";
  const child = spawn(npx, args, {
    cwd: ROOT,
    stdio: "inherit",
    env: {
      ...process.env,
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: "1",
      STAGELAB_UI_JSON: json,
      STAGELAB_UI_PORT: port,
    },
  });
  const code = await exitCode(child, "playwright");
  const counts = readPlaywrightCounts(json) ?? {
    pass: 0,
    fail: 0,
    skipped: 0,
    flaky: 0,
    errors: [],
  };
  for (const error of counts.errors) console.error(`[stagelab] UI tests: ${error}`);
  if (code !== 0 && counts.fail === 0) {
    // The run broke outside any test (JupyterLab or the browser did not start, ...).
    console.error(
      `[stagelab] the UI test run failed (exit ${code}); see test-artifacts/ui/jupyter-server.log`,
    );
    counts.fail = 1;
  }
  if (counts.flaky > 0) console.error(`[stagelab] UI tests: ${counts.flaky} flaky`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `[stagelab] UI tests: ${counts.pass} passed, ${counts.fail} failed in ${seconds} s ` +
      "(screenshots in test-artifacts/ui/)",
  );
  return { ...counts, code };
}

async function main() {
  const argv = process.argv.slice(2);
  const nodeFlags = argv.filter((a) => a.startsWith("-"));
  const prefixes = argv.filter((a) => !a.startsWith("-"));

  const { python } = await prepare(TEST_APT);

  const files = filterByPrefix(findFiles("tests", ".test.ts"), prefixes);
  const allSpecs = findFiles("tests/ui", ".spec.ts");
  const specs = filterByPrefix(allSpecs, prefixes);
  if (files.length === 0 && specs.length === 0) {
    console.error(
      `[stagelab] no tests/**/*.test.ts or tests/ui/**/*.spec.ts files match ` +
        `${prefixes.join(" ") || "(all)"}`,
    );
    console.log("0 passed, 0 failed");
    process.exit(1);
  }

  const tmp = mkdtempSync(join(tmpdir(), "stagelab-test-"));
  let counts = { pass: 0, fail: 0, skipped: 0 };
  let code = 0;
  if (files.length > 0) {
    const node = await runNodeTests(files, nodeFlags, python, tmp);
    if (!node.counts) {
      rmSync(tmp, { recursive: true, force: true });
      console.error("[stagelab] the test runner wrote no summary");
      process.exit(node.code || 1);
    }
    counts = node.counts;
    code = node.code;
  }
  if (specs.length > 0) {
    const ui = await runUiTests(specs, allSpecs, nodeFlags, tmp);
    counts = {
      pass: counts.pass + ui.pass,
      fail: counts.fail + ui.fail,
      skipped: counts.skipped + ui.skipped,
    };
    code ||= ui.code;
  }
  rmSync(tmp, { recursive: true, force: true });

  const { pass, fail, skipped } = counts;
  console.log(`${pass} passed, ${fail} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
  if (pass + fail === 0) {
    console.error("[stagelab] no test ran");
    process.exit(code || 1);
  }
  process.exit(fail > 0 ? code || 1 : code);
}

/** Node's test runner on `files`; returns {counts (null without a summary), code}. */
async function runNodeTests(files, nodeFlags, python, tmp) {
  console.log(`[stagelab] running ${files.length} test file(s)`);
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
  const code = await exitCode(child, "node");
  return { counts: readTapCounts(tap), code };
}

main().catch((err) => {
  console.error(`[stagelab] ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
