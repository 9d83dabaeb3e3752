"""`python -m recycler history --image AMI`: the organization's verdicts on an image, ring by ring.

Reads the central verdict table (RECYCLER_VERDICTS_TABLE, with RECYCLER_ACCOUNT_ID and RECYCLER_RINGS as
the stack sets them; docs/many-accounts.md, Verdicts across the organization) under the image's verdict
key, so a copy in another region shows its source's verdicts. One Query per image.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from recycler.models import Settings
from recycler.policy.rings import ORGANIZATION_RING, parse_rings

COLUMNS = ("image", "key", "ring", "verdict", "account", "region", "group", "image_id", "at", "reason")
STYLE = {"proven": "green", "condemned": "bold red"}


def read_verdicts(session: Any, settings: Settings, region: str, images: list[str]) -> list[dict[str, Any]]:
    """Every member's verdict on these images, in ring order (the rings as this member knows them),
    then oldest first."""
    from recycler.aws.verdicts_central import CentralVerdicts
    from recycler.cli.first_contact import CannotRun

    member = settings.membership(region)
    if member is None or not settings.verdicts_table:
        raise CannotRun(
            "no organization verdict store: set RECYCLER_VERDICTS_TABLE (the central table's ARN, "
            "arn:aws:dynamodb:<region>:<central account>:table/recycler-verdicts) and RECYCLER_ACCOUNT_ID, "
            "or name a member stack with --stack"
        )
    store = CentralVerdicts(settings.verdicts_table, member, session)
    keys = store.image_keys(images)
    found = store.verdicts(sorted(set(keys.values())))
    order = [r.name for r in parse_rings(settings.rings)] or [ORGANIZATION_RING]
    rows = [
        {
            "image": image,
            "key": keys[image],
            "ring": v.ring,
            "verdict": v.verdict,
            "account": v.account,
            "region": v.region,
            "group": v.group,
            "image_id": v.image_id,
            "at": v.at.isoformat(),
            "reason": v.reason,
        }
        for image in images
        for v in found.get(keys[image], [])
    ]
    rows.sort(key=lambda r: (order.index(r["ring"]) if r["ring"] in order else len(order), r["at"]))
    return rows


def render(rows: list[dict[str, Any]], images: list[str]) -> None:
    table = Table(title=f"organization verdicts on {', '.join(images)}", title_justify="left")
    for column in ("ring", "verdict", "account / region", "group", "image (key)", "at (UTC)", "reason"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            r["ring"],
            f"[{STYLE.get(r['verdict'], 'yellow')}]{r['verdict']}[/]",
            f"{r['account']} {r['region']}",
            r["group"],
            f"{r['image_id']} ({r['key']})",
            r["at"][:16].replace("T", " "),
            r["reason"],
        )
    if not rows:
        table.add_row("-", "no verdict yet", "", "", "", "", "")
    Console(width=200).print(table)
