"""Launch: one run from the form, or a grid sweep over one or two hyperparameters."""

import streamlit as st

from webui import connection, lab_presets
from webui import insights, search_form
from webui.launch_form import build_config, config_widgets, confirm_long, estimate_text, parse_values, show_error, \
    sweep_widgets
from workers import capacity, submission

st.title("Launch a training run")
st.caption("Defaults are the lab's: its Table 1 baseline (T=50, z=2, V_th=1.5, beta=0.7, Bernoulli, MSE, 10 epochs) "
           "with its random membrane start; its sweeps ran from T=5, beta 0.8, z 1, V_th 1 (*Lab studies*). "
           "A run with exactly the same settings is reused, not retrained.")
connection.store_or_stop()  # stops the page, saying why, while Redis is away
conn = connection.connection()
lab_presets.section(conn)

values, slots = config_widgets(capacity.offered_devices(conn))
tags = [t.strip() for t in st.text_input("Tags (comma-separated, optional)", key="f_tags").split(",") if t.strip()]
stop_rule = insights.stop_rule_input()
sweep = st.toggle("Sweep mode: launch a grid of runs", key="sweep_mode")
config = build_config(values, slots)
if config is not None:
    try:  # a device no live worker offers is refused; with no worker at all, the run would wait
        if note := capacity.check_device(conn, config):
            st.warning(note, icon=":material/hourglass_empty:")
    except ValueError as exc:
        show_error(str(exc), slots)
        config = None


def show_run_result(result) -> None:
    record = result.record
    if result.created:
        st.success(f"Launched run **{record.id}** (queued).", icon=":material/rocket_launch:")
    else:
        st.info(f"An identical run already exists: **{record.id}** ({record.status.value}). "
                "Nothing new was launched.", icon=":material/content_copy:")
    st.page_link("pages/run.py", label=f"Watch run {record.id} live", icon=":material/monitoring:",
                 query_params={"run": record.id})


if sweep:
    texts = sweep_widgets()
    plan, axes = None, {}
    if config is not None and texts:
        try:
            axes = {axis: parse_values(axis, text) for axis, text in texts.items()}
            plan = submission.plan_sweep(conn, config, axes)  # the jobs submit_sweep queues, and their time
        except ValueError as exc:
            show_error(str(exc), {})
    if plan is not None:
        runs, jobs = len(plan.configs), len(plan.jobs)
        st.markdown(f"**{runs} runs** in **{jobs} job{'s' if jobs > 1 else ''}** (runs that differ only "
                    f"in beta, V_th, z, loss or learning rate train together as one packed model), "
                    f"{estimate_text(plan.estimate)} to train them all with the workers running now.")
        sure = confirm_long(plan.estimate, f"This sweep of {runs} runs", "launch_sweep_long")
        if st.button(f"Launch sweep of {runs} runs", type="primary", key="launch_sweep", disabled=not sure):
            result = submission.submit_sweep(conn, config, axes, stop_rule=stop_rule, tags=tags)
            new = sum(r.created for r in result.results)
            st.success(f"Sweep **{result.sweep_id}**: {new} runs queued, "
                       f"{len(result.results) - new} reused from identical earlier runs.")
            st.page_link("pages/compare.py", label=f"Compare sweep {result.sweep_id}",
                         icon=":material/compare_arrows:", query_params={"sweep": result.sweep_id})
elif config is not None:
    estimate = capacity.estimate(conn, [config])
    st.caption(f"Estimated training time: {estimate_text(estimate)}.")
    sure = confirm_long(estimate, "This run", "launch_run_long")
    if st.button("Launch run", type="primary", key="launch_run", disabled=not sure):
        st.session_state.launch_result = submission.submit_run(conn, config, tags=tags, stop_rule=stop_rule)
    if st.session_state.get("launch_result") is not None:
        show_run_result(st.session_state.launch_result)
        insights.again_after_reuse(conn, st.session_state.launch_result)

search_form.section(conn, config)
