// Shared helpers for the image tests: fixture paths and expected arrays, temp dirs, detectors.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Detector, Panel } from "../../../src/geometry/models.js";

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

function raw(name: string): ArrayBuffer {
  const b = fs.readFileSync(fixture(name));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

export const expectedI32 = (name: string) => new Int32Array(raw(name));
export const expectedF32 = (name: string) => new Float32Array(raw(name));
export const expectedU32 = (name: string) => new Uint32Array(raw(name));

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `stagelab-images-${tag}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A panel with plausible defaults; only the raw-image placement matters to the image code. */
export function panel(
  name: string,
  imageSize: readonly [number, number],
  rawImageOffset: readonly [number, number] = [0, 0],
): Panel {
  return {
    name,
    type: "SENSOR_PAD",
    fastAxis: [1, 0, 0],
    slowAxis: [0, -1, 0],
    originMm: [0, 0, -200],
    pixelSizeMm: [0.172, 0.172],
    imageSize,
    trustedRange: [-1, 1048575],
    thicknessMm: 0.45,
    material: "Si",
    muPerMm: 0,
    gain: 1,
    pedestal: 0,
    parallaxCorrected: false,
    rawImageOffset,
    identifier: "",
  };
}

export function detector(...panels: Panel[]): Detector {
  return { panels };
}

/** The first index where two arrays differ (NaN equals NaN), or -1. */
export function firstDifference(
  a: ArrayLike<number | bigint>,
  b: ArrayLike<number | bigint>,
): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}
