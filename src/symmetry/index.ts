/**
 * Crystal symmetry for diffuse-scattering voxel maps: Laue groups, space group -> Laue class
 * for all 230 space groups, and exact cctbx-compatible reciprocal-space ASU mapping.
 * Browser-safe (no node: imports).
 *
 * Conventions (cctbx reference settings):
 * - Laue operators act on Miller indices as a row vector times R: h' = h . R (row-major R).
 * - Monoclinic unique axis b; trigonal/hexagonal and rhombohedral (R) groups on hexagonal
 *   axes; -3m in two orientations: "-3m1" (P321-type and all R groups) and "-31m" (P312-type).
 * - mapToAsu == cctbx `miller.map_to_asu(sg_type, anomalous_flag=False, ...)`.
 */
export { SymmetryError } from "./errors.js";
export {
  ASU_CONDITIONS,
  LAUE_CLASS_NAMES,
  isLaueClassName,
  laueGroupByName,
  symmetryMates,
  type LaueClassName,
  type LaueGroup,
} from "./laue.js";
export { isInAsu, mapToAsu } from "./asu.js";
export {
  laueGroup,
  spaceGroupInfo,
  type SpaceGroupInfo,
  type SpaceGroupSetting,
} from "./space-groups.js";
