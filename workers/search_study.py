"""A search's Optuna study, kept in Spikeboard's Redis: opening it, the space as distributions, and
telling it a trial's result from the run's stored epoch metrics.

The study is Optuna's `JournalStorage` over `JournalRedisBackend` under `Keys.search_optuna(id)`
(`spikeboard:search:<id>:optuna`), study name = search id, so any process can reopen it after a
crash, and optuna-dashboard can show it (the README gives the command). Telling is idempotent
(`skip_if_finished`), so a driver that died after telling and before acknowledging the event can
tell again harmlessly. Optuna and `workers.analysis` are imported here, not on the web side's path.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalRedisBackend
from optuna.trial import TrialState

from .analysis import run_cost
from .search_spec import SearchSpec

__all__ = ["open_study", "distributions", "values_at", "tell", "rung_values"]

optuna.logging.set_verbosity(optuna.logging.WARNING)
log = logging.getLogger(__name__)


def storage(url: str, prefix: str) -> JournalStorage:
    # The Redis journal is "experimental" in Optuna's terms (since 3.1); pinned to 5.0.0 and tested here,
    # so the warning on every open would only fill the driver's log.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return JournalStorage(JournalRedisBackend(url, prefix=prefix))


def open_study(url: str, prefix: str, search_id: str, spec: SearchSpec) -> optuna.Study:
    """The search's study (made on first use): TPE (constant liar, as trials run in parallel) for one
    objective or two (accuracy maximised, cost minimised)."""
    directions = ["maximize", "minimize"] if spec.multi else ["maximize"]
    store = storage(url, prefix)
    study = optuna.create_study(storage=store, study_name=search_id, directions=directions, load_if_exists=True)
    # The seed moves on with the trials asked so far: a driver restarted mid-search must not replay
    # its predecessor's random start (the same configs again).
    seed = spec.seed + len(study.get_trials(deepcopy=False))
    study.sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                               n_startup_trials=min(10, 4 * spec.max_running))
    return study


def distributions(spec: SearchSpec) -> dict[str, BaseDistribution]:
    out: dict[str, BaseDistribution] = {}
    for p in spec.space:
        if p.kind == "choice":
            out[p.name] = CategoricalDistribution(list(p.choices))
        elif p.kind == "int":
            out[p.name] = IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            out[p.name] = FloatDistribution(float(p.low), float(p.high), log=p.log)
    return out


def values_at(spec: SearchSpec, config: dict[str, Any], entry: dict[str, Any]) -> list[float]:
    """[test accuracy] or [test accuracy, cost per inference] of one epoch entry (cost from its measured
    firing rates, `workers.analysis.run_cost`)."""
    acc = float(entry["test_acc"])
    if not spec.multi:
        return [acc]
    return [acc, float(run_cost(config, entry["firing_rates"])[spec.cost])]


def rung_values(spec: SearchSpec, config: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, list[float]]:
    """{rung epoch: values} for every rung the history reaches, and its last epoch (as "last")."""
    out = {str(r): values_at(spec, config, history[r - 1]) for r in spec.rungs if r <= len(history)}
    if history:
        out["last"] = values_at(spec, config, history[-1])
    return out


def tell(study: optuna.Study, number: int, spec: SearchSpec, history: list[dict[str, Any]], config: dict[str, Any],
         state: str) -> None:
    """Tell trial `number` its result. finished: its values at the last epoch. stopped (early): one
    objective, the epochs' accuracies as intermediate values and PRUNED (Optuna's convention, which TPE
    reads); two objectives (Optuna prunes none), the values at its last rung as COMPLETE. failed: FAIL."""
    frozen = study.get_trials(deepcopy=False)[number] if number < len(study.get_trials(deepcopy=False)) else None
    if frozen is None or frozen.state.is_finished():
        return
    if state == "failed" or not history:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        return
    values = values_at(spec, config, history[-1])
    if not spec.multi:
        trial = optuna.trial.Trial(study, frozen._trial_id)
        for entry in history:
            if entry["epoch"] not in frozen.intermediate_values:
                trial.report(float(entry["test_acc"]), int(entry["epoch"]))
    if state == "stopped" and not spec.multi:
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
    else:
        study.tell(number, values, skip_if_finished=True)


def add_known(study: optuna.Study, spec: SearchSpec, params: dict[str, Any], history: list[dict[str, Any]],
              config: dict[str, Any]) -> int:
    """Tell the study a run trained before (`start_from`) as a finished trial; returns its number."""
    values = values_at(spec, config, history[-1])
    inter = {int(e["epoch"]): float(e["test_acc"]) for e in history} if not spec.multi else None
    study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions(spec), values=values,
                                              intermediate_values=inter))
    return study.get_trials(deepcopy=False)[-1].number
