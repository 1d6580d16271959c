"""Workers run only Spikeboard's own jobs: anything else enqueued is refused, never run, and recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rq import Callback, Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from snn_core.config import RunConfig
from workers import connection, submission
from workers.admission import check_run_id
from workers.store import RunStatus, RunStore

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(90)


def test_foreign_jobs_are_refused_before_they_run_and_recorded(redis_server, redis_conn, workers, tmp_path):
    marker = tmp_path / "pwned"
    queue = Queue(connection.QUEUE, serializer=JSONSerializer, connection=redis_conn)
    foreign = [
        queue.enqueue("os.system", f"touch {marker}"),
        queue.enqueue("workers.jobs.train_run", "abcdefabcdef:checkpoint"),  # ours, with an id that builds keys
        queue.enqueue("workers.jobs.train_run", "0123456789ab", job_id="0123456789ab",
                      on_success=Callback("os.system")),  # ours, but RQ would import and call the callback
        queue.enqueue("workers.jobs.train_pack", f"touch {marker}"),
    ]
    ours = submission.submit_run(redis_conn, RunConfig(T=5, epochs=1, train_limit=64, test_limit=50)).record.id
    (proc,) = workers(1, burst=True)
    assert proc.wait(timeout=80) == 0

    assert not marker.exists(), "a foreign job ran on the worker"
    for job in foreign:
        job = Job.fetch(job.id, connection=redis_conn, serializer=JSONSerializer)
        assert job.get_status() == JobStatus.FAILED
        assert "refused by Spikeboard worker" in job.latest_result().exc_string
    refused = RunStore(redis_conn).refused_jobs()
    assert sorted(r["job_id"] for r in refused) == sorted(j.id for j in foreign)
    reasons = {r["job_id"]: r["reason"] for r in refused}
    assert "'os.system' is not a Spikeboard job" in reasons[foreign[0].id]
    assert "run id must be 12 lowercase hex digits, got 'abcdefabcdef:checkpoint'" in reasons[foreign[1].id]
    assert "callbacks (on_success)" in reasons[foreign[2].id]
    assert "takes a list of 1 to" in reasons[foreign[3].id]
    assert all(r["worker"] and r["at"] > 0 and r["func_name"] for r in refused)
    log = (tmp_path / "worker0.log").read_text()
    assert log.count("REFUSED job") == len(foreign), log[-3000:]
    # The worker refused and went on: Spikeboard's own job still trained.
    assert RunStore(redis_conn).get_run(ours).status is RunStatus.FINISHED
    shown = subprocess.run([sys.executable, "-m", "workers", "refused", "--redis-url", redis_server.url],
                           cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and len(shown.stdout.splitlines()) == len(foreign), shown.stderr
    assert json.loads(shown.stdout.splitlines()[-1])["job_id"] == foreign[0].id  # newest first


def test_run_ids_are_checked_against_the_pattern():
    assert check_run_id("0123456789ab") == "0123456789ab"
    for bad in ("0123456789AB", "0123456789a", "x:checkpoint", "../../etc", 12, None, ["0123456789ab"]):
        with pytest.raises(ValueError, match="run id must be 12 lowercase hex digits"):
            check_run_id(bad)
