"""The dtype test pattern of formula.mjs, re-implemented with numpy (independently of it).

Element k (flat C-order index) of each dtype; float32 values are float64 expressions
rounded once to float32, like Math.fround in formula.mjs.
"""
import numpy as np

GOLDEN = 0x9E3779B97F4A7C15
DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
          "float32", "float64", "bool", "complex64", "complex128"]


def pattern(dtype, n, k0=0):
    """Elements k0..k0+n-1 as a 1-d numpy array of the dtype (numpy bool for 'bool')."""
    k = np.arange(k0, k0 + n, dtype=np.int64)
    if dtype == "int8":
        return (((k * 37) % 256) - 128).astype(np.int8)
    if dtype == "uint8":
        return ((k * 37) % 256).astype(np.uint8)
    if dtype == "int16":
        return (((k * 40503) % 65536) - 32768).astype(np.int16)
    if dtype == "uint16":
        return ((k * 40503) % 65536).astype(np.uint16)
    if dtype == "int32":
        return (((k * 2654435761) % 2**32) - 2**31).astype(np.int32)
    if dtype == "uint32":
        return ((k * 2654435761) % 2**32).astype(np.uint32)
    if dtype == "int64":
        return np.array([((int(i) * GOLDEN) % 2**64) - 2**63 for i in k], dtype=np.int64)
    if dtype == "uint64":
        return np.array([(int(i) * GOLDEN) % 2**64 for i in k], dtype=np.uint64)
    if dtype == "float32":
        return (k / 3 - 50).astype(np.float32)
    if dtype == "float64":
        return k / 7 - 100
    if dtype == "bool":
        return k % 3 == 0
    if dtype == "complex64":
        out = np.empty(n, dtype=np.complex64)
        out.real = (k / 3).astype(np.float32)
        out.imag = (-k / 5 + 0.5).astype(np.float32)
        return out
    if dtype == "complex128":
        out = np.empty(n, dtype=np.complex128)
        out.real = k / 7
        out.imag = -k / 11 + 0.25
        return out
    raise ValueError(dtype)


def same(a, b):
    """Exact equality, NaN == NaN, dtype-independent for bool vs uint8."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a.astype(np.int64) if a.dtype == bool else a, b.astype(np.int64) if b.dtype == bool else b))
