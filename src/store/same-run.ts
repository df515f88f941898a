/**
 * "Was this file made by this stage with these parameters?": the test every resumable stage
 * makes before continuing or skipping work, from the provenance attributes on the file's root.
 */
import fs from "node:fs";
import type { JsonValue } from "./h5file.js";
import { StoreReader } from "./reader.js";

/**
 * When `file` exists, opens and was written by `stage` with exactly `parameters`, returns
 * `inspect(reader)` (e.g. its state, or how far it got); otherwise, or when reading fails,
 * undefined.
 */
export async function inspectSameRun<T>(
  file: string,
  stage: string,
  parameters: JsonValue,
  inspect: (r: StoreReader) => T,
): Promise<T | undefined> {
  if (!fs.existsSync(file)) return undefined;
  let r: StoreReader | undefined;
  try {
    r = await StoreReader.open(file, { waitMs: 0 });
    const root = r.attrs("/");
    if (
      root.stagelab_stage !== stage ||
      JSON.stringify(root.stagelab_parameters) !== JSON.stringify(parameters)
    )
      return undefined;
    return inspect(r);
  } catch {
    return undefined;
  } finally {
    r?.close();
  }
}
