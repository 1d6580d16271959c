"""A plain per-timestep reference SNN: the lab's loop, written for clarity, not speed.

The fast engines (snn_core.model.SNN, the fused step) are held against this in test_parity.py.
It shares no code with the engines' surrogates: each surrogate's gradient here is torch autograd's
derivative of its primitive (sig(z x), x / (1 + z |x|), arctan(pi / 2 z x) / pi), passed straight
through a Heaviside forward, so a slip in a hand-written derivative shows up as a parity failure.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

PRIMITIVES = {
    "sigmoid": lambda x, z: torch.sigmoid(z * x),
    "fast_sigmoid": lambda x, z: x / (1 + z * x.abs()),
    "arctan": lambda x, z: torch.atan((math.pi / 2) * z * x) / math.pi,
}


def reference_spike(x: Tensor, z: float, surrogate: str) -> Tensor:
    """H(x) forward (x > 0), d/dx of the surrogate's primitive backward (a straight-through estimator)."""
    f = PRIMITIVES[surrogate](x, z)
    return (x > 0).to(x.dtype) + (f - f.detach())


def reference_forward(model, x: Tensor, m0s: list[Tensor] | None = None) -> tuple[list[Tensor], list[Tensor]]:
    """Per step t: I = W s + b, then one LIF step, layer by layer. Returns spikes, membranes [T,B,N].

    LIF step: s = H(m - V_th); m <- beta m + I - V_th s (the reset carries no gradient)."""
    cfg = model.config
    surrogate = getattr(cfg.surrogate, "value", "sigmoid")
    T, B = x.shape[:2]
    mems = [m0s[i].clone() if m0s else x.new_zeros(B, layer.out_features) for i, layer in enumerate(model.layers)]
    spikes = [[] for _ in model.layers]
    membranes = [[] for _ in model.layers]
    for t in range(T):
        h = x[t]
        for i, layer in enumerate(model.layers):
            current = layer(h)
            membranes[i].append(mems[i].detach().clone())
            s = reference_spike(mems[i] - cfg.v_th, cfg.z, surrogate)
            mems[i] = cfg.beta * mems[i] + current - cfg.v_th * s.detach()
            spikes[i].append(s)
            h = s
    return [torch.stack(s) for s in spikes], [torch.stack(m) for m in membranes]
