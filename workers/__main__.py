"""`python -m workers`: run a worker, or script the run store.

    python -m workers [worker] [--queues spikeboard] [--burst] [--name NAME]
    python -m workers submit --beta 0.9 --T 20 ... [--force] [--tag TAG]   prints the run id
    python -m workers status RUN_ID                                          the record as JSON
    python -m workers cancel RUN_ID
    python -m workers export [--format jsonl|csv] [--output FILE]
    python -m workers import FILE                                            ("-" reads stdin)
    python -m workers lab --study {beta,T,z,vth,vth-wide,encoder,loss,all} [--seeds N] [--dataset D] [--dry-run]
    python -m workers refused                                                jobs workers refused, as JSON lines
    python -m workers list | delete | tag | resume | cancel-sweep | cancel-lab   (workers.cli_runs)
    python -m workers search ... | search-status | search-stop | search-extend | search-resume | search-driver
                                                                             (see workers/search_cli.py)

Redis is --redis-url, else $REDIS_URL, else the local stack's (var/redis.password, with
$SPIKEBOARD_VAR and $SPIKEBOARD_REDIS_PORT as the stack reads them), else redis://localhost:6379/0.
Bad input exits 2 with a one-line message naming the field and the value. A lab's report is the web
side's (it draws with plotly): `python -m webui report LAB_ID --html FILE`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys

from .cli_runs import COMMANDS as RUN_COMMANDS  # list, delete, tag, resume, cancel-sweep, cancel-lab
from .search_cli import COMMANDS as SEARCH_COMMANDS, add_parsers as add_search_parsers

COMMANDS = ("worker", "submit", "status", "cancel", "export", "import", "lab", "refused", *RUN_COMMANDS,
            *SEARCH_COMMANDS)


class CliParser(argparse.ArgumentParser):
    """Bad options print one line (`error: argument --beta: invalid float value: 'x'`) and exit 2,
    not the whole usage; `--help` still prints it. Subcommand parsers inherit this class."""

    def error(self, message: str):
        message = message if len(message) <= 300 else message[:280] + "... (cut short)"
        self.exit(2, f"error: {message} ({self._command()}--help shows the options)\n")

    def _command(self) -> str:
        return "".join(w + " " for w in self.prog.split())  # "python -m workers submit "


def add_redis_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", default=None, help="Redis URL (default $REDIS_URL or redis://localhost:6379/0)")


def build_parser() -> argparse.ArgumentParser:
    from snn_core.train import build_parser as train_parser

    parser = CliParser(prog="python -m workers", description="Spikeboard worker and run CLI.")
    sub = parser.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="train queued runs (the default command)")
    w.add_argument("--queues", nargs="+", default=None, help="queue names to listen on (default: spikeboard)")
    w.add_argument("--burst", action="store_true", help="quit once the queues are empty")
    w.add_argument("--name", default=None, help="worker name (default: host and pid)")
    add_redis_option(w)

    s = sub.add_parser("submit", help="queue a run; prints its id", parents=[train_parser()], add_help=False,
                       conflict_handler="resolve")
    s.add_argument("--force", action="store_true", help="train even if an identical run exists")
    s.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    s.add_argument("--stop-rule", default=None, metavar="JSON",
                   help='end the run early on its spike health, e.g. \'{"layer": "output", "condition": '
                        '"silent", "epochs": 2}\' (layer output|hidden|any; condition silent|saturated|'
                        '"silent or saturated"; optional share of neurons, default 1)')
    add_redis_option(s)

    for name, text in (("status", "print a run's record as JSON"), ("cancel", "cancel a queued or running run")):
        c = sub.add_parser(name, help=text)
        c.add_argument("run_id")
        add_redis_option(c)

    e = sub.add_parser("export", help="print all runs as JSON lines or CSV")
    e.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    e.add_argument("--output", default="-", help="file to write (default stdout)")
    add_redis_option(e)

    i = sub.add_parser("import", help="add runs from an export file")
    i.add_argument("file", help='an export file, or "-" for stdin')
    add_redis_option(i)

    r = sub.add_parser("refused", help="jobs workers refused to run (not Spikeboard's), newest first, as JSON lines")
    add_redis_option(r)
    _add_lab_parsers(sub)
    from .cli_runs import add_parsers

    add_parsers(sub, add_redis_option)
    return parser


def _add_lab_parsers(sub) -> None:
    from snn_core.lab import DEFAULT_SEEDS, STUDY_CHOICES

    lab = sub.add_parser("lab", help="launch the course lab's studies; prints the lab id")
    lab.add_argument("--study", required=True, choices=STUDY_CHOICES, help="one study, or all of them")
    lab.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="runs per setting, seeds 0..N-1 (default 3)")
    lab.add_argument("--dataset", default=None, help="mnist (the lab's, default) or fashion-mnist")
    lab.add_argument("--dry-run", action="store_true", help="print one JSON config per distinct run; launch nothing")
    add_redis_option(lab)
    add_search_parsers(sub, add_redis_option)


def run_lab_command(args: argparse.Namespace) -> int:
    """`lab`: launch the course lab's studies (workers.labs), or with --dry-run print what it would launch."""
    import redis

    from . import connection, labs

    settings = {"dataset": args.dataset} if args.dataset else {}
    if args.dry_run:
        from snn_core.lab import lab_configs, study_keys

        seen = set()
        for configs in lab_configs(study_keys(args.study), args.seeds, **settings).values():
            for config in configs:
                if config.config_hash() not in seen:
                    seen.add(config.config_hash())
                    print(config.to_json())
        try:
            plan = labs.plan_lab(connection.connect(args.redis_url), args.study, args.seeds, **settings)
            print(labs.describe_plan(plan), file=sys.stderr)
        except redis.RedisError as exc:
            print(f"{len(seen)} distinct runs (Redis not reachable, so how many are stored and the time "
                  f"estimate are unknown: {exc})", file=sys.stderr)
        return 0
    conn = connection.connect(args.redis_url)
    plan = labs.plan_lab(conn, args.study, args.seeds, **settings)
    print(labs.describe_plan(plan), file=sys.stderr)
    print(labs.submit_lab(conn, plan))
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from .connection import QUEUE, connect
    from .worker import SpikeboardWorker
    from .devices import describe_device

    print(f"spikeboard worker: training on {describe_device()}", flush=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stdout)
    conn = connect(args.redis_url, patient=True)
    name = args.name or f"{socket.gethostname()}.{os.getpid()}"
    worker = SpikeboardWorker(args.queues or [QUEUE], connection=conn, name=name)
    from . import warm

    print(f"spikeboard worker: training code loaded in {warm.prepare():.1f} s", flush=True)
    worker.work(burst=args.burst, logging_level="INFO")
    return 0


def _stop_rule(text: str | None) -> dict | None:
    """--stop-rule's JSON as a dict (`submission.submit_run` validates it into a `health.StopRule`)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # malformed, or nested too deep to parse
        raise ValueError(f"stop rule must be a JSON object, got {text[:200]!r}") from None


def run_command(args: argparse.Namespace) -> int:
    from . import connection, submission, transfer
    from .store import RunStore

    conn = connection.connect(args.redis_url)
    if args.command in RUN_COMMANDS:
        from . import cli_runs

        return cli_runs.run(args, conn)
    if args.command == "submit":
        from snn_core.train import config_from_args

        extra = ("command", "force", "tag", "redis_url", "save", "stop_rule")
        fields = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in extra})
        fields.save = ""
        config = config_from_args(fields)
        result = submission.submit_run(conn, config, force=args.force, tags=args.tag, stop_rule=_stop_rule(args.stop_rule))
        if not result.created:
            print(f"an identical run exists ({result.record.status.value}); use --force to train again",
                  file=sys.stderr)
        print(result.record.id)
    elif args.command == "status":
        record = RunStore(conn).require_run(args.run_id)
        print(json.dumps({**record.to_dict(), "duration": record.duration}, indent=2, sort_keys=True))
    elif args.command == "cancel":
        from .records import DONE_STATUSES

        record = RunStore(conn).require_run(args.run_id)
        if record.status in DONE_STATUSES:  # nothing to stop: say so, and fail, so a script notices
            print(f"error: run {record.id} is already {record.status.value}; nothing to cancel", file=sys.stderr)
            return 1
        record = submission.cancel_run(conn, args.run_id)
        print(f"{record.id} {record.status.value}")
    elif args.command == "export":
        skipped: dict[str, str] = {}
        text = transfer.export_runs(conn, args.format, skipped=skipped)
        for run_id, why in skipped.items():
            print(f"warning: left out run {run_id!r}, its record cannot be read: {why}", file=sys.stderr)
        if args.output == "-":
            sys.stdout.write(text)
        else:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text)
    elif args.command == "import":
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as fh:
                text = fh.read()
        skipped: list[str] = []
        imported = transfer.import_runs(conn, text, skipped)
        print(f"imported {imported} run(s)" + (f", skipped {len(skipped)} whose id exists here" if skipped else ""))
    elif args.command == "refused":
        for entry in RunStore(conn).refused_jobs():
            print(json.dumps(entry, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "report":  # it was here before the report moved to the web side
        print("error: a lab's report is written by the web side: python -m webui report LAB_ID --html FILE "
              "(e.g. docker compose exec web python -m webui report ...)", file=sys.stderr)
        return 2
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv.insert(0, "worker")
    args = build_parser().parse_args(argv)
    if getattr(args, "redis_url", None) is None:
        from .redis_server import stack_url

        args.redis_url = stack_url()  # the local stack's Redis and password, when REDIS_URL is unset
    if args.command == "lab":
        return guarded(run_lab_command, args)
    if args.command in SEARCH_COMMANDS:
        from .search_cli import run as run_search_command

        return guarded(run_search_command, args)
    return guarded(run_worker if args.command == "worker" else run_command, args)


def guarded(command, args: argparse.Namespace) -> int:
    """`command(args)`'s exit status, a failure told in one line: 2 for bad input (ValueError), 1 for
    a file or Redis that cannot be reached (also `python -m webui`'s)."""
    try:
        return command(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreadable import file, ...
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        import redis  # only here: `lab --dry-run` and `--help` must not need a Redis client

        if not isinstance(exc, redis.RedisError):
            raise
        # Not an OSError: without this a stopped Redis or a wrong password ends in a traceback.
        if isinstance(exc, redis.AuthenticationError) or "NOAUTH" in str(exc) or "Authentication" in str(exc):
            print(f"error: Redis wants a password ({exc}): set REDIS_URL=redis://:PASSWORD@HOST:PORT/0, or, next "
                  "to a local stack, leave REDIS_URL unset and the CLI reads var/redis.password ($SPIKEBOARD_VAR) "
                  "and $SPIKEBOARD_REDIS_PORT as the stack does", file=sys.stderr)
            return 1
        print(f"error: Redis refused or could not be reached ({exc}); start the stack with "
              "'python -m workers.stack' or point REDIS_URL at a running server", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
