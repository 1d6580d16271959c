"""The Launch page's "Lab studies" section: each of the course lab's studies, and the whole lab,
one click each; before that, the runs each makes, how many are already stored, and the time."""

from __future__ import annotations

import redis
import streamlit as st

from snn_core.config import DatasetName
from snn_core.lab import DEFAULT_SEEDS, STUDIES, SWEEP_BASE, TABLE1_BASE
from webui import connection
from webui.report_render import fmt_value
from workers import labs, run_actions
from workers.capacity import fmt_duration
from workers.store import RunStore

DIFFERENCES = (
    "Where Spikeboard differs from the lab's script: every setting runs over several seeds, each a separate "
    "run (the lab ran each once); the test loss is the true mean over the test set (the lab averaged per-batch "
    "means and divided by the dataset size); runs that differ only in beta, V_th, z or the loss train together as "
    "one packed model (same batches and input spikes as alone); each run's random streams (init, shuffling, "
    "input, membranes, evaluation) are derived from its seed so that no two coincide."
)


def _base_text(base) -> str:
    name = "the lab's sweep base" if base == SWEEP_BASE else "Table 1" if base == TABLE1_BASE else "custom"
    return f"{name}: T={base.T}, beta={base.beta:g}, z={base.z:g}, V_th={base.v_th:g}"


@st.cache_data(ttl=10, show_spinner=False)
def _whole_lab(url: str, seeds: int, dataset: str, stored_runs: int) -> labs.LabPlan:
    """The whole lab's plan, cached for a few seconds (and until the number of stored runs changes):
    the Launch page reruns on every widget change, and planning reads every config's dedup key."""
    settings = {"dataset": dataset} if dataset != DatasetName.MNIST.value else {}
    return labs.plan_lab(connection.client(url), "all", seeds, **settings)


def section(conn: redis.Redis) -> None:
    """Draw the section; a click launches a study (or all), records a lab id, links its report."""
    with st.expander("Lab studies: the course lab's sweeps, one click each", expanded=False, icon=":material/science:"):
        st.caption("The lab's sweeps ran from T=5, beta 0.8, z 1, V_th 1.0 (Bernoulli, MSE); its encoder and loss "
                   "studies from its report's Table 1 (T=50, z=2, V_th=1.5, beta=0.7). All: 10 epochs, Adam 1e-3, "
                   "batch 64, test batch 100, membranes starting at random per batch. " + DIFFERENCES)
        a, b = st.columns(2)
        seeds = a.number_input("Seeds per setting (each seed a separate run)", 1, 20, DEFAULT_SEEDS, key="lab_seeds")
        datasets = [d.value for d in DatasetName]
        dataset = b.selectbox("Dataset of the lab's runs", datasets, 0, key="lab_dataset",
                              help="The lab used MNIST. Workers read it from $SPIKEBOARD_DATA_DIR.")
        settings = {"dataset": dataset} if dataset != DatasetName.MNIST.value else {}
        whole = _whole_lab(connection.redis_url(), int(seeds), dataset, RunStore(conn).count_runs())
        rows = [{"study": s.title, "varies": s.field, "values": ", ".join(fmt_value(v) for v in s.values),
                 "from": _base_text(s.base), "runs": whole.per_study[k]["runs"],
                 "already stored": whole.per_study[k]["stored"],
                 "time (alone)": fmt_duration(whole.per_study[k]["estimate_s"])} for k, s in STUDIES.items()]
        st.dataframe(rows, hide_index=True)
        st.markdown(f"**The whole lab**: {labs.describe_plan(whole)}.")
        chosen = None
        if st.button(f"Launch the whole lab ({whole.runs} runs, {whole.new} to train)", type="primary",
                     key="lab_launch_all", icon=":material/science:"):
            chosen = "all"
        cols = st.columns(4)
        for i, (key, study) in enumerate(STUDIES.items()):
            if cols[i % 4].button(f"{study.title} ({whole.per_study[key]['runs']} runs)", key=f"lab_launch_{key}"):
                chosen = key
        if chosen is not None:
            plan = labs.plan_lab(conn, chosen, int(seeds), **settings)  # fresh: what is stored right now
            st.session_state.lab_launched = (labs.submit_lab(conn, plan), labs.describe_plan(plan))
            st.rerun()  # so the table counts the runs just queued as stored
        launched = st.session_state.get("lab_launched")
        if launched:
            lab_id, text = launched
            st.success(f"Lab **{lab_id}** launched: {text}.", icon=":material/science:")
            st.page_link("pages/report.py", label=f"Open the report of lab {lab_id}", icon=":material/summarize:",
                         query_params={"lab": lab_id})
            if st.button(f"Cancel lab {lab_id}", key="lab_cancel", icon=":material/cancel:",
                         help="every queued or running run of this lab launch, in one click"):
                st.toast(f"Cancelled {len(run_actions.cancel_lab(conn, lab_id))} run(s) of lab {lab_id}.")
