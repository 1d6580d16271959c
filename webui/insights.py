"""Views of the spiking-network analyses that other pages hook in with one call: a run's health
banner and its health and latency charts (Run), latency overlaid across runs (Compare), the
stop-rule picker (Launch) and "train again" (Launch, Run)."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd
import redis
import streamlit as st

from snn_core.health import StopCondition, StopLayer, StopRule
from webui import insight_charts as ic
from workers import submission
from workers.analysis import determinism, next_free_seed
from webui.tables import label
from workers.insight_data import health_text, latency_row, latency_rows
from workers.records import RunRecord, RunStatus
from workers.store import RunStore


def health_banner(record: RunRecord) -> None:
    """Say at once when a layer went silent or saturated, and why a stop rule ended the run."""
    if record.status is RunStatus.STOPPED and record.stop_reason:
        st.error(f"**Stopped early.** {record.stop_reason}", icon=":material/heart_broken:")
    elif text := health_text(record.health):
        st.warning(f"**Spike health:** {text} (test set). A silent output layer decides nothing; a saturated "
                   "layer passes on a constant.", icon=":material/ecg_heart:")
    if record.stop_rule and record.status is not RunStatus.STOPPED:
        st.caption(f"Stop rule: {StopRule.from_dict(record.stop_rule).describe()}.")


def run_charts(epochs: Sequence[dict], key: str) -> None:
    """A run's spike health and decision latency per epoch (nothing before its first epoch)."""
    if not any(e.get("latency_acc") or e.get("health") for e in epochs):
        return
    left, right = st.columns(2)
    left.plotly_chart(ic.health_fig(epochs), key=f"{key}_health")
    right.plotly_chart(ic.latency_fig(epochs, latency_row(epochs)), key=f"{key}_latency")


def latency_compare(records: Sequence[RunRecord], histories: dict[str, list[dict]], fields: Sequence[str]) -> None:
    """Compare: every run's latest latency curve on one chart, and the step each reaches 90 % of its final."""
    rows = latency_rows(records, histories, {r.id: label(r.config, fields, r.id) for r in records})
    if not rows:
        return
    relative = len({r["T"] for r in rows}) > 1 and st.toggle(
        "Latency against the share of T read (runs differ in T)", False, key="cmp_latency_relative")
    st.plotly_chart(ic.latency_overlay_fig(rows, relative=relative), key="cmp_latency")


def stop_rule_input(key: str = "stop_rule") -> StopRule | None:
    """An optional stop rule: stop a run (or each run of a sweep) once a layer goes silent or saturated."""
    if not st.checkbox("Stop early when spike health goes bad (not a hyperparameter: the run's settings "
                       "and its reuse stay the same)", key=f"{key}_on"):
        return None
    a, b, c = st.columns(3)
    layer = a.selectbox("When", [l.value for l in StopLayer], key=f"{key}_layer",
                        format_func=lambda v: {"output": "the output layer", "hidden": "a hidden layer",
                                               "any": "any layer"}[v])
    condition = b.selectbox("has been", [c.value for c in StopCondition], key=f"{key}_condition")
    epochs = c.number_input("for epochs in a row", 1, 1000, 2, key=f"{key}_epochs")
    rule = StopRule(layer=layer, condition=condition, epochs=int(epochs))
    st.caption(f"Rule: {rule.describe()} (on the test set, checked after every epoch).")
    return rule


def train_again(conn: redis.Redis, record: RunRecord, key: str) -> None:
    """Launch this run's config again on purpose: the same seed (a determinism check) or a new one."""
    store_runs = RunStore(conn).list_runs()
    twins = [r for r in store_runs if r.config_hash == record.config_hash]
    done = [r for r in twins if r.status is RunStatus.FINISHED]
    if len(done) > 1:
        check = determinism({r.id: RunStore(conn).epoch_history(r.id) for r in done})
        d = check["first_difference"]
        if check["identical"]:
            st.success(f"Determinism: {check['runs']} finished runs of this exact config (same seed) have "
                       f"identical metrics over {check['epochs']} epochs.", icon=":material/verified:")
        elif check["close"]:
            st.info(f"Determinism: {check['runs']} finished runs of this config agree to float rounding (largest "
                    f"relative difference {check['max_rel_diff']:.1e}, first in {d['metric']} at epoch {d['epoch']}): "
                    "a run trained in a packed sweep and one trained alone sum in another order.",
                    icon=":material/verified:")
        else:
            a, b = (f"{v:.6g}" if isinstance(v, float) else str(v)[:60] for v in d["values"])
            st.warning(f"Determinism: run {d['run']} differs from {done[0].id} at epoch {d['epoch']} in "
                       f"{d['metric']} ({a} vs {b}).", icon=":material/difference:")
    seed = next_free_seed(store_runs, record.config)
    a, b = st.columns(2)
    launched = None
    if a.button("Train again, same seed (check determinism)", key=f"{key}_same", icon=":material/replay:"):
        launched = submission.submit_run(conn, record.run_config(), force=True, tags=record.tags,
                                      stop_rule=record.stop_rule)
    if b.button(f"Train again with a new seed ({seed})", key=f"{key}_seed", icon=":material/casino:"):
        launched = submission.submit_run(conn, record.run_config().replace(seed=seed), tags=record.tags,
                                      stop_rule=record.stop_rule)
    if launched is not None:
        st.session_state[f"{key}_launched"] = launched.record.id
    if new := st.session_state.get(f"{key}_launched"):
        st.page_link("pages/run.py", label=f"Watch run {new} live", icon=":material/monitoring:",
                     query_params={"run": new})


def flag_column(records: Sequence[RunRecord]) -> list[str]:
    """Runs table: the spike-health flags of each run's latest epoch, or why it was stopped."""
    out = []
    for r in records:
        text = health_text(r.health)
        out.append(f"stopped: {text or 'stop rule'}" if r.status is RunStatus.STOPPED else text)
    return out


def rows_frame(rows: Sequence[dict[str, Any]], drop: Sequence[str] = ()) -> pd.DataFrame:
    return pd.DataFrame([{k: v for k, v in r.items() if k not in drop} for r in rows])


def with_flags(frame, records: Sequence[RunRecord]):
    """The Runs table with a "spike health" column after the status."""
    frame.insert(min(2, len(frame.columns)), "spike health", flag_column(records))
    return frame


def again_after_reuse(conn: redis.Redis, result) -> None:
    """Launch: when an identical run was reused, offer to train it again on purpose."""
    if result is not None and not result.created:
        with st.expander("Train it again anyway", icon=":material/replay:"):
            train_again(conn, result.record, "launch_again")


def flag_order(columns: Sequence[str]) -> list[str]:
    """A Runs column order with the "spike health" column after the status."""
    columns = [c for c in columns if c != "spike health"]
    at = columns.index("status") + 1 if "status" in columns else len(columns)
    return [*columns[:at], "spike health", *columns[at:]]
