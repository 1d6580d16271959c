"""Decision latency: how accurate the network is when its output is read after the first t of T steps.

The prediction after t steps is the output neuron with the most spikes so far,

    pred_t(b) = argmax_c  sum_{u < t} s_u[b, c]        (ties go to the lowest class, as at t = T)

and `acc_t` is the share of samples where pred_t equals the label, for t = 1..T. `acc_T` is the
usual test accuracy. The worker gets the curve from the cumulative output counts of the normal
evaluation (`step_correct`, no second pass); `decision_step` says at which step it first reaches
a given fraction of its final value ("how early can it decide").

`step_correct` works on tensors through their methods only; the rest is pure Python, so the web
app imports this module without torch.
"""

from __future__ import annotations

from typing import Any, Sequence


def step_correct(output_spikes, labels):
    """Correct predictions after each step: output spikes [T, B, K, C] (K packed members),
    labels [B] -> [T, K] counts (int64) of samples whose running argmax equals the label."""
    predictions = output_spikes.cumsum(0).argmax(-1)  # [T, B, K]
    return (predictions == labels.view(1, -1, 1)).sum(1)


def decision_step(curve: Sequence[float], fraction: float = 0.9) -> int | None:
    """The first t (1-based) with acc_t >= fraction * acc_T; None for an empty curve."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if not curve:
        return None
    target = fraction * curve[-1]
    return next(t for t, acc in enumerate(curve, start=1) if acc >= target - 1e-12)


def latest_curve(history: Sequence[dict[str, Any]]) -> tuple[int, list[float]] | None:
    """(epoch, acc_t for t = 1..T) of the last epoch in `history` that has a latency curve."""
    for entry in reversed(history):
        curve = entry.get("latency_acc")
        if curve:
            return int(entry["epoch"]), [float(a) for a in curve]
    return None
