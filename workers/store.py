"""The run store: every read and write of Spikeboard's Redis keys, through one `RunStore`.

The key strings themselves are built only in `workers.keys` (RQ's own `rq:` keys stay RQ's).
`RunStore` is put together from parts: runs, metrics, probes and checkpoints here; leases and fenced
writes in `workers.fencing`; sweeps, labs, device offers and refused jobs in `workers.store_tables`.
Callers import all of it from here. The connection is passed in and must return bytes
(`decode_responses=False`), because checkpoints are binary and RQ shares it. No torch here: the web
app imports this module.

Layout (all under `spikeboard:`; see ARCHITECTURE.md):

    schema                      string  layout version
    run:{id}                    hash    the run record (fields of `RunRecord`, JSON where nested)
    run:{id}:metrics            stream  {kind: batch|epoch, data: JSON}
    run:{id}:probes             hash    epoch -> zlib(JSON recording of the probe digits)
    run:{id}:checkpoint         string  latest checkpoint bytes
    run:{id}:cancel             string  set when a cancel was requested
    run:{id}:lease              string  lease token (kind:holder:random), with a short TTL while a horse trains the run
    run:{id}:fence              string  token of the last process to take the lease (no TTL; see `Fence`)
    run:{id}:deaths             string  how many times a work horse died training the run (counter)
    run:{id}:seq                string  number of the last journaled write of the run's horse (`workers.replay`)
    runs                        zset    run id -> created time
    active                      set     ids of runs that are running or interrupted (what the reaper watches)
    confighash:{hash}           string  run id holding that config (dedup)
    sweep:{id}                  hash    axes JSON, base config JSON, created, run ids JSON
    sweeps                      zset    sweep id -> created time
    lab:{id}                    hash    a lab launch: studies JSON {study: sweep id}, seeds, settings JSON, plan JSON
    labs                        zset    lab id -> created time
    refused                     list    jobs workers refused to run (JSON, newest first, capped)
    workers                     zset    worker name -> when its device offer lapses (renewed while it lives)
    worker_devices              hash    worker name -> JSON list of the devices it trains on
    events                      stream  run events {run_id, kind epoch|finished|failed|cancelled|stopped|held, epoch,
                                        status}, capped (MAXLEN ~); written with the write it reports
    search:{id}, search:{id}:trials, searches, search:control, search:runs   searches (`workers.store_search`)
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import asdict
from typing import Any, Iterable

import redis

from snn_core.config import RunConfig

from .fencing import Fence, LeaseLost, LeaseStore
from .keys import PREFIX, Keys, new_id as _new_id, text as _text
from .records import (ACTIVE_STATUSES, DONE_STATUSES, EVENT_STATUSES, REUSABLE_STATUSES, RUN_ID_PATTERN,
                      SCHEMA_VERSION, SETTABLE_FIELDS, CorruptRecord, RunRecord, RunStatus, check_tags, decode_record,
                      encode_field, status_of)
from .store_search import SearchStore, event_command
from .store_tables import LAB_ID, REFUSED_KEEP, TablesStore

__all__ = ["SCHEMA_VERSION", "RunStatus", "RunRecord", "RunStore", "Keys", "DONE_STATUSES", "ACTIVE_STATUSES",
           "Fence", "LeaseLost"]

METRIC_KINDS = ("batch", "epoch")
BATCHES_KIND = "batches"  # the stream's kind for a group of batch points (`RunStore.append_metrics`)
_PIPELINE_CHUNK = 500

# Dedup, atomically: KEYS confighash, run, runs, schema; ARGV id, created, force, schema version,
# the run-key prefix, then the record's field/value pairs. Returns the id of the run to use: a
# reusable holder of the hash (unless force), else the new run, which takes the hash unless a
# reusable run holds it.
_CREATE_LUA = """
local holder = redis.call('GET', KEYS[1])
local reusable = false
if holder then
  local status = redis.call('HGET', ARGV[5] .. holder, 'status')
  reusable = %s
end
if reusable and ARGV[3] ~= '1' then return holder end
redis.call('SET', KEYS[4], ARGV[4], 'NX')
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
if not reusable then redis.call('SET', KEYS[1], ARGV[1]) end
return ARGV[1]
""" % " or ".join(f"status == '{s.value}'" for s in sorted(REUSABLE_STATUSES))


class RunStore(LeaseStore, TablesStore, SearchStore):
    """Reads and writes runs, metrics, probes, checkpoints and sweeps on one Redis connection.

    Leases and fenced writes are `workers.fencing.LeaseStore`'s; sweeps, labs, device offers and
    refused jobs are `workers.store_tables.TablesStore`'s; run events and searches are
    `workers.store_search.SearchStore`'s. Every key comes from `workers.keys`."""

    def __init__(self, conn: redis.Redis):
        self.conn = conn
        self.unreadable: dict[str, str] = {}  # filled by list_runs: id -> why its record cannot be read

    def ping(self) -> bool:
        return bool(self.conn.ping())

    def ensure_schema(self) -> int:
        """The layout version in this Redis, writing ours when it holds none yet."""
        self.conn.set(Keys.schema, SCHEMA_VERSION, nx=True)
        return int(self.conn.get(Keys.schema))

    # -- runs ------------------------------------------------------------------------

    def create_run(self, config: RunConfig, sweep_id: str | None = None, tags: Iterable[str] = (),
                   stop_rule: dict[str, Any] | None = None) -> RunRecord:
        """A new queued run (always; see `create_or_reuse` for dedup)."""
        record, _ = self.create_or_reuse(config, sweep_id, tags, stop_rule, force=True)
        return record

    def create_or_reuse(self, config: RunConfig, sweep_id: str | None = None, tags: Iterable[str] = (),
                        stop_rule: dict[str, Any] | None = None, force: bool = False) -> tuple[RunRecord, bool]:
        """(record, created): the finished, running or queued run holding `config`'s hash unless
        `force`, else a new queued run. One Lua script claims the hash, so concurrent submits of one
        config make one run. The hash keeps pointing at a run worth reusing; a failed or cancelled
        one gives way."""
        record = RunRecord(
            id=_new_id(), config=config.to_dict(), config_hash=config.config_hash(), status=RunStatus.QUEUED,
            created_at=time.time(), sweep_id=sweep_id, tags=check_tags(tags), stop_rule=stop_rule,
        )
        mapping = {k: encode_field(k, v) for k, v in asdict(record).items() if v is not None}
        mapping["status"] = record.status.value
        pairs = [x for kv in mapping.items() for x in kv]
        chosen = _text(self.conn.eval(
            _CREATE_LUA, 4, Keys.confighash(record.config_hash), Keys.run(record.id), Keys.runs, Keys.schema,
            record.id, repr(record.created_at), "1" if force else "0", SCHEMA_VERSION, Keys.run(""), *pairs))
        if chosen == record.id:
            return record, True
        existing = self.get_run(chosen)
        if existing is None:  # deleted between the script and this read: make a run after all
            return self.create_or_reuse(config, sweep_id, tags, stop_rule, force=True)
        return existing, False

    def put_run(self, record: RunRecord, epochs: Iterable[dict[str, Any]] = (), claim_hash: bool = True) -> int:
        """Write one whole record (an import): `put_runs` of one."""
        return self.put_runs([(record, list(epochs), claim_hash)])

    def _run_keys(self, run_id: str) -> list[str]:
        return [Keys.run(run_id), Keys.metrics(run_id), Keys.probes(run_id), Keys.checkpoint(run_id),
                Keys.cancel(run_id), Keys.lease(run_id), Keys.fence(run_id), Keys.horse_deaths(run_id),
                Keys.write_seq(run_id)]

    def put_runs(self, items: list[tuple[RunRecord, list[dict[str, Any]], bool]],
                 skipped: list[str] | None = None) -> int:
        """Write imported runs (record, epoch metrics, may claim its config hash) all or nothing.

        Runs whose id has any key already are skipped (nothing existing is touched); ids must match
        the store's own pattern, so no id can name another run's key. One WATCH/MULTI transaction
        writes the rest. A finished run takes its config hash for dedup only when `claim` says its
        stored hash was its config's, and only if no run holds that hash. Returns the number written;
        the ids it skipped go into `skipped` when given.
        """
        for record, _, _ in items:
            if not isinstance(record.id, str) or not RUN_ID_PATTERN.fullmatch(record.id):
                raise ValueError(f"id must match {RUN_ID_PATTERN.pattern}, got {str(record.id)[:80]!r}")
        if not items:
            return 0
        keys = [k for record, _, _ in items for k in self._run_keys(record.id)]
        with self.conn.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(*keys)
                    check = self.conn.pipeline(transaction=False)
                    for record, _, _ in items:
                        check.exists(*self._run_keys(record.id))
                    taken = check.execute()
                    pipe.multi()
                    written, passed = 0, []
                    for (record, epochs, claim), exists in zip(items, taken):
                        if exists:
                            passed.append(record.id)
                            continue
                        mapping = {k: encode_field(k, v) for k, v in asdict(record).items() if v is not None}
                        mapping["status"] = record.status.value
                        pipe.hset(Keys.run(record.id), mapping=mapping)
                        pipe.zadd(Keys.runs, {record.id: record.created_at})
                        for data in epochs:
                            pipe.xadd(Keys.metrics(record.id), {"kind": "epoch", "data": json.dumps(data)})
                        if claim and record.status is RunStatus.FINISHED:
                            pipe.set(Keys.confighash(record.config_hash), record.id, nx=True)
                        written += 1
                    if written:
                        pipe.set(Keys.schema, SCHEMA_VERSION, nx=True)
                    pipe.execute()
                    if skipped is not None:
                        skipped.extend(passed)
                    return written
                except redis.WatchError:
                    continue  # a key changed under us: look again

    def get_run(self, run_id: str) -> RunRecord | None:
        return decode_record(self.conn.hgetall(Keys.run(run_id)))

    def require_run(self, run_id: str) -> RunRecord:
        record = self.get_run(run_id)
        if record is None:
            raise ValueError(f"run_id not found: {run_id!r}")
        return record

    def list_runs(self, status: RunStatus | str | None = None, sweep_id: str | None = None,
                  tag: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Runs newest first; filters apply before the limit."""
        wanted = status_of(status) if status is not None else None
        self.unreadable: dict[str, str] = {}  # id -> why, for records that cannot be read back
        filtered = wanted is not None or sweep_id is not None or tag is not None
        end = -1 if filtered or limit is None else limit - 1
        ids = [_text(i) for i in self.conn.zrevrange(Keys.runs, 0, end)]
        out: list[RunRecord] = []
        for start in range(0, len(ids), _PIPELINE_CHUNK):
            pipe = self.conn.pipeline(transaction=False)
            for run_id in ids[start : start + _PIPELINE_CHUNK]:
                pipe.hgetall(Keys.run(run_id))
            for run_id, raw in zip(ids[start : start + _PIPELINE_CHUNK], pipe.execute()):
                try:
                    record = decode_record(raw)
                except CorruptRecord as exc:
                    self.unreadable[run_id] = str(exc)  # left out, not fatal for everyone's list
                    continue
                if record is None:
                    continue  # deleted between the index read and the fetch
                if wanted is not None and record.status is not wanted:
                    continue
                if sweep_id is not None and record.sweep_id != sweep_id:
                    continue
                if tag is not None and tag not in record.tags:
                    continue
                out.append(record)
                if limit is not None and len(out) >= limit:
                    return out
        return out

    def count_runs(self) -> int:
        return int(self.conn.zcard(Keys.runs))

    def set_status(self, run_id: str, status: RunStatus | str, fence: Fence | None = None, **fields_: Any) -> None:
        """Set the status and any record fields at once; a field set to None is removed.

        With `fence` (a worker writing under a run's lease) the write happens only while the fence
        holds the lease, else LeaseLost; the same holds for every write method that takes one."""
        unknown = sorted(set(fields_) - set(SETTABLE_FIELDS))
        if unknown:
            raise ValueError(f"cannot set run field(s) {', '.join(unknown)}; settable: {', '.join(SETTABLE_FIELDS)}")
        key = Keys.run(run_id)
        if not self.conn.exists(key):
            raise ValueError(f"run_id not found: {run_id!r}")
        status = status_of(status)
        self._write_fields(run_id, {"status": status, **fields_}, fence)

    def set_fields(self, run_id: str, fence: Fence | None = None, **fields_: Any) -> None:
        """Set record fields without touching the status; a field set to None is removed."""
        unknown = sorted(set(fields_) - set(SETTABLE_FIELDS))
        if unknown:
            raise ValueError(f"cannot set run field(s) {', '.join(unknown)}; settable: {', '.join(SETTABLE_FIELDS)}")
        self._write_fields(run_id, fields_, fence)

    def _write_fields(self, run_id: str, fields_: dict[str, Any], fence: Fence | None = None) -> None:
        key = Keys.run(run_id)
        mapping = {k: encode_field(k, v) for k, v in fields_.items() if v is not None}
        gone = [k for k, v in fields_.items() if v is None]
        commands: list[tuple] = []
        if mapping:
            commands.append(("HSET", key, *[x for kv in mapping.items() for x in kv]))
        if gone:
            commands.append(("HDEL", key, *gone))
        if "status" in fields_:
            commands.append(("SADD" if fields_["status"] in ACTIVE_STATUSES else "SREM", Keys.active, run_id))
            if fields_["status"] in EVENT_STATUSES:  # in the same script or transaction: an event iff the write
                commands.append(event_command(run_id, fields_["status"].value, 0, fields_["status"].value))
        self._write(fence, run_id, commands)

    def active_run_ids(self) -> list[str]:
        """Runs marked running or interrupted, and queued runs a horse waits to take (`expect_horse`): the
        ones a dead worker may have left behind."""
        return sorted(_text(i) for i in self.conn.smembers(Keys.active))

    def update_progress(self, run_id: str, progress: dict[str, Any], fence: Fence | None = None) -> None:
        self._write(fence, run_id, [("HSET", Keys.run(run_id), "progress", encode_field("progress", progress))])

    def set_tags(self, run_id: str, tags: Iterable[str]) -> None:
        self.require_run(run_id)
        self.conn.hset(Keys.run(run_id), "tags", encode_field("tags", check_tags(tags)))

    def set_note(self, run_id: str, note: str) -> None:
        if not isinstance(note, str):
            raise ValueError(f"note must be a string, got {note!r}")
        self.require_run(run_id)
        self.conn.hset(Keys.run(run_id), "note", note)

    def delete_run(self, run_id: str) -> None:
        """Remove the run and all its keys (metrics, probes, checkpoint, flags, index entry)."""
        try:
            record = self.get_run(run_id)
        except CorruptRecord:  # an unreadable record can still be deleted
            raw_hash = self.conn.hget(Keys.run(run_id), "config_hash")
            record = RunRecord(run_id, {}, _text(raw_hash or b""), RunStatus.FAILED, 0.0)
        pipe = self.conn.pipeline()
        pipe.delete(*self._run_keys(run_id))
        pipe.zrem(Keys.runs, run_id)
        pipe.srem(Keys.active, run_id)
        pipe.execute()
        if record is not None:
            key = Keys.confighash(record.config_hash)
            holder = self.conn.get(key)
            if holder is not None and _text(holder) == run_id:
                self.conn.delete(key)

    def find_by_hash(self, config_hash: str) -> RunRecord | None:
        run_id = self.conn.get(Keys.confighash(config_hash))
        return self.get_run(_text(run_id)) if run_id is not None else None

    # -- metrics stream --------------------------------------------------------------

    def append_metric(self, run_id: str, kind: str, data: dict[str, Any], fence: Fence | None = None) -> str:
        if kind not in METRIC_KINDS:
            raise ValueError(f"kind must be one of {', '.join(METRIC_KINDS)}; got {kind!r}")
        commands = [("XADD", Keys.metrics(run_id), "*", "kind", kind, "data", json.dumps(data))]
        if kind == "epoch":
            commands.append(event_command(run_id, "epoch", int(data.get("epoch", 0)), RunStatus.RUNNING.value))
        entry_id = self._write(fence, run_id, commands)[0]
        return _text(entry_id)

    def append_metrics(self, run_id: str, kind: str, entries: list[dict[str, Any]], fence: Fence | None = None,
                       progress: dict[str, Any] | None = None) -> None:
        """Append several entries of one kind in one (fenced) write, with `progress` (`update_progress`)
        in the same write when given. Batch points go into one stream entry (kind "batches", a JSON
        list) that `read_metrics` gives back point by point: a pack of 33 runs spent a sixth of its
        time on one XADD per point (profiled)."""
        if kind not in METRIC_KINDS:
            raise ValueError(f"kind must be one of {', '.join(METRIC_KINDS)}; got {kind!r}")
        if kind == "batch" and entries:
            commands = [("XADD", Keys.metrics(run_id), "*", "kind", BATCHES_KIND, "data", json.dumps(entries))]
        else:
            commands = [("XADD", Keys.metrics(run_id), "*", "kind", kind, "data", json.dumps(d)) for d in entries]
            if kind == "epoch":
                commands += [event_command(run_id, "epoch", int(d.get("epoch", 0)), RunStatus.RUNNING.value)
                             for d in entries]
        if progress is not None:
            commands.append(("HSET", Keys.run(run_id), "progress", encode_field("progress", progress)))
        if commands:
            self._write(fence, run_id, commands)

    def read_metrics(self, run_id: str, after: str = "0-0", count: int | None = None) -> list[tuple[str, str, dict]]:
        """Entries strictly after the id `after`, oldest first, as (entry id, kind, data); a "batches"
        entry comes back as its points, each a "batch" entry with the group's id (`count` counts stream
        entries). An entry that cannot be read raises ValueError (export leaves such a run out, saying so)."""
        stream = self.conn.xrange(Keys.metrics(run_id), min=f"({after}" if after != "0-0" else "-", count=count)
        out: list[tuple[str, str, dict]] = []
        for eid, body in stream:
            kind, data = _text(body[b"kind"]), json.loads(body[b"data"])
            if kind != BATCHES_KIND:
                out.append((_text(eid), kind, data))
            elif isinstance(data, list) and all(isinstance(point, dict) for point in data):
                out += [(_text(eid), "batch", point) for point in data]
            else:
                raise ValueError(f"metrics entry {_text(eid)} of run {run_id}: batch points must be a list of "
                                 f"objects, got {str(data)[:80]!r}")
        return out

    def epoch_history(self, run_id: str) -> list[dict[str, Any]]:
        """Epoch entries in order; a resumed run's repeated epoch keeps its latest entry."""
        by_epoch: dict[int, dict] = {}
        for _, kind, data in self.read_metrics(run_id):
            if kind == "epoch":
                by_epoch[int(data.get("epoch", len(by_epoch) + 1))] = data
        return [by_epoch[e] for e in sorted(by_epoch)]

    # -- probes and checkpoints ------------------------------------------------------

    def save_probes(self, run_id: str, epoch: int, data: dict[str, Any], fence: Fence | None = None) -> None:
        blob = zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 6)
        self._write(fence, run_id, [("HSET", Keys.probes(run_id), str(int(epoch)), blob)])

    def load_probes(self, run_id: str, epoch: int | None = None) -> dict[str, Any] | None:
        """The probe recording of `epoch`, or of the latest recorded epoch when None."""
        if epoch is None:
            epochs = self.probe_epochs(run_id)
            if not epochs:
                return None
            epoch = epochs[-1]
        blob = self.conn.hget(Keys.probes(run_id), str(int(epoch)))
        return json.loads(zlib.decompress(blob)) if blob is not None else None

    def probe_epochs(self, run_id: str) -> list[int]:
        return sorted(int(_text(k)) for k in self.conn.hkeys(Keys.probes(run_id)))

    def save_checkpoint(self, run_id: str, blob: bytes, fence: Fence | None = None) -> None:
        self._write(fence, run_id, [("SET", Keys.checkpoint(run_id), blob)])

    def has_checkpoint(self, run_id: str) -> bool:
        return bool(self.conn.exists(Keys.checkpoint(run_id)))

    def load_checkpoint(self, run_id: str) -> bytes | None:
        return self.conn.get(Keys.checkpoint(run_id))

    def clear_checkpoint(self, run_id: str) -> None:
        self.conn.delete(Keys.checkpoint(run_id))
