"""How long runs will take, from what this machine measured, and how sure that is.

Work is counted in units per sample (no torch needed, so the web side can count it):

    units(config) = T (A 64 / B + N + k S_step) + k S_once

with T timesteps, batch size B, N spiking neurons (hidden + output), S_step the synapses
multiplied every step (every layer for Bernoulli input; all but the first for image and
threshold input, whose frame repeats) and S_once those multiplied once per sample. A is the
per-step overhead of a batch of 64 (autograd, dispatch) in neuron-equivalents and k the cost of
a synapse against a neuron-step; both are rough constants, and the measured runs calibrate the
scale. A run costs

    train work = epochs n_train units

with n_train, n_test the samples the run really uses: the dataset's size as finished runs
measured it here (workers load the data; the web side has none), or the config's limit.
Evaluation is costed on its own, since it scales differently: forward only, but the Bernoulli
train is drawn in full and every synapse multiplied at every step (training lists the spikes):

    eval units(config) = T (A_eval 100 / B_test + D + N + k_eval S_step) + k_eval S_once
    eval work = epochs n_test eval units

with D = 784 Bernoulli draws a step (0 for image and threshold input). At T = 300 a test
sample costs more than a training one (measured: 1.3x), at T = 20 a twentieth.

Finished solo runs give seconds per unit of each: training from their epoch seconds, evaluation
from the rest of their wall time (start to finish, less START_S for the job's start: probes and
checkpoints). An estimate uses the runs of the same encoder
whose work per sample is nearest, says how many, and widens its range when it extrapolates
far or has nothing measured. Packed jobs cost one run plus a measured fraction of it for every
further member (from finished packs; the benchmark's figure until one has finished).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

from snn_core.config import RunConfig, pack_groups
from snn_core.encoder_table import ENCODERS, encoder_spec

from .records import RunRecord, RunStatus

OVERHEAD_A = 2000.0  # neuron-equivalents of per-step overhead for a batch of 64
SYNAPSE_K = 0.05  # a synapse's multiply-add against a neuron's step (fwd + bwd)
EVAL_SPEEDUP = 3.0  # how a run without its epoch seconds (an old record) splits its wall time
EVAL_OVERHEAD_A = 300.0  # per-step overhead of a test batch of 100, in eval units
INPUT_DRAWS = 784  # Bernoulli draws per step of a test sample (one per pixel)
EVAL_SYNAPSE_K = 0.017  # a synapse's multiply-add in a dense forward product, in eval units
NEAREST = 5  # measured runs an estimate uses
START_S = 1.5  # a job's fixed cost: the work horse forks, loads the data, records probes, checkpoints
DEFAULT_SIZES = {"mnist": (60_000, 10_000), "fashion-mnist": (60_000, 10_000)}
# Seconds per unit when nothing was measured here: each encoder's benchmark figure (`EncoderSpec.s_per_unit`).
FALLBACK_S_PER_UNIT = {e.value: spec.s_per_unit for e, spec in ENCODERS.items()}
# Seconds per eval unit when nothing was measured: a 2-core Xeon (AVX-512), one thread, test
# batch 100 (1,000 test samples: T = 300, hidden 10, Bernoulli 0.28 s; T = 100, hidden 128, 0.28 s;
# image, T = 100, 0.03 s).
FALLBACK_S_PER_EVAL_UNIT = 1.0e-9
# Each further member of a packed job adds about this fraction of one run (bench.speed, packs
# of 6 at T = 50: 0.26 for Bernoulli, 0.35 for image and threshold), until a pack is measured.
FALLBACK_PACK_MEMBER_COST = 0.35
# Members of another seed are another input stream: their first layer is a product of its own, so
# each further stream costs about this fraction of the one-stream pack (the lab over 3 seeds: its
# T = 100 and T = 50 packs took 2.7x their 1-seed packs, bench/results/lab_wall.md).
STREAM_COST = 0.85


def pack_factor(configs: Sequence[RunConfig], member: float) -> float:
    """A packed job's work over one run's: (1 + member (k - 1)) (1 + STREAM_COST (S - 1)) for
    S seeds (input streams) of k members each on average."""
    streams = len({c.seed for c in configs})
    per_stream = len(configs) / streams
    return (1 + member * (per_stream - 1)) * (1 + STREAM_COST * (streams - 1))


def units_per_sample(config: RunConfig | dict) -> float:
    """Work units of one training sample through all T steps (see the module docstring)."""
    c = config if isinstance(config, RunConfig) else RunConfig.from_stored(config)
    sizes = c.layer_sizes
    pairs = [m * n for m, n in zip(sizes[:-1], sizes[1:])]
    neurons = sum(sizes[1:])
    first_every_step = not encoder_spec(c.encoder).repeated
    s_step = sum(pairs[1:]) + (pairs[0] if first_every_step else 0)
    s_once = 0 if first_every_step else pairs[0]
    return c.T * (OVERHEAD_A * 64 / c.batch_size + neurons + SYNAPSE_K * s_step) + SYNAPSE_K * s_once


def eval_units_per_sample(config: RunConfig | dict) -> float:
    """Eval units of one test sample through all T steps (see the module docstring)."""
    c = config if isinstance(config, RunConfig) else RunConfig.from_stored(config)
    sizes = c.layer_sizes
    pairs = [m * n for m, n in zip(sizes[:-1], sizes[1:])]
    spec = encoder_spec(c.encoder)
    first_every_step = not spec.repeated
    s_step = sum(pairs[1:]) + (pairs[0] if first_every_step else 0)
    s_once = 0 if first_every_step else pairs[0]
    per_step = EVAL_OVERHEAD_A * 100 / c.test_batch_size + (INPUT_DRAWS if spec.random else 0) + sum(sizes[1:])
    return c.T * (per_step + EVAL_SYNAPSE_K * s_step) + EVAL_SYNAPSE_K * s_once


def _seen(record: RunRecord) -> tuple[int | None, int | None]:
    """(train, test) samples a finished run used, from its last epoch's metrics."""
    m = record.last_metrics or {}
    train = round(m["samples_per_s"] * m["epoch_seconds"]) if m.get("samples_per_s") and m.get("epoch_seconds") else None
    test = int(m["test_samples"]) if m.get("test_samples") else None
    return train, test


def dataset_sizes(records: Sequence[RunRecord]) -> dict[str, tuple[int, int]]:
    """Full (train, test) sizes of each dataset, as finished runs here found them: a run without
    a limit (or one that saw fewer samples than its limit) used the whole split. A dataset whose
    training split was seen is listed; a test size no run reported is the usual 10,000."""
    found: dict[str, list[int | None]] = {}
    for r in records:
        train, test = _seen(r)
        cfg = r.config
        sizes = found.setdefault(cfg.get("dataset", "mnist"), [None, None])
        if train and (not cfg.get("train_limit") or train < cfg["train_limit"]):
            sizes[0] = max(sizes[0] or 0, train)
        if test and (not cfg.get("test_limit") or test < cfg["test_limit"]):
            sizes[1] = max(sizes[1] or 0, test)
    return {d: (s[0], s[1] or DEFAULT_SIZES.get(d, (0, 10_000))[1]) for d, s in found.items() if s[0]}


def samples(config: RunConfig, sizes: dict[str, tuple[int, int]]) -> tuple[int, int, bool]:
    """(train, test) samples `config` uses, and whether the dataset's size was measured here."""
    known = config.dataset.value in sizes
    full = sizes.get(config.dataset.value) or DEFAULT_SIZES.get(config.dataset.value, (60_000, 10_000))
    train = min(config.train_limit, full[0]) if config.train_limit else full[0]
    test = min(config.test_limit, full[1]) if config.test_limit else full[1]
    return train, test, known or (bool(config.train_limit) and bool(config.test_limit))


def work(config: RunConfig, sizes: dict[str, tuple[int, int]]) -> float:
    """Training work units of a run (its evaluation: `eval_work`)."""
    train, _, _ = samples(config, sizes)
    return config.epochs * train * units_per_sample(config)


def eval_work(config: RunConfig, sizes: dict[str, tuple[int, int]]) -> float:
    """Eval units of a run: every epoch's pass over its test samples."""
    _, test, _ = samples(config, sizes)
    return config.epochs * test * eval_units_per_sample(config)


@dataclass
class Measured:
    """A finished solo run as a calibration point: training and, where its wall time shows it,
    evaluation."""

    encoder: str
    per_sample: float  # units per training sample
    s_per_unit: float
    eval_per_sample: float = 0.0  # eval units per test sample
    s_per_eval_unit: float | None = None  # None: its evaluation time is not known


def measured_runs(records: Sequence[RunRecord], sizes: dict[str, tuple[int, int]]) -> list[Measured]:
    out = []
    for r in records:
        if r.status is not RunStatus.FINISHED or r.pack_job or not r.duration or r.duration <= 0:
            continue
        try:
            config = RunConfig.from_stored(r.config)
        except ValueError:
            continue  # a stored config this version no longer accepts: not a calibration point
        train, test = _seen(r)
        n_train, n_test, _ = samples(config, sizes)
        units = config.epochs * (train or n_train) * units_per_sample(config)
        eval_units = config.epochs * (test or n_test) * eval_units_per_sample(config)
        busy = max(r.duration - START_S, 0.3 * r.duration)
        epoch_s = (r.last_metrics or {}).get("epoch_seconds")
        if epoch_s and 0 < config.epochs * epoch_s <= busy:
            train_s = config.epochs * epoch_s
            eval_rate = (busy - train_s) / eval_units if busy > train_s and eval_units else None
        else:  # an old record without its epoch seconds: the old split, and no eval point
            train_s = busy * units / (units + (test or n_test) * config.epochs * units_per_sample(config) / EVAL_SPEEDUP)
            eval_rate = None
        out.append(Measured(config.encoder.value, units_per_sample(config), train_s / units,
                            eval_units_per_sample(config), eval_rate))
    return out


@dataclass
class Estimate:
    """Seconds to train some runs: a central figure, a range, and what it rests on."""

    seconds: float
    low: float
    high: float
    basis: str  # e.g. "from 3 runs measured here" or "no run measured here yet: rough"
    measured: int  # runs measured here that it rests on (0: a guess from the benchmark)

    @property
    def rough(self) -> bool:
        return self.measured == 0 or self.high > 2.5 * self.low


def _eval_rates(config: RunConfig, same: list[Measured], scale: float) -> tuple[list[float], float]:
    """(seconds per eval unit of the nearest runs that measured their evaluation, how far they are
    in eval units per sample); without one, the training rates of `same` carried over by the
    benchmark's ratio of the two."""
    epc = eval_units_per_sample(config)
    timed = [m for m in same if m.s_per_eval_unit is not None]
    if not timed:
        ratio = FALLBACK_S_PER_EVAL_UNIT / FALLBACK_S_PER_UNIT[config.encoder.value]
        return [m.s_per_unit * scale * ratio for m in same[:NEAREST]], 4.0
    near = sorted(timed, key=lambda m: abs(math.log(m.eval_per_sample / epc)))[:NEAREST]
    far = max(near[0].eval_per_sample / epc, epc / near[0].eval_per_sample)
    return [m.s_per_eval_unit * scale for m in near], far


def _solo(config: RunConfig, runs: list[Measured], sizes) -> tuple[float, float, float, int, str]:
    """(seconds, low, high, runs used, basis) of one config trained alone, evaluation included
    (START_S apart)."""
    w, ew = work(config, sizes), eval_work(config, sizes)
    enc = config.encoder.value
    same = [m for m in runs if m.encoder == enc]
    scale, note = 1.0, ""
    if not same and runs:  # another encoder was measured: carry its speed over by the benchmark's ratio
        same = runs
        scale = statistics.median(FALLBACK_S_PER_UNIT[enc] / FALLBACK_S_PER_UNIT[m.encoder] for m in runs)
        note = f"no {enc} run measured yet, scaled from other encoders"
    if not same:
        s = w * FALLBACK_S_PER_UNIT[enc] + ew * FALLBACK_S_PER_EVAL_UNIT
        return s, s / 3, s * 3, 0, "no run measured here yet: a rough guess from the benchmark"
    upc = units_per_sample(config)
    near = sorted(same, key=lambda m: abs(math.log(m.per_sample / upc)))[:NEAREST]
    rates = [m.s_per_unit * scale for m in near]
    far = max(near[0].per_sample / upc, upc / near[0].per_sample)
    eval_rates, eval_far = _eval_rates(config, near, scale)
    widen = lambda f: 1.25 if f < 4 else 2.0 if f < 50 else 3.0  # noqa: E731
    lo_t, hi_t = widen(far), widen(eval_far)
    if note:
        lo_t, hi_t = max(lo_t, 2.0), max(hi_t, 2.0)
    s = w * statistics.median(rates) + ew * statistics.median(eval_rates)
    basis = f"from {len(near)} run{'s' if len(near) != 1 else ''} measured here"
    if far >= 4:
        basis += f", extrapolated {far:.0f}x in work per sample"
    if eval_far >= 4 and ew * statistics.median(eval_rates) > 0.2 * s:
        basis += f", evaluation extrapolated {eval_far:.0f}x"
    if note:
        basis += f" ({note})"
    low = w * min(rates) / lo_t + ew * min(eval_rates) / hi_t
    high = w * max(rates) * lo_t + ew * max(eval_rates) * hi_t
    return s, low, high, len(near), basis


def pack_member_cost(records: Sequence[RunRecord], runs: list[Measured], sizes) -> tuple[float, int]:
    """(fraction of one run that each further member of a pack adds, packs measured)."""
    packs: dict[str, list[RunRecord]] = {}
    for r in records:
        if r.pack_job:
            packs.setdefault(r.pack_job, []).append(r)
    costs = []
    for members in packs.values():
        done = [r for r in members if r.status is RunStatus.FINISHED and r.duration]
        if len(members) < 2 or len(done) < len(members):
            continue
        try:
            lead = RunConfig.from_stored(done[0].config)
        except ValueError:
            continue
        solo, _, _, used, _ = _solo(lead, runs, sizes)
        streams = len({r.config.get("seed") for r in done})
        per_stream = len(members) / streams
        if used and per_stream > 1:  # a pack of seeds alone says nothing about hyperparameter members
            wall = statistics.median(r.duration for r in done) - START_S
            ratio = wall / solo / (1 + STREAM_COST * (streams - 1))
            costs.append(min(2.0, max(0.0, (ratio - 1) / (per_stream - 1))))
    return (statistics.median(costs), len(costs)) if costs else (FALLBACK_PACK_MEMBER_COST, 0)


def estimate(configs: Sequence[RunConfig], records: Sequence[RunRecord], workers: int = 1, packed: bool = False,
             max_pack: int = 0, jobs: Sequence[Sequence[int]] | None = None) -> Estimate:
    """Wall-clock seconds for `workers` workers to train `configs` (packed as `submit_sweep` would),
    from the finished runs in `records`. `jobs` (indices into `configs`, as `packing.plan_jobs`
    gives them) are the jobs to time; without them they are `pack_groups` of `max_pack` (or one
    job per run unless `packed`)."""
    sizes = dataset_sizes(records)
    runs = measured_runs(records, sizes)
    if jobs is not None:
        groups = [list(g) for g in jobs]
    else:
        groups = pack_groups(list(configs), max_pack) if packed else [[i] for i in range(len(configs))]
    member, packs_measured = pack_member_cost(records, runs, sizes) if any(len(g) > 1 for g in groups) else (0.0, 0)
    jobs, lows, highs, used, bases = [], [], [], 0, []
    for group in groups:
        s, lo, hi, n, basis = _solo(configs[group[0]], runs, sizes)
        factor = pack_factor([configs[i] for i in group], member)
        jobs.append(START_S + s * factor)
        lows.append(START_S / 2 + lo * factor)
        highs.append(2 * START_S + hi * factor)
        used = max(used, n)
        bases.append(basis)
    w = max(1, workers)
    span = lambda xs: max(max(xs, default=0.0), sum(xs) / w)  # noqa: E731  (jobs spread over workers)
    basis = max(set(bases), key=bases.count) if bases else "nothing to train"
    unknown = sorted({c.dataset.value for c in configs if not samples(c, sizes)[2]})
    if unknown:
        basis += f"; size of {', '.join(unknown)} not seen here yet, assumed 60,000 + 10,000"
    if any(len({configs[i].seed for i in g}) > 1 for g in groups):
        basis += f"; each further seed in a pack costs {STREAM_COST:.2f} of the pack (its own input stream)"
    if any(len(g) > 1 for g in groups):
        basis += (f"; packed members cost {member:.2f} of a run each"
                  + (f" (from {packs_measured} pack{'s' if packs_measured != 1 else ''} measured here)"
                     if packs_measured else " (benchmark figure)"))
    return Estimate(span(jobs), span(lows), span(highs), basis, used)


def job_order(jobs: Sequence[Sequence[RunConfig]]) -> list[int]:
    """Indices of `jobs` (each the configs one job trains, a packed job's members or one run),
    costliest first by the benchmark's figures (no measured runs needed).

    Jobs queued in this order spread well over the workers (longest processing time first): a
    long run or a big pack that started last would leave the other workers idle at the end.
    """
    def cost(configs: Sequence[RunConfig]) -> float:
        c = configs[0]
        solo = work(c, {}) * FALLBACK_S_PER_UNIT[c.encoder.value] + eval_work(c, {}) * FALLBACK_S_PER_EVAL_UNIT
        return START_S + solo * pack_factor(configs, FALLBACK_PACK_MEMBER_COST)

    return sorted(range(len(jobs)), key=lambda i: -cost(jobs[i]))
