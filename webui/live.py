"""Incremental reading of a run's metric stream: each rerun fetches only unseen entries."""

from __future__ import annotations

from dataclasses import dataclass, field

from workers.store import RunStore


@dataclass
class MetricCursor:
    """Everything read so far from one run's metrics stream, and where to resume."""

    run_id: str
    after: str = "0-0"
    batches: list[dict] = field(default_factory=list)
    epochs: dict[int, dict] = field(default_factory=dict)  # by epoch: a resumed run's repeat replaces

    def pull(self, store: RunStore) -> int:
        """Append entries written since the last pull; returns how many were new."""
        entries = store.read_metrics(self.run_id, after=self.after)
        for entry_id, kind, data in entries:
            if kind == "batch":
                self.batches.append(data)
            elif kind == "epoch":
                self.epochs[int(data["epoch"])] = data
            self.after = entry_id
        return len(entries)

    @property
    def epoch_list(self) -> list[dict]:
        return [self.epochs[e] for e in sorted(self.epochs)]

    def latest_text(self) -> str:
        if not self.batches:
            return "No metrics yet."
        b = self.batches[-1]
        return f"Latest: epoch {b['epoch']} · batch {b['batch']}/{b['batches']} · loss {b['loss']:.4f}"


def progress_line(status: str, progress: dict | None, epochs: int, eta_text: str) -> tuple[float, str] | None:
    """(fraction done, text) for the progress bar; an ETA only while the run is running.

    A cancelled, failed or interrupted run says where it stopped; a finished one that it is done;
    a queued one has no bar (None)."""
    progress = progress or {}
    if status == "finished":
        return 1.0, f"finished: {epochs} epoch{'s' if epochs != 1 else ''}"
    if not progress or status == "queued":
        return None
    fraction = min(1.0, (progress.get("percent") or 0) / 100)
    where = f"epoch {progress.get('epoch')}/{epochs}"
    if progress.get("batches"):
        where += f" · batch {progress.get('batch')}/{progress.get('batches')}"
    where += f" · {100 * fraction:.0f}%"
    if status == "running" and progress.get("phase") == "evaluating":
        # The bar stands still while the test set runs; say so, with the ETA that counts it.
        return fraction, f"{where} · evaluating on the test set · ETA {eta_text}"
    if status == "running":
        return fraction, f"{where} · ETA {eta_text}"
    return fraction, f"{status} at {where}"


def cursor_for(state, run_id: str) -> MetricCursor:
    """The cursor kept in a session's state for `run_id` (one per run and session)."""
    key = f"metric_cursor_{run_id}"
    if key not in state:
        state[key] = MetricCursor(run_id)
    return state[key]
