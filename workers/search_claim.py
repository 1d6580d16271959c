"""One search driver per Redis: the claim a driver holds while it drives (`RunStore.claim_driver`).

Two drivers on one Redis (two stacks, a scaled compose service) would both advance every search:
trials asked twice, more running than `max_running`. A driver drives only while it holds the claim,
renewed from a thread (`keep_claim`); a second one stands by (`wait_for_turn`) and takes over
within `driver_ttl()` of the first one's death.
"""

from __future__ import annotations

import logging
import threading

import redis

from .connection import env_seconds
from .store import RunStore

log = logging.getLogger(__name__)

__all__ = ["driver_ttl", "keep_claim", "wait_for_turn"]


def driver_ttl() -> float:
    """$SPIKEBOARD_DRIVER_TTL: seconds the one driver's claim outlives its last renewal (10): after a
    kill -9, a standing-by driver takes over within that."""
    return env_seconds("SPIKEBOARD_DRIVER_TTL", 10.0)


def wait_for_turn(store: RunStore, name: str, ttl: float, stop: threading.Event) -> bool:
    """Block until `name` holds the claim (True) or `stop` is set (False), saying once that it stands by."""
    said = False
    while not stop.is_set():
        if store.claim_driver(name, ttl):
            return True
        if not said:
            log.warning("search driver %s: %s is driving the searches; standing by until it stops",
                        name, store.driver_alive())
            said = True
        stop.wait(1.0)
    return False


def keep_claim(store: RunStore, name: str, ttl: float, lost: threading.Event) -> None:
    """Renew the claim every third of its TTL until `lost` is set; set it if another driver holds it."""
    while not lost.wait(ttl / 3):
        try:
            held = store.claim_driver(name, ttl)
        except redis.RedisError as exc:
            log.warning("search driver %s: could not renew its claim (%s); retrying", name, exc)
            continue
        if not held:
            lost.set()
            return
