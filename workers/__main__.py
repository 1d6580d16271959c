"""`python -m workers`: run a worker, or script the run store.

    python -m workers [worker] [--queues spikeboard] [--burst] [--name NAME]
    python -m workers submit --beta 0.9 --T 20 ... [--force] [--tag TAG]   prints the run id
    python -m workers status RUN_ID                                          the record as JSON
    python -m workers cancel RUN_ID
    python -m workers export [--format jsonl|csv] [--output FILE]
    python -m workers import FILE                                            ("-" reads stdin)
    python -m workers lab --study {beta,T,z,vth,vth-wide,encoder,loss,all} [--seeds N] [--dataset D] [--dry-run]
    python -m workers report LAB_ID --html FILE [--csv FILE] [--mac-pj 4.6] [--ac-pj 0.9]
    python -m workers refused                                                jobs workers refused, as JSON lines
    python -m workers search ... | search-status | search-stop | search-extend | search-resume | search-driver
                                                                             (see workers/search_cli.py)

Redis is $REDIS_URL (default redis://localhost:6379/0), or --redis-url. Bad input exits 2 with
a one-line message naming the field and the value.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys

from .search_cli import COMMANDS as SEARCH_COMMANDS, add_parsers as add_search_parsers

COMMANDS = ("worker", "submit", "status", "cancel", "export", "import", "lab", "report", "refused", *SEARCH_COMMANDS)


class _Parser(argparse.ArgumentParser):
    """Bad options print one line (`error: argument --beta: invalid float value: 'x'`) and exit 2,
    not the whole usage; `--help` still prints it. Subcommand parsers inherit this class."""

    def error(self, message: str):
        message = message if len(message) <= 300 else message[:280] + "... (cut short)"
        self.exit(2, f"error: {message} (python -m workers {self._command()}--help shows the options)\n")

    def _command(self) -> str:
        words = self.prog.split()[3:]  # "python -m workers submit" -> ["submit"]
        return "".join(w + " " for w in words)


def _add_redis(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", default=None, help="Redis URL (default $REDIS_URL or redis://localhost:6379/0)")


def build_parser() -> argparse.ArgumentParser:
    from snn_core.train import build_parser as train_parser

    parser = _Parser(prog="python -m workers", description="Spikeboard worker and run CLI.")
    sub = parser.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="train queued runs (the default command)")
    w.add_argument("--queues", nargs="+", default=None, help="queue names to listen on (default: spikeboard)")
    w.add_argument("--burst", action="store_true", help="quit once the queues are empty")
    w.add_argument("--name", default=None, help="worker name (default: host and pid)")
    _add_redis(w)

    s = sub.add_parser("submit", help="queue a run; prints its id", parents=[train_parser()], add_help=False,
                       conflict_handler="resolve")
    s.add_argument("--force", action="store_true", help="train even if an identical run exists")
    s.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    s.add_argument("--stop-rule", default=None, metavar="JSON",
                   help='end the run early on its spike health, e.g. \'{"layer": "output", "condition": '
                        '"silent", "epochs": 2}\' (layer output|hidden|any; condition silent|saturated|'
                        '"silent or saturated"; optional share of neurons, default 1)')
    _add_redis(s)

    for name, text in (("status", "print a run's record as JSON"), ("cancel", "cancel a queued or running run")):
        c = sub.add_parser(name, help=text)
        c.add_argument("run_id")
        _add_redis(c)

    e = sub.add_parser("export", help="print all runs as JSON lines or CSV")
    e.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    e.add_argument("--output", default="-", help="file to write (default stdout)")
    _add_redis(e)

    i = sub.add_parser("import", help="add runs from an export file")
    i.add_argument("file", help='an export file, or "-" for stdin')
    _add_redis(i)

    r = sub.add_parser("refused", help="jobs workers refused to run (not Spikeboard's), newest first, as JSON lines")
    _add_redis(r)
    _add_lab_parsers(sub)
    return parser


def _add_lab_parsers(sub) -> None:
    from snn_core.lab import DEFAULT_SEEDS, STUDY_CHOICES

    lab = sub.add_parser("lab", help="launch the course lab's studies; prints the lab id")
    lab.add_argument("--study", required=True, choices=STUDY_CHOICES, help="one study, or all of them")
    lab.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="runs per setting, seeds 0..N-1 (default 3)")
    lab.add_argument("--dataset", default=None, help="mnist (the lab's, default) or fashion-mnist")
    lab.add_argument("--dry-run", action="store_true", help="print one JSON config per distinct run; launch nothing")
    _add_redis(lab)
    rep = sub.add_parser("report", help="write a lab launch's report as one self-contained HTML file (+ CSV)")
    rep.add_argument("lab_id")
    rep.add_argument("--html", required=True, help="the HTML file to write")
    rep.add_argument("--csv", default=None, help="also write the report's data as CSV")
    rep.add_argument("--mac-pj", type=float, default=4.6, help="energy of a 32-bit multiply-accumulate, pJ (45 nm: 4.6)")
    rep.add_argument("--ac-pj", type=float, default=0.9, help="energy of an accumulate, pJ (45 nm: 0.9)")
    _add_redis(rep)
    add_search_parsers(sub, _add_redis)


def run_lab_command(args: argparse.Namespace) -> int:
    """`lab` and `report`: the course lab's studies (workers.labs) and their report (workers.lab_report)."""
    import redis

    from . import labs, service

    settings = {"dataset": args.dataset} if getattr(args, "dataset", None) else {}
    if args.command == "lab" and args.dry_run:
        from snn_core.lab import lab_configs, study_keys

        seen = set()
        for configs in lab_configs(study_keys(args.study), args.seeds, **settings).values():
            for config in configs:
                if config.config_hash() not in seen:
                    seen.add(config.config_hash())
                    print(config.to_json())
        try:
            plan = labs.plan_lab(service.connect(args.redis_url), args.study, args.seeds, **settings)
            print(labs.describe_plan(plan), file=sys.stderr)
        except redis.RedisError as exc:
            print(f"{len(seen)} distinct runs (Redis not reachable, so how many are stored and the time "
                  f"estimate are unknown: {exc})", file=sys.stderr)
        return 0
    conn = service.connect(args.redis_url)
    if args.command == "lab":
        plan = labs.plan_lab(conn, args.study, args.seeds, **settings)
        print(labs.describe_plan(plan), file=sys.stderr)
        print(labs.submit_lab(conn, plan))
        return 0
    try:
        from webui.lab_export import report_csv, report_html  # plotly only, no streamlit
    except ImportError as exc:  # the worker image has no webui/: the report is the web side's
        raise OSError(f"the report needs the web app's webui/ package and plotly ({exc}); run it where the "
                      "app is installed, e.g. docker compose exec web python -m workers report ...") from None

    from .lab_report import build_report
    from .store import RunStore

    energies = {"mac_pj": args.mac_pj, "ac_pj": args.ac_pj}
    data = labs.lab_data(RunStore(conn), args.lab_id)
    report = build_report(data, energies)
    with open(args.html, "w", encoding="utf-8") as fh:
        fh.write(report_html(report))
    if args.csv:
        with open(args.csv, "w", encoding="utf-8", newline="") as fh:
            fh.write(report_csv(report, data))
    print(f"report of lab {args.lab_id}: {report['finished']} of {report['runs']} runs finished; "
          + "; ".join(f"{s['key']}: {s['verdict']}" for s in report["studies"]), file=sys.stderr)
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from .service import QUEUE, connect
    from .worker import SpikeboardWorker
    from .devices import describe_device

    print(f"spikeboard worker: training on {describe_device()}", flush=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stdout)
    conn = connect(args.redis_url, patient=True)
    name = args.name or f"{socket.gethostname()}.{os.getpid()}"
    worker = SpikeboardWorker(args.queues or [QUEUE], connection=conn, name=name)
    worker.work(burst=args.burst, logging_level="INFO")
    return 0


def _stop_rule(text: str | None) -> dict | None:
    """--stop-rule's JSON as a dict (`service.submit_run` validates it into a `health.StopRule`)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # malformed, or nested too deep to parse
        raise ValueError(f"stop rule must be a JSON object, got {text[:200]!r}") from None


def run_command(args: argparse.Namespace) -> int:
    from . import service
    from .store import RunStore

    conn = service.connect(args.redis_url)
    if args.command == "submit":
        from snn_core.train import config_from_args

        extra = ("command", "force", "tag", "redis_url", "save", "stop_rule")
        fields = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in extra})
        fields.save = ""
        config = config_from_args(fields)
        result = service.submit_run(conn, config, force=args.force, tags=args.tag, stop_rule=_stop_rule(args.stop_rule))
        if not result.created:
            print(f"an identical run exists ({result.record.status.value}); use --force to train again",
                  file=sys.stderr)
        print(result.record.id)
    elif args.command == "status":
        record = RunStore(conn).require_run(args.run_id)
        print(json.dumps({**record.to_dict(), "duration": record.duration}, indent=2, sort_keys=True))
    elif args.command == "cancel":
        record = service.cancel_run(conn, args.run_id)
        print(f"{record.id} {record.status.value}")
    elif args.command == "export":
        skipped: dict[str, str] = {}
        text = service.export_runs(conn, args.format, skipped=skipped)
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
        print(f"imported {service.import_runs(conn, text)} run(s)")
    elif args.command == "refused":
        for entry in RunStore(conn).refused_jobs():
            print(json.dumps(entry, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv.insert(0, "worker")
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("lab", "report"):
            return run_lab_command(args)
        if args.command in SEARCH_COMMANDS:
            from .search_cli import run as run_search_command

            return run_search_command(args)
        return run_worker(args) if args.command == "worker" else run_command(args)
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
        print(f"error: Redis refused or could not be reached ({exc}); start the stack with "
              "'python -m workers.stack' or point REDIS_URL at a running server", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
