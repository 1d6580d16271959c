"""The one-command stack: Redis with a password, a worker and the app on 127.0.0.1, Redis restarted if it dies,
and a clean stop that shuts down only the Redis the stack started."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from bench.procs import wait_health
from workers.redis_server import free_port, load_or_create_password, shutdown_if_ours

ROOT = Path(__file__).resolve().parents[1]


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.timeout(120)
def test_stack_serves_the_app_guards_its_redis_and_stops_cleanly(tmp_path):
    assert (ROOT / "app.py").exists(), "app.py (the UI) is missing"
    web_port, redis_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SPIKEBOARD_WEB_ADDRESS")}
    # A venv's python called by its path, not activated: nothing of the venv (streamlit) on the PATH.
    env.update(PYTHONPATH=str(ROOT), SPIKEBOARD_WORKERS="1", PATH="/usr/bin:/bin")
    assert shutil.which("streamlit", path=env["PATH"]) is None
    log = open(tmp_path / "stack.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.stack", "--web-port", str(web_port), "--redis-port", str(redis_port),
         "--var", str(tmp_path / "var")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_health(f"http://127.0.0.1:{web_port}/_stcore/health", proc, timeout=60)
        assert listening_addresses(web_port) == {"0100007F"}, "the app listens beyond 127.0.0.1"
        password_file = tmp_path / "var" / "redis.password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 32
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=redis_port).ping()
        conn = redis.Redis(port=redis_port, password=password)
        assert conn.config_get("appendonly")["appendonly"] == "yes"
        deadline = time.monotonic() + 30
        while not conn.smembers("rq:workers") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert conn.smembers("rq:workers"), "no worker registered"

        # Redis dies: the stack starts it again on the same port, with the same data and password.
        conn.set("spikeboard:stack-test", "kept")
        first_pid = conn.info("server")["process_id"]
        os.kill(first_pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if conn.info("server")["process_id"] != first_pid:
                    break
            except redis.ConnectionError:
                time.sleep(0.2)
        assert conn.info("server")["process_id"] != first_pid, "the stack did not restart its Redis"
        assert conn.get("spikeboard:stack-test") == b"kept"
        time.sleep(1.0)  # let the worker reconnect, so the stop exercises its handler

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = (tmp_path / "stack.log").read_text(errors="replace")
    assert "redis-server stopped" in text and "starting it again" in text, text[-2000:]
    assert password not in text, "the password was printed"
    assert (tmp_path / "var" / "redis").is_dir()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=redis_port, socket_connect_timeout=1).ping()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{web_port}/_stcore/health", timeout=2)


def test_the_redis_password_is_made_once_and_kept_owner_only(tmp_path):
    path = tmp_path / "var" / "redis.password"
    first = load_or_create_password(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and load_or_create_password(path) == first
    path.chmod(0o644)
    assert load_or_create_password(path) == first and stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("")
    with pytest.raises(RuntimeError, match="is empty"):
        load_or_create_password(path)


def test_only_a_redis_the_stack_started_is_shut_down(redis_server):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not shutdown_if_ours(redis_server.url, stranger)  # e.g. a Redis restarted on our port by hand
        assert redis.Redis.from_url(redis_server.url).ping()
    finally:
        stranger.kill()
        stranger.wait()
    assert shutdown_if_ours(redis_server.url, redis_server.proc)
    assert redis_server.proc.poll() is not None
