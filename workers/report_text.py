"""The lab report's wording of numbers: counts with their plural, and a claim's stat as the report prints it.

A claim's stat (`snn_core.lab.Claim`) is `offset` plus its terms. Most claims have no offset and are
differences, printed signed in the metric's unit ("+3.10 pts"). A claim with an offset checks a measured
quantity against a threshold (the FLOPs claim: SNN / ANN - 1 > 0); it is printed as that quantity, the
number the report's tables show beside it ("0.686 x ANN"), with the threshold the claim needs.
Pure functions of `workers.report_types`; no Redis, no torch.
"""

from __future__ import annotations

from .report_types import ClaimResult

# metric -> (unit, scale, digits); the FLOPs ratio with the 3 digits of the FLOPs table's "SNN / ANN".
_UNITS = {"test_acc": ("pts", 100.0, 2), "train_acc": ("pts", 100.0, 2), "test_loss": ("", 1.0, 4),
          "train_loss": ("", 1.0, 4), "epoch_seconds": ("s", 1.0, 4), "snn_over_ann": ("x ANN", 1.0, 3)}


def plural(n: int, noun: str) -> str:
    """ "1 seed", "3 seeds", "0 runs"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def stat_text(result: ClaimResult, value: float, unit: bool = True) -> str:
    """One value of the claim's stat as printed: a difference signed (+3.10 pts), a quantity checked
    against a threshold without its offset (0.686 x ANN)."""
    name, scale, digits = _UNITS.get(result.metric, ("", 1.0, 4))
    text = f"{value * scale:+.{digits}f}" if not result.offset else f"{(value - result.offset) * scale:.{digits}f}"
    return f"{text} {name}".rstrip() if unit else text


def threshold_text(result: ClaimResult) -> str:
    """What an offset claim needs its quantity to be, e.g. "above 1"; "" for a difference."""
    if not result.offset:
        return ""
    _, scale, _ = _UNITS.get(result.metric, ("", 1.0, 4))
    # sign * (quantity + offset) > min_effect
    bound = (result.sign * result.min_effect - result.offset) * scale
    return f"{'above' if result.sign > 0 else 'below'} {bound:g}"


def describe(result: ClaimResult) -> str:
    """The numbers behind a verdict, e.g. "+3.10 +- 0.80 pts (mean +- se over 3 seeds; 3 of 3 seeds agree)",
    or for the FLOPs claim "0.686 +- 0.004 x ANN (mean +- se over 3 seeds; 0 of 3 seeds above 1)"."""
    if result.mean is None:
        return "no seed has finished runs for every value it compares"
    name, scale, digits = _UNITS.get(result.metric, ("", 1.0, 4))
    text = stat_text(result, result.mean, unit=False)
    if result.se is not None:
        text += f" +- {result.se * scale:.{digits}f}"
    text += f" {name}".rstrip()
    bound = threshold_text(result)
    agree = bound or "agree"
    if result.se is not None:
        return text + f" (mean +- se over {result.n} seeds; {result.agree} of {result.n} seeds {agree})"
    return text + f" ({plural(result.n, 'seed')}" + (f"; the claim: {bound}" if bound else "") + ")"


def per_seed_text(result: ClaimResult) -> str:
    """ "s0: +3.10, s1: +2.90": the stat of every seed, as `describe` prints the mean."""
    return ", ".join(f"s{s}: {stat_text(result, v, unit=False)}" for s, v in result.per_seed.items()) or "-"
