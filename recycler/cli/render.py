"""Terminal rendering of a RunReport (rich), shared by `plan`, `run` and `demo`."""

from __future__ import annotations

import csv
import sys
from typing import TextIO

from rich.console import Console
from rich.table import Table

from recycler.domain import Reason
from recycler.messages import drainer_howto
from recycler.report import GroupReport, RunReport

STYLE = {"recycled": "green", "planned": "cyan", "skipped": "yellow", "failed": "bold red"}


def ami_state(group: GroupReport) -> str:
    if group.replacement and group.replacement.ami_refreshed is not None:
        return "refreshed" if group.replacement.ami_refreshed else "[red]same AMI[/]"
    victim_image = group.victim.image_id if group.victim else None
    if not victim_image or not group.current_image_id:
        return "-"
    return "current" if victim_image == group.current_image_id else f"stale → {group.current_image_id}"


def image_ages(group: GroupReport) -> str:
    """Days since the victim's AMI (or the group's oldest) was built, and the one it launches now."""
    was = group.victim.image_age_days if group.victim else None
    was = was if was is not None else group.oldest_image_age_days
    now = group.current_image_age_days
    if was is None and now is None:
        return "-"
    return f"{_days(was)} → {_days(now)}"


def _days(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "?"


def report_table(report: RunReport) -> Table:
    mode = "DRY RUN" if report.dry_run else "RUN"
    where = f"  account {report.account} {report.region}" if report.account else ""
    table = Table(title=f"recycler {mode} {report.run_id}  (seed {report.seed}){where}", title_justify="left")
    for column in ("group", "decision", "victim", "age (d)", "AMI", "AMI age (d)", "replacement", "reason"):
        table.add_column(column, overflow="fold")
    for group in report.groups:
        victim = group.victim
        age = victim.age_days if victim and victim.age_days is not None else group.oldest_instance_age_days
        replacement = (
            group.replacement.instance_id if group.replacement and group.replacement.instance_id else "-"
        )
        waited = group.recycles[0].waited_seconds if group.recycles else group.waited_seconds
        if waited is not None:
            replacement += f" ({waited:.0f} s)"
        reason = group.reason + (f": {group.detail}" if group.detail else "")
        if group.container_host:
            reason += f" [{group.container_host}]"
        if group.standby_instances:
            reason += f" ({group.standby_instances} in Standby)"
        table.add_row(
            group.group,
            f"[{STYLE[group.outcome]}]{group.outcome}[/]" + (" (canary)" if group.canary else ""),
            victim.instance_id if victim else "-",
            f"{age:.1f}" if age is not None else "-",
            ami_state(group),
            image_ages(group),
            replacement,
            reason,
        )
        # A freshness target recycles several instances of a group: one row for each after the first.
        for number, extra in enumerate(group.recycles[1:], start=2):
            replaced = (
                extra.replacement.instance_id if extra.replacement and extra.replacement.instance_id else "-"
            )
            if extra.waited_seconds is not None:
                replaced += f" ({extra.waited_seconds:.0f} s)"
            table.add_row(
                f"  {group.group} #{number}",
                f"[{STYLE[extra.outcome]}]{extra.outcome}[/]",
                extra.victim.instance_id,
                f"{extra.victim.age_days:.1f}" if extra.victim.age_days is not None else "-",
                "",
                "",
                replaced,
                extra.reason,
            )
    s = report.summary
    table.caption = (
        f"recycled {s.recycled} · planned {s.planned} · skipped {s.skipped} · failed {s.failed}"
        f" · instances recycled {s.instances_recycled}"
    )
    return table


# Written to a pipe or a file there is no terminal to fit: wide enough not to wrap instance ids.
UNWRAPPED_WIDTH = 160
CSV_COLUMNS = (
    "group",
    "outcome",
    "reason",
    "detail",
    "mode",
    "victim",
    "victim_age_days",
    "replacement",
    "waited_seconds",
    "current_image_id",
    "canary",
)


def console(stream: TextIO | None = None) -> Console:
    """The terminal's width (rich reads it); a fixed wide one when not a terminal (a pipe, a file)."""
    stream = stream or sys.stdout
    return Console(file=stream, width=None if stream.isatty() else UNWRAPPED_WIDTH)


def report_rows(report: RunReport) -> list[list[object]]:
    """One row per recycle (a freshness target's later victims too), in CSV_COLUMNS' order."""
    rows: list[list[object]] = []
    for group in report.groups:
        victim, replacement = group.victim, group.replacement
        rows.append(
            [
                group.group,
                group.outcome,
                group.reason,
                group.detail,
                group.mode.value,
                victim.instance_id if victim else "",
                victim.age_days if victim else "",
                replacement.instance_id if replacement and replacement.instance_id else "",
                group.waited_seconds if group.waited_seconds is not None else "",
                group.current_image_id or "",
                group.canary,
            ]
        )
        for extra in group.recycles[1:]:
            rows.append(
                [
                    group.group,
                    extra.outcome,
                    extra.reason,
                    "",
                    group.mode.value,
                    extra.victim.instance_id,
                    extra.victim.age_days,
                    extra.replacement.instance_id
                    if extra.replacement and extra.replacement.instance_id
                    else "",
                    extra.waited_seconds if extra.waited_seconds is not None else "",
                    group.current_image_id or "",
                    False,
                ]
            )
    return rows


def write_csv(report: RunReport, stream: TextIO) -> None:
    """For spreadsheets and scripts: a header, then report_rows."""
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(report_rows(report))


def write_text(report: RunReport, stream: TextIO) -> None:
    """--output text, as the AWS CLI's: report_rows without a header, values separated by tabs."""
    for row in report_rows(report):
        print("\t".join(str(value) for value in row), file=stream)


def render_report(report: RunReport, out: Console | None = None) -> None:
    out = out or console()
    out.print(report_table(report))
    for problem in report.alerts_failed:
        out.print(f"[bold red]alert not delivered:[/] {problem}")
    for group in report.groups:
        if group.reason == Reason.NO_DRAIN_HOOK:
            steps = "\n".join(f"  {step}" for step in drainer_howto(group.group.rsplit("/", 1)[-1]))
            out.print(
                f"{group.group}: add a termination hook and the drainer that completes it:\n{steps}",
                soft_wrap=True,
                markup=False,
                highlight=False,
            )
