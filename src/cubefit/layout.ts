/**
 * The CubeFit file layout (seed 003), one HDF5 file per problem. Sizes: S spaxels (spatial
 * bins), L observed wavelength pixels, T template pixels, V LOSVD velocity bins, C
 * components (orbits / kinematic components), P template populations (flattened from the
 * template axes). Float32 on disk, float64 in math.
 *
 *   /DataCube (S, L) f64   /Templates (P, T) f32   /LOSVD (S, V, C) f32
 *   /TemPix (T,) f64 log-lambda   /ObsPix (L,) f64 log-lambda   /VelPix (V,) f64 km/s
 *   /R_T (T, L) f32 rebin operator   /RebinMatrix (L, T) f32
 *   /TemplatesFFT, /TemplatesFFT_R (P, T//2+1) complex64   /Mask (L,) uint8 (1 = use)
 *   /XPix, /YPix (nPix,) f64   /BinNum (nPix,) i32 in [0, S)
 *   /HyperCube/models (S, C, P, L) f32, chunks (S_chunk, C_chunk, P_chunk, L)
 *   /HyperCube/_done (Sgrid, Cgrid, Pgrid) u64: per tile 0 (not written) or a completion stamp
 *     (a digest of the inputs the tile was computed from); h5py: done != 0
 *   /X_global (C*P,) f64   /ModelCube (S, L) f64   /ModelCube_done (nSlabs,) u64 stamps
 *   /Fit/x_latest, /Fit/x_best (C*P,) f64   /Fit/x_ring (R, C*P) f64   /Fit/x_vis_ring (R, C*P) f32
 *   /Fit/metrics/{epoch, time_sec, train_rmse_ewma, val_rmse, delta_x_rel, nnz, l1_norm,
 *                 l2_norm, mass_err_L1, mass_err_Linf} (n,) f64, one row per record
 *   /Fit/sample/spaxels (Ns,) i32   /Fit/sample/val_pixels (Kval,) i32
 * Root attributes: dims (JSON {nSpat, nLSpec, nTSpec, nVel, nComp, nPop}),
 * template_meta_json, guard.* and guard_info_json.
 * x is indexed c * P + p (component-major), as the seed's x[C*P].
 */
export const CUBEFIT = {
  dataCube: "/DataCube",
  templates: "/Templates",
  losvd: "/LOSVD",
  temPix: "/TemPix",
  obsPix: "/ObsPix",
  velPix: "/VelPix",
  rebinT: "/R_T",
  rebinMatrix: "/RebinMatrix",
  templatesFFT: "/TemplatesFFT",
  templatesFFTR: "/TemplatesFFT_R",
  mask: "/Mask",
  xPix: "/XPix",
  yPix: "/YPix",
  binNum: "/BinNum",
  models: "/HyperCube/models",
  modelsDone: "/HyperCube/_done",
  xGlobal: "/X_global",
  modelCube: "/ModelCube",
  modelCubeDone: "/ModelCube_done",
  fit: "/Fit",
  xLatest: "/Fit/x_latest",
  xBest: "/Fit/x_best",
  xRing: "/Fit/x_ring",
  xVisRing: "/Fit/x_vis_ring",
  metrics: "/Fit/metrics",
  sampleSpaxels: "/Fit/sample/spaxels",
  sampleValPixels: "/Fit/sample/val_pixels",
} as const;

/** The metrics series of /Fit/metrics, in the seed's order. */
export const FIT_METRICS = [
  "epoch",
  "time_sec",
  "train_rmse_ewma",
  "val_rmse",
  "delta_x_rel",
  "nnz",
  "l1_norm",
  "l2_norm",
  "mass_err_L1",
  "mass_err_Linf",
] as const;
export type FitMetric = (typeof FIT_METRICS)[number];

/** The root attribute `dims`. */
export interface CubeDims {
  nSpat: number;
  nLSpec: number;
  nTSpec: number;
  nVel: number;
  nComp: number;
  nPop: number;
}

/** Speed of light, km/s (LOSVD velocities to log-lambda offsets: d ln(lambda) = v / c). */
export const C_KMS = 299792.458;
