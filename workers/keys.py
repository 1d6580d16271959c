"""Every Redis key Spikeboard uses: the one place a key string is built (see ARCHITECTURE.md).

`workers.store` and its parts (`workers.fencing`, `workers.store_tables`) read and write these
keys; nobody else builds one (RQ's own `rq:` keys stay RQ's). The layout is in `workers.store`'s
docstring.
"""

from __future__ import annotations

import uuid

PREFIX = "spikeboard:"


class Keys:
    """Key builders, like RQ's `key_for` class methods. The only place key strings are made."""

    schema = PREFIX + "schema"
    runs = PREFIX + "runs"
    sweeps = PREFIX + "sweeps"
    active = PREFIX + "active"
    refused = PREFIX + "refused"
    workers = PREFIX + "workers"  # zset: worker name -> time its device offer lapses
    worker_devices = PREFIX + "worker_devices"  # hash: worker name -> JSON list of devices it trains on

    @staticmethod
    def run(run_id: str) -> str:
        return f"{PREFIX}run:{run_id}"

    @staticmethod
    def metrics(run_id: str) -> str:
        return f"{PREFIX}run:{run_id}:metrics"

    @staticmethod
    def probes(run_id: str) -> str:
        return f"{PREFIX}run:{run_id}:probes"

    @staticmethod
    def checkpoint(run_id: str) -> str:
        return f"{PREFIX}run:{run_id}:checkpoint"

    @staticmethod
    def cancel(run_id: str) -> str:
        return f"{PREFIX}run:{run_id}:cancel"

    @staticmethod
    def lease(run_id: str) -> str:
        return f"{PREFIX}run:{run_id}:lease"

    @staticmethod
    def fence(run_id: str) -> str:
        return f"{PREFIX}run:{run_id}:fence"

    @staticmethod
    def horse_deaths(run_id: str) -> str:
        return f"{PREFIX}run:{run_id}:deaths"

    @staticmethod
    def write_seq(run_id: str) -> str:
        return f"{PREFIX}run:{run_id}:seq"

    @staticmethod
    def confighash(config_hash: str) -> str:
        return f"{PREFIX}confighash:{config_hash}"

    @staticmethod
    def sweep(sweep_id: str) -> str:
        return f"{PREFIX}sweep:{sweep_id}"

    # -- labs (issue 9): a lab launch and the sweeps of its studies
    labs = PREFIX + "labs"

    @staticmethod
    def lab(lab_id: str) -> str:
        return f"{PREFIX}lab:{lab_id}"

    # -- run events and searches (issue 18)
    events = PREFIX + "events"  # stream: {run_id, kind, epoch, status}, written with the write it reports
    searches = PREFIX + "searches"  # zset: search id -> created time
    search_control = PREFIX + "search:control"  # stream: {search_id, action, epochs, seconds} for the driver
    search_runs = PREFIX + "search:runs"  # hash: run id -> "search id:trial number"
    search_driver = PREFIX + "search:driver"  # string (TTL): the live driver's name

    @staticmethod
    def search(search_id: str) -> str:
        return f"{PREFIX}search:{search_id}"

    @staticmethod
    def search_trials(search_id: str) -> str:
        return f"{PREFIX}search:{search_id}:trials"

    @staticmethod
    def search_optuna(search_id: str) -> str:
        """The prefix of the Optuna study's journal keys (`JournalRedisBackend(url, prefix=...)`)."""
        return f"{PREFIX}search:{search_id}:optuna"


def text(value: bytes | str) -> str:
    """A Redis reply as str (the connection returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def new_id() -> str:
    """A fresh run id (12 hex digits; sweeps and labs prefix a letter): ids build keys, so the store makes them."""
    return uuid.uuid4().hex[:12]

