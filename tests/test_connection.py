"""`workers.connection.redact`: the one masking of a Redis URL's password, for logs (workers) and pages (webui)."""

from __future__ import annotations

import socket

import pytest
from streamlit.testing.v1 import AppTest

from tests.pagekit import APP, TIMEOUT
from workers.connection import redact


@pytest.mark.parametrize("url, shown", [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("rediss://alice:s3cret@cache.example:6380/1", "rediss://alice:***@cache.example:6380/1"),
    ("redis://:pass%2Fword@host:6379/0", "redis://:***@host:6379/0"),
    ("unix://:s3cret@/run/redis.sock?db=0", "unix://:***@/run/redis.sock?db=0"),  # the workers' one showed it
    ("redis://host:6379/0?password=s3cret&db=2", "redis://host:6379/0?password=***&db=2"),
])
def test_redact_masks_the_password_wherever_a_url_carries_one(url, shown):
    assert redact(url) == shown


def test_the_app_shows_an_unreachable_redis_url_without_its_password(monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("REDIS_URL", f"redis://:s3cret@127.0.0.1:{port}/0")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    sidebar = [e.value for e in at.sidebar if hasattr(e, "value")]
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    error = at.error[0].value
    assert f"Cannot reach Redis at `redis://:***@127.0.0.1:{port}/0`" in error
    assert f"Redis: `redis://:***@127.0.0.1:{port}/0`" in sidebar and "s3cret" not in " ".join([error, *sidebar])
