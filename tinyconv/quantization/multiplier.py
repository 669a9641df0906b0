"""Real multipliers as integer multipliers and shifts (gemmlowp / TFLite).

Requantization maps a layer's int32 accumulator to the next int8 activation by the real factor
M = s_in * s_w / s_out (usually well below 1). Integer-only hardware has no float unit for it, so
M is written as

    M = M0 * 2**-s,    M0 an integer in [2**30, 2**31) (a Q0.31 number in [0.5, 1)), s >= 1,

and applied as `(acc * M0 + 2**(s - 1)) >> s` in 64-bit integers: exact product, then one
rounding, half up (towards +inf), because `>>` floors. This is TFLite's single-rounding
`MultiplyByQuantizedMultiplier`; gemmlowp's original form rounds twice (a doubling high
multiply, then a rounding shift) and can differ by 1 in rare ties. M0 keeps 31 significant bits,
so M is represented to a relative error below 2**-31 — far below the int8 step.
"""
from __future__ import annotations

import math

import numpy as np

MAX_SHIFT = 62  # acc * M0 < 2**31 * 2**31 = 2**62 fits int64; a larger shift leaves only the rounding


def quantize_multiplier(m):
    """(M0, s) int64 arrays with M0 * 2**-s == M to 31 significant bits, for each M > 0 in `m`.

    Multipliers below 2**-31 (an output range far wider than the accumulator's) keep fewer bits
    at s = 62 (M0 = round(M * 2**62), possibly 0); M that rounds to 2**30 or more at 31 bits is
    refused (s would be < 1)."""
    m = np.atleast_1d(np.asarray(m, dtype=np.float64))
    if not (np.isfinite(m).all() and (m > 0).all()):
        raise ValueError(f"quantize_multiplier: multipliers must be finite and > 0, got {m[~(np.isfinite(m) & (m > 0))][:4].tolist()}")
    m0, shift = np.empty(m.shape, np.int64), np.empty(m.shape, np.int64)
    for i, v in enumerate(m.ravel()):
        mant, exp = math.frexp(v)  # v = mant * 2**exp, mant in [0.5, 1)
        q = round(mant * 2**31)  # half to even; exact: mant has 53 bits, the product is scaled by a power of 2
        if q == 2**31:
            q, exp = q // 2, exp + 1
        s = 31 - exp
        if s < 1:
            raise ValueError(f"quantize_multiplier: multiplier {v} rounds to >= 2**30 at 31 bits and cannot "
                             f"be applied as a right shift")
        if s > MAX_SHIFT:
            q, s = round(v * 2.0**MAX_SHIFT), MAX_SHIFT
        m0.flat[i], shift.flat[i] = q, s
    return m0, shift
