"""The Launch page's Search section (issue 18): which fields to search and over what, the budget,
the most runs at once, the objective and the rungs; a dry-run summary and a Start button.

Every box is text, parsed here with the field named ("beta low must be a number, got 'abc'"): a
number box would silently keep its old value for input it refuses. The parsed values become a
`SearchSpec`, whose own checks name any other bad value; nothing is stored until Start.
"""

from __future__ import annotations

from typing import Any

import redis
import streamlit as st

from snn_core.config import Encoder, Loss, RunConfig
from workers import search
from workers.search_report import COST_UNITS, spec_summary
from workers.search_spec import OBJECTIVES, Param, SearchSpec
from workers.store import RunStore

# Range fields: (label, default low, default high, log offered, log on by default).
RANGES: dict[str, tuple[str, str, str, bool, bool]] = {
    "beta": ("beta (membrane leak)", "0.5", "0.95", False, False),
    "T": ("T (timesteps)", "10", "50", True, False),
    "z": ("z (surrogate slope)", "0.5", "5", True, False),
    "v_th": ("V_th (threshold)", "0.5", "2", True, False),
    "lr": ("learning rate", "1e-4", "1e-2", True, True),
    "hidden": ("hidden width (one layer)", "32", "256", True, False),
}
CHOICES: dict[str, tuple[str, list[str]]] = {
    "encoder": ("encoder", [e.value for e in Encoder]),
    "loss": ("loss", [loss.value for loss in Loss]),
}
INTS = {"T", "hidden"}
OBJECTIVE_TEXT = {"accuracy": "test accuracy",
                  **{k: f"test accuracy + {unit}" for k, unit in COST_UNITS.items()}}


def number(name: str, text: str, integer: bool = False) -> int | float:
    """`text` as a number, or ValueError naming the field `name` and the text."""
    try:
        return int(text.strip()) if integer else float(text.strip())
    except ValueError:
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}, got {text.strip()[:40]!r}") \
            from None


def _space_widgets(errors: list[str]) -> list[Param]:
    """Every row is drawn whatever the others hold: a widget left undrawn in a run loses its state
    (a tick, a typed range). A bad row's error goes to `errors` and the row is left out."""
    space: list[Param] = []
    for name, (label, low, high, log_ok, log_on) in RANGES.items():
        on, lo, hi, lg = st.columns([3, 2, 2, 1], vertical_alignment="bottom")
        picked = on.checkbox(f"search {label}", key=f"sf_on_{name}")
        low_text = lo.text_input(f"{name} low", low, key=f"sf_low_{name}", disabled=not picked)
        high_text = hi.text_input(f"{name} high", high, key=f"sf_high_{name}", disabled=not picked)
        log = lg.checkbox("log", log_on, key=f"sf_log_{name}", disabled=not (picked and log_ok)) and log_ok
        if picked:
            integer = name in INTS
            _add(space, errors, lambda: Param(name, "int" if integer else "float",
                                              number(f"{name} low", low_text, integer),
                                              number(f"{name} high", high_text, integer), log))
    for name, (label, options) in CHOICES.items():
        on, pick = st.columns([3, 5], vertical_alignment="bottom")
        picked = on.checkbox(f"search {label}", key=f"sf_on_{name}")
        chosen = pick.multiselect(f"{name} choices", options, options, key=f"sf_choices_{name}", disabled=not picked)
        if picked:
            _add(space, errors, lambda: Param(name, "choice", choices=tuple(chosen)))
    return space


def _add(space: list[Param], errors: list[str], make) -> None:
    try:
        space.append(make())
    except ValueError as exc:
        errors.append(str(exc))


def _spec(base: RunConfig) -> SearchSpec | None:
    """The section's widgets, read into a validated spec (ValueError: one line naming the field);
    None while no field is ticked."""
    st.markdown("**What to search** (tick a field; the rest keep the form's values above)")
    errors: list[str] = []
    space = _space_widgets(errors)
    st.markdown("**Budget and objective**")
    a, b, c = st.columns(3)
    texts = {"budget epochs": a.text_input("Budget: total epochs (0 = no epoch limit)", "30", key="sf_budget_epochs"),
             "budget minutes": b.text_input("Budget: wall minutes (0 = no time limit)", "0", key="sf_budget_minutes"),
             "max running": c.text_input("Most runs at once", "2", key="sf_max_running")}
    objective = a.selectbox("Objective", OBJECTIVES, format_func=OBJECTIVE_TEXT.get, key="sf_objective")
    rungs_text = b.text_input("Rungs (epochs)", "1,3,9", key="sf_rungs",
                              help="the epochs at which a trial is promoted to the next rung or stopped early")
    eta_text = c.text_input("Keep the top 1/eta at each rung: eta", "3", key="sf_eta")
    if errors:
        raise ValueError(errors[0])
    if not space:
        return None
    epochs = number("budget epochs", texts["budget epochs"], integer=True)
    minutes = number("budget minutes", texts["budget minutes"])
    running = number("max running", texts["max running"], integer=True)
    rungs = tuple(number("rungs", r, integer=True) for r in rungs_text.split(","))
    eta = number("eta", eta_text, integer=True)
    return SearchSpec(space=tuple(space), base=base, budget_epochs=epochs, budget_seconds=minutes * 60,
                      max_running=running, objective=objective, rungs=rungs, eta=eta)


def section(conn: redis.Redis, base: RunConfig | None) -> None:
    """The Search expander of the Launch page; `base`: the form's config (None while it is invalid)."""
    # Open once a field is ticked, so a rerun never folds away a search being set up.
    ticked = any(st.session_state.get(f"sf_on_{name}") for name in (*RANGES, *CHOICES))
    with st.expander("Search: let Optuna pick the hyperparameters, stopping weak runs early",
                     icon=":material/travel_explore:", expanded=ticked):
        if base is None:
            st.info("Fix the form above first: a search keeps its values for every field it does not search.")
            return
        try:
            spec = _spec(base)
        except ValueError as exc:
            st.error(str(exc), icon=":material/error:")
            return
        if spec is None:
            st.info("Tick at least one field to search.")
            return
        st.markdown("\n".join(f"- {line}" for line in spec_summary(spec)))
        if st.button("Start search", type="primary", key="sf_start", icon=":material/travel_explore:"):
            try:
                st.session_state.sf_started = search.start_search(conn, spec)
            except ValueError as exc:  # a start_from id or a data dir that changed since the form was drawn
                st.error(str(exc), icon=":material/error:")
        started: Any = st.session_state.get("sf_started")
        if started:
            st.success(f"Started search **{started}**.", icon=":material/travel_explore:")
            if RunStore(conn).driver_alive() is None:
                st.warning("No search driver is running, so nothing trains yet: start one with "
                           "`python -m workers search-driver` (`python -m workers.stack` starts one).")
            st.page_link("pages/search.py", label=f"Watch search {started}", icon=":material/travel_explore:",
                         query_params={"search": started})
