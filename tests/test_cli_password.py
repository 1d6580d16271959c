"""The CLI next to a running local stack finds the stack's Redis password (var/redis.password) when
REDIS_URL is unset, against a real password-protected redis-server (issue 21, item 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from workers.redis_server import free_port, start_redis

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def protected(tmp_path):
    """(port, var folder) of a redis-server that wants the password kept in var/redis.password."""
    var = tmp_path / "var"
    var.mkdir()
    (var / "redis.password").write_text("s3cret-pw\n")
    port = free_port()
    proc, _ = start_redis(var / "redis", port=port, password="s3cret-pw")
    yield port, var
    proc.terminate()
    proc.wait(timeout=10)


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return subprocess.run([sys.executable, "-m", "workers", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**base, "PYTHONPATH": str(ROOT), **env}, timeout=60)


def test_submit_and_status_read_the_stacks_password(protected):
    port, var = protected
    env = {"SPIKEBOARD_VAR": str(var), "SPIKEBOARD_REDIS_PORT": str(port)}
    submitted = cli("submit", "--epochs", "1", "--T", "5", **env)
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.strip()
    status = cli("status", run_id, **env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "queued"
    conn = redis.Redis(port=port, password="s3cret-pw")
    assert conn.exists(f"spikeboard:run:{run_id}")


def test_without_the_password_the_error_says_how_to_give_it(protected):
    port, _ = protected  # as the issue had it: the stack's server, the URL without its password
    missing = cli("submit", "--epochs", "1", REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert missing.returncode == 1
    assert "Redis wants a password" in missing.stderr and "REDIS_URL=redis://:PASSWORD@" in missing.stderr
    assert "var/redis.password" in missing.stderr and "Traceback" not in missing.stderr


def test_redis_url_wins_over_the_stacks_file(protected):
    port, var = protected
    wrong = cli("submit", "--epochs", "1", SPIKEBOARD_VAR=str(var), SPIKEBOARD_REDIS_PORT=str(port),
                REDIS_URL=f"redis://:wrong@127.0.0.1:{port}/0")
    assert wrong.returncode == 1 and "Redis wants a password" in wrong.stderr
