"""Runs: every stored run, filterable; cancel, delete, tag, note and export."""

import streamlit as st

from webui import connection
from webui.tables import runs_frame
from workers import service
from workers.store import RunStatus

st.title("Runs")
store = connection.store_or_stop()
conn = connection.connection()

statuses = [s.value for s in RunStatus]
st.session_state.setdefault("runs_gen", 0)


def fresh_selection() -> None:
    # Selections are row positions: once rows change (filters, deletes) a new table key drops them.
    st.session_state.runs_gen += 1


f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
status_pick = f1.multiselect("Status", statuses, key="runs_status", on_change=fresh_selection, placeholder="any status")
sweeps = store.list_sweeps()
sweep_pick = f2.selectbox("Sweep", [None, *[s["id"] for s in sweeps]], key="runs_sweep", on_change=fresh_selection,
                          format_func=lambda s: "any sweep" if s is None else s)
records = store.list_runs(sweep_id=sweep_pick)
tags = sorted({t for r in records for t in r.tags})
tag_pick = f3.selectbox("Tag", [None, *tags], key="runs_tag", on_change=fresh_selection, format_func=lambda t: "any tag" if t is None else t)
limit = f4.selectbox("Show", [200, 1000, 10000], key="runs_limit", on_change=fresh_selection, format_func=lambda n: f"newest {n:,}")
records = [r for r in records if (not status_pick or r.status.value in status_pick)
           and (tag_pick is None or tag_pick in r.tags)]
shown = records[:limit]
st.caption(f"{len(records):,} matching of {store.count_runs():,} runs; showing {len(shown):,}. "
           "Select rows to act on them.")

table = st.dataframe(
    runs_frame(shown), hide_index=True, on_select="rerun", selection_mode="multi-row", key=f"runs_table_{st.session_state.runs_gen}",
    column_config={
        "best test acc": st.column_config.NumberColumn(format="percent"),
        "last test acc": st.column_config.NumberColumn(format="percent"),
        "progress": st.column_config.ProgressColumn(min_value=0, max_value=1, format="percent"),
        "duration s": st.column_config.NumberColumn(format="%.1f"),
        "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
    })
selected = [shown[i].id for i in table.selection.rows if i < len(shown)]

if selected:
    st.subheader(f"{len(selected)} selected: {', '.join(selected[:8])}{' ...' if len(selected) > 8 else ''}")
    a, b = st.columns(2)
    a.page_link("pages/run.py", label=f"Open {selected[0]} live", icon=":material/monitoring:",
                query_params={"run": selected[0]})
    b.page_link("pages/compare.py", label="Compare selected", icon=":material/compare_arrows:",
                query_params={"runs": ",".join(selected)})
    c1, c2, c3 = st.columns(3)
    if c1.button("Cancel selected", key="runs_cancel", icon=":material/stop_circle:"):
        for run_id in selected:
            service.cancel_run(conn, run_id)
        st.toast(f"Cancel requested for {len(selected)} run(s).")
    sure = c2.checkbox("Yes, delete them for good", key="runs_delete_sure")
    if c2.button("Delete selected", key="runs_delete", icon=":material/delete:", disabled=not sure):
        for run_id in selected:
            service.delete_run(conn, run_id)
        fresh_selection()
        st.rerun()
    with c3.popover("Tag or note", icon=":material/sell:"):
        first = store.get_run(selected[0])
        new_tags = st.text_input("Tags (comma-separated; replaces the current tags)",
                                 ", ".join(first.tags) if first else "", key="runs_tags_text")
        if st.button("Set tags", key="runs_set_tags"):
            for run_id in selected:
                store.set_tags(run_id, [t.strip() for t in new_tags.split(",") if t.strip()])
            fresh_selection()
            st.rerun()
        note = st.text_area("Note", first.note if first else "", key="runs_note_text")
        if st.button("Save note", key="runs_save_note"):
            for run_id in selected:
                store.set_note(run_id, note)
            st.rerun()

st.divider()
e1, e2, _ = st.columns([1, 1, 3])
e1.download_button("Export CSV", lambda: service.export_runs(conn, fmt="csv"), "spikeboard-runs.csv",
                   "text/csv", key="runs_export_csv", icon=":material/download:", on_click="ignore")
e2.download_button("Export JSONL", lambda: service.export_runs(conn, fmt="jsonl"), "spikeboard-runs.jsonl",
                   "application/x-ndjson", key="runs_export_jsonl", icon=":material/download:", on_click="ignore")
