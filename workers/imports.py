"""Importing exported runs: every record validated before anything is written, then all or nothing.

An import file comes from outside (another machine's export, a hand-edited file, an attacker), so
each row is checked field by field (id pattern, types, finite numbers, sizes, the config itself)
into a `RunRecord`; the first bad row stops the import with one line naming the line or row and
the field. Only then does `RunStore.put_runs` write every new run in one transaction. A finished
run may take its config hash for dedup only if the hash it carries is its config's hash.
No torch here.
"""

from __future__ import annotations

import json
from typing import Any

from snn_core.config import RunConfig
from snn_core.limits import current_limits

from .records import (DONE_STATUSES, RUN_ID_PATTERN, SCHEMA_VERSION, SWEEP_ID_PATTERN, TIME_MAX, RunRecord, RunStatus,
                      check_tags, finite_number, status_of)
from .store import RunStore

IMPORT_MAX_RUNS = 50_000
STRING_MAX = {"worker": 200, "device": 200, "config_hash": 64, "error": 10_000, "note": 10_000,
              "stop_reason": 2_000}
METRICS_KEYS_MAX, LIST_MAX, JSON_DEPTH_MAX, JSON_ITEMS_MAX = 64, 4096, 4, 256


class BadRow(ValueError):
    pass


def _bad(field: str, want: str, value: Any) -> BadRow:
    text = repr(value)
    return BadRow(f"field {field} must be {want}, got {text[:80] + '...' if len(text) > 80 else text}")


def _metrics(field: str, value: Any) -> dict[str, Any] | None:
    """None, or an object of at most 64 short keys, each a finite number or a list of them."""
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > METRICS_KEYS_MAX:
        raise _bad(field, f"an object of at most {METRICS_KEYS_MAX} metrics", value)
    for key, item in value.items():
        if not isinstance(key, str) or len(key) > 64:
            raise _bad(field, "an object with short string keys", key)
        ok = finite_number(item) or (isinstance(item, list) and len(item) <= LIST_MAX
                                     and all(finite_number(x) for x in item))
        if not ok:
            raise _bad(f"{field}.{key}", "a finite number or a list of finite numbers", item)
    return value


def _small_json(field: str, value: Any, depth: int = 0) -> Any:
    """A small JSON value: finite numbers, short strings, and shallow, short lists and objects."""
    if value is None or isinstance(value, bool) or finite_number(value):
        return value
    if isinstance(value, str):
        if len(value) > 2_000:
            raise _bad(field, "a string of at most 2000 characters", value)
        return value
    if depth >= JSON_DEPTH_MAX:
        raise _bad(field, f"JSON nested at most {JSON_DEPTH_MAX} deep", value)
    if isinstance(value, list) and len(value) <= LIST_MAX:
        return [_small_json(field, x, depth + 1) for x in value]
    if isinstance(value, dict) and len(value) <= JSON_ITEMS_MAX:
        for key in value:
            if not isinstance(key, str) or len(key) > 64:
                raise _bad(field, "an object with short string keys", key)
        return {k: _small_json(f"{field}.{k}", v, depth + 1) for k, v in value.items()}
    raise _bad(field, "a finite number, a short string, list or object", value)


def _time(field: str, value: Any, required: bool) -> float | None:
    if value is None and not required:
        return None
    if not finite_number(value) or not 0 <= value < TIME_MAX:
        raise _bad(field, "a time in Unix seconds (0 to 1e10)", value)
    return float(value)


def _neuron_counts(field: str, value: Any, config: RunConfig) -> list[list[float]]:
    """Spikes per neuron of each spiking layer (hidden..., output): one list per layer, of its width."""
    widths = config.layer_sizes[1:]
    if not isinstance(value, list) or len(value) not in (0, len(widths)):
        raise _bad(field, f"a list of {len(widths)} layers (hidden..., output)", value)
    for layer, (counts, width) in enumerate(zip(value, widths)):
        if not isinstance(counts, list) or len(counts) != width or not all(
                finite_number(c) and c >= 0 for c in counts):
            raise _bad(f"{field}[{layer}]", f"{width} spike counts (finite numbers >= 0)", counts)
    return value


def _epoch_entry(field: str, value: Any, config: RunConfig) -> dict[str, Any] | None:
    """An epoch's metrics (numbers and per-step lists) with its spike health and per-neuron counts,
    as `publisher.Publisher` writes them."""
    if not isinstance(value, dict):
        return _metrics(field, value)
    bulky = {k: value[k] for k in ("health", "neuron_counts") if k in value}
    entry = _metrics(field, {k: v for k, v in value.items() if k not in bulky}) or {}
    if bulky.get("health") is not None:
        entry["health"] = _small_json(f"{field}.health", bulky["health"])
    if "neuron_counts" in bulky:
        entry["neuron_counts"] = _neuron_counts(f"{field}.neuron_counts", bulky["neuron_counts"], config)
    return entry


def _epochs(value: Any, config: RunConfig) -> list[dict[str, Any]]:
    if value is None:
        return []
    most = current_limits().max_epochs
    if not isinstance(value, list) or len(value) > most:
        raise _bad("epochs", f"a list of at most {most} epoch entries", value)
    out = []
    for i, entry in enumerate(value):
        entry = _epoch_entry(f"epochs[{i}]", entry, config)
        epoch = entry.get("epoch") if entry else None
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 1 <= epoch <= most:
            raise _bad(f"epochs[{i}].epoch", f"an integer in 1..{most}", epoch)
        out.append(entry)
    return out


def record_from_row(row: Any) -> tuple[RunRecord, list[dict[str, Any]], bool]:
    """(record, epoch entries, may claim dedup) from one exported run; BadRow naming the field.

    Active runs come back failed (they cannot go on training here). The hash is recomputed from
    the config; the run may take that hash for dedup only if the one it carried matches.
    """
    if not isinstance(row, dict):
        raise BadRow(f"a run must be a JSON object, got {type(row).__name__}")
    for key in row:
        if not isinstance(key, str):
            raise _bad("names", "strings", key)
    run_id = row.get("id")
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise _bad("id", "12 lowercase hex digits (the store's run ids)", run_id)
    raw_config = row.get("config")
    if not isinstance(raw_config, dict):
        raise _bad("config", "an object of config fields", raw_config)
    try:
        config = RunConfig.from_stored(raw_config)
    except (ValueError, TypeError) as exc:
        raise BadRow(f"field config: {exc}") from None
    carried = row.get("config_hash", "")
    if not isinstance(carried, str) or len(carried) > STRING_MAX["config_hash"]:
        raise _bad("config_hash", "a string of at most 64 characters", carried)
    schema = row.get("schema", SCHEMA_VERSION)
    if isinstance(schema, bool) or not isinstance(schema, int) or not 1 <= schema <= SCHEMA_VERSION:
        raise _bad("schema", f"an integer in 1..{SCHEMA_VERSION}", schema)
    try:
        status = status_of(row.get("status"))
    except ValueError as exc:
        raise BadRow(f"field {exc}") from None
    values: dict[str, Any] = {
        "id": run_id, "config": config.to_dict(), "config_hash": config.config_hash(), "status": status,
        "created_at": _time("created_at", row.get("created_at"), True),
        "started_at": _time("started_at", row.get("started_at"), False),
        "finished_at": _time("finished_at", row.get("finished_at"), False),
        "last_metrics": _metrics("last_metrics", row.get("last_metrics")),
        "best_metrics": _metrics("best_metrics", row.get("best_metrics")),
        "progress": _small_json("progress", row.get("progress")),
        "health": _small_json("health", row.get("health")),
        "schema": schema,
        "pack_job": "",  # an imported run trains in no pack here
    }
    for name, most in STRING_MAX.items():
        if name == "config_hash":
            continue
        value = row.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > most:
            raise _bad(name, f"a string of at most {most} characters", value)
        values[name] = value
    sweep_id = row.get("sweep_id") or None
    if sweep_id is not None and (not isinstance(sweep_id, str) or not SWEEP_ID_PATTERN.fullmatch(sweep_id)):
        raise _bad("sweep_id", "'s' and 12 lowercase hex digits, or empty", sweep_id)
    values["sweep_id"] = sweep_id
    try:
        values["tags"] = check_tags(row.get("tags") or [])
    except ValueError as exc:
        raise BadRow(f"field {exc}") from None
    rule = row.get("stop_rule")
    if rule is not None:
        from snn_core.health import StopRule

        try:
            values["stop_rule"] = StopRule.from_dict(rule).to_dict()
        except (ValueError, TypeError) as exc:
            raise BadRow(f"field stop_rule: {exc}") from None
    record = RunRecord(**values)
    if record.status not in DONE_STATUSES:
        record.error = f"imported while {record.status.value}; submit it again to train it"
        record.status = RunStatus.FAILED
    return record, _epochs(row.get("epochs"), config), carried == record.config_hash


def parse_rows(text: str) -> list[tuple[str, Any]]:
    """(where, row) for every run in an export: JSON lines, or CSV (`csvio.records_to_csv`)."""
    if not isinstance(text, str):
        raise ValueError(f"an import must be text, got {type(text).__name__}")
    stripped = text.lstrip()
    if not stripped:
        return []
    if stripped.startswith(("{", "[")):
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((f"line {n}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {n} is not valid JSON: {exc}") from None
            except RecursionError:
                raise ValueError(f"line {n} is not valid JSON: nested too deeply") from None
    else:
        from .csvio import csv_to_rows

        rows = [(f"CSV line {n}", row) for n, row in csv_to_rows(text)]
    if len(rows) > IMPORT_MAX_RUNS:
        raise ValueError(f"an import may hold at most {IMPORT_MAX_RUNS} runs, got {len(rows)}")
    return rows


def import_text(store: RunStore, text: str, skipped: list[str] | None = None) -> int:
    """Validate every run of an export, then write the new ones in one transaction; returns how many.

    Runs whose id exists here are skipped (their ids go into `skipped` when given); any bad row
    refuses the whole file, naming it.
    """
    items = []
    seen: dict[str, str] = {}
    for where, row in parse_rows(text):
        try:
            record, epochs, claim = record_from_row(row)
        except BadRow as exc:
            raise ValueError(f"{where}: {exc}") from None
        if record.id in seen:
            raise ValueError(f"{where}: field id {record.id!r} appears twice (first on {seen[record.id]})")
        seen[record.id] = where
        items.append((record, epochs, claim))
    return store.put_runs(items, skipped)
