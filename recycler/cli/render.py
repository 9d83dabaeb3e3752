"""Terminal rendering of a RunReport (rich), shared by `plan`, `run` and `demo`."""

from __future__ import annotations

import csv
import os
import sys
import textwrap
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recycler.domain import Reason
from recycler.fix_commands import drainer_howto
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
        # Never fold an id: a table too wide for its ids is the narrow layout's case.
        table.add_column(column, overflow="fold", no_wrap=column in ("victim", "replacement"))
    for group in report.groups:
        victim = group.victim
        age = victim.age_days if victim and victim.age_days is not None else group.oldest_instance_age_days
        replacement = (
            group.replacement.instance_id if group.replacement and group.replacement.instance_id else "-"
        )
        waited = group.recycles[0].waited_seconds if group.recycles else group.waited_seconds
        if waited is not None:
            replacement += f" ({waited:.0f} s)"
        reason = _reason(group)
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
    table.caption = _caption(report)
    return table


# Written to a pipe or a file there is no terminal to fit: wide enough not to wrap instance ids.
UNWRAPPED_WIDTH = 160
# Below this many columns a table of eight columns squeezes each into a few characters (an instance id,
# 19 of them, wrapped in three pieces): the narrow layout instead, a few columns a line, reasons apart.
NARROW_BELOW = UNWRAPPED_WIDTH
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


def console(stream: TextIO | None = None, unwrapped: int = UNWRAPPED_WIDTH) -> Console:
    """The terminal's width; COLUMNS when set (as a shell exports it, also for a pipe); `unwrapped`
    columns for a pipe or a file without it."""
    stream = stream or sys.stdout
    return Console(file=stream, width=terminal_width(stream, unwrapped))


def terminal_width(stream: TextIO | None = None, unwrapped: int = UNWRAPPED_WIDTH) -> int | None:
    """None lets rich ask the terminal."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if (stream or sys.stdout).isatty() else unwrapped


def is_narrow(out: Console, below: int = NARROW_BELOW) -> bool:
    """Narrower than the wide table needs to keep every id whole."""
    return out.width < below


def wrapped(text: str, width: int, indent: str = "  ") -> list[str]:
    """Lines of at most `width`, broken at spaces only: an instance id (i-0123456789abcdef0) or an AMI
    id is never split at its hyphen, and a word longer than a line (an ARN) is cut only if it must be."""
    return textwrap.wrap(
        text,
        width=max(width, len(indent) + 20),
        initial_indent=indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=True,
    )


def print_lines(out: Console, lines: list[str], style: str | None = None) -> None:
    """Lines already fitted to the console: rich must not wrap them again."""
    for line in lines:
        out.print(escape(line), style=style, soft_wrap=True, highlight=False)


def print_narrow_report(report: RunReport, out: Console) -> None:
    """A terminal narrower than NARROW_BELOW: per group, its decision on one line, the instances on the
    next, the AMI on a third and the reason on its own line(s), each fitted to the width."""
    mode = "DRY RUN" if report.dry_run else "RUN"
    width = out.width
    print_lines(out, wrapped(f"recycler {mode} {report.run_id} (seed {report.seed})", width, ""), "bold")
    if report.account:
        print_lines(out, wrapped(f"account {report.account} {report.region}", width, ""))
    for group in report.groups:
        victim = group.victim
        age = victim.age_days if victim and victim.age_days is not None else group.oldest_instance_age_days
        decision = group.outcome + (" (canary)" if group.canary else "")
        head = wrapped(f"{group.group}  {decision}", width, "")
        if len(head) == 1:  # the decision in its colour
            out.print(
                f"{escape(group.group)}  [{STYLE[group.outcome]}]{decision}[/]",
                soft_wrap=True,
                highlight=False,
            )
        else:
            print_lines(out, head)
        replacement = (
            group.replacement.instance_id if group.replacement and group.replacement.instance_id else None
        )
        waited = group.recycles[0].waited_seconds if group.recycles else group.waited_seconds
        instances = " ".join(
            part
            for part in (
                victim.instance_id if victim else "oldest",
                f"({age:.1f} d)" if age is not None else "",
                f"→ {replacement}" if replacement else "",
                f"({waited:.0f} s)" if waited is not None else "",
            )
            if part
        )
        if instances != "oldest":
            print_lines(out, wrapped(instances, width))
        ami = ami_state(group).replace("[red]", "").replace("[/]", "")
        if ami != "-" or image_ages(group) != "-":
            print_lines(out, wrapped(f"AMI: {ami}; image age {image_ages(group)} d", width))
        print_lines(out, wrapped(_reason(group), width))
        for number, extra in enumerate(group.recycles[1:], start=2):
            replaced = (
                extra.replacement.instance_id if extra.replacement and extra.replacement.instance_id else "-"
            )
            line = f"#{number} {extra.outcome} {extra.victim.instance_id} → {replaced}"
            if extra.waited_seconds is not None:
                line += f" ({extra.waited_seconds:.0f} s)"
            print_lines(out, wrapped(f"{line}: {extra.reason}", width))
    print_lines(out, wrapped(_caption(report), width, ""))


def _reason(group: GroupReport) -> str:
    reason = group.reason + (f": {group.detail}" if group.detail else "")
    if group.container_host:
        reason += f" [{group.container_host}]"
    if group.standby_instances:
        reason += f" ({group.standby_instances} in Standby)"
    return reason


def _caption(report: RunReport) -> str:
    s = report.summary
    return (
        f"recycled {s.recycled} · planned {s.planned} · skipped {s.skipped} · failed {s.failed}"
        f" · instances recycled {s.instances_recycled}"
    )


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
    if is_narrow(out):
        print_narrow_report(report, out)
    else:
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
