"""Which recycle starts first in the window: the longest expected, among those the plan selected.

A sliding window over max_concurrency slots finishes soonest when the longest jobs start first (longest
processing time first, LPT: within 4/3 of the optimum, where plan order, oldest first, can leave one
slow group running alone at the end). How long a group takes is its last recycle's health wait, kept on
its claim in the ledger (recycler/aws/ledger.py, `last_waited_seconds`). Canaries still go first: the
groups waiting on them start only in a later phase. A group without history is expected to take the
mean of those with one. The read is one checkpointed step, so a replay orders the window the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from recycler.domain import AWS_ERRORS
from recycler.workflow.port import Services
from recycler.workflow.state import Job, RecycleItem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpectedWaits:
    """Seconds each group's last recycle waited for health (groups with a history only)."""

    seconds: dict[str, float] = field(default_factory=dict)


def read_expected(services: Services, jobs: list[Job]) -> ExpectedWaits:
    """The ledger's last waits; unreadable is no history (plan order), never a failed run."""
    assert services.ledger is not None
    try:
        return ExpectedWaits(services.ledger.expected_waits([j.group for j in jobs]))
    except AWS_ERRORS as error:
        logger.warning("expected waits unreadable: plan order", extra={"error": str(error)})
        return ExpectedWaits()


def longest_first(items: list[RecycleItem], expected: dict[str, float]) -> list[RecycleItem]:
    """Canaries first, then the longest expected recycle first; ties keep the plan's order."""
    if not expected:
        return items
    known = [expected[i.job.group] for i in items if i.job.group in expected]
    default = sum(known) / len(known) if known else 0.0
    return sorted(items, key=lambda i: (not i.canary, -expected.get(i.job.group, default)))
