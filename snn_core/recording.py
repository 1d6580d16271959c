"""Spike recordings for raster plots: what the network does with a few chosen images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .config import RunConfig
from .encoders import encode
from .model import SNN


@dataclass
class Recording:
    """Per image: input train, each layer's spikes and pre-spike membranes, all [T, N] arrays."""

    labels: list[int]
    inputs: list[np.ndarray]  # [T, 784] float (0/1 for spiking encoders)
    spikes: list[list[np.ndarray]]  # [image][layer] -> [T, N_layer] uint8
    membranes: list[list[np.ndarray]]  # [image][layer] -> [T, N_layer] float32
    predictions: list[int]
    v_th: float


def probe_indices(labels: Tensor, classes: int = 10) -> list[int]:
    """Index of the first sample of each class (skipping classes that never occur)."""
    labels = labels.cpu()
    out = []
    for k in range(classes):
        hits = (labels == k).nonzero()
        if len(hits):
            out.append(int(hits[0, 0]))
    return out


@torch.no_grad()
def record(model: SNN, images: Tensor, labels: Tensor, config: RunConfig, seed: int = 0) -> Recording:
    """Run `images` [n, 784] in [0, 1] through `model` and keep every layer's trains."""
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=images.device).manual_seed(seed)
    x = encode(images, config.encoder, config.T, gen)
    out = model(x, gen)
    model.train(was_training)
    n = images.shape[0]
    x_np = x.float().cpu().numpy()
    spikes = [s.cpu().numpy().astype(np.uint8) for s in out.spikes]
    membranes = [m.float().cpu().numpy() for m in out.membranes]
    return Recording(
        labels=[int(v) for v in labels.cpu()],
        inputs=[x_np[:, i] for i in range(n)],
        spikes=[[s[:, i] for s in spikes] for i in range(n)],
        membranes=[[m[:, i] for m in membranes] for i in range(n)],
        predictions=[int(v) for v in out.counts.argmax(-1).cpu()],
        v_th=config.v_th,
    )
