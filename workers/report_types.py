"""The lab report's types: what `workers.lab_report.build_report` computes and `webui.report_render` draws.

Frozen dataclasses of plain values (no Redis, no torch, no plotly); `LabReport.to_dict()` is the JSON form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClaimResult:
    """The verdict on one of the lab's claims (`snn_core.lab.Claim`) and the numbers behind it.

    `per_seed`: the claim's stat (its `offset` included) for every seed whose runs cover all it compares;
    `mean` and `se` over them (in the claim's own sign; None without seeds, `se` None below 2 seeds);
    `agree`: seeds beyond the minimum effect."""

    text: str
    measure: str
    metric: str
    sign: int
    min_effect: float
    offset: float
    n: int
    per_seed: dict[int, float]
    verdict: str
    mean: float | None
    se: float | None
    agree: int
    reason: str


@dataclass(frozen=True)
class ValueRow:
    """One swept value of a study: mean (and sd) over its finished seeds at the last epoch."""

    value: Any
    seeds: int
    final_test_acc: float | None
    final_test_acc_sd: float | None
    best_test_acc: float | None
    best_test_acc_sd: float | None
    train_loss: float | None
    test_loss: float | None
    epoch_seconds: float | None  # a packed run's are its whole pack's
    firing_rates: list[float]
    packed: int  # how many of its runs trained packed


@dataclass(frozen=True)
class Curve:
    """One value's metric per epoch: the mean over seeds and the min-max band (epochs every seed has)."""

    value: Any
    seeds: int
    x: list[int]
    mean: list[float]
    lo: list[float]
    hi: list[float]


@dataclass(frozen=True)
class StudyReport:
    key: str
    title: str
    field: str
    values: list[Any]
    conclusion: str
    verdict: str
    claims: list[ClaimResult]
    explanations: list[str]  # what in the setup could explain a verdict other than the lab's
    table: list[ValueRow]
    curves: dict[str, list[Curve]]  # metric -> one curve per value
    runs: int
    finished: int
    why: str = ""  # why its verdicts could not be drawn, and what to do ("" when they could)


@dataclass(frozen=True)
class FlopsRow:
    """One finished run's cost per inference from its last epoch's measured firing rates."""

    run_id: str
    T: int
    rates: list[float]
    ann_flops: float
    snn_flops: float
    snn_over_ann: float
    synaptic_ops: float
    ann_macs: int
    ann_energy_nj: float
    snn_energy_nj: float
    snn_over_ann_energy: float | None
    study: str = ""
    value: Any = None
    seed: int | None = None


@dataclass(frozen=True)
class FlopsReport:
    claim: ClaimResult
    verdict: str
    lab: dict[str, Any]  # the lab's own hand count (`snn_core.lab.LAB_FLOPS`)
    energies: dict[str, float]  # mac_pj, ac_pj
    rows: list[FlopsRow]
    explanations: list[str]
    why: str = ""  # as StudyReport.why


@dataclass(frozen=True)
class LabReport:
    lab: dict[str, Any]  # id, created_at, seeds, settings, plan
    studies: list[StudyReport]
    flops: FlopsReport
    runs: int
    finished: int
    verdicts: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdicts", {s.key: s.verdict for s in self.studies})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
