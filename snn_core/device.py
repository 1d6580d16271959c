"""Which torch device a config's `device` field means on this machine, and its name."""

from __future__ import annotations

import torch

from .config import Device


def resolve_device(device: Device | str) -> torch.device:
    device = Device(device)
    if device is Device.AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device is Device.CUDA and not torch.cuda.is_available():
        raise ValueError("device must be available: got 'cuda' but torch sees no CUDA GPU")
    return torch.device(device.value)


def device_name(device: torch.device) -> str:
    """Human-readable name of a device, e.g. 'NVIDIA H200' or 'cpu'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type
