"""A run's spike health as it trains, and its stop rule: what `publisher.Publisher` asks each epoch.

The rule (`snn_core.health.StopRule`) is chosen at launch and kept in the run record, not in
the config, so it never changes the config hash. No torch here.
"""

from __future__ import annotations

from typing import Any

from snn_core.config import RunConfig
from snn_core.health import StopRule, check_stop, epoch_health, rest_starts

from .store import RunStore


class HealthWatch:
    """Spike health per epoch of one run, and the reason its stop rule fired (None until it does)."""

    def __init__(self, store: RunStore, run_id: str, config: RunConfig):
        record = store.get_run(run_id)
        self.rule = StopRule.from_dict(record.stop_rule) if record is not None and record.stop_rule else None
        self.config = config
        self.rest_starts = rest_starts(config.to_dict())
        # A resumed run's earlier epochs count toward "N epochs in a row".
        self.healths = {int(e["epoch"]): e["health"] for e in store.epoch_history(run_id) if e.get("health")}
        self.stop_reason: str | None = None

    def observe(self, metrics: Any) -> dict[str, Any] | None:
        """The epoch's health on the test set (None for an epoch without per-neuron counts, e.g.
        one from a checkpoint written before they were kept); checks the rule against the run so far."""
        if not getattr(metrics, "neuron_counts", None) or not getattr(metrics, "test_samples", 0):
            return None
        health = epoch_health(metrics.neuron_counts, metrics.test_samples, self.config.T, self.rest_starts,
                              epoch=metrics.epoch)
        self.healths[metrics.epoch] = health
        if self.rule is not None and self.stop_reason is None:
            self.stop_reason = check_stop(self.rule, [self.healths[e] for e in sorted(self.healths)])
        return health


# Per-step and per-neuron lists stay in the metrics stream; the record's last/best copies leave them out,
# so listing many runs reads small records.
BULKY = ("latency_acc", "neuron_counts", "health")


def compact(epoch: dict[str, Any]) -> dict[str, Any]:
    """An epoch entry without its bulky lists (what the run record keeps as last/best metrics)."""
    return {k: v for k, v in epoch.items() if k not in BULKY}
