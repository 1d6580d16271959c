"""What each input encoder is, in one table: its traits, read wherever one is needed. No torch.

An encoder turns an image [B, 784] in [0, 1] into an input train [T, B, 784]; its function is in
`encoders.py` (torch). Everything else that depends on the encoder reads its `EncoderSpec` here:
the memory estimate (`limits`), the time estimate (`workers.estimates`), the FLOP count of a run
(`workers.analysis`), the probe recording (`recording`), the Launch form, the CLI and sweeps. Adding an
encoder is a member of `Encoder`, a row of `ENCODERS` and its function in `encoders.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Encoder(str, Enum):
    """How a [0, 1] image becomes a time-first input train [T, B, 784] (formulas in `encoders.py`)."""

    IMAGE = "image"  # the same analog image at every step
    THRESHOLD = "threshold"  # pixel > 0.5 as 0/1, at every step
    BERNOULLI = "bernoulli"  # each step, each pixel spikes with p = its intensity
    LATENCY = "latency"  # each pixel spikes once, the brighter the earlier (time to first spike)


@dataclass(frozen=True)
class EncoderSpec:
    """The traits of one encoder.

    binary:   every entry of the train is 0 or 1 (a spike train; the probe recording stores its events)
    repeated: every step is the same frame (an expanded view: the first layer is projected once, and no
              [T, B, 784] train is held in memory)
    dense:    FLOPs count its input as firing at rate 1 (analog values: every synapse multiplies),
              else at the input's measured spike rate
    s_per_unit: seconds per work unit on the benchmark machine (`workers.estimates`), before any run
              of it was measured here
    random:   each step draws fresh random numbers per pixel (the test pass pays for the draws too)
    """

    help: str
    binary: bool
    repeated: bool
    dense: bool
    s_per_unit: float
    random: bool = False


# s_per_unit: the benchmark's baseline (784-10-10, batch 64, T = 50, Bernoulli: 3.4 ms a batch on a
# 2-core Xeon) with ~30 % for evaluation and bookkeeping; image and threshold cost ~0.37 of it.
ENCODERS: dict[Encoder, EncoderSpec] = {
    Encoder.IMAGE: EncoderSpec("The same analog image is fed at every timestep (no input spikes).",
                               binary=False, repeated=True, dense=True, s_per_unit=2.1e-10),
    Encoder.THRESHOLD: EncoderSpec("Pixels brighter than 0.5 are 1, others 0, at every timestep.",
                                   binary=True, repeated=True, dense=False, s_per_unit=2.2e-10),
    Encoder.BERNOULLI: EncoderSpec("Each timestep, each pixel spikes with probability equal to its intensity.",
                                   binary=True, repeated=False, dense=False, s_per_unit=5.7e-10,
                                   random=True),
    # a dense binary train like Bernoulli's on every engine (no undrawn form): its cost until measured
    Encoder.LATENCY: EncoderSpec("Each pixel spikes once, brighter pixels earlier (time to first spike); "
                                 "black pixels never.", binary=True, repeated=False, dense=False, s_per_unit=5.7e-10),
}


def encoder_spec(encoder: Encoder | str | Any) -> EncoderSpec:
    """The spec of an encoder (a member or its name); ValueError naming the choices for anything else."""
    try:
        return ENCODERS[Encoder(encoder)]
    except ValueError:
        raise ValueError(f"encoder must be one of {', '.join(e.value for e in Encoder)}; got {encoder!r}") from None
