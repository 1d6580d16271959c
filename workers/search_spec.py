"""A search's specification (issue 18): what to search, over what, for how long, for which objective.

`SearchSpec` is validated once, where it enters (the CLI, the page, a JSON file): every bad value
raises one `ValueError` naming the field and the value, before anything is stored or queued. Its
JSON form (`to_json`/`from_json`) is what the store keeps. No torch, no Optuna here: the web side
validates a spec too.

A trial's config is `base` with the sampled values (`to_config`); its epochs are the last rung,
and the rung it trains to next is the run record's `hold_at`, outside the config and its hash.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from snn_core.config import Encoder, Loss, RunConfig
from snn_core.limits import check_data_dir

__all__ = ["Param", "SearchSpec", "FIELDS", "OBJECTIVES", "parse_param"]

# Searchable fields: (kind, type). `hidden` is the width of the one hidden layer.
FIELDS: dict[str, tuple[str, type]] = {
    "beta": ("float", float), "z": ("float", float), "v_th": ("float", float), "lr": ("float", float),
    "T": ("int", int), "hidden": ("int", int), "encoder": ("choice", str), "loss": ("choice", str),
}
_CHOICES = {"encoder": [e.value for e in Encoder], "loss": [loss.value for loss in Loss]}
OBJECTIVES = ("accuracy", "accuracy+sops", "accuracy+flops")
MAX_RUNNING = 64
MAX_CHOICES = 64  # values one choice field may list
MAX_RUNGS = 16  # rungs of one search (1, 3, 9, ... 3^15 is far past any run)
MAX_START_FROM = 1000  # run and sweep ids one search may start from
MAX_SPEC_BYTES = 64 * 1024  # a spec's JSON as it enters (a file, the page)


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Param:
    """One searched field: a range [low, high] (float, optionally on a log scale, or int) or choices."""

    name: str
    kind: str  # float | int | choice
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple = ()

    def __post_init__(self) -> None:
        where = f"space {self.name}"
        if self.name not in FIELDS:
            raise ValueError(f"space field must be one of {', '.join(FIELDS)}, got {str(self.name)[:80]!r}")
        if self.kind not in ("float", "int", "choice"):
            raise ValueError(f"{where}: kind must be float, int or choice, got {self.kind!r}")
        if self.kind == "choice":
            if not isinstance(self.choices, tuple) or not self.choices:
                raise ValueError(f"{where}: choices must be a non-empty list, got {list(self.choices)!r}")
            if len(self.choices) > MAX_CHOICES:
                raise ValueError(f"{where}: at most {MAX_CHOICES} choices, got {len(self.choices)}")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ValueError(f"{where}: choices repeat a value: {list(self.choices)!r}")
            allowed = _CHOICES.get(self.name)
            for c in self.choices:
                if allowed is not None and c not in allowed:
                    raise ValueError(f"{where}: choice must be one of {', '.join(allowed)}, got {c!r}")
                if allowed is None and not _num(c):
                    raise ValueError(f"{where}: choice must be a number, got {c!r}")
            return
        if FIELDS[self.name][0] == "choice":
            raise ValueError(f"{where}: {self.name} takes choices (a,b,...), got a range {self.low}:{self.high}")
        if not _num(self.low) or not _num(self.high):
            raise ValueError(f"{where}: low and high must be finite numbers, got {self.low!r}:{self.high!r}")
        if self.kind == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"{where}: an integer range needs integer ends, got {self.low!r}:{self.high!r}")
        if not self.low < self.high:
            raise ValueError(f"{where}: range must have low < high, got {self.low!r}:{self.high!r}"
                             + (" (empty)" if self.low == self.high else " (reversed)"))
        if self.log and not self.low > 0:
            raise ValueError(f"{where}: a log range needs low > 0, got {self.low!r}")

    def values(self) -> list:
        """The values whose configs must all be valid: the choices, or the range's two ends."""
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"name": self.name, "kind": "choice", "choices": list(self.choices)}
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high, "log": self.log}

    @classmethod
    def from_dict(cls, data: Any) -> "Param":
        if not isinstance(data, dict):
            raise ValueError(f"space entry must be an object, got {str(data)[:80]!r}")
        unknown = sorted(set(data) - {"name", "kind", "low", "high", "log", "choices"})
        if unknown:
            raise ValueError(f"space entry has unknown key(s) {', '.join(unknown)}")
        if not isinstance(data.get("log", False), bool):
            raise ValueError(f"space {data.get('name')}: log must be true or false, got {data.get('log')!r}")
        return cls(name=data.get("name"), kind=data.get("kind"), low=data.get("low"), high=data.get("high"),
                   log=data.get("log", False), choices=tuple(data.get("choices") or ()))


def parse_param(text: str) -> Param:
    """`beta=0.5:0.95`, `lr=1e-4:1e-2:log`, `T=10:50`, `encoder=bernoulli,image`, `hidden=32,64`."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not rest.strip():
        raise ValueError(f"space must read field=low:high[:log] or field=a,b,...; got {text[:80]!r}")
    if name not in FIELDS:
        raise ValueError(f"space field must be one of {', '.join(FIELDS)}, got {name[:80]!r}")
    kind, typ = FIELDS[name]
    if ":" in rest and kind == "choice":
        raise ValueError(f"space {name}: {name} takes choices (a,b,...), got a range {rest[:80]!r}")
    if ":" in rest:
        parts = rest.split(":")
        log = len(parts) == 3 and parts[2].strip() == "log"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise ValueError(f"space {name}: a range reads low:high or low:high:log, got {rest[:80]!r}")
        try:
            low, high = (typ(p) if typ is int else float(p) for p in parts[:2])
        except ValueError:
            raise ValueError(f"space {name}: range ends must be {typ.__name__}s, got {rest[:80]!r}") from None
        return Param(name, kind, low, high, log)
    items = [p.strip() for p in rest.split(",")]
    if typ is str:
        return Param(name, "choice", choices=tuple(items))
    try:
        values = tuple(typ(p) for p in items)
    except ValueError:
        raise ValueError(f"space {name}: choices must be {typ.__name__}s, got {rest[:80]!r}") from None
    return Param(name, "choice", choices=values)


@dataclass(frozen=True)
class SearchSpec:
    """What a search explores and for how long. Budget: total trained epochs and/or wall seconds
    (at least one > 0). Objective: test accuracy, or accuracy and synaptic ops / FLOPs per inference
    (a Pareto search). Rungs: the epochs at which asynchronous successive halving decides (promote
    the top 1/eta of a rung's results, stop the rest); a trial's config trains to the last rung."""

    space: tuple[Param, ...]
    base: RunConfig = field(default_factory=RunConfig)
    budget_epochs: int = 0
    budget_seconds: float = 0.0
    max_running: int = 2
    objective: str = "accuracy"
    rungs: tuple[int, ...] = (1, 3, 9)
    eta: int = 3
    seed: int = 0
    start_from: tuple[str, ...] = ()  # run ids and sweep ids whose finished runs are told to the study first

    def __post_init__(self) -> None:
        if not isinstance(self.space, tuple) or not self.space or not all(isinstance(p, Param) for p in self.space):
            raise ValueError(f"space must name at least one field to search, got {list(self.space or ())!r}"[:200])
        names = [p.name for p in self.space]
        if len(set(names)) != len(names):
            raise ValueError(f"space names a field twice: {', '.join(names)}")
        if not isinstance(self.base, RunConfig):
            raise ValueError(f"base must be a RunConfig, got {type(self.base).__name__}")
        if not isinstance(self.rungs, tuple) or not self.rungs or not all(
                isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in self.rungs) \
                or list(self.rungs) != sorted(set(self.rungs)):
            raise ValueError(f"rungs must be increasing epochs >= 1, got {list(self.rungs)!r}"[:200])
        if len(self.rungs) > MAX_RUNGS:
            raise ValueError(f"rungs: at most {MAX_RUNGS}, got {len(self.rungs)}")
        if isinstance(self.eta, bool) or not isinstance(self.eta, int) or self.eta < 2:
            raise ValueError(f"eta must be an integer >= 2, got {self.eta!r}")
        for name in ("budget_epochs", "max_running", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not _num(self.budget_seconds) or self.budget_seconds < 0:
            raise ValueError(f"budget_seconds must be a number >= 0, got {self.budget_seconds!r}")
        if self.budget_epochs == 0 and self.budget_seconds == 0:
            raise ValueError("budget must be > 0: give budget_epochs and/or budget_seconds, got 0 and 0")
        if 0 < self.budget_epochs < self.rungs[0]:
            raise ValueError(f"budget_epochs must be at least the first rung ({self.rungs[0]}), got {self.budget_epochs}")
        if not 1 <= self.max_running <= MAX_RUNNING:
            raise ValueError(f"max_running must be in 1..{MAX_RUNNING}, got {self.max_running!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {str(self.objective)[:80]!r}")
        if not isinstance(self.start_from, tuple) or not all(isinstance(s, str) for s in self.start_from):
            raise ValueError(f"start_from must be a list of run or sweep ids, got {self.start_from!r}"[:200])
        if len(self.start_from) > MAX_START_FROM:
            raise ValueError(f"start_from: at most {MAX_START_FROM} ids, got {len(self.start_from)}")
        if self.base.epochs != self.rungs[-1]:
            object.__setattr__(self, "base", self.base.replace(epochs=self.rungs[-1]))
        check_data_dir(self.base.data_dir)
        for p in self.space:  # every end of every range must make a valid config (beta <= 1, T >= 1, ...)
            for value in p.values():
                try:
                    self.to_config({p.name: value})
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"space {p.name}: value {value!r} is invalid: {exc}") from None

    @property
    def multi(self) -> bool:
        return self.objective != "accuracy"

    @property
    def cost(self) -> str | None:
        """The second objective's key in `workers.analysis.run_cost` ("synops" or "flops"), or None."""
        return {"accuracy+sops": "synops", "accuracy+flops": "flops"}.get(self.objective)

    def to_config(self, params: dict[str, Any]) -> RunConfig:
        """`base` with the sampled values (`hidden` is the one hidden layer's width)."""
        changes = {k: ((int(v),) if k == "hidden" else int(v) if k == "T" else v) for k, v in params.items()}
        return self.base.replace(**changes)

    def params_of(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """A stored config's values of the searched fields, or None when it lies outside the space
        or differs from `base` in a field that is not searched (then it says nothing about this search)."""
        names = {p.name for p in self.space}
        base = self.base.to_dict()
        for key, value in base.items():
            if key not in names and key not in ("data_dir", "device") and config.get(key) != value:
                return None
        out = {}
        for p in self.space:
            value = config.get(p.name)
            if p.name == "hidden":
                if not isinstance(value, list) or len(value) != 1:
                    return None
                value = value[0]
            if p.kind == "choice" and value not in p.choices:
                return None
            if p.kind != "choice" and not (_num(value) and p.low <= value <= p.high):
                return None
            out[p.name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"space": [p.to_dict() for p in self.space], "base": self.base.to_dict(),
                "budget_epochs": self.budget_epochs, "budget_seconds": self.budget_seconds,
                "max_running": self.max_running, "objective": self.objective, "rungs": list(self.rungs),
                "eta": self.eta, "seed": self.seed, "start_from": list(self.start_from)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> "SearchSpec":
        if not isinstance(data, dict):
            raise ValueError(f"search spec must be an object, got {type(data).__name__}")
        known = {"space", "base", "budget_epochs", "budget_seconds", "max_running", "objective", "rungs", "eta",
                 "seed", "start_from"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"search spec has unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        space = data.get("space")
        if not isinstance(space, list):
            raise ValueError(f"space must be a list of fields to search, got {str(space)[:80]!r}")
        values = {k: v for k, v in data.items() if k not in ("space", "base")}
        for name in ("rungs", "start_from"):
            if name in values:
                if not isinstance(values[name], list):
                    raise ValueError(f"{name} must be a list, got {str(values[name])[:80]!r}")
                values[name] = tuple(values[name])
        base = RunConfig.from_dict(data.get("base") or {})
        return cls(space=tuple(Param.from_dict(p) for p in space), base=base, **values)

    @classmethod
    def from_json(cls, text: str) -> "SearchSpec":
        if len(text) > MAX_SPEC_BYTES:
            raise ValueError(f"search spec is {len(text):,} bytes; at most {MAX_SPEC_BYTES:,}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"search spec is not valid JSON: {exc}") from None
        return cls.from_dict(data)
