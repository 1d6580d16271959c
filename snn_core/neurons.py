"""Leaky integrate-and-fire neurons with a surrogate gradient (the lab's sigmoid, or another: `surrogate_table`).

Per step t, for every neuron (reset by subtraction, the reset carrying no gradient):

    s_t     = H(m_t - V_th)
    m_{t+1} = beta * m_t + I_t - V_th * s_t

`m` is the membrane potential (arbitrary units, the same as the input current I), `s`
the spike (0 or 1). The backward pass replaces dH/dm by a surrogate of slope z, by default
the lab's, the derivative of a sigmoid (the others: `surrogate_table`, `surrogates`):

    dS/dm = z * sig(z (m - V_th)) * (1 - sig(z (m - V_th)))

Functional first: `lif_step` is one step (the reference semantics), `lif_scan` runs all T
steps at once in a custom autograd function that saves only the membranes its backward
needs. `LIF` is a thin module around `lif_scan`. Tensors are time-first: [T, B, N].
`beta`, `v_th` and `z` are floats, or tensors broadcastable to [B, N] (one value per
neuron), which is how a packed sweep gives each member its own hyperparameters.
On the CPU the scans run as fused numba kernels (`kernels.py`) when available.
"""

from __future__ import annotations

import math
from typing import Union

import numpy as np
import torch
from torch import Tensor, nn

from . import kernels
from .config import MembraneInit
from .surrogate_table import SURROGATES, Surrogate
from .surrogates import surrogate_grad

Param = Union[float, Tensor]


class SpikeFn(torch.autograd.Function):
    """Heaviside spike with a surrogate gradient.

    forward:  s = H(m - V_th) = 1 if m > V_th else 0
    backward: ds/dm = surrogate'(m - V_th), e.g. z * sig(z (m - V_th)) * (1 - sig(z (m - V_th)))
    """

    @staticmethod
    def forward(ctx, membrane: Tensor, v_th: Param, z: Param, surrogate: Surrogate = Surrogate.SIGMOID) -> Tensor:
        ctx.save_for_backward(membrane)
        ctx.v_th, ctx.z, ctx.surrogate = v_th, z, surrogate
        return (membrane > v_th).to(membrane.dtype)

    @staticmethod
    def backward(ctx, grad_spike: Tensor):
        (membrane,) = ctx.saved_tensors
        return grad_spike * surrogate_grad(membrane - ctx.v_th, ctx.z, ctx.surrogate), None, None, None


def spike(membrane: Tensor, v_th: Param, z: Param, surrogate: Surrogate = Surrogate.SIGMOID) -> Tensor:
    return SpikeFn.apply(membrane, v_th, z, surrogate)


def lif_step(membrane: Tensor, current: Tensor, beta: Param, v_th: Param, z: Param,
             surrogate: Surrogate = Surrogate.SIGMOID) -> tuple[Tensor, Tensor]:
    """One LIF step: returns (s_t, m_{t+1}) from m_t and I_t, all [B, N]."""
    s = spike(membrane, v_th, z, surrogate)
    next_membrane = beta * membrane + current - v_th * s.detach()
    return s, next_membrane


def _per_neuron(value: Param, n: int) -> np.ndarray | None:
    """A hyperparameter as a float32 [N] array for the fused kernels (None if it varies by batch row)."""
    if not isinstance(value, Tensor):
        return np.full(n, value, dtype=np.float32)
    if value.dim() > 1 or value.numel() not in (1, n):
        return None
    arr = value.detach()
    if arr.device.type != "cpu" or arr.dtype != torch.float32:
        arr = arr.to("cpu", torch.float32)
    arr = arr.numpy()
    return arr if arr.size == n else np.full(n, arr.item(), dtype=np.float32)


_TILED: dict[tuple[bytes, int], np.ndarray] = {}


def _tiled(arr: np.ndarray, batch: int) -> np.ndarray:
    """arr [N] tiled to [batch * N], cached by value: the same few hyperparameter vectors
    come back every batch, and tiling them each time costs more than the scans."""
    key = (arr.tobytes(), batch)
    out = _TILED.get(key)
    if out is None:
        if len(_TILED) > 256:
            _TILED.clear()
        out = _TILED[key] = np.tile(arr, batch)
        out.flags.writeable = False
    return out


def _fused(t: Tensor, *params: Param) -> list[np.ndarray] | None:
    """Parameters tiled to [B * N] when the fused CPU kernels can run on t [T, B, N], else None."""
    if t.device.type != "cpu" or t.dtype != torch.float32 or kernels.engine() != "numba":
        return None
    arrays = [_per_neuron(p, t.shape[-1]) for p in params]
    return None if any(a is None for a in arrays) else [_tiled(a, t.shape[1]) for a in arrays]


def _flat(t: Tensor) -> np.ndarray:
    """[T, B, N] -> a [T, B * N] numpy view (t must be contiguous)."""
    return t.numpy().reshape(t.shape[0], -1)


def _forward_scan(current: Tensor, m0: Tensor, beta: Param, v_th: Param) -> tuple[Tensor, Tensor]:
    """Spikes and pre-spike membranes [T, B, N] of the recurrence, no autograd."""
    spikes, membranes = torch.empty_like(current), torch.empty_like(current)
    fused = _fused(current, beta, v_th)
    if fused is not None:
        m0_flat = m0.contiguous().numpy().reshape(-1)
        kernels.lif_forward(_flat(current), m0_flat, *fused, _flat(spikes), _flat(membranes))
        return spikes, membranes
    m = m0.clone()
    for t in range(current.shape[0]):
        membranes[t] = m
        s = spikes[t]
        torch.gt(m, v_th, out=s)  # writes 0./1. in the float dtype
        m.mul_(beta).add_(current[t]).sub_(s * v_th)
    return spikes, membranes


def _backward_scan(grad_spikes: Tensor, membranes: Tensor, beta: Param, v_th: Param, z: Param,
                   surrogate: Surrogate) -> Tensor:
    """dL/dI [T, B, N] by the reverse scan of the detached-reset recurrence.

    a_t = dL/dm_t = g_t * sg(m_t) + beta * a_{t+1},  a_T = 0,  dL/dI_t = a_{t+1}.
    """
    grad_current = torch.empty_like(grad_spikes)
    fused = _fused(grad_spikes, beta, v_th, z)
    if fused is not None:
        kernels.lif_backward(_flat(grad_spikes), _flat(membranes), *fused, _flat(grad_current),
                             SURROGATES[surrogate].kernel)
        return grad_current
    local = grad_spikes * surrogate_grad(membranes - v_th, z, surrogate)  # all T at once
    a = torch.zeros_like(grad_spikes[0])
    for t in range(grad_spikes.shape[0] - 1, -1, -1):
        grad_current[t] = a
        a = local[t] + beta * a
    return grad_current


class LIFScan(torch.autograd.Function):
    """All T steps of a LIF layer: (I [T,B,N], m0 [B,N]) -> (spikes, membranes) [T,B,N].

    Saves only the pre-spike membranes; the backward is the linear reverse scan above.
    Gradients flow to the input current only (m0 and the hyperparameters are constants).
    """

    @staticmethod
    def forward(ctx, current: Tensor, m0: Tensor, beta: Param, v_th: Param, z: Param, surrogate: Surrogate):
        spikes, membranes = _forward_scan(current.detach(), m0.detach(), beta, v_th)
        ctx.set_materialize_grads(False)  # the membranes output never has a gradient: skip its zeros
        ctx.save_for_backward(membranes)
        ctx.params = (beta, v_th, z, Surrogate(surrogate))
        ctx.mark_non_differentiable(membranes)
        return spikes, membranes

    @staticmethod
    def backward(ctx, grad_spikes: Tensor | None, _grad_membranes: Tensor | None):
        (membranes,) = ctx.saved_tensors
        if grad_spikes is None:
            return None, None, None, None, None, None
        return _backward_scan(grad_spikes.contiguous(), membranes, *ctx.params), None, None, None, None, None


def lif_scan(current: Tensor, m0: Tensor, beta: Param, v_th: Param, z: Param,
             surrogate: Surrogate = Surrogate.SIGMOID) -> tuple[Tensor, Tensor]:
    """Run a LIF layer over all T steps. Returns (spikes, pre-spike membranes), [T, B, N]."""
    return LIFScan.apply(current.contiguous(), m0, beta, v_th, z, surrogate)


def initial_membrane(init: MembraneInit, batch: int, width: int, generator: torch.Generator | None, like: Tensor,
                     copies: int = 1) -> Tensor:
    """m_0 [batch, copies * width] of a layer of `width` neurons, on like's device and dtype.

    kaiming (the lab's): uniform in +-sqrt(6 / width), i.e. kaiming_uniform_ on a [batch, width] tensor
    (fan_in = width), one [batch, width] draw from `generator` repeated for each of `copies` members
    (a pack's members of one input stream draw what each of their solo runs draws); zero: all 0.
    The one place the start is drawn: the autograd engine (`model`, `packed`) and the fused step call it.
    """
    if MembraneInit(init) is MembraneInit.KAIMING:
        bound = math.sqrt(6.0 / width)
        draws = torch.rand((batch, width), generator=generator, device=like.device, dtype=like.dtype)
        m0 = draws * (2 * bound) - bound
        return m0 if copies == 1 else m0.repeat(1, copies)
    return like.new_zeros((batch, copies * width))


class LIF(nn.Module):
    """A layer of LIF neurons; builds the initial state and calls `lif_scan`."""

    def __init__(self, beta: Param, v_th: Param, z: Param, surrogate: Surrogate = Surrogate.SIGMOID):
        super().__init__()
        self.beta, self.v_th, self.z, self.surrogate = beta, v_th, z, Surrogate(surrogate)

    def forward(self, current: Tensor, m0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if m0 is None:
            m0 = current.new_zeros(current.shape[1:])
        return lif_scan(current, m0, self.beta, self.v_th, self.z, self.surrogate)
