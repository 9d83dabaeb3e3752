"""Operator CLI: `python -m recycler plan|run|demo` (design.md §9).

Exit codes: 0 no group failed, 1 a group failed (or an alert was not delivered, or the run stopped on
an unexpected error after acting, or the confirmation was answered no), 2 bad input or could not run
(no region, no credentials, endpoint unreachable, not authorized, a setting that does not resolve):
one or two lines on stderr that name the problem and the fix, nothing acted on; --debug (or
RECYCLER_DEBUG=1) adds the traceback. 130: stopped with Ctrl-C (what is in flight is printed).
With --json (--output json) the RunReport is the only thing on stdout; logs and progress go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from recycler import __version__
from recycler.cli.output import output_flags, quietly_on_broken_pipe
from recycler.cli.places import place_flags
from recycler.cli.runner import EXIT_BAD_INPUT, flagify
from recycler.models import InputError


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="decide and report, terminate nothing")
    parser.add_argument(
        "--group", action="append", dest="groups", metavar="NAME", help="only this group (repeatable)"
    )
    output_flags(parser, "the RunReport")
    parser.add_argument(
        "--yes", action="store_true", help="run: do not ask before acting (never asked without a terminal)"
    )
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="use a deployed stack's ledger, topic and kill switch (its outputs), as the Lambda does",
    )
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
        "--canary",
        action="store_true",
        help="canary every image this run launches, even one proven or condemned earlier (a drill)",
    )
    parser.add_argument(
        "--bake-minutes",
        type=float,
        metavar="N",
        help="how long a canary's replacement must stay healthy before its image counts as proven "
        "(default: RECYCLER_BAKE_MINUTES, else 30; 0 for none)",
    )
    place_flags(parser)
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback when AWS cannot be reached or used"
    )


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="recycler", description="Replace the oldest instance of each opted-in Auto Scaling group."
    )
    parser.add_argument("--version", action="version", version=f"recycler {__version__}")
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
    demo.add_argument(
        "--keep",
        action="store_true",
        help="leave the embedded AWS running afterwards and print the environment to plan against it",
    )

    from recycler.cli import fleet_report, history

    history.register(commands)
    fleet_report.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from recycler.cli.logs import configure_logging

    configure_logging(verbose=os.environ.get("RECYCLER_VERBOSE") == "1")
    return quietly_on_broken_pipe(lambda: command(args))


def command(args: argparse.Namespace) -> int:
    if hasattr(args, "handler"):  # history, fleet: read-only reports with their own modules
        return int(args.handler(args))
    if args.command == "demo":
        from recycler.local.demo import main as demo_main

        try:
            return int(demo_main(args))
        except InputError as error:
            print(f"recycler: error: {flagify(str(error))}", file=sys.stderr)
            return EXIT_BAD_INPUT
    from recycler.cli.runner import run_command

    return run_command(args, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
