"""The Launch page's form: widgets for every RunConfig field, turning their values into a
validated config, and parsing sweep values. Errors are shown under the field they name."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import streamlit as st

from snn_core.config import SWEEPS, DatasetName, Device, Loss, MembraneInit, RunConfig
from snn_core.encoder_table import ENCODERS
from snn_core.surrogate_table import SURROGATES
from snn_core.limits import current_limits
from workers.capacity import fmt_duration

BASE = RunConfig()
FIELD_NAMES = [f.name for f in dataclasses.fields(RunConfig)]
LOSS_HELP = {
    Loss.MSE: "Mean squared error between each output neuron's firing rate and the one-hot target.",
    Loss.CE: "Cross-entropy on the output spike counts, as logits.",
}
# Sweep axes offered, with their default value lists: the lab's lists, plus lr and seed.
SWEEP_AXES: dict[str, list[Any]] = {**SWEEPS, "lr": [1e-4, 1e-3, 1e-2], "seed": [0, 1, 2]}


def field_of(message: str) -> str | None:
    """The config field a ValueError message names (messages start with the field name)."""
    head = message.split(" ", 1)[0].strip(":'\"")
    return head if head in FIELD_NAMES else None


def parse_hidden(text: str) -> list[int] | str:
    """Comma-separated widths as ints; text that is not all integers is passed on as-is so
    RunConfig reports it with the field's own message."""
    parts = [p.strip() for p in text.split(",")]
    try:
        return [int(p) for p in parts]
    except ValueError:
        return text


class BadNumber:
    """What a number box holds when its text is not a number of its kind (RunConfig never sees it)."""

    def __init__(self, message: str):
        self.message = message


# Typed boxes, not st.number_input: its browser side reads "12abc" as 12 and "2.5" as 2 in an int box,
# and keeps the old value for "abc", so Launch would queue a number nobody typed.
NUMBER_BOXES: dict[str, tuple[str, type]] = {
    "epochs": ("epochs", int), "batch_size": ("batch size", int), "lr": ("learning rate", float),
    "seed": ("seed", int), "train_limit": ("train samples", int), "test_limit": ("test samples", int),
    "test_batch_size": ("test batch size", int),
}
_WHOLE = re.compile(r"[+-]?[0-9]+")


def parse_number(name: str, text: str) -> int | float | BadNumber:
    """A number box's text as its field's kind: a whole number for int fields (no "2.5", no "12abc"),
    a finite decimal for floats; else a BadNumber naming the box and the text."""
    label, kind = NUMBER_BOXES[name]
    stripped = text.strip()
    if kind is int:
        if _WHOLE.fullmatch(stripped):
            return int(stripped)
        return BadNumber(f"{label}: {text!r} is not a whole number")
    try:
        value = float(stripped)
    except ValueError:
        return BadNumber(f"{label}: {text!r} is not a number")
    return value if math.isfinite(value) else BadNumber(f"{label}: {text!r} is not a finite number")


def number_box(container, name: str, label: str, default: int | float) -> int | float | BadNumber:
    text = container.text_input(label, f"{default:g}" if isinstance(default, float) else str(default),
                                key=f"f_{name}")
    return parse_number(name, text)


def parse_values(axis: str, text: str) -> list[Any]:
    """Sweep values from comma-separated text, typed like the field's default."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"{axis} needs at least one value to sweep over, got {text!r}")
    kind = type(getattr(BASE, axis))
    if issubclass(kind, str):  # the str Enums: RunConfig checks the names
        return parts
    try:
        return [kind(p) if kind is not int else int(p) for p in parts]
    except ValueError:
        raise ValueError(f"{axis} values must be {kind.__name__}s separated by commas, got {text!r}") from None


def fmt_values(values: list[Any]) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def device_choices(offers: dict[str, list[str]] | None) -> tuple[list[str], str]:
    """The devices the form offers and a line saying why: those the live workers train on
    ({worker: devices}); every device, with a warning, when no worker is running."""
    if not offers:
        return [d.value for d in Device], ("No worker is running now: a run waits in the queue until one starts "
                                           "(and fails there if it lacks the device).")
    have = {d for devices in offers.values() for d in devices}
    order = [d.value for d in Device if d.value in have or d.value == "auto"]
    gpus = [w for w, ds in offers.items() if "cuda" in ds]
    n = len(offers)
    note = f"{n} live worker{'s' if n != 1 else ''} offer{'s' if n == 1 else ''}: {', '.join(order)}"
    return order, note + ("" if gpus else " (no GPU on any of them: cuda is not offered).")


def config_widgets(offers: dict[str, list[str]] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw the form; returns (raw field values, {field: an empty slot under its widget}).

    Number boxes are text boxes with no min/max: Streamlit's number box silently refuses a typed
    value outside them (or one it cannot parse) and keeps the old one, so the box would show one
    number and Launch queue another. `parse_number` reads the text and RunConfig checks the value;
    either error names the field under the box."""
    values: dict[str, Any] = {}
    slots: dict[str, Any] = {}

    def slot(name: str) -> None:
        slots[name] = st.empty()

    neuron, inputs, training = st.columns(3, gap="large")
    with neuron:
        st.subheader("Neuron")
        values["beta"] = st.slider("beta (membrane leak per step)", 0.05, 1.0, BASE.beta, 0.01, key="f_beta"); slot("beta")
        values["T"] = st.slider("T (timesteps per sample)", 1, current_limits().max_T, BASE.T, key="f_T"); slot("T")
        values["z"] = st.slider("z (surrogate gradient slope)", 0.1, 20.0, BASE.z, 0.1, key="f_z"); slot("z")
        values["v_th"] = st.slider("V_th (firing threshold)", 0.05, 5.0, BASE.v_th, 0.05, key="f_v_th"); slot("v_th")
        surrogates = [s.value for s in SURROGATES]
        values["surrogate"] = st.selectbox(
            "Surrogate gradient", surrogates, surrogates.index(BASE.surrogate.value), key="f_surrogate",
            help=" ".join(f"{s.value}: ds/dx = {spec.formula}. {spec.help}" for s, spec in SURROGATES.items())
                 + " (x = m - V_th, z the slope above)"); slot("surrogate")
    with inputs:
        st.subheader("Input and loss")
        encoders = [e.value for e in ENCODERS]
        values["encoder"] = st.radio("Encoder", encoders, index=encoders.index(BASE.encoder.value), key="f_encoder",
                                     captions=[spec.help for spec in ENCODERS.values()]); slot("encoder")
        losses = [l.value for l in Loss]
        values["loss"] = st.radio("Loss", losses, index=losses.index(BASE.loss.value), key="f_loss",
                                  captions=[LOSS_HELP[Loss(l)] for l in losses]); slot("loss")
        datasets = [d.value for d in DatasetName]
        values["dataset"] = st.selectbox("Dataset", datasets, datasets.index(BASE.dataset.value), key="f_dataset"); slot("dataset")
    with training:
        st.subheader("Training")
        for name, label in (("epochs", "Epochs"), ("batch_size", "Batch size"), ("lr", "Learning rate"),
                            ("seed", "Seed")):
            values[name] = number_box(st, name, label, getattr(BASE, name)); slot(name)
        values["hidden"] = parse_hidden(st.text_input("Hidden layer widths (comma-separated)",
                                                      ",".join(map(str, BASE.hidden)), key="f_hidden")); slot("hidden")
    with st.expander("Advanced: data limits, membrane start, device"):
        a, b, c = st.columns(3)
        for box, name, label in ((a, "train_limit", "Train samples (0 = all)"), (b, "test_limit", "Test samples (0 = all)"),
                                 (c, "test_batch_size", "Test batch size")):
            values[name] = number_box(box, name, label, getattr(BASE, name))
        inits, devices = [m.value for m in MembraneInit], [d.value for d in Device]
        values["membrane_init"] = a.selectbox(
            "Membrane start", inits, inits.index(BASE.membrane_init.value), key="f_membrane_init",
            help="kaiming (the lab's, default): each batch, membranes start uniform in +-sqrt(6 / width). "
                 "zero: they start at 0 (Spikeboard's default before; stored runs keep the start they trained with).")
        devices, device_note = device_choices(offers)
        values["device"] = b.selectbox("Device", devices, devices.index(BASE.device.value), key="f_device",
                                       help=device_note)
        b.caption(device_note)
        for name in ("train_limit", "test_limit", "test_batch_size", "membrane_init", "device"):
            slot(name)
    return values, slots


def build_config(values: dict[str, Any], slots: dict[str, Any]) -> RunConfig | None:
    """The validated config, or None after showing the error under the field it names (every box
    whose text is not a number, each under its box and all in one line here)."""
    bad = {name: v.message for name, v in values.items() if isinstance(v, BadNumber)}
    if bad:
        for name, message in bad.items():
            slots[name].error(message, icon=":material/error:")
        st.error("Nothing launched: " + "; ".join(bad.values()) + ".", icon=":material/error:")
        return None
    try:
        return RunConfig(**values)
    except ValueError as exc:
        show_error(str(exc), slots)
        return None


def show_error(message: str, slots: dict[str, Any]) -> None:
    name = field_of(message)
    (slots[name] if name in slots else st).error(message, icon=":material/error:")


def sweep_widgets() -> dict[str, str]:
    """Pick one or two axes and their values; returns {axis: raw text}."""
    axes = st.multiselect("Sweep over (one or two hyperparameters)", list(SWEEP_AXES), default=["beta"],
                          max_selections=2, key="sweep_axes")
    texts = {}
    for axis in axes:
        texts[axis] = st.text_input(f"{axis} values (comma-separated)", fmt_values(SWEEP_AXES[axis]),
                                    key=f"sweep_values_{axis}")
    return texts


LONG_S = 3600.0  # a launch estimated at this or more asks for a confirmation first


def estimate_text(est) -> str:
    """'about **1m 40s** (50s to 2m 05s; from 3 runs measured here)' for a `workers.estimates.Estimate`."""
    return (f"about **{fmt_duration(est.seconds)}** ({fmt_duration(est.low)} to {fmt_duration(est.high)}; "
            f"{est.basis})")


def confirm_long(est, what: str, key: str) -> bool:
    """True unless `est` runs to an hour or more and the user has not ticked the confirmation."""
    if est.seconds < LONG_S:
        return True
    st.warning(f"{what} is estimated at **{fmt_duration(est.seconds)}** (up to {fmt_duration(est.high)}). "
               "Check the settings, or confirm to launch it anyway.", icon=":material/hourglass_top:")
    return st.checkbox(f"Yes, launch it: about {fmt_duration(est.seconds)}", key=key)
