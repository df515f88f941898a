// Open a file with StoreReader in a separate process (a writer may be live in the test's
// process, and one thread cannot be both) and print what it sees as one JSON line:
//   node reader_dump.mjs <file> [dataset...]
// -> {state, sequence, tree, attrs: {path: attrs}, datasets: {path: {info, data}}}
// or {error: {name, message, file, dataset}} when opening/reading fails.
// bigints are printed as "123n" strings, typed arrays as plain arrays.
import { StoreReader } from "../../../src/dist/index.js";

const plain = (v) => {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (ArrayBuffer.isView(v)) return Array.from(v, plain);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

const [file, ...datasets] = process.argv.slice(2);
let out;
try {
  const r = await StoreReader.open(file, { waitMs: 0 });
  try {
    const tree = r.tree();
    const attrs = { "/": r.attrs("/") };
    for (const n of tree) attrs[n.path] = r.attrs(n.path);
    const ds = {};
    for (const d of datasets.length
      ? datasets
      : tree.filter((n) => n.kind === "dataset").map((n) => n.path)) {
      const info = r.info(d);
      ds[d] = { info, data: r.read(d).data };
    }
    out = { state: r.state, sequence: r.sequence, tree, attrs, datasets: ds };
  } finally {
    r.close();
  }
} catch (e) {
  out = { error: { name: e?.name, message: e?.message, file: e?.file, dataset: e?.dataset } };
}
console.log(JSON.stringify(plain(out)));
