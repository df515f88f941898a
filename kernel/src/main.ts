#!/usr/bin/env node
/**
 * Kernel entry point: `stagelab-kernel --connection-file FILE` (what the kernelspec runs),
 * or `stagelab-kernel install [--user | --sys-prefix | --prefix DIR]`.
 */
import { readConnectionFile } from "./wire/channels.js";
import { KernelSession } from "./session.js";
import { installKernelspec } from "./install.js";

async function main(argv: string[]): Promise<void> {
  if (argv[0] === "install") {
    const dest = installKernelspec(argv.slice(1));
    console.log(`installed kernelspec "stagelab" (TypeScript (stagelab)) in ${dest}`);
    return;
  }
  const i = argv.indexOf("--connection-file");
  const file = i >= 0 ? argv[i + 1] : argv.find((a) => a.endsWith(".json"));
  if (!file) {
    console.error(
      "usage: stagelab-kernel --connection-file FILE | stagelab-kernel install [--user|--sys-prefix|--prefix DIR]",
    );
    process.exit(2);
  }
  const session = new KernelSession(readConnectionFile(file), {
    cwd: process.cwd(),
    kernelImport: (spec) => import(spec),
  });
  await session.start();
}

process.on("unhandledRejection", (reason) => {
  // A cell's stray rejected promise must not kill the kernel; report it where the user looks.
  console.error("Unhandled promise rejection:", reason);
});
process.on("uncaughtException", (err) => {
  console.error("Uncaught exception:", err);
});

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
