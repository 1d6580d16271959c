"""The run record and its Redis hash encoding (no key names here: those live in `keys.py`)."""

from __future__ import annotations

import json
import math
import re
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
    HELD = "held"  # trained to its hold_at epoch and checkpointed (a search's rung); waits to be promoted or left


DONE_STATUSES = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.STOPPED})
ACTIVE_STATUSES = frozenset({RunStatus.RUNNING, RunStatus.INTERRUPTED})
REUSABLE_STATUSES = frozenset({RunStatus.FINISHED, RunStatus.RUNNING, RunStatus.QUEUED})  # what dedup hands back

# The ids the store makes (`keys.new_id`: 12 hex digits; sweeps "s" + 12): nothing else may
# come in from outside, so an imported id can never name another run's key ("<id>:checkpoint").
RUN_ID_PATTERN = re.compile(r"[0-9a-f]{12}")
SWEEP_ID_PATTERN = re.compile(r"s[0-9a-f]{12}")
TAGS_MAX, TAG_CHARS_MAX = 32, 64
TIME_MAX = 1e10  # Unix seconds (the year 2286): later times cannot be written as dates


class CorruptRecord(ValueError):
    """A stored run record that cannot be read back (written by something other than Spikeboard)."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# Record fields stored as JSON, and as floats; everything else is a plain string.
JSON_FIELDS = ("config", "last_metrics", "best_metrics", "progress", "tags", "stop_rule", "health")
FLOAT_FIELDS = ("created_at", "started_at", "finished_at")
INT_FIELDS = ("schema", "hold_at")
SETTABLE_FIELDS = ("started_at", "finished_at", "worker", "device", "error", "last_metrics", "best_metrics",
                   "progress", "note", "tags", "pack_job", "health", "stop_reason", "hold_at")
# A status write to one of these also appends a run event (`workers.store`, `Keys.events`).
EVENT_STATUSES = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.STOPPED,
                            RunStatus.HELD})


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
    # A search's rung (issue 18), outside the config and its hash like stop_rule: train to this epoch,
    # checkpoint and mark the run held; 0 trains to config.epochs.
    hold_at: int = 0
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
        raise ValueError(f"status must be one of {choices}; got {str(value)[:80]!r}") from None


def encode_field(name: str, value: Any) -> str:
    if name in JSON_FIELDS:
        return json.dumps(value, sort_keys=True)
    if name in FLOAT_FIELDS:
        return repr(float(value))
    if isinstance(value, Enum):
        return value.value
    return str(value)


def decode_record(raw: dict) -> RunRecord | None:
    """A record from HGETALL's reply; fields a later schema added are absent and keep defaults.

    Raises `CorruptRecord` (naming the run and the field) for a record that is not what the store
    writes, so a caller listing many runs can leave that one out instead of failing for everyone.
    """
    try:
        data = {_text(k): _text(v) for k, v in raw.items()}
    except UnicodeDecodeError as exc:
        raise CorruptRecord(f"run record holds bytes that are not UTF-8 text: {exc}") from None
    if "id" not in data:
        return None  # nothing, or a late progress write that outlived a deleted run
    out: dict[str, Any] = {}
    for name, value in data.items():
        try:
            if name in JSON_FIELDS:
                out[name] = json.loads(value)
            elif name in FLOAT_FIELDS:
                out[name] = float(value)
            elif name in INT_FIELDS:
                out[name] = int(value)
            else:
                out[name] = value
        except (ValueError, RecursionError) as exc:
            raise CorruptRecord(f"run {data['id'][:40]!r}: field {name} cannot be read: {str(exc)[:120]}") from None
    out["sweep_id"] = out.get("sweep_id") or None
    try:
        record = RunRecord.from_dict(out)
        check_record_types(record)
    except (ValueError, TypeError) as exc:
        raise CorruptRecord(f"run {data['id'][:40]!r}: {str(exc)[:200]}") from None
    return record


def finite_number(value: Any) -> bool:
    """True for an int or float (not a bool) that is finite, however large."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_record_types(record: RunRecord) -> None:
    """ValueError naming the first field of `record` whose type is not what the store writes."""
    def bad(name: str, want: str) -> ValueError:
        return ValueError(f"{name} must be {want}, got {str(getattr(record, name))[:80]!r}")

    for name in ("id", "config_hash", "worker", "device", "error", "note", "pack_job", "stop_reason"):
        if not isinstance(getattr(record, name), str):
            raise bad(name, "a string")
    if not isinstance(record.config, dict):
        raise bad("config", "an object")
    if not finite_number(record.created_at) or not 0 <= record.created_at < TIME_MAX:
        raise bad("created_at", "a time in Unix seconds")
    for name in ("started_at", "finished_at"):
        value = getattr(record, name)
        if value is not None and (not finite_number(value) or not 0 <= value < TIME_MAX):
            raise bad(name, "a time in Unix seconds, or absent")
    for name in ("last_metrics", "best_metrics", "progress", "stop_rule", "health"):
        if getattr(record, name) is not None and not isinstance(getattr(record, name), dict):
            raise bad(name, "an object or absent")
    if not isinstance(record.tags, list) or not all(isinstance(t, str) for t in record.tags):
        raise bad("tags", "a list of strings")
    if record.sweep_id is not None and not isinstance(record.sweep_id, str):
        raise bad("sweep_id", "a string or absent")
    if isinstance(record.hold_at, bool) or not isinstance(record.hold_at, int) or record.hold_at < 0:
        raise bad("hold_at", "an integer >= 0")
    if isinstance(record.schema, bool) or not isinstance(record.schema, int) or not 1 <= record.schema <= SCHEMA_VERSION:
        raise bad("schema", f"an integer in 1..{SCHEMA_VERSION}")


def check_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        raise ValueError(f"tags must be a list of strings, got {tags[:80]!r}")
    if not isinstance(tags, (list, tuple)):
        raise ValueError(f"tags must be a list of strings, got {str(tags)[:80]!r}")
    tags = list(tags)
    if len(tags) > TAGS_MAX:
        raise ValueError(f"tags must be at most {TAGS_MAX}, got {len(tags)}")
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise ValueError(f"tags must be non-empty strings, got {str(tag)[:80]!r}")
        if len(tag) > TAG_CHARS_MAX:
            raise ValueError(f"tags must be at most {TAG_CHARS_MAX} characters, got {tag[:80]!r}...")
    return [t.strip() for t in tags]
