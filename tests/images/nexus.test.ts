// HDF5/NeXus image stacks written by h5py: NXmx /entry/data/data (plain and gzip), Eiger
// master files with external links to data files (opened lazily, a missing one named), a
// virtual dataset, any dataset by path, and typed errors.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  openNexusStack,
  FrameIndexError,
  ImageFormatError,
  ImageNotFoundError,
} from "../../src/images/index.js";
import { StoreWriter } from "../../src/store/index.js";
import {
  expectedF32,
  expectedI32,
  expectedU32,
  firstDifference,
  fixture,
  tempDir,
} from "./helpers/fixtures.js";

const frameOf = <T extends { subarray(a: number, b: number): T }>(all: T, i: number, n: number) =>
  all.subarray(i * n, (i + 1) * n);

describe("NXmx stacks", () => {
  test("int32 [frame, slow, fast] with count_time", async () => {
    const s = await openNexusStack(fixture("nxmx_stack.h5"));
    try {
      assert.deepEqual([s.frameCount, s.height, s.width, s.dtype], [4, 24, 32, "int32"]);
      assert.equal(s.exposureTimeS, 0.1);
      assert.equal(s.frameExposureTimeS(3), 0.1);
      const all = expectedI32("nxmx_stack.i32");
      for (let i = 0; i < 4; i++) {
        const f = s.readFrame(i);
        assert.ok(f instanceof Int32Array);
        assert.equal(firstDifference(f, frameOf(all, i, 24 * 32)), -1, `frame ${i}`);
      }
      const out = new Int32Array(24 * 32);
      s.readFrameInto(2, out);
      assert.equal(out[7 * 32 + 7], -2);
      assert.throws(() => s.readFrameInto(0, new Float32Array(24 * 32)), RangeError);
    } finally {
      s.close();
    }
  });

  test("gzip float32 keeps NaN and -inf; count_time per frame in ms", async () => {
    const s = await openNexusStack(fixture("nxmx_gzip.h5"));
    try {
      assert.deepEqual([s.frameCount, s.dtype], [3, "float32"]);
      assert.deepEqual(
        [0, 1, 2].map((i) => s.frameExposureTimeS(i)),
        [0.1, 0.2, 0.3],
      );
      const all = expectedF32("nxmx_gzip.f32");
      for (let i = 0; i < 3; i++) {
        assert.equal(firstDifference(s.readFrame(i), frameOf(all, i, 24 * 32)), -1, `frame ${i}`);
      }
      assert.ok(Number.isNaN(s.readFrame(0)[3 * 32 + 4]));
      assert.equal(s.readFrame(2)[10 * 32 + 10], -Infinity);
    } finally {
      s.close();
    }
  });

  test("datasetPath picks any 3-D dataset", async () => {
    const s = await openNexusStack(fixture("nxmx_gzip.h5"), { datasetPath: "/processed/frames" });
    try {
      assert.equal(s.frameCount, 2);
      assert.equal(
        firstDifference(s.readFrame(1), frameOf(expectedF32("nxmx_gzip.f32"), 1, 768)),
        -1,
      );
    } finally {
      s.close();
    }
    await assert.rejects(
      openNexusStack(fixture("nxmx_gzip.h5"), { datasetPath: "/processed/nope" }),
      (e: unknown) =>
        e instanceof ImageFormatError && /no dataset \/processed\/nope/.test(e.message),
    );
  });

  test("frame index out of range is a FrameIndexError naming the frame", async () => {
    const s = await openNexusStack(fixture("nxmx_stack.h5"));
    try {
      for (const bad of [4, -1, 1.5]) {
        assert.throws(
          () => s.readFrame(bad),
          (e: unknown) =>
            e instanceof FrameIndexError &&
            e.frame === bad &&
            e.file === fixture("nxmx_stack.h5") &&
            /out of range: the file has 4 frames/.test(e.message),
        );
      }
    } finally {
      s.close();
    }
    assert.throws(() => s.readFrame(0), /closed/);
  });
});

describe("Eiger master files and external links", () => {
  test("data_000001.. are followed to their files and concatenated", async () => {
    const s = await openNexusStack(fixture("eiger_master.h5"));
    try {
      assert.deepEqual([s.frameCount, s.height, s.width, s.dtype], [5, 20, 24, "uint32"]);
      assert.equal(s.exposureTimeS, 0.05);
      assert.deepEqual(
        s.segments.map((g) => [path.basename(g.file), g.dataset, g.frames]),
        [
          ["eiger_data_000001.h5", "/entry/data/data", 3],
          ["eiger_data_000002.h5", "/entry/data/data", 2],
        ],
      );
      const all = expectedU32("eiger.u32");
      for (let i = 0; i < 5; i++) {
        assert.equal(firstDifference(s.readFrame(i), frameOf(all, i, 480)), -1, `frame ${i}`);
      }
      assert.equal(s.readFrame(0)[9 * 24], 0xffffffff); // masked pixels stay raw
    } finally {
      s.close();
    }
  });

  test("a missing data file is named, and only when its frames are needed", async () => {
    const s = await openNexusStack(fixture("eiger_broken_master.h5"));
    try {
      assert.equal(firstDifference(s.readFrame(2), frameOf(expectedU32("eiger.u32"), 2, 480)), -1);
      const missing = (e: unknown) =>
        e instanceof ImageNotFoundError &&
        /data_000002 is an external link to eiger_data_000099\.h5:\/entry\/data\/data, and that file is missing/.test(
          e.message,
        );
      assert.throws(() => s.readFrame(3), missing);
      assert.throws(() => s.frameCount, missing);
    } finally {
      s.close();
    }
  });

  test("a virtual dataset over the data files reads the same frames", async () => {
    const s = await openNexusStack(fixture("vds_master.h5"));
    try {
      assert.equal(s.frameCount, 5);
      assert.equal(s.exposureTimeS, undefined);
      const all = expectedU32("eiger.u32");
      for (const i of [0, 3, 4])
        assert.equal(firstDifference(s.readFrame(i), frameOf(all, i, 480)), -1);
    } finally {
      s.close();
    }
  });

  test("a virtual dataset with a missing source file is refused, not read as fill values", async () => {
    const { dir, cleanup } = tempDir("vds");
    try {
      fs.copyFileSync(fixture("vds_master.h5"), path.join(dir, "vds_master.h5"));
      fs.copyFileSync(fixture("eiger_data_000001.h5"), path.join(dir, "eiger_data_000001.h5"));
      await assert.rejects(
        openNexusStack(path.join(dir, "vds_master.h5")),
        (e: unknown) =>
          e instanceof ImageNotFoundError &&
          /virtual dataset whose source file is missing .*: eiger_data_000002\.h5$/.test(e.message),
      );
    } finally {
      cleanup();
    }
  });
});

describe("errors", () => {
  test("missing file, not HDF5, no image dataset, wrong rank", async () => {
    await assert.rejects(openNexusStack("/no/such/file.h5"), ImageNotFoundError);
    await assert.rejects(
      openNexusStack(fixture("deltas.cbf")),
      (e: unknown) =>
        e instanceof ImageFormatError && /cannot open as HDF5: not an HDF5 file/.test(e.message),
    );
    const { dir, cleanup } = tempDir("nexus");
    try {
      // A file of our own store (SWMR format) with frames where NeXus would not look.
      const file = path.join(dir, "ours.h5");
      const w = await StoreWriter.create(file);
      w.createDataset("/scan/frames", { dtype: "uint16", shape: [0, 4, 5] }).append(
        new Uint16Array(40).map((_, i) => i),
      );
      w.createDataset("/scan/line", { dtype: "float64", shape: [0] }).append(new Float64Array(3));
      w.close();
      await assert.rejects(
        openNexusStack(file),
        (e: unknown) =>
          e instanceof ImageFormatError &&
          /no image dataset: .*pass datasetPath \(2-D\/3-D datasets here: \/scan\/frames\)/.test(
            e.message,
          ),
      );
      await assert.rejects(
        openNexusStack(file, { datasetPath: "/scan/line" }),
        /has shape \[3\]: expected \[frame, slow, fast\] or \[slow, fast\]/,
      );
      const s = await openNexusStack(file, { datasetPath: "/scan/frames" });
      assert.deepEqual([s.frameCount, s.dtype], [2, "uint16"]);
      assert.deepEqual([...s.readFrame(1)].slice(0, 3), [20, 21, 22]);
      s.close();
    } finally {
      cleanup();
    }
  });
});
