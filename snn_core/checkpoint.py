"""Checkpoints as bytes: model, optimizer, generator states, progress, history and config.

A checkpoint of this small network is a few kilobytes, so it can live in Redis and any
worker on any machine can resume from it. Loading uses `weights_only=True`: a checkpoint
holds only tensors and plain Python values, never pickled code.
"""

from __future__ import annotations

import io
from typing import Any

import torch


def to_bytes(checkpoint: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


def from_bytes(blob: bytes) -> dict[str, Any]:
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)


def save(checkpoint: dict[str, Any], path: str) -> None:
    with open(path, "wb") as fh:
        fh.write(to_bytes(checkpoint))


def load(path: str) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return from_bytes(fh.read())
