"""Runs: every stored run, filterable and searchable; cancel (a sweep at once), delete, tag, note and export."""

import streamlit as st

from webui import connection, insights
from webui.tables import HEALTH_WIDTH, RUNS_SHOWN, runs_frame, runs_style
from workers import run_actions, submission, transfer
from workers.store import RunStatus

st.title("Runs")
store = connection.store_or_stop()
conn = connection.connection()

statuses = [s.value for s in RunStatus]
st.session_state.setdefault("runs_gen", 0)


def fresh_selection() -> None:
    # Selections are row positions: once rows change (filters, deletes) a new table key drops them.
    st.session_state.runs_gen += 1


search = st.text_input("Search", key="runs_search", on_change=fresh_selection, placeholder=(
    "words in the id, tags, note or settings, e.g. T=300 baseline"), icon=":material/search:")
f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
status_pick = f1.multiselect("Status", statuses, key="runs_status", on_change=fresh_selection, placeholder="any status")
sweeps = store.list_sweeps()
sweep_pick = f2.selectbox("Sweep", [None, *[s["id"] for s in sweeps]], key="runs_sweep", on_change=fresh_selection,
                          format_func=lambda s: "any sweep" if s is None else f"{s}: " + " x ".join(
                              next(w["axes"] for w in sweeps if w["id"] == s)))
everything = store.list_runs()
tags = sorted({t for r in everything for t in r.tags})
tag_pick = f3.selectbox("Tag", [None, *tags], key="runs_tag", on_change=fresh_selection, format_func=lambda t: "any tag" if t is None else t)
limit = f4.selectbox("Show", [200, 1000, 10000], key="runs_limit", on_change=fresh_selection, format_func=lambda n: f"newest {n:,}")
sweep = next((s for s in sweeps if s["id"] == sweep_pick), None)


prefetched = {"records": everything}  # this full run's read; the fragment's own reruns read afresh


def matching(records: list) -> list:
    """The runs the filters select, newest first. A sweep's runs include those it reused from
    earlier identical runs (their records belong to no sweep, or to another one)."""
    if sweep is not None:
        members = set(sweep["run_ids"])
        records = [r for r in records if r.id in members or r.sweep_id == sweep["id"]]
    records = run_actions.find_runs(records, search)
    return [r for r in records if (not status_pick or r.status.value in status_pick)
            and (tag_pick is None or tag_pick in r.tags)]


if sweep is not None and st.button(f"Cancel sweep {sweep['id']}", key="runs_cancel_sweep", icon=":material/cancel:",
                                   help="every queued or running run of the sweep, in one click"):
    cancelled = run_actions.cancel_sweep(conn, sweep["id"])
    st.toast(f"Cancelled {len(cancelled)} run(s) of sweep {sweep['id']}.")


def actions(selected: list[str]) -> None:
    """Open, compare, cancel, delete, tag or note the selected runs."""
    st.subheader(f"{len(selected)} selected: {', '.join(selected[:8])}{' ...' if len(selected) > 8 else ''}")
    a, b = st.columns(2)
    a.page_link("pages/run.py", label=f"Open {selected[0]} live", icon=":material/monitoring:",
                query_params={"run": selected[0]})
    b.page_link("pages/compare.py", label="Compare selected", icon=":material/compare_arrows:",
                query_params={"runs": ",".join(selected)})
    c1, c2, c3 = st.columns(3)
    if c1.button("Cancel selected", key="runs_cancel", icon=":material/stop_circle:"):
        for run_id in selected:
            submission.cancel_run(conn, run_id)
        st.toast(f"Cancel requested for {len(selected)} run(s).")
    sure = c2.checkbox("Yes, delete them for good", key="runs_delete_sure")
    if c2.button("Delete selected", key="runs_delete", icon=":material/delete:", disabled=not sure):
        for run_id in selected:
            submission.delete_run(conn, run_id)
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


def export(filtered: bool) -> None:
    """Download the runs the filters select at the moment of the click (every field; times in ISO 8601).

    Outside the refreshing table on purpose: a button the 3 s refresh redraws can lose its click."""
    what = "the runs shown" if filtered else "all runs"
    ids = lambda: [r.id for r in matching(store.list_runs())]  # noqa: E731  (read when clicked)
    e1, e2, _ = st.columns([1, 1, 3])
    e1.download_button("Export CSV", lambda: transfer.export_runs(conn, fmt="csv", run_ids=ids()), "spikeboard-runs.csv",
                       "text/csv", key="runs_export_csv", icon=":material/download:", on_click="ignore",
                       help=f"{what}, every field, times in ISO 8601")
    e2.download_button("Export JSONL", lambda: transfer.export_runs(conn, fmt="jsonl", run_ids=ids()),
                       "spikeboard-runs.jsonl", "application/x-ndjson", key="runs_export_jsonl",
                       icon=":material/download:", on_click="ignore", help=f"{what} with their epochs")


@st.fragment(run_every=3.0)
@connection.guarded
def runs_table() -> None:
    """The table, refreshed every few seconds: new runs and progress appear without a reload.
    While rows are selected the rows stay as they are (selections are row positions)."""
    records = matching(prefetched.pop("records", None) or store.list_runs())
    shown = records[:limit]
    key = f"runs_table_{st.session_state.runs_gen}"
    picked = (st.session_state.get(key) or {}).get("selection", {}).get("rows", [])
    before = st.session_state.get("runs_shown_ids")
    note = ""
    if picked and before is not None and [r.id for r in shown] != before:
        by_id = {r.id: r for r in records}
        if all(i in by_id for i in before):
            fresh = len(shown) - len(set(r.id for r in shown) & set(before))
            shown = [by_id[i] for i in before]
            note = f" {fresh} new run{'s' if fresh != 1 else ''} will show once the selection is cleared." if fresh else ""
        else:  # a selected row's run is gone: positions no longer mean the same runs
            fresh_selection()
            key, picked = f"runs_table_{st.session_state.runs_gen}", []
    st.session_state.runs_shown_ids = [r.id for r in shown]
    st.caption(f"{len(records):,} matching of {store.count_runs():,} runs; showing {len(shown):,}. "
               f"Select rows to act on them.{note}")
    labels = {"best test acc": "best acc", "duration s": "time s", "encoder/loss": "enc/loss"}
    config = {c: st.column_config.Column(labels.get(c), width=w) for c, w in RUNS_SHOWN.items()}
    config.update({
        "best test acc": st.column_config.NumberColumn("best acc", width=RUNS_SHOWN["best test acc"]),
        "progress": st.column_config.ProgressColumn(min_value=0, max_value=1, format="percent",
                                                    width=RUNS_SHOWN["progress"]),
        "duration s": st.column_config.NumberColumn("time s", width=RUNS_SHOWN["duration s"]),
        "settings": st.column_config.TextColumn(width=RUNS_SHOWN["settings"],
                                                help="what the run changes from the lab's baseline"),
        "spike health": st.column_config.Column(width=HEALTH_WIDTH),
    })
    table = st.dataframe(
        runs_style(insights.with_flags(runs_frame(shown), shown)), hide_index=True, on_select="rerun",
        selection_mode="multi-row", key=key, column_order=insights.flag_order(list(RUNS_SHOWN)), column_config=config)
    selected = [shown[i].id for i in table.selection.rows if i < len(shown)]
    if selected:
        actions(selected)


runs_table()
st.divider()
export(bool(status_pick or sweep or tag_pick or search.strip()))
