// Live cross-check with cctbx (Debian's /usr/bin/python3, fixtures/cctbx_live.py) on a FRESH
// random set every run (the seed is printed as a diagnostic; STAGELAB_SYMMETRY_SEED=<n>
// replays one):
//   * per Laue class 1e5 indices (half in [-6,6], half in [-200,200]) mapped with a randomly
//     chosen space group of the class, and every one of the 230 space groups on 2000 more:
//     mapToAsu must equal miller.map_to_asu(anomalous_flag=False) row for row;
//   * isInAsu == reciprocal_space_asu().is_inside on those 460000 rows;
//   * the 230-row table (number, lookup symbol, Hall, Laue class, point group, system);
//   * symmetryMates == cctbx's symmetry-equivalent indices incl. Friedel (multiplicity);
//   * every symbol we accept is read by cctbx as the same space group number.
// Skipped, saying why, when cctbx cannot be imported.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  LAUE_CLASS_NAMES,
  isInAsu,
  laueGroup,
  laueGroupByName,
  mapToAsu,
  spaceGroupInfo,
  symmetryMates,
} from "../../src/symmetry/index.js";
import {
  EXTRA_ALIASES,
  SETTINGS,
  SETTING_SAME_LAUE_OPS,
} from "../../src/symmetry/space-group-table.js";
import { diffRows, xorshift32Indices } from "./helpers.js";

const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";
const LIVE = fileURLToPath(new URL("./fixtures/cctbx_live.py", import.meta.url));
const PER_CLASS = 100_000;
const PER_GROUP = 2000;

function python(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [LIVE, ...args],
      { maxBuffer: 256 << 20, timeout: 600_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`cctbx_live.py ${args[0]} failed: ${err.message}\n${stderr}`));
        else resolve(stdout.trim().split("\n").at(-1)!);
      },
    );
  });
}

interface LiveResult {
  table: [number, string, string, string, string, string][];
  mates: [number, number[]][];
  symbols: [number | null, boolean][];
}

let skip: string | undefined;
let dir = "";
let seed = 0;
let hkl = new Int32Array(0);
let cctbxMapped = new Int32Array(0);
let cctbxInside = new Uint8Array(0);
let result: LiveResult | undefined;
let classGroup: number[] = [];
const segments: [number, number, number][] = [];
const mateQueries: [number, number, number, number][] = [];
const symbols: string[] = [];
let perGroupStart = 0;

before(async () => {
  try {
    await python(["probe"]);
  } catch (e) {
    skip = `cctbx not importable with ${PYTHON}: ${(e as Error).message.split("\n").slice(0, 2).join(" ")}`;
    return;
  }
  seed = Number(process.env["STAGELAB_SYMMETRY_SEED"] ?? crypto.randomInt(1, 2 ** 32 - 1));
  const byLaue = new Map<string, number[]>();
  for (let n = 1; n <= 230; n++) {
    const l = spaceGroupInfo(n).laue;
    byLaue.set(l, [...(byLaue.get(l) ?? []), n]);
  }
  // Draw with the same xorshift32 layout as the fixture, one stream per block.
  const blocks: Int32Array[] = [];
  let row = 0;
  let s = seed;
  const nextSeed = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0 || 1);
  classGroup = LAUE_CLASS_NAMES.map((name) => {
    const list = byLaue.get(name)!;
    return list[nextSeed() % list.length]!;
  });
  for (const n of classGroup) {
    blocks.push(xorshift32Indices(nextSeed(), PER_CLASS));
    segments.push([n, row, PER_CLASS]);
    row += PER_CLASS;
  }
  perGroupStart = row;
  for (let n = 1; n <= 230; n++) {
    blocks.push(xorshift32Indices(nextSeed(), PER_GROUP));
    segments.push([n, row, PER_GROUP]);
    row += PER_GROUP;
  }
  hkl = new Int32Array(3 * row);
  let off = 0;
  for (const b of blocks) {
    hkl.set(b, off);
    off += b.length;
  }
  const small = xorshift32Indices(nextSeed(), 40);
  for (let n = 1; n <= 230; n++) {
    for (let q = 0; q < 6; q++) {
      const r = 3 * ((n * 7 + q) % 40);
      mateQueries.push([n, small[r]!, small[r + 1]!, small[r + 2]!]);
    }
  }
  for (const [, hm, hall] of SETTINGS) symbols.push(hm, `Hall: ${hall}`);
  for (const [alias] of EXTRA_ALIASES) symbols.push(alias);
  symbols.push("P212121", "P2_12_12_1", "R3", "I41/a", "P 4/n m m", "Fm3m", "P6_3/mmc");

  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-symmetry-"));
  const inPath = path.join(dir, "in.bin");
  const outPath = path.join(dir, "out.bin");
  fs.writeFileSync(inPath, new Uint8Array(hkl.buffer));
  const req = {
    in: inPath,
    out: outPath,
    segments,
    insideSegments: segments.slice(LAUE_CLASS_NAMES.length),
    mates: mateQueries,
    symbols,
  };
  fs.writeFileSync(path.join(dir, "req.json"), JSON.stringify(req));
  result = JSON.parse(await python(["run", path.join(dir, "req.json")])) as LiveResult;
  const buf = fs.readFileSync(outPath);
  cctbxMapped = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  cctbxInside = new Uint8Array(fs.readFileSync(outPath + ".inside"));
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("live: mapToAsu == cctbx map_to_asu, 1e5 fresh indices per Laue class", (t) => {
  if (skip) return t.skip(skip);
  t.diagnostic(`seed ${seed} (replay: STAGELAB_SYMMETRY_SEED=${seed})`);
  for (let c = 0; c < LAUE_CLASS_NAMES.length; c++) {
    const [n, start, count] = segments[c]!;
    const g = laueGroup(n);
    assert.equal(g.name, LAUE_CLASS_NAMES[c]);
    const src = hkl.subarray(3 * start, 3 * (start + count));
    const ours = mapToAsu(g, src, new Int32Array(src.length));
    const want = cctbxMapped.subarray(3 * start, 3 * (start + count));
    const d = diffRows(src, ours, want, `${g.name} (space group ${n}, seed ${seed})`);
    assert.equal(d, undefined, d);
  }
  t.diagnostic(`space groups used: ${classGroup.join(", ")}`);
});

test("live: mapToAsu and isInAsu == cctbx for every one of the 230 space groups", (t) => {
  if (skip) return t.skip(skip);
  for (const [n, start, count] of segments.slice(LAUE_CLASS_NAMES.length)) {
    const g = laueGroup(n);
    const src = hkl.subarray(3 * start, 3 * (start + count));
    const ours = mapToAsu(g, src, new Int32Array(src.length));
    const want = cctbxMapped.subarray(3 * start, 3 * (start + count));
    const d = diffRows(src, ours, want, `space group ${n} (seed ${seed})`);
    assert.equal(d, undefined, d);
    for (let r = 0; r < count; r++) {
      const i = 3 * r;
      const inside = isInAsu(g, src[i]!, src[i + 1]!, src[i + 2]!);
      assert.equal(
        inside ? 1 : 0,
        cctbxInside[start + r],
        `is_inside space group ${n} (${src[i]},${src[i + 1]},${src[i + 2]})`,
      );
    }
  }
  assert.ok(perGroupStart > 0);
});

test("live: 230-row table == cctbx (symbols, Laue class, point group, system)", (t) => {
  if (skip) return t.skip(skip);
  for (const [n, hm, hall, laue, pg, cs] of result!.table) {
    const info = spaceGroupInfo(n);
    assert.deepEqual(
      [info.number, info.hermannMauguin, info.hall, info.laue, info.pointGroup, info.crystalSystem],
      [n, hm, hall, laue, pg, cs],
    );
  }
});

test("live: symmetryMates == cctbx equivalent indices (with Friedel mates)", (t) => {
  if (skip) return t.skip(skip);
  mateQueries.forEach(([n, h, k, l], q) => {
    const [mult, flat] = result!.mates[q]!;
    const ours = symmetryMates(laueGroup(n), h, k, l);
    assert.equal(ours.length / 3, mult, `multiplicity ${n} (${h},${k},${l})`);
    const rows: number[][] = [];
    for (let i = 0; i < ours.length; i += 3) rows.push([ours[i]!, ours[i + 1]!, ours[i + 2]!]);
    rows.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!);
    assert.deepEqual(rows.flat(), flat, `mates ${n} (${h},${k},${l})`);
  });
});

test("live: every symbol we accept names the same space group in cctbx", (t) => {
  if (skip) return t.skip(skip);
  symbols.forEach((sym, q) => {
    const [n] = result!.symbols[q]!;
    assert.notEqual(n, null, `cctbx does not read ${sym}`);
    let ours: number | undefined;
    try {
      ours = spaceGroupInfo(sym).number;
    } catch {
      ours = undefined;
    }
    if (ours !== undefined) assert.equal(ours, n, sym);
  });
  // Refused ones are exactly the settings with other Laue operators.
  for (const [, hm, , flags] of SETTINGS) {
    const ok = (flags & SETTING_SAME_LAUE_OPS) !== 0;
    assert.equal(
      (() => {
        try {
          laueGroupByName(spaceGroupInfo(hm).laue);
          return true;
        } catch {
          return false;
        }
      })(),
      ok,
      hm,
    );
  }
});
