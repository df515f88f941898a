/**
 * DIALS experiment lists (.expt, dxtbx's ExperimentList JSON) read and written natively.
 *
 * Reading follows dxtbx's from_dict code paths (defaults, normalization, the detector
 * hierarchy, multi-axis goniometers, both scan layouts) so the models hold exactly what
 * dxtbx's accessors return: panel axes and origins are the global lab-frame values
 * (`panel.get_fast_axis()`...), composed through the hierarchy in scitbx's operation order.
 *
 * Experiments that share a model index share the JS object. dxtbx fields the shared models do
 * not carry (beam s0_at_scan_points, crystal B_covariance, Kabsch mosaicity, panel masks,
 * profile and scaling models, the detector hierarchy, multi-axis goniometer axes...) are kept
 * beside the model objects (see `dxtbxExtras`) and written back, so read -> write loses nothing
 * DIALS needs. A model replaced by a new object loses them; one changed in place keeps those
 * that stay consistent (a hierarchy only while every panel frame is unchanged, multi-axis
 * goniometer axes only while the rotation matrices are unchanged). An experiment's profile and
 * scaling model also survive copying the experiment object (`{...e, crystal}`).
 */

import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type {
  Beam,
  Crystal,
  Detector,
  Experiment,
  Goniometer,
  ImageSetRef,
  Mat3,
  Panel,
  Scan,
  Vec3,
} from "../geometry/models.js";
import { DialsFormatError } from "./errors.js";
import {
  axisAngleMatrix,
  composeFrame,
  LAB_FRAME,
  normalize,
  PI_180,
  type Frame,
} from "./dxtbx-math.js";
import { IDENTITY3, mat3Mul } from "../geometry/vec3.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Dict = { [key: string]: Json };

export interface ParseExperimentListOptions {
  /** Directory relative image, mask, gain and pedestal paths are resolved against (dxtbx uses
   * the .expt's directory). Without it relative paths stay relative. */
  baseDir?: string;
  /** File name for error messages. */
  file?: string;
}

// ---------------------------------------------------------------------------------------------
// Fields the shared models do not hold, kept per model object.

const extrasOf = new WeakMap<object, Dict>();
/** An experiment's profile and scaling model dicts ride on the experiment under this symbol, so
 * `{...experiment, detector: other}` keeps them (a WeakMap entry would not follow the copy). */
const EXPERIMENT_EXTRAS = Symbol("dxtbx experiment extras");
type WithExtras = Experiment & { [EXPERIMENT_EXTRAS]?: Dict };
/** Detector hierarchy as read, with the panel frames it produced. */
const hierarchyOf = new WeakMap<Detector, HierarchyMemo>();
/** Multi-axis goniometer definition as read, with the rotations it produced. */
const multiAxisOf = new WeakMap<Goniometer, { dict: Dict; memo: Goniometer }>();

interface HierarchyMemo {
  /** The hierarchy dict without panel fields for panels: groups keep their own dicts. */
  root: Dict;
  /** Per panel: the local frame as in the file, and the global frame it gave. */
  panels: { local: Dict; global: Frame }[];
}

/** dxtbx fields of a model (beam, panel, crystal, ..., or experiment) that it does not model. */
export function dxtbxExtras(model: object): Readonly<Record<string, unknown>> | undefined {
  return (model as WithExtras)[EXPERIMENT_EXTRAS] ?? extrasOf.get(model);
}

// ---------------------------------------------------------------------------------------------
// Reading

export async function readExperimentList(file: string): Promise<Experiment[]> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DialsFormatError(
      code === "ENOENT" ? "no such file" : `cannot read: ${(e as Error).message}`,
      { file },
    );
  }
  return parseExperimentList(text, { file, baseDir: path.dirname(path.resolve(file)) });
}

export function parseExperimentList(
  json: string | object,
  opts: ParseExperimentListOptions = {},
): Experiment[] {
  // Annotated so that r.fail() (never) narrows types.
  const r: Reader = new Reader(opts.file, opts.baseDir);
  // A private copy of an object argument: kept dxtbx fields must not change under us.
  const root = typeof json === "string" ? r.parseJson(json) : (structuredClone(json) as Json);
  if (!isDict(root)) r.fail("", `expected a JSON object (an ExperimentList), got ${kind(root)}`);
  if (root["__id__"] !== "ExperimentList") {
    r.fail("__id__", `not an ExperimentList (__id__ is ${JSON.stringify(root["__id__"] ?? null)})`);
  }
  const list = root["experiment"];
  if (!Array.isArray(list)) r.fail("experiment", "missing the 'experiment' list");

  const cache = new Map<string, unknown[]>();
  const lookup = <T>(
    eloc: string,
    e: Dict,
    name: string,
    build: (d: Dict, loc: string) => T,
  ): T | undefined => {
    const ref = e[name];
    if (ref === undefined || ref === null) return undefined;
    const loc = `${eloc}.${name}`;
    if (typeof ref === "string") {
      r.fail(
        loc,
        `refers to an external file '${ref}' (an old dxtbx layout this reader does not load)`,
      );
    }
    const models = root[name];
    const count = Array.isArray(models) ? models.length : 0;
    if (!(typeof ref === "number" && Number.isInteger(ref) && ref >= 0 && ref < count)) {
      r.fail(
        loc,
        `${name} index ${JSON.stringify(ref)} out of range: the file has ${count} ${name} model(s)`,
      );
    }
    let built = cache.get(name);
    if (!built) cache.set(name, (built = new Array<unknown>(count)));
    if (built[ref] === undefined) {
      const d = (models as Json[])[ref]!;
      if (!isDict(d) && !(name === "detector" && Array.isArray(d))) {
        r.fail(`${name}[${ref}]`, `expected an object, got ${kind(d)}`);
      }
      built[ref] = build(d as Dict, `${name}[${ref}]`);
    }
    return built[ref] as T;
  };

  return list.map((e, i) => {
    const eloc = `experiment[${i}]`;
    if (!isDict(e)) r.fail(eloc, `expected an object, got ${kind(e)}`);
    const beam = lookup(eloc, e, "beam", (d, loc) => r.beam(d, loc));
    const detector = lookup(eloc, e, "detector", (d, loc) => r.detector(d, loc));
    if (!beam) r.fail(eloc, "has no beam (every experiment here needs one)");
    if (!detector) r.fail(eloc, "has no detector (every experiment here needs one)");
    const identifier = e["identifier"] ?? "";
    if (typeof identifier !== "string") r.fail(`${eloc}.identifier`, "is not a string");
    const exp: Experiment = { identifier, beam, detector };
    const crystal = lookup(eloc, e, "crystal", (d, loc) => r.crystal(d, loc));
    const scan = lookup(eloc, e, "scan", (d, loc) => r.scan(d, loc));
    const goniometer = lookup(eloc, e, "goniometer", (d, loc) => r.goniometer(d, loc));
    const imageset = lookup(eloc, e, "imageset", (d, loc) => r.imageset(d, loc));
    if (crystal) exp.crystal = crystal;
    if (scan) exp.scan = scan;
    if (goniometer) exp.goniometer = goniometer;
    if (imageset) exp.imageset = imageset;
    // Profile and scaling models are DIALS plug-ins: kept as their dicts, shared like models.
    const extra: Dict = {};
    for (const name of ["profile", "scaling_model"]) {
      const d = lookup(eloc, e, name, (x) => x);
      if (d) extra[name] = d;
    }
    if (Object.keys(extra).length > 0) (exp as WithExtras)[EXPERIMENT_EXTRAS] = extra;
    return exp;
  });
}

class Reader {
  constructor(
    readonly file: string | undefined,
    readonly baseDir: string | undefined,
  ) {}

  fail(location: string, problem: string): never {
    throw new DialsFormatError(problem, { file: this.file, location });
  }

  parseJson(text: string): Json {
    try {
      return JSON.parse(text) as Json;
    } catch (first) {
      // Python's json writes NaN and Infinity, which JSON.parse rejects: retry with them
      // turned into marker strings outside string literals.
      if (/\b(NaN|Infinity)\b/.test(text)) {
        const marked = text.replace(/"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)/g, (m, bare?: string) =>
          bare ? `"\\u0000${bare}"` : m,
        );
        try {
          return JSON.parse(marked, (_k, v: unknown) =>
            typeof v === "string" && v.startsWith("\u0000") ? Number(v.slice(1)) : v,
          ) as Json;
        } catch {
          // Report the original error below.
        }
      }
      const head = text.trimStart().slice(0, 1);
      const hint = head === "" ? "empty file" : `${(first as Error).message}`;
      return this.fail("", `not JSON, so not an experiment list (${hint})`);
    }
  }

  num(d: Dict, key: string, loc: string, dflt?: number): number {
    const v = d[key];
    if (v === undefined || (v === null && dflt !== undefined)) {
      if (dflt !== undefined) return dflt;
      this.fail(`${loc}.${key}`, "missing");
    }
    if (typeof v !== "number") this.fail(`${loc}.${key}`, `expected a number, got ${kind(v)}`);
    return v;
  }

  str(d: Dict, key: string, loc: string, dflt?: string): string {
    const v = d[key];
    if (v === undefined || v === null) {
      if (dflt !== undefined) return dflt;
      this.fail(`${loc}.${key}`, "missing");
    }
    if (typeof v !== "string") this.fail(`${loc}.${key}`, `expected a string, got ${kind(v)}`);
    return v;
  }

  nums(v: Json | undefined, n: number | undefined, loc: string): number[] {
    if (!Array.isArray(v)) this.fail(loc, `expected a list of numbers, got ${kind(v)}`);
    if (n !== undefined && v.length !== n) this.fail(loc, `expected ${n} numbers, got ${v.length}`);
    return v.map((x, i) => {
      if (typeof x !== "number") this.fail(`${loc}[${i}]`, `expected a number, got ${kind(x)}`);
      return x;
    });
  }

  vec3(d: Dict, key: string, loc: string, dflt?: Vec3): Vec3 {
    if ((d[key] === undefined || d[key] === null) && dflt) return dflt;
    return this.nums(d[key], 3, `${loc}.${key}`) as unknown as Vec3;
  }

  mat3(v: Json | undefined, loc: string): Mat3 {
    return this.nums(v, 9, loc) as unknown as Mat3;
  }

  pair(d: Dict, key: string, loc: string, dflt: readonly [number, number]): [number, number] {
    if (d[key] === undefined || d[key] === null) return [dflt[0], dflt[1]];
    return this.nums(d[key], 2, `${loc}.${key}`) as [number, number];
  }

  beam(d: Dict, loc: string): Beam {
    const direction = this.vec3(d, "direction", loc);
    if (!(direction[0] ** 2 + direction[1] ** 2 + direction[2] ** 2 > 0)) {
      this.fail(`${loc}.direction`, "has zero length");
    }
    const beam: Beam = {
      directionToSource: normalize(direction),
      wavelengthA: this.num(d, "wavelength", loc),
      polarizationNormal: this.vec3(d, "polarization_normal", loc, [0, 1, 0]),
      polarizationFraction: this.num(d, "polarization_fraction", loc, 0.999),
      divergenceRad: this.num(d, "divergence", loc, 0) * PI_180,
      sigmaDivergenceRad: this.num(d, "sigma_divergence", loc, 0) * PI_180,
      fluxPhotonsPerS: this.num(d, "flux", loc, 0),
      transmission: this.num(d, "transmission", loc, 1),
    };
    keepExtras(beam, d, BEAM_KEYS);
    return beam;
  }

  panel(d: Dict, loc: string, global: Frame): Panel {
    let mu = this.num(d, "mu", loc, 0);
    let thickness = this.num(d, "thickness", loc, 0);
    let parallax = false;
    const st = d["px_mm_strategy"];
    if (st !== undefined && st !== null) {
      if (!isDict(st)) this.fail(`${loc}.px_mm_strategy`, `expected an object, got ${kind(st)}`);
      const name = this.str(st, "type", `${loc}.px_mm_strategy`);
      if (
        name === "ParallaxCorrectedPxMmStrategy" ||
        name === "OffsetParallaxCorrectedPxMmStrategy"
      ) {
        if (st["mu"] !== undefined && st["t0"] !== undefined) {
          mu = this.num(st, "mu", `${loc}.px_mm_strategy`);
          thickness = this.num(st, "t0", `${loc}.px_mm_strategy`);
        }
        // dxtbx falls back to the simple strategy when it cannot correct.
        parallax = mu > 0 && thickness > 0;
      } else if (name !== "SimplePxMmStrategy" && name !== "OffsetPxMmStrategy") {
        this.fail(`${loc}.px_mm_strategy.type`, `unknown px_mm_strategy '${name}'`);
      }
    }
    const panel: Panel = {
      name: this.str(d, "name", loc, ""),
      type: this.str(d, "type", loc, ""),
      fastAxis: global.fast,
      slowAxis: global.slow,
      originMm: global.origin,
      pixelSizeMm: this.pair(d, "pixel_size", loc, [0, 0]),
      imageSize: this.pair(d, "image_size", loc, [0, 0]),
      trustedRange: this.pair(d, "trusted_range", loc, [0, 0]),
      thicknessMm: thickness,
      material: this.str(d, "material", loc, ""),
      muPerMm: mu,
      gain: this.num(d, "gain", loc, 1),
      pedestal: this.num(d, "pedestal", loc, 0),
      parallaxCorrected: parallax,
      rawImageOffset: this.pair(d, "raw_image_offset", loc, [0, 0]),
      identifier: this.str(d, "identifier", loc, ""),
    };
    keepExtras(panel, d, PANEL_KEYS);
    return panel;
  }

  /** The local frame as dxtbx's set_local_frame stores it (axes normalized). */
  localFrame(d: Dict, loc: string): Frame {
    if (d["fast_axis"] === undefined || d["slow_axis"] === undefined || d["origin"] === undefined) {
      return LAB_FRAME;
    }
    const fast = this.vec3(d, "fast_axis", loc);
    const slow = this.vec3(d, "slow_axis", loc);
    for (const [k, v] of [
      ["fast_axis", fast],
      ["slow_axis", slow],
    ] as const) {
      if (!(v[0] ** 2 + v[1] ** 2 + v[2] ** 2 > 0)) this.fail(`${loc}.${k}`, "has zero length");
    }
    return { fast: normalize(fast), slow: normalize(slow), origin: this.vec3(d, "origin", loc) };
  }

  detector(raw: Dict | Json[], loc: string): Detector {
    const d: Dict = Array.isArray(raw) ? { panels: raw } : raw;
    const list = d["panels"];
    if (!Array.isArray(list)) this.fail(`${loc}.panels`, `expected a list, got ${kind(list)}`);
    const dicts = list.map((p, i) => {
      if (!isDict(p)) this.fail(`${loc}.panels[${i}]`, `expected an object, got ${kind(p)}`);
      return p;
    });
    const h = d["hierarchy"];
    if (h === undefined || h === null) {
      // No hierarchy: each panel's frame is global (children of an identity root).
      const panels = dicts.map((p, i) => {
        const ploc = `${loc}.panels[${i}]`;
        return this.panel(p, ploc, composeFrame(LAB_FRAME, this.localFrame(p, ploc)));
      });
      const flat: Detector = { panels };
      keepExtras(flat, d, ["panels", "hierarchy"]);
      return flat;
    }
    if (!isDict(h)) this.fail(`${loc}.hierarchy`, `expected an object, got ${kind(h)}`);
    if (h["panel"] !== undefined) this.fail(`${loc}.hierarchy`, "the root is a panel, not a group");
    const globals = new Array<Frame | undefined>(dicts.length);
    const walk = (node: Dict, nloc: string, parent: Frame): void => {
      const frame = composeFrame(parent, this.localFrame(node, nloc));
      const children = node["children"];
      if (!Array.isArray(children))
        this.fail(`${nloc}.children`, "missing (a group needs children)");
      children.forEach((c, i) => {
        const cloc = `${nloc}.children[${i}]`;
        if (!isDict(c)) this.fail(cloc, `expected an object, got ${kind(c)}`);
        if (c["panel"] === undefined) return walk(c, cloc, frame);
        const idx = c["panel"];
        if (!(typeof idx === "number" && Number.isInteger(idx) && idx >= 0 && idx < dicts.length)) {
          this.fail(
            `${cloc}.panel`,
            `panel index ${JSON.stringify(idx)} out of range: the detector has ${dicts.length} panel(s)`,
          );
        }
        if (globals[idx]) this.fail(`${cloc}.panel`, `panel ${idx} appears twice in the hierarchy`);
        globals[idx] = composeFrame(frame, this.localFrame(dicts[idx]!, `${loc}.panels[${idx}]`));
      });
    };
    // The root's own parent is the lab frame.
    walk(h, `${loc}.hierarchy`, LAB_FRAME);
    const missing = globals.findIndex((g) => g === undefined);
    if (missing >= 0) this.fail(`${loc}.hierarchy`, `panel ${missing} is not in the hierarchy`);
    const panels = dicts.map((p, i) => this.panel(p, `${loc}.panels[${i}]`, globals[i]!));
    const detector: Detector = { panels };
    hierarchyOf.set(detector, {
      root: h,
      panels: dicts.map((p, i) => ({ local: pick(p, FRAME_KEYS), global: globals[i]! })),
    });
    keepExtras(detector, d, ["panels", "hierarchy"]);
    return detector;
  }

  crystal(d: Dict, loc: string): Crystal {
    const crystal: Crystal = {
      realSpaceA: this.vec3(d, "real_space_a", loc),
      realSpaceB: this.vec3(d, "real_space_b", loc),
      realSpaceC: this.vec3(d, "real_space_c", loc),
      spaceGroupHall: this.str(d, "space_group_hall_symbol", loc),
    };
    const a = d["A_at_scan_points"];
    if (a !== undefined && a !== null) {
      if (!Array.isArray(a))
        this.fail(`${loc}.A_at_scan_points`, `expected a list, got ${kind(a)}`);
      crystal.aAtScanPoints = a.map((m, i) => this.mat3(m, `${loc}.A_at_scan_points[${i}]`));
    }
    // dxtbx makes a Sauter2014 crystal only when both ML fields are set.
    const half = d["ML_half_mosaicity_deg"];
    const domain = d["ML_domain_size_ang"];
    if (half !== undefined && half !== null && domain !== undefined && domain !== null) {
      crystal.mlHalfMosaicityDeg = this.num(d, "ML_half_mosaicity_deg", loc);
      crystal.mlDomainSizeA = this.num(d, "ML_domain_size_ang", loc);
    }
    keepExtras(crystal, d, CRYSTAL_KEYS);
    return crystal;
  }

  scan(d: Dict, loc: string): Scan {
    const range = this.nums(d["image_range"], 2, `${loc}.image_range`);
    const [first, last] = range as [number, number];
    if (!(Number.isInteger(first) && Number.isInteger(last) && last >= first)) {
      this.fail(`${loc}.image_range`, `[${first}, ${last}] is not a valid image range`);
    }
    const n = last - first + 1;
    const batchOffset = this.num(d, "batch_offset", loc, 0);
    let oscillation: [number, number];
    let exposure: number[];
    let epochs: number[];
    const props = d["properties"];
    if (props !== undefined && props !== null) {
      // dxtbx >= 3.13: per-image property columns; oscillation is each image's start angle.
      if (!isDict(props)) this.fail(`${loc}.properties`, `expected an object, got ${kind(props)}`);
      const column = (key: string): number[] | undefined =>
        props[key] === undefined ? undefined : this.nums(props[key], n, `${loc}.properties.${key}`);
      const starts = column("oscillation");
      if (!starts) this.fail(`${loc}.properties.oscillation`, "missing");
      let width: number;
      if (n > 1) width = starts[1]! - starts[0]!;
      else {
        const w = column("oscillation_width");
        if (!w)
          this.fail(`${loc}.properties.oscillation_width`, "missing (needed for a 1-image scan)");
        width = w[0]!;
      }
      oscillation = [starts[0]!, width];
      exposure = column("exposure_time") ?? new Array<number>(n).fill(0);
      epochs = column("epochs") ?? new Array<number>(n).fill(0);
    } else {
      oscillation = this.nums(d["oscillation"], 2, `${loc}.oscillation`) as [number, number];
      const et = d["exposure_time"];
      exposure = fillExposureTimes(
        n,
        typeof et === "number"
          ? [et]
          : et === undefined
            ? []
            : this.nums(et, undefined, `${loc}.exposure_time`),
        () => this.fail(`${loc}.exposure_time`, `more values than the ${n} images`),
      );
      epochs = fillEpochs(
        n,
        d["epochs"] === undefined ? [] : this.nums(d["epochs"], undefined, `${loc}.epochs`),
        () => this.fail(`${loc}.epochs`, `more values than the ${n} images`),
      );
    }
    const scan: Scan = {
      imageRange: [first, last],
      batchOffset,
      oscillationDeg: oscillation,
      exposureTimesS: exposure,
      epochsS: epochs,
    };
    keepExtras(scan, d, SCAN_KEYS);
    return scan;
  }

  goniometer(d: Dict, loc: string): Goniometer {
    const fixedRotation = (m: Json | undefined, key: string): Mat3 =>
      m === undefined || m === null ? [...IDENTITY3] : this.mat3(m, `${loc}.${key}`);
    let g: Goniometer;
    if (d["axes"] !== undefined && d["angles"] !== undefined && d["scan_axis"] !== undefined) {
      // MultiAxisGoniometer: F = product of the axes below the scan axis, S of those above.
      const axesRaw = d["axes"];
      if (!Array.isArray(axesRaw) || axesRaw.length === 0)
        this.fail(`${loc}.axes`, "expected a non-empty list");
      const axes = axesRaw.map((a, i) => this.nums(a, 3, `${loc}.axes[${i}]`) as unknown as Vec3);
      const angles = this.nums(d["angles"], axes.length, `${loc}.angles`);
      const scanAxis = this.num(d, "scan_axis", loc);
      if (!(Number.isInteger(scanAxis) && scanAxis >= 0 && scanAxis < axes.length)) {
        this.fail(`${loc}.scan_axis`, `${scanAxis} is not an index into the ${axes.length} axes`);
      }
      let fixed: Mat3 = [...IDENTITY3];
      for (let i = 0; i < scanAxis; i++)
        fixed = mat3Mul(axisAngleMatrix(axes[i]!, angles[i]!), fixed);
      let setting: Mat3 = [...IDENTITY3];
      for (let i = scanAxis + 1; i < axes.length; i++) {
        setting = mat3Mul(axisAngleMatrix(axes[i]!, angles[i]!), setting);
      }
      // dxtbx keeps the scan axis as given (not normalized) for a multi-axis goniometer.
      g = { rotationAxis: axes[scanAxis]!, fixedRotation: fixed, settingRotation: setting };
      multiAxisOf.set(g, {
        dict: pick(d, ["axes", "angles", "names", "scan_axis"]),
        memo: { ...g },
      });
    } else {
      const axis = this.vec3(d, "rotation_axis", loc);
      if (!(axis[0] ** 2 + axis[1] ** 2 + axis[2] ** 2 > 0))
        this.fail(`${loc}.rotation_axis`, "has zero length");
      g = {
        rotationAxis: normalize(axis),
        fixedRotation: fixedRotation(d["fixed_rotation"], "fixed_rotation"),
        settingRotation: fixedRotation(d["setting_rotation"], "setting_rotation"),
      };
    }
    keepExtras(g, d, GONIOMETER_KEYS);
    return g;
  }

  imageset(d: Dict, loc: string): ImageSetRef {
    const type = this.str(d, "__id__", loc);
    const ref: ImageSetRef = { type };
    if (d["template"] !== undefined && d["template"] !== null) {
      ref.template = this.resolve(this.str(d, "template", loc));
    }
    if (d["images"] !== undefined && d["images"] !== null) {
      const images = d["images"];
      if (!Array.isArray(images))
        this.fail(`${loc}.images`, `expected a list, got ${kind(images)}`);
      ref.images = images.map((p, i) => {
        if (typeof p !== "string")
          this.fail(`${loc}.images[${i}]`, `expected a path, got ${kind(p)}`);
        return p.includes("://") ? p : this.resolve(p);
      });
    }
    if (d["single_file_indices"] !== undefined && d["single_file_indices"] !== null) {
      ref.singleFileIndices = this.nums(
        d["single_file_indices"],
        undefined,
        `${loc}.single_file_indices`,
      );
    }
    for (const key of ["mask", "gain", "pedestal"] as const) {
      const p = d[key];
      if (p === undefined || p === null || p === "") continue;
      if (typeof p !== "string") this.fail(`${loc}.${key}`, `expected a path, got ${kind(p)}`);
      ref[key] = this.resolve(p);
    }
    keepExtras(ref, d, IMAGESET_KEYS);
    return ref;
  }

  /** dxtbx resolve_path: expand ~ and $VARS, then join relative paths to the base directory. */
  resolve(p: string): string {
    if (!p) return p;
    let out = p.replace(/\$(\w+)|\$\{([^}]*)\}/g, (m, a?: string, b?: string) => {
      const v = process.env[a ?? b ?? ""];
      return v === undefined ? m : v;
    });
    if (out === "~" || out.startsWith("~/")) out = os.homedir() + out.slice(1);
    if (!this.baseDir) return out;
    return path.resolve(this.baseDir, out);
  }
}

/** dxtbx make_exposure_times: pad with the last value (0 when empty). */
function fillExposureTimes(n: number, given: number[], tooMany: () => never): number[] {
  if (given.length > n) tooMany();
  const out = given.length === 0 ? [0] : [...given];
  while (out.length < n) out.push(out[out.length - 1]!);
  return out;
}

/** dxtbx make_epochs: zeros, one value repeated, or extrapolated from the last two. */
function fillEpochs(n: number, given: number[], tooMany: () => never): number[] {
  if (given.length > n) tooMany();
  if (given.length === 0) return new Array<number>(n).fill(0);
  if (given.length === 1) return new Array<number>(n).fill(given[0]!);
  const out = [...given];
  const e0 = out[out.length - 1]!;
  const de = e0 - out[out.length - 2]!;
  for (let i = 0; out.length < n; i++) out.push(e0 + (i + 1) * de);
  return out;
}

const BEAM_KEYS = [
  "direction",
  "wavelength",
  "divergence",
  "sigma_divergence",
  "polarization_normal",
  "polarization_fraction",
  "flux",
  "transmission",
];
const FRAME_KEYS = ["fast_axis", "slow_axis", "origin"];
const PANEL_KEYS = [
  "name",
  "type",
  ...FRAME_KEYS,
  "raw_image_offset",
  "image_size",
  "pixel_size",
  "trusted_range",
  "thickness",
  "material",
  "mu",
  "identifier",
  "gain",
  "pedestal",
  "px_mm_strategy",
];
const CRYSTAL_KEYS = [
  "__id__",
  "real_space_a",
  "real_space_b",
  "real_space_c",
  "space_group_hall_symbol",
  "A_at_scan_points",
  "ML_half_mosaicity_deg",
  "ML_domain_size_ang",
];
// The legacy and the properties layouts are both modeled; only extra ranges are kept.
const SCAN_KEYS = [
  "image_range",
  "batch_offset",
  "oscillation",
  "exposure_time",
  "epochs",
  "properties",
];
const GONIOMETER_KEYS = [
  "rotation_axis",
  "fixed_rotation",
  "setting_rotation",
  "axes",
  "angles",
  "names",
  "scan_axis",
];
const IMAGESET_KEYS = [
  "__id__",
  "template",
  "images",
  "single_file_indices",
  "mask",
  "gain",
  "pedestal",
];

function keepExtras(model: object, d: Dict, known: readonly string[]): void {
  const extra: Dict = {};
  for (const [k, v] of Object.entries(d)) if (!known.includes(k)) extra[k] = v;
  if (Object.keys(extra).length > 0) extrasOf.set(model, extra);
}

function pick(d: Dict, keys: readonly string[]): Dict {
  const out: Dict = {};
  for (const k of keys) if (d[k] !== undefined) out[k] = d[k]!;
  return out;
}

function isDict(v: unknown): v is Dict {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function kind(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** The dxtbx ExperimentList dict (what `json.load` of a .expt gives), models deduplicated by
 * object identity in order of first use, as dxtbx's to_dict. */
export function serializeExperimentList(experiments: readonly Experiment[]): object {
  const tables = {
    beam: new Indexer<Beam>(writeBeam),
    detector: new Indexer<Detector>(writeDetector),
    goniometer: new Indexer<Goniometer>(writeGoniometer),
    scan: new Indexer<Scan>(writeScan),
    crystal: new Indexer<Crystal>(writeCrystal),
    profile: new Indexer<Dict>((d) => d),
    scaling_model: new Indexer<Dict>((d) => d),
    imageset: new Indexer<ImageSetRef>(writeImageset),
  };
  const out = experiments.map((e) => {
    const extra = (e as WithExtras)[EXPERIMENT_EXTRAS];
    const d: Dict = { __id__: "Experiment", identifier: e.identifier };
    d["beam"] = tables.beam.index(e.beam);
    d["detector"] = tables.detector.index(e.detector);
    if (e.goniometer) d["goniometer"] = tables.goniometer.index(e.goniometer);
    if (e.scan) d["scan"] = tables.scan.index(e.scan);
    if (e.crystal) d["crystal"] = tables.crystal.index(e.crystal);
    for (const name of ["profile", "scaling_model"] as const) {
      const m = extra?.[name];
      if (isDict(m)) d[name] = tables[name].index(m);
    }
    if (e.imageset) d["imageset"] = tables.imageset.index(e.imageset);
    return d;
  });
  return {
    __id__: "ExperimentList",
    experiment: out,
    imageset: tables.imageset.list,
    beam: tables.beam.list,
    detector: tables.detector.list,
    goniometer: tables.goniometer.list,
    scan: tables.scan.list,
    crystal: tables.crystal.list,
    profile: tables.profile.list,
    scaling_model: tables.scaling_model.list,
  };
}

/** Writes atomically (temporary file, then rename) so readers never see half a file. */
export async function writeExperimentList(
  file: string,
  experiments: readonly Experiment[],
): Promise<void> {
  const text = JSON.stringify(serializeExperimentList(experiments), null, 2) + "\n";
  const tmp = `${file}.${process.pid}.${Date.now().toString(36)}.tmp`;
  try {
    await fs.writeFile(tmp, text);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

class Indexer<T extends object> {
  readonly list: Json[] = [];
  private readonly seen = new Map<T, number>();
  constructor(private readonly write: (m: T) => Json) {}
  index(m: T): number {
    let i = this.seen.get(m);
    if (i === undefined) {
      i = this.list.length;
      this.seen.set(m, i);
      this.list.push(this.write(m));
    }
    return i;
  }
}

/** Extras first, so modeled fields win. */
function withExtras(model: object, d: Dict): Dict {
  const extra = extrasOf.get(model);
  return extra ? { ...extra, ...d } : d;
}

const v3 = (v: Vec3): Json => [v[0], v[1], v[2]];
const m3 = (m: Mat3): Json => [...m];

function writeBeam(b: Beam): Json {
  return withExtras(b, {
    direction: v3(b.directionToSource),
    wavelength: b.wavelengthA,
    divergence: b.divergenceRad / PI_180,
    sigma_divergence: b.sigmaDivergenceRad / PI_180,
    polarization_normal: v3(b.polarizationNormal),
    polarization_fraction: b.polarizationFraction,
    flux: b.fluxPhotonsPerS,
    transmission: b.transmission,
  });
}

function writePanel(p: Panel, frame: Dict): Dict {
  return withExtras(p, {
    name: p.name,
    type: p.type,
    ...frame,
    raw_image_offset: [p.rawImageOffset[0], p.rawImageOffset[1]],
    image_size: [p.imageSize[0], p.imageSize[1]],
    pixel_size: [p.pixelSizeMm[0], p.pixelSizeMm[1]],
    trusted_range: [p.trustedRange[0], p.trustedRange[1]],
    thickness: p.thicknessMm,
    material: p.material,
    mu: p.muPerMm,
    identifier: p.identifier,
    mask: (extrasOf.get(p)?.["mask"] as Json | undefined) ?? [],
    gain: p.gain,
    pedestal: p.pedestal,
    px_mm_strategy: {
      type: p.parallaxCorrected ? "ParallaxCorrectedPxMmStrategy" : "SimplePxMmStrategy",
    },
  });
}

const sameVec = (a: Vec3, b: Vec3): boolean => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];

/** The hierarchy as read, while every panel frame is what it gave; otherwise flat. */
function writeDetector(det: Detector): Json {
  const memo = hierarchyOf.get(det);
  const intact =
    memo !== undefined &&
    memo.panels.length === det.panels.length &&
    det.panels.every((p, i) => {
      const g = memo.panels[i]!.global;
      return (
        sameVec(p.fastAxis, g.fast) && sameVec(p.slowAxis, g.slow) && sameVec(p.originMm, g.origin)
      );
    });
  if (intact) {
    return withExtras(det, {
      panels: det.panels.map((p, i) => writePanel(p, memo.panels[i]!.local)),
      hierarchy: memo.root,
    });
  }
  // Flat: every panel a child of an identity root group, its global frame as its local frame.
  const root = writePanel(ROOT_GROUP, frameDict(LAB_FRAME));
  root["children"] = det.panels.map((_, i) => ({ panel: i }));
  return withExtras(det, {
    panels: det.panels.map((p) =>
      writePanel(p, frameDict({ fast: p.fastAxis, slow: p.slowAxis, origin: p.originMm })),
    ),
    hierarchy: root,
  });
}

const frameDict = (f: Frame): Dict => ({
  fast_axis: v3(f.fast),
  slow_axis: v3(f.slow),
  origin: v3(f.origin),
});

/** What dxtbx writes for a Detector()'s default root group. */
const ROOT_GROUP: Panel = {
  name: "",
  type: "",
  fastAxis: [1, 0, 0],
  slowAxis: [0, 1, 0],
  originMm: [0, 0, 0],
  pixelSizeMm: [0, 0],
  imageSize: [0, 0],
  trustedRange: [0, 0],
  thicknessMm: 0,
  material: "",
  muPerMm: 0,
  gain: 1,
  pedestal: 0,
  parallaxCorrected: false,
  rawImageOffset: [0, 0],
  identifier: "",
};

function writeGoniometer(g: Goniometer): Json {
  const multi = multiAxisOf.get(g);
  const same = (a: readonly number[], b: readonly number[]) => a.every((x, i) => x === b[i]);
  if (
    multi &&
    same(g.rotationAxis, multi.memo.rotationAxis) &&
    same(g.fixedRotation, multi.memo.fixedRotation) &&
    same(g.settingRotation, multi.memo.settingRotation)
  ) {
    return withExtras(g, multi.dict);
  }
  return withExtras(g, {
    rotation_axis: v3(g.rotationAxis),
    fixed_rotation: m3(g.fixedRotation),
    setting_rotation: m3(g.settingRotation),
  });
}

function writeScan(s: Scan): Json {
  // The legacy layout: every dxtbx version reads it.
  const extra = extrasOf.get(s);
  return {
    image_range: [s.imageRange[0], s.imageRange[1]],
    batch_offset: s.batchOffset,
    oscillation: [s.oscillationDeg[0], s.oscillationDeg[1]],
    exposure_time: [...s.exposureTimesS],
    epochs: [...s.epochsS],
    valid_image_ranges: (extra?.["valid_image_ranges"] as Json | undefined) ?? {},
  };
}

function writeCrystal(c: Crystal): Json {
  const d: Dict = {
    __id__: "crystal",
    real_space_a: v3(c.realSpaceA),
    real_space_b: v3(c.realSpaceB),
    real_space_c: v3(c.realSpaceC),
    space_group_hall_symbol: c.spaceGroupHall,
  };
  if (c.aAtScanPoints && c.aAtScanPoints.length > 0)
    d["A_at_scan_points"] = c.aAtScanPoints.map(m3);
  if (c.mlHalfMosaicityDeg !== undefined && c.mlDomainSizeA !== undefined) {
    d["ML_half_mosaicity_deg"] = c.mlHalfMosaicityDeg;
    d["ML_domain_size_ang"] = c.mlDomainSizeA;
  }
  return withExtras(c, d);
}

function writeImageset(i: ImageSetRef): Json {
  const d: Dict = { __id__: i.type };
  if (i.template !== undefined) d["template"] = i.template;
  if (i.images !== undefined) d["images"] = [...i.images];
  if (i.singleFileIndices !== undefined) d["single_file_indices"] = [...i.singleFileIndices];
  d["mask"] = i.mask ?? null;
  d["gain"] = i.gain ?? null;
  d["pedestal"] = i.pedestal ?? null;
  return { dx: null, dy: null, params: {}, ...extrasOf.get(i), ...d };
}
