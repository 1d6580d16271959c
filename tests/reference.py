"""A plain per-timestep reference SNN: the lab's loop, written for clarity, not speed.

The fast engine (snn_core.model.SNN) is held against this in test_parity.py.
"""

from __future__ import annotations

import torch
from torch import Tensor

from snn_core.neurons import lif_step


def reference_forward(model, x: Tensor, m0s: list[Tensor] | None = None) -> tuple[list[Tensor], list[Tensor]]:
    """Per step t: I = W s + b, then one LIF step, layer by layer. Returns spikes, membranes [T,B,N]."""
    cfg = model.config
    T, B = x.shape[:2]
    mems = [m0s[i].clone() if m0s else x.new_zeros(B, layer.out_features) for i, layer in enumerate(model.layers)]
    spikes = [[] for _ in model.layers]
    membranes = [[] for _ in model.layers]
    for t in range(T):
        h = x[t]
        for i, layer in enumerate(model.layers):
            current = layer(h)
            membranes[i].append(mems[i].detach().clone())
            s, mems[i] = lif_step(mems[i], current, cfg.beta, cfg.v_th, cfg.z)
            spikes[i].append(s)
            h = s
    return [torch.stack(s) for s in spikes], [torch.stack(m) for m in membranes]
