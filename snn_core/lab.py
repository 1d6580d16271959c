"""The course lab's studies as data: what each varied, from which base, and what the lab concluded.

The lab's script ran its hand sweeps from one base (T = 5, beta 0.8, z 1, V_th 1.0, Bernoulli input,
MSE on the rate; the T sweep varies T) and its encoder and loss studies from its report's Table 1
baseline (T = 50, z = 2, V_th = 1.5, beta = 0.7). All of them: 10 epochs, Adam lr 1e-3, batch 64,
test batch 100, membranes starting uniform in +-sqrt(6 / width), drawn per batch.

A `Study` is one sweep: a base config, the field it varies and its values. Each seed is a separate
run. A study's conclusion is quoted, and split into `Claim`s that `workers.lab_report` checks
against stored runs. A claim is a number computed per seed from the runs' epoch metrics,

    stat(seed) = offset + sum over terms of  weight * agg_{v in values} metric(v, seed, epoch)

(agg = mean, max or min over the listed values of the swept field), and the claim is that `sign * stat`
exceeds `min_effect`. So every check is plain data here, and the arithmetic lives in one function.
Imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import DatasetName, Encoder, Loss, MembraneInit, RunConfig

LAB_TRAINING = dict(epochs=10, lr=1e-3, batch_size=64, test_batch_size=100, membrane_init=MembraneInit.KAIMING)
SWEEP_BASE = RunConfig(T=5, beta=0.8, z=1.0, v_th=1.0, encoder=Encoder.BERNOULLI, loss=Loss.MSE, **LAB_TRAINING)
"""The base of the lab script's hyperparameter sweeps."""
TABLE1_BASE = RunConfig(T=50, beta=0.7, z=2.0, v_th=1.5, encoder=Encoder.BERNOULLI, loss=Loss.MSE, **LAB_TRAINING)
"""The report's Table 1 baseline, the base of its encoder and loss studies."""

DEFAULT_SEEDS = 3

# What the lab's own setup was, for explaining a verdict that differs from its conclusion.
LAB_SETUP: dict[str, Any] = {
    "dataset": DatasetName.MNIST.value,
    "train_samples": 60_000,  # the full MNIST training set
    "test_samples": 10_000,
    "runs_per_setting": 1,  # the lab ran each setting once
    "assumed_rates": (1.0, 0.25),  # the firing rates its FLOPs count assumed (input, hidden)
}
LAB_FLOPS = {"T": 5, "ann": 15_900, "snn": 78_750}  # the lab's worked example

# Metrics a claim may read: the epoch metrics workers store, and `snn_over_ann`, the SNN's FLOPs
# per inference over the ANN's from the run's measured firing rates (`snn_core.flops`).
METRICS = ("test_acc", "test_loss", "train_loss", "train_acc", "epoch_seconds", "snn_over_ann")


@dataclass(frozen=True)
class Term:
    weight: float
    values: tuple  # values of the study's field; agg over them
    epoch: int | str = "last"  # 1-based epoch number, "first" or "last"
    agg: str = "mean"  # "mean" | "max" | "min"


@dataclass(frozen=True)
class Claim:
    """One checkable part of a conclusion: sign * stat(seed) > min_effect, stat as in the module doc."""

    text: str  # the part of the lab's conclusion it checks
    measure: str  # what stat is, in words
    metric: str
    terms: tuple[Term, ...]
    sign: int = 1  # +1: the lab says stat is positive; -1: negative
    min_effect: float = 0.0  # in the metric's unit (accuracy: 0.01 = 1 point)
    offset: float = 0.0


@dataclass(frozen=True)
class Study:
    key: str  # CLI name
    title: str
    field: str  # the RunConfig field it varies
    values: tuple
    base: RunConfig
    conclusion: str  # the lab's words ("" when the lab drew none)
    claims: tuple[Claim, ...] = field(default_factory=tuple)

    def configs(self, seeds: int = DEFAULT_SEEDS, **changes: Any) -> list[RunConfig]:
        """One config per (value, seed), value-major; `changes` (dataset, data_dir, ...) apply to all."""
        seed_list = check_seeds(seeds)
        base = self.base.replace(**changes) if changes else self.base
        return [base.replace(**{self.field: v, "seed": s}) for v in self.values for s in seed_list]


def check_seeds(seeds: int) -> list[int]:
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= 100:
        raise ValueError(f"seeds must be an integer in 1..100, got {seeds!r}")
    return list(range(seeds))


BETAS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
TS = (5, 10, 20, 50, 100)
ZS = (0.5, 1.0, 2.0, 5.0, 10.0)
VTHS = (0.5, 0.75, 1.0, 1.25, 1.5)
VTHS_WIDE = (0.25, 0.5, 1.0, 2.0, 3.0)
ENCODERS = (Encoder.IMAGE.value, Encoder.THRESHOLD.value, Encoder.BERNOULLI.value)
LOSSES = (Loss.MSE.value, Loss.CE.value)

_PT = 0.01  # one accuracy point
# The smallest effect a direction-only claim needs, so that a flat result reads "does not hold" rather
# than a coin flip on seed noise: 0.2 accuracy points, 5e-4 of MSE loss, 10 ms per epoch.
_ACC, _LOSS, _SEC = 0.002, 0.0005, 0.01

STUDIES: dict[str, Study] = {s.key: s for s in (
    Study("beta", "Membrane leak beta", "beta", BETAS, SWEEP_BASE,
          "Higher beta learns faster early and lower beta catches up, with diminishing returns near 1.",
          (Claim("higher beta learns faster early", "test accuracy after epoch 1: beta=0.99 minus beta=0.5",
                 "test_acc", (Term(1, (0.99,), "first"), Term(-1, (0.5,), "first")), min_effect=_ACC),
           Claim("lower beta catches up", "the beta=0.99 minus beta=0.5 accuracy gap after the last epoch "
                 "minus that gap after epoch 1 (negative: the gap closes)", "test_acc",
                 (Term(1, (0.99,)), Term(-1, (0.5,)), Term(-1, (0.99,), "first"), Term(1, (0.5,), "first")), sign=-1,
                 min_effect=_ACC),
           Claim("diminishing returns near 1", "epoch-1 accuracy gained from beta 0.5 to 0.7, minus that gained "
                 "from 0.95 to 0.99", "test_acc",
                 (Term(1, (0.7,), "first"), Term(-1, (0.5,), "first"), Term(-1, (0.99,), "first"),
                  Term(1, (0.95,), "first")), min_effect=_ACC))),
    Study("T", "Timesteps T", "T", TS, SWEEP_BASE,
          "Larger T lowers loss and raises accuracy, at a cost in time.",
          (Claim("larger T raises accuracy", "final test accuracy: T=100 minus T=5", "test_acc",
                 (Term(1, (100,)), Term(-1, (5,))), min_effect=_ACC),
           Claim("larger T lowers loss", "final test loss: T=100 minus T=5", "test_loss",
                 (Term(1, (100,)), Term(-1, (5,))), sign=-1, min_effect=_LOSS),
           Claim("at a cost in time", "seconds per training epoch: T=100 minus T=5", "epoch_seconds",
                 (Term(1, (100,)), Term(-1, (5,))), min_effect=_SEC))),
    Study("z", "Surrogate slope z", "z", ZS, SWEEP_BASE,
          "A moderate z is best.",
          (Claim("a moderate z is best", "final test accuracy: the mean of z=1, 2, 5 minus the mean of z=0.5, 10",
                 "test_acc", (Term(1, (1.0, 2.0, 5.0)), Term(-1, (0.5, 10.0))), min_effect=_ACC),)),
    Study("vth", "Threshold V_th", "v_th", VTHS, SWEEP_BASE,
          "V_th = 0.5 is notably worse; accuracy grows with the threshold, while the losses grow too.",
          (Claim("V_th = 0.5 is notably worse", "final test accuracy: the mean of V_th=0.75..1.5 minus V_th=0.5 "
                 "(at least 1 point)", "test_acc", (Term(1, (0.75, 1.0, 1.25, 1.5)), Term(-1, (0.5,))),
                 min_effect=_PT),
           Claim("accuracy grows with the threshold", "final test accuracy: V_th=1.5 minus V_th=0.75", "test_acc",
                 (Term(1, (1.5,)), Term(-1, (0.75,))), min_effect=_ACC),
           Claim("the test loss grows too", "final test loss: V_th=1.5 minus V_th=0.5", "test_loss",
                 (Term(1, (1.5,)), Term(-1, (0.5,))), min_effect=_LOSS),
           Claim("the train loss grows too", "final train loss: V_th=1.5 minus V_th=0.5", "train_loss",
                 (Term(1, (1.5,)), Term(-1, (0.5,))), min_effect=_LOSS))),
    Study("vth-wide", "Threshold V_th, a wider spread", "v_th", VTHS_WIDE, SWEEP_BASE,
          "(The lab mentions a wider spread but lists no values; these are Spikeboard's. Checked: its "
          "V_th trend.) Accuracy grows with the threshold, while the losses grow too.",
          (Claim("accuracy grows with the threshold", "final test accuracy: V_th=3 minus V_th=0.25", "test_acc",
                 (Term(1, (3.0,)), Term(-1, (0.25,))), min_effect=_ACC),
           Claim("the test loss grows too", "final test loss: V_th=3 minus V_th=0.25", "test_loss",
                 (Term(1, (3.0,)), Term(-1, (0.25,))), min_effect=_LOSS))),
    Study("encoder", "Input encoder", "encoder", ENCODERS, TABLE1_BASE,
          "Bernoulli input is the best encoder and the static image the worst.",
          (Claim("Bernoulli input is the best", "final test accuracy: bernoulli minus the better of image, threshold",
                 "test_acc", (Term(1, ("bernoulli",)), Term(-1, ("image", "threshold"), agg="max")), min_effect=_ACC),
           Claim("the static image is the worst", "final test accuracy: the worse of threshold, bernoulli minus "
                 "image", "test_acc", (Term(1, ("threshold", "bernoulli"), agg="min"), Term(-1, ("image",))),
                 min_effect=_ACC))),
    Study("loss", "Loss function", "loss", LOSSES, TABLE1_BASE,
          "Cross-entropy beats MSE by about 3 points.",
          (Claim("cross-entropy beats MSE (by about 3 points)", "final test accuracy: ce minus mse (at least 1 "
                 "point; the lab: about 3)", "test_acc", (Term(1, ("ce",)), Term(-1, ("mse",))), min_effect=_PT),)),
)}
"""Every study, by CLI name; `all` (see `study_keys`) is all of them."""

FLOPS_CLAIM = Claim(
    "ANN 15,900 FLOPs against SNN 78,750 at T = 5: the SNN costs more",
    "SNN FLOPs per inference over the ANN's (SNN / ANN in the FLOPs table), from the measured firing rates of "
    "the T=5 sweep base; the claim: above 1",
    "snn_over_ann", (Term(1, (SWEEP_BASE.T,)),), offset=-1.0)
"""Checked on the runs at the sweep base (any study's), by their T."""

STUDY_CHOICES = (*STUDIES, "all")


def study_keys(choice: str) -> list[str]:
    """The studies a CLI/Launch choice names: one study, or every one for "all"."""
    if choice == "all":
        return list(STUDIES)
    if choice not in STUDIES:
        raise ValueError(f"study must be one of {', '.join(STUDY_CHOICES)}, got {choice!r}")
    return [choice]


def lab_configs(keys: list[str], seeds: int = DEFAULT_SEEDS, **changes: Any) -> dict[str, list[RunConfig]]:
    """{study key: its configs}; a config shared by two studies (the sweep base) appears in both."""
    unknown = [k for k in keys if k not in STUDIES]
    if unknown or not keys:
        raise ValueError(f"study must be one of {', '.join(STUDY_CHOICES)}, got {unknown or keys!r}")
    return {k: STUDIES[k].configs(seeds, **changes) for k in keys}
