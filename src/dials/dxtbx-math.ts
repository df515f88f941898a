/**
 * The vector operations dxtbx applies when it loads models, in scitbx's operation order
 * (vec3.h, mat3.h, math/r3_rotation.h) so the results are bit-for-bit what dxtbx's accessors
 * return, not merely close. dot, cross and matrix products come from ../geometry/vec3, whose
 * order is the same; normalize here returns NaN for a zero vector, as scitbx does.
 */

import type { Mat3, Vec3 } from "../geometry/models.js";
import { cross, dot, mat3Mul } from "../geometry/vec3.js";

/** scitbx::constants::pi_180. */
export const PI_180 = Math.atan(1) / 45;

/** scitbx vec3::normalize: each component divided by the length. */
export function normalize(v: Vec3): Vec3 {
  const l = Math.sqrt(dot(v, v));
  return [v[0] / l, v[1] / l, v[2] / l];
}

/** scitbx axis_and_angle_as_matrix (right-handed rotation about `axis`). */
export function axisAngleMatrix(axis: Vec3, angleDeg: number): Mat3 {
  const l = Math.sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
  if (!(l >= 1e-15)) throw new RangeError("rotation axis is too short");
  const u = axis[0] / l;
  const v = axis[1] / l;
  const w = axis[2] / l;
  const angle = angleDeg * PI_180;
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const oc = 1 - c;
  const uoc = u * oc;
  const voc = v * oc;
  const woc = w * oc;
  const us = u * s;
  const vs = v * s;
  const ws = w * s;
  return [
    c + u * uoc,
    -ws + u * voc,
    vs + u * woc,
    ws + v * uoc,
    c + v * voc,
    -us + v * woc,
    -vs + w * uoc,
    us + w * voc,
    c + w * woc,
  ];
}

/** A panel or group frame: fast and slow unit axes and origin. */
export interface Frame {
  fast: Vec3;
  slow: Vec3;
  origin: Vec3;
}

export const LAB_FRAME: Frame = { fast: [1, 0, 0], slow: [0, 1, 0], origin: [0, 0, 0] };

/**
 * dxtbx VirtualPanelFrame::update_global_frame: the global frame of a node whose local frame
 * (fast/slow already normalized, as set_local_frame stores them) sits in the parent's global
 * frame. The parent's axes are normalized again first, as set_parent_frame does.
 */
export function composeFrame(parentGlobal: Frame, local: Frame): Frame {
  const pf = normalize(parentGlobal.fast);
  const ps = normalize(parentGlobal.slow);
  const pn = cross(pf, ps);
  const po = parentGlobal.origin;
  const p: Mat3 = [pf[0], ps[0], pn[0], pf[1], ps[1], pn[1], pf[2], ps[2], pn[2]];
  const l: Mat3 = [
    local.fast[0],
    local.slow[0],
    local.origin[0],
    local.fast[1],
    local.slow[1],
    local.origin[1],
    local.fast[2],
    local.slow[2],
    local.origin[2],
  ];
  const d = mat3Mul(p, l);
  return {
    fast: [d[0], d[3], d[6]],
    slow: [d[1], d[4], d[7]],
    origin: [d[2] + po[0], d[5] + po[1], d[8] + po[2]],
  };
}
