"""The one-command stack starts Redis, a worker and the app, serves the health endpoint, stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from workers.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def wait_health(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the stack exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"no health answer on port {port} within {timeout}s")


@pytest.mark.timeout(90)
def test_stack_serves_the_app_and_stops_cleanly(tmp_path):
    assert (ROOT / "app.py").exists(), "app.py (the UI) is missing"
    web_port, redis_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PYTHONPATH=str(ROOT), SPIKEBOARD_WORKERS="1")
    log = open(tmp_path / "stack.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.stack", "--web-port", str(web_port), "--redis-port", str(redis_port),
         "--var", str(tmp_path / "var")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_health(web_port, proc, timeout=60)
        conn = redis.Redis(port=redis_port)
        assert conn.config_get("appendonly")["appendonly"] == "yes"
        deadline = time.monotonic() + 30
        while not conn.smembers("rq:workers") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert conn.smembers("rq:workers"), "no worker registered"
        time.sleep(1.0)  # let the worker finish starting, so the stop exercises its handler

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = (tmp_path / "stack.log").read_text(errors="replace")
    assert "redis-server stopped" in text, text[-2000:]
    assert (tmp_path / "var" / "redis").is_dir()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=redis_port, socket_connect_timeout=1).ping()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{web_port}/_stcore/health", timeout=2)
