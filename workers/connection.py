"""The Redis connection and the job queue, and the settings workers read from the environment.

No torch here (the web container has none). Jobs go through RQ with the JSON serializer, so
nothing pickled crosses Redis.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue
from rq.serializers import JSONSerializer

QUEUE = "spikeboard"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"

_log = logging.getLogger(__name__)


class PatientRetry(Retry):
    """Retry a command for as long as Redis is away (backoff capped at 2 s), saying so in the log.

    Workers use it: an outage of any length pauses them instead of failing a run or ending the
    worker. `last_outage_end()` tells the reaper when Redis last came back (see `workers.worker`).
    """

    log_every_s = 30.0
    _last_failure = float("-inf")  # monotonic time of the latest failed attempt in this process

    def __init__(self, where: str):
        super().__init__(ExponentialBackoff(cap=2.0, base=0.05), -1)
        self.where = where

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):
        state = {"since": None, "logged": 0.0}

        def attempt():
            result = do()
            if state["since"] is not None:
                _log.warning("Redis at %s is back after %.1f s", self.where, time.monotonic() - state["since"])
            return result

        def failed(error, *count):
            now = time.monotonic()
            PatientRetry._last_failure = now
            if state["since"] is None:
                state["since"] = now
            if now - state["logged"] >= self.log_every_s:
                state["logged"] = now
                _log.warning("Redis at %s is unreachable (%s); waiting for it (retrying every <= 2 s)",
                             self.where, error)
            return fail(error, *count) if count else fail(error)

        return super().call_with_retry(attempt, failed, is_retryable, with_failure_count)


def last_outage_end() -> float:
    """Monotonic time of this process's latest failed Redis attempt (-inf if none failed)."""
    return PatientRetry._last_failure


def redact(url: str) -> str:
    """`url` with its password replaced by ***, for logs, messages and pages: in the user-info part
    (redis://user:secret@host, rediss://:secret@host, unix://:secret@/path; a password may hold a /) and
    in a ?password= query argument (redis-py reads one there too)."""
    url = re.sub(r"(^[a-z][a-z0-9+.-]*://[^:/@]*:)[^@]*@", r"\1***@", url, flags=re.I)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.I)


def connect(url: str | None = None, *, patient: bool = False) -> redis.Redis:
    """A bytes-returning connection to `url`, else $REDIS_URL, else redis://localhost:6379/0.

    `patient` (workers): commands wait for Redis however long it is away (`PatientRetry`), so an
    outage pauses a run instead of failing it. The web side stays impatient: it says at once that
    Redis is unreachable.
    """
    url = url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    kwargs: dict[str, Any] = {}
    if patient:
        kwargs["retry"] = PatientRetry(redact(url))
    return redis.Redis.from_url(url, health_check_interval=30, **kwargs)


def env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {raw!r}")
    return value


def lease_ttl() -> float:
    """$SPIKEBOARD_LEASE_TTL: seconds a run's lease lasts unless its horse renews it (15)."""
    return env_seconds("SPIKEBOARD_LEASE_TTL", 15.0)


def queue(conn: redis.Redis, name: str = QUEUE) -> Queue:
    return Queue(name, connection=conn, serializer=JSONSerializer)
