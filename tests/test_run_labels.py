"""Run names for the pickers (webui.run_labels): planted records, known names."""

from __future__ import annotations

from snn_core.config import RunConfig
from webui.run_labels import ago, changed_fields, labeller, run_label
from workers.store import RunRecord, RunStatus

NOW = 1_800_000_000.0


def rec(config: RunConfig, status=RunStatus.FINISHED, acc=None, finished_ago=180.0, progress=None, id="a1b2c3d4e5f6"):
    return RunRecord(id=id, config=config.to_dict(), config_hash=config.config_hash(), status=status,
                     created_at=NOW - finished_ago - 60, started_at=NOW - finished_ago - 50,
                     finished_at=NOW - finished_ago if status is RunStatus.FINISHED else None,
                     best_metrics={"test_acc": acc} if acc is not None else None, progress=progress)


def test_a_run_is_named_by_what_it_changes_and_what_it_reached():
    assert run_label(rec(RunConfig(beta=0.9, T=5), acc=0.8421), NOW) == \
        "beta 0.9 · T 5 · bernoulli/mse · 84.2 % · 3 min ago · a1b2c3d4e5f6"
    assert run_label(rec(RunConfig(encoder="image", loss="ce", hidden=(256, 32), dataset="fashion-mnist",
                                   train_limit=800), acc=0.5), NOW) == \
        "hidden 256,32 · fashion-mnist · train 800 · image/ce · 50.0 % · 3 min ago · a1b2c3d4e5f6"
    # The baseline itself: only encoder/loss, outcome, age and id.
    assert run_label(rec(RunConfig(), status=RunStatus.QUEUED), NOW).startswith("bernoulli/mse · queued · ")


def test_the_outcome_says_the_status_until_the_run_finished():
    running = rec(RunConfig(lr=0.01), status=RunStatus.RUNNING, acc=0.61, progress={"percent": 40.0})
    assert run_label(running, NOW).startswith("lr 0.01 · bernoulli/mse · running 40 %, 61.0 % · ")
    assert " · failed · " in run_label(rec(RunConfig(seed=3), status=RunStatus.FAILED), NOW)
    assert " · cancelled, 12.0 % · " in run_label(rec(RunConfig(), status=RunStatus.CANCELLED, acc=0.12), NOW)


def test_changed_fields_ignore_fields_a_record_lacks():
    config = RunConfig(beta=0.5).to_dict()
    del config["membrane_init"]  # an old record, written before the field existed
    assert changed_fields(config) == ["beta"]


def test_ages_read_naturally():
    assert [ago(s) for s in (1, 42, 185, 3 * 3600 + 5, 2 * 86400)] == \
        ["just now", "42 s ago", "3 min ago", "3 h ago", "2 d ago"]


def test_labeller_falls_back_to_the_id():
    fmt = labeller([rec(RunConfig(T=5), acc=0.9)], NOW)
    assert fmt("a1b2c3d4e5f6").startswith("T 5 · ") and fmt("unknown") == "unknown"
