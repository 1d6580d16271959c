"""Process helpers the tests and the benchmarks share: start a process in its own session (a worker,
the app, the stack) and stop its whole group, wait for a condition, wait for a web app's health.

Redis servers come from `workers.redis_server.start_redis` (the stack uses it too). This module lives
in bench/ because the tests import bench/ already (tests/test_bench.py) while bench/ never imports
tests/; it needs no torch and no pytest, so any bench script or test can take it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class WaitTimeout(AssertionError):
    """`wait_for` ran out of time. An AssertionError, so pytest reports it as the failed expectation."""


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """`args` run in the repository root in a session of its own (so `stop` ends its children too),
    its output into `log`."""
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM `proc`'s process group (a worker finishes its batch and hands its run back), SIGKILL
    after `timeout` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(predicate, timeout: float, what: str = "the condition", interval: float = 0.05):
    """The first truthy value of `predicate()`, polled every `interval` s; WaitTimeout after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what}")


def wait_health(url: str, proc: subprocess.Popen, timeout: float) -> None:
    """Wait until `url` (a Streamlit app's /_stcore/health) answers 200, while `proc` (what serves it) runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited (status {proc.returncode}) before it answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise WaitTimeout(f"no health answer from {url} within {timeout}s")
