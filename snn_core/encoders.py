"""Input encoders: images in [0, 1], [B, P], to time-first input trains [T, B, P].

- image:     x_t = x                      (the analog image at every step)
- threshold: x_t = 1[x > 0.5]             (a binary image at every step)
- bernoulli: x_t ~ Bernoulli(x), i.i.d. over t and pixels

The repeating encoders return an expanded view (stride 0 along T): no memory is spent on
T copies, and the model recognises the view and projects the frame once instead of T times.
Randomness comes only from the explicit `generator`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .config import Encoder


def is_repeated_frame(x: Tensor) -> bool:
    """True when every step of x [T, B, P] is the same frame (an expanded view)."""
    return x.dim() == 3 and (x.shape[0] == 1 or x.stride(0) == 0)


def encode(images: Tensor, encoder: Encoder, T: int, generator: torch.Generator | None = None) -> Tensor:
    """Encode images [B, P] (floats in [0, 1]) as an input train [T, B, P]."""
    encoder = Encoder(encoder)
    if encoder is Encoder.IMAGE:
        return images.unsqueeze(0).expand(T, *images.shape)
    if encoder is Encoder.THRESHOLD:
        frame = (images > 0.5).to(images.dtype)
        return frame.unsqueeze(0).expand(T, *images.shape)
    if encoder is Encoder.BERNOULLI:
        draws = torch.rand((T, *images.shape), generator=generator, device=images.device, dtype=images.dtype)
        return (draws < images).to(images.dtype)
    raise ValueError(f"encoder must be one of {', '.join(e.value for e in Encoder)}; got {encoder!r}")
