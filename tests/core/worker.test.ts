// Heavy store I/O on a worker thread: the calling thread's event loop keeps running, data
// arrives intact, and typed errors cross the thread boundary as their own classes.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  AsyncStoreReader,
  AsyncStoreWriter,
  SliceOutOfRangeError,
  StoreLockedError,
} from "../../src/index.js";

test("a writer and a reader on worker threads while the main loop stays responsive", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-worker-"));
  const file = path.join(dir, "w.h5");
  try {
    const w = await AsyncStoreWriter.create(file);
    await w.createDataset("/x", {
      dtype: "float32",
      shape: [0, 65536],
      chunks: [16, 65536],
      compression: { gzip: 6 },
    });
    await w.commit();
    const r = await AsyncStoreReader.open(file);

    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    const rows = 256; // 64 MiB of float32, gzip-6: seconds of synchronous HDF5 work
    for (let i = 0; i < rows; i += 32) {
      const block = new Float32Array(32 * 65536);
      for (let k = 0; k < 32; k++) block.fill(i + k, k * 65536, (k + 1) * 65536);
      await w.append("/x", block);
    }
    await w.commit();
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // The timer fired throughout: the loop was never blocked for the whole write.
    assert.ok(
      ticks >= Math.floor(elapsed / 5 / 4),
      `only ${ticks} ticks in ${elapsed.toFixed(0)} ms`,
    );

    assert.equal(await r.refresh(), true);
    const last = await r.read<"float32">("/x", [
      [-2, null],
      [0, 4],
    ]);
    assert.deepEqual(last.shape, [2, 4]);
    assert.deepEqual(Array.from(last.data), [254, 254, 254, 254, 255, 255, 255, 255]);

    await assert.rejects(r.read("/x", [rows + 5]), SliceOutOfRangeError);
    await assert.rejects(AsyncStoreWriter.create(file, { overwrite: true }), (e: unknown) => {
      assert.ok(e instanceof StoreLockedError);
      assert.equal(e.holder.pid, process.pid); // the holder crosses the thread as data
      return true;
    });

    await w.close();
    await r.refresh();
    assert.equal((await r.status()).state, "complete");
    await r.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
