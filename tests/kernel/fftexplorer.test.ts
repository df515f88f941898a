// FftExplorer's kernel side in-process (tests/kernel/fake-kernel.ts plays the frontend): the
// four panels it sends equal a direct 2-d DFT of the synthetic datacube it was computed from
// (overview = mean |F| over the mask, sub-selection, amplitude, phase; fftshifted), in memory
// and file mode and after many incremental mask changes; a partial cache shows its pending
// blocks as NaN; it follows a cache still being written; the proceed action hands on the
// selection (its errors become widget text); bad paths give typed errors. The same over the
// real protocol: test_fftexplorer.py (run below).
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StoreWriter, viewer } from "@stagelab/core";
import { fakeKernel, float32Of, type SentMessage } from "./fake-kernel.js";
import { DISPLAY_SYMBOL } from "../../kernel/src/format.js";
import { runPythonSuite } from "./python-suite.js";
import {
  fftExplorer,
  type FftExplorer,
  type FftSelection,
  type PanelData,
} from "../../kernel/src/viewers/fftexplorer.js";
import { writeFftCache, type FftCacheHandle } from "../ui/fixtures/fftcache.mjs";

const kernel = fakeKernel();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-fftexplorer-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const unhandled: unknown[] = [];
process.on("unhandledRejection", (e) => unhandled.push(e));

let caseNo = 0;
async function cache(opts: Parameters<typeof writeFftCache>[1] = {}): Promise<FftCacheHandle> {
  const d = path.join(dir, `case${++caseNo}`);
  fs.mkdirSync(d);
  return writeFftCache(d, opts);
}

/**
 * The reference: a direct (O(N^2)) 2-d DFT of each crop pixel's scan image, no FFT code
 * shared with the pipeline. F[p][s], s = qy * sx + qx unshifted, split re / im.
 */
function referenceSpectra(c: FftCacheHandle): { re: Float64Array[]; im: Float64Array[] } {
  const [sy, sx] = c.scan;
  const [cdy, cdx] = c.crop;
  const S = sy * sx;
  const re: Float64Array[] = [];
  const im: Float64Array[] = [];
  const cosY = (q: number, y: number) => Math.cos((-2 * Math.PI * q * y) / sy);
  const sinY = (q: number, y: number) => Math.sin((-2 * Math.PI * q * y) / sy);
  for (let p = 0; p < cdy * cdx; p++) {
    const img = new Float64Array(S);
    for (let s = 0; s < S; s++) img[s] = c.cube[s * cdy * cdx + p]!;
    // Rows first: G[y][qx], then columns.
    const gr = new Float64Array(S);
    const gi = new Float64Array(S);
    for (let y = 0; y < sy; y++)
      for (let qx = 0; qx < sx; qx++) {
        let a = 0;
        let b = 0;
        for (let x = 0; x < sx; x++) {
          const t = (-2 * Math.PI * qx * x) / sx;
          a += img[y * sx + x]! * Math.cos(t);
          b += img[y * sx + x]! * Math.sin(t);
        }
        gr[y * sx + qx] = a;
        gi[y * sx + qx] = b;
      }
    const fr = new Float64Array(S);
    const fi = new Float64Array(S);
    for (let qy = 0; qy < sy; qy++)
      for (let qx = 0; qx < sx; qx++) {
        let a = 0;
        let b = 0;
        for (let y = 0; y < sy; y++) {
          const [c0, s0] = [cosY(qy, y), sinY(qy, y)];
          const [u, v] = [gr[y * sx + qx]!, gi[y * sx + qx]!];
          a += u * c0 - v * s0;
          b += u * s0 + v * c0;
        }
        fr[qy * sx + qx] = a;
        fi[qy * sx + qx] = b;
      }
    re.push(fr);
    im.push(fi);
  }
  return { re, im };
}

/** Unshifted index s of display position (r, c) of an fftshifted [sy, sx] panel. */
function unshifted(r: number, c: number, sy: number, sx: number): number {
  const qy = (r - Math.floor(sy / 2) + sy) % sy;
  const qx = (c - Math.floor(sx / 2) + sx) % sx;
  return qy * sx + qx;
}

function close(got: number, want: number, what: string, rtol = 2e-6, atol = 1e-4): void {
  assert.ok(
    Math.abs(got - want) <= atol + rtol * Math.abs(want),
    `${what}: got ${got}, want ${want}`,
  );
}

interface Ref {
  c: FftCacheHandle;
  amp: Float64Array[];
  phase: Float64Array[];
}

function reference(c: FftCacheHandle): Ref {
  const { re, im } = referenceSpectra(c);
  return {
    c,
    amp: re.map((r, p) => r.map((v, s) => Math.hypot(v, im[p]![s]!))),
    phase: re.map((r, p) => r.map((v, s) => Math.atan2(im[p]![s]!, v))),
  };
}

/** Pixels of complete blocks. */
function completePixels(c: FftCacheHandle, blocksDone: number[]): Set<number> {
  const out = new Set<number>();
  for (const b of blocksDone) {
    const { y0, x0, h, w } = c.block(b);
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) out.add(y * c.crop[1] + x);
  }
  return out;
}

function checkOverview(ref: Ref, panel: PanelData, mask: Uint8Array, complete: Set<number>) {
  const [sy, sx] = ref.c.scan;
  const pixels = [...mask.keys()].filter((p) => mask[p] && complete.has(p));
  assert.equal(panel.averaged, pixels.length);
  assert.deepEqual([panel.rows, panel.cols, panel.shifted], [sy, sx, true]);
  for (let r = 0; r < sy; r++)
    for (let c = 0; c < sx; c++) {
      const v = panel.values[r * sx + c]!;
      if (pixels.length === 0) {
        assert.ok(Number.isNaN(v));
        continue;
      }
      const s = unshifted(r, c, sy, sx);
      const want = pixels.reduce((a, p) => a + ref.amp[p]![s]!, 0) / pixels.length;
      close(v, want, `overview (${r}, ${c})`);
    }
}

function checkDetector(ref: Ref, panel: PanelData, q: [number, number], complete: Set<number>) {
  const [, sx] = ref.c.scan;
  const [cdy, cdx] = ref.c.crop;
  assert.deepEqual([panel.rows, panel.cols, panel.shifted], [cdy, cdx, false]);
  for (let p = 0; p < cdy * cdx; p++) {
    if (!complete.has(p)) assert.ok(Number.isNaN(panel.values[p]!), `pixel ${p} is pending`);
    else close(panel.values[p]!, ref.amp[p]![q[0] * sx + q[1]]!, `detector pixel ${p}`);
  }
  assert.equal(panel.pending, cdy * cdx - complete.size);
}

function checkPixel(ref: Ref, amp: PanelData, phase: PanelData, k: [number, number], done = true) {
  const [sy, sx] = ref.c.scan;
  const p = k[0] * ref.c.crop[1] + k[1];
  const biggest = Math.max(...ref.amp[p]!);
  for (let r = 0; r < sy; r++)
    for (let c = 0; c < sx; c++) {
      const i = r * sx + c;
      if (!done) {
        assert.ok(Number.isNaN(amp.values[i]!) && Number.isNaN(phase.values[i]!));
        continue;
      }
      const s = unshifted(r, c, sy, sx);
      close(amp.values[i]!, ref.amp[p]![s]!, `amplitude (${r}, ${c})`);
      // The phase is meaningful where the amplitude is not at float32 rounding level.
      if (ref.amp[p]![s]! > 1e-5 * biggest) {
        const d = Math.abs(phase.values[i]! - ref.phase[p]![s]!);
        assert.ok(Math.min(d, 2 * Math.PI - d) < 1e-4, `phase (${r}, ${c})`);
      }
    }
}

/** Send a request as the view does and return the kernel's "panels" answer, decoded. */
async function request(
  fx: FftExplorer,
  content: Record<string, unknown>,
  buffers: Uint8Array[] = [],
): Promise<{ content: Record<string, unknown>; panels: Partial<Record<string, PanelData>> }> {
  const id = `r${Math.random().toString(36).slice(2)}`;
  const since = kernel.sent.length;
  await kernel.custom(fx.modelId, { ...content, id }, buffers);
  const m = await kernel.next((m) => kernel.customOf(m)?.id === id, { since });
  return decode(m);
}

function decode(m: SentMessage) {
  const content = kernel.customOf(m)!;
  assert.equal(content.type, "panels", JSON.stringify(content));
  const metas = content.panels as Omit<PanelData, "values">[];
  const panels: Partial<Record<string, PanelData>> = {};
  metas.forEach((meta, i) => (panels[meta.name] = { ...meta, values: float32Of(m.buffers[i]!) }));
  return { content, panels };
}

function circleMask(cdy: number, cdx: number, cy: number, cx: number, r: number): Uint8Array {
  const m = new Uint8Array(cdy * cdx);
  for (let y = 0; y < cdy; y++)
    for (let x = 0; x < cdx; x++) if ((y - cy) ** 2 + (x - cx) ** 2 <= r * r) m[y * cdx + x] = 1;
  return m;
}

describe("values against a direct DFT of the datacube", () => {
  for (const mode of ["memory", "file"] as const) {
    test(`${mode} mode: overview, sub-selection, amplitude and phase; masks`, async () => {
      const c = await cache({ scanShape: [12, 10], blockShape: [4, 4], npy: false });
      const ref = reference(c);
      const all = completePixels(c, [0, 1, 2, 3]);
      const fx = await fftExplorer(c.file, mode === "file" ? { memoryBudget: 0 } : {});
      try {
        assert.equal(fx.get("info").mode, mode);
        assert.deepEqual(fx.blocks, { done: 4, total: 4 });
        assert.deepEqual(fx.get("detector_pixel"), [4, 4]); // the crop's centre
        const [cdy, cdx] = c.crop;
        // Everything at once, as the view asks first.
        let got = await request(fx, { type: "panels" });
        assert.deepEqual(Object.keys(got.panels), ["overview", "detector", "amplitude", "phase"]);
        checkOverview(ref, got.panels.overview!, new Uint8Array(cdy * cdx).fill(1), all);
        checkDetector(ref, got.panels.detector!, [0, 0], all);
        checkPixel(ref, got.panels.amplitude!, got.panels.phase!, [4, 4]);

        // Picking a scan frequency changes the sub-selection only; negative = from the end.
        got = await request(fx, { type: "select", scan_frequency: [3, -2] });
        assert.deepEqual(got.content.scan_frequency, [3, 8]);
        assert.deepEqual(Object.keys(got.panels), ["detector"]);
        checkDetector(ref, got.panels.detector!, [3, 8], all);
        // Picking a detector pixel changes amplitude and phase.
        got = await request(fx, { type: "select", detector_pixel: [1, 6] });
        assert.deepEqual(Object.keys(got.panels), ["amplitude", "phase"]);
        checkPixel(ref, got.panels.amplitude!, got.panels.phase!, [1, 6]);

        // Masks: a circle, then a sequence of small and large changes (incremental sums).
        let mask = circleMask(cdy, cdx, 3.6, 4.2, 2.5);
        for (let step = 0; step < 8; step++) {
          got = await request(fx, { type: "select", mask: "buffer" }, [mask]);
          assert.deepEqual(Object.keys(got.panels), ["overview"]);
          assert.equal(
            got.content.mask_count,
            mask.reduce((a, b) => a + b, 0),
          );
          checkOverview(ref, got.panels.overview!, mask, all);
          assert.deepEqual(fx.mask, mask);
          mask = mask.slice();
          if (step % 3 === 2) mask = circleMask(cdy, cdx, step % cdy, 7 - step, 1.5 + step / 3);
          else mask[(step * 13) % (cdy * cdx)] ^= 1;
        }
        got = await request(fx, { type: "select", mask: "clear" });
        checkOverview(ref, got.panels.overview!, new Uint8Array(cdy * cdx), all);
        assert.equal(got.panels.overview!.pending, c.scan[0] * c.scan[1]);
        got = await request(fx, { type: "select", mask: "all" });
        checkOverview(ref, got.panels.overview!, new Uint8Array(cdy * cdx).fill(1), all);
        // A selection that changes nothing answers with no panels.
        got = await request(fx, { type: "select", detector_pixel: [1, 6] });
        assert.deepEqual(got.panels, {});

        // From a cell: select() and panels().
        await fx.select({ scanFrequency: [0, 1], detectorPixel: [7, 0], mask: "all" });
        const p = await fx.panels();
        checkDetector(ref, p.detector, [0, 1], all);
        checkPixel(ref, p.amplitude, p.phase, [7, 0]);
        // Bad requests answer with an error message, nothing breaks.
        const since = kernel.sent.length;
        await kernel.custom(fx.modelId, { type: "select", id: "bad", mask: "buffer" }, [
          new Uint8Array(3),
        ]);
        const err = kernel.customOf(
          await kernel.next((m) => kernel.customOf(m)?.id === "bad", { since }),
        )!;
        assert.equal(err.type, "error");
        assert.match(String(err.message), /mask needs 64 values/);
      } finally {
        fx.close();
      }
    });
  }

  test("a view's plain state update of the selection is applied and answered", async () => {
    const c = await cache({ npy: false });
    const ref = reference(c);
    const fx = await fftExplorer(c.file);
    try {
      const since = kernel.sent.length;
      await kernel.update(fx.modelId, { scan_frequency: [2, 5], log: false });
      const m = await kernel.next((m) => kernel.customOf(m)?.id === "state", { since });
      const got = decode(m);
      checkDetector(ref, got.panels.detector!, [2, 5], completePixels(c, [0, 1, 2, 3]));
      assert.deepEqual(fx.get("scan_frequency"), [2, 5]);
      assert.equal(fx.get("log"), false);
    } finally {
      fx.close();
    }
  });
});

test("a partial cache: pending blocks are NaN, the overview averages complete pixels only", async () => {
  const c = await cache({ blocks: 2, keepOpen: false, npy: false });
  const ref = reference(c);
  const done = completePixels(c, [0, 1]);
  const fx = await fftExplorer(c.file, { detectorPixel: [6, 6] });
  try {
    assert.deepEqual(fx.blocks, { done: 2, total: 4 });
    assert.match(String(fx[DISPLAY_SYMBOL]()["text/plain"]), /2 of 4 blocks complete/);
    const got = await request(fx, { type: "panels" });
    assert.equal(got.content.blocks_done, 2);
    const [cdy, cdx] = c.crop;
    checkOverview(ref, got.panels.overview!, new Uint8Array(cdy * cdx).fill(1), done);
    checkDetector(ref, got.panels.detector!, [0, 0], done);
    // Pixel (6, 6) is in block 3: pending.
    checkPixel(ref, got.panels.amplitude!, got.panels.phase!, [6, 6], false);
    assert.equal(got.panels.amplitude!.pending, c.scan[0] * c.scan[1]);
    // A mask only over pending blocks: nothing to average yet.
    const mask = new Uint8Array(cdy * cdx);
    mask[7 * cdx + 7] = 1;
    const m = await request(fx, { type: "select", mask: "buffer" }, [mask]);
    assert.equal(m.panels.overview!.averaged, 0);
    assert.equal(m.panels.overview!.pending, c.scan[0] * c.scan[1]);
    // Step 3 needs every block: proceeding waits (its reason is widget text).
    await assert.rejects(fx.proceed(), { name: "CacheNotReadyError", message: /2 of 4 bigFT/ });
    assert.equal(fx.get("proceed_status"), "error");
    assert.match(fx.get("proceed_message"), /^CacheNotReadyError: .*step 2 has not finished/);
    const early = await fftExplorer(c.file, { proceedIncomplete: true });
    try {
      assert.deepEqual((await early.proceed()).scanFrequency, [0, 0]);
    } finally {
      early.close();
    }
  } finally {
    fx.close();
  }
});

test("follows a cache step 2 is still writing: pushes panels as blocks complete", async () => {
  const c = await cache({ blocks: 1, npy: false });
  const ref = reference(c);
  const fx = await fftExplorer(c.file, { pollMs: 50 });
  try {
    assert.equal(fx.get("file_state"), "writing");
    assert.equal(fx.get("following"), true);
    assert.deepEqual(fx.blocks, { done: 1, total: 4 });
    await request(fx, { type: "panels" }); // a view is showing it: pushes are worth sending
    for (let n = 2; n <= 4; n++) {
      const since = kernel.sent.length;
      c.writeBlocks(1);
      const m = await kernel.next(
        (m) => kernel.customOf(m)?.id === "live" && kernel.customOf(m)?.blocks_done === n,
        { since, timeoutMs: 10_000 },
      );
      const got = decode(m);
      const done = completePixels(c, [...Array(n).keys()]);
      const [cdy, cdx] = c.crop;
      checkOverview(ref, got.panels.overview!, new Uint8Array(cdy * cdx).fill(1), done);
      checkDetector(ref, got.panels.detector!, [0, 0], done);
    }
    c.close();
    const deadline = Date.now() + 10_000;
    while (fx.get("following") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(fx.get("file_state"), "complete");
    assert.equal(fx.get("following"), false);
    const p = await fx.panels();
    checkPixel(ref, p.amplitude, p.phase, [4, 4]);
  } finally {
    fx.close();
  }
});

test("proceed: the callback gets the selection, its errors become widget text", async () => {
  const c = await cache({ npy: false });
  const calls: FftSelection[] = [];
  let fail: "sync" | "async" | "" = "sync";
  const fx = await fftExplorer(c.file, {
    onProceed: async (sel) => {
      calls.push(sel);
      if (fail === "sync") throw new TypeError("<b>correlate</b> failed");
      if (fail === "async") return Promise.reject(new Error("disk full"));
      return "step 3 started";
    },
  });
  try {
    let resolved: FftSelection | undefined;
    void fx.proceeded.then((s) => (resolved = s));
    const mask = circleMask(8, 8, 4, 4, 2);
    await request(fx, { type: "select", scan_frequency: [1, 2], detector_pixel: [3, 5] });
    await request(fx, { type: "select", mask: "buffer" }, [mask]);
    const press = async () => {
      const since = kernel.sent.length;
      await kernel.custom(fx.modelId, { type: "proceed", id: "go" });
      return kernel.customOf(await kernel.next((m) => kernel.customOf(m)?.id === "go", { since }))!;
    };
    let reply = await press();
    assert.deepEqual(
      [reply.status, reply.message],
      ["error", "TypeError: <b>correlate</b> failed"],
    );
    assert.equal(fx.get("proceed_status"), "error");
    fail = "async";
    reply = await press();
    assert.deepEqual([reply.status, reply.message], ["error", "disk full"]);
    assert.equal(resolved, undefined);
    fail = "";
    reply = await press();
    assert.deepEqual([reply.status, reply.message], ["done", "step 3 started"]);
    const sel = await fx.proceeded;
    assert.deepEqual(sel.scanFrequency, [1, 2]);
    assert.deepEqual(sel.detectorPixel, [3, 5]);
    assert.deepEqual(sel.mask, mask);
    assert.equal(calls.length, 3);
    assert.deepEqual(calls[2], sel);
    assert.equal(fx.get("proceed_count"), 3);
    assert.deepEqual(unhandled, []);
    // Without a callback proceeding just resolves.
    const plain = await fftExplorer(c.file);
    try {
      assert.deepEqual((await plain.proceed()).detectorPixel, [4, 4]);
      assert.deepEqual((await plain.proceeded).scanFrequency, [0, 0]);
    } finally {
      plain.close();
    }
  } finally {
    fx.close();
  }
});

test("bad cache paths give typed errors; the static fallback is a 2 x 2 PNG", async () => {
  await assert.rejects(fftExplorer(path.join(dir, "nope.h5")), {
    name: "CacheMissingError",
    message: /no such cache file/,
  });
  const other = path.join(dir, "other.h5");
  const w = await StoreWriter.create(other);
  w.createDataset("/x", { dtype: "float32", shape: [3] });
  w.close();
  await assert.rejects(fftExplorer(other), { name: "CacheFormatError" });
  const hostile = '<img src=x onerror="window.__pwned=1">';
  const c = await cache({ dataset: hostile, npy: false });
  const fx = await fftExplorer(c.file);
  try {
    assert.equal(fx.get("info").dataset, hostile); // plain data; the view shows it as text
    const bundle = fx[DISPLAY_SYMBOL]();
    assert.ok(bundle["application/vnd.jupyter.widget-view+json"]);
    const png = Buffer.from(String(bundle["image/png"]), "base64");
    // 16 x 16 scan panels at scale 12 (192 px), 8 x 8 crop panel at scale 25 (200 px), 8 apart.
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [192 + 8 + 200, 200 + 8 + 192]);
  } finally {
    fx.close();
  }
});

test("twilight, the phase colormap, is cyclic", () => {
  const lut = viewer.colormapLut("twilight");
  assert.deepEqual([...lut.slice(0, 3)], [...lut.slice(765)]);
  assert.ok(viewer.CYCLIC.includes("twilight"));
  assert.ok(!viewer.COLORMAPS.includes("twilight"));
});

test("FftExplorer over the real kernel protocol", { timeout: 300_000 }, (t) =>
  runPythonSuite(t, "test_fftexplorer"),
);
