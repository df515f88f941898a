// ImageSource: an imageset's images (CBF lists, templates, HDF5 with singleFileIndices or a
// master as template) cut into panels by rawImageOffset/imageSize, raw values kept, the
// exposure time found, and typed errors when the imageset, the detector and the files disagree.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import {
  openImageSource,
  readStillImage,
  splitPanels,
  FrameIndexError,
  ImageFormatError,
  ImageNotFoundError,
  PanelLayoutError,
} from "../../src/images/index.js";
import type { Experiment, Scan } from "../../src/geometry/models.js";
import {
  detector,
  expectedF32,
  expectedI32,
  firstDifference,
  fixture,
  panel,
  tempDir,
} from "./helpers/fixtures.js";

/** The [fast0, fast1) x [slow0, slow1) block of a slow-major image, as float64. */
function block(
  all: ArrayLike<number>,
  width: number,
  f0: number,
  f1: number,
  s0: number,
  s1: number,
) {
  const out: number[] = [];
  for (let s = s0; s < s1; s++) for (let f = f0; f < f1; f++) out.push(all[s * width + f]!);
  return Float64Array.from(out);
}

const scan = (range: [number, number], exposures: number[] = []): Scan => ({
  imageRange: range,
  batchOffset: 0,
  oscillationDeg: [0, 0],
  exposureTimesS: exposures,
  epochsS: [],
});

describe("CBF imagesets", () => {
  test("one panel: the whole image as float64, masked values kept, exposure from the header", async () => {
    const src = await openImageSource(
      { type: "ImageSet", images: [fixture("deltas.cbf")] },
      detector(panel("p0", [40, 30])),
    );
    try {
      assert.equal(src.count, 1);
      const still = await src.read(0);
      assert.equal(still.panels.length, 1);
      assert.ok(still.panels[0] instanceof Float64Array);
      assert.equal(
        firstDifference(still.panels[0]!, Float64Array.from(expectedI32("deltas.i32"))),
        -1,
      );
      assert.equal(still.exposureTimeS, 0.097);
      assert.deepEqual([still.file, still.frame], [fixture("deltas.cbf"), 0]);
    } finally {
      src.close();
    }
  });

  test("two panels from rawImageOffset [fast, slow] and imageSize [nFast, nSlow]", async () => {
    const det = detector(panel("left", [17, 30], [0, 0]), panel("right", [22, 12], [18, 5]));
    const src = await openImageSource({ type: "ImageSet", images: ["deltas.cbf"] }, det, {
      baseDir: fixture(""),
    });
    try {
      const { panels } = await src.read(0);
      const all = expectedI32("deltas.i32");
      assert.equal(firstDifference(panels[0]!, block(all, 40, 0, 17, 0, 30)), -1);
      assert.equal(firstDifference(panels[1]!, block(all, 40, 18, 40, 5, 17)), -1);
    } finally {
      src.close();
    }
  });

  test("a template: the scan's image numbers, else every matching file", async () => {
    const { dir, cleanup } = tempDir("template");
    try {
      for (const i of [1, 2, 3])
        fs.copyFileSync(
          fixture("none.cbf"),
          path.join(dir, `img_${String(i).padStart(5, "0")}.cbf`),
        );
      fs.copyFileSync(fixture("deltas.cbf"), path.join(dir, "img_00004.cbf.bak"));
      const det = detector(panel("p", [7, 5]));
      const set = { type: "ImageSequence", template: "img_#####.cbf" };
      const ranged = await openImageSource(set, det, { baseDir: dir, scan: scan([2, 3]) });
      assert.deepEqual(
        [0, 1].map((i) => path.basename(ranged.locate(i).file)),
        ["img_00002.cbf", "img_00003.cbf"],
      );
      const still = await ranged.read(1);
      assert.equal(
        firstDifference(still.panels[0]!, Float64Array.from(expectedI32("none.i32"))),
        -1,
      );
      assert.equal(still.exposureTimeS, 0.0025);
      ranged.close();
      const globbed = await openImageSource(set, det, { baseDir: dir });
      assert.equal(globbed.count, 3);
      globbed.close();
      // Gzipped CBFs are read as they are.
      const gz = path.join(dir, "img_00009.cbf.gz");
      fs.writeFileSync(gz, zlib.gzipSync(fs.readFileSync(fixture("none.cbf"))));
      const zipped = await openImageSource({ type: "ImageSet", images: [gz] }, det);
      assert.equal(
        firstDifference(
          (await zipped.read(0)).panels[0]!,
          Float64Array.from(expectedI32("none.i32")),
        ),
        -1,
      );
      zipped.close();
      await assert.rejects(
        openImageSource({ type: "ImageSequence", template: "nothing_###.cbf" }, det, {
          baseDir: dir,
        }),
        (e: unknown) =>
          e instanceof ImageNotFoundError &&
          /no files match the template nothing_###.cbf/.test(e.message),
      );
    } finally {
      cleanup();
    }
  });
});

describe("HDF5 imagesets", () => {
  test("singleFileIndices pick frames; exposure from count_time", async () => {
    const file = fixture("nxmx_stack.h5");
    const src = await openImageSource(
      { type: "ImageSet", images: [file, file], singleFileIndices: [3, 0] },
      detector(panel("a", [32, 10], [0, 0]), panel("b", [32, 14], [0, 10])),
    );
    try {
      assert.equal(src.count, 2);
      const all = expectedI32("nxmx_stack.i32");
      const still = await src.read(0);
      assert.deepEqual([still.frame, still.exposureTimeS], [3, 0.1]);
      const frame3 = all.subarray(3 * 768, 4 * 768);
      assert.equal(firstDifference(still.panels[0]!, block(frame3, 32, 0, 32, 0, 10)), -1);
      assert.equal(firstDifference(still.panels[1]!, block(frame3, 32, 0, 32, 10, 24)), -1);
      assert.equal((await src.read(1)).frame, 0);
    } finally {
      src.close();
    }
  });

  test("a master file as a sequence template, with the scan's range", async () => {
    const src = await openImageSource(
      { type: "ImageSequence", template: fixture("eiger_master.h5") },
      detector(panel("p", [24, 20])),
      { scan: scan([2, 4]) },
    );
    try {
      assert.deepEqual(
        [0, 1, 2].map((i) => src.locate(i).frame),
        [1, 2, 3],
      );
      const still = await src.read(2);
      assert.equal(still.exposureTimeS, 0.05);
      assert.equal(still.panels[0]![9 * 24], 0xffffffff); // Eiger's masked value, raw
    } finally {
      src.close();
    }
  });

  test("an HDF5 file without indices: all its frames, NaN kept, per-frame exposure", async () => {
    const src = await openImageSource(
      { type: "ImageSet", images: [fixture("nxmx_gzip.h5")] },
      detector(panel("p", [32, 24])),
    );
    try {
      assert.equal(src.count, 3);
      const still = await src.read(1);
      assert.equal(still.exposureTimeS, 0.2);
      const want = Float64Array.from(expectedF32("nxmx_gzip.f32").subarray(768, 1536));
      assert.equal(firstDifference(still.panels[0]!, want), -1);
      assert.ok(Number.isNaN(still.panels[0]![0]));
      const raw = await src.readRaw(1);
      assert.ok(raw.data instanceof Float32Array);
    } finally {
      src.close();
    }
  });
});

describe("exposure time fallbacks", () => {
  const set = { type: "ImageSet", images: [fixture("uint16.cbf")] }; // no header lines at all
  const det = detector(panel("p", [17, 13]));
  test("the scan's, then defaultExposureTimeS, else a clear error", async () => {
    const fromScan = await openImageSource(set, det, { scan: scan([1, 1], [0.5]) });
    assert.equal((await fromScan.read(0)).exposureTimeS, 0.5);
    fromScan.close();
    const fromDefault = await openImageSource(set, det, { defaultExposureTimeS: 2 });
    assert.equal((await fromDefault.read(0)).exposureTimeS, 2);
    fromDefault.close();
    const none = await openImageSource(set, det);
    await assert.rejects(
      none.read(0),
      (e: unknown) => e instanceof ImageFormatError && /no exposure time/.test(e.message),
    );
    none.close();
  });
});

describe("readStillImage (one still per experiment)", () => {
  const experiment = (imageset: Experiment["imageset"]): Experiment => ({
    identifier: "x",
    beam: {
      directionToSource: [0, 0, 1],
      wavelengthA: 1,
      polarizationNormal: [0, 1, 0],
      polarizationFraction: 0.999,
      divergenceRad: 0,
      sigmaDivergenceRad: 0,
      fluxPhotonsPerS: 0,
      transmission: 1,
    },
    detector: detector(panel("p", [32, 24])),
    ...(imageset ? { imageset } : {}),
  });

  test("reads the experiment's image, relative to baseDir", async () => {
    const still = await readStillImage(
      experiment({ type: "ImageSet", images: ["nxmx_stack.h5"], singleFileIndices: [2] }),
      { baseDir: fixture("") },
    );
    assert.equal(still.frame, 2);
    assert.equal(still.panels[0]![7 * 32 + 7], -2);
  });

  test("several images need an index; none is an error", async () => {
    const e = experiment({ type: "ImageSet", images: [fixture("nxmx_stack.h5")] });
    await assert.rejects(
      readStillImage(e),
      (err: unknown) =>
        err instanceof FrameIndexError && /has 4 images: pass `index`/.test(err.message),
    );
    assert.equal((await readStillImage(e, { index: 3 })).frame, 3);
    await assert.rejects(readStillImage(experiment(undefined)), /has no imageset/);
  });
});

describe("errors: the imageset, the detector and the files disagree", () => {
  test("a panel outside the raw image names the panel and the image", async () => {
    const src = await openImageSource(
      { type: "ImageSet", images: [fixture("deltas.cbf")] },
      detector(panel("ok", [40, 10]), panel("Panel7", [10, 10], [35, 0])),
    );
    try {
      await assert.rejects(
        src.read(0),
        (e: unknown) =>
          e instanceof PanelLayoutError &&
          e instanceof ImageFormatError &&
          e.panel === "Panel7" &&
          e.file === fixture("deltas.cbf") &&
          /fast 35\.\.45, slow 0\.\.10.* is outside the 40 x 30 raw image/.test(e.message),
      );
    } finally {
      src.close();
    }
    assert.throws(
      () =>
        splitPanels({ width: 4, height: 4, data: new Int32Array(16) }, [
          panel("n", [2, 2], [-1, 0]),
        ]),
      PanelLayoutError,
    );
  });

  test("image and frame indices out of range, missing files", async () => {
    const det = detector(panel("p", [32, 24]));
    const h5 = await openImageSource(
      { type: "ImageSet", images: [fixture("nxmx_stack.h5")], singleFileIndices: [10] },
      det,
    );
    await assert.rejects(
      h5.read(0),
      (e: unknown) => e instanceof FrameIndexError && e.frame === 10,
    );
    await assert.rejects(
      h5.read(1),
      (e: unknown) =>
        e instanceof FrameIndexError &&
        /image index 1 is out of range: the imageset has 1 image\b/.test(e.message),
    );
    h5.close();
    const missing = await openImageSource(
      { type: "ImageSet", images: ["/no/such/img_00001.cbf"] },
      det,
    );
    await assert.rejects(missing.read(0), ImageNotFoundError);
    missing.close();
    await assert.rejects(
      openImageSource(
        { type: "ImageSet", images: ["a.cbf", "b.cbf"], singleFileIndices: [0, 1, 2] },
        det,
      ),
      /2 images but 3 singleFileIndices/,
    );
    await assert.rejects(openImageSource({ type: "ImageSet" }, det), /names no images/);
  });
});
