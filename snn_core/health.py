"""Spike health: how many neurons of each layer never fire, or fire as often as they can.

For one layer, from the spike count of each neuron summed over `n` samples of `T` steps:

    silent     count == 0                      (the neuron carried nothing on these samples)
    saturated  count >= n * ceiling            (it fired at every step it could)

The LIF reset lets a neuron fire at most once a step, and a neuron that starts at rest
(`membrane_init = zero`) cannot fire at the first step (s_0 = H(0 - V_th) = 0), so
`ceiling = T - 1` then; with a random start the first step can fire and `ceiling = T`.
A layer whose neurons are all silent passes no signal on (an output layer that is silent
decides nothing: every prediction is class 0); one that is all saturated passes on a
constant that no longer depends on the input.

Sources: the test set's per-neuron counts (`EpochMetrics.neuron_counts`, every epoch) and the
probe digits' recordings (`recording.recording_to_dict`). Pure Python, no torch: the web app
imports it too. `StopRule` is a run's optional stop rule (chosen at launch, not a
hyperparameter: it never enters the config hash), checked by `check_stop` after each epoch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, Sequence

FLAG_SHARE = 0.5  # a layer is flagged once at least this share of its neurons is silent or saturated


def ceiling(T: int, rest_start: bool) -> int:
    """Most spikes one neuron can fire in one sample of T steps (see the module docstring)."""
    return T - 1 if rest_start and T > 1 else T


def rest_starts(config: dict[str, Any]) -> list[bool]:
    """Per spiking layer of a run (config as a dict): True if no neuron can fire at the first step.

    A zero start cannot; the Kaiming start (uniform in +-sqrt(6 / width)) can only if its bound
    exceeds V_th. Configs older than `membrane_init` started at zero.
    """
    widths = [*config.get("hidden", [10]), 10]
    if config.get("membrane_init", "zero") == "zero":
        return [True] * len(widths)
    return [math.sqrt(6.0 / w) <= float(config["v_th"]) for w in widths]


def layer_names(n_layers: int) -> list[str]:
    """'hidden 1', ..., 'output' for the spiking layers (the input is not a layer of neurons)."""
    return [f"hidden {i}" for i in range(1, n_layers)] + ["output"]


def layer_health(counts: Sequence[int | float], samples: int, T: int, rest_start: bool = True) -> dict[str, Any]:
    """Silent and saturated neurons of one layer from each neuron's spike count over `samples` x `T` steps."""
    if samples < 1 or T < 1:
        raise ValueError(f"samples and T must be >= 1, got samples={samples!r}, T={T!r}")
    top = samples * ceiling(T, rest_start)
    size = len(counts)
    silent = sum(1 for c in counts if c <= 0)
    saturated = sum(1 for c in counts if c >= top > 0)
    return {"size": size, "silent": silent, "saturated": saturated,
            "silent_share": silent / size if size else 0.0, "saturated_share": saturated / size if size else 0.0}


def epoch_health(neuron_counts: Sequence[Sequence[int | float]], samples: int, T: int,
                 rest_start: bool | Sequence[bool] = True, epoch: int | None = None,
                 source: str = "test") -> dict[str, Any]:
    """Health of every spiking layer (hidden..., output) and the flags they raise.

    `rest_start`: one for all layers, or one per layer (`rest_starts(config)`).

    {"epoch", "source", "samples", "layers": [{"name", "size", "silent", "saturated",
     "silent_share", "saturated_share"}], "flags": ["output silent", "hidden 1: 6/10 saturated"]}
    """
    names = layer_names(len(neuron_counts))
    starts = [rest_start] * len(names) if isinstance(rest_start, bool) else list(rest_start)
    layers = [{"name": name, **layer_health(c, samples, T, start)}
              for name, c, start in zip(names, neuron_counts, starts)]
    return {"epoch": epoch, "source": source, "samples": samples, "layers": layers, "flags": flags(layers)}


def flags(layers: Sequence[dict[str, Any]], share: float = FLAG_SHARE) -> list[str]:
    """'output silent' when a whole layer is, 'hidden 1: 6/10 saturated' from `share` of it."""
    out = []
    for layer in layers:
        for kind in ("silent", "saturated"):
            n, size = layer[kind], layer["size"]
            if size and n == size:
                out.append(f"{layer['name']} {kind}")
            elif size and n / size >= share:
                out.append(f"{layer['name']}: {n}/{size} {kind}")
    return out


def probe_health(recording: dict[str, Any], rest_start: bool | Sequence[bool] = True) -> dict[str, Any]:
    """Health on the probe digits, from a stored recording (`recording.recording_to_dict` form)."""
    sizes = recording["layer_sizes"][1:]
    counts = [[0] * n for n in sizes]
    for probe in recording["probes"]:
        for layer, events in enumerate(probe["spikes"]):
            for _, neuron in events:
                counts[layer][neuron] += 1
    return epoch_health(counts, len(recording["probes"]), recording["T"], rest_start,
                        epoch=recording.get("epoch"), source="probes")


# -- the stop rule ---------------------------------------------------------------------

class StopLayer(str, Enum):
    OUTPUT = "output"
    HIDDEN = "hidden"  # any hidden layer
    ANY = "any"


class StopCondition(str, Enum):
    SILENT = "silent"
    SATURATED = "saturated"
    EITHER = "silent or saturated"


@dataclass(frozen=True)
class StopRule:
    """Stop a run once `layer` has been `condition` (at least `share` of its neurons) for
    `epochs` epochs in a row on the test set."""

    layer: StopLayer = StopLayer.OUTPUT
    condition: StopCondition = StopCondition.SILENT
    epochs: int = 2
    share: float = 1.0

    def __post_init__(self) -> None:
        for name, kind in (("layer", StopLayer), ("condition", StopCondition)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, kind(value))
            except ValueError:
                choices = ", ".join(k.value for k in kind)
                raise ValueError(f"stop rule {name} must be one of {choices}; got {value!r}") from None
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"stop rule epochs must be an integer >= 1, got {self.epochs!r}")
        if isinstance(self.share, bool) or not isinstance(self.share, (int, float)) or not 0 < self.share <= 1:
            raise ValueError(f"stop rule share must be in (0, 1], got {self.share!r}")
        object.__setattr__(self, "share", float(self.share))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(layer=self.layer.value, condition=self.condition.value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StopRule":
        if not isinstance(data, dict):
            raise ValueError(f"stop rule must be a JSON object, got {data!r}")
        unknown = sorted(set(data) - {"layer", "condition", "epochs", "share"})
        if unknown:
            raise ValueError(f"stop rule has unknown field(s) {', '.join(unknown)}")
        return cls(**data)

    def describe(self) -> str:
        layer = {StopLayer.OUTPUT: "the output layer", StopLayer.HIDDEN: "a hidden layer",
                 StopLayer.ANY: "any layer"}[self.layer]
        amount = "" if self.share == 1 else f"{self.share:.0%} "
        span = "1 epoch" if self.epochs == 1 else f"{self.epochs} epochs in a row"
        return f"stop when {layer} has been {amount}{self.condition.value} for {span}"


def _hits(rule: StopRule, layer: dict[str, Any]) -> bool:
    kinds = {StopCondition.SILENT: ("silent",), StopCondition.SATURATED: ("saturated",),
             StopCondition.EITHER: ("silent", "saturated")}[rule.condition]
    return any(layer[f"{k}_share"] >= rule.share for k in kinds)


def _watched(rule: StopRule, name: str) -> bool:
    return (rule.layer is StopLayer.ANY or (rule.layer is StopLayer.OUTPUT and name == "output")
            or (rule.layer is StopLayer.HIDDEN and name != "output"))


def check_stop(rule: StopRule, history: Sequence[dict[str, Any]]) -> str | None:
    """Why the run should stop now (its last `rule.epochs` healths all hit one watched layer), or None.

    `history`: `epoch_health` results in epoch order.
    """
    if len(history) < rule.epochs:
        return None
    recent = history[-rule.epochs:]
    for i, layer in enumerate(recent[-1]["layers"]):
        if not _watched(rule, layer["name"]):
            continue
        if all(i < len(h["layers"]) and _hits(rule, h["layers"][i]) for h in recent):
            kinds = [k for k in ("silent", "saturated") if layer[f"{k}_share"] >= rule.share]
            detail = ", ".join(f"{layer[k]}/{layer['size']} {k}" for k in kinds)
            first = recent[0].get("epoch")
            return (f"stopped by its stop rule after epoch {recent[-1].get('epoch')}: {layer['name']} layer "
                    f"{' and '.join(kinds)} ({detail} on the test set) since epoch {first} "
                    f"(rule: {rule.describe()})")
    return None
