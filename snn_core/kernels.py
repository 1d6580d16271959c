"""Fused CPU kernels (numba) for the hot loops: the LIF scans and the Bernoulli encoder.

They are optional. Without numba, or with SPIKEBOARD_ENGINE=torch, the plain PyTorch
paths in `neurons.py` and `encoders.py` run instead; both paths pass the same parity
tests against the per-timestep reference. Kernels are compiled on first use and cached
on disk (numba's `cache=True`), so only the first run on a machine pays the compile.

The forward LIF kernel does the float32 operations of the PyTorch path in the same order,
so its spikes are bit-identical to it; the backward kernel fuses the surrogate into the
reverse scan with a vectorisable exp, so its gradients match within float tolerance.
"""

from __future__ import annotations

import os

import math

import numpy as np

from .surrogate_table import KERNEL_ARCTAN, KERNEL_FAST_SIGMOID, KERNEL_SIGMOID

try:  # numba is an accelerator, not a requirement
    import numba
    from numba import njit
except ImportError:  # pragma: no cover - exercised on machines without numba
    numba = None

ENGINES = ("auto", "torch", "numba")
# The surrogate is defined as exactly 0 where |z (m - V_th)| >= this (it is below 2e-35 z there):
# both engines cut at the same point, so their gradients agree everywhere (`surrogates.sigmoid`).
SURROGATE_CUTOFF = 80.0


def engine() -> str:
    """The selected CPU engine: 'numba' when available (default) or 'torch'."""
    choice = os.environ.get("SPIKEBOARD_ENGINE", "auto")
    if choice not in ENGINES:
        raise ValueError(f"SPIKEBOARD_ENGINE must be one of {', '.join(ENGINES)}, got {choice!r}")
    if choice == "torch" or numba is None:
        return "torch"
    return "numba"


if numba is not None:
    _GOLDEN = np.uint64(0x9E3779B97F4A7C15)
    _M1 = np.uint64(0xBF58476D1CE4E5B9)
    _M2 = np.uint64(0x94D049BB133111EB)

    @njit(cache=True, inline="always")
    def _splitmix64(x):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))

    @njit(cache=True)
    def bernoulli_u16(thresholds, key, t0, T, out):
        """out[t, b, p] = 1 if u16(t0 + t, b, p) < thresholds[b, p] else 0, for t in 0..T-1;
        returns the number of ones.

        u16 are 16-bit draws from a counter-based generator (splitmix64 of key and the
        element's position; one 64-bit hash gives four draws), so the result depends only
        on `key` and the step: steps t0..t0+T-1 of a train can be drawn alone, equal to
        those steps of the whole train. thresholds: int32 [B, P] in 0..65536 (P(spike) =
        threshold / 65536). Serial on purpose: torch's spinning OpenMP threads make a
        parallel kernel slower.
        """
        B, P = thresholds.shape
        full = P // 4  # whole groups of four pixels; a last partial group gets its own hash
        ones = 0
        if full * 4 == P:  # (784 pixels) the same draws, in two loops that vectorise: the hashes
            # of one step, then their 16-bit quarters (little-endian: bits 0-15 first) compared
            n = B * full
            hashes = np.empty(n, dtype=np.uint64)
            draws = hashes.view(np.uint16)
            flat = out.reshape(T, B * P)
            thr = thresholds.reshape(B * P)
            for t in range(T):
                base = np.uint64((t0 + t) * n)
                for i in range(n):
                    hashes[i] = _splitmix64(key + (base + np.uint64(i)) * _GOLDEN)
                row = flat[t]
                for j in range(B * P):
                    spike = np.int32(draws[j]) < thr[j]
                    row[j] = np.float32(spike)
                    ones += np.int64(spike)
            return ones
        mask = np.uint64(0xFFFF)
        groups = full + (1 if full * 4 < P else 0)
        counter = np.uint64(t0 * B * groups)
        for t in range(T):
            for b in range(B):
                for q in range(full):
                    h = _splitmix64(key + counter * _GOLDEN)
                    counter += np.uint64(1)
                    p = q * 4
                    out[t, b, p] = np.float32(np.int32(h & mask) < thresholds[b, p])
                    out[t, b, p + 1] = np.float32(np.int32((h >> np.uint64(16)) & mask) < thresholds[b, p + 1])
                    out[t, b, p + 2] = np.float32(np.int32((h >> np.uint64(32)) & mask) < thresholds[b, p + 2])
                    out[t, b, p + 3] = np.float32(np.int32(h >> np.uint64(48)) < thresholds[b, p + 3])
                if full * 4 < P:
                    h = _splitmix64(key + counter * _GOLDEN)
                    counter += np.uint64(1)
                    for j in range(P - full * 4):
                        u = np.int32((h >> np.uint64(16 * j)) & mask)
                        out[t, b, full * 4 + j] = np.float32(u < thresholds[b, full * 4 + j])
                for p in range(P):
                    ones += np.int64(out[t, b, p] != 0)
        return ones

    @njit(cache=True)
    def lif_forward(current, m0, beta, v_th, spikes, membranes):
        """Fill spikes and pre-spike membranes [T, M] (M = batch x neurons, flattened).

        m0, beta, v_th: float32 [M]. No fastmath: the float32 operations stay those of the
        PyTorch path, in its order (no fused multiply-add), so the spikes are bit-identical.
        """
        T, M = current.shape
        m = m0.copy()
        one, zero = np.float32(1.0), np.float32(0.0)
        for t in range(T):  # three short passes, each over few arrays, so that each vectorises
            for j in range(M):
                membranes[t, j] = m[j]
            for j in range(M):
                spikes[t, j] = one if m[j] > v_th[j] else zero
            for j in range(M):
                m[j] = m[j] * beta[j] + current[t, j] - spikes[t, j] * v_th[j]

    _LOG2E = np.float32(1.4426950408889634)
    _LN2 = np.float32(0.6931471805599453)
    _Y_MAX = np.float32(SURROGATE_CUTOFF)
    # Beyond the cutoff y becomes 127 ln 2, where 2^-n = 2^-127 is built from zero bits: exactly 0.0,
    # so the surrogate is exactly 0 there (as in the torch path) without a separate masking pass.
    _Y_ZERO = np.float32(127 * 0.6931471805599453)

    _HALF_PI = np.float32(math.pi / 2)

    @njit(cache=True, inline="always")
    def fast_sigmoid_grad(zx):
        """1 / (1 + |z x|)^2 of zx = z x (`surrogates.fast_sigmoid`), in float32."""
        d = np.float32(1.0) + abs(zx)
        return np.float32(1.0) / (d * d)

    @njit(cache=True, inline="always")
    def arctan_grad(zx, z):
        """(z / 2) / (1 + (pi / 2 z x)^2) of zx = z x (`surrogates.arctan`), in float32."""
        w = _HALF_PI * zx
        return (z * np.float32(0.5)) / (np.float32(1.0) + w * w)

    @njit(cache=True, error_model="numpy")  # numpy's float division: no zero check, so it vectorises
    def lif_backward(grad_spikes, membranes, beta, v_th, z, grad_current, kernel=KERNEL_SIGMOID):
        """Surrogate and reverse scan in one pass, all [T, M] (params [M]):

            local_t = g_t * z e / (1 + e)^2,   e = exp(-|z (m_t - V_th)|)   (0 where |z (m_t - V_th)| >= 80)
            a_t = local_t + beta a_{t+1},  a_T = 0,  grad_current[t] = a_{t+1}

        z e / (1 + e)^2 equals z sig(x)(1 - sig(x)) without overflow. exp is computed as
        2^-n e^-f (n = round(y log2 e), |f| <= ln2 / 2, a degree-6 polynomial, relative error
        ~1e-7), with 2^-n built from its bits, so every loop vectorises; libm's exp does not.
        `kernel` (`SurrogateSpec.kernel`) picks another surrogate instead: `fast_sigmoid_grad`,
        `arctan_grad` (no exp; the branch is outside the inner loops, which still vectorise).
        """
        T, M = grad_spikes.shape
        a = np.zeros(M, dtype=np.float32)
        bits = np.empty(M, dtype=np.int32)
        scale = bits.view(np.float32)
        poly = np.empty(M, dtype=np.float32)
        one = np.float32(1.0)
        c2, c3, c4 = np.float32(1 / 2), np.float32(1 / 6), np.float32(1 / 24)
        c5, c6 = np.float32(1 / 120), np.float32(1 / 720)
        for t in range(T - 1, -1, -1):
            # Short passes over few arrays: each vectorises (LLVM gives up on loops whose
            # arrays it must check pairwise for overlap at run time).
            if kernel == KERNEL_FAST_SIGMOID:
                for j in range(M):
                    poly[j] = fast_sigmoid_grad(z[j] * (membranes[t, j] - v_th[j]))
            elif kernel == KERNEL_ARCTAN:
                for j in range(M):
                    poly[j] = arctan_grad(z[j] * (membranes[t, j] - v_th[j]), z[j])
            else:
                for j in range(M):
                    y = abs(z[j] * (membranes[t, j] - v_th[j]))
                    poly[j] = y if y < _Y_MAX else _Y_ZERO
                for j in range(M):
                    u = poly[j] * _LOG2E
                    n = np.int32(u + np.float32(0.5))
                    f = (u - np.float32(n)) * _LN2
                    bits[j] = (127 - n) << 23
                    poly[j] = one - f * (one - f * (c2 - f * (c3 - f * (c4 - f * (c5 - f * c6)))))
                for j in range(M):
                    e = scale[j] * poly[j]
                    opl = one + e
                    poly[j] = z[j] * e / (opl * opl)
            for j in range(M):
                poly[j] *= grad_spikes[t, j]
            for j in range(M):
                grad_current[t, j] = a[j]
            for j in range(M):
                a[j] = poly[j] + beta[j] * a[j]

    @njit(cache=True, error_model="numpy")
    def adam_step(p, g, m, v, scale, b1, b2, bias2_sqrt, eps):
        """One Adam update of stacked parameters [K, R] in place (see `packed.PackedAdam`).

        scale[k] = lr_k / (1 - b1^t), 0 for a frozen member; all arithmetic in float32.
        """
        K, R = p.shape
        one = np.float32(1.0)
        for k in range(K):
            s = scale[k]
            for r in range(R):
                gi = g[k, r]
                mi = m[k, r] + (one - b1) * (gi - m[k, r])
                vi = v[k, r] * b2 + (one - b2) * gi * gi
                m[k, r] = mi
                v[k, r] = vi
                p[k, r] -= (mi / (np.sqrt(vi) / bias2_sqrt + eps)) * s
