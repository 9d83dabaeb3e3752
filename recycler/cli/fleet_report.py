"""`python -m recycler fleet`: how fresh the opted-in fleet is now, from the live fleet alone.

Per opted-in group: instance ages (days since launch, from EC2) and image ages (days since the AMI's
CreationDate), and how many instances are over the bit-rot and image-rot thresholds; for the whole fleet
p50/p95/max instance age and an age histogram. `--json` is the document an auditor keeps: when it was
read, which account and region, the thresholds, and every instance counted.

The thresholds default to the stack's alarm thresholds (infra/config.py: recycler:bit_rot_days 14,
recycler:image_rot_days 30; tests/integration/test_fleet_report.py holds them equal).

A member with an organization verdict store (RECYCLER_VERDICTS_TABLE and RECYCLER_ACCOUNT_ID) also sees,
for each image its groups run or would launch, the organization's verdict ring by ring (`image_verdicts`
in the JSON; recycler/cli/verdicts.py). A store it cannot read is one line, never a failed report.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from recycler.cli import verdicts
from recycler.cli.output import output_of
from recycler.cli.readout import EXIT_OK, contact_flags, emit_rows, placed, positive, read_each
from recycler.cli.render import console as terminal_console
from recycler.cli.render import is_narrow
from recycler.policy.ages import percentile

if TYPE_CHECKING:
    from recycler.cli.places import Place
    from recycler.models import Settings
    from recycler.policy.freshness import Outlook

BIT_ROT_DAYS = 14.0
IMAGE_ROT_DAYS = 30.0
# Histogram buckets (days): lower bounds; the last is open-ended.
BUCKETS = (0, 1, 3, 7, 14, 30, 60, 90)
GROUP_COLUMNS = (
    "group",
    "instances",
    "p50_instance_age_days",
    "max_instance_age_days",
    "over_bit_rot",
    "max_image_age_days",
    "over_image_rot",
    "unknown_image_age",
    "target_days",
    "within_target_on",
)
BAR = 40


def register(commands: Any) -> None:
    parser = commands.add_parser("fleet", help="instance and image ages of every opted-in group, now")
    parser.add_argument(
        "--bit-rot-days", type=positive(float), default=BIT_ROT_DAYS, metavar="N", help="default 14"
    )
    parser.add_argument(
        "--image-rot-days", type=positive(float), default=IMAGE_ROT_DAYS, metavar="N", help="default 30"
    )
    contact_flags(
        parser,
        "the freshness report",
        stack="read the organization verdict store of a deployed member stack (its VerdictsTable output)",
    )
    parser.set_defaults(handler=main)


def histogram(ages: Sequence[float]) -> list[dict[str, Any]]:
    rows = []
    for index, low in enumerate(BUCKETS):
        high = BUCKETS[index + 1] if index + 1 < len(BUCKETS) else None
        count = sum(1 for a in ages if a >= low and (high is None or a < high))
        rows.append({"from_days": low, "to_days": high, "instances": count})
    return rows


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def read_fleet(
    session: Any, tag_prefix: str, now: datetime, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Every opted-in group's instances with their ages: the same discovery as a run's plan; with the
    settings, each freshness target's outlook at the rate a scheduled run plans."""
    from recycler.aws.clients import Clients
    from recycler.aws.fleet import Fleet
    from recycler.domain import PolicySettings
    from recycler.policy.tags import opt_in_state, tag_key
    from recycler.workflow.freshness import fleet_outlooks

    rules = PolicySettings(tag_prefix=tag_prefix)
    fleet = Fleet(clients=Clients(session))
    raw = fleet.list_groups(tag_key(rules, "enabled"))
    opted_in = {s.name for s in map(fleet.snapshot, raw) if opt_in_state(s, rules) is None}
    snapshots = fleet.snapshots(raw, opted_in=opted_in)
    images = {i.image_id for s in snapshots for i in s.instances if i.image_id}
    image_ages = fleet.image_ages(sorted(images), now) if images else {}
    chosen = [s for s in snapshots if s.name in opted_in]
    outlooks = fleet_outlooks(chosen, settings, now) if settings is not None else {}
    groups = []
    for snapshot in sorted((s for s in snapshots if s.name in opted_in), key=lambda s: s.name):
        instances = [
            {
                "instance_id": i.instance_id,
                "lifecycle_state": i.lifecycle_state,
                "launch_time": i.launch_time.isoformat() if i.launch_time else None,
                "age_days": _round((now - i.launch_time).total_seconds() / 86400) if i.launch_time else None,
                "image_id": i.image_id,
                "image_age_days": _round(image_ages.get(i.image_id)) if i.image_id else None,
            }
            for i in snapshot.instances
        ]
        # The images it runs and the ones it would launch (its template's, per type override too).
        launches = {snapshot.current_image_id, *(image for _, image in snapshot.override_images)}
        runs = {i.image_id for i in snapshot.instances}
        groups.append(
            {
                "group": snapshot.name,
                "instances": instances,
                "target": target(outlooks.get(snapshot.name)),
                "images": sorted(image for image in runs | launches if image),
            }
        )
    return groups


def target(seen: Outlook | None) -> dict[str, Any] | None:
    """A freshness target's outlook: its oldest age and the day it is within at the planned rate, or
    "never at this rate" and why (policy/freshness.py)."""
    if seen is None:
        return None
    within = seen.within_target_at.date().isoformat() if seen.within_target_at else None
    return {
        "target_days": seen.target_days,
        "oldest_age_days": seen.oldest_age_days,
        "within_target_on": within,
        "at_the_planned_rate": f"within from {within}"
        if within
        else f"never at this rate: {seen.describe()}",
    }


def freshness(groups: list[dict[str, Any]], bit_rot: float, image_rot: float) -> dict[str, Any]:
    """The report: per group and for the fleet, from read_fleet's groups."""
    rows, all_ages = [], []
    for group in groups:
        ages = [i["age_days"] for i in group["instances"] if i["age_days"] is not None]
        image_ages = [i["image_age_days"] for i in group["instances"] if i["image_age_days"] is not None]
        all_ages += ages
        rows.append(
            {
                "group": group["group"],
                "instances": len(group["instances"]),
                "p50_instance_age_days": percentile(ages, 50),
                "max_instance_age_days": max(ages, default=None),
                "over_bit_rot": sum(1 for a in ages if a > bit_rot),
                "max_image_age_days": max(image_ages, default=None),
                "over_image_rot": sum(1 for a in image_ages if a > image_rot),
                "unknown_image_age": len(group["instances"]) - len(image_ages),
                "target_days": (group.get("target") or {}).get("target_days"),
                "within_target_on": (group.get("target") or {}).get("within_target_on"),
                "target": group.get("target"),
                "instance_list": group["instances"],
            }
        )
    return {
        "thresholds": {"bit_rot_days": bit_rot, "image_rot_days": image_rot},
        "fleet": {
            "groups": len(rows),
            "instances": sum(r["instances"] for r in rows),
            "p50_instance_age_days": percentile(all_ages, 50),
            "p95_instance_age_days": percentile(all_ages, 95),
            "max_instance_age_days": max(all_ages, default=None),
            "over_bit_rot": sum(r["over_bit_rot"] for r in rows),
            "over_image_rot": sum(r["over_image_rot"] for r in rows),
            "histogram": histogram(all_ages),
        },
        "groups": rows,
    }


def read(
    place: Place, settings: Settings, now: datetime
) -> tuple[list[dict[str, Any]], verdicts.RingVerdicts | None]:
    """One place's groups, and its organization verdicts on their images (None without a store)."""
    groups = read_fleet(place.session, settings.tag_prefix, now, settings)
    images = sorted({image for group in groups for image in group["images"]})
    return groups, verdicts.read_ring_verdicts(
        place.session, settings, place.identity.region, images, place.identity.account
    )


def main(args: argparse.Namespace) -> int:
    now = datetime.now(UTC).replace(microsecond=0)
    found, code = read_each(args, lambda place, settings: read(place, settings, now))
    if code != EXIT_OK:
        return code
    accounts = sorted({place.identity.account for place, _ in found})
    groups = []
    for place, (place_groups, _) in found:
        for group in place_groups:
            group["group"] = placed(place, group["group"], len(found) > 1, len(accounts))
            groups.append(group)
    report = {
        "read_at": now.isoformat(),
        "account": ",".join(accounts),
        "region": ",".join(place.identity.region for place, _ in found),
        **freshness(groups, args.bit_rot_days, args.image_rot_days),
        **organization(found),
    }
    note = report.get("organization_verdicts_unreadable")
    if note and (args.query or output_of(args) != "table"):  # stdout stays the document; the table says it
        print(verdicts.UNREADABLE.format(error=note), file=sys.stderr)
    emit_rows(args, report, report["groups"], GROUP_COLUMNS, lambda: render(report))
    return EXIT_OK


def organization(
    found: list[tuple[Place, tuple[list[dict[str, Any]], verdicts.RingVerdicts | None]]],
) -> dict[str, Any]:
    """The report's organization verdicts: nothing without a store (the report is as it was), else
    `image_verdicts` (each image once, as the first place read it) and why a store was unreadable."""
    read = [(place, result) for place, (_, result) in found if result is not None]
    if not read:
        return {}
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    problems = []
    for place, (place_rows, problem) in read:
        for row in place_rows:
            rows.setdefault((row["image"], row["key"], row["ring"]), row)
        if problem:
            problems.append(f"{place.identity.region}: {problem}" if len(found) > 1 else problem)
    unreadable = {"organization_verdicts_unreadable": "; ".join(problems)} if problems else {}
    return {"image_verdicts": list(rows.values()), **unreadable}


def _days(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def render(report: dict[str, Any]) -> None:
    console = terminal_console()
    limits = report["thresholds"]
    fleet = report["fleet"]
    table = Table(
        title=f"recycler fleet: account {report['account']} {report['region']} at {report['read_at']}",
        title_justify="left",
    )
    # Narrow (an 80-column terminal): the median age goes, the headers shorten; the fleet line keeps it.
    narrow = is_narrow(console)
    columns = {
        "group": "group",
        "instances": "n" if narrow else "instances",
        "p50": "p50 age (d)",
        "max": "max (d)" if narrow else "max age (d)",
        "over": f"> {limits['bit_rot_days']:g} d",
        "ami": "AMI (d)" if narrow else "max AMI age (d)",
        "ami_over": f"AMI > {limits['image_rot_days']:g} d",
    }
    if narrow:
        del columns["p50"]
    for key, column in columns.items():
        table.add_column(column, justify="left" if key == "group" else "right", overflow="fold")
    for g in report["groups"]:
        cells = {
            "group": g["group"],
            "instances": str(g["instances"]),
            "p50": _days(g["p50_instance_age_days"]),
            "max": _days(g["max_instance_age_days"]),
            "over": f"[red]{g['over_bit_rot']}[/]" if g["over_bit_rot"] else "0",
            "ami": _days(g["max_image_age_days"]),
            "ami_over": f"[red]{g['over_image_rot']}[/]" if g["over_image_rot"] else "0",
        }
        table.add_row(*(cells[key] for key in columns))
    console.print(table)
    for g in (g for g in report["groups"] if g["target"]):
        seen = g["target"]
        colour = "green" if seen["within_target_on"] else "red"
        console.print(
            f"{g['group']}: target {seen['target_days']:g} d, oldest {seen['oldest_age_days']:.1f} d; "
            f"[{colour}]{escape(seen['at_the_planned_rate'])}[/]"
        )
    console.print(
        f"fleet: {fleet['instances']} instances in {fleet['groups']} groups; instance age p50 "
        f"{_days(fleet['p50_instance_age_days'])} d, p95 {_days(fleet['p95_instance_age_days'])} d, max "
        f"{_days(fleet['max_instance_age_days'])} d; {fleet['over_bit_rot']} over {limits['bit_rot_days']:g} d, "
        f"{fleet['over_image_rot']} on an AMI over {limits['image_rot_days']:g} d"
    )
    widest = max((b["instances"] for b in fleet["histogram"]), default=0) or 1
    for bucket in fleet["histogram"]:
        span = (
            f"{bucket['from_days']}-{bucket['to_days']}"
            if bucket["to_days"] is not None
            else f"{bucket['from_days']}+"
        )
        label = f"{span:>6} d"
        bar = "█" * math.ceil(bucket["instances"] / widest * BAR) if bucket["instances"] else ""
        over = bucket["from_days"] >= limits["bit_rot_days"]
        console.print(f"  {label} [{'red' if over else 'green'}]{bar}[/] {bucket['instances']}")
    if "image_verdicts" in report:
        unreadable = report.get("organization_verdicts_unreadable", "")
        verdicts.render_rings(report["image_verdicts"], unreadable, console, narrow)
