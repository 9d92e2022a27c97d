#!/usr/bin/env python3
"""Fits the rational approximation of tanh used by codegen/VectorMath.cpp (emitTanh).

tanh(x) ~ x * P(x^2) / Q(x^2) on [0, C], P of degree 6 and Q of degree 3 in x^2, both with
constant term 1 (so the quotient is x * (1 + O(x^2)) near 0: small inputs keep their relative
accuracy without a separate branch). The fit minimises the largest absolute error by
iteratively reweighted least squares on the linearised error x*P - tanh(x)*Q (Lawson's
weights, divided by the previous Q). It prints the coefficients as C++ and the error of the
float32 evaluation the generated code performs (FMA Horner, a multiply and a divide, the
result capped at 1), measured against double-precision tanh.

Needs numpy only: /usr/bin/python3 scripts/fit_tanh.py
"""
import numpy as np

C = 9.2  # the input is clamped to [-C, C]; the approximation reaches 1.0f before C
NP, NQ = 6, 3


def fit(c, n_p, n_q, iters=300):
    xs = np.linspace(1e-6, c, 40001)
    s = xs * xs
    f = np.tanh(xs)
    # Columns scaled by c^(2k) so that least squares sees well-conditioned columns.
    sp = np.array([c ** (2 * k) for k in range(1, n_p + 1)])
    sq = np.array([c ** (2 * k) for k in range(1, n_q + 1)])
    a = np.hstack([np.stack([xs * s ** k / sp[k - 1] for k in range(1, n_p + 1)], 1),
                   -np.stack([f * s ** k / sq[k - 1] for k in range(1, n_q + 1)], 1)])
    b = f - xs
    w = np.ones_like(xs)
    q_prev = np.ones_like(xs)
    best = None
    for _ in range(iters):
        wt = w / q_prev
        sol, *_ = np.linalg.lstsq(a * wt[:, None], b * wt, rcond=None)
        p, q = sol[:n_p] / sp, sol[n_p:] / sq
        pv = 1 + sum(p[k] * s ** (k + 1) for k in range(n_p))
        qv = 1 + sum(q[k] * s ** (k + 1) for k in range(n_q))
        err = xs * pv / qv - f
        m = np.abs(err).max()
        if best is None or m < best[0]:
            best = (m, p.copy(), q.copy())
        q_prev = qv
        w = np.maximum(w * np.sqrt(np.abs(err)), 1e-300)
        w /= w.max()
    return best


def fma(x, y, z):
    # float32 fused multiply-add: the float64 product of two floats is exact, one rounding.
    return (x.astype(np.float64) * y.astype(np.float64) + z.astype(np.float64)).astype(np.float32)


def horner(s, coeffs):
    r = np.full_like(s, np.float32(coeffs[-1]))
    for k in range(len(coeffs) - 2, -1, -1):
        r = fma(r, s, np.full_like(s, np.float32(coeffs[k])))
    return r


def tanh32(x, p, q):
    ax = np.minimum(np.abs(x), np.float32(C))
    s = ax * ax
    pv = horner(s, [1.0] + list(p))
    qv = horner(s, [1.0] + list(q))
    return np.copysign(np.minimum((ax * pv) / qv, np.float32(1)), x)


def main():
    m, p, q = fit(C, NP, NQ)
    p = [float(np.float32(v)) for v in p]
    q = [float(np.float32(v)) for v in q]
    print(f"// clamp {C}; double-precision fit error {m:.2g}")
    print("P (x^2 ... x^12):", ", ".join(f"{v:.9g}" for v in p))
    print("Q (x^2 ... x^6): ", ", ".join(f"{v:.9g}" for v in q))
    rng = np.random.default_rng(1)
    x = np.concatenate([np.linspace(-12, 12, 4000001), rng.uniform(-12, 12, 2000000),
                        np.geomspace(1e-30, 1, 10000)]).astype(np.float32)
    ref = np.tanh(x.astype(np.float64))
    got = tanh32(x, p, q).astype(np.float64)
    err = np.abs(got - ref)
    nz = x != 0
    rel = err[nz] / np.abs(ref[nz])
    print(f"float32: max absolute error {err.max():.3g} at {x[err.argmax()]:.9g}; "
          f"max relative {rel.max():.3g} at {x[nz][rel.argmax()]:.9g}")
    below = x[(got < 1.0) & (x > 0)].max()
    print(f"float32: exactly 1.0 above x = {below:.9g}")


if __name__ == "__main__":
    main()
