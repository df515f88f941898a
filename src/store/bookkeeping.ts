/**
 * The store's own records inside each file, under `/_stagelab`:
 * - attribute `format` ("stagelab-store/1") and `state` ("writing" until a clean close,
 *   then "complete": a killed writer never leaves a file that looks complete);
 * - attribute `tracked`: the dataset paths whose committed length is recorded;
 * - dataset `commit` (int64): [sequence, committedLength(tracked[0]), ...]. The writer
 *   flushes data first and advances this marker second, so readers read up to it and
 *   never see rows whose bytes might not be on disk yet.
 */
import type { H5File } from "./h5file.js";
import { VERSION } from "../version.js";

export const BOOK_GROUP = "/_stagelab";
export const COMMIT_DATASET = `${BOOK_GROUP}/commit`;
export const FORMAT = "stagelab-store/1";

export type FileState = "writing" | "complete";

export interface CommitRecord {
  sequence: number;
  /** Committed length along axis 0, per tracked dataset path. */
  lengths: Map<string, number>;
}

export function hasBookkeeping(f: H5File): boolean {
  return f.kind(COMMIT_DATASET) === "dataset";
}

export function readState(f: H5File): FileState | "foreign" {
  if (f.kind(BOOK_GROUP) !== "group") return "foreign";
  const attrs = f.readAttrs(BOOK_GROUP);
  return attrs["state"] === "complete" ? "complete" : "writing";
}

export function readTracked(f: H5File): string[] {
  if (f.kind(BOOK_GROUP) !== "group") return [];
  const t = f.readAttrs(BOOK_GROUP)["tracked"];
  return Array.isArray(t) ? t.filter((x): x is string => typeof x === "string") : [];
}

export function readCommit(f: H5File): CommitRecord | undefined {
  if (!hasBookkeeping(f)) return undefined;
  const tracked = readTracked(f);
  const { shape } = f.layout(COMMIT_DATASET);
  const n = shape[0] ?? 0;
  if (n < 1) return undefined;
  const vec = new BigInt64Array(n);
  f.readHyperslab(COMMIT_DATASET, [0], [n], new Uint8Array(vec.buffer));
  const lengths = new Map<string, number>();
  tracked.forEach((p, i) => {
    const v = vec[i + 1];
    if (v !== undefined) lengths.set(p, Number(v));
  });
  return { sequence: Number(vec[0]), lengths };
}

/** Create or re-size the records for this set of tracked datasets (before SWMR starts). */
export function prepareBookkeeping(f: H5File, tracked: string[], state: FileState): void {
  if (f.kind(BOOK_GROUP) !== "group") f.createGroup(BOOK_GROUP);
  if (f.kind(COMMIT_DATASET) !== "dataset") {
    f.createDataset(COMMIT_DATASET, "int64", [1 + tracked.length], [null], [64], null);
  } else {
    f.resize(COMMIT_DATASET, [1 + tracked.length]);
  }
  f.writeAttrs(BOOK_GROUP, { format: FORMAT, state, tracked, stagelab_version: VERSION });
}

export function writeCommit(
  f: H5File,
  sequence: number,
  tracked: string[],
  lengths: Map<string, number>,
): void {
  const vec = new BigInt64Array(1 + tracked.length);
  vec[0] = BigInt(sequence);
  tracked.forEach((p, i) => {
    vec[i + 1] = BigInt(lengths.get(p) ?? 0);
  });
  f.writeHyperslab(COMMIT_DATASET, [0], [vec.length], new Uint8Array(vec.buffer));
}
