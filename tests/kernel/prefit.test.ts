// PrefitSnapshot's kernel side in-process (tests/kernel/fake-kernel.ts plays the frontend) on
// the synthetic CubeFit file of tests/ui/fixtures/cubefit.mjs: the four panels it sends equal
// an independent recomputation from the arrays the fixture wrote (spectra and exp(ObsPix),
// masked ranges and y-limits from unmasked pixels only, Templates x R_T by plain loops, the
// LOSVD and its log-lambda kernel, stored models of diverse (s, c) pairs); pending tiles of a
// file the builder is still writing show as pending and appear as they are committed (follow
// mode); selections from the view and from cells; R_T stored transposed; typed errors.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StoreWriter, cubefit } from "@stagelab/core";
import { fakeKernel } from "./fake-kernel.js";
import { runPythonSuite } from "./python-suite.js";
import { ask, f64, near, nearAll, unpack } from "./cubefit-messages.js";
import { DISPLAY_SYMBOL } from "../../kernel/src/format.js";
import { prefitSnapshot, type PrefitSnapshot } from "../../kernel/src/viewers/prefit.js";
import { writeCubeFit, type CubeFitHandle } from "../ui/fixtures/cubefit.mjs";

const kernel = fakeKernel();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-prefit-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let caseNo = 0;
function cube(opts: Parameters<typeof writeCubeFit>[1] = {}): Promise<CubeFitHandle> {
  return writeCubeFit(dir, { name: `case${++caseNo}.h5`, ...opts });
}

type Obj = Record<string, unknown>;

/** Rebinned templates by plain loops: sum_t Templates[p, t] * R_T[t, l]. */
function rebinned(c: CubeFitHandle, p: number): Float64Array {
  const { T, L } = c.dims;
  const out = new Float64Array(L);
  for (let l = 0; l < L; l++) {
    let acc = 0;
    for (let t = 0; t < T; t++) acc += c.arrays.templates[p * T + t]! * c.arrays.rT[t * L + l]!;
    out[l] = acc;
  }
  return out;
}

/**
 * The LOSVD kernel as the builder convolves with it, recomputed with plain loops: velocity bin
 * j (edges halfway between centres, in template pixels v / (c dlog)) spread over the kernel
 * pixels [k - 1/2, k + 1/2] it overlaps, in proportion to the overlap; normalised to sum 1.
 */
function kernelRef(c: CubeFitHandle, s: number, comp: number, dlog: number) {
  const { V, C } = c.dims;
  const vel = c.arrays.velPix;
  const px = (v: number) => v / cubefit.C_KMS / dlog;
  const edges = Array.from({ length: V + 1 }, (_, j) =>
    px(
      j === 0
        ? vel[0]! - (vel[1]! - vel[0]!) / 2
        : j === V
          ? vel[V - 1]! + (vel[V - 1]! - vel[V - 2]!) / 2
          : (vel[j - 1]! + vel[j]!) / 2,
    ),
  );
  const k0 = Math.floor(edges[0]! + 0.5);
  const k1 = Math.ceil(edges[V]! - 0.5);
  const w = new Array<number>(k1 - k0 + 1).fill(0);
  for (let j = 0; j < V; j++) {
    const h = c.arrays.losvd[(s * V + j) * C + comp]!;
    for (let k = k0; k <= k1; k++) {
      const ov = Math.min(edges[j + 1]!, k + 0.5) - Math.max(edges[j]!, k - 0.5);
      if (ov > 0) w[k - k0]! += (h * ov) / (edges[j + 1]! - edges[j]!);
    }
  }
  const sum = w.reduce((a, b) => a + b, 0);
  return {
    offsets: w.map((_, i) => (k0 + i) * dlog),
    weights: w.map((x) => x / sum),
  };
}

function modelRow(c: CubeFitHandle, s: number, comp: number, p: number): Float32Array {
  const { C, P, L } = c.dims;
  return c.arrays.models.subarray(((s * C + comp) * P + p) * L, ((s * C + comp) * P + p + 1) * L);
}

/** Whether the fixture has committed the tile of (s, c, p). */
function tileDone(c: CubeFitHandle, s: number, comp: number, p: number): boolean {
  const [ts, tc, tp] = c.tile;
  const [, gc, gp] = c.grid;
  return (
    c.done()[(Math.floor(s / ts) * gc + Math.floor(comp / tc)) * gp + Math.floor(p / tp)] === 1
  );
}

function checkSpectra(c: CubeFitHandle, sp: Obj, spaxels: number[]): void {
  const { L } = c.dims;
  assert.deepEqual(sp.spaxels, spaxels);
  nearAll(f64(sp.wavelength), Array.from(c.arrays.obsPix, Math.exp), "wavelength");
  const values = sp.values as unknown[];
  spaxels.forEach((s, i) =>
    nearAll(f64(values[i]), c.arrays.dataCube.subarray(s * L, (s + 1) * L), `spectrum ${s}`),
  );
  assert.deepEqual([...(sp.mask as Uint8Array)], [...c.arrays.mask]);
  // Masked runs 20..23 and 40, from pixel edge to pixel edge (log-lambda midpoints).
  const ll = c.arrays.obsPix;
  const edge = (i: number) => Math.exp((ll[i - 1]! + ll[i]!) / 2);
  const masked = sp.masked as [number, number][];
  assert.equal(masked.length, 2);
  nearAll(masked[0]!, [edge(20), edge(24)], "masked run 1");
  nearAll(masked[1]!, [edge(40), edge(41)], "masked run 2");
  // y-limits from unmasked pixels only (the masked spikes are 50 and more).
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of spaxels)
    for (let l = 0; l < L; l++) {
      if (!c.arrays.mask[l]) continue;
      lo = Math.min(lo, c.arrays.dataCube[s * L + l]!);
      hi = Math.max(hi, c.arrays.dataCube[s * L + l]!);
    }
  const pad = 0.05 * (hi - lo);
  nearAll(sp.y_domain as number[], [lo - pad, hi + pad], "y_domain");
  assert.ok((sp.y_domain as number[])[1]! < 50);
}

function checkTemplates(c: CubeFitHandle, tp: Obj, pops: number[]): void {
  assert.deepEqual(tp.populations, pops);
  pops.forEach((p, i) =>
    nearAll(
      f64((tp.values as unknown[])[i]),
      rebinned(c, p),
      `rebinned template ${p}`,
      1e-12,
      1e-12,
    ),
  );
}

function checkLosvd(c: CubeFitHandle, lv: Obj, s: number, comp: number): void {
  const { V, C } = c.dims;
  assert.deepEqual([lv.spaxel, lv.component], [s, comp]);
  nearAll(f64(lv.velocity), c.arrays.velPix, "velocity");
  nearAll(
    f64(lv.values),
    Array.from({ length: V }, (_, v) => c.arrays.losvd[(s * V + v) * C + comp]!),
    "LOSVD",
  );
  near(lv.dlog as number, 1e-4, "dlog", 1e-9);
  const ref = kernelRef(c, s, comp, lv.dlog as number);
  nearAll(f64(lv.kernel_offsets), ref.offsets, "kernel offsets");
  nearAll(f64(lv.kernel_weights), ref.weights, "kernel weights", 1e-9, 1e-12);
  nearAll(
    f64(lv.kernel_velocity),
    ref.offsets.map((o) => o * cubefit.C_KMS),
    "kernel velocities",
    1e-9,
    1e-9,
  );
  // The outer velocity bins reach half a bin beyond +-600 km/s: the kernel covers their edges.
  const dv = c.arrays.velPix[1]! - c.arrays.velPix[0]!;
  const edgePx = (600 + dv / 2) / cubefit.C_KMS / (lv.dlog as number);
  assert.equal(ref.offsets.length, 2 * Math.ceil(edgePx - 0.5) + 1);
}

function checkModels(c: CubeFitHandle, md: Obj, p: number, first: [number, number]): void {
  assert.equal(md.population, p);
  const pairs = md.pairs as { spaxel: number; component: number; done: boolean }[];
  assert.deepEqual([pairs[0]!.spaxel, pairs[0]!.component], first);
  // Diverse: distinct pairs reaching both ends of the spaxel axis and every component.
  const keys = new Set(pairs.map((q) => `${q.spaxel},${q.component}`));
  assert.equal(keys.size, pairs.length);
  assert.ok(pairs.some((q) => q.spaxel === 0) && pairs.some((q) => q.spaxel === c.dims.S - 1));
  assert.equal(new Set(pairs.map((q) => q.component)).size, c.dims.C);
  pairs.forEach((q, i) => {
    const done = tileDone(c, q.spaxel, q.component, p);
    assert.equal(q.done, done, `pair ${q.spaxel},${q.component} done`);
    const v = f64((md.values as unknown[])[i]);
    if (done) nearAll(v, modelRow(c, q.spaxel, q.component, p), `model ${q.spaxel},${q.component}`);
    else assert.equal(v.length, 0);
  });
  assert.equal(md.tiles_done, c.tilesDone());
  assert.equal(md.tiles_total, c.grid[0] * c.grid[1] * c.grid[2]);
}

describe("panels against a recomputation from the fixture's arrays", () => {
  test("four panels, then selection changes from the view and from a cell", async () => {
    const c = await cube({ fitGroups: [] });
    const pf = await prefitSnapshot(c.file, { spaxel: 2, component: 1, population: 3 });
    try {
      assert.deepEqual(pf.tiles, { done: 12, total: 12 });
      assert.deepEqual(pf.get("cube").dims, { S: 8, L: 48, T: 120, V: 13, C: 3, P: 4 });
      assert.deepEqual(pf.get("cube").tile, [2, 1, 4]);
      assert.equal(pf.get("cube").rebin, "R_T");
      let got = await ask(kernel, pf.modelId, { type: "panels" });
      assert.equal(got.type, "panels");
      let p = got.panels as Record<string, Obj>;
      assert.deepEqual(Object.keys(p), ["spectra", "templates", "losvd", "models"]);
      // The selected spaxel first, then three spread over the cube.
      checkSpectra(c, p.spectra!, [2, 0, 5, 7]);
      checkTemplates(c, p.templates!, [0, 1, 2, 3]);
      checkLosvd(c, p.losvd!, 2, 1);
      checkModels(c, p.models!, 3, [2, 1]);

      // A new spaxel changes the spectra, the LOSVD and the models; a component the LOSVD and
      // the models; a population the models only.
      got = await ask(kernel, pf.modelId, { type: "select", spaxel: 6 });
      p = got.panels as Record<string, Obj>;
      assert.deepEqual(Object.keys(p), ["spectra", "losvd", "models"]);
      checkSpectra(c, p.spectra!, [6, 0, 2, 5]);
      checkLosvd(c, p.losvd!, 6, 1);
      got = await ask(kernel, pf.modelId, { type: "select", component: -1 });
      p = got.panels as Record<string, Obj>;
      assert.deepEqual(Object.keys(p), ["losvd", "models"]);
      checkLosvd(c, p.losvd!, 6, 2);
      checkModels(c, p.models!, 3, [6, 2]);
      got = await ask(kernel, pf.modelId, { type: "select", population: 0 });
      p = got.panels as Record<string, Obj>;
      assert.deepEqual(Object.keys(p), ["models"]);
      checkModels(c, p.models!, 0, [6, 2]);
      // Out of range: an error answer; nothing changed.
      got = await ask(kernel, pf.modelId, { type: "select", spaxel: 8 });
      assert.equal(got.type, "error");
      assert.match(String(got.message), /spaxel must be an integer in \[0, 8\)/);
      assert.equal(pf.get("spaxel"), 6);

      // A view's plain state update goes the same way (answered with id "state").
      const since = kernel.sent.length;
      await kernel.update(pf.modelId, { spaxel: 3 });
      const m = await kernel.next((m) => kernel.customOf(m)?.id === "state", { since });
      p = unpack(kernel, m).panels as Record<string, Obj>;
      checkLosvd(c, p.losvd!, 3, 2);
      // From a cell.
      await pf.select({ spaxel: 1, component: 0 });
      const all = await pf.panels();
      assert.deepEqual(all.spectra.spaxels, [1, 0, 2, 5]);
      nearAll(all.templates.values[2]!, rebinned(c, 2), "templates from panels()");
      assert.deepEqual(all.models.pairs[0], { spaxel: 1, component: 0, done: true });
    } finally {
      pf.close();
    }
  });

  test("the static fallback is a 2 x 2 PNG with a text summary", async () => {
    const c = await cube({ fitGroups: [], templateMeta: '<img src=x onerror="window.__pwned=1">' });
    const pf = await prefitSnapshot(c.file);
    try {
      const bundle = pf[DISPLAY_SYMBOL]();
      assert.ok(bundle["application/vnd.jupyter.widget-view+json"]);
      const png = Buffer.from(String(bundle["image/png"]), "base64");
      assert.equal(png.toString("latin1", 1, 4), "PNG");
      assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [2 * 380 + 8, 2 * 230 + 8]);
      assert.match(String(bundle["text/plain"]), /HyperCube tiles done: 12 \/ 12/);
      // File-controlled text stays plain data (the view shows it with textContent).
      assert.equal(
        pf.get("cube").attrs.template_meta_json,
        '<img src=x onerror="window.__pwned=1">',
      );
    } finally {
      pf.close();
    }
  });
});

test("a file the builder is still writing: pending tiles, then live pushes as tiles complete", async () => {
  const c = await cube({ tilesDone: 3, tile: [2, 1, 2], fitGroups: [], tileAttr: true });
  const pf = await prefitSnapshot(c.file, { pollMs: 50, spaxel: 0, component: 0, population: 1 });
  try {
    assert.equal(pf.get("file_state"), "writing");
    assert.equal(pf.get("following"), true);
    assert.deepEqual(pf.get("cube").grid, [4, 3, 2]);
    assert.deepEqual(pf.tiles, { done: 3, total: 24 });
    const got = await ask(kernel, pf.modelId, { type: "panels" });
    const md = (got.panels as Record<string, Obj>).models!;
    checkModels(c, md, 1, [0, 0]);
    assert.ok(
      (md.pairs as { done: boolean }[]).some((q) => !q.done),
      "some pairs pending",
    );
    for (const n of [10, 24]) {
      const since = kernel.sent.length;
      c.writeTiles(n - c.tilesDone());
      const m = await kernel.next(
        (m) => kernel.customOf(m)?.id === "live" && kernel.customOf(m)?.tiles_done === n,
        { since, timeoutMs: 10_000 },
      );
      const live = unpack(kernel, m);
      assert.deepEqual(Object.keys(live.panels as Obj), ["models"]);
      checkModels(c, (live.panels as Record<string, Obj>).models!, 1, [0, 0]);
    }
    c.close();
    const deadline = Date.now() + 10_000;
    while (pf.get("following") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(pf.get("file_state"), "complete");
    assert.equal(pf.get("following"), false);
  } finally {
    pf.close();
  }
});

test("R_T stored as (L, T) is transposed; /RebinMatrix stands in for a missing R_T", async () => {
  for (const which of ["transposed", "rebinmatrix"] as const) {
    const src = await cube({ fitGroups: [], dims: { S: 3, L: 10, T: 16, P: 2 }, tile: [1, 1, 2] });
    const file = path.join(dir, `rebin-${which}.h5`);
    const { T, L, P } = src.dims;
    const w = await StoreWriter.create(file);
    const put = (
      ds: string,
      dtype: "float32" | "float64",
      shape: number[],
      data: Float32Array | Float64Array,
    ) =>
      w.createDataset(ds, { dtype, shape, maxshape: shape, compression: "none" }).write(
        shape.map(() => 0),
        shape,
        data as never,
      );
    const lt = new Float32Array(L * T);
    for (let t = 0; t < T; t++)
      for (let l = 0; l < L; l++) lt[l * T + t] = src.arrays.rT[t * L + l]!;
    put(cubefit.CUBEFIT.templates, "float32", [P, T], src.arrays.templates);
    put(cubefit.CUBEFIT.obsPix, "float64", [L], src.arrays.obsPix);
    put(cubefit.CUBEFIT.temPix, "float64", [T], src.arrays.temPix);
    put(
      which === "transposed" ? cubefit.CUBEFIT.rebinT : cubefit.CUBEFIT.rebinMatrix,
      "float32",
      [L, T],
      lt,
    );
    w.close();
    const pf = await prefitSnapshot(file);
    try {
      assert.equal(pf.get("cube").rebin, which === "transposed" ? "R_T transposed" : "RebinMatrix");
      const p = await pf.panels();
      p.templates.populations.forEach((pop, i) =>
        nearAll(p.templates.values[i]!, rebinned(src, pop), `${which} ${pop}`, 1e-6, 1e-7),
      );
      // No DataCube, LOSVD or models: those panels say so.
      assert.match(p.spectra.note, /no \/DataCube/);
      assert.match(p.losvd.note, /no \/LOSVD/);
      assert.match(p.models.note, /no \/HyperCube\/models/);
    } finally {
      pf.close();
    }
  }
});

test("missing or foreign files give typed errors; the kernel goes on", async () => {
  await assert.rejects(prefitSnapshot(path.join(dir, "nope.h5")), { name: "FileNotFoundError" });
  const other = path.join(dir, "other.h5");
  const w = await StoreWriter.create(other);
  w.createDataset("/x", { dtype: "float32", shape: [3] });
  w.close();
  await assert.rejects(prefitSnapshot(other), {
    name: "DatasetNotFoundError",
    message: /not a CubeFit file/,
  });
  const bad = path.join(dir, "bad.h5");
  const b = await StoreWriter.create(bad);
  b.createDataset(cubefit.CUBEFIT.dataCube, { dtype: "float64", shape: [4, 10] });
  b.createDataset(cubefit.CUBEFIT.obsPix, { dtype: "float64", shape: [12] });
  b.close();
  await assert.rejects(prefitSnapshot(bad), {
    name: "ShapeMismatchError",
    message: /disagree about L: \/DataCube says 10, \/ObsPix says 12/,
  });
  await assert.rejects(prefitSnapshot(other, { spaxel: 3 }), { name: "DatasetNotFoundError" });
  const c = await cube({ fitGroups: [] });
  await assert.rejects(prefitSnapshot(c.file, { spaxel: 99 }), { name: "RangeError" });
  const pf: PrefitSnapshot = await prefitSnapshot(c.file);
  try {
    assert.deepEqual(pf.tiles, { done: 12, total: 12 });
  } finally {
    pf.close();
  }
});

test(
  "PrefitSnapshot over the real kernel protocol (numpy and h5py references)",
  { timeout: 300_000 },
  (t) => runPythonSuite(t, "test_prefit"),
);
