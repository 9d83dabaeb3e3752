"""Operator CLI: `python -m recycler plan|run|demo` (design.md §9).

Exit codes: 0 no group failed, 1 a group failed (or an alert was not delivered), 2 bad input or
could not run (no region, no credentials, endpoint unreachable, not authorized): one or two lines on
stderr that name the problem and the fix; --debug (or RECYCLER_DEBUG=1) adds the traceback.
With --json the RunReport is the only thing on stdout; logs and tables go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from recycler.models import InputError, load_settings, parse_payload
from recycler.report import RunReport

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
FLAG_FOR_FIELD = {
    "groups": "--group",
    "health_timeout_seconds": "--health-timeout",
    "poll_seconds": "--poll",
    "max_groups": "--max-groups",
    "seed": "--seed",
    "force": "--force",
    "dry_run": "--dry-run",
}


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="decide and report, terminate nothing")
    parser.add_argument(
        "--group", action="append", dest="groups", metavar="NAME", help="only this group (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print only the RunReport JSON on stdout")
    parser.add_argument(
        "--health-timeout", type=int, metavar="SECONDS", help="override the health wait timeout"
    )
    parser.add_argument("--poll", type=int, metavar="SECONDS", help="seconds between health polls")
    parser.add_argument("--seed", type=int, metavar="N", help="seed for the random pick among tied instances")
    parser.add_argument("--max-groups", type=int, metavar="N", help="recycle at most N groups this run")
    parser.add_argument(
        "--force", action="store_true", help="ignore min age and min interval (never safety guards)"
    )
    parser.add_argument("--report-file", metavar="PATH", help="also write the RunReport JSON to PATH")
    parser.add_argument(
        "--region",
        action="append",
        dest="regions",
        metavar="REGION",
        help="AWS region (default: AWS_REGION or your config); repeat to cover several regions in one report",
    )
    parser.add_argument("--profile", metavar="NAME", help="AWS named profile (default: AWS_PROFILE)")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback when AWS cannot be reached or used"
    )


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="recycler", description="Replace the oldest instance of each opted-in Auto Scaling group."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    _run_flags(commands.add_parser("plan", help="show what a run would do (same as run --dry-run)"))
    _run_flags(commands.add_parser("run", help="recycle opted-in groups now"))
    demo = commands.add_parser("demo", help="run a recycle drill against an embedded AWS (moto server)")
    demo.add_argument(
        "--poll", type=int, default=1, metavar="SECONDS", help="seconds between health polls (default 1)"
    )
    demo.add_argument(
        "--health-timeout", type=int, default=60, metavar="SECONDS", help="health timeout (default 60)"
    )
    demo.add_argument("--seed", type=int, default=7, metavar="N", help="seed for tie breaking (default 7)")
    demo.add_argument(
        "--report-file", default="recycler-report.json", metavar="PATH", help="where the JSON report goes"
    )
    from recycler.local import fleet_report, history

    history.register(commands)
    fleet_report.register(commands)
    return parser


def payload_from_args(args: argparse.Namespace) -> dict[str, Any]:
    payload: dict[str, Any] = {"dry_run": bool(args.dry_run or args.command == "plan")}
    for field, value in (
        ("groups", args.groups),
        ("health_timeout_seconds", args.health_timeout),
        ("poll_seconds", args.poll),
        ("seed", args.seed),
        ("max_groups", args.max_groups),
    ):
        if value is not None:
            payload[field] = value
    if args.force:
        payload["force"] = True
    return payload


def flagify(message: str) -> str:
    """Name CLI flags instead of payload fields in validation messages."""
    for field, flag in FLAG_FOR_FIELD.items():
        message = re.sub(rf"(?<![\w-]){field}:", f"{flag}:", message)
        message = re.sub(rf"(?<![\w-]){field}\.", f"{flag} #", message)
    return message


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


def run_command(args: argparse.Namespace, err: Any) -> int:
    from recycler.aws.errors import explain
    from recycler.local.first_contact import CannotRun, connect
    from recycler.local.port import LocalPort, local_services
    from recycler.workflow.run import run

    try:
        settings = load_settings()
        payload = parse_payload(payload_from_args(args))
    except InputError as error:
        print(f"recycler: error: {flagify(str(error))}", file=err)
        return EXIT_BAD_INPUT
    debug = args.debug or os.environ.get("RECYCLER_DEBUG") == "1"
    reports = []
    # One region after another, with the caller's credentials; any region that cannot be used stops
    # before the next one is touched.
    for region in args.regions or [None]:
        try:
            session, identity = connect(region, args.profile)
            report = run(LocalPort(), local_services(settings, session), settings, payload)
        except CannotRun as problem:
            return _cannot_run(str(problem), err, debug)
        except Exception as error:
            message = explain(error)
            if message is None:
                raise
            where = f"{region}: " if len(args.regions or []) > 1 else ""
            return _cannot_run(where + message, err, debug)
        report.account, report.region = identity.account, identity.region
        reports.append(report)
    combined = reports[0] if len(reports) == 1 else across_regions(reports)
    emit(combined, args.json, getattr(args, "report_file", None))
    return EXIT_FAILED if combined.failed else EXIT_OK


def across_regions(reports: list[RunReport]) -> RunReport:
    """One report (one table) for several regions: each group named region/group."""
    groups = [g.model_copy(update={"group": f"{r.region}/{g.group}"}) for r in reports for g in r.groups]
    first = reports[0]
    combined = RunReport.build(
        first.run_id,
        first.started_at,
        first.dry_run,
        first.seed,
        groups,
        [problem for r in reports for problem in r.alerts_failed],
    )
    combined.account = ",".join(sorted({r.account or "?" for r in reports}))
    combined.region = ",".join(r.region or "?" for r in reports)
    return combined


def _cannot_run(message: str, err: Any, debug: bool) -> int:
    if debug:
        traceback.print_exc(file=err)
    print(f"recycler: cannot run: {message}", file=err)
    if not debug:
        print("recycler: nothing was terminated; add --debug for the traceback", file=err)
    return EXIT_BAD_INPUT


def emit(report: RunReport, as_json: bool, report_file: str | None = None) -> None:
    text = report.model_dump_json(indent=2)
    if report_file:
        with open(report_file, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    if as_json:
        print(text)
    else:
        from recycler.local.render import render_report

        render_report(report)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(verbose=os.environ.get("RECYCLER_VERBOSE") == "1")
    if hasattr(args, "handler"):  # history, fleet: read-only reports with their own modules
        return int(args.handler(args))
    if args.command == "demo":
        from recycler.local.demo import main as demo_main

        return int(demo_main(args))
    return run_command(args, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
