// Two readers of one file in the kernel's shared store thread: HDF5 shares a file's state
// between the handles of one library instance, so the second reader saw the file as it was
// when the first opened it. Now the second gets a thread of its own and sees what a writer
// committed since (the fit dashboard opened while the prefit snapshot still had the file open).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AsyncStoreReader, AsyncStoreWriter, StoreWriter } from "../../src/index.js";

test("a second reader of a file open in the shared thread sees datasets committed since; the first refreshes", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-sharedthread-"));
  try {
    const file = path.join(dir, "f.h5");
    const w0 = await StoreWriter.create(file);
    w0.createDataset("/a", { dtype: "float64", shape: [0], chunks: [4] });
    w0.close();
    const first = await AsyncStoreReader.open(file);
    const w = await AsyncStoreWriter.open(file);
    await w.createDataset("/b", { dtype: "float64", shape: [0], chunks: [4] });
    await w.append("/b", Float64Array.of(1, 2, 3));
    await w.commit();
    const second = await AsyncStoreReader.open(file);
    try {
      const names = (await second.tree("/")).map((n) => n.path);
      assert.ok(names.includes("/b"), `second reader sees ${names.join(", ")}`);
      assert.deepEqual(Array.from((await second.read<"float64">("/b")).data), [1, 2, 3]);
      assert.equal(await first.refresh(), true);
      assert.ok((await first.tree("/")).some((n) => n.path === "/b"));
    } finally {
      await second.close();
      await first.close();
      await w.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
