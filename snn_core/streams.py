"""Seeds of a run's random streams, derived so that no two streams can coincide.

A run draws from several independent streams, each seeded from the run's seed:

    init           the model's initial weights and biases
    shuffle        the order of training samples (its state carries across epochs)
    train          training input (Bernoulli draws) and initial membranes, batch after batch
    eval/{epoch}   the test-set input and initial membranes of one epoch's evaluation

    stream_seed(stream, seed, epoch) = blake2b("spikeboard/{stream}/{seed}/{epoch}")[:8], top bit cleared

A hash of the stream's name, the seed and the epoch keeps every (stream, seed, epoch) apart for any
seed (up to 2**63 - 1) and epoch; arithmetic like `seed * 1000 + epoch` does not (it made seed 0's
first evaluation stream the training stream, seed + 1, so the first test batch reused the first
training batch's Bernoulli draws). Within a stream, input and membranes are consecutive draws of
one generator, so they never coincide either. Pure Python: no torch here.
"""

from __future__ import annotations

import hashlib

STREAMS = ("init", "shuffle", "train", "eval")
_MASK = (1 << 63) - 1  # torch.Generator.manual_seed takes any non-negative 64-bit value; stay in int64


def stream_seed(stream: str, seed: int, epoch: int = 0) -> int:
    """The 63-bit seed of `stream` for a run seeded `seed` (and epoch `epoch` of an evaluation)."""
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
    for name, value in (("seed", seed), ("epoch", epoch)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    digest = hashlib.blake2b(f"spikeboard/{stream}/{seed}/{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _MASK
