"""numpy side of tests/bench/diffuse-extract.bench.ts: the same per-pixel extraction and
corrections (Modules 2.S.1 + 2.S.2) as src/diffuse/extract-panel.ts, vectorised per panel.

Usage: diffuse_extract_bench.py DIR
DIR holds setup.json (panels, beam, options, the sensor/air mu the TS side uses) and per panel
raw_<k>.f64 and mask_<k>.u8 (slow-major). Then commands on stdin, one per line, each answered
by one JSON line on stdout (so the TS side can interleave its runs with ours):
  run1   all panels one after another          -> {"seconds": s}
  run2   all panels over a 2-thread pool (numpy releases the GIL in its loops) -> {"seconds": s}
  dump   write the last run1's concatenated outputs to DIR/np_<column>.bin -> {"numpy": version}
  quit
"""
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

out_dir = sys.argv[1]
setup = json.load(open(os.path.join(out_dir, "setup.json")))
beam = setup["beam"]
opts = setup["options"]
panels = setup["panels"]
raws = [np.fromfile(os.path.join(out_dir, f"raw_{k}.f64"), dtype=np.float64) for k in range(len(panels))]
masks = [np.fromfile(os.path.join(out_dir, f"mask_{k}.u8"), dtype=np.uint8) for k in range(len(panels))]


def extract_panel(p, raw, mask, mu_sensor, mu_air):
    nf, ns = p["imageSize"]
    step = opts["pixelStep"]
    raw2 = raw.reshape(ns, nf)[::step, ::step]
    mask2 = mask.reshape(ns, nf)[::step, ::step]
    jj, ii = np.nonzero((mask2 != 0) & ~np.isnan(raw2))
    rawv = raw2[jj, ii]
    fast = ii * step
    slow = jj * step
    f = np.array(p["fastAxis"])
    s = np.array(p["slowAxis"])
    o = np.array(p["originMm"])
    n = np.cross(f, s)
    px_f, px_s = p["pixelSizeMm"]
    x0 = (fast + 0.5) * px_f
    y0 = (slow + 0.5) * px_s
    # Lab position, component-wise (N-vectors rather than N x 3: faster in numpy).
    px = o[0] + x0 * f[0] + y0 * s[0]
    py = o[1] + x0 * f[1] + y0 * s[1]
    pz = o[2] + x0 * f[2] + y0 * s[2]
    if p["parallaxCorrected"] and p["muPerMm"] > 0 and p["thicknessMm"] > 0:
        # dxtbx parallax_correction_inv (ParallaxCorrectedPxMmStrategy)
        mu, t0 = p["muPerMm"], p["thicknessMm"]
        ns_ = n * (-1.0 if o.dot(n) < 0 else 1.0)
        r0 = np.sqrt(px * px + py * py + pz * pz)
        ux, uy, uz = px / r0, py / r0, pz / r0
        cos_t = ux * ns_[0] + uy * ns_[1] + uz * ns_[2]
        att = 1.0 / mu - (t0 / cos_t + 1.0 / mu) * np.exp(-mu * t0 / cos_t)
        sf = (ux * f[0] + uy * f[1] + uz * f[2]) * att
        ss = (ux * s[0] + uy * s[1] + uz * s[2]) * att
        px = px - (sf * f[0] + ss * s[0])
        py = py - (sf * f[1] + ss * s[1])
        pz = pz - (sf * f[2] + ss * s[2])
    r2 = px * px + py * py + pz * pz
    r = np.sqrt(r2)
    ux, uy, uz = px / r, py / r, pz / r
    d = np.array(beam["directionToSource"])
    d = d / np.linalg.norm(d)
    lam = beam["wavelengthA"]
    qx = (ux + d[0]) / lam
    qy = (uy + d[1]) / lam
    qz = (uz + d[2]) / lam
    ql = np.sqrt(qx * qx + qy * qy + qz * qz)
    if opts.get("dMaxA") is not None or opts.get("dMinA") is not None:
        dsp = 1.0 / ql
        keep = np.ones(len(ql), dtype=bool)
        if opts.get("dMinA") is not None:
            keep &= dsp >= opts["dMinA"]
        if opts.get("dMaxA") is not None:
            keep &= dsp <= opts["dMaxA"]
        fast, slow, rawv, px, py, pz, r2, r, ux, uy, uz, qx, qy, qz, ql = (
            a[keep] for a in (fast, slow, rawv, px, py, pz, r2, r, ux, uy, uz, qx, qy, qz, ql))
    sa = r2 * r / (px_f * px_s * np.abs(n[0] * px + n[1] * py + n[2] * pz))
    pn = np.array(beam["polarizationNormal"])
    pf = beam["polarizationFraction"]
    pdot = pn[0] * ux + pn[1] * uy + pn[2] * uz
    c2t = ux * d[0] + uy * d[1] + uz * d[2]
    pol = 1.0 / ((1 - 2 * pf) * (1 - pdot * pdot) + pf * (1 + c2t * c2t))
    cos_a = np.abs(n[0] * ux + n[1] * uy + n[2] * uz) / np.linalg.norm(n)
    eff = 1.0 / (1.0 - np.exp(-mu_sensor * p["thicknessMm"] / cos_a))
    air = np.exp(mu_air * r)
    total = sa * pol * eff * air
    t = opts["exposureTimeS"]
    bg = opts["background"]["constant"]
    bg_var = opts["background"]["variance"]
    inten = (rawv - bg) / t * total
    sigma = np.sqrt((np.maximum(rawv, 0.0) / opts["gain"] + bg_var) / (t * t) * total * total)
    q = np.stack([qx, qy, qz], axis=1)
    return {"qLab": q, "qLengthPerA": ql, "intensity": inten, "sigma": sigma, "fast": fast,
            "slow": slow, "solidAngleMult": sa, "polarizationMult": pol, "efficiencyMult": eff,
            "airMult": air, "totalMult": total}


def one(k):
    return extract_panel(panels[k], raws[k], masks[k], setup["muSensor"][k], setup["muAir"])


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


last = None
with ThreadPoolExecutor(max_workers=2) as pool:
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "run1":
            t0 = time.perf_counter()
            last = [one(k) for k in range(len(panels))]
            reply({"seconds": time.perf_counter() - t0})
        elif cmd == "run2":
            t0 = time.perf_counter()
            list(pool.map(one, range(len(panels))))
            reply({"seconds": time.perf_counter() - t0})
        elif cmd == "dump":
            for name in ("qLab", "intensity", "sigma", "totalMult", "qLengthPerA"):
                np.concatenate([c[name].ravel() for c in last]).astype(np.float64).tofile(
                    os.path.join(out_dir, f"np_{name}.bin"))
            for name in ("fast", "slow"):
                np.concatenate([c[name] for c in last]).astype(np.uint32).tofile(
                    os.path.join(out_dir, f"np_{name}.bin"))
            reply({"numpy": np.__version__})
        elif cmd == "quit":
            break
