"""Import fuzz: mutated valid exports and hostile ids through `transfer.import_runs`, real redis-server.

    python -m bench.fuzz_import [--cases 400] [--seed 0]

A store holds a few victim runs (one finished, with metrics, probes and a checkpoint). Each case
takes rows of a real export (JSON lines or CSV) under fresh ids, damages one of them (a field set
to junk or removed, a hostile id such as "<victim>:checkpoint", a truncated or 100k-deep line, a
huge CSV cell, extra cells, a duplicate), and imports the file. Outcomes: accepted; refused with a
clear error (a ValueError naming the line or row); crashed (anything else). A refused import must
leave Redis as it was (no key added; victims, indexes and dedup keys byte for byte), the victims
must stay untouched, and listing and both exports must still work. Target: unclear 0, crashed 0, damaged 0.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import tempfile
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snn_core.config import RunConfig  # noqa: E402
from workers import submission, transfer  # noqa: E402
from workers.redis_server import start_redis  # noqa: E402
from workers.store import RunStatus, RunStore  # noqa: E402

JUNK = [None, True, "", "x", "nan", [], [1], {}, {"a": [1, {"b": None}]}, -1, 0, 2**63, 10**400, float("nan"),
        float("inf"), -float("inf"), 1e300, "a" * 20_000, ["t"] * 100, {"test_acc": float("nan")}, [[[[[[1]]]]]]]


def victims(conn) -> list[str]:
    store = RunStore(conn)
    ids = [submission.submit_run(conn, RunConfig(seed=s, epochs=2)).record.id for s in range(4)]
    done = ids[0]
    store.set_status(done, RunStatus.FINISHED, started_at=1.7e9, finished_at=1.7e9 + 60,
                     last_metrics={"epoch": 2, "test_acc": 0.8, "firing_rates": [0.1, 0.2]},
                     best_metrics={"epoch": 2, "test_acc": 0.8})
    for epoch in (1, 2):
        store.append_metric(done, "epoch", {"epoch": epoch, "test_acc": 0.7 + 0.05 * epoch, "train_loss": 0.3})
    store.save_probes(done, 2, {"epoch": 2, "layers": [[0, 1]]})
    store.save_checkpoint(done, b"checkpoint")
    store.set_tags(done, ["baseline"])
    return ids


def fresh_id(rng: random.Random) -> str:
    return "%012x" % rng.getrandbits(48)


def hostile_ids(victim_ids: list[str]) -> list:
    v = victim_ids[0]
    return [f"{v}:checkpoint", f"{v}:cancel", f"{v}:lease", f"{v}:metrics", f"{v}:probes", f"{v}:fence",
            f"../{v}", "*", None, [], {}, 5, "", v.upper(), v + "0", "x" * 10_000, "run:" + v, v + "\n"]


def mutate_row(rng: random.Random, row: dict, victim_ids: list[str]) -> dict | str:
    row = json.loads(json.dumps(row))
    kind = rng.random()
    if kind < 0.2:
        row["id"] = rng.choice(hostile_ids(victim_ids))
    elif kind < 0.5:
        row[rng.choice(list(row))] = rng.choice(JUNK)
    elif kind < 0.6:
        del row[rng.choice(list(row))]
    elif kind < 0.75:
        config = row["config"]
        config[rng.choice(list(config) + ["bogus"])] = rng.choice(JUNK)
    elif kind < 0.85:
        target = rng.choice(["last_metrics", "best_metrics", "progress", "health", "epochs"])
        row[target] = rng.choice([{"k": rng.choice(JUNK)}, [rng.choice(JUNK)], rng.choice(JUNK)])
    elif kind < 0.9:
        return json.dumps(row)[: rng.randint(1, 200)]  # truncated line
    elif kind < 0.95:
        return "[" * 100_000 + "]" * 100_000
    else:
        row[rng.choice(["tags", "config", "epochs"])] = json.loads("[" * 50 + "]" * 50)
    return row


def jsonl_case(rng, rows, victim_ids) -> str:
    picked = [dict(r, id=fresh_id(rng)) for r in rng.sample(rows, rng.randint(1, len(rows)))]
    i = rng.randrange(len(picked))
    lines = [json.dumps(r) for r in picked]
    bad = mutate_row(rng, picked[i], victim_ids)
    lines[i] = bad if isinstance(bad, str) else json.dumps(bad)
    if rng.random() < 0.05:
        lines.append(lines[0])  # a duplicate id
    return "\n".join(lines) + "\n"


def csv_case(rng, text, victim_ids) -> str:
    table = list(csv.reader(io.StringIO(text)))
    header, body = table[0], [r[:] for r in table[1:]]
    for r in body:
        r[0] = fresh_id(rng)
    r = rng.choice(body)
    kind = rng.random()
    if kind < 0.2:
        r[0] = str(rng.choice(hostile_ids(victim_ids)))
    elif kind < 0.6:
        r[rng.randrange(len(r))] = str(rng.choice(JUNK))
    elif kind < 0.7:
        r.append("extra")
    elif kind < 0.8:
        del r[rng.randrange(1, len(r)):]
    elif kind < 0.9:
        r[rng.randrange(len(r))] = "x" * 140_000
    else:
        r[rng.randrange(len(r))] = '"' + rng.choice(["unclosed", "\0", "a\nb"])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    return out.getvalue()


def fingerprint(conn, victim_ids: list[str]) -> dict:
    """Every key's name, and the content of the victims' keys, the indexes and the dedup keys
    (an import that skips existing ids can change nothing else)."""
    keys = conn.keys("spikeboard:*")
    watched = [k for k in keys if b"confighash:" in k or k in (b"spikeboard:runs", b"spikeboard:schema")
               or any(i.encode() in k for i in victim_ids)]
    pipe = conn.pipeline(transaction=False)
    for k in watched:
        pipe.dump(k)
    return {"keys": sorted(keys), **dict(zip(watched, pipe.execute()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    counts = {"accepted": 0, "refused": 0, "unclear": 0, "crashed": 0, "damaged": 0, "export crashed": 0}
    examples: dict[str, list[str]] = {k: [] for k in counts}
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_redis(Path(tmp) / "redis")
        try:
            conn = redis.Redis.from_url(url)
            victim_ids = victims(conn)
            rows = [json.loads(line) for line in transfer.export_runs(conn, "jsonl").splitlines()]
            csv_text = transfer.export_runs(conn, "csv")
            victim_keys = {k: v for k, v in fingerprint(conn, victim_ids).items()
                           if k != "keys" and any(i.encode() in k for i in victim_ids)}
            for case in range(args.cases):
                text = jsonl_case(rng, rows, victim_ids) if case % 2 == 0 else csv_case(rng, csv_text, victim_ids)
                before = fingerprint(conn, victim_ids)
                try:
                    transfer.import_runs(conn, text)
                    outcome, note = "accepted", ""
                except ValueError as exc:
                    message = str(exc)
                    clear = message.startswith(("line ", "CSV line ")) and "\n" not in message and len(message) < 800
                    outcome, note = ("refused" if clear else "unclear"), message
                    if fingerprint(conn, victim_ids) != before:
                        counts["damaged"] += 1
                        examples["damaged"].append(f"refused but Redis changed: {message[:200]}")
                except Exception as exc:  # noqa: BLE001 - what the probe counts
                    outcome, note = "crashed", f"{type(exc).__name__}: {exc}"
                counts[outcome] += 1
                examples[outcome].append(note[:200])
                now = fingerprint(conn, victim_ids)
                if any(now.get(k) != v for k, v in victim_keys.items()):
                    counts["damaged"] += 1
                    examples["damaged"].append(f"case {case}: a victim's keys changed")
                    victim_keys = {k: now.get(k) for k in victim_keys}
                try:
                    RunStore(conn).list_runs()
                    transfer.export_runs(conn, "jsonl")
                    transfer.export_runs(conn, "csv")
                except Exception as exc:  # noqa: BLE001
                    counts["export crashed"] += 1
                    examples["export crashed"].append(f"{type(exc).__name__}: {exc}"[:200])
            stored = RunStore(conn).count_runs()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"import fuzz: {args.cases} files (half JSON lines, half CSV): accepted {counts['accepted']}, refused "
          f"with a clear error {counts['refused']}, refused unclearly {counts['unclear']}, crashed {counts['crashed']}; "
          f"Redis damaged {counts['damaged']}, "
          f"listing/export crashed {counts['export crashed']}; {stored} runs stored at the end")
    for kind in ("unclear", "crashed", "damaged", "export crashed"):
        for text in examples[kind][:5]:
            print(f"  {kind}: {text}")
    for text in rng.sample(examples["refused"], min(5, len(examples["refused"]))):
        print(f"  e.g. refused: {text}")
    return 0 if counts["unclear"] + counts["crashed"] + counts["damaged"] + counts["export crashed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
