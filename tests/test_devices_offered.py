"""Workers say which devices they train on; submission, capacity and the Launch form go by it."""

from __future__ import annotations

import time

import pytest

from snn_core.config import RunConfig
from workers import capacity, submission
from workers.store import RunStore
from tests.pagekit import page, widget


def wait_for_offer(conn, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while not (offers := capacity.offered_devices(conn)):
        assert time.monotonic() < deadline, "no worker published its devices"
        time.sleep(0.2)
    return offers


def test_a_cuda_run_is_refused_when_no_live_worker_has_a_gpu(redis_conn, workers):
    assert capacity.check_device(redis_conn, RunConfig(device="cuda")).startswith("No worker is running now")
    workers(1)
    offers = wait_for_offer(redis_conn)
    (devices,) = offers.values()
    assert devices[:2] == ["auto", "cpu"]  # the test machines have no GPU
    if "cuda" in devices:
        pytest.skip("this machine's worker has a GPU")
    with pytest.raises(ValueError, match=r"device must be one a live worker offers \(auto, cpu\), got 'cuda'"):
        submission.submit_run(redis_conn, RunConfig(device="cuda", epochs=1))
    with pytest.raises(ValueError, match="got 'cuda'"):
        submission.submit_sweep(redis_conn, RunConfig(device="cuda", epochs=1), {"beta": [0.5, 0.9]})
    assert RunStore(redis_conn).count_runs() == 0 and not RunStore(redis_conn).list_sweeps()
    assert submission.submit_run(redis_conn, RunConfig(device="cpu", epochs=1)).created
    assert [w["devices"] for w in capacity.live_workers(redis_conn)] == [devices]


def test_offers_lapse_unless_renewed(redis_conn):
    store = RunStore(redis_conn)
    store.offer_devices("w-gpu", ["auto", "cpu", "cuda"], ttl=0.3)
    store.offer_devices("w-cpu", ["auto", "cpu"], ttl=60)
    assert store.offered_devices() == {"w-gpu": ["auto", "cpu", "cuda"], "w-cpu": ["auto", "cpu"]}
    assert capacity.check_device(redis_conn, RunConfig(device="cuda")) is None
    time.sleep(0.4)
    assert store.offered_devices() == {"w-cpu": ["auto", "cpu"]}
    with pytest.raises(ValueError, match="no running worker has cuda"):
        capacity.check_device(redis_conn, RunConfig(device="cuda"))


def test_the_form_offers_the_devices_the_workers_have(store):
    at = page("pages/launch.py")
    assert widget(at, "selectbox", "f_device").options == ["auto", "cpu", "cuda", "mps"]
    assert any("No worker is running now" in c.value for c in at.caption)
    widget(at, "selectbox", "f_device").set_value("cuda").run()
    assert any("waits in the queue until a worker that offers cuda starts" in w.value for w in at.warning)

    store.offer_devices("w1", ["auto", "cpu"], ttl=60)
    at = page("pages/launch.py")
    assert widget(at, "selectbox", "f_device").options == ["auto", "cpu"]
    assert any("1 live worker offers: auto, cpu (no GPU on any of them" in c.value for c in at.caption)
