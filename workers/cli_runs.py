"""`python -m workers` commands over stored runs (dispatched from `workers.__main__`):

    python -m workers list [--status S] [--tag T] [--sweep ID] [--search TEXT] [--limit N] [--json]
    python -m workers delete RUN_ID [RUN_ID ...]
    python -m workers tag RUN_ID [RUN_ID ...] --add TAG [--remove TAG]      (each repeatable)
    python -m workers resume RUN_ID                                          a cancelled run, from its checkpoint
    python -m workers cancel-sweep SWEEP_ID | cancel-lab LAB_ID              every queued or running run of it
"""

from __future__ import annotations

import argparse
import json
import sys

COMMANDS = ("list", "delete", "tag", "resume", "cancel-sweep", "cancel-lab")


def add_parsers(sub, add_redis) -> None:
    from .records import RunStatus

    ls = sub.add_parser("list", help="stored runs, newest first, one line each (or JSON lines)")
    ls.add_argument("--status", choices=[s.value for s in RunStatus], default=None)
    ls.add_argument("--tag", default=None)
    ls.add_argument("--sweep", default=None, help="a sweep id: its runs, reused ones included")
    ls.add_argument("--search", default=None, help="words that must all appear in the id, tags, note or settings "
                                                   "(e.g. 'T=300 baseline')")
    ls.add_argument("--limit", type=int, default=None, help="at most this many (newest)")
    ls.add_argument("--json", action="store_true", help="print each record as a JSON line")
    d = sub.add_parser("delete", help="delete runs and everything stored with them (active ones are cancelled first)")
    d.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    t = sub.add_parser("tag", help="add or remove tags")
    t.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    t.add_argument("--add", action="append", default=[], metavar="TAG")
    t.add_argument("--remove", action="append", default=[], metavar="TAG")
    r = sub.add_parser("resume", help="queue a cancelled run again; it goes on from its last checkpoint")
    r.add_argument("run_id")
    cs = sub.add_parser("cancel-sweep", help="cancel every queued or running run of a sweep")
    cs.add_argument("sweep_id")
    cl = sub.add_parser("cancel-lab", help="cancel every queued or running run of a lab launch")
    cl.add_argument("lab_id")
    for p in (ls, d, t, r, cs, cl):
        add_redis(p)


def _line(record) -> str:
    best = (record.best_metrics or {}).get("test_acc")
    epoch = (record.last_metrics or {}).get("epoch", 0)
    c = record.config
    settings = f"T={c.get('T')} beta={c.get('beta')} {c.get('encoder')}/{c.get('loss')} hidden={c.get('hidden')}"
    return "\t".join([record.id, record.status.value, f"epoch {epoch}/{c.get('epochs')}",
                      "-" if best is None else f"best {best:.4f}", settings, ",".join(record.tags)])


def run(args: argparse.Namespace, conn) -> int:
    from . import run_actions, submission
    from .store import RunStore

    store = RunStore(conn)
    if args.command == "list":
        if args.limit is not None and args.limit < 1:
            raise ValueError(f"limit must be an integer >= 1, got {args.limit}")
        records = store.list_runs(status=args.status, tag=args.tag)
        if args.sweep:
            members = set(run_actions.sweep_run_ids(store, args.sweep))
            records = [r for r in records if r.id in members]
        records = run_actions.find_runs(records, args.search or "")[:args.limit]
        for record in records:
            print(json.dumps(record.to_dict(), sort_keys=True) if args.json else _line(record))
        print(f"{len(records)} run(s)", file=sys.stderr)
    elif args.command == "delete":
        for run_id in args.run_ids:
            store.require_run(run_id)  # every id exists before anything is deleted
        for run_id in args.run_ids:
            submission.delete_run(conn, run_id)
        print(f"deleted {len(args.run_ids)} run(s)")
    elif args.command == "tag":
        if not args.add and not args.remove:
            raise ValueError("tag needs --add TAG or --remove TAG")
        for record in run_actions.change_tags(store, args.run_ids, args.add, args.remove):
            print(f"{record.id} {','.join(record.tags)}")
    elif args.command == "resume":
        record = run_actions.resume_run(conn, args.run_id)
        print(f"{record.id} {record.status.value}")
    elif args.command in ("cancel-sweep", "cancel-lab"):
        what = args.sweep_id if args.command == "cancel-sweep" else args.lab_id
        ids = (run_actions.cancel_sweep if args.command == "cancel-sweep" else run_actions.cancel_lab)(conn, what)
        print(f"cancelled {len(ids)} run(s) of {what}" + ("" if ids else " (none was queued or running)"))
    return 0
