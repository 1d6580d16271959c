"""The search commands of `python -m workers` (issue 18):

    python -m workers search --space 'beta=0.5:0.95' --space 'lr=1e-4:1e-2:log' --space 'encoder=bernoulli,image'
                             [--base '{"T": 10, "train_limit": 2000}'] --budget-epochs 200 [--budget-seconds S]
                             --max-running 4 --objective accuracy|accuracy+sops|accuracy+flops
                             [--rungs 1,3,9] [--eta 3] [--seed 0] [--start-from RUN_OR_SWEEP_ID ...] [--dry-run]
    python -m workers search --spec FILE.json [--dry-run]          the same as one JSON object (SearchSpec)
    python -m workers search-status ID                              the search's view as JSON
    python -m workers search-stop ID | search-resume ID | search-extend ID --epochs N [--seconds S]
    python -m workers search-driver                                 the process that runs all searches

Bad input prints one line naming the field and the value and exits 2; nothing is stored or queued.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict

COMMANDS = ("search", "search-status", "search-stop", "search-extend", "search-resume", "search-driver")


def add_parsers(sub, add_redis) -> None:
    s = sub.add_parser("search", help="start a search (Optuna TPE + asynchronous successive halving); prints its id")
    s.add_argument("--spec", default=None, metavar="FILE", help="the whole search spec as a JSON file")
    s.add_argument("--space", action="append", default=[], metavar="FIELD=RANGE",
                   help="field=low:high[:log] or field=a,b,... (beta, T, z, v_th, lr, encoder, loss, hidden); repeat")
    s.add_argument("--base", default="{}", metavar="JSON", help="the fixed config fields (RunConfig), as JSON")
    s.add_argument("--budget-epochs", type=int, default=0, help="total epochs the search may train")
    s.add_argument("--budget-seconds", type=float, default=0.0, help="wall seconds the search may run")
    s.add_argument("--max-running", type=int, default=2, help="most runs training at once")
    s.add_argument("--objective", default="accuracy", help="accuracy, accuracy+sops or accuracy+flops")
    s.add_argument("--rungs", default="1,3,9", help="epochs at which runs are promoted or stopped")
    s.add_argument("--eta", type=int, default=3, help="a rung keeps its top 1/eta")
    s.add_argument("--seed", type=int, default=0, help="the sampler's seed")
    s.add_argument("--start-from", action="append", default=[], metavar="ID", help="run or sweep ids told first")
    s.add_argument("--dry-run", action="store_true", help="validate and print the spec; store nothing")
    add_redis(s)
    for name, text in (("search-status", "print a search's view as JSON"), ("search-stop", "stop a search"),
                       ("search-resume", "resume a stopped or done search")):
        c = sub.add_parser(name, help=text)
        c.add_argument("search_id")
        add_redis(c)
    e = sub.add_parser("search-extend", help="give a search more budget")
    e.add_argument("search_id")
    e.add_argument("--epochs", type=int, default=0)
    e.add_argument("--seconds", type=float, default=0.0)
    add_redis(e)
    d = sub.add_parser("search-driver", help="run every active search (never trains; one per Redis is enough)")
    d.add_argument("--name", default=None, help="consumer name (default: host and pid)")
    add_redis(d)


def spec_from_args(args: argparse.Namespace):
    from snn_core.config import RunConfig

    from .search_spec import SearchSpec, parse_param

    if args.spec:
        with open(args.spec, encoding="utf-8") as fh:
            return SearchSpec.from_json(fh.read())
    try:
        base = json.loads(args.base)
    except json.JSONDecodeError:
        raise ValueError(f"base must be a JSON object of config fields, got {args.base[:80]!r}") from None
    try:
        rungs = tuple(int(r) for r in args.rungs.split(","))
    except ValueError:
        raise ValueError(f"rungs must be comma-separated integers, got {args.rungs[:80]!r}") from None
    return SearchSpec(space=tuple(parse_param(t) for t in args.space), base=RunConfig.from_dict(base),
                      budget_epochs=args.budget_epochs, budget_seconds=args.budget_seconds,
                      max_running=args.max_running, objective=args.objective, rungs=rungs, eta=args.eta,
                      seed=args.seed, start_from=tuple(args.start_from))


def run(args: argparse.Namespace) -> int:
    from .connection import DEFAULT_REDIS_URL, connect
    import os

    if args.command == "search-driver":
        from .search_driver import main as driver_main

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                            stream=sys.stdout)
        driver_main(args.redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL, args.name)
        return 0
    from . import search

    if args.command == "search":
        spec = spec_from_args(args)
        if args.dry_run:
            print(spec.to_json())
            return 0
        conn = connect(args.redis_url)
        print(search.start_search(conn, spec))
        if conn and not search.RunStore(conn).driver_alive():
            print("note: no search driver is running; start one: python -m workers search-driver", file=sys.stderr)
        return 0
    conn = connect(args.redis_url)
    if args.command == "search-status":
        print(json.dumps(asdict(search.search_view(search.RunStore(conn), args.search_id)), indent=2, sort_keys=True))
    elif args.command == "search-stop":
        search.stop_search(conn, args.search_id)
    elif args.command == "search-resume":
        search.resume_search(conn, args.search_id)
    elif args.command == "search-extend":
        search.extend_search(conn, args.search_id, epochs=args.epochs, seconds=args.seconds)
    return 0
