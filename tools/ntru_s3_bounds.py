#!/usr/bin/env python3
"""Worst-case byte magnitudes inside the AVX2 byte-lane F_3 product (src/crypto/ntru/avx2/s3_mul.cc).

Every value there is a signed byte. Operands are trits (|.| <= 1) at every Karatsuba level, so
a schoolbook row k of two s-row operands is at most min(k + 1, 2s - 1 - k). This script follows
the kernel's steps on these per-position bounds -- three vertical interpolations (two for
n = 509, PreparedS3::kVerticalLevels; the outputs of the second-to-last reduced to [-2, 2]),
three horizontal ones (the middle terms of the outer two reduced), the fold mod x^n - 1 -- and
checks that no value the kernel computes exceeds 127 in
absolute value, so byte arithmetic is exact integer arithmetic and the result is exact mod 3.

    tools/ntru_s3_bounds.py          (exit status 1 if a set could overflow)
"""
import sys

# n -> piece length m (PreparedS3::kPiece), vertical levels (PreparedS3::kVerticalLevels)
SETS = {509: (64, 2), 677: (88, 3), 701: (88, 3), 821: (104, 3)}
REDUCED = 2  # Reduce() maps any byte to [-2, 2]


def schoolbook(s):
    return [min(k + 1, 2 * s - 1 - k) for k in range(2 * s - 1)] + [0]


def interpolate(lo, hi, mid, h, reduce_mid=False):
    """lo + x^h (mid - lo - hi) + x^2h hi; returns (result, largest middle term)."""
    n = len(lo)
    d = [mid[j] + lo[j] + hi[j] for j in range(n)]
    dmax = max(d)
    if reduce_mid:
        d = [min(v, REDUCED) for v in d]
    r = [0] * (2 * n)
    for k in range(n):
        r[k] += lo[k]
        r[h + k] += d[k]
        r[2 * h + k] += hi[k]
    return r, dmax


def worst(n, m, levels):
    s = m >> levels
    x = schoolbook(s)
    seen = max(x)
    h = s
    # Vertical levels, the last first: level 3 (if three), level 2 (then reduced), level 1.
    for reduce_after in (False, True, False)[3 - levels:]:
        x, d = interpolate(x, x, x, h)
        seen = max(seen, d, max(x))
        if reduce_after:
            x = [min(v, REDUCED) for v in x]
        h *= 2
    # Horizontal levels 3 (middle term kept), 2 and 1 (middle terms reduced).
    for reduce_mid in (False, True, True):
        x, d = interpolate(x, x, x, h, reduce_mid)
        seen = max(seen, d, max(x))
        h *= 2
    fold = max(x[i] + (x[i + n] if i + n < len(x) else 0) for i in range(n))
    return max(seen, fold), fold


def main():
    ok = True
    for n, (m, levels) in SETS.items():
        w, fold = worst(n, m, levels)
        print(f"n = {n}: m = {m}, schoolbooks of {m >> levels}, largest |byte| {w}, "
              f"after the fold {fold}")
        ok = ok and w <= 127
    print("no overflow" if ok else "OVERFLOW")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
