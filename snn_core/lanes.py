"""The numba kernels of the fused training step (`fused.FusedStep`), over arrays laid out batch innermost:

    [T, K * N, B]    time, member-major neuron, batch

Each docstring gives its formula; the forward LIF kernel repeats `kernels.lif_forward`'s float32
operations in their order (identical spikes), the backward one `kernels.lif_backward`'s surrogate.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels
from .surrogate_table import KERNEL_ARCTAN, KERNEL_FAST_SIGMOID, KERNEL_SIGMOID

if kernels.numba is not None:
    from numba import njit

    @njit(cache=True)
    def currents_to_lanes(product, bias, members, N, t0, T, out):
        """out[t0 + t, members[m] * N + n, :] = product[m * N + n, tc, :] + bias[m * N + n], t < T.

        product [Ks * N, Tc, B] is W^1 x^T of one input stream's Ks members for steps t0.. (Tc = 1:
        the same frame at every step); out [T_all, K * N, B] is the pack's layer-1 current.
        """
        R, Tc, B = product.shape
        for t in range(T):
            tc = t if Tc > 1 else 0
            for m in range(members.shape[0]):
                for n in range(N):
                    r = m * N + n
                    j = members[m] * N + n
                    c = bias[r]
                    for b in range(B):
                        out[t0 + t, j, b] = product[r, tc, b] + c

    @njit(cache=True)
    def initial_lanes(m0, members, out):
        """m0 [B, N], one draw shared by the stream's members -> their rows of out [K * N, B]."""
        B, N = m0.shape
        for k in members:
            for n in range(N):
                for b in range(B):
                    out[k * N + n, b] = m0[b, n]

    @njit(cache=True)
    def lif_forward_rows(current, m0, beta, v_th, spikes, membranes):
        """`kernels.lif_forward` over [T, R, B] rows (one neuron's B lanes), params [R] per row.

        The same float32 operations in the same order, so the same spikes and membranes; one
        pass per row over its 64 lanes instead of three passes over tiled [R * B] parameters.
        """
        T, R, B = current.shape
        m = m0.copy()
        one, zero = np.float32(1.0), np.float32(0.0)
        for t in range(T):
            for r in range(R):
                bt, vt = beta[r], v_th[r]
                mr, cur, sp, mem = m[r], current[t, r], spikes[t, r], membranes[t, r]
                for b in range(B):
                    x = mr[b]
                    mem[b] = x
                    s = one if x > vt else zero
                    sp[b] = s
                    mr[b] = x * bt + cur[b] - s * vt

    _LOG2E, _LN2 = kernels._LOG2E, kernels._LN2
    _Y_MAX, _Y_ZERO = kernels._Y_MAX, kernels._Y_ZERO

    fast_sigmoid_grad, arctan_grad = kernels.fast_sigmoid_grad, kernels.arctan_grad

    @njit(cache=True, error_model="numpy")
    def lif_backward_rows(grad_spikes, membranes, beta, v_th, z, grad_current, kernel=KERNEL_SIGMOID):
        """`kernels.lif_backward` over [T, R, B] rows, params [R]: the same surrogate (and cutoff),
        polynomial exp and reverse scan, operation for operation, in one pass per row; `kernel`
        picks the surrogate as there."""
        T, R, B = grad_spikes.shape
        a = np.zeros((R, B), dtype=np.float32)
        one = np.float32(1.0)
        c2, c3, c4 = np.float32(1 / 2), np.float32(1 / 6), np.float32(1 / 24)
        c5, c6 = np.float32(1 / 120), np.float32(1 / 720)
        for t in range(T - 1, -1, -1):
            for r in range(R):
                zr, vt, bt = z[r], v_th[r], beta[r]
                ar, mem, gs, gc = a[r], membranes[t, r], grad_spikes[t, r], grad_current[t, r]
                if kernel == KERNEL_FAST_SIGMOID:
                    for b in range(B):
                        local = fast_sigmoid_grad(zr * (mem[b] - vt)) * gs[b]
                        gc[b] = ar[b]
                        ar[b] = local + bt * ar[b]
                    continue
                if kernel == KERNEL_ARCTAN:
                    for b in range(B):
                        local = arctan_grad(zr * (mem[b] - vt), zr) * gs[b]
                        gc[b] = ar[b]
                        ar[b] = local + bt * ar[b]
                    continue
                for b in range(B):
                    y = abs(zr * (mem[b] - vt))
                    y = y if y < _Y_MAX else _Y_ZERO
                    u = y * _LOG2E
                    n = np.int32(u + np.float32(0.5))
                    f = (u - np.float32(n)) * _LN2
                    scale = np.int32((127 - n) << 23).view(np.float32)
                    e = scale * (one - f * (one - f * (c2 - f * (c3 - f * (c4 - f * (c5 - f * c6))))))
                    opl = one + e
                    local = zr * e / (opl * opl)
                    local *= gs[b]
                    gc[b] = ar[b]
                    ar[b] = local + bt * ar[b]

    @njit(cache=True)
    def linear_forward(spikes, weight, bias, out):
        """out[t, k, o, :] = sum_i W[k, o, i] s[t, k, i, :] + b[k, o]; s [T, K, Ni, B], out [T, K, No, B]."""
        T, K, Ni, B = spikes.shape
        No = weight.shape[1]
        acc = np.empty(B, dtype=np.float32)
        for t in range(T):
            for k in range(K):
                for o in range(No):
                    for b in range(B):
                        acc[b] = 0.0
                    for i in range(Ni):
                        w = weight[k, o, i]
                        for b in range(B):
                            acc[b] += w * spikes[t, k, i, b]
                    c = bias[k, o]
                    for b in range(B):
                        out[t, k, o, b] = acc[b] + c

    @njit(cache=True)
    def linear_backward(grad_current, spikes, weight, grad_weight, grad_bias, grad_spikes):
        """The product's backward, all over the batch lanes:

            dW[k, o, i] = sum_{t, b} g[t, k, o, b] s[t, k, i, b]      db[k, o] = sum_{t, b} g[t, k, o, b]
            ds[t, k, i, b] = sum_o W[k, o, i] g[t, k, o, b]

        Sums over (t, b) go into a B-wide accumulator (one lane per b, vectorised without
        reordering float additions), which is summed at the end.
        """
        T, K, No, B = grad_current.shape
        Ni = spikes.shape[2]
        acc = np.empty(B, dtype=np.float32)
        for k in range(K):
            for o in range(No):
                for i in range(Ni):
                    for b in range(B):
                        acc[b] = 0.0
                    for t in range(T):
                        for b in range(B):
                            acc[b] += grad_current[t, k, o, b] * spikes[t, k, i, b]
                    grad_weight[k, o, i] = acc.sum()
                for b in range(B):
                    acc[b] = 0.0
                for t in range(T):
                    for b in range(B):
                        acc[b] += grad_current[t, k, o, b]
                grad_bias[k, o] = acc.sum()
        for t in range(T):
            for k in range(K):
                for i in range(Ni):
                    for b in range(B):
                        acc[b] = 0.0
                    for o in range(No):
                        w = weight[k, o, i]
                        for b in range(B):
                            acc[b] += w * grad_current[t, k, o, b]
                    for b in range(B):
                        grad_spikes[t, k, i, b] = acc[b]

    @njit(cache=True)
    def loss_grad(spikes, labels, is_ce, counts, losses, grad_spikes):
        """Per member k: counts [B, K, C], mean loss [K] and dL/ds [T, K, C, B] (the same at every t).

        labels [K, B]: member k's targets (members of different seeds see different batches).

        mse: mean over (B, C) of (count / T - onehot)^2;  ce: cross-entropy of the counts.
        """
        T, K, C, B = spikes.shape
        acc = np.empty(B, dtype=np.float32)
        for k in range(K):
            for c in range(C):
                for b in range(B):
                    acc[b] = 0.0
                for t in range(T):  # whole numbers: exact in float32 in any order
                    for b in range(B):
                        acc[b] += spikes[t, k, c, b]
                for b in range(B):
                    counts[b, k, c] = acc[b]
        g = np.empty((C, B), dtype=np.float32)
        for k in range(K):
            total = 0.0
            for b in range(B):
                y = labels[k, b]
                if is_ce[k]:
                    top = counts[b, k, 0]
                    for c in range(1, C):
                        top = max(top, counts[b, k, c])
                    norm = 0.0
                    for c in range(C):
                        norm += math.exp(np.float64(counts[b, k, c]) - top)
                    total += math.log(norm) + top - counts[b, k, y]
                    for c in range(C):
                        p = math.exp(np.float64(counts[b, k, c]) - top) / norm
                        g[c, b] = np.float32((p - (1.0 if c == y else 0.0)) / B)
                else:
                    for c in range(C):
                        d = np.float64(counts[b, k, c]) / T - (1.0 if c == y else 0.0)
                        total += d * d
                        g[c, b] = np.float32(2.0 * d / (B * C * T))
            losses[k] = total / B if is_ce[k] else total / (B * C)
            for t in range(T):
                for c in range(C):
                    for b in range(B):
                        grad_spikes[t, k, c, b] = g[c, b]

    @njit(cache=True)
    def first_layer_grads(grad_current, members, N, grad_bias, out):
        """From dL/dI^1 [T, K * N, B], for one input stream's members: db, and `out` [Ks * N, Tc, B]
        with dW^1 = out.view(Ks * N, Tc * B) @ x.view(Tc * B, P). Tc = 1: the frame was the same at
        every step, so out holds the sum over t."""
        T, M, B = grad_current.shape
        Tc = out.shape[1]
        acc = np.empty(B, dtype=np.float32)
        for m in range(members.shape[0]):
            for n in range(N):
                r = m * N + n
                j = members[m] * N + n
                for b in range(B):
                    acc[b] = 0.0
                for t in range(T):
                    for b in range(B):
                        g = grad_current[t, j, b]
                        acc[b] += g
                        if Tc > 1:
                            out[r, t, b] = g
                if Tc == 1:
                    for b in range(B):
                        out[r, 0, b] = acc[b]
                grad_bias[j] = acc.sum()

    # The native Bernoulli first layer (`native`) works on one input stream's Ks members as Ks * N lanes,
    # lane m * N + n = neuron n of member members[m], padded to Lp (a multiple of 16), W^T blocked as
    # [Lp / 16, P, 16]. These move the pack's arrays to and from that layout.

    @njit(cache=True)
    def blocked_weights(weight, members, out):
        """out[l // 16, p, l % 16] = W[members[m], n, p] for lane l = m * N + n, 0 past the last lane;
        weight [K, N, P], out [Lp / 16, P, 16]."""
        N, P = weight.shape[1], weight.shape[2]
        nb = out.shape[0]
        used = members.shape[0] * N
        for l in range(used, nb * 16):
            for p in range(P):
                out[l // 16, p, l % 16] = 0.0
        for m in range(members.shape[0]):
            for n in range(N):
                l = m * N + n
                src = weight[members[m], n]
                dst = out[l // 16]
                for p in range(P):
                    dst[p, l % 16] = src[p]

    @njit(cache=True)
    def rows_to_lanes(rows, bias, members, N, out):
        """out[t, members[m] * N + n, :] = rows[t, :, m * N + n] + bias[members[m], n]: the native first
        layer's currents [T, B, Lp] into the pack's [T, K * N, B]; bias [K, N]."""
        T, B, _ = rows.shape
        for t in range(T):
            for m in range(members.shape[0]):
                for n in range(N):
                    r = m * N + n
                    j = members[m] * N + n
                    c = bias[members[m], n]
                    for b in range(B):
                        out[t, j, b] = rows[t, b, r] + c

    @njit(cache=True)
    def lanes_to_rows(lanes, out):
        """out[t, b, r] = lanes[r, t, b] (0 in the padding r >= R): `first_layer_grads`' dL/dI^1 of one
        stream, [R, T, B], as the native backward takes it, [T, B, Lp]."""
        R, T, B = lanes.shape
        Lp = out.shape[2]
        for t in range(T):
            for b in range(B):
                for r in range(R):
                    out[t, b, r] = lanes[r, t, b]
                for r in range(R, Lp):
                    out[t, b, r] = 0.0

    @njit(cache=True)
    def unblocked_grads(gwt, members, N, grad_weight):
        """grad_weight[members[m], n, p] = gwt[l // 16, p, l % 16], l = m * N + n: dW^1 of the stream's
        members from the native backward's blocked dW^T; grad_weight [K, N, P]."""
        P = gwt.shape[1]
        for m in range(members.shape[0]):
            for n in range(N):
                l = m * N + n
                src = gwt[l // 16]
                dst = grad_weight[members[m], n]
                for p in range(P):
                    dst[p] = src[p, l % 16]
