"""Input encoders: images in [0, 1], [B, P], to time-first input trains [T, B, P].

- image:     x_t = x                      (the analog image at every step)
- threshold: x_t = 1[x > 0.5]             (a binary image at every step)
- bernoulli: x_t ~ Bernoulli(x), i.i.d. over t and pixels (16-bit resolution, see `bernoulli`)
- latency:   x_t = 1[t = round((1 - x) (T - 1)) and x > 0]  (one spike per pixel, brighter earlier)

The repeating encoders (`EncoderSpec.repeated`) return an expanded view (stride 0 along T): no
memory is spent on T copies, and the model recognises the view and projects the frame once instead
of T times. Randomness comes only from the explicit `generator`. Each encoder's traits are in
`encoder_table.ENCODERS`; its function is in `FUNCTIONS` here (`encode` dispatches on it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from . import kernels, native
from .encoder_table import Encoder, encoder_spec


def is_repeated_frame(x: Tensor) -> bool:
    """True when every step of x [T, B, P] is the same frame (an expanded view)."""
    return x.dim() == 3 and (x.shape[0] == 1 or x.stride(0) == 0)


BERNOULLI_LEVELS = 65536


class BernoulliTrain:
    """A Bernoulli train [T, B, P] not yet drawn: its thresholds and key, so that any run of steps
    can be drawn when needed (`steps`), each equal to those steps of the whole train (`dense`).

    The fused step draws a few steps at a time into a buffer that stays in cache and projects
    them at once, instead of writing and reading back the whole float train (10 MB at T = 50,
    batch 64, 20 MB at T = 100: more than the cache holds). CPU and numba only.
    """

    def __init__(self, thresholds: np.ndarray, key: int, T: int):
        self.thresholds, self.key, self.T = thresholds, np.uint64(key), T
        self.shape = (T, *thresholds.shape)
        self._ones: dict[int, int] = {}  # spikes of the steps drawn from t0, per t0

    @property
    def ones(self) -> int:
        """Spikes in the steps drawn so far, each counted once however often it was drawn (a pack's
        input streams and the backward pass draw the same chunks again)."""
        return sum(self._ones.values())

    def steps(self, t0: int, out: Tensor) -> Tensor:
        """Steps t0 .. t0 + len(out) - 1 into out (float32 [n, B, P], contiguous). Callers draw
        the train in one fixed split into runs of steps (`fused.FusedStep._chunks`, or `dense`)."""
        self._ones[t0] = kernels.bernoulli_u16(self.thresholds, self.key, t0, out.shape[0], out.numpy())
        return out

    def project(self, wt: np.ndarray, out: np.ndarray, lists=None) -> np.ndarray:
        """The first layer's currents on the spikes alone (`native.bernoulli_forward`: out [T, B, Lp]
        from the blocked W^T wt), without writing the train out; `lists` keeps the spikes for `backproject`."""
        self._ones = {0: native.bernoulli_forward(self.thresholds, self.key, self.T, wt, out, lists)}
        return out

    def backproject(self, g: np.ndarray, gwt: np.ndarray, lists=None) -> np.ndarray:
        """dW^T (blocked, `native.bernoulli_backward`) from dL/dI [T, B, Lp], on the same spikes as `project`."""
        native.bernoulli_backward(self.thresholds, self.key, self.T, g, gwt, lists)
        return gwt

    def dense(self, out: Tensor | None = None) -> Tensor:
        if out is None or out.shape != self.shape or out.dtype != torch.float32 or not out.is_contiguous():
            out = torch.empty(self.shape, dtype=torch.float32)
        return self.steps(0, out)


def bernoulli_train(images: Tensor, T: int, generator: torch.Generator | None = None) -> BernoulliTrain | None:
    """`bernoulli(images, T, generator)` left undrawn (the same key taken from `generator`), or None
    where only the dense train can be made (not on the CPU, no numba, or images not [B, P])."""
    if images.device.type != "cpu" or images.dim() != 2 or kernels.engine() != "numba":
        return None
    thresholds = torch.round(images * BERNOULLI_LEVELS).to(torch.int32).contiguous().numpy()
    return BernoulliTrain(thresholds, int(torch.randint(0, 2**62, (1,), generator=generator)), T)


def bernoulli(images: Tensor, T: int, generator: torch.Generator | None = None, out: Tensor | None = None) -> Tensor:
    """x_t[b, p] = 1[u < round(images[b, p] * 65536)], u uniform 16-bit draws, i.i.d. over t.

    P(spike) = round(65536 p) / 65536: within 2e-5 of p, exactly 0 and 1 at the ends.
    Integer draws compared with integer thresholds are several times cheaper than
    float `torch.bernoulli`. On the CPU the draws come from a fused counter-based kernel
    keyed by one number taken from `generator` (`BernoulliTrain`); elsewhere from `torch.randint`.
    `out` (float32 [T, B, P], contiguous) is filled instead of a new tensor: a training loop
    reuses one buffer rather than faulting in fresh pages for every batch.
    """
    train = bernoulli_train(images, T, generator)
    if train is not None:
        return train.dense(out).to(images.dtype)
    thresholds = torch.round(images * BERNOULLI_LEVELS).to(torch.int32)
    shape = (T, *images.shape)
    draws = torch.randint(0, BERNOULLI_LEVELS, shape, generator=generator, device=images.device, dtype=torch.int32)
    return (draws < thresholds).to(images.dtype)


def image(images: Tensor, T: int, generator: torch.Generator | None = None, out: Tensor | None = None) -> Tensor:
    """x_t = images at every step (a view)."""
    return images.unsqueeze(0).expand(T, *images.shape)


def threshold(images: Tensor, T: int, generator: torch.Generator | None = None, out: Tensor | None = None) -> Tensor:
    """x_t = 1[images > 0.5] at every step (a view)."""
    frame = (images > 0.5).to(images.dtype)
    return frame.unsqueeze(0).expand(T, *images.shape)


def latency(images: Tensor, T: int, generator: torch.Generator | None = None, out: Tensor | None = None) -> Tensor:
    """Time to first spike: x_t[b, p] = 1 if t = round((1 - x) (T - 1)) and x > 0, else 0, x = images[b, p].

    Each pixel spikes at most once: x = 1 at step 0, x -> 0+ at step T - 1, x = 0 never (round half to
    even, as torch.round; T = 1: every lit pixel at step 0). Deterministic: `generator` is unused.
    `out` (float [T, B, P], contiguous) is filled instead of a new tensor.
    """
    shape = (T, *images.shape)
    if out is None or out.shape != shape or out.dtype != images.dtype or not out.is_contiguous():
        out = torch.empty(shape, dtype=images.dtype, device=images.device)
    steps = torch.round((1 - images) * (T - 1)).long().clamp_(0, T - 1).unsqueeze(0)
    return out.zero_().scatter_(0, steps, (images > 0).to(images.dtype).unsqueeze(0))


# Each encoder's function (images [B, P], T, generator, out) -> [T, B, P]; `out` a buffer it may fill.
FUNCTIONS = {Encoder.IMAGE: image, Encoder.THRESHOLD: threshold, Encoder.BERNOULLI: bernoulli, Encoder.LATENCY: latency}
# Encoders with an undrawn form for the fused step (images, T, generator) -> the train, or None.
UNDRAWN = {Encoder.BERNOULLI: bernoulli_train}


def encode(images: Tensor, encoder: Encoder, T: int, generator: torch.Generator | None = None,
           out: Tensor | None = None) -> Tensor:
    """Encode images [B, P] (floats in [0, 1]) as an input train [T, B, P] (`out`: see `bernoulli`)."""
    encoder_spec(encoder)  # a bad name gets the message naming the choices
    return FUNCTIONS[Encoder(encoder)](images, T, generator, out)


def undrawn(images: Tensor, encoder: Encoder, T: int, generator: torch.Generator | None = None) -> BernoulliTrain | None:
    """The train of `encode` left undrawn (see `BernoulliTrain`), where the encoder has such a form
    and this machine can draw it; else None (the caller encodes it densely)."""
    make = UNDRAWN.get(Encoder(encoder))
    return make(images, T, generator) if make else None
