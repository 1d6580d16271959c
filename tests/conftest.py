"""Shared fixtures: a real redis-server per test, and small synthetic data in torchvision's layout."""

from __future__ import annotations

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
