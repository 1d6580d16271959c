"""Insights: what no other tool shows about a spiking network, over all runs or one sweep:
cost against accuracy with its Pareto front, decision latency, spike health, and what matters."""

import json

import streamlit as st

from webui import connection
from webui import insight_charts as ic
from webui.insights import rows_frame
from webui.tables import PLACEMENT, differing_fields, label
from workers.analysis import cost_rows, importance, importance_rows, pareto_front
from workers.insight_data import (health_rows, health_table, latency_rows, probe_health_of, runs_with_results,
                                  varying_fields)

st.title("Insights")
st.caption("Cost against accuracy, how early a run can decide, which neurons are dead or saturated, "
           "and which hyperparameters matter.")
store = connection.store_or_stop()

sweeps = store.list_sweeps()
ids = [s["id"] for s in sweeps]
wanted = st.query_params.get("sweep")
sweep_id = st.selectbox("Runs", [None, *ids], index=ids.index(wanted) + 1 if wanted in ids else 0, key="ins_sweep",
                        format_func=lambda i: "all runs" if i is None else
                        next(f"sweep {i}: " + " x ".join(s["axes"]) for s in sweeps if s["id"] == i))
sweep = next((s for s in sweeps if s["id"] == sweep_id), None)
records = runs_with_results(store, sweep)
if not records:
    st.info("No run has finished an epoch yet" + (" in this sweep." if sweep_id else ". Launch one from the Launch page."))
    st.stop()
fields = differing_fields([r.config for r in records], ignore=PLACEMENT)
names = {r.id: label(r.config, fields, r.id) for r in records}
histories = {r.id: store.epoch_history(r.id) for r in records}

cost_tab, latency_tab, health_tab, matter_tab = st.tabs(
    ["Cost against accuracy", "Decision latency", "Spike health", "What matters"])

with cost_tab:
    cost = st.radio("Cost per inference", list(ic.COST_AXES), horizontal=True, key="ins_cost",
                    format_func=lambda c: ic.COST_AXES[c])
    rows = cost_rows(records)
    front = pareto_front(rows, cost=cost)
    st.plotly_chart(ic.cost_fig(rows, front, cost, names), key="ins_cost_fig")
    st.caption(f"Each run at its best epoch: test accuracy against the {ic.COST_AXES[cost]} its measured firing "
               "rates imply (`snn_core.flops`; the image encoder's analog input counts as dense). The Pareto front "
               "joins the runs no other run beats on both. Dashed lines: the FLOPs the lab counted by hand.")
    st.dataframe(rows_frame([{"#": i, "run": names[p["id"]], **p} for i, p in enumerate(front, start=1)],
                            drop=("sweep",)), hide_index=True,
                 key="ins_front", column_config={"acc": st.column_config.NumberColumn("best test acc", format="percent"),
                                                 "synops": st.column_config.NumberColumn(format="%,.0f"),
                                                 "flops": st.column_config.NumberColumn(format="%,.0f"),
                                                 "ann_flops": st.column_config.NumberColumn(format="%,.0f")})

with latency_tab:
    fraction = st.slider("Decides when accuracy reaches this share of its final value", 0.5, 1.0, 0.9, 0.05,
                         key="ins_fraction")
    relative = st.toggle("x as the share of T read", False, key="ins_relative")
    lat = latency_rows(records, histories, names, fraction)
    st.plotly_chart(ic.latency_overlay_fig(lat, fraction, relative), key="ins_latency_fig")
    if lat:
        st.dataframe(rows_frame(lat, drop=("curve",)), hide_index=True, key="ins_latency_table",
                     column_config={c: st.column_config.NumberColumn(format="percent")
                                    for c in ("final acc", "acc at t=1", "share of T")})
    else:
        st.info("These runs were trained before latency was recorded.")

with health_tab:
    st.dataframe(rows_frame(health_table(records, names)), hide_index=True, key="ins_health_table")
    pick = st.selectbox("Run", [r.id for r in records], key="ins_health_run", format_func=lambda i: names[i])
    st.plotly_chart(ic.health_fig(histories[pick]), key="ins_health_fig")
    ph = probe_health_of(store, pick)
    if ph is not None:
        st.markdown(f"**On the probe digits** (epoch {ph['epoch']}, {ph['samples']} images): "
                    + (", ".join(ph["flags"]) or "no layer silent or saturated"))
        st.dataframe(rows_frame(health_rows(ph)), hide_index=True, key="ins_probe_health")

with matter_tab:
    choices = varying_fields(records, fields)
    default = [a for a in (sweep["axes"] if sweep else choices) if a in choices]
    params = st.multiselect("Hyperparameters", choices, default=default, key="ins_params")
    if len(params) < 2:
        st.info("Importance needs runs that differ in two or more hyperparameters: pick a sweep over two axes.")
    else:
        rows = importance_rows(records, params)

        @st.cache_data(show_spinner="Fitting forests to bootstrap resamples ...", max_entries=20)
        def cached(rows_json: str, params_key: tuple) -> list:
            return importance(json.loads(rows_json), list(params_key))

        try:
            result = cached(json.dumps(rows, sort_keys=True), tuple(params))
        except ValueError as exc:
            st.info(str(exc))
        else:
            st.plotly_chart(ic.importance_fig(result), key="ins_importance_fig")
            st.caption(f"{len(rows)} runs. A random forest (scikit-learn) fitted to hyperparameters -> best test "
                       "accuracy on each of 30 bootstrap resamples of the runs; a hyperparameter's importance is the "
                       "drop in the forest's R² when its column is shuffled (permutation importance). Bars: the mean; "
                       "whiskers: the central 90 % of the resamples; labels: share of the total.")
            st.dataframe(rows_frame(result), hide_index=True, key="ins_importance_table")
