/**
 * The experimental models of a still, in DIALS/dxtbx conventions, as plain typed data.
 *
 * Frames and units: everything is in the dxtbx laboratory frame, lengths in millimetres
 * (suffix `Mm`), wavelengths and cell edges in Angstrom (`A`), reciprocal quantities in
 * inverse Angstrom (`PerA`). A panel's axes and origin here are always the *global*
 * (hierarchy-composed) lab-frame values, so geometry code never walks a hierarchy.
 */

export type Vec3 = readonly [number, number, number];
/** Row-major 3x3 matrix. */
export type Mat3 = readonly [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];

export interface Beam {
  /** Unit vector from the sample towards the source (dxtbx `direction`); s0 = -directionToSource / wavelengthA. */
  directionToSource: Vec3;
  wavelengthA: number;
  /** Normal to the polarization plane (dxtbx `polarization_normal`), unit. */
  polarizationNormal: Vec3;
  /** Fraction of the beam polarized in the plane perpendicular to `polarizationNormal` (dxtbx `polarization_fraction`). */
  polarizationFraction: number;
  divergenceRad: number;
  sigmaDivergenceRad: number;
  fluxPhotonsPerS: number;
  transmission: number;
}

export interface Panel {
  name: string;
  type: string;
  /** Global lab-frame unit vectors along increasing fast and slow pixel index. */
  fastAxis: Vec3;
  slowAxis: Vec3;
  /** Lab-frame position of the panel's pixel-coordinate origin (corner of pixel 0,0), mm. */
  originMm: Vec3;
  /** [fast, slow] pixel pitch, mm. */
  pixelSizeMm: readonly [number, number];
  /** [nFast, nSlow] pixels. */
  imageSize: readonly [number, number];
  /** Raw values outside [min, max] are untrusted (dxtbx: strictly inside min is trusted... see masks). */
  trustedRange: readonly [number, number];
  thicknessMm: number;
  material: string;
  /** Linear attenuation coefficient of the sensor at the beam energy, per mm (0: unknown). */
  muPerMm: number;
  gain: number;
  pedestal: number;
  /** True when dxtbx maps pixels to mm with parallax correction (ParallaxCorrectedPxMmStrategy). */
  parallaxCorrected: boolean;
  rawImageOffset: readonly [number, number];
  identifier: string;
}

export interface Detector {
  panels: Panel[];
}

export interface Crystal {
  /** Real-space cell vectors in the lab frame at the reference setting, Angstrom. */
  realSpaceA: Vec3;
  realSpaceB: Vec3;
  realSpaceC: Vec3;
  spaceGroupHall: string;
  /** Scan-varying setting matrices A = U B (lab frame, per Angstrom), one per scan point, if present. */
  aAtScanPoints?: Mat3[];
  /** Mosaicity fields DIALS stills refinement writes (`ML_half_mosaicity_deg`, `ML_domain_size_ang`). */
  mlHalfMosaicityDeg?: number;
  mlDomainSizeA?: number;
}

export interface Scan {
  /** Inclusive 1-based image range, as dxtbx. */
  imageRange: readonly [number, number];
  batchOffset: number;
  /** [start, width] of each image's oscillation, degrees. */
  oscillationDeg: readonly [number, number];
  exposureTimesS: number[];
  epochsS: number[];
}

export interface Goniometer {
  /** dxtbx's rotation-axis *datum*: the lab-frame axis is settingRotation · rotationAxis. */
  rotationAxis: Vec3;
  fixedRotation: Mat3;
  settingRotation: Mat3;
}

export interface ImageSetRef {
  /** dxtbx imageset class (`ImageSet`, `ImageSequence`, ...). */
  type: string;
  /** Image file paths, or a `template` with `#` digits for sequences. */
  images?: string[];
  template?: string;
  /** HDF5/NeXus: which frame of the file each image is (single image stills). */
  singleFileIndices?: number[];
  mask?: string;
  gain?: string;
  pedestal?: string;
}

export interface Experiment {
  identifier: string;
  beam: Beam;
  detector: Detector;
  crystal?: Crystal;
  scan?: Scan;
  goniometer?: Goniometer;
  imageset?: ImageSetRef;
}
