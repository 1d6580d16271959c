"""What the Insights, Run, Compare and FLOPs pages read out of stored runs (health, decision latency,
measured rates), computed here so the pages and `webui.insight_charts` only lay it out.

Reads go through `workers.store.RunStore`; the rest is pure over run records and epoch histories.
No torch (the web app imports it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from snn_core.config import RunConfig
from snn_core.health import probe_health, rest_starts
from snn_core.latency import decision_step, latest_curve

from .records import RunRecord
from .store import RunStore

INSIGHT_RUNS = 2000  # the newest runs "all runs" reads (a few thousand records read quickly)


def runs_with_results(store: RunStore, sweep: dict[str, Any] | None = None) -> list[RunRecord]:
    """The runs of `sweep` (a stored sweep, `RunStore.get_sweep`; the runs it reused from earlier
    identical ones included) or the newest INSIGHT_RUNS runs, keeping those with a best test accuracy."""
    picked = [store.get_run(i) for i in sweep["run_ids"]] if sweep else store.list_runs(limit=INSIGHT_RUNS)
    return [r for r in picked if r is not None and (r.best_metrics or {}).get("test_acc") is not None]


def health_text(health: dict[str, Any] | None) -> str:
    """'epoch 3: output silent; hidden 1: 6/10 saturated', or '' when the run is healthy (or unmeasured)."""
    if not health or not health.get("flags"):
        return ""
    return f"epoch {health.get('epoch')}: " + "; ".join(health["flags"])


def health_table(records: Sequence[RunRecord], names: dict[str, str]) -> list[dict[str, Any]]:
    """One row per run: its latest epoch's flags and silent / saturated counts per layer, flagged runs
    first (`names`: run id -> the label to show)."""
    rows = []
    for r in records:
        layers = (r.health or {}).get("layers", [])
        rows.append({"run": names[r.id], "id": r.id, "status": r.status.value, "epoch": (r.health or {}).get("epoch"),
                     "flags": health_text(r.health) or ("ok" if r.health else "not measured"),
                     **{f"{l['name']} silent": f"{l['silent']}/{l['size']}" for l in layers},
                     **{f"{l['name']} saturated": f"{l['saturated']}/{l['size']}" for l in layers}})
    rows.sort(key=lambda row: row["flags"] in ("ok", "not measured"))  # stable: flagged first, in order
    return rows


def health_rows(health: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per layer of a health reading (`snn_core.health`): its size and silent / saturated counts."""
    return [{"layer": l["name"], "neurons": l["size"], "silent": l["silent"], "saturated": l["saturated"]}
            for l in (health or {}).get("layers", [])]


def latency_row(history: Sequence[dict], fraction: float = 0.9) -> dict[str, Any] | None:
    """What a run's latest latency curve (test accuracy reading the output after t of T steps) says: its
    epoch, T, final accuracy, accuracy at t=1, the first step reaching `fraction` of the final, that step
    as a share of T, and the curve; None before an epoch recorded one."""
    got = latest_curve(history)
    if got is None:
        return None
    epoch, curve = got
    step = decision_step(curve, fraction)
    return {"epoch": epoch, "T": len(curve), "final acc": curve[-1], "acc at t=1": curve[0], "decides at t": step,
            "share of T": step / len(curve), "curve": curve}


def latency_rows(records: Sequence[RunRecord], histories: dict[str, list[dict]], names: dict[str, str],
                 fraction: float = 0.9) -> list[dict[str, Any]]:
    """`latency_row` of every run that has a curve, with its id and name (`names`: run id -> label)."""
    rows = []
    for r in records:
        row = latency_row(histories.get(r.id, []), fraction)
        if row is not None:
            rows.append({"id": r.id, "run": names[r.id], **row})
    return rows


def probe_health_of(store: RunStore, run_id: str) -> dict[str, Any] | None:
    """`snn_core.health.probe_health` of the run's latest probe recording (None before its first epoch)."""
    recording = store.load_probes(run_id)
    if recording is None:
        return None
    return probe_health(recording, rest_starts(store.require_run(run_id).config))


def varying_fields(records: Sequence[RunRecord], fields: Sequence[str]) -> list[str]:
    """Those of `fields` on which the runs do not all agree (what an importance can be asked about)."""
    return [f for f in fields if len({json.dumps(r.config.get(f), sort_keys=True) for r in records}) > 1]


def rates_from_history(history: list[dict], n_inputs: int) -> list[float] | None:
    """Input rates of each layer (input, hidden...) from a run's last epoch that has them, clamped to [0, 1]."""
    for metrics in reversed(history):
        rates = metrics.get("firing_rates") or []
        if len(rates) >= n_inputs:
            return [min(1.0, max(0.0, float(r))) for r in rates[:n_inputs]]
    return None


@dataclass(frozen=True)
class MeasuredRates:
    """What the FLOPs calculator needs of a run: its layer sizes, T, and its measured input rates."""

    layers: list[int]
    T: int
    rates: list[float]


def measured_rates(store: RunStore, run_id: str) -> MeasuredRates | None:
    """The run's layers, T and last measured input rates; None while it has measured none."""
    config = RunConfig.from_stored(store.require_run(run_id).config)
    layers = list(config.layer_sizes)
    rates = rates_from_history(store.epoch_history(run_id), len(layers) - 1)
    return None if rates is None else MeasuredRates(layers, config.T, rates)
