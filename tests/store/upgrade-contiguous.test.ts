// `upgradeFormat` rewrites an h5py (pre-1.10) file through rebuildFromCommitted. h5py's default
// layout is contiguous, which cannot be resized: such datasets must be copied at full size,
// keeping their layout, dtype, bytes and attributes exactly as h5py wrote them.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { StoreWriter } from "../../src/index.js";
import { PYTHON, makeTempDir, run } from "./helpers/common.js";

const MAKE = `
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:  # default libver, default (contiguous) layout
    f.attrs["origin"] = "h5py"
    f.attrs["n"] = np.int32(7)
    f.attrs["big"] = np.int64(-2**40)
    f.attrs["scale"] = 0.5
    f.attrs["vec"] = np.arange(4, dtype="<i2")
    f.attrs["z"] = np.complex128(1 + 2j)
    f.create_dataset("f8", data=np.arange(12, dtype="<f8").reshape(4, 3))
    f.create_dataset("f4", data=np.linspace(0, 1, 7, dtype="<f4"))
    f.create_dataset("i4", data=np.arange(-5, 5, dtype="<i4"))
    f.create_dataset("u1", data=np.arange(250, 256, dtype="u1"))
    f.create_dataset("i8", data=np.array([2**40, -3], dtype="<i8"))
    f.create_dataset("u2", data=np.arange(3, dtype="<u2").reshape(3, 1, 1))
    f.create_dataset("c16", data=np.array([1 + 2j, -3.5 - 4j], dtype="<c16"))
    f.create_dataset("c8", data=np.array([[1 + 2j], [5 - 1j]], dtype="<c8"))
    f.create_dataset("scalar", data=np.float64(3.25))
    f.create_dataset("empty", shape=(0, 4), dtype="<f4")
    f.create_dataset("chunked", data=np.arange(10, dtype="<f8"), chunks=(4,), maxshape=(None,))
    g = f.create_group("grp/sub")
    g.attrs["label"] = "inner"
    d = g.create_dataset("data", data=np.arange(6, dtype="<i2").reshape(2, 3))
    d.attrs["units"] = "nm"
    d.attrs["pixel"] = np.array([0.1, 0.2])
    d.attrs["count"] = np.uint16(9)
    f["grp"].attrs["count"] = np.int64(3)
`;

// Every object with its dtype, shape, layout, data hash and attributes (type, shape, bytes).
const DUMP = `
import sys, json, hashlib, h5py, numpy as np
def attrs(o):
    out = {}
    for k in o.attrs:
        a = o.attrs.get_id(k)
        v = o.attrs[k]
        raw = str(v) if isinstance(v, (str, bytes)) else np.asarray(v).tobytes().hex()
        out[k] = [str(a.dtype), list(a.shape), raw]
    return out
res = {}
def visit(name, o):
    if isinstance(o, h5py.Dataset):
        res[name] = {
            "dtype": o.dtype.str, "shape": list(o.shape), "chunks": o.chunks,
            "layout": o.id.get_create_plist().get_layout(),
            "data": hashlib.sha256(o[()].tobytes()).hexdigest(), "attrs": attrs(o),
        }
    else:
        res[name] = {"group": True, "attrs": attrs(o)}
with h5py.File(sys.argv[1], "r") as f:
    res["/"] = {"attrs": attrs(f)}
    f.visititems(visit)
    if "added" in f:
        res["added_values"] = f["added"][()].tolist()
print(json.dumps(res))
`;

type Dump = Record<string, unknown>;

async function dump(file: string): Promise<Dump> {
  const out = await run(PYTHON, ["-c", DUMP, file]);
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout) as Dump;
}

const hasH5py = async () => (await run(PYTHON, ["-c", "import h5py"])).code === 0;

test("upgradeFormat copies contiguous h5py datasets exactly", async (t) => {
  if (!(await hasH5py())) {
    t.skip(`h5py is not available to ${PYTHON}`);
    return;
  }
  const { dir, cleanup } = makeTempDir("upgrade-contiguous");
  try {
    const file = path.join(dir, "h5py.h5");
    const made = await run(PYTHON, ["-c", MAKE, file]);
    assert.equal(made.code, 0, made.stderr);
    const before = await dump(file);
    const contiguous = Object.entries(before).filter(
      ([, v]) => (v as { layout?: number }).layout === 1,
    );
    assert.ok(contiguous.length >= 10, "the fixture has contiguous datasets");

    const w = await StoreWriter.open(file, { upgradeFormat: true });
    assert.deepEqual(w.recovered?.skipped, []);
    w.createDataset("/added", { dtype: "float64", shape: [0, 2] }).append(
      new Float64Array([1, 2, 3, 4]),
    );
    w.close();

    const after = await dump(file);
    for (const [name, entry] of Object.entries(before)) {
      assert.deepEqual(after[name], entry, `${name} is unchanged`);
    }
    assert.deepEqual(after["added_values"], [
      [1, 2],
      [3, 4],
    ]);
    const extra = Object.keys(after).filter((k) => !(k in before));
    assert.deepEqual(extra.filter((k) => !k.startsWith("_stagelab")).sort(), [
      "added",
      "added_values",
    ]);
  } finally {
    cleanup();
  }
});
