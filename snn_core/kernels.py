"""Fused CPU kernels (numba) for the hot loops: the LIF scans and the Bernoulli encoder.

They are optional. Without numba, or with SPIKEBOARD_ENGINE=torch, the plain PyTorch
paths in `neurons.py` and `encoders.py` run instead; both paths pass the same parity
tests against the per-timestep reference. Kernels are compiled on first use and cached
on disk (numba's `cache=True`), so only the first run on a machine pays the compile.

The LIF kernels do the float32 operations of the PyTorch path in the same order, so
their spikes and gradients are bit-identical to it. The surrogate itself stays in torch:
its vectorised sigmoid beats a scalar exp per element.
"""

from __future__ import annotations

import os

import numpy as np

try:  # numba is an accelerator, not a requirement
    import numba
    from numba import njit
except ImportError:  # pragma: no cover - exercised on machines without numba
    numba = None

ENGINES = ("auto", "torch", "numba")


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
    def bernoulli_u16(thresholds, key, T, out):
        """out[t, b, p] = 1 if u16(t, b, p) < thresholds[b, p] else 0.

        u16 are 16-bit draws from a counter-based generator (splitmix64 of key and the
        element's position; one 64-bit hash gives four draws), so the result depends only
        on `key`. thresholds: int32 [B, P] in 0..65536 (P(spike) = threshold / 65536).
        Serial on purpose: torch's spinning OpenMP threads make a parallel kernel slower.
        """
        B, P = thresholds.shape
        quads = (P + 3) // 4
        mask = np.uint64(0xFFFF)
        counter = np.uint64(0)
        for t in range(T):
            for b in range(B):
                for q in range(quads):
                    h = _splitmix64(key + counter * _GOLDEN)
                    counter += np.uint64(1)
                    p = q * 4
                    if p + 4 <= P:
                        out[t, b, p] = np.float32(np.int32(h & mask) < thresholds[b, p])
                        out[t, b, p + 1] = np.float32(np.int32((h >> np.uint64(16)) & mask) < thresholds[b, p + 1])
                        out[t, b, p + 2] = np.float32(np.int32((h >> np.uint64(32)) & mask) < thresholds[b, p + 2])
                        out[t, b, p + 3] = np.float32(np.int32(h >> np.uint64(48)) < thresholds[b, p + 3])
                    else:
                        for j in range(P - p):
                            u = np.int32((h >> np.uint64(16 * j)) & mask)
                            out[t, b, p + j] = np.float32(u < thresholds[b, p + j])

    @njit(cache=True)
    def lif_forward(current, m0, beta, v_th, spikes, membranes):
        """Fill spikes and pre-spike membranes [T, B, N]; beta, v_th are float32 [N]."""
        T, B, N = current.shape
        m = m0.copy()
        one, zero = np.float32(1.0), np.float32(0.0)
        for t in range(T):
            for b in range(B):
                for n in range(N):
                    mv = m[b, n]
                    membranes[t, b, n] = mv
                    s = one if mv > v_th[n] else zero
                    spikes[t, b, n] = s
                    m[b, n] = mv * beta[n] + current[t, b, n] - s * v_th[n]

    @njit(cache=True)
    def lif_backward(local, beta, grad_current):
        """Reverse scan: a_t = local_t + beta * a_{t+1}, a_T = 0; grad_current[t] = a_{t+1}.

        local = dL/ds_t * surrogate'(m_t), computed beforehand by vectorised torch ops.
        """
        T, B, N = local.shape
        a = np.zeros((B, N), dtype=np.float32)
        for t in range(T - 1, -1, -1):
            for b in range(B):
                for n in range(N):
                    grad_current[t, b, n] = a[b, n]
                    a[b, n] = local[t, b, n] + beta[n] * a[b, n]
