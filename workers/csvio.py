"""Runs as CSV rows and back (importing them: `workers.imports`). No torch here."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import fields
from typing import Any

from snn_core.config import TEXT_FIELDS, RunConfig

from .store import RunRecord

BASE_COLUMNS = ("id", "status", "config_hash", "created_at", "started_at", "finished_at", "duration", "worker",
                "device", "error", "sweep_id", "tags", "note")
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "samples_per_s")
CONFIG_COLUMNS = tuple(f"config.{f.name}" for f in fields(RunConfig))


TIME_COLUMNS = ("created_at", "started_at", "finished_at")


def iso_time(seconds: float | None) -> str | None:
    """Unix seconds as ISO 8601 in UTC (2026-12-01T19:05:03.250000+00:00), what spreadsheets read."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat()


def unix_time(text: str, column: str, line: int) -> float:
    """A CSV time cell back to Unix seconds: ISO 8601 (a zone-less one is UTC), or the plain
    seconds that older exports wrote."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"CSV line {line}: {column} must be an ISO 8601 time, got {text[:80]!r}") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


def records_to_csv(records: list[RunRecord]) -> str:
    """One row per run. Config cells hold plain strings and numbers (lists as JSON, e.g. [10]),
    readable by any spreadsheet, and parse back to the same config on import."""
    columns = [*BASE_COLUMNS, *CONFIG_COLUMNS, *(f"last.{m}" for m in METRIC_COLUMNS), "best.test_acc"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in records:
        row: dict[str, Any] = {c: getattr(r, c) for c in BASE_COLUMNS if c not in ("status", "tags")}
        row.update({c: iso_time(row[c]) for c in TIME_COLUMNS})
        if r.started_at is not None and r.finished_at is not None:
            # From the written (microsecond) times, so an imported copy exports the same duration.
            row["duration"] = unix_time(row["finished_at"], "", 0) - unix_time(row["started_at"], "", 0)
        row.update(status=r.status.value, tags=";".join(r.tags))
        row.update({f"config.{k}": v if isinstance(v, str) else json.dumps(v) for k, v in r.config.items()})
        last = r.last_metrics or {}
        row.update({f"last.{m}": last.get(m, "") for m in METRIC_COLUMNS})
        row["best.test_acc"] = (r.best_metrics or {}).get("test_acc", "")
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


_STRING_FIELDS = TEXT_FIELDS


def _cell(name: str, text: str, line: int) -> Any:
    """A config cell: plain text for string fields, a JSON number or list for the others."""
    if name in _STRING_FIELDS and not (len(text) >= 2 and text[0] == text[-1] == '"'):
        return text
    try:
        return json.loads(text)  # numbers, lists, and strings that an older export quoted as JSON
    except json.JSONDecodeError:
        raise ValueError(f"CSV line {line}: config.{name} must be a number or a JSON list, got {text[:80]!r}") from None


def csv_to_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    """(line, record dict like the JSON-lines export) for each row of `records_to_csv` output.
    A row that cannot be parsed raises ValueError naming its line and column."""
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    try:
        for raw in reader:
            rows.append((reader.line_num, _parse_row(raw, reader.line_num)))
    except csv.Error as exc:
        raise ValueError(f"CSV line {reader.line_num + 1}: {exc} (is this a Spikeboard CSV export?)") from None
    return rows


def _number(raw: dict[str, str], column: str, line: int) -> float:
    try:  # an epoch count stays an int, so the row exports as it was read
        return int(raw[column]) if raw[column].lstrip("-").isdigit() else float(raw[column])
    except ValueError:
        raise ValueError(f"CSV line {line}: {column} must be a number, got {raw[column][:80]!r}") from None


def _parse_row(raw: dict[str, Any], n: int) -> dict[str, Any]:
    if None in raw:
        raise ValueError(f"CSV line {n} has more cells than the header has columns")
    raw = {k: v or "" for k, v in raw.items()}  # a short row's missing cells read as empty
    missing = [c for c in ("id", "status", "created_at") if not raw.get(c)]
    if missing:
        raise ValueError(f"CSV line {n} lacks {', '.join(missing)}")
    config = {c.split(".", 1)[1]: _cell(c.split(".", 1)[1], v, n) for c, v in raw.items()
              if c.startswith("config.") and (v or c == "config.data_dir")}
    last = {m: _number(raw, f"last.{m}", n) for m in METRIC_COLUMNS if raw.get(f"last.{m}")}
    best = {"test_acc": _number(raw, "best.test_acc", n)} if raw.get("best.test_acc") else None
    num = lambda c: unix_time(raw[c], c, n) if raw.get(c) else None  # noqa: E731
    return {
        "id": raw["id"], "status": raw["status"], "config": config, "config_hash": raw.get("config_hash", ""),
        "created_at": num("created_at"), "started_at": num("started_at"),
        "finished_at": num("finished_at"), "worker": raw.get("worker", ""), "device": raw.get("device", ""),
        "error": raw.get("error", ""), "sweep_id": raw.get("sweep_id") or None,
        "tags": [t for t in raw.get("tags", "").split(";") if t], "note": raw.get("note", ""),
        "last_metrics": last or None, "best_metrics": best,
    }
