"""Run (live): one run's curves, updating in place about once a second while it trains."""

import streamlit as st

from webui import charts, connection, insights, run_controls
from webui.live import cursor_for, progress_line
from webui.run_labels import labeller
from webui.tables import label
from workers import submission
from workers.capacity import fmt_duration
from workers.store import DONE_STATUSES

st.title("Run (live)")
store = connection.store_or_stop()

run_id = st.query_params.get("run")
if not run_id:
    recent = store.list_runs(limit=200)
    if not recent:
        st.info("No runs yet. Launch one from the Launch page.")
        st.stop()
    run_id = st.selectbox("Run", [r.id for r in recent], key="live_pick", format_func=labeller(recent),
                          placeholder="type to search: a setting, a status or an id")
    st.query_params["run"] = run_id
record = store.get_run(run_id)
if record is None:
    st.warning(f"No run with id `{run_id}`. It may have been deleted; pick another on the Runs page.")
    st.stop()

st.caption(label(record.config, ["dataset", "train_limit", "test_limit", "encoder", "loss", "T", "beta", "v_th",
                                 "z", "lr", "epochs", "batch_size", "hidden", "seed"], record.id))
if record.pack_job and record.sweep_id:
    mates = [r.id for r in store.list_runs(sweep_id=record.sweep_id) if r.pack_job == record.pack_job]
    st.caption(f"Trains in one packed job with {len(mates) - 1} other run{'s' if len(mates) != 2 else ''} of sweep "
               f"`{record.sweep_id}` (one pass over the data for all); cancelling it stops only this run.")
live = record.status not in DONE_STATUSES
if live and st.button("Cancel this run", key="live_cancel", icon=":material/stop_circle:"):
    submission.cancel_run(store.conn, run_id)
    st.toast(f"Cancel requested for {run_id}.")
run_controls.actions(store, record)


@st.fragment(run_every=1.0 if live else None)
@connection.guarded
def live_view() -> None:
    cursor = cursor_for(st.session_state, run_id)
    cursor.pull(store)
    now = store.get_run(run_id)
    if now is None:
        st.warning(f"Run `{run_id}` was deleted.")
        return
    if live and now.status in DONE_STATUSES:
        st.rerun()  # a full rerun redraws the page without the timer: updates stop
    a, b, c, d = st.columns(4)
    a.metric("Status", now.status.value)
    b.metric("Worker", now.worker or "-")
    c.metric("Device", now.device or "-")
    d.metric("Duration", fmt_duration(now.duration))
    bar = progress_line(now.status.value, now.progress, now.config["epochs"],
                        fmt_duration((now.progress or {}).get("eta_s")))
    if bar is not None:
        st.progress(bar[0], text=bar[1])
    if now.error:
        st.error(f"**This run {now.status.value}:** {now.error}", icon=":material/error:")
    insights.health_banner(now)
    st.caption(cursor.latest_text())
    epochs, n = cursor.epoch_list, now.config["epochs"]
    if now.status in DONE_STATUSES and not cursor.batches and not epochs:
        st.info(f"The run {now.status.value} before it recorded any metric: there is nothing to chart.")
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.train_loss_fig(cursor.batches, epochs, n), key="live_train_loss")
    right.plotly_chart(charts.epoch_fig(epochs, {"test_loss": "test loss", "train_loss": "train loss"},
                                        "Loss per epoch", "loss", n_epochs=n), key="live_epoch_loss")
    left.plotly_chart(charts.epoch_fig(epochs, {"test_acc": "test accuracy", "train_acc": "train accuracy"},
                                       "Accuracy per epoch", "accuracy", percent=True, n_epochs=n), key="live_acc")
    right.plotly_chart(charts.firing_rate_fig(epochs, n), key="live_rates")
    insights.run_charts(epochs, "live")


live_view()
st.page_link("pages/spikes.py", label="Spike rasters of this run", icon=":material/scatter_plot:",
             query_params={"run": run_id})
with st.expander("Train again", icon=":material/replay:"):
    insights.train_again(store.conn, record, "run_again")
