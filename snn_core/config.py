"""One run's hyperparameters: the single source of truth that crosses the queue as JSON.

`RunConfig` is frozen and validates itself on construction; every bad value raises
`ValueError` naming the field and the value. This module imports neither torch nor
anything web-side, so the UI can build and validate configs without a training stack.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .encoder_table import ENCODERS, Encoder
from .limits import SAMPLE_LIMIT_MAX, SEED_MAX, ENV_NAMES, check_memory, current_limits, weight_count
from .surrogate_table import Surrogate


class Loss(str, Enum):
    MSE = "mse"  # MSE between output firing rate (count / T) and the one-hot target
    CE = "ce"  # cross-entropy on the raw output spike counts


class DatasetName(str, Enum):
    MNIST = "mnist"
    FASHION_MNIST = "fashion-mnist"


class Device(str, Enum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


class MembraneInit(str, Enum):
    ZERO = "zero"  # membranes start at 0
    KAIMING = "kaiming"  # the lab's start (default): kaiming_uniform_ on [batch, width], drawn per batch


ENCODER_HELP = {e: spec.help for e, spec in ENCODERS.items()}  # (the table's, `encoder_table`)

# Fields that say where or how a run executes, not what it computes: they do not
# enter the config hash, so the same experiment on another machine is the same run.
_PLACEMENT_FIELDS = ("data_dir", "device")
# Fields added after runs were stored, whose default is what those runs trained with: at that default
# they stay out of the hashed JSON, so a stored run keeps its hash (and dedup still finds it).
_HASHED_UNLESS_DEFAULT = {"surrogate": Surrogate.SIGMOID.value}

T_MAX = 1000  # the default of SPIKEBOARD_MAX_T (snn_core.limits)


def _enum_value(enum_cls: type[Enum], name: str, value: Any) -> Enum:
    try:
        return enum_cls(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum_cls)
        raise ValueError(f"{name} must be one of {choices}; got {_show(value)}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        return False


def _show(value: Any) -> str:
    """repr of a bad value, cut short (a million-entry list must not become the message)."""
    text = repr(value)
    return text if len(text) <= 120 else text[:100] + f"... ({len(text)} characters)"


# Which operator limit bounds each field (snn_core.limits.Limits.max_<name>).
_LIMIT_OF = {"epochs": "epochs", "batch_size": "batch", "test_batch_size": "test_batch"}


@dataclass(frozen=True)
class RunConfig:
    """Hyperparameters of one training run.

    Defaults are the lab's: its report's Table 1 baseline (T=50, z=2, V_th=1.5, beta=0.7,
    Bernoulli, MSE on the rate, Adam 1e-3, batch 64, test batch 100, 10 epochs) and its random
    membrane start, uniform in +-sqrt(6 / width) drawn per batch (`membrane_init=zero` starts at 0).
    The lab's sweeps ran from another base (T=5, beta 0.8, z 1, V_th 1): see `snn_core.lab`.
    """

    beta: float = 0.7  # membrane leak per step, in (0, 1]
    T: int = 50  # timesteps per sample
    z: float = 2.0  # surrogate gradient slope
    surrogate: Surrogate = Surrogate.SIGMOID  # the backward's ds/dm (`surrogate_table`); the lab's sigmoid
    v_th: float = 1.5  # firing threshold
    encoder: Encoder = Encoder.BERNOULLI
    loss: Loss = Loss.MSE
    hidden: tuple[int, ...] = (10,)  # hidden layer widths; the output layer has 10
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    test_batch_size: int = 100
    seed: int = 0
    dataset: DatasetName = DatasetName.MNIST
    membrane_init: MembraneInit = MembraneInit.KAIMING
    train_limit: int = 0  # use a fixed random subset of N training samples (0 = all)
    test_limit: int = 0  # use a fixed random subset of N test samples (0 = all)
    data_dir: str = ""  # "" = $SPIKEBOARD_DATA_DIR, else ./data
    device: Device = Device.AUTO

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        for name, enum_cls in (
            ("encoder", Encoder),
            ("surrogate", Surrogate),
            ("loss", Loss),
            ("dataset", DatasetName),
            ("membrane_init", MembraneInit),
            ("device", Device),
        ):
            set_(name, _enum_value(enum_cls, name, getattr(self, name)))

        limits = current_limits()  # the operator's (environment), never the submitter's
        if not _is_real(self.beta) or not 0 < self.beta <= 1:
            raise ValueError(f"beta must be in (0, 1], got {_show(self.beta)}")
        if not _is_int(self.T) or not 1 <= self.T <= limits.max_T:
            raise ValueError(f"T must be an integer in 1..{limits.max_T}, got {_show(self.T)}")
        for name in ("z", "v_th", "lr"):
            value = getattr(self, name)
            if not _is_real(value) or value <= 0:
                raise ValueError(f"{name} must be a number > 0, got {_show(value)}")
            set_(name, float(value))
        set_("beta", float(self.beta))
        for name, most in (("epochs", limits.max_epochs), ("batch_size", limits.max_batch),
                           ("test_batch_size", limits.max_test_batch)):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {_show(value)}")
            if value > most:
                raise ValueError(f"{name} must be at most {most} ({ENV_NAMES['max_' + _LIMIT_OF[name]]}), "
                                 f"got {_show(value)}")
        for name, most in (("train_limit", SAMPLE_LIMIT_MAX), ("test_limit", SAMPLE_LIMIT_MAX), ("seed", SEED_MAX)):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {_show(value)}")
            if value > most:
                raise ValueError(f"{name} must be an integer in 0..{most}, got {_show(value)}")

        hidden = self.hidden
        if isinstance(hidden, (list, tuple)) and all(_is_int(w) and w >= 1 for w in hidden):
            set_("hidden", tuple(hidden))
        else:
            raise ValueError(f"hidden must be a list of integers >= 1, got {_show(hidden)}")
        if len(hidden) > limits.max_layers:
            raise ValueError(f"hidden must have at most {limits.max_layers} layers ({ENV_NAMES['max_layers']}), "
                             f"got {len(hidden)}: {_show(hidden)}")
        if any(w > limits.max_width for w in hidden):
            raise ValueError(f"hidden widths must be at most {limits.max_width} ({ENV_NAMES['max_width']}), "
                             f"got {_show(hidden)}")
        weights = weight_count(self.hidden)
        if weights > limits.max_weights:
            raise ValueError(f"hidden {_show(list(hidden))} gives {weights:,} weights, more than {limits.max_weights:,} "
                             f"({ENV_NAMES['max_weights']}: a checkpoint must fit in one Redis value)")
        if not isinstance(self.data_dir, str) or len(self.data_dir) > 4096:
            raise ValueError(f"data_dir must be a string (at most 4096 characters), got {_show(self.data_dir)}")
        check_memory(self, limits)

    # -- serialisation -------------------------------------------------------------

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Sizes of every layer including input and output, e.g. (784, 10, 10)."""
        return (784, *self.hidden, 10)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, Enum) else list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        if not isinstance(data, dict):
            raise ValueError(f"config must be an object of field: value, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(_show(k) if not isinstance(k, str) else k for k in set(data) - known)
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(unknown)[:300]}")
        return cls(**data)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> "RunConfig":
        """A config read back from storage (run record, checkpoint, export): see `stored_config`."""
        return cls.from_dict(stored_config(data))

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"config is not valid JSON: {exc}") from None
        except RecursionError:
            raise ValueError("config is not valid JSON: nested too deeply") from None
        if not isinstance(data, dict):
            raise ValueError(f"config JSON must be an object, got {type(data).__name__}")
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def config_hash(self) -> str:
        """Stable short hash of what the run computes (placement fields excluded)."""
        canonical = {k: v for k, v in self.to_dict().items() if k not in _PLACEMENT_FIELDS}
        for name, default in _HASHED_UNLESS_DEFAULT.items():
            if canonical[name] == default:
                del canonical[name]
        blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def diff(self, other: "RunConfig") -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ, as {name: (mine, theirs)}."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig) if isinstance(f.default, str))
"""Fields whose values are text (the choice Enums and data_dir): an import file gives them unquoted."""


# Fields whose default changed after runs had been stored: a stored config that lacks one was
# written before the field existed and trained with the value here, not with today's default.
# (membrane_init became "kaiming", the lab's start; older runs started at zero.)
LEGACY_DEFAULTS: dict[str, Any] = {"membrane_init": MembraneInit.ZERO.value}


def stored_config(data: dict[str, Any]) -> dict[str, Any]:
    """A stored config dict with the fields it predates filled with what it trained with."""
    if not isinstance(data, dict):
        raise ValueError(f"config must be an object, got {type(data).__name__}")
    return {**LEGACY_DEFAULTS, **data}


PACKABLE_FIELDS = ("beta", "v_th", "z", "loss", "lr", "seed")
"""Fields that may differ between the members of a packed sweep (`snn_core.packed`): members of one
seed share an input stream; each seed's stream has its own data order and draws, as its solo run."""
# Placement and bookkeeping fields that may differ without changing the data stream.
_PACK_FREE_FIELDS = ("data_dir", "device", "epochs")


def check_packable(configs: list[RunConfig]) -> None:
    """Raise ValueError naming the first field (other than beta, v_th, z, loss, lr, seed) that differs.

    Members of a pack train in lockstep, one batch of each seed's stream at a time, so everything
    else that shapes the data and the network (T, encoder, surrogate, batch size, data, widths) is equal:
    the scans of a pack share one surrogate kernel.
    """
    if not configs:
        raise ValueError("configs must hold at least one run, got an empty list")
    first = configs[0].to_dict()
    for config in configs[1:]:
        for name, value in config.to_dict().items():
            if name not in PACKABLE_FIELDS and name not in _PACK_FREE_FIELDS and value != first[name]:
                raise ValueError(f"{name} must be equal across a packed sweep, got {first[name]!r} and {value!r}")


def pack_groups(configs: list[RunConfig], max_size: int = 0) -> list[list[int]]:
    """Indices of `configs` grouped into packable sets of equal epochs (at most max_size each, 0 = any)."""
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        key = {k: v for k, v in config.to_dict().items() if k not in PACKABLE_FIELDS}
        groups.setdefault(json.dumps(key, sort_keys=True), []).append(i)
    out = []
    for members in groups.values():
        step = max_size or len(members)
        out += [members[i : i + step] for i in range(0, len(members), step)]
    return out


SWEEPS: dict[str, list[Any]] = {
    "beta": [0.5, 0.7, 0.8, 0.9, 0.95, 0.99],
    "T": [5, 10, 20, 50, 100],
    "z": [0.5, 1.0, 2.0, 5.0, 10.0],
    "v_th": [0.5, 0.75, 1.0, 1.25, 1.5],
    "encoder": [e.value for e in Encoder],
    "surrogate": [s.value for s in Surrogate],
    "loss": [l.value for l in Loss],
}
"""The lab's hand sweeps, the defaults offered for sweep mode."""

