/**
 * Space-group symbol lookup over the cctbx-generated table (space-group-table.ts): the 230
 * space-group types in their cctbx reference (default) setting, R groups on hexagonal axes.
 *
 * Accepted inputs:
 * - a number 1-230 (or a string of digits), and cctbx's "number:extension" ("129:1", "146:H");
 * - Hermann-Mauguin symbols of every setting cctbx tabulates, compared without whitespace,
 *   '_', '(' or ')' and case-insensitively ("P 21 21 21", "P212121", "P2_12_12_1",
 *   "p2(1)2(1)2(1)", "C 1 2 1", "R 3 :H", "R3", "P 4/n m m", "P 4/n m m :1"), plus the
 *   short/old spellings cctbx accepts ("C2", "P21/c", "C2/c", "Fm3m", "H3", ...). A symbol
 *   without ":1"/":2"/":H"/":R" means the setting cctbx picks for it (origin choice 2,
 *   hexagonal axes);
 * - Hall symbols of those settings (" P 2ac 2ab", "-P 2ac 2ab"), whitespace-insensitive;
 *   the prefix "Hall:" forces Hall interpretation (as in cctbx: "P 2" alone is the
 *   Hermann-Mauguin P 1 2 1, "Hall: P 2" is P 1 1 2).
 *
 * A non-reference setting is accepted only when its Laue operators (in its own axes) are
 * those of the reference setting: origin choices, orthorhombic axis permutations, b-unique
 * monoclinic cell choices (P 1 21/n 1, I 1 2 1, ...). Other settings (c- or a-unique
 * monoclinic, rhombohedral axes "R 3 :R") throw a SymmetryError asking to reindex.
 */
import { SymmetryError } from "./errors.js";
import { laueGroupByName, type LaueClassName, type LaueGroup } from "./laue.js";
import {
  CRYSTAL_SYSTEMS,
  EXTRA_ALIASES,
  EXTRA_HALL_ALIASES,
  LAUE_CLASS_NAMES,
  SETTING_DEFAULT_FOR_BARE_SYMBOL,
  SETTING_IS_REFERENCE,
  SETTING_SAME_CCTBX_ASU,
  SETTING_SAME_LAUE_OPS,
  SETTINGS,
  SPACE_GROUPS,
} from "./space-group-table.js";

export interface SpaceGroupSetting {
  /** Hermann-Mauguin symbol of the setting the input named, with ":ext" where cctbx has one. */
  hermannMauguin: string;
  /** Hall symbol of that setting (cctbx's, leading blank trimmed). */
  hall: string;
  /** The setting is the reference setting itself. */
  isReference: boolean;
  /**
   * cctbx's `map_to_asu` in this setting equals `mapToAsu` with the reference Laue group
   * (true for the reference setting and e.g. origin choices; false for settings such as
   * P 1 21/n 1 or P b c 21 whose cctbx ASU is the reference ASU transformed, i.e. differs on
   * boundaries or by sign). In both cases `laueGroup()` gives the correct operators.
   */
  sameAsuAsCctbx: boolean;
}

export interface SpaceGroupInfo {
  /** International Tables number, 1-230. */
  number: number;
  /** cctbx's lookup symbol of the reference setting, e.g. "P 1 21 1", "P 4/n m m :2", "R 3 :H". */
  hermannMauguin: string;
  /** Hall symbol of the reference setting, e.g. "P 2ac 2ab", "-P 4a 2a". */
  hall: string;
  /** Laue class, naming the reference ASU (-3m split into -3m1 / -31m as cctbx does). */
  laue: LaueClassName;
  /** Point group, cctbx spelling ("222", "4/mmm", "-3m1", "m-3m", ...). */
  pointGroup: string;
  /** "Triclinic", "Monoclinic", "Orthorhombic", "Tetragonal", "Trigonal", "Hexagonal", "Cubic". */
  crystalSystem: string;
  /** The setting the input symbol named (equals the reference for numbers). */
  setting: SpaceGroupSetting;
}

/** Hermann-Mauguin key: upper case, no whitespace, '_', '(' or ')'. Same as the Python script. */
function hmKey(s: string): string {
  return s.toUpperCase().replace(/[\s_()]/g, "");
}

/** Hall key: trimmed, whitespace runs collapsed to one blank, upper case. */
function hallKey(s: string): string {
  return s.trim().split(/\s+/).join(" ").toUpperCase();
}

let hmIndex: Map<string, number> | undefined;
let hallIndex: Map<string, number> | undefined;
const referenceSetting: number[] = [];

function buildIndex(): void {
  const hm = new Map<string, number>();
  const hall = new Map<string, number>();
  const put = (m: Map<string, number>, key: string, idx: number): void => {
    if (!m.has(key)) m.set(key, idx);
  };
  SETTINGS.forEach(([n, sym, hallSym, flags], idx) => {
    put(hm, hmKey(sym), idx);
    const colon = sym.indexOf(" :");
    if (colon >= 0 && flags & SETTING_DEFAULT_FOR_BARE_SYMBOL) {
      put(hm, hmKey(sym.slice(0, colon)), idx);
    }
    put(hall, hallKey(hallSym), idx);
    if (flags & SETTING_IS_REFERENCE && referenceSetting[n - 1] === undefined) {
      referenceSetting[n - 1] = idx;
    }
  });
  for (const [alias, idx] of EXTRA_ALIASES) put(hm, hmKey(alias), idx);
  for (const [alias, idx] of EXTRA_HALL_ALIASES) put(hall, hallKey(alias), idx);
  hmIndex = hm;
  hallIndex = hall;
}

/** Resolves a symbol or number to an index into SETTINGS; throws SymmetryError. */
function resolveSetting(spaceGroup: string | number): number {
  if (hmIndex === undefined || hallIndex === undefined) buildIndex();
  if (typeof spaceGroup === "number") {
    if (!Number.isInteger(spaceGroup) || spaceGroup < 1 || spaceGroup > 230) {
      throw new SymmetryError(
        `Unknown space group number ${spaceGroup} (expected an integer 1-230)`,
        String(spaceGroup),
      );
    }
    return referenceSetting[spaceGroup - 1]!;
  }
  if (typeof spaceGroup !== "string") {
    throw new SymmetryError(
      `Space group must be a number or a symbol string, got ${typeof spaceGroup}`,
    );
  }
  const text = spaceGroup.trim();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 230) return referenceSetting[n - 1]!;
  } else {
    const hallPrefix = /^hall\s*:/i.exec(text);
    if (hallPrefix) {
      const idx = hallIndex!.get(hallKey(text.slice(hallPrefix[0].length)));
      if (idx !== undefined) return idx;
    } else {
      const idx = hmIndex!.get(hmKey(text)) ?? hallIndex!.get(hallKey(text));
      if (idx !== undefined) return idx;
    }
  }
  throw new SymmetryError(
    `Unknown space group symbol "${spaceGroup}" (expected a number 1-230, a Hermann-Mauguin ` +
      `symbol such as "P 21 21 21" or "C2/c", or a Hall symbol such as "-P 2ac 2ab")`,
    spaceGroup,
  );
}

function checkSupported(idx: number, input: string | number): void {
  const [n, sym, , flags] = SETTINGS[idx]!;
  if (flags & SETTING_SAME_LAUE_OPS) return;
  const ref = SPACE_GROUPS[n - 1]![0];
  throw new SymmetryError(
    `Space group symbol "${input}" names the setting ${sym} of space group ${n}, whose Laue ` +
      `operators differ from those of the reference setting ${ref} (cctbx conventions: ` +
      `monoclinic unique axis b, rhombohedral groups on hexagonal axes); reindex the data ` +
      `to ${ref}`,
    String(input),
  );
}

/** Number, reference symbols, Laue class, point group and crystal system of a space group. */
export function spaceGroupInfo(spaceGroup: string | number): SpaceGroupInfo {
  const idx = resolveSetting(spaceGroup);
  checkSupported(idx, spaceGroup);
  const [n, sym, hallSym, flags] = SETTINGS[idx]!;
  const [hm, hall, laue, pointGroup, crystalSystem] = SPACE_GROUPS[n - 1]!;
  return {
    number: n,
    hermannMauguin: hm,
    hall,
    laue: LAUE_CLASS_NAMES[laue]!,
    pointGroup,
    crystalSystem: CRYSTAL_SYSTEMS[crystalSystem]!,
    setting: {
      hermannMauguin: sym,
      hall: hallSym,
      isReference: (flags & SETTING_IS_REFERENCE) !== 0,
      sameAsuAsCctbx: (flags & SETTING_SAME_CCTBX_ASU) !== 0,
    },
  };
}

/**
 * The Laue group (with inversion) of a space group, in the cctbx reference setting. Accepts
 * numbers, Hermann-Mauguin and Hall symbols (see module comment); throws SymmetryError.
 */
export function laueGroup(spaceGroup: string | number): LaueGroup {
  return laueGroupByName(spaceGroupInfo(spaceGroup).laue);
}
