"""Shared fixtures: a real redis-server per test, and small synthetic data in torchvision's layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def redis_server(tmp_path):
    """A fresh real redis-server (append-only) on a free port; yields an object with .url, .proc, .dir."""
    from workers.redis_server import start_redis

    class Server:
        def __init__(self):
            self.dir = tmp_path / "redis"
            self.proc, self.url = start_redis(self.dir)
            self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

        def restart(self):
            """Stop the server (SHUTDOWN, keeping the AOF) and start it again on the same port."""
            from workers.redis_server import start_redis as _start
            import redis

            try:
                redis.Redis.from_url(self.url).shutdown(nosave=False)
            except redis.ConnectionError:
                pass
            self.proc.wait(timeout=10)
            self.proc, self.url = _start(self.dir, port=self.port)

        def stop(self):
            if self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait(timeout=10)

    server = Server()
    yield server
    server.stop()


@pytest.fixture
def redis_conn(redis_server):
    import redis

    conn = redis.Redis.from_url(redis_server.url)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory) -> Path:
    """A small learnable 10-class dataset (2,000 train / 500 test) in MNIST's raw layout.

    Session-scoped because it is read-only and slow-ish to write; tests never modify it.
    """
    from snn_core.data import make_synthetic

    return make_synthetic(tmp_path_factory.mktemp("synthetic"), n_train=2000, n_test=500, seed=0)


@pytest.fixture
def workers(redis_server, synthetic_data_dir, tmp_path):
    """Start `python -m workers` subprocesses: workers(n=1, burst=False, **env) -> list of Popen."""
    procs: list[subprocess.Popen] = []
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_server.url,
        "SPIKEBOARD_DATA_DIR": str(synthetic_data_dir), "SPIKEBOARD_REAP_INTERVAL": "0.5",
        "SPIKEBOARD_LEASE_TTL": "2", "SPIKEBOARD_METRIC_INTERVAL": "0.1", "SPIKEBOARD_TORCH_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        # A run's horse waits this long after its last write before exiting (workers.replay); the 3 s
        # default would add 3 s to every run here. test_replay sets it back where a crash is planted.
        "SPIKEBOARD_DURABLE_S": "0.5",
    }

    def start(n: int = 1, burst: bool = False, **extra_env: str) -> list[subprocess.Popen]:
        new = []
        for _ in range(n):
            log = open(tmp_path / f"worker{len(procs)}.log", "wb")
            args = [sys.executable, "-m", "workers", *(["--burst"] if burst else [])]
            proc = subprocess.Popen(args, cwd=ROOT, env={**env, **extra_env}, stdout=log, stderr=subprocess.STDOUT)
            procs.append(proc)
            new.append(proc)
        return new

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def store(redis_server, redis_conn, monkeypatch):
    """The run store of a fresh Redis that the app (REDIS_URL) talks to too."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    from workers.store import RunStore

    return RunStore(redis_conn)
