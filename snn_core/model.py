"""The lab's fully connected spiking network: Linear -> LIF for every layer.

    I^l_t = W^l s^{l-1}_t + b^l          (s^0 = the encoded input)
    s^l, m^l = LIF(I^l)                  over all T steps at once

The input projection of each layer is one matrix product over all T steps, or a single
product of one frame when the input repeats the same frame at every step. The output
is the spike count of the last layer over T; the prediction is its argmax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import Loss, RunConfig
from .encoders import is_repeated_frame
from .neurons import initial_membrane, lif_scan


@dataclass
class SNNOutput:
    """What one forward pass produced; every tensor is [T, B, N_layer]."""

    spikes: list[Tensor]  # one per layer (hidden..., output)
    membranes: list[Tensor]  # pre-spike membranes, same shapes (no gradient)

    @property
    def counts(self) -> Tensor:
        """Output spike counts over T, [B, 10]."""
        return self.spikes[-1].sum(0)


def project(x: Tensor, layer: nn.Linear) -> Tensor:
    """Input currents [T, B, N] of `layer` for x [T, B, M]; one product for repeated frames."""
    if is_repeated_frame(x):
        return layer(x[0]).unsqueeze(0).expand(x.shape[0], x.shape[1], layer.out_features)
    return layer(x)


class SNN(nn.Module):
    """784 -> hidden... -> 10, each Linear followed by LIF neurons."""

    def __init__(self, config: RunConfig, generator: torch.Generator | None = None):
        super().__init__()
        sizes = config.layer_sizes
        self.config = config
        self.layers = nn.ModuleList(nn.Linear(m, n) for m, n in zip(sizes[:-1], sizes[1:]))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None) -> None:
        """PyTorch's default Linear init, drawn from `generator` so seeds reproduce."""
        for layer in self.layers:
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def initial_membrane(self, batch: int, width: int, like: Tensor, generator: torch.Generator | None) -> Tensor:
        return initial_membrane(self.config.membrane_init, batch, width, generator, like)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> SNNOutput:
        """x: input train [T, B, 784]. `generator` draws random initial membranes if configured."""
        cfg = self.config
        spikes, membranes = [], []
        h = x
        for layer in self.layers:
            current = project(h, layer)
            m0 = self.initial_membrane(x.shape[1], layer.out_features, current, generator)
            h, m = lif_scan(current, m0, cfg.beta, cfg.v_th, cfg.z, cfg.surrogate)
            spikes.append(h)
            membranes.append(m)
        return SNNOutput(spikes, membranes)


def snn_loss(counts: Tensor, targets: Tensor, loss: Loss, T: int) -> Tensor:
    """Mean loss over the batch.

    mse: mean over (B, 10) of (counts / T - onehot(target))^2
    ce:  cross-entropy of the raw counts (logits) against the target class
    """
    if Loss(loss) is Loss.MSE:
        onehot = F.one_hot(targets, counts.shape[-1]).to(counts.dtype)
        return F.mse_loss(counts / T, onehot)
    return F.cross_entropy(counts, targets)
