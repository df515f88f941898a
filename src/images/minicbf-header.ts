/**
 * The Pilatus-style miniCBF text header ("# Exposure_time 0.1 s" lines in
 * `_array_data.header_contents`) as typed fields with units in their names, and back.
 *
 * Values are converted to the unit in the field name from whatever unit the line carries
 * (mm, ms, nm, keV...); lines we do not know are kept in `raw` and written back verbatim.
 */

export interface MiniCbfHeader {
  /** `_array_data.header_convention`, e.g. "PILATUS_1.2". */
  headerConvention?: string;
  /** "# Detector: PILATUS 6M, S/N 60-0100": the text after "Detector:". */
  detector?: string;
  /** The date line as written, e.g. "2011-06-21T17:43:13.442". */
  timestamp?: string;
  /** [fast (x), slow (y)] pixel pitch, metres. */
  pixelSizeM?: [number, number];
  /** "Silicon", "CdTe"... from "# Silicon sensor, thickness 0.000450 m". */
  sensorMaterial?: string;
  thicknessM?: number;
  /** Counting time of the frame. */
  exposureTimeS?: number;
  /** Frame period (counting + readout); dxtbx's scan exposure time for Pilatus miniCBF. */
  exposurePeriodS?: number;
  tauS?: number;
  /** Counts at or above this are overloaded (dxtbx's upper trusted range). */
  countCutoff?: number;
  thresholdEv?: number;
  gainSetting?: string;
  nExcludedPixels?: number;
  excludedPixels?: string;
  flatField?: string;
  trimFile?: string;
  imagePath?: string;
  wavelengthA?: number;
  energyRangeEv?: [number, number];
  detectorDistanceM?: number;
  detectorVoffsetM?: number;
  /** Direct-beam position [fast (x), slow (y)], pixels. */
  beamXyPx?: [number, number];
  fluxPhotonsPerS?: number;
  filterTransmission?: number;
  startAngleDeg?: number;
  angleIncrementDeg?: number;
  detector2ThetaDeg?: number;
  polarization?: number;
  alphaDeg?: number;
  kappaDeg?: number;
  phiDeg?: number;
  phiIncrementDeg?: number;
  chiDeg?: number;
  chiIncrementDeg?: number;
  omegaDeg?: number;
  omegaIncrementDeg?: number;
  oscillationAxis?: string;
  nOscillations?: number;
  /** Every "# Key value" line by key, value text as written (units included). */
  raw: Record<string, string>;
}

type Dim = "time" | "length" | "wavelength" | "angle" | "energy" | "none";

/** Factor to the canonical unit (s, m, Angstrom, degree, eV) of each unit we accept. */
const UNITS: Record<Exclude<Dim, "none">, Record<string, number>> = {
  time: { "": 1, s: 1, sec: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 },
  length: { "": 1, m: 1, cm: 1e-2, mm: 1e-3, um: 1e-6, µm: 1e-6, micron: 1e-6, nm: 1e-9 },
  wavelength: { "": 1, a: 1, å: 1, ang: 1, angstrom: 1, nm: 10 },
  angle: { "": 1, deg: 1, degrees: 1, rad: 180 / Math.PI },
  energy: { "": 1, ev: 1, kev: 1e3 },
};

type NumField = {
  [K in keyof MiniCbfHeader]-?: MiniCbfHeader[K] extends number | undefined ? K : never;
}[keyof MiniCbfHeader];
type PairField = {
  [K in keyof MiniCbfHeader]-?: MiniCbfHeader[K] extends [number, number] | undefined ? K : never;
}[keyof MiniCbfHeader];
type TextField = {
  [K in keyof MiniCbfHeader]-?: MiniCbfHeader[K] extends string | undefined ? K : never;
}[keyof MiniCbfHeader];

interface LineSpec {
  key: string;
  /** How the line is written: `{}` is replaced by the value(s). */
  template: string;
  kind: "num" | "int" | "pair" | "text";
  field: NumField | PairField | TextField;
  dim?: Dim;
}

/** Known lines, in the order a Pilatus camserver writes them. */
const LINES: LineSpec[] = [
  { key: "Detector", template: "Detector: {}", kind: "text", field: "detector" },
  {
    key: "Pixel_size",
    template: "Pixel_size {} m x {} m",
    kind: "pair",
    field: "pixelSizeM",
    dim: "length",
  },
  {
    key: "Exposure_time",
    template: "Exposure_time {} s",
    kind: "num",
    field: "exposureTimeS",
    dim: "time",
  },
  {
    key: "Exposure_period",
    template: "Exposure_period {} s",
    kind: "num",
    field: "exposurePeriodS",
    dim: "time",
  },
  { key: "Tau", template: "Tau = {} s", kind: "num", field: "tauS", dim: "time" },
  { key: "Count_cutoff", template: "Count_cutoff {} counts", kind: "int", field: "countCutoff" },
  {
    key: "Threshold_setting",
    template: "Threshold_setting: {} eV",
    kind: "num",
    field: "thresholdEv",
    dim: "energy",
  },
  { key: "Gain_setting", template: "Gain_setting: {}", kind: "text", field: "gainSetting" },
  {
    key: "N_excluded_pixels",
    template: "N_excluded_pixels = {}",
    kind: "int",
    field: "nExcludedPixels",
  },
  {
    key: "Excluded_pixels",
    template: "Excluded_pixels: {}",
    kind: "text",
    field: "excludedPixels",
  },
  { key: "Flat_field", template: "Flat_field: {}", kind: "text", field: "flatField" },
  { key: "Trim_file", template: "Trim_file: {}", kind: "text", field: "trimFile" },
  { key: "Image_path", template: "Image_path: {}", kind: "text", field: "imagePath" },
  {
    key: "Wavelength",
    template: "Wavelength {} A",
    kind: "num",
    field: "wavelengthA",
    dim: "wavelength",
  },
  {
    key: "Energy_range",
    template: "Energy_range ({}, {}) eV",
    kind: "pair",
    field: "energyRangeEv",
    dim: "energy",
  },
  {
    key: "Detector_distance",
    template: "Detector_distance {} m",
    kind: "num",
    field: "detectorDistanceM",
    dim: "length",
  },
  {
    key: "Detector_Voffset",
    template: "Detector_Voffset {} m",
    kind: "num",
    field: "detectorVoffsetM",
    dim: "length",
  },
  {
    key: "Beam_xy",
    template: "Beam_xy ({}, {}) pixels",
    kind: "pair",
    field: "beamXyPx",
    dim: "none",
  },
  { key: "Flux", template: "Flux {}", kind: "num", field: "fluxPhotonsPerS", dim: "none" },
  {
    key: "Filter_transmission",
    template: "Filter_transmission {}",
    kind: "num",
    field: "filterTransmission",
    dim: "none",
  },
  {
    key: "Start_angle",
    template: "Start_angle {} deg.",
    kind: "num",
    field: "startAngleDeg",
    dim: "angle",
  },
  {
    key: "Angle_increment",
    template: "Angle_increment {} deg.",
    kind: "num",
    field: "angleIncrementDeg",
    dim: "angle",
  },
  {
    key: "Detector_2theta",
    template: "Detector_2theta {} deg.",
    kind: "num",
    field: "detector2ThetaDeg",
    dim: "angle",
  },
  {
    key: "Polarization",
    template: "Polarization {}",
    kind: "num",
    field: "polarization",
    dim: "none",
  },
  { key: "Alpha", template: "Alpha {} deg.", kind: "num", field: "alphaDeg", dim: "angle" },
  { key: "Kappa", template: "Kappa {} deg.", kind: "num", field: "kappaDeg", dim: "angle" },
  { key: "Phi", template: "Phi {} deg.", kind: "num", field: "phiDeg", dim: "angle" },
  {
    key: "Phi_increment",
    template: "Phi_increment {} deg.",
    kind: "num",
    field: "phiIncrementDeg",
    dim: "angle",
  },
  { key: "Chi", template: "Chi {} deg.", kind: "num", field: "chiDeg", dim: "angle" },
  {
    key: "Chi_increment",
    template: "Chi_increment {} deg.",
    kind: "num",
    field: "chiIncrementDeg",
    dim: "angle",
  },
  { key: "Omega", template: "Omega {} deg.", kind: "num", field: "omegaDeg", dim: "angle" },
  {
    key: "Omega_increment",
    template: "Omega_increment {} deg.",
    kind: "num",
    field: "omegaIncrementDeg",
    dim: "angle",
  },
  {
    key: "Oscillation_axis",
    template: "Oscillation_axis {}",
    kind: "text",
    field: "oscillationAxis",
  },
  { key: "N_oscillations", template: "N_oscillations {}", kind: "int", field: "nOscillations" },
];
const BY_KEY = new Map(LINES.map((l) => [l.key.toLowerCase(), l]));

/** Raw keys for the two lines that are not "Key value": the date and the sensor. */
const TIMESTAMP_KEY = "timestamp";
const SENSOR_RE = /^(\S+)\s+sensor,?\s*thickness\s+(.*)$/i;
const NUMBER_RE = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/g;

/** Numbers in a value, each with the unit word right after it (or the line's last word). */
function quantities(text: string, dim: Dim): number[] {
  const out: number[] = [];
  const trailing = /([A-Za-zµÅå.]+)\s*$/.exec(text)?.[1] ?? "";
  for (const m of text.matchAll(NUMBER_RE)) {
    const after = text.slice((m.index ?? 0) + m[0].length);
    const own = /^\s*([A-Za-zµÅå]+)/.exec(after)?.[1];
    // "x" separates the two pixel sizes; it is not a unit.
    const unit = own && own.toLowerCase() !== "x" ? own : trailing;
    const f = unitFactor(unit, dim);
    if (f === undefined) continue;
    out.push(Number(m[0]) * f);
  }
  return out;
}

function unitFactor(unit: string, dim: Dim): number | undefined {
  if (dim === "none") return 1;
  const u = unit.toLowerCase().replace(/\.$/, "");
  return UNITS[dim][u];
}

function isTimestamp(body: string): boolean {
  // dxtbx's rule: at most two words and exactly two colons ("2011-06-21T17:43:13.442").
  const words = body.split(/\s+/).filter(Boolean);
  return words.length <= 2 && (body.match(/:/g) ?? []).length === 2 && /^\d/.test(body);
}

/** Parse the "# ..." lines of a CBF text header (anything before the binary section). */
export function parseMiniCbfHeader(text: string): MiniCbfHeader {
  const h: MiniCbfHeader = { raw: {} };
  const conv = /_array_data\.header_convention\s+(?:"([^"]*)"|'([^']*)'|(\S+))/.exec(text);
  if (conv) h.headerConvention = conv[1] ?? conv[2] ?? conv[3];
  for (const line of text.split(/\r?\n|\r/)) {
    if (!line.startsWith("#") || line.startsWith("##")) continue;
    const body = line.slice(1).trim();
    if (!body) continue;
    if (isTimestamp(body)) {
      h.raw[TIMESTAMP_KEY] = body;
      h.timestamp = body;
      continue;
    }
    const sensor = SENSOR_RE.exec(body);
    if (sensor) {
      h.raw[sensor[1]!] = body.slice(sensor[1]!.length).trim();
      h.sensorMaterial = sensor[1]!;
      const t = quantities(sensor[2]!, "length")[0];
      if (t !== undefined) h.thicknessM = t;
      continue;
    }
    const m = /^([^\s:=]+)\s*[:=]?\s*(.*)$/.exec(body);
    if (!m) continue;
    const key = m[1]!;
    const value = m[2]!.replace(/^[=:]\s*/, "").trim();
    h.raw[key] = value;
    const spec = BY_KEY.get(key.toLowerCase());
    if (spec) setField(h, spec, value);
  }
  return h;
}

function setField(h: MiniCbfHeader, spec: LineSpec, value: string): void {
  const rec = h as unknown as Record<string, unknown>;
  if (spec.kind === "text") {
    rec[spec.field] = value;
    return;
  }
  const nums = quantities(value, spec.dim ?? "none");
  if (spec.kind === "pair") {
    if (nums.length >= 2) rec[spec.field] = [nums[0]!, nums[1]!];
    return;
  }
  const x = nums[0];
  if (x === undefined || !Number.isFinite(x)) return;
  rec[spec.field] = spec.kind === "int" ? Math.round(x) : x;
}

/** Shortest text that reads back as exactly `x` (Python's float() included). */
function num(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`header value ${x} is not a finite number`);
  return String(x);
}

/**
 * The "# ..." lines for a header, known fields first in camserver order, then any `raw`
 * lines whose key is not a known field (so a parsed header round-trips).
 */
export function formatMiniCbfLines(h: Partial<MiniCbfHeader>): string[] {
  const lines: string[] = [];
  const rec = h as Record<string, unknown>;
  const written = new Set<string>([TIMESTAMP_KEY]);
  for (const spec of LINES) {
    const v = rec[spec.field];
    written.add(spec.key.toLowerCase());
    if (v === undefined || v === null) continue;
    let text: string;
    // Function replacers: a "$&" in a value must not be read as a replacement pattern.
    if (spec.kind === "text") text = spec.template.replace("{}", () => String(v));
    else if (spec.kind === "pair") {
      const [a, b] = v as [number, number];
      text = spec.template.replace("{}", () => num(a)).replace("{}", () => num(b));
    } else {
      const x = v as number;
      text = spec.template.replace("{}", () => (spec.kind === "int" ? num(Math.round(x)) : num(x)));
    }
    lines.push(`# ${text}`);
    // The date goes right after the detector line, the sensor after the pixel size.
    if (spec.key === "Detector" && h.timestamp) lines.push(`# ${h.timestamp}`);
    if (spec.key === "Pixel_size") lines.push(...sensorLine(h));
  }
  if (h.detector === undefined && h.timestamp) lines.unshift(`# ${h.timestamp}`);
  if (h.pixelSizeM === undefined) lines.push(...sensorLine(h));
  const typedSensor = h.sensorMaterial !== undefined || h.thicknessM !== undefined;
  for (const [key, value] of Object.entries(h.raw ?? {})) {
    if (written.has(key.toLowerCase())) continue;
    // A parsed sensor line ("Silicon" -> "sensor, thickness ...") is superseded by the fields.
    if (typedSensor && /^sensor\b/i.test(value)) continue;
    lines.push(`# ${key} ${value}`.trimEnd());
  }
  return lines;
}

function sensorLine(h: Partial<MiniCbfHeader>): string[] {
  if (h.sensorMaterial === undefined && h.thicknessM === undefined) return [];
  const t = h.thicknessM === undefined ? "" : ` ${num(h.thicknessM)} m`;
  return [`# ${h.sensorMaterial ?? "Silicon"} sensor, thickness${t}`];
}
