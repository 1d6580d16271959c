"""Spike recordings for raster plots: what the network does with a few chosen images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .config import RunConfig
from .encoder_table import encoder_spec
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


def _events(train: np.ndarray) -> list[list[int]]:
    """[[t, n], ...] for every nonzero entry of a [T, N] train."""
    return np.argwhere(train).tolist()  # row-major, as np.nonzero: the same list, made in C


def recording_to_dict(rec: Recording, epoch: int, encoder: str) -> dict:
    """A JSON-ready, compact form of a recording (what the raster plots read).

    {"epoch", "T", "v_th", "encoder", "layer_sizes", "probes": [{"label", "prediction",
     "counts": [10], "input": {"kind": "spikes", "events": [[t, pixel], ...]} or
     {"kind": "analog", "frame": [784 floats]}, "spikes": [per layer [[t, n], ...]],
     "membranes": [per layer [T][N] floats, 4 decimals]}]}
    """
    probes = []
    binary = encoder_spec(encoder).binary
    for i, label in enumerate(rec.labels):
        x = rec.inputs[i]
        inp = ({"kind": "spikes", "events": _events(x)} if binary
               else {"kind": "analog", "frame": [round(float(v), 4) for v in x[0]]})
        probes.append({
            "label": label,
            "prediction": rec.predictions[i],
            "counts": [int(c) for c in rec.spikes[i][-1].sum(0)],
            "input": inp,
            "spikes": [_events(s) for s in rec.spikes[i]],
            "membranes": [np.round(m, 4).tolist() for m in rec.membranes[i]],
        })
    T = rec.inputs[0].shape[0] if rec.inputs else 0
    sizes = [rec.inputs[0].shape[1], *[s.shape[1] for s in rec.spikes[0]]] if rec.inputs else []
    return {"epoch": epoch, "T": T, "v_th": rec.v_th, "encoder": encoder, "layer_sizes": sizes, "probes": probes}
