// The synthetic-scan stage writes its known truth, stops cleanly when aborted, and resumes
// to exactly the data of an uninterrupted run.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StoreReader, scanPixel, writeSyntheticScan } from "../../src/index.js";

const [frames, ny, nx] = [12, 16, 20];

test("synthetic scan: truth, abort, resume", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-scan-"));
  try {
    const whole = path.join(dir, "whole.h5");
    const res = await writeSyntheticScan(whole, { frames, ny, nx });
    assert.deepEqual(res, { file: whole, framesWritten: frames, resumedFrom: 0, complete: true });
    const r = await StoreReader.open(whole);
    const data = r.read<"float32">("/scan/frames").data;
    const totals = r.read<"float64">("/scan/total_counts").data;
    for (let f = 0; f < frames; f++) {
      let sum = 0;
      for (let y = 0; y < ny; y++)
        for (let x = 0; x < nx; x++) {
          const v = data[(f * ny + y) * nx + x]!;
          const truth = scanPixel(f, y, x, frames, ny, nx);
          assert.ok(
            v >= Math.fround(truth) - 1e-3 && v < truth + 3,
            `frame ${f} (${y},${x}): ${v} vs truth ${truth}`,
          );
          sum += v;
        }
      assert.ok(Math.abs(totals[f]! - sum) <= 1e-9 * sum);
    }
    assert.equal(r.state, "complete");
    r.close();

    const partial = path.join(dir, "partial.h5");
    const ac = new AbortController();
    const first = await writeSyntheticScan(partial, {
      frames,
      ny,
      nx,
      signal: ac.signal,
      onProgress: (done) => done === 5 && ac.abort(),
    });
    assert.equal(first.complete, false);
    assert.equal(first.framesWritten, 5);
    const mid = await StoreReader.open(partial);
    assert.equal(mid.state, "writing");
    assert.deepEqual(mid.info("/scan/frames").shape, [5, ny, nx]);
    mid.close();

    const second = await writeSyntheticScan(partial, { frames, ny, nx });
    assert.deepEqual(
      {
        resumedFrom: second.resumedFrom,
        framesWritten: second.framesWritten,
        complete: second.complete,
      },
      { resumedFrom: 5, framesWritten: 7, complete: true },
    );
    const a = await StoreReader.open(whole);
    const b = await StoreReader.open(partial);
    assert.deepEqual(b.read("/scan/frames").data, a.read("/scan/frames").data);
    assert.deepEqual(b.read("/scan/total_counts").data, a.read("/scan/total_counts").data);
    a.close();
    b.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
