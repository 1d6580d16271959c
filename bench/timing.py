"""How every implementation is timed, the same way for all of them.

Each implementation offers `run(n) -> seconds` that trains n batches. After a one-batch
warmup, calibration doubles n from 1 until a call lasts `calib_s`, then picks n so a round
lasts about `round_s` seconds (at least `min_batches`); each next round is resized from the
best time seen so far, since a calibration caught in a burst sizes rounds too short. The
timed rounds of all the implementations of one cell are interleaved (lab, snnTorch,
Spikeboard, lab, ...) so that load from other processes falls on all of them alike. The
reported ms per batch is the best round, as `timeit` advises: slower rounds are other
processes' interference, not the code's cost. The spread (max - min) / best of the rounds
says how noisy the machine was.

Spikeboard is timed through `snn_core.training.fit` itself, what users get: each round is
one `fit` call of one epoch over the first n batches of the training data, and the round's
time is that epoch's `EpochMetrics.epoch_seconds` (training only; fit does not time its
evaluation, whose test split is cut small here so it costs little wall time).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from snn_core.config import RunConfig
from snn_core.data import DataBundle

from .data import subset

TEST_SAMPLES = 200  # evaluation after each fit epoch is untimed; keep its wall time small

Runner = Callable[[int], float]  # run(n batches) -> seconds of training

# What a runner's seconds are: "wall" (time.perf_counter; Spikeboard: fit's epoch_seconds) or "cpu"
# (time.process_time of this process: on a machine other processes load, wall time measures the
# scheduler as much as the code; with one torch thread CPU time is the work itself). Spikeboard's
# cpu rounds are the whole fit call (its setup and small evaluation included: against it).
CLOCK = {"name": "wall"}


def set_clock(name: str) -> None:
    if name not in ("wall", "cpu"):
        raise ValueError(f"clock must be wall or cpu, got {name!r}")
    CLOCK["name"] = name


def _now() -> float:
    return time.process_time() if CLOCK["name"] == "cpu" else time.perf_counter()


@dataclass
class Timing:
    ms_per_batch: float  # the best round
    rounds_ms: list[float] = field(default_factory=list)  # ms per batch of each timed round
    batches: int = 0  # in the last round (rounds are resized as the best time improves)

    @property
    def spread(self) -> float:
        """(max - min) / min of the rounds' ms per batch; 0 with one round."""
        return (max(self.rounds_ms) - min(self.rounds_ms)) / self.ms_per_batch if len(self.rounds_ms) > 1 else 0.0


def steps_runner(step: Callable[[], None]) -> Runner:
    """A runner for a one-batch training `step` (the baselines)."""

    def run(n: int) -> float:
        started = _now()
        for _ in range(n):
            step()
        return _now() - started

    return run


def cut(data: DataBundle, batches: int, batch_size: int) -> DataBundle:
    """The first `batches` training batches and TEST_SAMPLES test samples of `data`."""
    return DataBundle(train=subset(data.train, batches * batch_size), test=subset(data.test, TEST_SAMPLES))


def _epoch_seconds(result: Any) -> list[float]:
    """Per-epoch training seconds from what fit or fit_packed returned."""
    for attr in ("history", "histories", "results", "members", "runs"):
        if hasattr(result, attr):
            return _epoch_seconds(getattr(result, attr))
    if isinstance(result, dict):
        return _epoch_seconds(next(iter(result.values())))
    if isinstance(result, (list, tuple)) and result:
        if all(hasattr(m, "epoch_seconds") for m in result):
            return [m.epoch_seconds for m in result]
        return _epoch_seconds(result[0])  # one member's history: every member shares the wall time
    raise TypeError(f"cannot find epoch_seconds in a {type(result).__name__}")


def fit_runner(fit: Callable[..., Any], configs: RunConfig | list[RunConfig], data: DataBundle) -> Runner:
    """A runner for `fit(config, data=...)` or `fit_packed(configs, data=...)`: one epoch of n batches."""
    many = isinstance(configs, list)
    first = configs[0] if many else configs
    one_epoch = [c.replace(epochs=1) for c in configs] if many else configs.replace(epochs=1)
    takes_data = "data" in inspect.signature(fit).parameters
    limit = -(-len(data.train) // first.batch_size)

    def run(n: int) -> float:
        part = cut(data, min(n, limit), first.batch_size)
        started = _now()
        result = fit(one_epoch, data=part) if takes_data else fit(one_epoch, None, part)
        return _now() - started if CLOCK["name"] == "cpu" else _epoch_seconds(result)[0]

    return run


def with_env(run: Runner, **env: str) -> Runner:
    """`run` with environment variables set for the duration of each call (e.g. SPIKEBOARD_ENGINE)."""

    def wrapped(n: int) -> float:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return run(n)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    return wrapped


def calibrate(run: Runner, *, calib_s: float, round_s: float, min_batches: int, max_batches: int) -> int:
    """Batches per round: after a one-batch warmup, double n until run(n) lasts calib_s; scale to round_s."""
    run(1)  # cold: first calls, lazy imports, allocator growth
    n = 1
    while True:
        seconds = run(n)
        if seconds >= calib_s or n >= max_batches:
            break
        n = min(2 * n, max_batches)
    return max(min_batches, min(max_batches, round(round_s * n / max(seconds, 1e-9))))


def time_interleaved(runners: dict[str, Runner], *, round_s: float, rounds: int, calib_s: float = 0.25,
                     min_batches: int = 2, max_batches: int = 938) -> dict[str, Timing]:
    """Calibrate each runner, then time `rounds` rounds of each, interleaved.

    A calibration caught in a burst of outside load sizes rounds too short; after each
    round the next one is resized from the best ms/batch seen so far.
    """
    calib_s = min(calib_s, round_s / 2)
    sizes = {name: calibrate(run, calib_s=calib_s, round_s=round_s, min_batches=min_batches,
                             max_batches=max_batches) for name, run in runners.items()}
    rounds_ms: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            rounds_ms[name].append(run(sizes[name]) * 1000 / sizes[name])
            best_s = min(rounds_ms[name]) / 1000
            sizes[name] = max(min_batches, min(max_batches, round(round_s / best_s)))
    return {name: Timing(min(ms), ms, sizes[name]) for name, ms in rounds_ms.items()}


def packed_fit():
    """`fit_packed(configs, ..., data=...)` from snn_core.packed or snn_core.training, else None."""
    for module in ("snn_core.packed", "snn_core.training"):
        if importlib.util.find_spec(module) is None:
            continue
        fit_packed = getattr(importlib.import_module(module), "fit_packed", None)
        if fit_packed is not None:
            return fit_packed
    return None
