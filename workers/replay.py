"""Writes a Redis crash may have lost, written again: a run's journal of its recent writes.

Redis with `appendfsync everysec` acknowledges a write before it is on disk, so a crash (kill -9,
power loss) can drop about the last 2 s of acknowledged writes: batch points, an epoch entry, the
checkpoint, probes, record fields such as a finished run's status. A horse's `Journal` numbers every
fenced write of its run and keeps each one until it is durable; Redis keeps the number of the last
write that landed (`run:{id}:seq`), set in the same script as the write.

- Every journaled write runs in one Lua script that checks the fence (as `workers.fencing` does) and
  that the stored number is the previous write's. A crash that lost writes shows as a gap at the
  next write (whenever Redis came back and whatever version it is: no WAITAOF, no restart watch);
  the journal then writes the lost ones again, in order, each under its own number, and only then
  the new one. A write whose number is already stored is never written twice.
- Stream entries are written again under the ids Redis first gave them: the lost ones were the
  stream's tail, so a reader that saw a point before the crash does not see it twice.
- A write is durable once Redis, seen holding it (the number check passed), has had it for longer
  than `SPIKEBOARD_DURABLE_S` (3 s, safely over everysec's ~2 s window); older entries are dropped.
- `settle` waits out that window after a run's last write (its final status) and checks again, so a
  run that finished just before a crash does not come back as running and get trained again. It
  does not wait where waiting cannot help (`waiting_helps`: `appendfsync always`, or no AOF at all).
  The horse keeps the run's lease while it settles; a job for the run queued meanwhile (a search
  promoting a held run) waits for the lease rather than being dropped (`workers.jobs._lease`).

A horse that lost its lease replays nothing: every replayed write is fenced. What no journal can
restore: writes of a horse that died with Redis (or before settling); a requeued run then resumes
from its checkpoint and republishes the checkpoint's epochs (`Publisher.backfill`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from .fencing import Fence, LeaseLost
from .keys import Keys, text as _text
from .connection import env_seconds
from .store import RunStore

__all__ = ["Journal", "JournaledStore", "durable_window", "settle_all"]

log = logging.getLogger(__name__)

# KEYS: lease, fence, seq. ARGV: token, ttl ms, previous number, this number, number of commands, then
# each command as (argc, args...). {0}: the fence lost its lease; {-1, stored}: the stored number is
# not the previous one (writes were lost, or this one is already in); {1, replies...}: written.
_SEQUENCED_LUA = """
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then
  if cur or redis.call('GET', KEYS[2]) ~= ARGV[1] then return {0} end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
local stored = redis.call('GET', KEYS[3]) or '0'
if stored ~= ARGV[3] then return {-1, stored} end
local out = {1}
local i = 6
for _ = 1, tonumber(ARGV[5]) do
  local n = tonumber(ARGV[i])
  out[#out + 1] = redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
redis.call('SET', KEYS[3], ARGV[4])
return out
"""


def durable_window() -> float:
    """$SPIKEBOARD_DURABLE_S: seconds after which Redis is trusted to have a write on disk (3)."""
    return env_seconds("SPIKEBOARD_DURABLE_S", 3.0)


@dataclass
class _Entry:
    seq: int
    commands: list[tuple]
    at: float  # monotonic time Redis acknowledged it


class Journal:
    """The numbered, not yet durable writes of one run under one fence (see the module docstring)."""

    def __init__(self, store: RunStore, run_id: str, fence: Fence, window: float | None = None):
        self.conn, self.run_id, self.fence = store.conn, run_id, fence
        self.window = durable_window() if window is None else window
        self.entries: list[_Entry] = []
        self.seq = int(self.conn.get(Keys.write_seq(run_id)) or 0)
        self.replayed = 0  # writes written again after a loss (for logs and tests)
        self.store = JournaledStore(store.conn, self)

    def write(self, commands: list[tuple]) -> list:
        """Run `commands` as this run's next write, first writing again any the store has lost."""
        entry = _Entry(self.seq + 1, list(commands), 0.0)
        out = self._send(entry, self.seq)
        if out is None:
            self._replay()
            entry.seq = self.seq + 1
            out = self._send(entry, self.seq)
            if out is None:
                raise RuntimeError(f"run {self.run_id}: write {entry.seq} still finds another write number "
                                   "after replaying; is a second process writing this run?")
        self.seq = entry.seq
        now = time.monotonic()
        entry.at = now
        entry.commands = [_with_id(c, r) for c, r in zip(entry.commands, out)]
        self.entries = [e for e in self.entries if now - e.at <= self.window] + [entry]
        return out

    def check(self) -> int:
        """Write again whatever the store has lost of this journal; the number written again."""
        before = self.replayed
        if self._stored() != self.seq:
            self._replay()
        return self.replayed - before

    def durable_at(self) -> float:
        """Monotonic time after which every write so far is durable (now if none is pending)."""
        return max((e.at + self.window for e in self.entries), default=time.monotonic())

    def _stored(self) -> int:
        return int(self.conn.get(Keys.write_seq(self.run_id)) or 0)

    def _replay(self) -> None:
        stored = self._stored()
        if stored > self.seq:
            raise RuntimeError(f"run {self.run_id}: Redis holds write {stored}, past this horse's {self.seq}; "
                               "is a second process writing this run?")
        lost = [e for e in self.entries if e.seq > stored]
        if (lost[0].seq if lost else self.seq + 1) != stored + 1:
            log.warning("run %s: Redis lost writes %d..%d, older than the %.1f s this horse keeps; "
                        "writing again the %d it still has", self.run_id, stored + 1, self.seq, self.window,
                        len(lost))
        elif lost:
            log.warning("run %s: Redis lost its last %d write(s) (a crash?); writing them again",
                        self.run_id, len(lost))
        for entry in lost:
            if self._send(entry, stored) is None:
                raise RuntimeError(f"run {self.run_id}: write {entry.seq} lost its place while replaying")
            stored = entry.seq
            entry.at = time.monotonic()  # on Redis again just now: durable a window from here
            self.replayed += 1
        self.seq = stored

    def _send(self, entry: _Entry, previous: int) -> list | None:
        """One write under the fence and its number; None if the stored number is not `previous`."""
        flat: list = []
        for command in entry.commands:
            flat += [len(command), *command]
        out = self.conn.eval(_SEQUENCED_LUA, 3, Keys.lease(self.run_id), Keys.fence(self.run_id),
                             Keys.write_seq(self.run_id), self.fence.token, self.fence.ttl_ms, previous,
                             entry.seq, len(entry.commands), *flat)
        if not out or out[0] == 0:
            raise LeaseLost(self.run_id, self.store.lease_holder(self.run_id))
        return list(out[1:]) if out[0] == 1 else None


def _with_id(command: tuple, reply) -> tuple:
    """An XADD under `*` as Redis wrote it, so that writing it again keeps the entry's id."""
    if command[0] == "XADD" and command[2] == "*":
        return (command[0], command[1], _text(reply), *command[3:])
    return command


class JournaledStore(RunStore):
    """A `RunStore` whose writes under the journal's fence go through the journal."""

    def __init__(self, conn: redis.Redis, journal: Journal):
        super().__init__(conn)
        self.journal = journal

    def _write(self, fence: Fence | None, run_id: str, commands: list[tuple]) -> list:
        if fence is None or fence != self.journal.fence or run_id != self.journal.run_id or not commands:
            return super()._write(fence, run_id, commands)
        return self.journal.write(commands)


def waiting_helps(conn: redis.Redis) -> bool:
    """Whether waiting out the durable window makes a run's last writes any safer: only with an AOF
    that fsyncs after the acknowledgement (`appendfsync everysec` or `no`). With `always` an
    acknowledged write is on disk already; with no AOF a crash loses everything since the last
    snapshot, which no wait of seconds prevents. A Redis that refuses CONFIG (a managed one): yes."""
    try:
        config = {_text(k): _text(v) for k, v in conn.config_get("append*").items()}
    except redis.RedisError:
        return True
    return config.get("appendonly", "yes") == "yes" and config.get("appendfsync", "everysec") != "always"


def settle_all(journals: list[Journal], rounds: int = 3) -> int:
    """Wait until every journal's writes are durable, writing again what a crash meanwhile lost.

    One wait for all (a pack's members finish together); none where waiting cannot help
    (`waiting_helps`). Returns the number of writes written again.
    """
    replayed, journals = 0, list(journals)
    wait_out = bool(journals) and waiting_helps(journals[0].conn)
    for _ in range(rounds):
        wait = max((j.durable_at() for j in journals), default=0.0) - time.monotonic()
        if wait > 0 and wait_out:
            time.sleep(wait)
        again = 0
        for journal in list(journals):
            try:
                again += journal.check()
            except LeaseLost as exc:  # its successor owns the run's record now; the others settle on
                log.warning("%s; leaving what it wrote to its holder", exc)
                journals.remove(journal)
        replayed += again
        if not again:
            return replayed
    return replayed
