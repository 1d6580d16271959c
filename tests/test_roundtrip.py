"""Export -> an empty Redis -> import -> export gives the same file, JSON lines and CSV, for runs a
real worker trained (epoch health, per-neuron counts, latency curves in every epoch entry), through
the CLI exactly as a user types it (issue 21, item 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from bench.procs import wait_for
from snn_core.config import RunConfig
from workers import submission, transfer
from workers.redis_server import start_redis
from workers.store import RunStatus, RunStore

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(180)


def cli(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url}
    return subprocess.run([sys.executable, "-m", "workers", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def trained(redis_server, redis_conn, workers):
    """Two finished runs trained by a real worker (one with two hidden layers), and one cancelled."""
    small = dict(T=4, epochs=2, train_limit=200, test_limit=100, batch_size=50)
    ids = [submission.submit_run(redis_conn, RunConfig(**small, seed=1), tags=["base"]).record.id,
           submission.submit_run(redis_conn, RunConfig(**small, hidden=(12, 8), seed=2)).record.id]
    cancelled = submission.submit_run(redis_conn, RunConfig(**small, seed=3)).record.id
    submission.cancel_run(redis_conn, cancelled)
    store = RunStore(redis_conn)
    store.set_note(ids[0], "baseline, 2 epochs")
    workers(1, burst=True)
    wait_for(lambda: all(store.get_run(i).status is RunStatus.FINISHED for i in ids), 120, "both runs to finish")
    epochs = store.epoch_history(ids[1])
    assert len(epochs) == 2 and epochs[0]["health"]["layers"] and len(epochs[0]["neuron_counts"]) == 3
    assert len(epochs[0]["latency_acc"]) == 4
    return ids + [cancelled]


@pytest.fixture
def empty_redis(tmp_path):
    proc, url = start_redis(tmp_path / "empty")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_imports_cleanly_and_exports_the_same(redis_server, trained, empty_redis, fmt):
    first = cli(redis_server.url, "export", "--format", fmt)
    assert first.returncode == 0, first.stderr
    imported = cli(empty_redis, "import", "-", stdin=first.stdout)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "imported 3 run(s)"
    again = cli(empty_redis, "export", "--format", fmt)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    if fmt == "jsonl":
        rows = [json.loads(line) for line in again.stdout.splitlines()]
        assert {r["id"] for r in rows} == set(trained)
        assert any(e.get("neuron_counts") and e.get("health") for r in rows for e in r["epochs"])
    # A second import of the same file adds nothing and says so.
    twice = cli(empty_redis, "import", "-", stdin=first.stdout)
    assert twice.returncode == 0, twice.stderr
    assert twice.stdout.strip() == "imported 0 run(s), skipped 3 whose id exists here"
    assert RunStore(redis.Redis.from_url(empty_redis)).list_runs()[0].id in trained


def test_hostile_health_and_counts_are_still_refused(redis_server, trained):
    rows = [json.loads(line) for line in transfer.export_runs(redis.Redis.from_url(redis_server.url)).splitlines()]
    row = next(r for r in rows if r["id"] == trained[0])  # one hidden layer of 10
    epoch = row["epochs"][0]
    width = len(epoch["neuron_counts"][0])
    cases = [
        ({**epoch, "neuron_counts": [[1] * width]}, r"epochs\[0\]\.neuron_counts must be a list of 2 layers"),
        ({**epoch, "neuron_counts": [[1] * (width + 1), epoch["neuron_counts"][1]]},
         rf"epochs\[0\]\.neuron_counts\[0\] must be {width} spike counts"),
        ({**epoch, "neuron_counts": [[-1] * width, epoch["neuron_counts"][1]]}, r"neuron_counts\[0\] must be"),
        ({**epoch, "health": [[[[[[1]]]]]]}, r"epochs\[0\]\.health must be JSON nested at most"),
        ({**epoch, "health": {"layers": "x" * 3000}}, r"epochs\[0\]\.health\.layers must be a string of at most"),
    ]
    for bad, message in cases:
        row["id"] = "b" * 12
        with pytest.raises(ValueError, match=message):
            transfer.import_runs(redis.Redis.from_url(redis_server.url), json.dumps({**row, "epochs": [bad]}))
