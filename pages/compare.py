"""Compare: overlaid curves of several runs or a whole sweep, their differences and results."""

import streamlit as st

from webui import charts, connection, insights
from webui.run_labels import labeller
from webui.compare_data import METRICS, groups_of, legend_fields, parcoords_rows, series_for, sweep_rows
from webui.tables import compare_frame, differing_fields, PLACEMENT

st.title("Compare runs")
store = connection.store_or_stop()

sweeps = store.list_sweeps()
wanted_sweep = st.query_params.get("sweep")
wanted_runs = [i for i in st.query_params.get("runs", "").split(",") if i]
mode = st.radio("Compare", ["Chosen runs", "A sweep"], horizontal=True, key="cmp_mode",
                index=1 if wanted_sweep else 0)
axes: list[str] = []
if mode == "A sweep":
    if not sweeps:
        st.info("No sweeps yet. Turn on sweep mode on the Launch page.")
        st.stop()
    ids = [s["id"] for s in sweeps]
    sweep = sweeps[ids.index(wanted_sweep) if wanted_sweep in ids else 0]
    picked = st.selectbox("Sweep", ids, ids.index(sweep["id"]), key="cmp_sweep",  # once, not per sweep tried
                          format_func=lambda i: next(f"{i}: " + " x ".join(s["axes"]) for s in sweeps if s["id"] == i))
    sweep = next(s for s in sweeps if s["id"] == picked)
    axes = list(sweep["axes"])
    records = [r for r in (store.get_run(i) for i in sweep["run_ids"]) if r is not None]
else:
    listed = store.list_runs(limit=1000)
    recent = [r.id for r in listed]
    listed += [r for r in (store.get_run(i) for i in wanted_runs if i not in recent) if r is not None]
    options = [r.id for r in listed]
    picked = st.multiselect("Runs", options, default=[i for i in wanted_runs if i in options], key="cmp_runs",
                            format_func=labeller(listed),
                            placeholder="pick two or more runs (newest first; type to search)")
    records = [r for r in (store.get_run(i) for i in picked) if r is not None]
if not records:
    st.info("Pick runs to compare, or open a sweep.")
    st.stop()

group_seeds = st.toggle("Group runs that differ only by seed (mean with min-max band)", True, key="cmp_group")
fields = legend_fields(records, group_seeds)
groups = groups_of(records, group_seeds, fields)
histories = {r.id: store.epoch_history(r.id) for r in records}

cols = st.columns(3)
for col, (key, (title, y, pct)) in zip(cols, METRICS.items()):
    col.plotly_chart(charts.overlay_fig(series_for(groups, histories, fields, key), title, y, pct), key=f"cmp_{key}")
insights.latency_compare(records, histories, fields)

all_fields = differing_fields([r.config for r in records], ignore=PLACEMENT)
st.subheader("Differences and results")
st.caption("Columns between status and the metrics are the settings that differ; the rest are identical."
           if all_fields else "All these runs have identical settings.")
st.dataframe(compare_frame(records, all_fields), hide_index=True, column_config={
    c: st.column_config.NumberColumn(format="percent") for c in ("best test acc", "last test acc")})

if axes:
    rows = sweep_rows(groups_of(records, True), axes)
    if rows:
        left, right = st.columns(2)
        left.plotly_chart(charts.sweep_fig(rows, axes[0], axes[1] if len(axes) > 1 else None), key="cmp_sweep_acc")
        right.plotly_chart(charts.parcoords_fig(parcoords_rows(records, all_fields), all_fields), key="cmp_parcoords")
    else:
        st.info("No run of this sweep has finished an epoch yet.")
elif len(records) >= 3 and all_fields:
    st.plotly_chart(charts.parcoords_fig(parcoords_rows(records, all_fields), all_fields), key="cmp_parcoords")
