"""The lab report, computed: per study the lab's curves, a results table and verdicts on the lab's
conclusions; FLOPs and an energy estimate for every run from its measured firing rates.

Pure functions over plain data (`workers.labs.lab_data`: runs with config, status and epoch history)
into the typed report of `workers.report_types`; no Redis, no torch, no Streamlit. Only finished runs count.

A claim (`snn_core.lab.Claim`) gives one number per seed, stat(seed), from the runs of that seed
(every value the claim reads must have a finished run for the seed). With d = sign * stat over the
n seeds, mean m, standard error se = sd / sqrt(n), and the interval [m - 2 se, m + 2 se]:

    holds                   m > min_effect and m - 2 se > 0    (clearly in the claimed direction, big enough)
    does not hold           m + 2 se < min_effect              (clearly smaller than claimed, or opposite)
    not shown by this data  otherwise, or fewer than 2 seeds   (the seeds disagree too much to tell)

A study holds when every claim holds, does not hold when any claim does not, and is not shown
otherwise. With 3 seeds the 2-se interval is a rough guide, not a significance test; the report
prints the per-seed numbers so a reader can judge.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Iterable, Sequence

from snn_core.flops import count
from snn_core.lab import DEFAULT_SEEDS, FLOPS_CLAIM, LAB_FLOPS, LAB_SETUP, STUDIES, SWEEP_BASE, Claim, Study

from .report_text import plural
from .report_types import ClaimResult, Curve, FlopsReport, FlopsRow, LabReport, StudyReport, ValueRow

HOLDS, FAILS, UNSHOWN = "holds", "does not hold", "not shown by this data"
MIN_SEEDS = 2  # below it no claim has a spread to weigh its mean against
VERDICTS = (HOLDS, FAILS, UNSHOWN)
INTERVAL_SE = 2.0
ENERGY_45NM = {"mac_pj": 4.6, "ac_pj": 0.9}  # 45 nm CMOS: a 32-bit float multiply-accumulate, an accumulate
CURVE_METRICS = {"train_loss": "Train loss per epoch", "test_loss": "Test loss per epoch",
                 "test_acc": "Test accuracy per epoch"}
DONE = ("finished",)
# Fields that say where a run trained or on how much data: equal within a lab, so not part of a setting.
_PLACEMENT = ("seed", "data_dir", "device", "dataset", "train_limit", "test_limit")


# -- reading runs ---------------------------------------------------------------------

def value_key(value: Any) -> Any:
    """A swept value as a comparable key: numbers as floats (T=5 == 5.0), strings as they are."""
    if isinstance(value, bool) or value is None:
        return value
    return float(value) if isinstance(value, (int, float)) else str(value)


def layers_of(config: dict) -> list[int]:
    return [784, *config.get("hidden", [10]), 10]


def snn_over_ann(entry: dict, config: dict) -> float | None:
    """The SNN's FLOPs per inference over the ANN's, from the epoch's measured firing rates."""
    rates = entry.get("firing_rates") or []
    layers = layers_of(config)
    if len(rates) < len(layers) - 1:
        return None
    return count(layers, int(config["T"]), [min(1.0, max(0.0, r)) for r in rates[: len(layers) - 1]]).snn_over_ann


def epoch_entry(history: Sequence[dict], epoch: int | str) -> dict | None:
    if not history:
        return None
    if epoch == "first":
        return history[0]
    if epoch == "last":
        return history[-1]
    return next((e for e in history if e.get("epoch") == epoch), None)


def metric_at(run: dict, metric: str, epoch: int | str = "last") -> float | None:
    entry = epoch_entry(run.get("history") or [], epoch)
    if entry is None:
        return None
    if metric == "snn_over_ann":
        return snn_over_ann(entry, run["config"])
    value = entry.get(metric)
    return float(value) if value is not None else None


def finished(runs: Iterable[dict]) -> list[dict]:
    return [r for r in runs if r.get("status") in DONE and r.get("history")]


def _grid(runs: Iterable[dict]) -> dict[tuple, dict]:
    """(value key, seed) -> the finished run."""
    return {(value_key(r["value"]), r["seed"]): r for r in finished(runs)}


# -- claims and verdicts -----------------------------------------------------------------

def claim_stats(claim: Claim, runs: Sequence[dict]) -> dict[int, float]:
    """stat(seed) for every seed whose runs cover all the values the claim reads (see module doc)."""
    grid = _grid(runs)
    seeds = sorted({seed for _, seed in grid})
    out = {}
    for seed in seeds:
        total, ok = claim.offset, True
        for term in claim.terms:
            values = [metric_at(grid[(value_key(v), seed)], claim.metric, term.epoch)
                      if (value_key(v), seed) in grid else None for v in term.values]
            if any(v is None for v in values):
                ok = False
                break
            agg = {"mean": statistics.fmean, "max": max, "min": min}[term.agg]
            total += term.weight * agg(values)
        if ok:
            out[seed] = total
    return out


def decide(claim: Claim, stats: dict[int, float]) -> ClaimResult:
    """The verdict on `claim` from its per-seed stats, with the numbers behind it."""
    d = [claim.sign * s for s in stats.values()]
    n = len(d)
    result: dict[str, Any] = {"text": claim.text, "measure": claim.measure, "metric": claim.metric, "sign": claim.sign,
                              "min_effect": claim.min_effect, "offset": claim.offset, "n": n, "per_seed": dict(stats)}
    if n < MIN_SEEDS:
        return ClaimResult(**result, verdict=UNSHOWN, mean=(claim.sign * d[0]) if d else None, se=None,
                           agree=sum(x > claim.min_effect for x in d),
                           reason=f"needs finished runs of at least {MIN_SEEDS} seeds for every value it compares; "
                                  f"has {n}")
    m = statistics.fmean(d)
    se = statistics.stdev(d) / math.sqrt(n)
    lo, hi = m - INTERVAL_SE * se, m + INTERVAL_SE * se
    if m > claim.min_effect and lo > 0:
        verdict, reason = HOLDS, "the seeds agree on the claimed direction"
    elif hi < claim.min_effect:
        verdict = FAILS
        reason = ("the seeds show the opposite" if hi < 0 else "the seeds show an effect smaller than claimed")
    else:
        verdict, reason = UNSHOWN, "the seed-to-seed spread is as large as the effect"
    return ClaimResult(**result, verdict=verdict, mean=claim.sign * m, se=se,
                       agree=sum(x > claim.min_effect for x in d), reason=reason)


def combine(verdicts: Sequence[str]) -> str:
    if not verdicts:
        return UNSHOWN
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else UNSHOWN


def seeds_note(results: Sequence[ClaimResult], lab_seeds: int | None, study: str, runs: int, done: int) -> str:
    """Why claims lack a verdict for want of seeds, and what to do: launch again with more seeds (a lab
    of fewer than MIN_SEEDS), or wait for runs; "" when every claim had its seeds. `study`: the
    CLI's --study that relaunches it."""
    have = min((r.n for r in results), default=MIN_SEEDS)
    if have >= MIN_SEEDS:
        return ""
    rule = f"Verdicts need finished runs of at least {MIN_SEEDS} seeds for every value a claim compares"
    if lab_seeds is not None and lab_seeds < MIN_SEEDS:
        return (f"{rule}; this lab ran {plural(lab_seeds, 'seed')} per setting. Launch it again with {DEFAULT_SEEDS} "
                f"seeds ('python -m workers lab --study {study} --seeds {DEFAULT_SEEDS}', or Seeds per setting "
                "under Lab studies on the Launch page): the runs already stored are reused.")
    return (f"{rule}; so far {plural(have, 'seed')} {'has' if have == 1 else 'have'} them "
            f"({done} of {plural(runs, 'run')} finished).")


# -- what in the setup differs from the lab's ------------------------------------------------

def train_samples(run: dict) -> int | None:
    """Training samples per epoch, measured: samples/s x seconds of the last epoch."""
    last = epoch_entry(run.get("history") or [], "last")
    if not last or not last.get("samples_per_s") or not last.get("epoch_seconds"):
        return None
    return int(round(last["samples_per_s"] * last["epoch_seconds"]))


def setup_differences(runs: Sequence[dict], results: Sequence[ClaimResult] = ()) -> list[str]:
    """What in these runs' setup differs from the lab's and could explain a different verdict."""
    done = finished(runs)
    out = []
    sizes = sorted({s for s in (train_samples(r) for r in done) if s})
    if sizes and max(sizes) < LAB_SETUP["train_samples"] * 0.9:
        out.append(f"Trained on {sizes[-1]:,} samples per epoch against the lab's {LAB_SETUP['train_samples']:,} "
                   "(full MNIST): each epoch sees fewer examples, so learning curves are earlier in their course "
                   "and settings that learn slowly have had less data to catch up.")
    datasets = sorted({r["config"].get("dataset") for r in done} - {LAB_SETUP["dataset"]})
    if datasets:
        out.append(f"Dataset {', '.join(map(str, datasets))}, not the lab's {LAB_SETUP['dataset']}.")
    if any(r["config"].get("membrane_init") == "zero" for r in done):
        out.append("Some runs start their membranes at zero; the lab drew them at random per batch.")
    epochs = sorted({int(r["config"].get("epochs", 0)) for r in done} - {10})
    if epochs:
        out.append(f"Trained for {', '.join(map(str, epochs))} epochs, not the lab's 10.")
    spreads = [r for r in results if r.se is not None and r.metric in ("test_acc", "train_acc") and r.verdict != HOLDS]
    if spreads:
        r = max(spreads, key=lambda r: r.se)
        sd = r.se * math.sqrt(r.n) * 100
        out.append(f"The lab ran each setting once; here \"{r.text}\" varies by {sd:.2f} pts from seed to seed "
                   f"(sd over {r.n} seeds), so a single run's difference of up to about {2 * sd:.1f} pts can be "
                   "seed noise.")
    if any(r.metric == "epoch_seconds" and r.verdict != HOLDS for r in results) and any(
            r.get("pack_job") for r in done):
        out.append("Some runs trained packed with others: their seconds per epoch are their whole pack's.")
    return out


# -- tables and curves -------------------------------------------------------------------

def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def study_table(study: Study, runs: Sequence[dict]) -> list[ValueRow]:
    """Per value: final and best test accuracy (mean, sd over seeds), final losses, s/epoch, firing rates."""
    rows = []
    done = finished(runs)
    for value in study.values:
        group = [r for r in done if value_key(r["value"]) == value_key(value)]
        final = [metric_at(r, "test_acc") for r in group]
        best = [max(e["test_acc"] for e in r["history"]) for r in group]
        rates = [epoch_entry(r["history"], "last").get("firing_rates") or [] for r in group]
        width = min((len(x) for x in rates), default=0)
        fa, fs = _mean_sd([x for x in final if x is not None])
        ba, bs = _mean_sd(best)
        rows.append(ValueRow(
            value=value, seeds=len(group),
            final_test_acc=fa, final_test_acc_sd=fs, best_test_acc=ba, best_test_acc_sd=bs,
            train_loss=_mean_sd([metric_at(r, "train_loss") for r in group])[0],
            test_loss=_mean_sd([metric_at(r, "test_loss") for r in group])[0],
            epoch_seconds=_mean_sd([statistics.fmean(e["epoch_seconds"] for e in r["history"]) for r in group])[0],
            firing_rates=[statistics.fmean(x[i] for x in rates) for i in range(width)] if group else [],
            packed=sum(bool(r.get("pack_job")) for r in group),
        ))
    return rows


def study_curves(study: Study, runs: Sequence[dict]) -> dict[str, list[Curve]]:
    """Per metric, one curve per value: epochs, mean over seeds, min and max (the band)."""
    done = finished(runs)
    out: dict[str, list[Curve]] = {m: [] for m in CURVE_METRICS}
    for value in study.values:
        group = [r for r in done if value_key(r["value"]) == value_key(value)]
        if not group:
            continue
        for metric in CURVE_METRICS:
            by_epoch: dict[int, list[float]] = {}
            for r in group:
                for e in r["history"]:
                    if e.get(metric) is not None:
                        by_epoch.setdefault(int(e["epoch"]), []).append(float(e[metric]))
            epochs = sorted(k for k, v in by_epoch.items() if len(v) == len(group))
            out[metric].append(Curve(value, len(group), epochs, [statistics.fmean(by_epoch[e]) for e in epochs],
                                     [min(by_epoch[e]) for e in epochs], [max(by_epoch[e]) for e in epochs]))
    return out


# -- FLOPs and energy --------------------------------------------------------------------

def macs(layers: Sequence[int]) -> int:
    """Multiply-accumulates of one ANN inference: sum of M N over the layers."""
    return sum(m * n for m, n in zip(layers[:-1], layers[1:]))


def flops_rows(runs: Iterable[dict], energies: dict[str, float] = ENERGY_45NM) -> list[FlopsRow]:
    """Every finished run's FLOPs per inference (ANN and SNN, from its last epoch's measured firing
    rates), synaptic operations, and energy: ANN MACs x mac_pj against SNN synaptic ops x ac_pj."""
    check_energies(energies)
    rows = []
    for r in finished(runs):
        rates = epoch_entry(r["history"], "last").get("firing_rates") or []
        layers = layers_of(r["config"])
        if len(rates) < len(layers) - 1:
            continue
        rep = count(layers, int(r["config"]["T"]), [min(1.0, max(0.0, x)) for x in rates[: len(layers) - 1]])
        ann_pj, snn_pj = macs(layers) * energies["mac_pj"], rep.synaptic_ops * energies["ac_pj"]
        rows.append(FlopsRow(run_id=r["run_id"], T=rep.T, rates=list(rep.rates), ann_flops=rep.ann_total,
                             snn_flops=rep.snn_total, snn_over_ann=rep.snn_over_ann, synaptic_ops=rep.synaptic_ops,
                             ann_macs=macs(layers), ann_energy_nj=ann_pj / 1000, snn_energy_nj=snn_pj / 1000,
                             snn_over_ann_energy=snn_pj / ann_pj if ann_pj else None,
                             study=r.get("study", ""), value=r.get("value"), seed=r.get("seed")))
    return rows


def check_energies(energies: dict[str, float]) -> None:
    for name in ("mac_pj", "ac_pj"):
        value = energies.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a number of picojoules > 0, got {value!r}")


def base_runs(data: dict[str, Any]) -> list[dict]:
    """The lab's runs at the sweep base (any study's; the same run is in four), with value = T."""
    want = {k: v for k, v in SWEEP_BASE.to_dict().items() if k not in _PLACEMENT}
    seen, out = set(), []
    for runs in data["studies"].values():
        for r in runs:
            config = {k: v for k, v in r["config"].items() if k not in _PLACEMENT}
            if r["run_id"] not in seen and config == want:
                seen.add(r["run_id"])
                out.append({**r, "value": r["config"]["T"]})
    return out


# The studies whose runs include the sweep base itself (the FLOPs claim's runs).
BASE_STUDIES = [k for k, s in STUDIES.items() if s.base == SWEEP_BASE
                and value_key(getattr(SWEEP_BASE, s.field)) in {value_key(v) for v in s.values}]


# -- the whole report ------------------------------------------------------------------------

def study_report(study: Study, runs: Sequence[dict], lab_seeds: int | None = None) -> StudyReport:
    results = [decide(c, claim_stats(c, runs)) for c in study.claims]
    verdict = combine([r.verdict for r in results]) if results else UNSHOWN
    total, done = len({r["run_id"] for r in runs}), len({r["run_id"] for r in finished(runs)})
    return StudyReport(
        key=study.key, title=study.title, field=study.field, values=list(study.values),
        conclusion=study.conclusion, verdict=verdict, claims=results,
        explanations=setup_differences(runs, results) if verdict != HOLDS else [],
        table=study_table(study, runs), curves=study_curves(study, runs),
        runs=total, finished=done, why=seeds_note(results, lab_seeds, study.key, total, done),
    )


def build_report(data: dict[str, Any], energies: dict[str, float] = ENERGY_45NM) -> LabReport:
    """The report of a lab launch (`workers.labs.lab_data`), typed, for the page and the export to draw."""
    check_energies(energies)
    studies = [study_report(STUDIES[k], runs, data.get("seeds")) for k, runs in data["studies"].items() if k in STUDIES]
    everything = {r["run_id"]: {**r, "study": k} for k, runs in data["studies"].items() for r in runs}
    base = base_runs(data)
    flops_result = decide(FLOPS_CLAIM, claim_stats(FLOPS_CLAIM, base))
    flops_verdict = flops_result.verdict
    rows = flops_rows(everything.values(), energies)
    explanations = []
    if flops_verdict != HOLDS and base:
        measured = [r.rates for r in flops_rows(base, energies)]
        if measured:
            means = [statistics.fmean(x[i] for x in measured) for i in range(len(measured[0]))]
            assumed = LAB_SETUP["assumed_rates"]
            explanations.append(
                f"The lab counted with assumed firing rates {', '.join(f'{a:g}' for a in assumed)} (input, hidden); "
                f"the T={SWEEP_BASE.T} runs measured {', '.join(f'{m:.3f}' for m in means)}. A Bernoulli-coded digit "
                "fires about as often as its mean pixel intensity, far below 1, so its first layer skips most "
                "multiply-accumulates.")
    if base:
        relaunch = next(iter(data["studies"])) if len(data["studies"]) == 1 else "all"
        why = seeds_note([flops_result], data.get("seeds"), relaunch, len(base), len(finished(base)))
    else:
        why = (f"The FLOPs claim reads the runs at the sweep base (T={SWEEP_BASE.T}), which the "
               f"{', '.join(k for k in STUDIES if k in BASE_STUDIES)} studies train and this lab's "
               f"({', '.join(data['studies'])}) do not.")
    return LabReport(
        lab={k: data.get(k) for k in ("id", "created_at", "seeds", "settings", "plan")},
        studies=studies,
        flops=FlopsReport(claim=flops_result, verdict=flops_verdict, lab=dict(LAB_FLOPS), energies=dict(energies),
                          rows=rows, explanations=explanations, why=why),
        runs=len(everything), finished=len(finished(everything.values())),
    )


def csv_rows(report: LabReport, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's data, one row per run and epoch (with the run's FLOPs and energy on each row)."""
    flops = {r.run_id: r for r in report.flops.rows}
    rows = []
    for key, runs in data["studies"].items():
        for r in runs:
            f = flops.get(r["run_id"])
            for e in r.get("history") or []:
                rates = e.get("firing_rates") or []
                rows.append({
                    "study": key, "field": STUDIES[key].field if key in STUDIES else "", "value": r["value"],
                    "seed": r["seed"], "run_id": r["run_id"], "status": r["status"], "epoch": e.get("epoch"),
                    "train_loss": e.get("train_loss"), "train_acc": e.get("train_acc"), "test_loss": e.get("test_loss"),
                    "test_acc": e.get("test_acc"), "epoch_seconds": e.get("epoch_seconds"),
                    "firing_rates": ";".join(f"{x:.6g}" for x in rates),
                    "ann_flops": f and f.ann_flops, "snn_flops": f and f.snn_flops,
                    "synaptic_ops": f and f.synaptic_ops, "ann_energy_nj": f and f.ann_energy_nj,
                    "snn_energy_nj": f and f.snn_energy_nj,
                })
    return rows
