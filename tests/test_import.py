"""Import and export against a real redis-server: hostile files are refused whole, naming the line
and the field; nothing existing is touched; export survives records it cannot read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snn_core.config import RunConfig
from workers import submission, transfer
from workers.store import Keys, RunStatus, RunStore

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(60)


def exported_row(conn, **config) -> dict:
    """One finished run's export line, as a dict (the run itself is then deleted)."""
    store = RunStore(conn)
    run_id = submission.submit_run(conn, RunConfig(**config)).record.id
    store.set_status(run_id, RunStatus.FINISHED, finished_at=1.0e9 + 5)
    store.append_metric(run_id, "epoch", {"epoch": 1, "test_acc": 0.5, "firing_rates": [0.1, 0.2]})
    row = json.loads(transfer.export_runs(conn, "jsonl").splitlines()[0])
    submission.delete_run(conn, run_id)
    return row


def jsonl(*rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def snapshot(conn) -> dict:
    return {k: conn.dump(k) for k in sorted(conn.keys("spikeboard:*"))}


def test_hostile_ids_are_refused_and_the_victim_is_untouched(redis_conn):
    store = RunStore(redis_conn)
    victim = submission.submit_run(redis_conn, RunConfig(seed=1)).record.id
    store.save_checkpoint(victim, b"checkpoint bytes")
    row = exported_row(redis_conn, seed=2)
    before = snapshot(redis_conn)
    for bad in (f"{victim}:checkpoint", f"{victim}:cancel", f"{victim}:lease", None, [victim], 7, "", "../x",
                victim.upper(), victim + "0", {"id": victim}):
        with pytest.raises(ValueError, match=r"^line 1: field id must be 12 lowercase hex digits"):
            transfer.import_runs(redis_conn, jsonl({**row, "id": bad}))
    assert snapshot(redis_conn) == before
    assert store.get_run(victim).status is RunStatus.QUEUED and store.load_checkpoint(victim) == b"checkpoint bytes"
    assert not store.cancel_requested(victim)


def test_one_bad_row_refuses_the_whole_file(redis_conn):
    row = exported_row(redis_conn, seed=3)
    good = {**row, "id": "a" * 12}
    before = snapshot(redis_conn)
    with pytest.raises(ValueError, match=r"^line 2: field created_at must be a time"):
        transfer.import_runs(redis_conn, jsonl(good, {**row, "id": "b" * 12, "created_at": float("nan")}))
    assert snapshot(redis_conn) == before
    with pytest.raises(ValueError, match=r"^line 3: field id 'aaaaaaaaaaaa' appears twice \(first on line 1\)"):
        transfer.import_runs(redis_conn, jsonl(good, "", good))
    assert transfer.import_runs(redis_conn, jsonl(good, {**row, "id": "b" * 12})) == 2


MALFORMED = [
    ({"schema": "x"}, "field schema must be an integer in 1..1"),
    ({"schema": 99}, "field schema must be an integer"),
    ({"tags": 5}, "field tags must be a list of strings"),
    ({"tags": ["ok", 3]}, "field tags must be non-empty strings, got '3'"),
    ({"tags": ["x" * 500]}, "field tags must be at most 64 characters"),
    ({"last_metrics": "x"}, "field last_metrics must be an object"),
    ({"last_metrics": {"test_acc": float("nan")}}, "field last_metrics.test_acc must be a finite number"),
    ({"best_metrics": {"test_acc": "high"}}, "field best_metrics.test_acc must be a finite number"),
    ({"created_at": "yesterday"}, "field created_at must be a time"),
    ({"created_at": 1e300}, "field created_at must be a time"),
    ({"config": [1, 2]}, "field config must be an object"),
    ({"config": {"beta": 10**400}}, "field config: beta must be in (0, 1]"),
    ({"config": {"hidden": [10**6]}}, "field config: hidden widths must be at most 16384"),
    ({"config": {"betta": 1}}, "field config: unknown config field(s): betta"),
    ({"status": "hacked"}, "field status must be one of"),
    ({"sweep_id": "x:y"}, "field sweep_id must be"),
    ({"error": 5}, "field error must be a string"),
    ({"note": "n" * 20_000}, "field note must be a string of at most 10000 characters"),
    ({"epochs": "all"}, "field epochs must be a list"),
    ({"epochs": [{"epoch": "one"}]}, "field epochs[0].epoch must be a finite number"),
    ({"epochs": [{"epoch": 1}, {"epoch": 0}]}, "field epochs[1].epoch must be an integer in 1..1000"),
    ({"progress": {"a": {"b": {"c": {"d": {"e": 1}}}}}}, "field progress.a.b.c.d must be JSON nested at most 4"),
    ({"stop_rule": {"kind": "nope"}}, "field stop_rule: "),
]


def test_malformed_fields_name_the_line_and_the_field(redis_conn):
    row = exported_row(redis_conn, seed=4)
    before = snapshot(redis_conn)
    for change, message in MALFORMED:
        with pytest.raises(ValueError) as err:
            transfer.import_runs(redis_conn, jsonl({**row, **change}))
        assert str(err.value).startswith("line 1: ") and message in str(err.value), str(err.value)
    assert snapshot(redis_conn) == before


def test_malformed_files_give_one_clear_error(redis_conn):
    row = exported_row(redis_conn, seed=5)
    cases = {
        "[" * 100_000 + "]" * 100_000: "line 1 is not valid JSON: nested too deeply",
        "[1, 2]\n": "line 1: a run must be a JSON object, got list",
        '{"id": 1': "line 1 is not valid JSON",
        jsonl({1: 2}).replace('"1"', "1"): "line 1 is not valid JSON",
        jsonl(row, "null"): "line 2: a run must be a JSON object, got NoneType",
    }
    for text, message in cases.items():
        with pytest.raises(ValueError) as err:
            transfer.import_runs(redis_conn, text)
        assert message in str(err.value), str(err.value)
    header = transfer.export_runs(redis_conn, "csv").splitlines()[0]
    with pytest.raises(ValueError, match=r"^CSV line 2: field larger than field limit"):
        transfer.import_runs(redis_conn, header + "\n" + "a" * 12 + ",finished,," + '"' + "x" * 140_000 + '"\n')
    with pytest.raises(ValueError, match=r"^CSV line 2 has more cells than the header"):
        transfer.import_runs(redis_conn, header + "\n" + ",".join(["x"] * 200) + "\n")
    with pytest.raises(ValueError, match=r"^CSV line 2: field id must be 12 lowercase hex digits"):
        transfer.import_runs(redis_conn, header + "\n" + "ab:checkpoint,finished,,5\n")


def test_an_import_takes_dedup_only_with_its_configs_real_hash(redis_conn):
    honest = exported_row(redis_conn, seed=6)
    forged = {**exported_row(redis_conn, seed=7), "id": "c" * 12, "config_hash": honest["config_hash"]}
    assert transfer.import_runs(redis_conn, jsonl(honest, forged)) == 2
    reused = submission.submit_run(redis_conn, RunConfig(seed=6))
    assert not reused.created and reused.record.id == honest["id"]  # a finished run with its own hash
    fresh = submission.submit_run(redis_conn, RunConfig(seed=7))
    assert fresh.created  # the forged record claimed another config's hash: it takes no dedup
    assert RunStore(redis_conn).get_run("c" * 12).config_hash == RunConfig(seed=7).config_hash()


def test_an_existing_id_is_skipped_and_left_as_it_is(redis_conn):
    store = RunStore(redis_conn)
    mine = submission.submit_run(redis_conn, RunConfig(seed=8)).record.id
    row = exported_row(redis_conn, seed=9)
    before = snapshot(redis_conn)
    assert transfer.import_runs(redis_conn, jsonl({**row, "id": mine, "status": "finished", "note": "x"})) == 0
    assert snapshot(redis_conn) == before and store.get_run(mine).status is RunStatus.QUEUED


def test_export_survives_records_it_cannot_read(redis_server, redis_conn):
    good = submission.submit_run(redis_conn, RunConfig(seed=10)).record.id
    store = RunStore(redis_conn)
    corrupt = {"d" * 12: {"schema": "x"}, "e" * 12: {"tags": "5"}, "f" * 12: {"created_at": "nan"},
               "0" * 12: {"config": "{not json"}, "1" * 12: {"last_metrics": "[1]"}}
    junk_stream = submission.submit_run(redis_conn, RunConfig(seed=11)).record.id
    redis_conn.xadd(Keys.metrics(junk_stream), {"kind": "epoch", "data": "{not json"})
    for run_id, damage in corrupt.items():
        redis_conn.hset(Keys.run(run_id), mapping={"id": run_id, "config": "{}", "config_hash": "h",
                                                   "status": "finished", "created_at": "1.0", **damage})
        redis_conn.zadd(Keys.runs, {run_id: 1.0})
    assert [r.id for r in store.list_runs()] == [junk_stream, good]
    assert set(store.unreadable) == set(corrupt) and "schema" in store.unreadable["d" * 12]
    skipped: dict = {}
    lines = transfer.export_runs(redis_conn, "jsonl", skipped=skipped).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [good] and set(skipped) == {*corrupt, junk_stream}
    assert "metrics stream cannot be read" in skipped[junk_stream]
    assert good in transfer.export_runs(redis_conn, "csv")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_server.url}
    out = subprocess.run([sys.executable, "-m", "workers", "export", "--format", "csv"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and good in out.stdout
    assert out.stderr.count("warning: left out run") == len(corrupt)  # CSV needs no metrics stream
    submission.delete_run(redis_conn, "d" * 12)  # a corrupt record can still be deleted
    assert not redis_conn.exists(Keys.run("d" * 12))
