"""`python -m webui`: what the web side does from a shell.

    python -m webui report LAB_ID --html FILE [--csv FILE] [--mac-pj 4.6] [--ac-pj 0.9] [--redis-url URL]

writes a lab launch's report as one self-contained HTML file (plotly.js inlined) and, with --csv,
its data: the same blocks the Lab report page lays out (`webui.report_render`). It lives on the web
side because it draws with plotly, which the worker image does not install. Bad input exits 2 with
one line naming the field and the value; Redis away exits 1.
"""

from __future__ import annotations

import argparse
import sys

from workers.__main__ import CliParser, add_redis_option, guarded


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m webui", description="Spikeboard web-side commands.")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="write a lab launch's report as one self-contained HTML file (+ CSV)")
    rep.add_argument("lab_id")
    rep.add_argument("--html", required=True, help="the HTML file to write")
    rep.add_argument("--csv", default=None, help="also write the report's data as CSV")
    rep.add_argument("--mac-pj", type=float, default=4.6, help="energy of a 32-bit multiply-accumulate, pJ (45 nm: 4.6)")
    rep.add_argument("--ac-pj", type=float, default=0.9, help="energy of an accumulate, pJ (45 nm: 0.9)")
    add_redis_option(rep)
    return parser


def run_report(args: argparse.Namespace) -> int:
    from webui.report_render import report_csv, report_html
    from workers import labs
    from workers.connection import connect
    from workers.lab_report import build_report
    from workers.report_text import plural
    from workers.store import RunStore

    data = labs.lab_data(RunStore(connect(args.redis_url)), args.lab_id)
    report = build_report(data, {"mac_pj": args.mac_pj, "ac_pj": args.ac_pj})
    with open(args.html, "w", encoding="utf-8") as fh:
        fh.write(report_html(report))
    if args.csv:
        with open(args.csv, "w", encoding="utf-8", newline="") as fh:
            fh.write(report_csv(report, data))
    print(f"report of lab {args.lab_id}: {report.finished} of {plural(report.runs, 'run')} finished; "
          + "; ".join(f"{s.key}: {s.verdict}" for s in report.studies), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return guarded(run_report, args)


if __name__ == "__main__":
    sys.exit(main())
