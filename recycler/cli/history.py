"""`python -m recycler history`: every recycle the ledger remembers, newest first.

Reads the ledger table (RECYCLER_LEDGER_TABLE): per named group a Query, or with no group a Scan
(recycler/aws/ledger.py, Ledger.history, says why and what each costs). Rows live as long as the ledger's
TTL (RECYCLER_LEDGER_TTL_DAYS, 90 by default): older recycles are gone, whatever --days asks for.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from recycler.cli.readout import EXIT_OK, contact_flags, emit_rows, placed, positive, read_each
from recycler.cli.render import console, is_narrow, print_lines, wrapped

if TYPE_CHECKING:
    from recycler.cli.places import Place
    from recycler.models import Settings

COLUMNS = (
    "time",
    "group",
    "outcome",
    "victim",
    "replacement",
    "victim_image",
    "replacement_image",
    "reason",
    "waited_seconds",
    "mode",
    "run_id",
    "account",
    "region",
)
STYLE = {"recycled": "green", "failed": "bold red"}


def register(commands: Any) -> None:
    parser = commands.add_parser("history", help="the recycles the ledger remembers, newest first")
    parser.add_argument(
        "--group", action="append", dest="groups", metavar="NAME", help="only this group (repeatable)"
    )
    parser.add_argument(
        "--days", type=positive(float), default=30.0, metavar="N", help="the last N days (default 30)"
    )
    parser.add_argument(
        "--image",
        action="append",
        dest="images",
        metavar="AMI",
        help="instead: the organization's verdicts on this image, ring by ring (repeatable)",
    )
    contact_flags(
        parser,
        "the ledger's rows",
        stack="read the ledger of a deployed stack (its LedgerTable output) instead of RECYCLER_LEDGER_TABLE",
    )
    parser.set_defaults(handler=main)


def row(item: dict[str, str]) -> dict[str, Any]:
    """One ledger history item as a report row (an item written before images were recorded has none)."""
    _, time, run_id = item["record"].split("#", 2)
    waited = item.get("waited_seconds")
    return {
        "time": time,
        "group": item["group_name"],
        "outcome": item.get("status"),
        "victim": item.get("victim"),
        "replacement": item.get("replacement"),
        "victim_image": item.get("victim_image"),
        "replacement_image": item.get("replacement_image"),
        "reason": item.get("reason"),
        "waited_seconds": float(waited) if waited else None,
        "mode": item.get("mode"),
        "run_id": item.get("run_id") or run_id,
    }


def read_history(
    session: Any, table: str, ttl_days: int, groups: list[str], days: float
) -> list[dict[str, Any]]:
    from recycler.aws.ledger import Ledger

    now = datetime.now(UTC)
    items = Ledger(table, ttl_days, session).history(groups, now - timedelta(days=days), now)
    return [row(item) for item in items]


def main(args: argparse.Namespace) -> int:
    from recycler.cli.first_contact import CannotRun

    def read(place: Place, settings: Settings) -> tuple[int, list[dict[str, Any]]]:
        if not settings.ledger_table:
            raise CannotRun(
                "RECYCLER_LEDGER_TABLE is not set: name the deployed stack with --stack NAME, or set it to "
                "the stack's LedgerTable output (aws cloudformation describe-stacks --stack-name Recycler)"
            )
        found = read_history(
            place.session, settings.ledger_table, settings.ledger_ttl_days, args.groups or [], args.days
        )
        return settings.ledger_ttl_days, found

    if getattr(args, "images", None):
        return image_verdicts(args)
    found, code = read_each(args, read)
    if code != EXIT_OK:
        return code
    accounts = len({place.identity.account for place, _ in found})
    rows = []
    for place, (_, place_rows) in found:
        for r in place_rows:
            r["group"] = placed(place, r["group"], len(found) > 1, accounts)
            r["account"], r["region"] = place.identity.account, place.identity.region
            rows.append(r)
    rows.sort(key=lambda r: str(r["time"]), reverse=True)
    ttl_days = found[0][1][0]
    emit_rows(args, rows, rows, COLUMNS, lambda: render(rows, args.days, ttl_days))
    return EXIT_OK


def image_verdicts(args: argparse.Namespace) -> int:
    """`history --image`: the central verdict table's rows on these images (recycler/cli/verdicts.py)."""
    from recycler.cli import verdicts

    def read(place: Place, settings: Settings) -> list[dict[str, Any]]:
        return verdicts.read_verdicts(
            place.session, settings, place.identity.region, args.images, place.identity.account
        )

    found, code = read_each(args, read)
    if code != EXIT_OK:
        return code
    rows = [r for _, place_rows in found for r in place_rows]
    emit_rows(args, rows, rows, verdicts.COLUMNS, lambda: verdicts.render(rows, args.images))
    return EXIT_OK


# The wide table's eight columns hold two instance ids and two AMI ids a row, each whole.
WIDE_TABLE = 200


def render(rows: list[dict[str, Any]], days: float, ttl_days: int) -> None:
    title = f"recycler history: {len(rows)} recycles in the last {days:g} days (the ledger keeps {ttl_days})"
    out = console(unwrapped=WIDE_TABLE)
    if is_narrow(out, below=WIDE_TABLE):
        _render_narrow(rows, title, out)
        return
    table = Table(title=title, title_justify="left")
    for column in (
        "time (UTC)",
        "group",
        "outcome",
        "victim → replacement",
        "image old → new",
        "reason",
        "waited",
        "run",
    ):
        table.add_column(column, overflow="fold", no_wrap="→" in column)
    for r in rows:
        outcome = r["outcome"] or "?"
        table.add_row(
            r["time"][:16].replace("T", " "),
            r["group"],
            f"[{STYLE.get(outcome, 'yellow')}]{outcome}[/]",
            f"{r['victim'] or '-'} → {r['replacement'] or '-'}",
            f"{r['victim_image'] or '?'} → {r['replacement_image'] or '?'}",
            r["reason"] or "",
            _waited(r),
            (r["run_id"] or "")[:8],
        )
    out.print(table)


def _waited(row: dict[str, Any]) -> str:
    return f"{row['waited_seconds']:.0f} s" if row["waited_seconds"] is not None else "-"


def _render_narrow(rows: list[dict[str, Any]], title: str, out: Console) -> None:
    """Below the wide table's width: per recycle a line of when, which group and what came of it, then
    the instances, the images and the reason each on their own line(s); no id split across lines."""
    width = out.width
    print_lines(out, wrapped(title, width, ""), "bold")
    for r in rows:
        outcome = r["outcome"] or "?"
        when = r["time"][:16].replace("T", " ")
        print_lines(
            out, wrapped(f"{when}  {r['group']}  {outcome}  run {(r['run_id'] or '')[:8]}", width, "")
        )
        print_lines(out, wrapped(f"{r['victim'] or '-'} → {r['replacement'] or '-'} ({_waited(r)})", width))
        print_lines(
            out, wrapped(f"image {r['victim_image'] or '?'} → {r['replacement_image'] or '?'}", width)
        )
        if r["reason"]:
            print_lines(out, wrapped(str(r["reason"]), width))
