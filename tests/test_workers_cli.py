"""`python -m workers` subcommands, run as the user would, against a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workers import connection
from workers.store import RunStatus, RunStore

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(60)


def cli(redis_server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_server.url}
    return subprocess.run([sys.executable, "-m", "workers", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=30)


def test_submit_status_cancel_export_import(redis_server, redis_conn, tmp_path):
    out = cli(redis_server, "submit", "--beta", "0.9", "--T", "20", "--hidden", "16,8", "--tag", "cli")
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip()
    record = RunStore(redis_conn).get_run(run_id)
    assert record.config["beta"] == 0.9 and record.config["T"] == 20 and record.config["hidden"] == [16, 8]
    assert record.tags == ["cli"]

    again = cli(redis_server, "submit", "--beta", "0.9", "--T", "20", "--hidden", "16,8")
    assert again.stdout.strip() == run_id and "identical run exists" in again.stderr

    status = json.loads(cli(redis_server, "status", run_id).stdout)
    assert status["id"] == run_id and status["status"] == "queued"

    cancelled = cli(redis_server, "cancel", run_id)
    assert cancelled.stdout.strip() == f"{run_id} cancelled"
    assert connection.queue(redis_conn).count == 0

    exported = cli(redis_server, "export", "--format", "csv").stdout
    assert exported.splitlines()[0].startswith("id,status") and run_id in exported
    path = tmp_path / "runs.jsonl"
    assert cli(redis_server, "export", "--output", str(path)).returncode == 0
    RunStore(redis_conn).delete_run(run_id)
    assert cli(redis_server, "import", str(path)).stdout.strip() == "imported 1 run(s)"
    assert RunStore(redis_conn).get_run(run_id).status is RunStatus.CANCELLED


def test_submit_with_a_stop_rule_keeps_it_in_the_record_and_refuses_a_bad_one(redis_server, redis_conn):
    rule = '{"layer": "output", "condition": "silent", "epochs": 2}'
    out = cli(redis_server, "submit", "--v-th", "5", "--stop-rule", rule)
    assert out.returncode == 0, out.stderr
    record = RunStore(redis_conn).get_run(out.stdout.strip())
    assert record.stop_rule == {"layer": "output", "condition": "silent", "epochs": 2, "share": 1.0}
    same = cli(redis_server, "submit", "--v-th", "5")  # the rule lives in the record, not in the config hash
    assert same.stdout.strip() == record.id and "identical run exists" in same.stderr
    before = redis_conn.dbsize()
    bad = cli(redis_server, "submit", "--beta", "0.6", "--stop-rule", '{"layer": "middle"}')
    assert bad.returncode == 2 and "stop rule layer must be one of output, hidden, any; got 'middle'" in bad.stderr
    bad = cli(redis_server, "submit", "--beta", "0.6", "--stop-rule", "{epochs: 2")
    assert bad.returncode == 2 and "stop rule must be a JSON object, got '{epochs: 2'" in bad.stderr
    deep = cli(redis_server, "submit", "--stop-rule", "[" * 100_000)
    assert deep.returncode == 2 and "stop rule must be a JSON object" in deep.stderr and "Traceback" not in deep.stderr
    nan = cli(redis_server, "submit", "--stop-rule", '{"share": NaN}')
    assert nan.returncode == 2 and "stop rule share must be in (0, 1], got nan" in nan.stderr
    assert redis_conn.dbsize() == before  # nothing stored for any of them


def test_the_surrogate_and_encoder_choices_come_from_the_tables(redis_server, redis_conn):
    from snn_core.encoder_table import Encoder
    from snn_core.surrogate_table import SURROGATES

    help_text = " ".join(cli(redis_server, "submit", "--help").stdout.split())  # argparse wraps lines
    assert all(s.value in help_text and spec.formula in help_text for s, spec in SURROGATES.items())
    assert "|".join(e.value for e in Encoder) in help_text
    out = cli(redis_server, "submit", "--surrogate", "arctan", "--T", "7")
    assert out.returncode == 0, out.stderr
    config = RunStore(redis_conn).get_run(out.stdout.strip()).config
    assert config["surrogate"] == "arctan" and config["T"] == 7
    before = redis_conn.dbsize()
    bad = cli(redis_server, "submit", "--surrogate", "relu")
    assert bad.returncode == 2 and "surrogate must be one of sigmoid, fast_sigmoid, arctan; got 'relu'" in bad.stderr
    assert redis_conn.dbsize() == before


def test_bad_input_exits_2_naming_field_and_value(redis_server, redis_conn):
    out = cli(redis_server, "submit", "--beta", "1.7")
    assert out.returncode == 2 and "beta must be in (0, 1], got 1.7" in out.stderr
    out = cli(redis_server, "status", "nope")
    assert out.returncode == 2 and "run_id not found: 'nope'" in out.stderr
    assert redis_conn.dbsize() == 0


def test_a_bad_option_prints_one_line(redis_server, redis_conn):
    for args, message in ((("submit", "--bogus"), "error: unrecognized arguments: --bogus"),
                          (("submit", "--beta", "x"), "error: argument --beta: invalid float value: 'x'"),
                          (("export", "--format", "xml"), "error: argument --format: invalid choice: 'xml'"),
                          (("status",), "error: the following arguments are required: run_id")):
        out = cli(redis_server, *args)
        assert out.returncode == 2 and out.stderr.startswith(message), out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "usage:" in cli(redis_server, "submit", "--help").stdout  # help still shows everything
    assert redis_conn.dbsize() == 0
    train = subprocess.run([sys.executable, "-m", "snn_core.train", "--T", "many"], cwd=ROOT, capture_output=True,
                           text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert train.returncode == 2 and train.stderr.startswith("error: argument --T: invalid int value: 'many'")
    assert len(train.stderr.strip().splitlines()) == 1


def test_submitted_limits_and_data_dir_are_refused_before_redis(redis_server, redis_conn):
    for args, message in ((("--hidden", "1000000"), "hidden widths must be at most 16384"),
                          (("--epochs", "1000000"), "epochs must be at most 1000"),
                          (("--seed", str(2**60)), "seed must be an integer in 0..2147483647"),
                          (("--data-dir", "/etc"), "data_dir must be empty")):
        out = cli(redis_server, "submit", *args)
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    assert redis_conn.dbsize() == 0


def test_unreachable_redis_is_one_error_line(tmp_path):
    from workers.redis_server import free_port

    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    for args in (("status", "0123456789ab"), ("submit", "--beta", "0.9"), ("export",)):
        out = subprocess.run([sys.executable, "-m", "workers", *args], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 1, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out.stderr, (args, out.stderr)
        assert lines[0].startswith("error: Redis") and "REDIS_URL" in lines[0], lines
