"""Dedup under contention, against a real redis-server: many submitters of one config make one run."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis

from snn_core.config import RunConfig
from workers import connection, submission
from workers.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(90)


def submit_together(url: str, config: RunConfig, n: int, **kw) -> list[submission.SubmitResult]:
    """`n` threads, each with its own connection, submit `config` at the same moment."""
    conns = [redis.Redis.from_url(url) for _ in range(n)]
    for c in conns:
        c.ping()  # connected before the barrier: the submits themselves race
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def go(i: int) -> None:
        barrier.wait()
        results[i] = submission.submit_run(conns[i], config, **kw)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    return results


def test_sixteen_threads_submitting_one_config_make_one_run(redis_server, redis_conn):
    for round_ in range(5):
        config = RunConfig(seed=round_, T=10)
        results = submit_together(redis_server.url, config, 16)
        assert sum(r.created for r in results) == 1, f"round {round_}"
        assert len({r.record.id for r in results}) == 1
    store = RunStore(redis_conn)
    assert store.count_runs() == 5 and connection.queue(redis_conn).count == 5


def test_forced_submits_each_make_a_run_and_the_hash_stays_with_the_first(redis_server, redis_conn):
    first = submission.submit_run(redis_conn, RunConfig(seed=50)).record.id
    results = submit_together(redis_server.url, RunConfig(seed=50), 8, force=True)
    assert all(r.created for r in results) and len({r.record.id for r in results}) == 8
    assert RunStore(redis_conn).find_by_hash(RunConfig(seed=50).config_hash()).id == first
    submission.cancel_run(redis_conn, first)  # a cancelled run gives way: one of the next submits takes the hash
    again = submit_together(redis_server.url, RunConfig(seed=50), 8)
    assert sum(r.created for r in again) == 1 and len({r.record.id for r in again}) == 1


def test_eight_cli_processes_submitting_one_config_make_one_run(redis_server, redis_conn):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_server.url}
    args = [sys.executable, "-m", "workers", "submit", "--seed", "77", "--T", "10"]
    procs = [subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    ids = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(ids) == 1 and RunStore(redis_conn).count_runs() == 1
