"""Leases and fencing: who may train a run, and writes that only land while the writer holds it.

A lease is a key with a TTL holding a token (`Fence`); every write made under it runs in one Lua
script that checks the token first, so a process that lost its lease cannot write after its
successor started. `LeaseStore` is the part of `workers.store.RunStore` that does this; its keys
come from `workers.keys`. `Lease` is what a work horse holds while it trains: taken, renewed from a
thread, released.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from .keys import Keys, text as _text

__all__ = ["Fence", "LeaseLost", "LeaseStore", "Lease", "LeaseHeld"]

log = logging.getLogger(__name__)

# Leases (see `Fence`). KEYS: lease, fence. Every taker writes its token into both; the lease
# lapses with its TTL, the fence stays, so a holder that lapsed can tell whether anyone took over.
_TAKE_LUA = """
local cur = redis.call('GET', KEYS[1])
local mode = ARGV[1]
if mode == 'take' then
  if cur and string.sub(cur, 1, 6) ~= 'claim:' then return 0 end
elseif mode == 'claim' then
  if cur then return 0 end
else
  local last = redis.call('GET', KEYS[2])
  if not last or string.sub(last, 1, #ARGV[4]) ~= ARGV[4] then return 0 end
  if cur and cur ~= last then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""
# ARGV: token, ttl ms, number of commands, then each command as (argc, args...).
_FENCED_LUA = """
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then
  if cur or redis.call('GET', KEYS[2]) ~= ARGV[1] then return {0} end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
local out = {1}
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  local n = tonumber(ARGV[i])
  out[#out + 1] = redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return out
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Fence:
    """The token of one lease on one run (fencing): every write made under the lease carries it, and
    Redis checks it first, in the same script as the write. A process that lost its lease (it lapsed
    while Redis was away, and a reaper requeued the run) has its writes refused, so it cannot write
    after its successor started. Tokens read `kind:holder:random`, kind `horse` or `claim`."""

    run_id: str
    token: str
    ttl_ms: int

    @classmethod
    def new(cls, run_id: str, holder: str, kind: str, ttl: float) -> "Fence":
        return cls(run_id, f"{kind}:{holder}:{secrets.token_hex(8)}", max(1, int(ttl * 1000)))

    @property
    def holder(self) -> str:
        return self.holder_of(self.token)

    @staticmethod
    def holder_of(token: str) -> str:
        return token.split(":", 1)[-1].rsplit(":", 1)[0]


class LeaseLost(RuntimeError):
    """A write under a lease found that another process has taken the lease since."""

    def __init__(self, run_id: str, holder: str | None):
        super().__init__(f"run {run_id}: lease lost (now held by {holder or 'nobody'})")
        self.run_id, self.holder = run_id, holder


class LeaseStore:
    """The cancel flag, the lease of each run and fenced writes; a part of `RunStore` (on `self.conn`)."""

    conn: redis.Redis

    def request_cancel(self, run_id: str) -> None:
        self.conn.set(Keys.cancel(run_id), "1")

    def cancel_requested(self, run_id: str) -> bool:
        return bool(self.conn.exists(Keys.cancel(run_id)))

    def cancels_requested(self, run_ids: list[str]) -> list[bool]:
        """`cancel_requested` of several runs in one round trip."""
        pipe = self.conn.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.exists(Keys.cancel(run_id))
        return [bool(n) for n in pipe.execute()]

    def clear_cancel(self, run_id: str) -> None:
        self.conn.delete(Keys.cancel(run_id))

    def expect_horse(self, run_id: str) -> None:
        """A horse holds the run's job and waits for its lease (a settler still has it): should that horse
        die, the reapers find the queued run among the active ones, nobody's lease on it, and queue it again."""
        self.conn.sadd(Keys.active, run_id)

    def forget_active(self, run_id: str) -> None:
        """Drop a run that is no longer running, interrupted or awaited from the reapers' set."""
        self.conn.srem(Keys.active, run_id)

    def take_lease(self, run_id: str, holder: str, ttl: float) -> Fence | None:
        """Lease `run_id` to a work horse: only if nobody holds it, or only a claim does (the reaper or
        worker that requeued it). Returns the fence its writes must carry, or None if another horse has it."""
        return self._lease_script("take", run_id, holder, ttl, "horse")

    def claim_lease(self, run_id: str, claimer: str, ttl: float) -> Fence | None:
        """Take the lease only if nobody holds it (so one reaper, not all, requeues a run)."""
        return self._lease_script("claim", run_id, claimer, ttl, "claim")

    def take_over_lease(self, run_id: str, worker: str, ttl: float) -> Fence | None:
        """A worker inherits the lease of its own horse that has exited: only if that horse was the last to
        take it (whether it still runs or lapsed). None when someone else has taken the run since."""
        return self._lease_script("over", run_id, worker, ttl, "claim")

    def renew_lease(self, fence: Fence) -> bool:
        """Extend `fence`'s lease; False if it was lost (another process has taken the run since)."""
        return self._fenced(fence, [("PEXPIRE", Keys.lease(fence.run_id), fence.ttl_ms)]) is not None

    def holds_lease(self, fence: Fence) -> bool:
        return self._fenced(fence, []) is not None

    def lease_holder(self, run_id: str) -> str | None:
        """Who holds the lease now (a worker name, or `reaper:<name>`/`worker:<name>` for a claim)."""
        token = self.conn.get(Keys.lease(run_id))
        return Fence.holder_of(_text(token)) if token is not None else None

    def release_lease(self, fence: Fence) -> None:
        """Drop the lease if `fence` still holds it (a lost lease is left to its new holder)."""
        self.conn.eval(_RELEASE_LUA, 1, Keys.lease(fence.run_id), fence.token)

    def _lease_script(self, mode: str, run_id: str, holder: str, ttl: float, kind: str) -> Fence | None:
        fence = Fence.new(run_id, f"worker:{holder}" if mode == "over" else holder, kind, ttl)
        prefix = f"horse:{holder}:" if mode == "over" else ""
        ok = self.conn.eval(_TAKE_LUA, 2, Keys.lease(run_id), Keys.fence(run_id), mode, fence.token,
                            fence.ttl_ms, prefix)
        return fence if ok else None

    def _fenced(self, fence: Fence | None, commands: list[tuple]) -> list | None:
        """Run `commands` atomically; with a fence, only while it holds the lease (None if it does not).

        A fenced write retaken after a lapse (Redis was away longer than the TTL) succeeds only if
        nobody took the lease in between: the `fence` key keeps the token of the last taker.
        """
        if fence is None:
            pipe = self.conn.pipeline()
            for command in commands:
                pipe.execute_command(*command)
            return pipe.execute()
        flat: list = []
        for command in commands:
            flat += [len(command), *command]
        out = self.conn.eval(_FENCED_LUA, 2, Keys.lease(fence.run_id), Keys.fence(fence.run_id), fence.token,
                             fence.ttl_ms, len(commands), *flat)
        return list(out[1:]) if out and out[0] == 1 else None

    def _write(self, fence: Fence | None, run_id: str, commands: list[tuple]) -> list:
        """`_fenced`, raising LeaseLost when the fence no longer holds the lease."""
        if fence is not None and fence.run_id != run_id:
            raise ValueError(f"fence is for run {fence.run_id!r}, not {run_id!r}")
        out = self._fenced(fence, commands)
        if out is None:
            raise LeaseLost(run_id, self.lease_holder(run_id))
        return out

    def count_horse_death(self, run_id: str, fence: Fence) -> int:
        """Count one more death of the work horse training `run_id` (its kill count so far)."""
        return int(self._write(fence, run_id, [("INCR", Keys.horse_deaths(run_id))])[0])


class LeaseHeld(RuntimeError):
    """Another work horse holds the run's lease: this one must not train it."""


class Lease:
    """The run's lease, renewed from a thread so a long batch or evaluation never lets it lapse.

    `fence` goes with every write (see `store.Fence`). `lost` is set once a renewal finds the
    lease taken by someone else; the horse then stops at its next batch without writing.
    """

    def __init__(self, store: LeaseStore, run_id: str, holder: str, ttl: float,
                 settling: Callable[[], bool] | None = None, patience: float = 0.0):
        self.store, self.run_id, self.holder, self.ttl = store, run_id, holder, ttl
        self.settling, self.patience = settling, patience
        self.fence: Fence | None = None
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)
        self.handed_over = False  # `hand_over`: another process releases it

    def __enter__(self) -> "Lease":
        """Take the lease. While `settling()` says its holder has written the run's end and is only
        settling it, wait up to `patience` s for it to let go instead of refusing at once."""
        deadline = time.monotonic() + self.patience
        self.fence = self.store.take_lease(self.run_id, self.holder, self.ttl)
        while self.fence is None and self.settling is not None and time.monotonic() < deadline and self.settling():
            time.sleep(0.05)
            self.fence = self.store.take_lease(self.run_id, self.holder, self.ttl)
        if self.fence is None:
            raise LeaseHeld(f"run {self.run_id} is being trained by {self.store.lease_holder(self.run_id)}")
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._done.wait(self.ttl / 3):
            try:
                held = self.store.renew_lease(self.fence)
            except redis.RedisError as exc:  # the patient connection waits out outages; anything else: retry
                log.warning("run %s: could not renew its lease (%s); retrying", self.run_id, exc)
                continue
            if not held:
                log.warning("run %s: lease lost to %s; this horse stops without writing",
                            self.run_id, self.store.lease_holder(self.run_id))
                self.lost.set()
                return

    def __exit__(self, *exc) -> None:
        self.pause()
        if not self.handed_over:
            self.store.release_lease(self.fence)

    # A horse hands its leases to a settler process (`workers.settler`): it stops renewing before it
    # forks (a fork copies no thread, and none may hold a lock across it), the settler renews them from
    # its own thread and releases them, and the horse exits without releasing.

    def pause(self) -> None:
        """Stop renewing (the lease holds for its TTL from the last renewal)."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def hand_over(self) -> None:
        """This process lets go without releasing: another one holds the lease on from here."""
        self.pause()
        self.handed_over = True

    def renew_here(self) -> None:
        """In a forked process: renew this lease from a thread of its own until `__exit__`."""
        self._done, self.lost = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{self.run_id}", daemon=True)
        self._thread.start()
