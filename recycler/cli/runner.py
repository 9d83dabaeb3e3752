"""`plan` and `run` from a shell: settle every input before anything acts, run region after region
on the in-process port with a `Watch` (progress, confirmation, what is in flight), and print the
report (table, JSON or CSV). Exit codes: see cli.py."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from typing import TYPE_CHECKING, Any

from recycler.cli.output import check_query, output_of, print_selection
from recycler.models import InputError, ManualPayload, Settings, load_settings, parse_payload
from recycler.report import RunReport

if TYPE_CHECKING:
    from recycler.cli.places import Place

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
FLAG_FOR_FIELD = {
    "groups": "--group",
    "health_timeout_seconds": "--health-timeout",
    "poll_seconds": "--poll",
    "max_groups": "--max-groups",
    "seed": "--seed",
    "force": "--force",
    "dry_run": "--dry-run",
    "canary": "--canary",
    "bake_minutes": "--bake-minutes",
}


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
    if args.canary:
        payload["canary"] = True
    return payload


def flagify(message: str) -> str:
    """Name CLI flags instead of payload fields in validation messages."""
    for field, flag in FLAG_FOR_FIELD.items():
        message = re.sub(rf"(?<![\w-]){field}:", f"{flag}:", message)
        message = re.sub(rf"(?<![\w-]){field}\.", f"{flag} #", message)
    return message


def interactive(args: argparse.Namespace, dry_run: bool, environ: Any = os.environ) -> bool:
    """Ask before acting only a person at a terminal: never in CI, with --json, --yes or a pipe."""
    plain = output_of(args) == "table" and not args.query
    return not (dry_run or args.yes or not plain or environ.get("CI")) and sys.stdin.isatty()


def run_command(args: argparse.Namespace, err: Any) -> int:
    from recycler.aws.errors import explain
    from recycler.cli.first_contact import CannotRun, check_names, check_report_file
    from recycler.cli.places import resolve_places

    debug = args.debug or os.environ.get("RECYCLER_DEBUG") == "1"
    try:
        output_of(args)
        check_query(args)
        payload = parse_payload(payload_from_args(args))
        check_report_file(args.report_file)
        if args.stack and (len(args.regions or []) > 1 or len(args.profiles or []) > 1):
            raise CannotRun(
                "--stack names one stack in one account and region: use one --region and --profile"
            )
        if args.bake_minutes is not None:  # a drill need not hold the terminal for a 30-minute bake
            if not 0 <= args.bake_minutes < float("inf"):
                # Checked here: refused by Settings, the message would name RECYCLER_BAKE_MINUTES.
                raise InputError(f"--bake-minutes: {args.bake_minutes:g} is not a number of minutes >= 0")
            os.environ["RECYCLER_BAKE_MINUTES"] = f"{args.bake_minutes:g}"
        check_names()
        load_settings()
        # Every account and region resolved (STS) before anything is read; each reached once.
        places = resolve_places(args.profiles, args.regions, err)
    except InputError as error:
        print(f"recycler: error: {flagify(str(error))}", file=err)
        return EXIT_BAD_INPUT
    except CannotRun as problem:
        return _cannot_run(str(problem), err, debug=debug)
    except Exception as error:
        message = explain(error)
        if message is None:
            raise
        return _cannot_run(message, err, debug=debug)
    reports = []
    # One account and region after another; any that cannot be used stops before the next one is read.
    for place in places:
        where = f"{place.name}: " if len(places) > 1 else ""
        outcome = run_region(args, place, payload, err, debug, where)
        if isinstance(outcome, int):
            return outcome
        reports.append(outcome)
    combined = reports[0] if len(reports) == 1 else across_regions(reports)
    if not combined.groups and not payload.groups:
        print(empty_fleet_hint(combined, load_settings()), file=err)
    if not _emitted(combined, args, err):
        return EXIT_FAILED
    return EXIT_FAILED if combined.failed else EXIT_OK


def _emitted(report: RunReport, args: argparse.Namespace, err: Any) -> bool:
    """The report printed (and written to --report-file); False, said on stderr, when it could not be
    written: what was acted on is still on stdout."""
    try:
        emit(report, output_of(args), args.report_file, args.query)
    except BrokenPipeError:
        raise
    except OSError as error:
        print(f"recycler: error: the report could not be written to {args.report_file}: {error}", file=err)
        return False
    return True


def run_region(
    args: argparse.Namespace,
    place: Place,
    payload: ManualPayload,
    err: Any,
    debug: bool,
    where: str,
) -> RunReport | int:
    """One account and region's run: settle every setting, ask, run and watch; an int is the exit code."""
    from recycler.aws.errors import explain
    from recycler.cli.first_contact import (
        CannotRun,
        apply_stack,
        check_names,
        probe,
        stack_outputs,
    )
    from recycler.cli.watch import Declined, Watch, ask, confirmation
    from recycler.local.port import Interrupted, LocalPort, local_services
    from recycler.messages import aws_error_text
    from recycler.workflow.run import run

    watch: Watch | None = None
    try:
        session, identity = place.session, place.identity
        if args.stack:
            applied = apply_stack(stack_outputs(session, args.stack), os.environ)
            print(f"recycler: from stack {args.stack}: {', '.join(applied)}", file=err)
            check_names()
        settings = load_settings()
        for warning in probe(session, settings.topic_arn, settings.ledger_table):
            print(f"recycler: warning: {warning}", file=err)
        dry_run = settings.dry_run if payload.dry_run is None else payload.dry_run
        confirm = None
        if interactive(args, dry_run):

            def confirm(jobs: Any) -> bool:
                return ask(confirmation(jobs, identity.account, identity.region), err)

        watch = Watch(
            err,
            quiet=output_of(args) == "json" or dry_run,
            confirm=confirm,
            ledger=bool(settings.ledger_table),
        )
        port = LocalPort(on_poll=watch.on_poll, on_step=watch.on_step)
        report = run(port, local_services(settings, session), settings, payload)
    except InputError as error:
        print(f"recycler: error: {flagify(str(error))}", file=err)
        return EXIT_BAD_INPUT
    except CannotRun as problem:
        return _cannot_run(where + str(problem), err, debug)
    except Declined:
        print("recycler: not confirmed; nothing was acted on", file=err)
        return EXIT_FAILED
    except (KeyboardInterrupt, Interrupted):
        from recycler.cli.interrupt import interrupted

        def emit_report(report: RunReport) -> None:
            emit(report, output_of(args), args.report_file, args.query)

        return interrupted(watch, place.session, err, emit_report)
    except Exception as error:
        if watch is not None and watch.acted_groups():
            return _failed_after_acting(args, watch, aws_error_text(error), err, debug)
        message = explain(error)
        return _cannot_run(where + (message or f"unexpected error: {aws_error_text(error)}"), err, debug)
    report.account, report.region = identity.account, identity.region
    return report


def _failed_after_acting(args: argparse.Namespace, watch: Any, error: str, err: Any, debug: bool) -> int:
    """An error after something was acted on: say what was done, keep the report, exit 1."""
    import uuid
    from datetime import UTC, datetime

    if debug:
        traceback.print_exc(file=err)
    print(watch.stopped_line(f"the run stopped on an unexpected error ({error})"), file=err)
    report = RunReport.build(
        str(uuid.uuid4()), datetime.now(UTC).isoformat(), False, 0, watch.partial_reports(error), []
    )
    _emitted(report, args, err)
    return EXIT_FAILED


def empty_fleet_hint(report: RunReport, settings: Settings | None = None) -> str:
    key = f"{(settings or Settings()).tag_prefix}enabled"
    where = f" in account {report.account} {report.region}" if report.account else ""
    return (
        f"recycler: no Auto Scaling group{where} carries the tag {key}. Opt one in with:\n"
        f"  aws autoscaling create-or-update-tags --tags "
        f"ResourceId=NAME,ResourceType=auto-scaling-group,Key={key},Value=true,PropagateAtLaunch=false"
    )


def across_regions(reports: list[RunReport]) -> RunReport:
    """One report (one table) for several regions or accounts: each group named region/group, or
    account/region/group when the reports span accounts."""
    accounts = {r.account for r in reports}

    def place(r: RunReport) -> str:
        return f"{r.account}/{r.region}" if len(accounts) > 1 else f"{r.region}"

    groups = [g.model_copy(update={"group": f"{place(r)}/{g.group}"}) for r in reports for g in r.groups]
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


def emit(
    report: RunReport, output: str = "table", report_file: str | None = None, query: str | None = None
) -> None:
    text = report.model_dump_json(indent=2)
    try:
        if query:
            print_selection(json.loads(text), query, output)
        else:
            _print_report(report, text, output)
    finally:
        # Last, so a file that cannot be written (checked before the run, gone since) loses nothing.
        if report_file:
            with open(report_file, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")


def _print_report(report: RunReport, text: str, output: str) -> None:
    if output == "json":
        print(text)
    elif output == "csv":
        from recycler.cli.render import write_csv

        write_csv(report, sys.stdout)
    elif output == "text":
        from recycler.cli.render import write_text

        write_text(report, sys.stdout)
    else:
        from recycler.cli.render import render_report

        render_report(report)
