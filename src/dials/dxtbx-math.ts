/**
 * The few vector operations dxtbx applies when it loads models, written in the same operation
 * order as scitbx (vec3.h, mat3.h, math/r3_rotation.h) so the results are bit-for-bit what
 * dxtbx's accessors return, not merely close.
 */

import type { Mat3, Vec3 } from "../geometry/models.js";

/** scitbx::constants::pi_180. */
export const PI_180 = Math.atan(1) / 45;

export const IDENTITY3: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/** scitbx vec3::normalize: each component divided by the length. */
export function normalize(v: Vec3): Vec3 {
  const l = Math.sqrt(dot(v, v));
  return [v[0] / l, v[1] / l, v[2] / l];
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - b[1] * a[2], a[2] * b[0] - b[2] * a[0], a[0] * b[1] - b[0] * a[1]];
}

export function mul33(a: Mat3, b: Mat3): Mat3 {
  return [
    a[0] * b[0] + a[1] * b[3] + a[2] * b[6],
    a[0] * b[1] + a[1] * b[4] + a[2] * b[7],
    a[0] * b[2] + a[1] * b[5] + a[2] * b[8],
    a[3] * b[0] + a[4] * b[3] + a[5] * b[6],
    a[3] * b[1] + a[4] * b[4] + a[5] * b[7],
    a[3] * b[2] + a[4] * b[5] + a[5] * b[8],
    a[6] * b[0] + a[7] * b[3] + a[8] * b[6],
    a[6] * b[1] + a[7] * b[4] + a[8] * b[7],
    a[6] * b[2] + a[7] * b[5] + a[8] * b[8],
  ];
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
  const d = mul33(p, l);
  return {
    fast: [d[0], d[3], d[6]],
    slow: [d[1], d[4], d[7]],
    origin: [d[2] + po[0], d[5] + po[1], d[8] + po[2]],
  };
}
