// The CubeFit file manager: the canonical layout from arrays ((L, S) and (S, L) data cubes,
// (T, ...axes) templates flattened to (P, T) with template_meta_json), the rebin operator and
// FFT caches checked by h5py/numpy, idempotent ensureRebinAndResample, the guard diagnosis
// (safe and unsafe), and a typed error for every bad input.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { StoreReader, DatasetExistsError } from "../../src/store/index.js";
import {
  CubeFitError,
  diagnoseRebinEdges,
  ensureRebinAndResample,
  populateCubeFile,
  buildHyperCube,
  CUBEFIT,
  type CubeFitInputs,
} from "../../src/cubefit/index.js";
import { syntheticIfu } from "../../src/synth/ifu.js";
import { hasH5py, pythonReference, tempDir } from "./fixtures/helpers.js";

const dir = tempDir("manager");
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const ifu = syntheticIfu();
const { S, L, T, P, V, C } = ifu;

async function read(file: string, ds: string) {
  const r = await StoreReader.open(file);
  try {
    return r.read(ds);
  } finally {
    r.close();
  }
}

/** (S, L) -> (L, S) */
function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j]!;
  return out;
}

function fieldError(field: string, pattern?: RegExp) {
  return (e: unknown) =>
    e instanceof CubeFitError && e.field === field && (!pattern || pattern.test(e.message));
}

test("manager: (S, L) and (L, S) cubes are stored (S, L); templates flattened to (P, T)", async () => {
  const a = path.join(dir, "sl.h5");
  const b = path.join(dir, "ls.h5");
  const ra = await populateCubeFile(a, ifu.inputs, {
    templateAxes: ifu.templateAxes,
    templateAxisValues: ifu.templateAxisValues,
  });
  const rb = await populateCubeFile(b, {
    ...ifu.inputs,
    datacube: { data: transpose(ifu.inputs.datacube.data, S, L), shape: [L, S] },
  });
  assert.equal(ra.datacubeLayout, "SL");
  assert.equal(rb.datacubeLayout, "LS");
  assert.deepEqual(ra.dims, { nSpat: S, nLSpec: L, nTSpec: T, nVel: V, nComp: C, nPop: P });
  const da = await read(a, CUBEFIT.dataCube);
  const db = await read(b, CUBEFIT.dataCube);
  assert.deepEqual(da.shape, [S, L]);
  assert.deepEqual(da.data, db.data);
  assert.deepEqual(da.data, ifu.inputs.datacube.data);
  // Templates: /Templates[p, t] = input[t, iz, ia] with p = iz * nAge + ia.
  const tp = await read(a, CUBEFIT.templates);
  assert.deepEqual(tp.shape, [P, T]);
  const src = ifu.inputs.templates.data;
  for (const [p, t] of [
    [0, 0],
    [5, 17],
    [7, T - 1],
  ] as const)
    assert.equal(tp.data[p * T + t], src[t * P + p]);
  const r = await StoreReader.open(a);
  try {
    const attrs = r.attrs("/");
    assert.deepEqual(attrs["dims"], ra.dims);
    const meta = JSON.parse(attrs["template_meta_json"] as string) as Record<string, unknown>;
    assert.deepEqual(meta["pop_shape"], [2, 4]);
    assert.deepEqual(meta["axes"], ["metallicity", "age"]);
    assert.deepEqual(meta["source_shape"], [T, 2, 4]);
    assert.equal(attrs["guard.safe"], true);
    assert.equal(attrs["guard.Kguard_px"], ra.guard.Kguard_px);
    assert.deepEqual(JSON.parse(attrs["guard_info_json"] as string), ra.guard);
    for (const ds of [CUBEFIT.mask, CUBEFIT.xPix, CUBEFIT.yPix, CUBEFIT.binNum])
      assert.ok(
        r.tree("/").some((n) => n.path === ds),
        ds,
      );
    assert.equal(r.info(CUBEFIT.binNum).dtype, "int32");
  } finally {
    r.close();
  }
  // Already flat (P, T) templates give the same file content.
  const c = path.join(dir, "pt.h5");
  await populateCubeFile(c, {
    ...ifu.inputs,
    templates: { data: tp.data as Float32Array, shape: [P, T] },
  });
  assert.deepEqual((await read(c, CUBEFIT.templates)).data, tp.data);
});

test("manager: a square cube (S = L) needs datacubeLayout", async () => {
  const sq = syntheticIfu({
    spaxels: 40,
    observedPixels: 40,
    templatePixels: 200,
    pixelsPerSpaxel: 0,
  });
  const file = path.join(dir, "square.h5");
  const lsData = transpose(sq.inputs.datacube.data, 40, 40);
  await assert.rejects(
    populateCubeFile(file, { ...sq.inputs, datacube: { data: lsData, shape: [40, 40] } }),
    fieldError("datacubeLayout", /both possible/),
  );
  await populateCubeFile(
    file,
    { ...sq.inputs, datacube: { data: lsData, shape: [40, 40] } },
    { datacubeLayout: "LS", overwrite: true },
  );
  assert.deepEqual((await read(file, CUBEFIT.dataCube)).data, sq.inputs.datacube.data);
  await assert.rejects(
    populateCubeFile(file, ifu.inputs, { datacubeLayout: "LS", overwrite: true }),
    fieldError("datacubeLayout", /does not fit/),
  );
});

test("manager: the rebin operator and FFT caches, checked with h5py and numpy", async (t) => {
  const file = path.join(dir, "rebin.h5");
  await populateCubeFile(file, ifu.inputs);
  const first = await ensureRebinAndResample(file);
  assert.deepEqual(first.computed, [
    CUBEFIT.rebinT,
    CUBEFIT.rebinMatrix,
    CUBEFIT.templatesFFT,
    CUBEFIT.templatesFFTR,
  ]);
  const size = fs.statSync(file).size;
  const again = await ensureRebinAndResample(file);
  assert.deepEqual(again.computed, []);
  assert.equal(fs.statSync(file).size, size);
  const d = await diagnoseRebinEdges(file);
  assert.equal(d.safe, true, d.reasons.join("; "));
  assert.ok(d.coverageMin > 1 - 1e-6 && d.coverageMax < 1 + 1e-6);
  assert.ok(d.fluxError < 1e-6);
  assert.ok(d.usedRows[0] >= d.guard.k_max_px && T - 1 - d.usedRows[1] >= -d.guard.k_min_px);
  if (!hasH5py) return t.skip("no h5py/numpy/scipy in /usr/bin/python3");
  const ref = pythonReference(file);
  assert.equal(ref["R_T_dtype"], "float32");
  assert.ok((ref["R_T_err"] as number) < 6e-8, `R_T ${ref["R_T_err"]}`);
  assert.ok((ref["R_T_rowsum_err"] as number) < 1e-6);
  assert.ok((ref["flux_in_out_rel"] as number) < 1e-6);
  assert.equal(ref["RebinMatrix_is_transpose"], true);
  assert.equal(ref["TemplatesFFT_dtype"], "complex64");
  assert.ok((ref["TemplatesFFT_err"] as number) < 2e-7);
  assert.ok((ref["TemplatesFFT_R_err"] as number) < 2e-7);
  assert.deepEqual(ref["dims"], { nSpat: S, nLSpec: L, nTSpec: T, nVel: V, nComp: C, nPop: P });
  assert.deepEqual((ref["binnum"] as Record<string, unknown>)["dtype"], "int32");
  assert.equal(ref["guard_safe_attr"], true);
  assert.equal(ref["mask_used"], L - 8);
});

test("manager: templates too short for the LOSVD kernel are diagnosed unsafe; the build refuses", async () => {
  // Crop the templates to 40 pixels beyond the observed range on the blue side, 10 on the red.
  const tem = Float64Array.from(ifu.inputs.temPix);
  const obsLo = ifu.inputs.obsPix[0]!;
  const first = tem.findIndex((v) => v > obsLo) - 40;
  const last = tem.length - 40;
  const T2 = last - first;
  const tpl = ifu.inputs.templates.data.subarray(first * P, last * P);
  const file = path.join(dir, "unsafe.h5");
  const rep = await populateCubeFile(file, {
    ...ifu.inputs,
    temPix: tem.subarray(first, last),
    templates: { data: tpl, shape: [T2, 2, 4] },
  });
  assert.equal(rep.guard.safe, false);
  await ensureRebinAndResample(file);
  const d = await diagnoseRebinEdges(file);
  assert.equal(d.safe, false);
  assert.ok(
    d.reasons.some((r) => /negative velocities/.test(r)),
    d.reasons.join("; "),
  );
  await assert.rejects(
    buildHyperCube(file, { workers: 1 }),
    fieldError("guard", /allowUnsafeEdges/),
  );
  const b = await buildHyperCube(file, { workers: 1, allowUnsafeEdges: true });
  assert.equal(b.complete, true);
});

test("manager: typed errors for bad inputs", async () => {
  const file = path.join(dir, "bad.h5");
  const base = ifu.inputs;
  const bad = (patch: Partial<CubeFitInputs>) =>
    populateCubeFile(file, { ...base, ...patch }, { overwrite: true });
  const negative = Float32Array.from(base.losvd.data);
  negative[(3 * V + 7) * C + 2] = -0.01;
  await assert.rejects(
    bad({ losvd: { data: negative, shape: [S, V, C] } }),
    fieldError("losvd", /spaxel 3, velocity bin 7, component 2/),
  );
  await assert.rejects(
    bad({ losvd: { data: base.losvd.data.subarray(0, S * (V - 1) * C), shape: [S, V - 1, C] } }),
    fieldError("losvd", /velocity bins/),
  );
  await assert.rejects(
    bad({ losvd: { data: base.losvd.data, shape: [S, V * C] } }),
    fieldError("losvd", /\(S, V, C\)/),
  );
  const obs = Float64Array.from(base.obsPix);
  [obs[10], obs[11]] = [obs[11]!, obs[10]!];
  await assert.rejects(bad({ obsPix: obs }), fieldError("obsPix", /strictly increasing/));
  const tem = Float64Array.from(base.temPix);
  tem[300] = tem[300]! + 0.3 * (tem[1]! - tem[0]!);
  await assert.rejects(bad({ temPix: tem }), fieldError("temPix", /uniform/));
  const vel = Float64Array.from(base.velPix).reverse();
  await assert.rejects(bad({ velPix: vel }), fieldError("velPix"));
  const bn = Int32Array.from(base.binnum!);
  bn[5] = S;
  await assert.rejects(
    bad({ binnum: bn }),
    fieldError("binnum", new RegExp(`pixel 5 maps to ${S}`)),
  );
  await assert.rejects(bad({ binnum: [0, 1.5] }), fieldError("binnum"));
  await assert.rejects(bad({ ypix: [1, 2, 3] }), fieldError("ypix", /pixels/));
  await assert.rejects(bad({ mask: new Uint8Array(L - 1) }), fieldError("mask", /ObsPix/));
  await assert.rejects(bad({ mask: new Uint8Array(L) }), fieldError("mask", /every pixel/));
  await assert.rejects(
    bad({ datacube: { data: base.datacube.data.subarray(0, S * (L - 2)), shape: [S, L - 2] } }),
    fieldError("datacube", /no axis of length L/),
  );
  await assert.rejects(
    bad({ datacube: { data: base.datacube.data.subarray(0, (S - 1) * L), shape: [S - 1, L] } }),
    fieldError("datacube", /spaxels/),
  );
  const nan = Float64Array.from(base.datacube.data);
  nan[3 * L + 5] = Number.NaN;
  await assert.rejects(
    bad({ datacube: { data: nan, shape: [S, L] } }),
    fieldError("datacube", /spaxel 3, pixel 5/),
  );
  // NaN where the mask says "do not use" is accepted (bad pixels).
  const masked = base.mask!.indexOf(0);
  nan[3 * L + 5] = 1;
  nan[3 * L + masked] = Number.NaN;
  await bad({ datacube: { data: nan, shape: [S, L] } });
  await assert.rejects(
    bad({ templates: { data: base.templates.data, shape: [T + 1, 2, 4] } }),
    fieldError("templates"),
  );
  await assert.rejects(bad({ xInit: [1, 2] }), fieldError("xInit", /C \* P/));
  await assert.rejects(
    populateCubeFile(file, base, { templateAxes: ["z"], overwrite: true }),
    fieldError("templateAxes"),
  );
  // An existing file is not replaced without overwrite.
  await assert.rejects(populateCubeFile(file, base), DatasetExistsError);
  // Steps in the wrong order say which step is missing.
  const fresh = path.join(dir, "norebin.h5");
  await populateCubeFile(fresh, base);
  await assert.rejects(buildHyperCube(fresh), fieldError(CUBEFIT.rebinT, /ensureRebinAndResample/));
  await assert.rejects(diagnoseRebinEdges(fresh), fieldError(CUBEFIT.rebinT));
});
