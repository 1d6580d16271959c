"""Submission, transfer and the queue against a real redis-server (no workers): submit, dedup, sweeps,
cancel, export."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from snn_core.config import RunConfig
from workers import connection, submission, transfer
from workers.store import RunStatus, RunStore

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(30)


def test_submit_enqueues_a_json_job_by_dotted_path_with_no_timeout(redis_conn):
    result = submission.submit_run(redis_conn, RunConfig(T=10), tags=["t"])
    assert result.created and result.record.status is RunStatus.QUEUED
    run_id = result.record.id
    assert connection.queue(redis_conn).get_job_ids() == [run_id]
    job = Job.fetch(run_id, connection=redis_conn, serializer=JSONSerializer)
    assert job.func_name == "workers.jobs.train_run" and list(job.args) == [run_id]
    assert job.timeout == -1  # RQ's 180 s default must not cut a long run short
    payload = json.loads(zlib.decompress(redis_conn.hget(job.key, "data")))  # JSON, not pickle
    assert payload[0] == "workers.jobs.train_run"


def test_bad_config_is_refused_before_redis(redis_conn):
    with pytest.raises(ValueError, match="beta must be in \\(0, 1\\], got 1.7"):
        submission.submit_run(redis_conn, {"beta": 1.7})
    with pytest.raises(ValueError, match="unknown config field"):
        submission.submit_run(redis_conn, {"betta": 0.5})
    assert redis_conn.dbsize() == 0


def test_identical_config_returns_the_existing_run_unless_forced(redis_conn, monkeypatch):
    monkeypatch.setenv("SPIKEBOARD_DATA_ROOTS", "/elsewhere")  # the operator allows that data folder
    first = submission.submit_run(redis_conn, RunConfig(seed=3))
    again = submission.submit_run(redis_conn, RunConfig(seed=3, data_dir="/elsewhere"))  # placement only
    assert not again.created and again.record.id == first.record.id
    assert submission.submit_run(redis_conn, RunConfig(seed=4)).created
    forced = submission.submit_run(redis_conn, RunConfig(seed=3), force=True)
    assert forced.created and forced.record.id != first.record.id
    # A cancelled run is not worth reusing.
    submission.cancel_run(redis_conn, first.record.id)
    submission.cancel_run(redis_conn, forced.record.id)
    assert submission.submit_run(redis_conn, RunConfig(seed=3)).created


def test_sweep_configs_and_bad_values():
    base = RunConfig(T=10)
    configs = submission.sweep_configs(base, {"beta": [0.5, 0.9], "encoder": ["image", "bernoulli", "threshold"]})
    assert len(configs) == 6 and {(c.beta, c.encoder.value) for c in configs} >= {(0.5, "image"), (0.9, "threshold")}
    with pytest.raises(ValueError, match="beta must be in \\(0, 1\\], got 1.5"):
        submission.sweep_configs(base, {"beta": [0.5, 1.5]})
    with pytest.raises(ValueError, match="sweep field must be a RunConfig field, got 'gamma'"):
        submission.sweep_configs(base, {"gamma": [1]})
    with pytest.raises(ValueError, match="one or two fields"):
        submission.sweep_configs(base, {"beta": [0.5], "T": [5], "z": [1.0]})
    with pytest.raises(ValueError, match="non-empty list"):
        submission.sweep_configs(base, {"beta": []})


def test_submit_sweep_groups_runs_and_enqueues_nothing_on_a_bad_value(redis_conn):
    with pytest.raises(ValueError, match="T must be an integer"):
        submission.submit_sweep(redis_conn, RunConfig(), {"T": [5, 0]})
    assert redis_conn.dbsize() == 0
    result = submission.submit_sweep(redis_conn, RunConfig(epochs=1), {"T": [5, 10], "beta": [0.5, 0.9]})
    assert len(result.results) == 4 and all(r.created for r in result.results)
    store = RunStore(redis_conn)
    assert {r.id for r in store.list_runs(sweep_id=result.sweep_id)} == {r.record.id for r in result.results}
    assert store.get_sweep(result.sweep_id)["run_ids"] == [r.record.id for r in result.results]
    # runs differing only in beta pack together: one job per T
    assert connection.queue(redis_conn).count == 2
    packs = {}
    for r in store.list_runs(sweep_id=result.sweep_id):
        packs.setdefault(r.pack_job, []).append(r.config["T"])
    assert sorted(map(sorted, packs.values())) == [[5, 5], [10, 10]]
    unpacked = submission.submit_sweep(redis_conn, RunConfig(epochs=2), {"beta": [0.5, 0.9]}, packed=False)
    assert connection.queue(redis_conn).count == 4
    assert all(store.get_run(r.record.id).pack_job == "" for r in unpacked.results)


def test_sweeps_submitted_together_pack_across_sweeps_costliest_first(redis_conn):
    base = RunConfig(epochs=1, T=5)
    with pytest.raises(ValueError, match="beta must be in"):  # a bad value in the second sweep: nothing stored
        submission.submit_sweeps(redis_conn, [(base, {"z": [1.0, 2.0]}), (base, {"beta": [0.5, 7.0]})])
    assert redis_conn.dbsize() == 0
    results = submission.submit_sweeps(redis_conn, [(base, {"z": [1.0, 2.0]}), (base, {"T": [5, 50]}),
                                                  (base, {"beta": [0.5, 0.9]})])
    store = RunStore(redis_conn)
    assert [len(store.get_sweep(r.sweep_id)["run_ids"]) for r in results] == [2, 2, 2]
    assert results[1].results[0].created is False  # T 5 is the first sweep's z 1.0: one run, both sweeps
    # The four T = 5 runs of three sweeps train as one pack; T = 50 alone, and it goes first (costliest).
    jobs = connection.queue(redis_conn).get_jobs()
    members = [job.args[0] if isinstance(job.args[0], list) else [job.args[0]] for job in jobs]
    assert [[store.get_run(m).config["T"] for m in ms] for ms in members] == [[50], [5, 5, 5, 5]]


def test_cancel_a_queued_run_removes_it_from_the_queue(redis_conn):
    run_id = submission.submit_run(redis_conn, RunConfig()).record.id
    record = submission.cancel_run(redis_conn, run_id)
    assert record.status is RunStatus.CANCELLED and record.finished_at is not None
    assert connection.queue(redis_conn).count == 0
    with pytest.raises(ValueError, match="run_id not found: 'nope'"):
        submission.cancel_run(redis_conn, "nope")


def test_delete_run_removes_record_and_job(redis_conn):
    run_id = submission.submit_run(redis_conn, RunConfig()).record.id
    submission.delete_run(redis_conn, run_id)
    assert RunStore(redis_conn).get_run(run_id) is None
    assert connection.queue(redis_conn).count == 0
    assert not redis_conn.exists(Job.key_for(run_id))


def test_export_and_import_round_trip_in_both_formats(redis_conn, redis_server, tmp_path):
    from workers.redis_server import start_redis

    store = RunStore(redis_conn)
    done = submission.submit_run(redis_conn, RunConfig(seed=1), tags=["a"]).record.id
    store.set_status(done, RunStatus.FINISHED, last_metrics={"epoch": 1, "test_acc": 0.8}, finished_at=2e9)
    store.append_metric(done, "epoch", {"epoch": 1, "test_acc": 0.8})
    submission.submit_run(redis_conn, RunConfig(seed=2))
    jsonl = transfer.export_runs(redis_conn)
    csv_text = transfer.export_runs(redis_conn, "csv")
    assert len(jsonl.splitlines()) == 2 and len(csv_text.splitlines()) == 3
    import csv, io
    row = next(csv.DictReader(io.StringIO(csv_text)))  # plain cells a spreadsheet reads as they are
    assert (row["config.encoder"], row["config.T"], row["config.hidden"]) == ("bernoulli", "50", "[10]")
    with pytest.raises(ValueError, match="fmt must be jsonl or csv, got 'xml'"):
        transfer.export_runs(redis_conn, "xml")

    for text in (jsonl, csv_text):
        proc, url = start_redis(tmp_path / f"other{len(text)}")
        try:
            other = connection.connect(url)
            assert transfer.import_runs(other, text) == 2
            assert transfer.import_runs(other, text) == 0  # ids exist: skipped
            got = RunStore(other).get_run(done)
            assert got.status is RunStatus.FINISHED and got.tags == ["a"] and got.last_metrics["test_acc"] == 0.8
            assert got.run_config() == RunConfig(seed=1)
            # The queued run could not come along as queued: nothing would ever train it.
            statuses = sorted(r.status.value for r in RunStore(other).list_runs())
            assert statuses == ["failed", "finished"]
            if text is jsonl:  # JSON lines carry the epoch history; CSV rows only the last metrics
                assert RunStore(other).epoch_history(done) == [{"epoch": 1, "test_acc": 0.8}]
        finally:
            proc.kill()
            proc.wait()
    with pytest.raises(ValueError, match="line 1 is not valid JSON"):
        transfer.import_runs(redis_conn, "{nope")


def test_store_and_web_facing_workers_do_not_import_torch():
    code = ("import sys; import workers.store, workers.connection, workers.submission, workers.transfer, "
            "workers.capacity, workers.labs, workers.csvio, workers.stack; "
            "bad = [m for m in ('torch', 'streamlit') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
