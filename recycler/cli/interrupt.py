"""Ctrl-C during `run`: put back what recycler started and can undo safely, keep the report, and say
what is still in flight, one thing a line and every command on a line of its own (to copy).

Undone: a container instance this run set DRAINING and did not terminate is ACTIVE again
(UpdateContainerInstancesState); the ledger claim on a group where nothing was terminated, surged or
left draining is released, so the next run (--force or not) may act on it. Not undone: a terminate
(Auto Scaling launches the replacement by itself) and a surge (its command is printed: which instance
to remove is the operator's call once it is up).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

import boto3

from recycler.cli.watch import Watch, cluster_of
from recycler.domain import Reason
from recycler.models import load_settings
from recycler.report import GroupReport, RunReport

EXIT_INTERRUPTED = 130


def interrupted(
    watch: Watch | None, session: boto3.Session, err: TextIO, emit: Callable[[RunReport], None]
) -> int:
    """Undo, report (emit: as the run would have, to stdout and --report-file), say; exit 130 as a
    shell does for SIGINT."""
    if watch is None:
        print("recycler: interrupted (Ctrl-C); nothing was acted on", file=err)
        return EXIT_INTERRUPTED
    from recycler.aws.clients import Clients
    from recycler.aws.ecs import EcsHosts
    from recycler.aws.ledger import Ledger

    ecs = EcsHosts(Clients(session))
    undone = undo_drains(watch, lambda cluster, arn: ecs.set_state(cluster, [arn], "ACTIVE"))
    released = []
    settings = load_settings()
    if settings.ledger_table and watch.started is not None:
        ledger = Ledger(settings.ledger_table, session=session)
        for group in untouched_claims(watch):
            try:
                if ledger.release(group, watch.started.run_id):
                    released.append(group)
            except Exception as error:  # the claim is kept, and said so below
                print(
                    f"recycler: warning: the ledger claim on {group} could not be released: {error}", file=err
                )
    for line in stopped_lines(watch, "interrupted (Ctrl-C)", undone, released):
        print(line, file=err)
    started = watch.started
    report = RunReport.build(
        started.run_id if started else "interrupted",
        started.started_at if started else datetime.now(UTC).isoformat(),
        False,
        started.seed if started else 0,
        interrupted_reports(watch, undone, released),
        [],
    )
    try:
        emit(report)
    except BrokenPipeError:
        raise
    except OSError as problem:
        print(f"recycler: error: the report could not be written: {problem}", file=err)
    return EXIT_INTERRUPTED


def undo_drains(watch: Watch, set_active: Callable[[str, str], None]) -> list[str]:
    """Every container instance this run set DRAINING, and did not terminate, back to ACTIVE
    (set_active(cluster, arn)); what was undone, a phrase each. One that fails stays in flight, its
    command printed."""
    undone = []
    for recycle in list(watch.recycles.values()):
        if recycle.draining and not recycle.terminated:
            try:
                set_active(cluster_of(recycle.draining), recycle.draining)
            except Exception as error:  # the command to do it by hand is printed instead
                recycle.notes.append(f"could not set it ACTIVE again: {error}")
                continue
            undone.append(f"{recycle.group}: container instance {recycle.draining} is ACTIVE again")
            recycle.draining = ""
    return undone


def untouched_claims(watch: Watch) -> list[str]:
    """Groups this run claimed and changed nothing in (nothing terminated, no surge, no drain left)."""
    with watch.lock:
        touched = {r.group for r in watch.recycles.values() if r.terminated or r.surged or r.draining}
        return sorted(set(watch.claimed) - touched)


def interrupted_reports(watch: Watch, undone: list[str], released: list[str]) -> list[GroupReport]:
    """One row per planned group: what the Ctrl-C left it in. A group whose victim was terminated
    failed (its replacement was not verified); the others were skipped."""
    rows = []
    for group, job in watch.victims.items():
        recycles = [r for r in watch.recycles.values() if r.group == group]
        done = [text for r in recycles if (text := r.in_flight())]
        done += [text for text in undone if text.startswith(f"{group}: ")]
        if group in released:
            done.append(f"{group}: its ledger claim was released")
        if not recycles:
            done.append(f"{group}: not started")
        rows.append(
            GroupReport(
                group=group,
                outcome="failed" if any(r.terminated for r in recycles) else "skipped",
                reason=Reason.RUN_INTERRUPTED.value,
                detail="stopped by Ctrl-C; "
                + "; ".join(text.removeprefix(f"{group}: ") for text in done or [f"{group}: nothing done"]),
                mode=job.mode,
            )
        )
    return rows


def stopped_lines(watch: Watch, how: str, undone: list[str], released: list[str]) -> list[str]:
    """How the run stopped, then a line per thing undone, in flight or kept, each command alone."""
    lines = [f"recycler: {how}"]
    lines += [f"  undone: {text}" for text in undone]
    lines += [f"  released: the ledger claim on {group} (nothing was terminated)" for group in released]
    with watch.lock:
        recycles = list(watch.recycles.values())
    for recycle in recycles:
        for what, verb, command in recycle.steps():
            lines.append(f"  in flight: {recycle.group}: {what}; {verb}:")
            lines.append(f"    {command}")
        lines += [f"  note: {recycle.group}: {note}" for note in recycle.notes]
    kept = sorted(set(watch.claimed) - set(released))
    if kept and watch.ledger:
        lines.append(
            f"  kept: ledger claims for {', '.join(kept)}: a second run within the min interval does not act "
            "on them again"
        )
    if len(lines) == 1:
        lines[0] += "; nothing was acted on"
    return lines
