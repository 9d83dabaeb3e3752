"""The organization's verdicts on images, from the central verdict table: `python -m recycler history
--image AMI` (every member's verdict, ring by ring) and `python -m recycler fleet` (for each image the
opted-in groups run or would launch, each ring's verdict).

Reads the central verdict table (RECYCLER_VERDICTS_TABLE, with RECYCLER_ACCOUNT_ID and RECYCLER_RINGS as
the stack sets them; docs/many-accounts.md, Verdicts across the organization) under the image's verdict
key, so a copy in another region shows its source's verdicts. One Query per image key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recycler.models import Settings
from recycler.policy.rings import CONDEMNED, ORGANIZATION_RING, PROVEN, OrgVerdict, parse_rings

if TYPE_CHECKING:
    from recycler.aws.verdicts_central import CentralVerdicts

COLUMNS = ("image", "key", "ring", "verdict", "account", "region", "group", "image_id", "at", "reason")
STYLE = {PROVEN: "green", CONDEMNED: "bold red"}
NONE_YET = "none yet"
UNREADABLE = "organization verdicts unreadable ({error})"
# `fleet`'s verdicts of one place: one row per (image, ring), and why the store was unreadable ("" if read).
RingVerdicts = tuple[list[dict[str, Any]], str]


def store_of(session: Any, settings: Settings, region: str, account: str = "") -> CentralVerdicts | None:
    """The central table as this member, or None when the member has no organization verdict store.
    Without RECYCLER_ACCOUNT_ID (the function's; a CLI user rarely sets it) the member is the caller's
    account (`account`, from GetCallerIdentity)."""
    from recycler.aws.verdicts_central import CentralVerdicts

    if not settings.account_id and account:
        settings = settings.model_copy(update={"account_id": account})
    member = settings.membership(region)
    if member is None or not settings.verdicts_table:
        return None
    return CentralVerdicts(settings.verdicts_table, member, session)


def ring_order(settings: Settings) -> list[str]:
    """The rings as this member knows them; without rings every member is in ORGANIZATION_RING."""
    return [r.name for r in parse_rings(settings.rings)] or [ORGANIZATION_RING]


def _read(store: CentralVerdicts, images: list[str]) -> tuple[dict[str, str], dict[str, list[OrgVerdict]]]:
    """Each image's verdict key (DescribeImages) and every member's verdicts under those keys: one Query
    per distinct key, however many images share it."""
    keys = store.image_keys(images)
    return keys, store.verdicts(sorted(set(keys.values())))


def read_verdicts(
    session: Any, settings: Settings, region: str, images: list[str], account: str = ""
) -> list[dict[str, Any]]:
    """Every member's verdict on these images, in ring order (the rings as this member knows them),
    then oldest first."""
    from recycler.cli.first_contact import CannotRun

    store = store_of(session, settings, region, account)
    if store is None:
        raise CannotRun(
            "no organization verdict store: name a member stack with --stack NAME, or set "
            "RECYCLER_VERDICTS_TABLE (the stack's VerdictsTable output, "
            "arn:aws:dynamodb:<region>:<central account>:table/recycler-verdicts)"
        )
    keys, found = _read(store, images)
    order = ring_order(settings)
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


def read_ring_verdicts(
    session: Any, settings: Settings, region: str, images: list[str], account: str = ""
) -> RingVerdicts | None:
    """`fleet`: per image, one row per ring in ring order (then any ring this member does not know that
    judged it), and why the store could not be read ("" when it was). None without a store."""
    from recycler.domain import AWS_ERRORS
    from recycler.messages import aws_error_text

    store = store_of(session, settings, region, account)
    if store is None:
        return None
    try:
        keys, found = _read(store, images) if images else ({}, {})
    except AWS_ERRORS as error:
        # The fleet is still reported: a table policy that does not let this role in (AccessDenied), a
        # table that is not there (ResourceNotFoundException,
        # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Query.html#API_Query_Errors),
        # an endpoint that does not answer.
        return [], aws_error_text(error)
    order = ring_order(settings)
    rows = []
    for image in images:
        verdicts = found.get(keys[image], [])
        for ring in order + [r for r in dict.fromkeys(v.ring for v in verdicts) if r not in order]:
            rows.append(ring_row(image, keys[image], ring, [v for v in verdicts if v.ring == ring]))
    return rows, ""


def ring_row(image: str, key: str, ring: str, verdicts: list[OrgVerdict]) -> dict[str, Any]:
    """A ring's verdict on an image: its first condemn (condemned anywhere holds the image everywhere),
    else its first proof (the soak counts from it), else none yet."""
    condemned = sorted((v for v in verdicts if v.verdict == CONDEMNED), key=lambda v: v.at)
    proven = sorted((v for v in verdicts if v.verdict == PROVEN), key=lambda v: v.at)
    first = next(iter(condemned or proven), None)
    return {
        "image": image,
        "key": key,
        "ring": ring,
        "verdict": first.verdict if first else NONE_YET,
        "account": first.account if first else None,
        "region": first.region if first else None,
        "group": first.group if first else None,
        "at": first.at.isoformat() if first else None,
    }


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
            _at(r["at"]),
            r["reason"],
        )
    if not rows:
        table.add_row("-", "no verdict yet", "", "", "", "", "")
    Console(width=200).print(table)


def render_rings(rows: list[dict[str, Any]], unreadable: str, out: Console, narrow: bool) -> None:
    """`fleet`'s table of each image's verdict per ring. Narrow (an 80-column terminal): no verdict key
    column, and the image id is never folded (the other columns fold to fit)."""
    table = Table(title="organization verdicts on the fleet's images", title_justify="left")
    columns = (
        ["image", "ring", "verdict", "by", "at (UTC)"]
        if narrow
        else ["image", "verdict key", "ring", "verdict", "account / region / group", "at (UTC)"]
    )
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column == "image")
    for r in rows:
        by = escape(f"{r['account']} {r['region']} {r['group']}") if r["account"] else "-"
        cells = [r["image"], escape(r["ring"]), f"[{STYLE.get(r['verdict'], 'yellow')}]{r['verdict']}[/]", by]
        table.add_row(*(cells if narrow else [cells[0], r["key"], *cells[1:]]), _at(r["at"]))
    if rows:
        out.print(table)
    if unreadable:
        out.print(UNREADABLE.format(error=unreadable), markup=False, highlight=False)


def _at(at: str | None) -> str:
    return at[:16].replace("T", " ") if at else "-"
