"""Cross-checks for tests/images/interop.test.ts, run with Debian's /usr/bin/python3.

    xcheck.py probe                      -> {"fabio": "...", "dxtbx": "..."} or exit 3
    xcheck.py fabio FILE...              -> per file: shape, sha256 of int32 LE pixels, header
    xcheck.py dxtbx FILE...              -> per file: format class, pixels sha256, models
    xcheck.py compress RAW FAST SLOW     -> sha256 + length of dxtbx's byte_offset of RAW (int32 LE)

Prints one JSON document on stdout (the last line).
"""

import hashlib
import json
import sys


def sha(a):
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(a, dtype="<i4").tobytes()).hexdigest()


def probe():
    try:
        import dxtbx  # noqa: F401
        import fabio
        import numpy  # noqa: F401
    except Exception as e:  # noqa: BLE001
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(3)
    try:
        from importlib.metadata import version

        dv = version("dxtbx")
    except Exception:  # noqa: BLE001
        dv = "?"
    return {"fabio": fabio.version, "dxtbx": dv}


def fabio_read(paths):
    import logging

    import fabio

    logging.getLogger("fabio").setLevel(logging.ERROR)  # its MD5 check misfires on tiny files
    out = {}
    for p in paths:
        img = fabio.open(p)
        ph = img.pilatus_headers
        out[p] = {
            "shape": list(img.data.shape),
            "dtype": str(img.data.dtype),
            "sha256": sha(img.data),
            "first": [int(x) for x in img.data.reshape(-1)[:8]],
            "header": {k: str(v) for k, v in img.header.items() if not k.startswith("_array_data.data")},
            "pilatus": {k: (list(v) if isinstance(v, tuple) else v) for k, v in ph._dict.items()}
            if ph is not None
            else None,
        }
    return out


def dxtbx_read(paths):
    import dxtbx

    out = {}
    for p in paths:
        img = dxtbx.load(p)
        raw = img.get_raw_data()
        raw = raw[0] if isinstance(raw, tuple) else raw
        det = img.get_detector()
        panel = det[0]
        beam = img.get_beam()
        scan = img.get_scan()
        out[p] = {
            "format": type(img).__name__,
            "mro": [c.__name__ for c in type(img).__mro__],
            "shape": list(raw.all()),
            "sha256": sha(raw.as_numpy_array()),
            "exposure_time_s": scan.get_exposure_times()[0] if scan else None,
            "oscillation_deg": list(scan.get_oscillation()) if scan else None,
            "epoch_s": scan.get_epochs()[0] if scan else None,
            "wavelength_a": beam.get_wavelength(),
            "distance_mm": panel.get_distance(),
            "pixel_size_mm": list(panel.get_pixel_size()),
            "image_size": list(panel.get_image_size()),
            "trusted_range": list(panel.get_trusted_range()),
            "thickness_mm": panel.get_thickness(),
            "material": panel.get_material(),
            "mu_per_mm": panel.get_mu(),
            "beam_centre_mm": list(panel.get_beam_centre(beam.get_s0())),
            "fast_axis": list(panel.get_fast_axis()),
            "slow_axis": list(panel.get_slow_axis()),
            "origin_mm": list(panel.get_origin()),
            "px_mm_strategy": type(panel.get_px_mm_strategy()).__name__,
            "n_mask_regions": len(panel.get_mask()),
        }
    return out


def dxtbx_compress(raw, fast, slow):
    import numpy as np
    from dxtbx.ext import compress
    from scitbx.array_family import flex

    a = np.fromfile(raw, dtype="<i4")
    assert a.size == int(fast) * int(slow)
    packed = compress(flex.int(a.astype(np.int64).tolist()))
    packed = packed.encode("latin1") if isinstance(packed, str) else bytes(packed)
    return {"sha256": hashlib.sha256(packed).hexdigest(), "length": len(packed)}


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "probe":
        result = probe()
    elif cmd == "fabio":
        result = fabio_read(args)
    elif cmd == "dxtbx":
        result = dxtbx_read(args)
    elif cmd == "compress":
        result = dxtbx_compress(*args)
    else:
        raise SystemExit(f"unknown command {cmd}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
