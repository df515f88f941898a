#!/usr/bin/python3
"""Generate src/symmetry/space-group-table.ts from cctbx (run with Debian's /usr/bin/python3).

    /usr/bin/python3 src/symmetry/make_space_group_table.py
    npx prettier --write src/symmetry/space-group-table.ts

What is written (all derived from cctbx.sgtbx, nothing typed by hand):

* LAUE_OPS: for each of the 12 reciprocal-space ASU classes of cctbx
  (-1, 2/m, mmm, 4/m, 4/mmm, -3, -31m, -3m1, 6/m, 6/mmm, m-3, m-3m) the distinct
  rotation parts R (row-major, 9 ints) of a centrosymmetric reference-setting group
  of that class, i.e. the Laue group including the inversion. cctbx applies them to
  Miller indices as a row vector times R: h' = h . R. Checked: every one of the 230
  reference-setting groups has, with -1 added, exactly this rotation set.
* SPACE_GROUPS[n - 1]: lookup (reference) Hermann-Mauguin symbol, Hall symbol, Laue
  class (the -3m class split into -31m / -3m1 by cctbx's reference ASU), point group,
  crystal system.
* SETTINGS: every setting cctbx tabulates (space_group_symbol_iterator: 530), with flags
    1  the setting IS the reference setting (identical group)
    2  same Laue rotation set as the reference (origin choices, orthorhombic axis
       permutations, monoclinic b-unique cell choices): the reference LaueGroup is
       correct for indices in that setting
    4  cctbx's map_to_asu in that setting equals the reference-setting map_to_asu
       (checked on a box and random indices)
    8  the symbol without its ":1"/":2"/":H"/":R" extension resolves to this setting
* EXTRA_ALIASES: further symbols cctbx accepts (short monoclinic "P21/c", old cubic
  "Fm3m", "H3", "129:1", ...), each verified by parsing it with cctbx.
* EXTRA_HALL_ALIASES: reference Hall symbols as space_group_type.hall_symbol() spells them
  when that differs from the tabulated spelling (e.g. 151 "P 31 2 (x,y,z+1/3)").

The TS side normalises symbols exactly as hm_key / hall_key below; this script fails if
two different groups would share a key.
"""

import os
import random
import subprocess
import sys

from cctbx import miller, sgtbx
from cctbx.array_family import flex

try:
    from libtbx.version import get_version

    CCTBX_VERSION = get_version()
except Exception:  # pragma: no cover
    CCTBX_VERSION = "unknown"

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "space-group-table.ts")

LAUE_NAMES = ["-1", "2/m", "mmm", "4/m", "4/mmm", "-3", "-3m1", "-31m", "6/m", "6/mmm", "m-3", "m-3m"]
# cctbx reference ASU strings (reference_asu::as_string) -> our Laue class names. The two
# -3m orientations: P -3 1 m (2-fold axes along [1-10], P312 family) keeps l>=0 on k==0,
# P -3 m 1 (2-fold axes along a, P321 family and all R groups) keeps l>=0 on h==k.
ASU_STRING_TO_LAUE = {
    "l>0 or (l==0 and (h>0 or (h==0 and k>=0)))": "-1",
    "k>=0 and (l>0 or (l==0 and h>=0))": "2/m",
    "h>=0 and k>=0 and l>=0": "mmm",
    "l>=0 and ((h>=0 and k>0) or (h==0 and k==0))": None,  # 4/m or 6/m: by laue_group_type
    "h>=k and k>=0 and l>=0": None,  # 4/mmm or 6/mmm
    "(h>=0 and k>0) or (h==0 and k==0 and l>=0)": "-3",
    "h>=k and k>=0 and (k>0 or l>=0)": "-31m",
    "h>=k and k>=0 and (h>k or l>=0)": "-3m1",
    "h>=0 and ((l>=h and k>h) or (l==h and k==h))": "m-3",
    "k>=l and l>=h and h>=0": "m-3m",
}
CRYSTAL_SYSTEMS = [
    "Triclinic",
    "Monoclinic",
    "Orthorhombic",
    "Tetragonal",
    "Trigonal",
    "Hexagonal",
    "Cubic",
]


def hm_key(s):
    """Hermann-Mauguin lookup key: upper case, no whitespace, '_', '(' or ')'."""
    return "".join(c for c in s.upper() if not c.isspace() and c not in "_()")


def hall_key(s):
    """Hall lookup key: trimmed, inner whitespace runs collapsed to one space, upper case."""
    return " ".join(s.split()).upper()


def laue_name(info):
    s = info.reciprocal_space_asu().reference_as_string()
    name = ASU_STRING_TO_LAUE[s]
    if name is None:
        name = str(info.group().laue_group_type())
    assert name in LAUE_NAMES, (info, name)
    return name


def rot_set(group):
    """Distinct integer rotation parts of group, with -1 added (the Laue group)."""
    out = set()
    for op in group.all_ops():
        r = op.r()
        assert r.den() == 1
        m = tuple(r.num())
        out.add(m)
        out.add(tuple(-x for x in m))
    return out


def sort_ops(ops):
    ident = (1, 0, 0, 0, 1, 0, 0, 0, 1)
    rest = sorted((o for o in ops if o != ident), key=lambda o: tuple(-x for x in o))
    return [ident] + rest


# Indices on which settings' map_to_asu are compared with the reference one.
def test_indices():
    rng = random.Random(12345)
    hs = [(h, k, l) for h in range(-6, 7) for k in range(-6, 7) for l in range(-6, 7)]
    hs += [tuple(rng.randint(-60, 60) for _ in range(3)) for _ in range(20000)]
    return flex.miller_index(hs)


TEST_H = test_indices()


def mapped(sg_type):
    h = TEST_H.deep_copy()
    miller.map_to_asu(sg_type, False, h)
    return list(h)


def main():
    ref_info = [sgtbx.space_group_info(number=n) for n in range(1, 231)]
    ref_group = [i.group() for i in ref_info]

    # Laue operator sets, one per class, and the check that each group has exactly it.
    laue_ops = {}
    sg_rows = []
    for n in range(1, 231):
        info = ref_info[n - 1]
        t = info.type()
        g = info.group()
        assert t.number() == n
        assert info.reciprocal_space_asu().is_reference()
        name = laue_name(info)
        ops = rot_set(g)
        if name in laue_ops:
            assert laue_ops[name] == ops, (n, name)
        else:
            laue_ops[name] = ops
        pg = str(g.point_group_type())
        cs = str(g.crystal_system())
        assert cs in CRYSTAL_SYSTEMS, cs
        sg_rows.append((t.lookup_symbol(), t.hall_symbol().strip(), name, pg, cs))
    assert sorted(laue_ops) == sorted(LAUE_NAMES)
    for name, ops in laue_ops.items():
        assert len(ops) == {"-1": 2, "2/m": 4, "mmm": 8, "4/m": 8, "4/mmm": 16, "-3": 6,
                            "-3m1": 12, "-31m": 12, "6/m": 12, "6/mmm": 24, "m-3": 24,
                            "m-3m": 48}[name]

    # Convention check: sym_equiv_indices of cctbx == {h . R} for our operator lists.
    rnd = random.Random(7)
    for n in range(1, 231):
        ops = laue_ops[sg_rows[n - 1][2]]
        for _ in range(20):
            h = tuple(rnd.randint(-9, 9) for _ in range(3))
            ours = {tuple(sum(h[i] * o[3 * i + j] for i in range(3)) for j in range(3)) for o in ops}
            se = miller.sym_equiv_indices(ref_group[n - 1], h)
            theirs = {se(j).h() for j in range(se.multiplicity(False))}
            assert ours == theirs, (n, h, ours, theirs)

    ref_maps = {}

    def ref_map(n):
        if n not in ref_maps:
            ref_maps[n] = mapped(ref_info[n - 1].type())
        return ref_maps[n]

    # All tabulated settings.
    settings = []
    for s in sgtbx.space_group_symbol_iterator():
        n = s.number()
        ext = s.extension()
        ext = "" if ext == "\x00" else ext
        hm = s.hermann_mauguin() + (" :" + ext if ext else "")
        hall = s.hall().strip()
        info = sgtbx.space_group_info(symbol="Hall: " + s.hall())
        g = info.group()
        assert info.type().number() == n
        flags = 0
        if g == ref_group[n - 1]:
            flags |= 1
        if rot_set(g) == laue_ops[sg_rows[n - 1][2]]:
            flags |= 2
            if mapped(info.type()) == ref_map(n):
                flags |= 4
        elif flags & 1:
            raise AssertionError(hm)
        # Which setting does cctbx pick for the symbol without extension?
        if ext:
            if sgtbx.space_group_info(s.hermann_mauguin()).group() == g:
                flags |= 8
        # Consistency: the symbol parses to this group.
        assert sgtbx.space_group_info(hm).group() == g, hm
        settings.append([n, hm, hall, flags, g])
    assert len(settings) == 530
    for n in range(1, 231):
        refs = [st for st in settings if st[0] == n and st[3] & 1]
        assert refs, n

    # Extra aliases accepted by cctbx.
    def group_of(sym):
        try:
            return sgtbx.space_group_info(sym).group()
        except RuntimeError:
            return None

    extra = []  # (alias, setting index)
    for idx, (n, hm, hall, flags, g) in enumerate(settings):
        base = hm.split(" :")[0]
        ext = hm.split(" :")[1] if " :" in hm else ""
        cands = set()
        toks = base.split()
        # Monoclinic short symbols: drop the '1' positions ("P 1 21/c 1" -> "P 21/c").
        if len(toks) == 4 and toks.count("1") == 2:
            short = " ".join([toks[0]] + [t for t in toks[1:] if t != "1"])
            cands.add(short)
        # Old cubic notation without the bar on 3 ("F m -3 m" -> "F m 3 m").
        if 195 <= n <= 230:
            cands.add(base.replace("-3", "3"))
            if ext:
                cands.add(base.replace("-3", "3") + " :" + ext)
        # 'H' lattice letter for R groups in hexagonal axes ("H 3" = "R 3 :H").
        if ext == "H":
            cands.add("H" + base[1:])
        # "number:extension" as cctbx accepts it ("129:1", "146:R").
        if ext:
            cands.add("%d:%s" % (n, ext))
        for c in sorted(cands):
            gc = group_of(c)
            if gc is not None and gc == g:
                extra.append((c, idx))

    # Build the key maps exactly as the TS side does and check they are unambiguous.
    hm_map = {}
    hall_map = {}

    def put(m, key, idx, what):
        if key in m:
            j = m[key]
            if settings[j][4] != settings[idx][4]:
                raise AssertionError("ambiguous %s key %r: %s vs %s" % (what, key, settings[j][1], settings[idx][1]))
            return
        m[key] = idx

    for idx, (n, hm, hall, flags, g) in enumerate(settings):
        put(hm_map, hm_key(hm), idx, "HM")
        if " :" in hm and flags & 8:
            put(hm_map, hm_key(hm.split(" :")[0]), idx, "HM")
    # Symbols without extension for settings that have one must not stay unreachable.
    for idx, (n, hm, hall, flags, g) in enumerate(settings):
        if " :" in hm:
            assert hm_key(hm.split(" :")[0]) in hm_map, hm
    for alias, idx in extra:
        put(hm_map, hm_key(alias), idx, "HM")
    for idx, (n, hm, hall, flags, g) in enumerate(settings):
        put(hall_map, hall_key(hall), idx, "Hall")
    # space_group_type.hall_symbol() of the reference setting may be spelled differently from
    # the tabulated one (151: "P 31 2 (x,y,z+1/3)" vs "P 31 2c (0 0 1)"): accept it too.
    extra_hall = []
    for n in range(1, 231):
        hall = sg_rows[n - 1][1]
        if hall_key(hall) not in hall_map:
            idx = next(i for i, st in enumerate(settings) if st[0] == n and st[3] & 1)
            assert sgtbx.space_group_info(symbol="Hall: " + hall).group() == settings[idx][4]
            extra_hall.append((hall, idx))
            put(hall_map, hall_key(hall), idx, "Hall")
    # Hall symbols whose HM key names a different group need the "Hall:" prefix.
    hall_needs_prefix = []
    for idx, (n, hm, hall, flags, g) in enumerate(settings):
        k = hm_key(hall)
        if k in hm_map and settings[hm_map[k]][4] != g:
            hall_needs_prefix.append(hall)
    for hall, idx in extra_hall:
        k = hm_key(hall)
        if k in hm_map and settings[hm_map[k]][4] != settings[idx][4]:
            hall_needs_prefix.append(hall)

    # Every HM key is read by cctbx as the same group (cctbx parses these as HM symbols).
    for alias, idx in extra:
        assert group_of(alias) == settings[idx][4], alias

    write_ts(sg_rows, laue_ops, settings, extra, extra_hall, hall_needs_prefix)


def ts_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_ts(sg_rows, laue_ops, settings, extra, extra_hall, hall_needs_prefix):
    L = []
    L.append("// GENERATED FILE - do not edit. Written by src/symmetry/make_space_group_table.py")
    L.append("// from cctbx %s (sgtbx); regenerate with:" % CCTBX_VERSION)
    L.append("//   /usr/bin/python3 src/symmetry/make_space_group_table.py")
    L.append("// See that script for the meaning of every table and flag.")
    L.append("")
    L.append('import type { LaueClassName } from "./laue.js";')
    L.append("")
    L.append("/** Laue class names in table index order (SPACE_GROUPS rows refer to these indices). */")
    L.append("export const LAUE_CLASS_NAMES: readonly LaueClassName[] = [%s];" % ", ".join(ts_str(n) for n in LAUE_NAMES))
    L.append("")
    L.append("export const CRYSTAL_SYSTEMS: readonly string[] = [%s];" % ", ".join(ts_str(c) for c in CRYSTAL_SYSTEMS))
    L.append("")
    L.append("/**")
    L.append(" * Laue group rotation matrices (row-major, 9 ints each, identity first), acting on Miller")
    L.append(" * indices as a row vector times R (h' = h . R, cctbx convention); inversion included.")
    L.append(" */")
    L.append("export const LAUE_OPS: Readonly<Record<LaueClassName, readonly number[]>> = {")
    for name in LAUE_NAMES:
        flat = [x for o in sort_ops(laue_ops[name]) for x in o]
        L.append("  %s: [%s]," % (ts_str(name), ", ".join(str(x) for x in flat)))
    L.append("};")
    L.append("")
    L.append("/**")
    L.append(" * Reference settings, row n - 1 for space group n: [lookup Hermann-Mauguin symbol, Hall")
    L.append(" * symbol, index into LAUE_CLASS_NAMES, point group, index into CRYSTAL_SYSTEMS].")
    L.append(" */")
    L.append("export const SPACE_GROUPS: readonly (readonly [string, string, number, string, number])[] = [")
    for hm, hall, name, pg, cs in sg_rows:
        L.append("  [%s, %s, %d, %s, %d]," % (ts_str(hm), ts_str(hall), LAUE_NAMES.index(name), ts_str(pg), CRYSTAL_SYSTEMS.index(cs)))
    L.append("];")
    L.append("")
    L.append("/** Setting flags (see make_space_group_table.py). */")
    L.append("export const SETTING_IS_REFERENCE = 1;")
    L.append("export const SETTING_SAME_LAUE_OPS = 2;")
    L.append("export const SETTING_SAME_CCTBX_ASU = 4;")
    L.append("export const SETTING_DEFAULT_FOR_BARE_SYMBOL = 8;")
    L.append("")
    L.append("/** All settings tabulated by cctbx: [number, Hermann-Mauguin (with :ext), Hall, flags]. */")
    L.append("export const SETTINGS: readonly (readonly [number, string, string, number])[] = [")
    for n, hm, hall, flags, _g in settings:
        L.append("  [%d, %s, %s, %d]," % (n, ts_str(hm), ts_str(hall), flags))
    L.append("];")
    L.append("")
    L.append("/** Further Hermann-Mauguin spellings cctbx accepts: [symbol, index into SETTINGS]. */")
    L.append("export const EXTRA_ALIASES: readonly (readonly [string, number])[] = [")
    for alias, idx in extra:
        L.append("  [%s, %d]," % (ts_str(alias), idx))
    L.append("];")
    L.append("")
    L.append("/** Reference Hall symbols (space_group_type.hall_symbol()) spelled unlike SETTINGS. */")
    L.append("export const EXTRA_HALL_ALIASES: readonly (readonly [string, number])[] = [")
    for hall, idx in extra_hall:
        L.append("  [%s, %d]," % (ts_str(hall), idx))
    L.append("];")
    L.append("")
    L.append("/** Hall symbols that read as a Hermann-Mauguin symbol of another group: need 'Hall:'. */")
    L.append("export const HALL_NEEDS_PREFIX: readonly string[] = [%s];" % ", ".join(ts_str(h) for h in hall_needs_prefix))
    L.append("")
    with open(OUT, "w") as f:
        f.write("\n".join(L))
    print("wrote %s: %d groups, %d settings, %d extra aliases, %d extra Hall, %d Hall needing 'Hall:'"
          % (OUT, len(sg_rows), len(settings), len(extra), len(extra_hall), len(hall_needs_prefix)))
    root = os.path.dirname(os.path.dirname(HERE))
    prettier = os.path.join(root, "node_modules", "prettier", "bin", "prettier.cjs")
    if os.path.exists(prettier):
        subprocess.run(["node", prettier, "--write", OUT], check=False, cwd=root)
    else:
        print("prettier not found; run: npx prettier --write " + OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
