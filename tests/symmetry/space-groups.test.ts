// Space-group table and symbol lookup. The table is generated from cctbx
// (src/symmetry/make_space_group_table.py); here it is checked against the International
// Tables number ranges (independent of cctbx) and every tabulated spelling is resolved.
// cctbx-live.test.ts re-checks the table row by row against cctbx itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import {
  SymmetryError,
  laueGroup,
  laueGroupByName,
  spaceGroupInfo,
  type LaueClassName,
} from "../../src/symmetry/index.js";
import {
  EXTRA_ALIASES,
  HALL_NEEDS_PREFIX,
  SETTINGS,
  SETTING_SAME_LAUE_OPS,
} from "../../src/symmetry/space-group-table.js";

function expectedLaue(n: number): LaueClassName {
  if (n <= 2) return "-1";
  if (n <= 15) return "2/m";
  if (n <= 74) return "mmm";
  if (n <= 88) return "4/m";
  if (n <= 142) return "4/mmm";
  if (n <= 148) return "-3";
  if (n <= 167) return [149, 151, 153, 157, 159, 162, 163].includes(n) ? "-31m" : "-3m1";
  if (n <= 176) return "6/m";
  if (n <= 194) return "6/mmm";
  if (n <= 206) return "m-3";
  return "m-3m";
}

function expectedSystem(n: number): string {
  if (n <= 2) return "Triclinic";
  if (n <= 15) return "Monoclinic";
  if (n <= 74) return "Orthorhombic";
  if (n <= 142) return "Tetragonal";
  if (n <= 167) return "Trigonal";
  if (n <= 194) return "Hexagonal";
  return "Cubic";
}

test("all 230 space groups: Laue class, crystal system, reference symbols round-trip", () => {
  for (let n = 1; n <= 230; n++) {
    const info = spaceGroupInfo(n);
    assert.equal(info.number, n);
    assert.equal(info.laue, expectedLaue(n), `laue of ${n} ${info.hermannMauguin}`);
    assert.equal(info.crystalSystem, expectedSystem(n), `system of ${n}`);
    assert.ok(info.setting.isReference && info.setting.sameAsuAsCctbx);
    assert.equal(info.setting.hermannMauguin, info.hermannMauguin);
    assert.equal(laueGroup(n), laueGroupByName(info.laue));
    // Reference symbols resolve to themselves.
    assert.equal(spaceGroupInfo(info.hermannMauguin).number, n);
    // A few Hall symbols read as another group's Hermann-Mauguin symbol ("P 4 2" = P42).
    if (!HALL_NEEDS_PREFIX.includes(info.hall)) assert.equal(spaceGroupInfo(info.hall).number, n);
    assert.equal(spaceGroupInfo(`Hall: ${info.hall}`).number, n);
    assert.equal(spaceGroupInfo(String(n)).number, n);
    assert.ok(info.pointGroup.length > 0);
  }
  // R groups on hexagonal axes; cctbx's default origin choice 2.
  assert.equal(spaceGroupInfo(146).hermannMauguin, "R 3 :H");
  assert.equal(spaceGroupInfo(129).hermannMauguin, "P 4/n m m :2");
  assert.equal(spaceGroupInfo(19).hall, "P 2ac 2ab");
  assert.equal(spaceGroupInfo(225).pointGroup, "m-3m");
});

test("spellings from the brief and common short symbols", () => {
  const cases: [string, number][] = [
    ["P 21 21 21", 19],
    ["P212121", 19],
    ["P2_12_12_1", 19],
    ["p2(1)2(1)2(1)", 19],
    ["C 1 2 1", 5],
    ["C2", 5],
    ["P21", 4],
    ["P2/c", 13],
    ["C2/c", 15],
    ["P21/c", 14],
    ["R 3 :H", 146],
    ["R3", 146],
    ["H3", 146],
    ["R-3m", 166],
    ["I41/a", 88],
    ["P 4/n m m", 129],
    ["P4/nmm:1", 129],
    ["129:1", 129],
    ["Fm-3m", 225],
    ["Fm3m", 225],
    ["Fd-3m", 227],
    ["Ia-3d", 230],
    ["P6_3/mmc", 194],
    ["P63/mmc", 194],
    ["P -1", 2],
    ["P 3 1 2", 149],
    ["P 3 2 1", 150],
    [" P 2ac 2ab", 19],
    ["-P 2ac 2ab", 61],
    ["hall:-p 2ac 2ab", 61],
    ['-R 3 2"', 166],
    ["  19 ", 19],
    ["P 2", 3], // Hermann-Mauguin first, as cctbx
  ];
  for (const [sym, n] of cases) assert.equal(spaceGroupInfo(sym).number, n, sym);
  assert.equal(laueGroup("P 3 1 2").name, "-31m");
  assert.equal(laueGroup("P 3 2 1").name, "-3m1");
  assert.equal(laueGroup("R 3 2").name, "-3m1");
  assert.equal(laueGroup("I41/a").name, "4/m");
});

test("accepted non-reference settings are flagged", () => {
  const p21n = spaceGroupInfo("P 21/n");
  assert.equal(p21n.number, 14);
  assert.equal(p21n.hermannMauguin, "P 1 21/c 1");
  assert.equal(p21n.setting.hermannMauguin, "P 1 21/n 1");
  assert.equal(p21n.setting.isReference, false);
  assert.equal(p21n.setting.sameAsuAsCctbx, false);
  const o1 = spaceGroupInfo("P 4/n m m :1");
  assert.equal(o1.setting.isReference, false);
  assert.equal(o1.setting.sameAsuAsCctbx, true);
  assert.equal(spaceGroupInfo("Pbnm").number, 62);
  assert.equal(laueGroup("I 1 2 1").name, "2/m");
});

test("unsupported settings and bad symbols throw SymmetryError naming the symbol", () => {
  for (const sym of ["P 1 1 21", "R 3 :R", "R -3 m :R", "Hall: P 2", "P 1 1 2", "B 1 1 2"]) {
    assert.throws(
      () => laueGroup(sym),
      (e: unknown) =>
        e instanceof SymmetryError &&
        e.message.includes(`"${sym}"`) &&
        e.message.includes("reindex") &&
        e.symbol === sym,
      sym,
    );
  }
  for (const bad of ["P 7", "X 1", "", "Q212121", "P 21 21 21 :3", "231", "0", "P 2ac 2ab 9"]) {
    assert.throws(
      () => spaceGroupInfo(bad),
      (e: unknown) =>
        e instanceof SymmetryError && e.name === "SymmetryError" && e.message.includes(`"${bad}"`),
      bad,
    );
    assert.throws(() => laueGroup(bad), SymmetryError, bad);
  }
  for (const bad of [0, 231, 1.5, NaN, -3]) {
    assert.throws(
      () => laueGroup(bad),
      (e: unknown) => e instanceof SymmetryError && e.message.includes(String(bad)),
    );
  }
  assert.throws(() => laueGroup({} as unknown as string), SymmetryError);
});

test("every tabulated setting and alias resolves (or is refused) consistently", () => {
  const hallPrefixed = new Set(HALL_NEEDS_PREFIX);
  for (const [n, hm, hall, flags] of SETTINGS) {
    const usable = (flags & SETTING_SAME_LAUE_OPS) !== 0;
    const spellings = [hm, `Hall: ${hall}`, hm.replace(/ /g, "").toLowerCase()];
    if (!hallPrefixed.has(hall)) spellings.push(hall);
    for (const s of spellings) {
      if (usable) {
        const info = spaceGroupInfo(s);
        assert.equal(info.number, n, s);
        assert.equal(laueGroup(s).name, expectedLaue(n), s);
      } else {
        assert.throws(() => spaceGroupInfo(s), SymmetryError, s);
      }
    }
  }
  for (const [alias, idx] of EXTRA_ALIASES) {
    const [n, , , flags] = SETTINGS[idx]!;
    if (flags & SETTING_SAME_LAUE_OPS) assert.equal(spaceGroupInfo(alias).number, n, alias);
    else assert.throws(() => spaceGroupInfo(alias), SymmetryError, alias);
  }
});

test("src/symmetry is browser-safe (no node: or Node built-in imports)", () => {
  const dir = fileURLToPath(new URL("../../src/symmetry/", import.meta.url));
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".ts"));
  assert.ok(files.includes("index.ts"));
  for (const f of files) {
    const text = fs.readFileSync(dir + f, "utf8");
    const imports = [...text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map(
      (m) => m[1]!,
    );
    for (const spec of imports) {
      assert.ok(spec.startsWith("./"), `${f} imports "${spec}"`);
    }
    assert.ok(!/\b(process|Buffer|require)\b[.(]/.test(text), `${f} uses a Node global`);
  }
});
