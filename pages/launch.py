"""Launch: one run from the form, or a grid sweep over one or two hyperparameters."""

import streamlit as st

from snn_core.config import pack_groups

from webui import connection, lab_presets
from webui import insights, search_form
from webui.launch_form import build_config, config_widgets, confirm_long, estimate_text, parse_values, show_error, \
    sweep_widgets
from workers import service

st.title("Launch a training run")
st.caption("Defaults are the lab's: its Table 1 baseline (T=50, z=2, V_th=1.5, beta=0.7, Bernoulli, MSE, 10 epochs) "
           "with its random membrane start; its sweeps ran from T=5, beta 0.8, z 1, V_th 1 (*Lab studies*). "
           "A run with exactly the same settings is reused, not retrained.")
store = connection.store_or_stop()
conn = connection.connection()
lab_presets.section(conn)

values, slots = config_widgets(service.offered_devices(conn))
tags = [t.strip() for t in st.text_input("Tags (comma-separated, optional)", key="f_tags").split(",") if t.strip()]
stop_rule = insights.stop_rule_input()
sweep = st.toggle("Sweep mode: launch a grid of runs", key="sweep_mode")
config = build_config(values, slots)
if config is not None:
    try:  # a device no live worker offers is refused; with no worker at all, the run would wait
        if note := service.check_device(conn, config):
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
    configs, axes = [], {}
    if config is not None and texts:
        try:
            axes = {axis: parse_values(axis, text) for axis, text in texts.items()}
            configs = service.sweep_configs(config, axes)
        except ValueError as exc:
            show_error(str(exc), {})
    if configs:
        estimate = service.estimate(conn, configs, packed=True)
        jobs = len(pack_groups(configs, service.max_pack_size()))
        st.markdown(f"**{len(configs)} runs** in **{jobs} job{'s' if jobs > 1 else ''}** (runs that differ only "
                    f"in beta, V_th, z, loss or learning rate train together as one packed model), "
                    f"{estimate_text(estimate)} to train them all with the workers running now.")
        sure = confirm_long(estimate, f"This sweep of {len(configs)} runs", "launch_sweep_long")
        if st.button(f"Launch sweep of {len(configs)} runs", type="primary", key="launch_sweep", disabled=not sure):
            result = service.submit_sweep(conn, config, axes, stop_rule=stop_rule)
            for r in result.results:
                if tags and r.created:
                    store.set_tags(r.record.id, tags)
            new = sum(r.created for r in result.results)
            st.success(f"Sweep **{result.sweep_id}**: {new} runs queued, "
                       f"{len(result.results) - new} reused from identical earlier runs.")
            st.page_link("pages/compare.py", label=f"Compare sweep {result.sweep_id}",
                         icon=":material/compare_arrows:", query_params={"sweep": result.sweep_id})
elif config is not None:
    estimate = service.estimate(conn, [config])
    st.caption(f"Estimated training time: {estimate_text(estimate)}.")
    sure = confirm_long(estimate, "This run", "launch_run_long")
    if st.button("Launch run", type="primary", key="launch_run", disabled=not sure):
        st.session_state.launch_result = service.submit_run(conn, config, tags=tags, stop_rule=stop_rule)
    if st.session_state.get("launch_result") is not None:
        show_run_result(st.session_state.launch_result)
        insights.again_after_reuse(conn, st.session_state.launch_result)

search_form.section(conn, config)
