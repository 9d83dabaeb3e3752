"""Which planned recycles a run takes first when it cannot take them all: the ones that fix bit rot,
oldest victim first."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from recycler.domain import Decision, Reason


def oldest_first(decisions: Iterable[Decision]) -> list[Decision]:
    """The planned recycles in the order a run takes them: first the ones that actually fix bit rot
    (the victim's image differs from the one the group launches now), oldest victim first in each."""
    return sorted(
        (d for d in decisions if d.recycle),
        key=lambda d: (
            not d.fixes_bit_rot,
            d.victim.launch_time if d.victim and d.victim.launch_time else datetime.max,
            d.group,
        ),
    )


def keep_first(decisions: Iterable[Decision], count: int, reason: Reason, detail: str) -> list[Decision]:
    """Keep the first `count` recycles (oldest first); the rest skip with `reason`."""
    decided = list(decisions)
    chosen = {d.group for d in oldest_first(decided)[:count]}
    return [d if not d.recycle or d.group in chosen else d.skipped(reason, detail) for d in decided]


def limit_run(decisions: Iterable[Decision], max_groups: int) -> list[Decision]:
    """Keep at most max_groups recycles, oldest instances first; the rest skip with run-limit."""
    return keep_first(
        decisions, max_groups, Reason.RUN_LIMIT, f"at most {max_groups} groups per run; oldest first"
    )
