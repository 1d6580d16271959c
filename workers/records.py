"""The run record and its Redis hash encoding (no key names here: those live in `store.py`)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any, Iterable

from snn_core.config import RunConfig, stored_config

SCHEMA_VERSION = 1


class RunStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # stopped by its worker (shutdown); will be requeued and resumed
    STOPPED = "stopped"  # ended early by its stop rule (spike health, `snn_core.health`); see stop_reason


DONE_STATUSES = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.STOPPED})
ACTIVE_STATUSES = frozenset({RunStatus.RUNNING, RunStatus.INTERRUPTED})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# Record fields stored as JSON, and as floats; everything else is a plain string.
JSON_FIELDS = ("config", "last_metrics", "best_metrics", "progress", "tags", "stop_rule", "health")
FLOAT_FIELDS = ("created_at", "started_at", "finished_at")
SETTABLE_FIELDS = ("started_at", "finished_at", "worker", "device", "error", "last_metrics", "best_metrics",
                   "progress", "note", "tags", "pack_job", "health", "stop_reason")


@dataclass
class RunRecord:
    id: str
    config: dict[str, Any]
    config_hash: str
    status: RunStatus
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    worker: str = ""
    device: str = ""
    error: str = ""
    last_metrics: dict[str, Any] | None = None
    best_metrics: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None  # epoch, batch, batches, percent, eta_s
    sweep_id: str | None = None
    tags: list[str] = field(default_factory=list)
    note: str = ""
    pack_job: str = ""  # id of the packed job training this run with others ("" = trained alone)
    # Chosen at launch, not a hyperparameter (outside the config and its hash): `health.StopRule` as a dict.
    stop_rule: dict[str, Any] | None = None
    health: dict[str, Any] | None = None  # the latest epoch's spike health on the test set (`health.epoch_health`)
    stop_reason: str = ""  # why the stop rule ended the run (status stopped)
    schema: int = SCHEMA_VERSION

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (to now while running); None before it started."""
        if self.started_at is None:
            return None
        if self.finished_at is not None:
            return self.finished_at - self.started_at
        return time.time() - self.started_at if self.status is RunStatus.RUNNING else None

    def run_config(self) -> RunConfig:
        return RunConfig.from_dict(self.config)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("id", "config", "config_hash", "status", "created_at"):
            if name not in values:
                raise ValueError(f"run record is missing {name!r}: {data!r}"[:300])
        values["status"] = status_of(values["status"])
        # (H3, issue 9) A stored config keeps what it trained with: fields it predates read as
        # their old defaults (membrane_init "zero"), not today's ("kaiming"). See config.LEGACY_DEFAULTS.
        values["config"] = stored_config(values["config"])
        return cls(**values)


def status_of(value: Any) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        choices = ", ".join(s.value for s in RunStatus)
        raise ValueError(f"status must be one of {choices}; got {value!r}") from None


def encode_field(name: str, value: Any) -> str:
    if name in JSON_FIELDS:
        return json.dumps(value, sort_keys=True)
    if name in FLOAT_FIELDS:
        return repr(float(value))
    if isinstance(value, Enum):
        return value.value
    return str(value)


def decode_record(raw: dict) -> RunRecord | None:
    """A record from HGETALL's reply; fields a later schema added are absent and keep defaults."""
    data = {_text(k): _text(v) for k, v in raw.items()}
    if "id" not in data:
        return None  # nothing, or a late progress write that outlived a deleted run
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name in JSON_FIELDS:
            out[name] = json.loads(value)
        elif name in FLOAT_FIELDS:
            out[name] = float(value)
        elif name == "schema":
            out[name] = int(value)
        else:
            out[name] = value
    out["sweep_id"] = out.get("sweep_id") or None
    return RunRecord.from_dict(out)


def check_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        raise ValueError(f"tags must be a list of strings, got {tags!r}")
    tags = list(tags)
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise ValueError(f"tags must be non-empty strings, got {tag!r}")
    return [t.strip() for t in tags]
