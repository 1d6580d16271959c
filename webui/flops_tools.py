"""Helpers for the FLOPs page's widgets: parsing and checking its inputs, the ratio's arrow, the T axis.
The FLOP math is `snn_core.flops` (`count`, `break_even_T`, `rate_sweep`)."""

from __future__ import annotations

from snn_core import flops

DEFAULT_LAYERS = "784,10,10"
DEFAULT_T = 5
DEFAULT_RATES = (1.0, 0.25)  # the lab's worked example: F0 = 1 (input), F1 = 0.25 (hidden)


def parse_layers(text: str) -> list[int]:
    """Layer sizes from "784,10,10"; an empty entry ("784,,10") is refused, not skipped, since
    it most likely lost a layer's width."""
    parts = text.replace(" ", "").split(",")
    try:
        layers = [int(v) for v in parts if v != ""]
    except ValueError:
        raise ValueError(f"layers must be comma-separated integers such as 784,10,10, got {text!r}") from None
    if "" in parts:
        raise ValueError(f"layers must be comma-separated integers such as 784,10,10, got {text!r} "
                         "(an empty entry between two commas)")
    if len(layers) < 2 or any(m < 1 for m in layers):
        raise ValueError(f"layers must be at least two integers >= 1, got {text!r}")
    return layers


def check_inputs(layers_text: str, T, rates) -> tuple[list[int] | None, dict[str, str]]:
    """The parsed layer list and {input: message} for every bad input ("layers", "T", "F0", "F1", ...).

    Nothing is clamped: a value outside its range is reported with the value as typed, so the
    page never computes with a number other than the one in the box."""
    errors: dict[str, str] = {}
    try:
        layers: list[int] | None = parse_layers(layers_text)
    except ValueError as exc:
        layers, errors["layers"] = None, str(exc)
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        errors["T"] = f"T must be an integer >= 1, got {T!r}"
    for i, f in enumerate(rates):
        if not isinstance(f, (int, float)) or not 0 <= f <= 1:
            errors[f"F{i}"] = f"F{i} must be a firing rate in [0, 1], got {f!r}"
    return layers, errors


def ratio_delta(report: flops.FlopsReport) -> tuple[str, str]:
    """(delta text, delta colour) for st.metric: the arrow points down, in green, when the SNN
    costs less than the ANN, and up, in red, when it costs more."""
    r = report.snn_over_ann
    change = r - 1
    sign = "-" if change < 0 else "+"
    return f"{sign}{abs(change):.0%} vs the ANN ({r:.2f}x)", "inverse"


def default_rate(i: int) -> float:
    return DEFAULT_RATES[i] if i < len(DEFAULT_RATES) else DEFAULT_RATES[-1]


def per_layer_rows(report: flops.FlopsReport) -> list[dict]:
    rows = []
    for i, (a, s) in enumerate(zip(report.ann_per_layer, report.snn_per_layer_per_step)):
        rows.append({"layer": f"{report.layers[i]} -> {report.layers[i + 1]}",
                     "input rate F": f"{report.rates[i]:g}", "ANN": a,
                     "SNN per step": s, f"SNN total (T={report.T})": s * report.T})
    rows.append({"layer": "total", "input rate F": "", "ANN": report.ann_total,
                 "SNN per step": report.snn_per_step, f"SNN total (T={report.T})": report.snn_total})
    return rows


def t_axis(t_even: float, T: int, points: int = 400) -> list[int]:
    """Timesteps from 1 to past both T and the break-even point, at most `points` of them."""
    top = int(max(10, 2 * T, 2 * t_even if t_even != float("inf") else 0))
    step = max(1, -(-top // points))
    return list(range(1, top + 1, step)) + ([top] if (top - 1) % step else [])
