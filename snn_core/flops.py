"""The lab's FLOP counting for the ANN and the SNN. Pure Python: importable without torch.

A fully connected layer with M inputs and N outputs costs, per forward pass,

    ANN:  (2M - 1) N + 2N          (M multiplies and M - 1 adds per output, bias, activation)
    SNN:  (2 M F - 1) N + 2N       per timestep, F the firing rate of the layer's input

The SNN only multiplies-and-adds inputs that spiked, so its matrix term shrinks with the
input firing rate F; over T steps the total is T times the per-step count. With the lab's
784-10-10 network: ANN 15,690 + 210 = 15,900; SNN with F0 = 1, F1 = 0.25: 15,690 + 60 =
15,750 per step, 78,750 for T = 5.

`synaptic_ops` is the event-driven count instead: one accumulate per spike per fan-out.

    python -m snn_core.flops --layers 784,10,10 --T 5 --rates 1,0.25 [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass


def ann_layer_flops(m: int, n: int) -> float:
    """(2M - 1) N + 2N: a dense layer with M inputs, N outputs, bias and activation."""
    return (2 * m - 1) * n + 2 * n


def snn_layer_flops(m: int, n: int, rate: float) -> float:
    """(2 M F - 1) N + 2N per timestep, F = firing rate of the layer's input in [0, 1]."""
    return (2 * m * rate - 1) * n + 2 * n


def synaptic_ops(layers: list[int], rates: list[float], T: int) -> float:
    """Accumulates actually triggered by spikes over T steps: sum_l M_l F_l N_l T."""
    return sum(m * f * n for m, n, f in zip(layers[:-1], layers[1:], rates)) * T


@dataclass
class FlopsReport:
    layers: list[int]
    T: int
    rates: list[float]
    ann_per_layer: list[float]
    snn_per_layer_per_step: list[float]
    ann_total: float
    snn_per_step: float
    snn_total: float
    synaptic_ops: float

    @property
    def snn_over_ann(self) -> float:
        return self.snn_total / self.ann_total if self.ann_total else float("inf")


def _check(layers: list[int], T: int, rates: list[float]) -> None:
    if len(layers) < 2 or any(not isinstance(m, int) or m < 1 for m in layers):
        raise ValueError(f"layers must be at least two integers >= 1, got {layers!r}")
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be an integer >= 1, got {T!r}")
    if len(rates) != len(layers) - 1:
        raise ValueError(f"rates must have one value per layer input ({len(layers) - 1}), got {rates!r}")
    for f in rates:
        if not 0 <= f <= 1:
            raise ValueError(f"rates must be in [0, 1], got {f!r}")


def count(layers: list[int], T: int, rates: list[float]) -> FlopsReport:
    """ANN and SNN FLOPs of a fully connected network; rates[l] is layer l's input rate."""
    layers, rates = list(layers), [float(f) for f in rates]
    _check(layers, T, rates)
    pairs = list(zip(layers[:-1], layers[1:]))
    ann = [ann_layer_flops(m, n) for m, n in pairs]
    snn = [snn_layer_flops(m, n, f) for (m, n), f in zip(pairs, rates)]
    return FlopsReport(
        layers=layers, T=T, rates=rates,
        ann_per_layer=ann, snn_per_layer_per_step=snn,
        ann_total=sum(ann), snn_per_step=sum(snn), snn_total=sum(snn) * T,
        synaptic_ops=synaptic_ops(layers, rates, T),
    )


def break_even_T(layers: list[int], rates: list[float]) -> float:
    """The T at which the SNN's total equals the ANN's (the SNN is cheaper below it)."""
    report = count(layers, 1, rates)
    return report.ann_total / report.snn_per_step if report.snn_per_step > 0 else float("inf")


def rate_sweep(layers: list[int], T: int, rates: list[float], which: int,
               steps: int = 101) -> tuple[list[float], list[float], float | None]:
    """SNN total FLOPs as rates[which] goes 0..1 in `steps` even steps, and the rate where it equals
    the ANN's (None when that lies outside [0, 1]). The count is linear in each rate, so the
    break-even rate is F = (ANN - SNN(0)) / (SNN(1) - SNN(0))."""
    xs = [i / (steps - 1) for i in range(steps)]
    totals = [count(layers, T, [x if j == which else r for j, r in enumerate(rates)]).snn_total for x in xs]
    ann = count(layers, T, rates).ann_total
    lo, hi = totals[0], totals[-1]
    even = (ann - lo) / (hi - lo) if hi != lo else None
    return xs, totals, (even if even is not None and 0 <= even <= 1 else None)


def clean(value):
    """`value` with every float rounded to 10 significant digits, and whole numbers as ints:
    31460.000000000004 (float noise of M F N T) prints as 31460, 4.952830188679245 as 4.95283019."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, float) and math.isfinite(value):
        rounded = float(f"{value:.10g}")
        return int(rounded) if rounded.is_integer() else rounded
    return value


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def format_table(r: FlopsReport) -> str:
    lines = [f"layers {','.join(map(str, r.layers))}, T={r.T}, input rates {r.rates}", "",
             "| layer | ANN | SNN per step | SNN total |", "|---|---:|---:|---:|"]
    for i, (a, s) in enumerate(zip(r.ann_per_layer, r.snn_per_layer_per_step)):
        lines.append(f"| {r.layers[i]}->{r.layers[i + 1]} | {a:,.0f} | {s:,.0f} | {s * r.T:,.0f} |")
    lines.append(f"| total | {r.ann_total:,.0f} | {r.snn_per_step:,.0f} | {r.snn_total:,.0f} |")
    lines += ["", f"SNN/ANN: {r.snn_over_ann:.2f}x; synaptic accumulates: {r.synaptic_ops:,.0f}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snn_core.flops", description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=_ints, default=[784, 10, 10], help="e.g. 784,10,10")
    parser.add_argument("--T", type=int, default=5, help="timesteps")
    parser.add_argument("--rates", type=_floats, default=[1.0, 0.25], help="input firing rate of each layer")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    try:
        report = count(args.layers, args.T, args.rates)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(clean({**asdict(report), "snn_over_ann": report.snn_over_ann})))
    else:
        print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
