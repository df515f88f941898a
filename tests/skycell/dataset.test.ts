// The PS1 skycell input contract (src/skycell/dataset.ts) over the synthetic dataset
// (src/synth/ps1.ts): names, cell lists, reads against the analytic truth, regions, overlaps,
// band combination, typed errors, and zarr-python (Debian's /usr/bin/python3, zarr 2.13) reading
// the same hierarchy. The zarr-python test is skipped, saying why, when zarr cannot be imported.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFile, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_TESS_BAND_WEIGHTS,
  PS1_ASINH_ALPHA,
  PS1_BANDS,
  PS1_DEFAULT_BAD_MASK,
  PS1_MASK,
  SkycellCsvError,
  SkycellError,
  SkycellMissingError,
  SkycellNameError,
  SkycellStoreError,
  cellPlacement,
  combineBands,
  createZarrArray,
  findCellCsv,
  formatSkycellName,
  loadCellList,
  parseSkycellName,
  ps1Linearize,
  readProjectionInfo,
  readSkycellRegion,
  skycellExists,
  tanPixelToSkyDeg,
  type PixelRect,
  type Ps1Band,
  type SkycellBundle,
} from "../../src/skycell/index.js";
import { generatePs1Dataset, type Ps1Dataset } from "../../src/synth/ps1.js";

const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";
const XCHECK = fileURLToPath(new URL("./helpers/ps1_xcheck.py", import.meta.url));

let noZarr: string | false = false;
try {
  execFileSync(PYTHON, ["-c", "import zarr, numpy"], { stdio: "pipe" });
} catch (e) {
  noZarr = `${PYTHON} cannot import zarr/numpy (${(e as Error).message.split("\n")[0]})`;
}

const OMITTED = "skycell.1847.003"; // row 0, col 3: outside the default footprint
let tmp = "";
let ds: Ps1Dataset;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-ps1-"));
  // small chunks so that regions cross chunk borders
  ds = await generatePs1Dataset(path.join(tmp, "data"), {
    seed: 7,
    chunkShape: [24, 40],
    omitCells: [OMITTED],
  });
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const CELL: PixelRect = { y0: 0, y1: 64, x0: 0, x1: 64 };

/** Float32 round-trip bound of asinh compression (see src/skycell/asinh.ts). */
function near(got: number, want: number, h: { BOFFSET: number; BSOFTEN: number }): boolean {
  return Math.abs(got - want) <= 2e-6 * (Math.abs(want - h.BOFFSET) + 2 * h.BSOFTEN);
}

const fullReads = new Map<string, Promise<SkycellBundle>>();
/** A whole stored cell, read once per test run. */
function readCell(projection: number, name: string): Promise<SkycellBundle> {
  const key = `${projection}/${name}`;
  if (!fullReads.has(key))
    fullReads.set(key, readSkycellRegion(ds.storeRoot, projection, name, CELL));
  return fullReads.get(key)!;
}

function storedCells(d: Ps1Dataset) {
  return d.projections.flatMap((p) =>
    p.cells.filter((c) => c.storedName !== null).map((c) => ({ p, c, name: c.storedName! })),
  );
}

async function expectError<E extends Error>(
  f: () => unknown,
  cls: new (...a: never[]) => E,
  check: (e: E) => void = () => {},
): Promise<void> {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    check(e);
    return;
  }
  assert.fail(`expected ${cls.name}`);
}

test("skycell names: both forms parse, format round-trips, anything else is a typed error", async () => {
  assert.deepEqual(parseSkycellName("skycell.1847.007"), {
    projection: 1847,
    index: 7,
    name: "skycell.1847.007",
    style: "plain",
  });
  assert.deepEqual(parseSkycellName("rings.v3.skycell.0635.099"), {
    projection: 635,
    index: 99,
    name: "rings.v3.skycell.0635.099",
    style: "rings",
  });
  assert.equal(formatSkycellName(635, 99, "rings"), "rings.v3.skycell.0635.099");
  assert.equal(formatSkycellName(1847, 7), "skycell.1847.007");
  for (const bad of [
    "",
    "skycell.184.007",
    "skycell.1847.07",
    "skycell.1847.0070",
    "rings.v2.skycell.1847.007",
    "Skycell.1847.007",
    " skycell.1847.007",
    "skycell.1847.007.fits",
    "skycell_1847_007",
  ]) {
    await expectError(
      () => parseSkycellName(bad),
      SkycellNameError,
      (e) => assert.match(e.message, new RegExp(JSON.stringify(bad).replace(/[.]/g, "\\."))),
    );
  }
  await expectError(() => formatSkycellName(12345, 0), SkycellNameError);
  await expectError(() => formatSkycellName(1847, 1000), SkycellNameError);
  // a name from another projection
  await expectError(
    () => readSkycellRegion(ds.storeRoot, 1848, "skycell.1847.000", CELL),
    SkycellNameError,
  );
});

test("cell list: the generated CSV, its footprint and naming mix", async () => {
  const csv = findCellCsv(ds.dataRoot, ds.tess);
  assert.equal(csv, ds.csvPath);
  assert.equal(path.basename(csv), "cells_s0020_c3_ccd3.csv");
  const rows = await loadCellList(csv);
  assert.deepEqual(rows, ds.listed);
  assert.ok(rows.length > 0);
  for (const p of ds.projections) {
    const byRow = new Map<number, number[]>();
    for (const r of rows.filter((r) => r.projection === p.info.projection)) {
      byRow.set(r.row, [...(byRow.get(r.row) ?? []), r.col]);
      assert.equal(r.index, r.row * p.info.grid[1] + r.col);
    }
    const counts = new Set([...byRow.values()].map((c) => c.length));
    const firsts = new Set([...byRow.values()].map((c) => Math.min(...c)));
    assert.ok(counts.size > 1, `projection ${p.info.projection}: rows of equal length`);
    assert.ok(firsts.size > 1, `projection ${p.info.projection}: rows start in one column`);
  }
  const styles = new Set(rows.map((r) => parseSkycellName(r.skycell).style));
  assert.deepEqual([...styles].sort(), ["plain", "rings"]);
  // the store names some listed cells the other way
  const differ = rows.filter((r) => {
    const c = ds.projections.find((p) => p.info.projection === r.projection)!.cells[r.index]!;
    return c.storedName !== null && c.storedName !== r.skycell;
  });
  assert.ok(differ.length > 0);
  // ra/dec are the cell centres
  const r0 = rows[0]!;
  const info = await readProjectionInfo(ds.storeRoot, r0.projection);
  const o = cellPlacement(info, r0.index).originPx;
  const b = await readSkycellRegion(ds.storeRoot, r0.projection, r0.skycell, CELL, ["r"]);
  const [ra, dec] = tanPixelToSkyDeg(b.bands.r!.header, 31.5, 31.5);
  assert.ok(Math.abs(ra - r0.raDeg) < 1e-9 && Math.abs(dec - r0.decDeg) < 1e-9);
  // and the projection's tangent point sits at its CRPIX
  const [ra0, dec0] = tanPixelToSkyDeg(
    b.bands.r!.header,
    info.crpixPx[1] - 1 - o[0],
    info.crpixPx[0] - 1 - o[1],
  );
  assert.ok(Math.abs(ra0 - info.crvalDeg[0]) < 1e-9 && Math.abs(dec0 - info.crvalDeg[1]) < 1e-9);
});

test("cell list: reordered columns, CRLF and blank lines are fine", async () => {
  const p = path.join(tmp, "ok.csv");
  fs.writeFileSync(
    p,
    "skycell,ra_deg,dec_deg,projection,row,col\r\n" +
      "rings.v3.skycell.1847.005,84.1,-30.2,1847,1,1\r\n\r\n" +
      "skycell.1847.006,8.41e1,-3.02E1,1847,1,2\r\n",
  );
  const rows = await loadCellList(p);
  assert.deepEqual(
    rows.map((r) => [r.projection, r.skycell, r.index, r.row, r.col, r.raDeg, r.decDeg, r.line]),
    [
      [1847, "rings.v3.skycell.1847.005", 5, 1, 1, 84.1, -30.2, 2],
      [1847, "skycell.1847.006", 6, 1, 2, 84.1, -30.2, 4],
    ],
  );
});

test("cell list: each bad row is a SkycellCsvError naming file, line and column", async () => {
  const head = "projection,skycell,row,col,ra_deg,dec_deg\n";
  const good = "1847,skycell.1847.001,0,1,84.0,-30.0\n";
  const cases: [string, string, number | undefined, string | undefined, RegExp][] = [
    ["missing header column", "projection,skycell,row,col,ra_deg\n", 1, "dec_deg", /header/],
    ["missing field", head + good + "1847,skycell.1847.002,0,2,84.0\n", 3, "dec_deg", /5 fields/],
    ["empty field", head + "1847,skycell.1847.002,0,,84.0,-30\n", 2, "col", /missing/],
    ["extra field", head + "1847,skycell.1847.002,0,2,84.0,-30,9\n", 2, undefined, /7 fields/],
    ["non-numeric", head + good + "1847,skycell.1847.002,0,2,abc,-30\n", 3, "ra_deg", /number/],
    ["hex", head + "1847,skycell.1847.002,0,2,0x10,-30\n", 2, "ra_deg", /number/],
    ["non-integer", head + "1847,skycell.1847.002,0.5,2,84,-30\n", 2, "row", /integer/],
    ["bad name", head + "1847,skycell_1847_002,0,2,84,-30\n", 2, "skycell", /bad skycell name/],
    ["name vs projection", head + "1848,skycell.1847.002,0,2,84,-30\n", 2, "skycell", /1848/],
    ["dec range", head + "1847,skycell.1847.002,0,2,84,-91\n", 2, "dec_deg", /outside/],
    [
      "duplicate (other naming)",
      head + good + "1847,rings.v3.skycell.1847.001,0,1,84,-30\n",
      3,
      "skycell",
      /duplicate.*line 2/,
    ],
  ];
  for (const [label, text, line, column, msg] of cases) {
    const p = path.join(tmp, `bad-${label.replace(/\W+/g, "_")}.csv`);
    fs.writeFileSync(p, text);
    await expectError(
      () => loadCellList(p),
      SkycellCsvError,
      (e) => {
        assert.equal(e.file, p, label);
        assert.equal(e.line, line, label);
        assert.equal(e.column, column, label);
        assert.match(e.message, msg, label);
        assert.ok(e.message.startsWith(p), label);
      },
    );
  }
  await expectError(
    () => findCellCsv(ds.dataRoot, { sector: 21, camera: 1, ccd: 2 }),
    SkycellCsvError,
    (e) => assert.match(e.message, /cells_s0021_c1_ccd2\.csv/),
  );
  await expectError(
    () => findCellCsv(ds.dataRoot, { sector: 20, camera: 5, ccd: 1 }),
    SkycellError,
  );
  await expectError(() => loadCellList(path.join(tmp, "nope.csv")), SkycellCsvError);
});

test("store: projection attributes and headers", async () => {
  for (const p of ds.projections) {
    const info = await readProjectionInfo(ds.storeRoot, p.info.projection);
    assert.deepEqual(info, p.info);
    assert.deepEqual(info.grid, [3, 4]);
    assert.deepEqual(info.cellShape, [64, 64]);
    assert.equal(info.overlapPx, 16);
    assert.deepEqual(info.bands, [...PS1_BANDS]);
  }
  const scalings = new Set<number>();
  for (const { p, c, name } of storedCells(ds)) {
    const b = await readCell(p.info.projection, name);
    for (const band of PS1_BANDS) {
      const h = b.bands[band]!.header;
      assert.equal(h.CTYPE1, "RA---TAN");
      assert.equal(h.CTYPE2, "DEC--TAN");
      assert.equal(h.FILTER, band);
      assert.equal(h.SKYCELL, name);
      assert.equal(h.NAXIS1, 64);
      assert.equal(h.NAXIS2, 64);
      assert.equal(h.CRPIX1, p.info.crpixPx[0] - c.originPx[1]);
      assert.equal(h.CRPIX2, p.info.crpixPx[1] - c.originPx[0]);
      assert.equal(h.CRVAL1, p.info.crvalDeg[0]);
      assert.equal(h.CD1_1, -0.25 / 3600);
      assert.equal(h.CD2_2, 0.25 / 3600);
      assert.equal(h.BOFFSET, c.scaling[band].BOFFSET);
      assert.equal(h.BSOFTEN, c.scaling[band].BSOFTEN);
      scalings.add(h.BSOFTEN);
    }
  }
  assert.equal(scalings.size, storedCells(ds).length * PS1_BANDS.length, "BSOFTEN per cell/band");
});

test("store: every stored cell, linearised, equals the analytic truth", async () => {
  let nan = 0;
  let flagged = 0;
  let bad = 0;
  for (const { p, c, name } of storedCells(ds)) {
    const proj = p.info.projection;
    const b = await readCell(proj, name);
    for (const band of PS1_BANDS) {
      const { image, mask, header } = b.bands[band]!;
      const lin = ps1Linearize(image, header);
      const wrong: string[] = [];
      for (let y = 0; y < 64; y++) {
        for (let x = 0; x < 64; x++) {
          const i = y * 64 + x;
          const [gy, gx] = [c.originPx[0] + y, c.originPx[1] + x];
          const want = ds.truth.flux(proj, band, gy, gx);
          const m = ds.truth.maskBits(proj, band, gy, gx);
          const isNan = ds.truth.isNan(proj, band, gy, gx);
          if (mask[i] !== m) wrong.push(`(${y},${x}) mask ${mask[i]} vs ${m}`);
          if (isNan ? !Number.isNaN(image[i]) : !near(lin[i]!, want, header)) {
            wrong.push(`(${y},${x}) ${lin[i]} vs ${isNan ? NaN : want}`);
          }
          nan += isNan ? 1 : 0;
          flagged += m !== 0 ? 1 : 0;
          bad += m & PS1_DEFAULT_BAD_MASK ? 1 : 0;
        }
      }
      assert.deepEqual(wrong.slice(0, 5), [], `${name} ${band}: ${wrong.length} pixels differ`);
    }
  }
  // the truth has all the features the tests rely on
  assert.ok(nan > 0 && flagged > bad && bad > 0, `nan ${nan}, flagged ${flagged}, bad ${bad}`);
});

test("store: region reads equal slices of the full read", async () => {
  const { p, name } = storedCells(ds)[5]!;
  const proj = p.info.projection;
  const whole = await readCell(proj, name);
  const regions: PixelRect[] = [
    { y0: 0, y1: 64, x0: 0, x1: 64 },
    { y0: 5, y1: 37, x0: 20, x1: 50 },
    { y0: 15, y1: 17, x0: 23, x1: 25 },
    { y0: 63, y1: 64, x0: 0, x1: 64 },
    { y0: 10, y1: 10, x0: 3, x1: 9 },
  ];
  for (const r of regions) {
    const part = await readSkycellRegion(ds.storeRoot, proj, name, r, ["i", "g"]);
    assert.deepEqual(Object.keys(part.bands).sort(), ["g", "i"]);
    assert.deepEqual(part.shape, [r.y1 - r.y0, r.x1 - r.x0]);
    assert.deepEqual(part.originPx, [whole.originPx[0] + r.y0, whole.originPx[1] + r.x0]);
    const w = r.x1 - r.x0;
    for (const band of ["i", "g"] as const) {
      const a = part.bands[band]!;
      const f = whole.bands[band]!;
      assert.equal(a.image.length, (r.y1 - r.y0) * w);
      for (let y = r.y0; y < r.y1; y++)
        for (let x = r.x0; x < r.x1; x++) {
          const i = (y - r.y0) * w + (x - r.x0);
          assert.ok(Object.is(a.image[i], f.image[y * 64 + x]), `${band} (${y},${x})`);
          assert.equal(a.mask[i], f.mask[y * 64 + x]);
        }
    }
  }
  for (const r of [
    { y0: -1, y1: 4, x0: 0, x1: 4 },
    { y0: 0, y1: 65, x0: 0, x1: 4 },
    { y0: 5, y1: 4, x0: 0, x1: 4 },
    { y0: 0, y1: 4, x0: 0.5, x1: 4 },
  ]) {
    await expectError(
      () => readSkycellRegion(ds.storeRoot, proj, name, r),
      SkycellError,
      (e) => assert.match(e.message, new RegExp(name.replace(/\./g, "\\."))),
    );
  }
});

/** One band of a region (local pixels) of a whole-cell read. */
function sliceCell(b: SkycellBundle, r: PixelRect) {
  const w = r.x1 - r.x0;
  const n = (r.y1 - r.y0) * w;
  const band = (name: Ps1Band) => {
    const { image, mask, header } = b.bands[name]!;
    const out = { image: new Float32Array(n), mask: new Uint16Array(n), header };
    for (let y = r.y0; y < r.y1; y++) {
      const src = y * b.shape[1] + r.x0;
      out.image.set(image.subarray(src, src + w), (y - r.y0) * w);
      out.mask.set(mask.subarray(src, src + w), (y - r.y0) * w);
    }
    return out;
  };
  return { band, r: band("r") };
}

test("store: neighbouring cells agree on their overlaps", async () => {
  let pairs = 0;
  for (const p of ds.projections) {
    const proj = p.info.projection;
    const byIndex = new Map(p.cells.map((c) => [c.index, c]));
    for (const c of p.cells) {
      for (const [dr, dc] of [
        [0, 1],
        [1, 0],
        [1, 1],
      ] as const) {
        const n = [...byIndex.values()].find((q) => q.row === c.row + dr && q.col === c.col + dc);
        if (!n || c.storedName === null || n.storedName === null) continue;
        // the shared global rectangle, in each cell's local pixels
        const g = {
          y0: n.originPx[0],
          y1: c.originPx[0] + 64,
          x0: n.originPx[1],
          x1: c.originPx[1] + 64,
        };
        const local = (o: [number, number]) => ({
          y0: g.y0 - o[0],
          y1: g.y1 - o[0],
          x0: g.x0 - o[1],
          x1: g.x1 - o[1],
        });
        const a = sliceCell(await readCell(proj, c.storedName), local(c.originPx));
        const b = sliceCell(await readCell(proj, n.storedName), local(n.originPx));
        assert.equal(a.r.mask.length, (dr ? 16 : 64) * (dc ? 16 : 64));
        for (const band of PS1_BANDS) {
          const [ba, bb] = [a.band(band), b.band(band)];
          const [la, lb] = [ps1Linearize(ba.image, ba.header), ps1Linearize(bb.image, bb.header)];
          assert.deepEqual(ba.mask, bb.mask);
          let differ = 0;
          for (let i = 0; i < la.length; i++) {
            const same = Number.isNaN(la[i])
              ? Number.isNaN(lb[i])
              : near(la[i]!, lb[i]!, ba.header) && near(lb[i]!, la[i]!, bb.header);
            if (!same) differ++;
          }
          assert.equal(differ, 0, `${c.storedName} / ${n.storedName} ${band}`);
        }
        pairs++;
      }
    }
  }
  assert.ok(pairs >= 30, `${pairs} pairs`);
});

test("missing cells and projections are SkycellMissingError; either name finds a cell", async () => {
  await expectError(
    () => readSkycellRegion(ds.storeRoot, 1847, OMITTED, CELL),
    SkycellMissingError,
    (e) => {
      assert.equal(e.projection, 1847);
      assert.equal(e.skycell, OMITTED);
      assert.match(e.message, /skycell\.1847\.003/);
    },
  );
  assert.equal(await skycellExists(ds.storeRoot, 1847, OMITTED), false);
  assert.equal(await skycellExists(ds.storeRoot, 1847, "rings.v3." + OMITTED), false);
  await expectError(() => readProjectionInfo(ds.storeRoot, 42), SkycellMissingError);
  await expectError(
    () => readSkycellRegion(ds.storeRoot, 42, "skycell.0042.000", CELL),
    SkycellMissingError,
  );
  for (const c of ds.projections[1]!.cells) {
    const id = parseSkycellName(c.storedName!);
    const other = formatSkycellName(
      id.projection,
      id.index,
      id.style === "plain" ? "rings" : "plain",
    );
    for (const name of [c.storedName!, other]) {
      assert.equal(await skycellExists(ds.storeRoot, 1848, name), true);
      const b = await readSkycellRegion(ds.storeRoot, 1848, name, { y0: 0, y1: 2, x0: 0, x1: 2 }, [
        "y",
      ]);
      assert.equal(b.name, name);
      assert.equal(b.storedName, c.storedName);
      assert.equal(b.index, c.index);
    }
  }
});

test("corrupt stores are SkycellStoreError naming the path", async () => {
  const d = await generatePs1Dataset(path.join(tmp, "small"), {
    projections: [900],
    grid: [1, 3],
    cellShape: [20, 24],
    overlapPx: 4,
    bands: ["r", "i"],
    compressor: "none",
  });
  const root = d.storeRoot;
  const [c0, c1, c2] = d.projections[0]!.cells.map((c) => c.storedName!);
  const whole = { y0: 0, y1: 20, x0: 0, x1: 24 };
  // a mask of the wrong shape
  await createZarrArray(root, `0900/${c0}/i/mask`, {
    shape: [20, 23],
    dtype: "uint16",
    overwrite: true,
  });
  await expectError(
    () => readSkycellRegion(root, 900, c0!, whole),
    SkycellStoreError,
    (e) => assert.equal(e.path, path.join(root, "0900", c0!, "i", "mask")),
  );
  // an image of the wrong dtype
  await createZarrArray(root, `0900/${c1}/r/image`, {
    shape: [20, 24],
    dtype: "float64",
    overwrite: true,
  });
  await expectError(
    () => readSkycellRegion(root, 900, c1!, whole, ["r"]),
    SkycellStoreError,
    (e) => assert.match(e.message, new RegExp(`${c1!.replace(/\./g, "\\.")}.*float64`)),
  );
  // a cell stored under another cell's index: its header's CRPIX gives it away
  const wrong =
    formatSkycellName(900, 1, "plain") === c1 ? "rings.v3.skycell.0900.001" : "skycell.0900.001";
  fs.rmSync(path.join(root, "0900", c1!), { recursive: true });
  fs.renameSync(path.join(root, "0900", c2!), path.join(root, "0900", wrong));
  await expectError(
    () => readSkycellRegion(root, 900, wrong, whole, ["i"]),
    SkycellStoreError,
    (e) => assert.match(e.message, /CRPIX/),
  );
  // the same cell under both names
  fs.cpSync(path.join(root, "0900", wrong), path.join(root, "0900", "skycell.0900.002"), {
    recursive: true,
  });
  fs.cpSync(path.join(root, "0900", wrong), path.join(root, "0900", "rings.v3.skycell.0900.002"), {
    recursive: true,
  });
  await expectError(
    () => readSkycellRegion(root, 900, "skycell.0900.002", whole),
    SkycellStoreError,
    (e) => assert.match(e.message, /stored twice/),
  );
  // projection attributes broken
  fs.writeFileSync(path.join(root, "0900", ".zattrs"), JSON.stringify({ layout: "other" }));
  await expectError(
    () => readProjectionInfo(root, 900),
    SkycellStoreError,
    (e) => assert.equal(e.path, path.join(root, "0900")),
  );
  fs.writeFileSync(path.join(root, "0900", ".zattrs"), "{");
  await expectError(() => readProjectionInfo(root, 900), SkycellStoreError);
  // refuses to overwrite without being asked
  await expectError(
    () => generatePs1Dataset(path.join(tmp, "small")),
    SkycellError,
    (e) => assert.match(e.message, /overwrite/),
  );
});

/** Independent combination: float64 asinh inversion straight from the stored values. */
function combineRef(b: SkycellBundle, weights: Partial<Record<Ps1Band, number>>, badBits: number) {
  const n = b.shape[0] * b.shape[1];
  const flux = new Float64Array(n);
  const mask = new Uint16Array(n);
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    let ok = true;
    let m = 0;
    for (const [band, w] of Object.entries(weights) as [Ps1Band, number][]) {
      if (w === 0) continue;
      const { image, header } = b.bands[band]!;
      const v =
        header.BOFFSET +
        header.BSOFTEN *
          (Math.exp(image[i]! / PS1_ASINH_ALPHA) - Math.exp(-image[i]! / PS1_ASINH_ALPHA));
      s += w * v;
      m |= b.bands[band]!.mask[i]!;
      if (Number.isNaN(v) || (b.bands[band]!.mask[i]! & badBits) !== 0) ok = false;
    }
    flux[i] = ok ? s : NaN;
    mask[i] = m;
    valid[i] = ok ? 1 : 0;
  }
  return { flux, mask, valid };
}

test("combineBands against an independent computation and the truth", async () => {
  const weightSets: [Partial<Record<Ps1Band, number>>, number][] = [
    [DEFAULT_TESS_BAND_WEIGHTS, PS1_DEFAULT_BAD_MASK],
    [{ g: 0.5, y: 0.5 }, PS1_MASK.CR],
    [{ r: 1 }, 0],
  ];
  let invalid = 0;
  let harmlessOnly = 0;
  for (const { p, c, name } of storedCells(ds).filter((_, k) => k % 4 === 0)) {
    const b = await readSkycellRegion(ds.storeRoot, p.info.projection, name, {
      y0: 3,
      y1: 61,
      x0: 0,
      x1: 57,
    });
    const rect = {
      y0: b.originPx[0],
      y1: b.originPx[0] + 58,
      x0: b.originPx[1],
      x1: b.originPx[1] + 57,
    };
    for (const [weights, badBits] of weightSets) {
      const got = combineBands(b, weights, badBits);
      const ref = combineRef(b, weights, badBits);
      const truth = ds.truth.renderCombined(p.info.projection, rect, weights, badBits);
      assert.deepEqual(got.valid, ref.valid);
      assert.deepEqual(got.mask, ref.mask);
      assert.deepEqual(got.valid, truth.valid, `${name} valid vs truth`);
      assert.deepEqual(got.mask, truth.mask);
      const scale = Object.entries(weights).reduce(
        (s, [band, w]) => s + Math.abs(w) * 2 * c.scaling[band as Ps1Band].BSOFTEN,
        0,
      );
      for (let i = 0; i < got.flux.length; i++) {
        if (!got.valid[i]) {
          assert.ok(Number.isNaN(got.flux[i]));
          if (badBits === PS1_DEFAULT_BAD_MASK) invalid++;
          continue;
        }
        if (badBits === PS1_DEFAULT_BAD_MASK && got.mask[i]) harmlessOnly++;
        const r = ref.flux[i]!;
        assert.ok(
          Math.abs(got.flux[i]! - r) <= 1e-6 * Math.abs(r) + 1e-6 * scale,
          `${name} ${i}: ${got.flux[i]} vs ${r}`,
        );
        const t = truth.flux[i]!;
        assert.ok(
          Math.abs(got.flux[i]! - t) <= 2e-6 * (Math.abs(t) + scale),
          `${name} ${i}: ${got.flux[i]} vs truth ${t}`,
        );
      }
    }
  }
  assert.ok(invalid > 0 && harmlessOnly > 0, `invalid ${invalid}, harmless-only ${harmlessOnly}`);
  const b = await readSkycellRegion(ds.storeRoot, 1847, "skycell.1847.000", CELL, ["r", "i"]);
  await expectError(
    () => combineBands(b),
    SkycellError,
    (e) => assert.match(e.message, /band z/),
  );
  await expectError(() => combineBands(b, { g: 0 }), SkycellError);
  await expectError(() => combineBands(b, { r: NaN }), SkycellError);
});

test(
  "zarr-python opens the hierarchy and reads the same values and attributes",
  { skip: noZarr },
  async () => {
    const out = path.join(tmp, "py");
    const summary = await new Promise<string>((resolve, reject) =>
      execFile(
        PYTHON,
        [
          XCHECK,
          "dump",
          ds.storeRoot,
          out,
          JSON.stringify(DEFAULT_TESS_BAND_WEIGHTS),
          String(PS1_DEFAULT_BAD_MASK),
        ],
        { timeout: 120_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) =>
          err
            ? reject(new Error(`ps1_xcheck.py failed: ${err.message}\n${stderr}`))
            : resolve(stdout),
      ),
    );
    type PyBand = {
      header: Record<string, unknown>;
      shape: number[];
      chunks: number[];
      dtype: string;
      maskShape: number[];
      maskDtype: string;
      compressor: unknown;
    };
    type PyCell = { attrs: Record<string, unknown>; bands: Record<string, PyBand> };
    const s = JSON.parse(summary) as {
      projections: Record<
        string,
        { attrs: Record<string, unknown>; cells: Record<string, PyCell> }
      >;
    };
    assert.deepEqual(Object.keys(s.projections).sort(), ["1847", "1848"]);
    const raw = (f: string) => {
      const b = fs.readFileSync(path.join(out, f));
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    };
    for (const p of ds.projections) {
      const pid = String(p.info.projection);
      const py = s.projections[pid]!;
      const { layout, ...attrs } = py.attrs;
      assert.equal(layout, "stagelab.ps1-skycells.v1");
      assert.deepEqual(attrs, { ...p.info });
      const stored = p.cells.filter((c) => c.storedName !== null);
      assert.deepEqual(Object.keys(py.cells).sort(), stored.map((c) => c.storedName!).sort());
      for (const c of stored) {
        const pc = py.cells[c.storedName!]!;
        assert.deepEqual(pc.attrs, {
          projection: p.info.projection,
          index: c.index,
          row: c.row,
          col: c.col,
          originPx: c.originPx,
        });
        const b = await readCell(p.info.projection, c.storedName!);
        for (const band of PS1_BANDS) {
          const pb = pc.bands[band]!;
          assert.deepEqual(pb.header, b.bands[band]!.header);
          assert.deepEqual(
            [pb.shape, pb.maskShape, pb.chunks, pb.dtype, pb.maskDtype],
            [[64, 64], [64, 64], [24, 40], "float32", "uint16"],
          );
          assert.deepEqual(pb.compressor, { id: "zlib", level: 1 });
          const stem = `${pid}__${c.storedName}__${band}`;
          assert.deepEqual(new Float32Array(raw(`${stem}.image.bin`)), b.bands[band]!.image);
          assert.deepEqual(new Uint16Array(raw(`${stem}.mask.bin`)), b.bands[band]!.mask);
        }
        const mine = combineBands(b);
        const theirs = new Float32Array(raw(`${pid}__${c.storedName}.combined.bin`));
        for (let i = 0; i < theirs.length; i++) {
          const [x, y] = [mine.flux[i]!, theirs[i]!];
          assert.ok(
            Number.isNaN(x) ? Number.isNaN(y) : Math.abs(x - y) <= 1e-6 * Math.abs(y) + 1e-4,
            `${c.storedName} ${i}: ${x} vs ${y}`,
          );
        }
      }
    }
  },
);
