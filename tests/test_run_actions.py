"""workers.run_actions, workers.model_export and their CLI (issue 21, item 7) against a real Redis;
cancel, resume and the downloaded model with a real worker training a real run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from bench.procs import wait_for
from jobkit import epochs_of
from snn_core import checkpoint
from snn_core.config import RunConfig
from snn_core.model import SNN
from workers import connection, model_export, run_actions, submission
from workers.store import RunStatus, RunStore

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(180)


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url}
    return subprocess.run([sys.executable, "-m", "workers", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_cancel_then_resume_goes_on_from_the_checkpoint_and_the_model_loads(redis_server, redis_conn, workers):
    store = RunStore(redis_conn)
    config = RunConfig(T=30, epochs=8, train_limit=2000, test_limit=200, batch_size=50)
    run_id = submission.submit_run(redis_conn, config).record.id
    workers(1)
    wait_for(lambda: len(epochs_of(store, run_id)) >= 2, 120, "two epochs")
    assert cli(redis_server.url, "cancel", run_id).returncode == 0
    wait_for(lambda: store.lease_holder(run_id) is None, 30, "the horse to let go of the run")
    assert store.get_run(run_id).status is RunStatus.CANCELLED
    before = epochs_of(store, run_id)
    assert len(before) < 8

    again = cli(redis_server.url, "cancel", run_id)  # a done run: said so, and not 0
    assert again.returncode == 1 and f"run {run_id} is already cancelled; nothing to cancel" in again.stderr

    resumed = cli(redis_server.url, "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == f"{run_id} queued"
    wait_for(lambda: store.get_run(run_id).status is RunStatus.FINISHED, 150, "the resumed run to finish")
    after = epochs_of(store, run_id)
    assert after[:len(before)] == before and sorted(set(after)) == list(range(1, 9))
    assert after.count(1) == 1  # went on from its checkpoint, not from the start

    with zipfile.ZipFile(io.BytesIO(model_export.model_bundle(store, run_id))) as z:
        assert sorted(z.namelist()) == ["README.txt", "checkpoint.pt", "config.json", "metrics.json"]
        loaded = RunConfig.from_stored(json.loads(z.read("config.json")))
        state = checkpoint.from_bytes(z.read("checkpoint.pt"))
        assert "model.load_state_dict(state[\"model\"])" in z.read("README.txt").decode()
    assert loaded.config_hash() == config.config_hash() and state["epoch"] == 8
    model = SNN(loaded)
    model.load_state_dict(state["model"])  # exactly as README.txt says
    assert all(torch.equal(p, state["model"][k]) for k, p in model.state_dict().items())


def test_resume_is_refused_unless_cancelled(redis_conn):
    store = RunStore(redis_conn)
    queued = submission.submit_run(redis_conn, RunConfig(seed=1)).record.id
    with pytest.raises(ValueError, match=f"run {queued} is queued: only a cancelled run can be resumed"):
        run_actions.resume_run(redis_conn, queued)
    submission.cancel_run(redis_conn, queued)
    store.take_lease(queued, "horse:w:1", 30)  # its horse has not let go yet
    with pytest.raises(ValueError, match="still stopping on its worker"):
        run_actions.resume_run(redis_conn, queued)
    with pytest.raises(ValueError, match="run_id not found"):
        run_actions.resume_run(redis_conn, "0" * 12)
    with pytest.raises(ValueError, match="has no checkpoint yet"):
        model_export.model_bundle(store, queued)


def test_cancel_sweep_and_lab_cancel_their_active_runs_and_empty_the_queue(redis_conn):
    store = RunStore(redis_conn)
    other = submission.submit_run(redis_conn, RunConfig(seed=9)).record.id
    sweep = submission.submit_sweep(redis_conn, RunConfig(epochs=1, T=5), {"beta": [0.5, 0.7], "seed": [0, 1]})
    ids = [r.record.id for r in sweep.results]
    assert connection.queue(redis_conn).count >= 2  # packed jobs and the other run
    store.set_status(ids[0], RunStatus.FINISHED)  # done already: left alone
    cancelled = run_actions.cancel_sweep(redis_conn, sweep.sweep_id)
    assert sorted(cancelled) == sorted(ids[1:])
    assert store.get_run(ids[0]).status is RunStatus.FINISHED and store.get_run(other).status is RunStatus.QUEUED
    assert connection.queue(redis_conn).job_ids == [other]  # the packs left the queue; the other run did not
    assert run_actions.cancel_sweep(redis_conn, sweep.sweep_id) == []
    for bad, message in (("s" + "0" * 12, "sweep_id not found"), ("x", "sweep_id must be"),
                         ("s" + "0" * 12 + ":x", "sweep_id must be")):
        with pytest.raises(ValueError, match=message):
            run_actions.cancel_sweep(redis_conn, bad)
    with pytest.raises(ValueError, match="lab_id"):
        run_actions.cancel_lab(redis_conn, "nope")


def test_tags_and_search(redis_conn):
    store = RunStore(redis_conn)
    a = submission.submit_run(redis_conn, RunConfig(T=300), tags=["base"]).record.id
    b = submission.submit_run(redis_conn, RunConfig(beta=0.9)).record.id
    store.set_note(b, "Diverged at epoch 2")
    (rec,) = run_actions.change_tags(store, [a], add=["keep", "base"], remove=["base"])
    assert rec.tags == ["keep"]
    records = store.list_runs()
    assert [r.id for r in run_actions.find_runs(records, "t=300 KEEP")] == [a]
    assert [r.id for r in run_actions.find_runs(records, "diverged beta=0.9")] == [b]
    assert run_actions.find_runs(records, "diverged keep") == []
    assert [r.id for r in run_actions.find_runs(records, "  ")] == [b, a]
    with pytest.raises(ValueError, match="tags must be non-empty strings"):
        run_actions.change_tags(store, [a], add=[" "])
    with pytest.raises(ValueError, match="run_id not found"):
        run_actions.change_tags(store, [a, "0" * 12], add=["x"])
    assert store.get_run(a).tags == ["keep"]  # nothing changed by the refused call


def test_cli_list_tag_delete_and_cancel_sweep(redis_server, redis_conn):
    url = redis_server.url
    a = submission.submit_run(redis_conn, RunConfig(T=300)).record.id
    b = submission.submit_run(redis_conn, RunConfig(beta=0.9)).record.id
    tagged = cli(url, "tag", a, b, "--add", "keep", "--add", "x")
    assert tagged.returncode == 0 and tagged.stdout.splitlines() == [f"{a} keep,x", f"{b} keep,x"]
    assert cli(url, "tag", b, "--remove", "x").stdout.strip() == f"{b} keep"
    listed = cli(url, "list", "--search", "T=300")
    assert listed.returncode == 0 and [line.split("\t")[0] for line in listed.stdout.splitlines()] == [a]
    assert "queued" in listed.stdout and "T=300" in listed.stdout and listed.stderr.strip() == "1 run(s)"
    as_json = [json.loads(line) for line in cli(url, "list", "--tag", "keep", "--json").stdout.splitlines()]
    assert [r["id"] for r in as_json] == [b, a]
    assert cli(url, "list", "--limit", "0").returncode == 2
    missing = cli(url, "delete", a, "0" * 12)
    assert missing.returncode == 2 and "run_id not found" in missing.stderr
    assert RunStore(redis_conn).get_run(a) is not None  # nothing deleted when one id is wrong
    assert cli(url, "delete", a).stdout.strip() == "deleted 1 run(s)" and RunStore(redis_conn).get_run(a) is None
    sweep = submission.submit_sweep(redis_conn, RunConfig(epochs=1, T=5), {"beta": [0.5, 0.7]})
    out = cli(url, "cancel-sweep", sweep.sweep_id)
    assert out.returncode == 0 and out.stdout.strip() == f"cancelled 2 run(s) of {sweep.sweep_id}"
    assert cli(url, "cancel-sweep", sweep.sweep_id).stdout.strip().endswith("(none was queued or running)")
    assert cli(url, "cancel-lab", "l" + "0" * 12).returncode == 2
