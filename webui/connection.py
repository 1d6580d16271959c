"""The web side's Redis connection: one client per URL for the whole server (st.cache_resource),
and the message shown instead of a stack trace when Redis cannot be reached."""

from __future__ import annotations

import functools
import os
from typing import Callable, TypeVar

import redis
import streamlit as st

from workers.connection import DEFAULT_REDIS_URL, connect, redact
from workers.store import RunStore

DEFAULT_URL = DEFAULT_REDIS_URL
F = TypeVar("F", bound=Callable)


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_URL


@st.cache_resource(show_spinner=False)
def client(url: str) -> redis.Redis:
    # A redis-py client reconnects by itself, so one cached client survives Redis restarts.
    return connect(url)


def connection() -> redis.Redis:
    return client(redis_url())


def show_unreachable(exc: BaseException) -> None:
    st.error(
        f"**Cannot reach Redis at `{redact(redis_url())}`** ({type(exc).__name__}: {exc}).\n\n"
        "Start the stack with `python -m workers.stack`, or point `REDIS_URL` at a running "
        "Redis server, then retry. This page recovers by itself once Redis answers.",
        icon=":material/cloud_off:",
    )
    st.button("Retry", key="redis_retry")


def reachable() -> bool:
    """True if Redis answers a PING; otherwise show the unreachable message and return False."""
    try:
        connection().ping()
    except redis.RedisError as exc:
        show_unreachable(exc)
        return False
    return True


def store_or_stop() -> RunStore:
    """The run store, or stop the page after showing why Redis could not be reached."""
    if not reachable():
        st.stop()
    return RunStore(connection())


def guarded(func: F) -> F:
    """Show the unreachable message instead of a traceback if Redis drops mid-render.

    Fragments rerun outside the page's own try block, so their bodies need this too."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except redis.ConnectionError as exc:
            show_unreachable(exc)
            return None

    return wrapper  # type: ignore[return-value]
