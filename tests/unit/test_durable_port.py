"""A wait that yields an old invocation (recycler/durable.py): what it checkpoints instead of a poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recycler.durable import yielded
from recycler.workflow import budget
from recycler.workflow.codec import decode, encode
from recycler.workflow.health import waited_seconds
from recycler.workflow.state import HealthState

STARTED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_yield_counts_the_pause_already_waited_and_asks_for_a_short_one() -> None:
    polled = HealthState(attempt=3, elapsed=45.0, next_poll_seconds=15, detail="i-1 is Pending")
    after = decode(HealthState, yielded(encode(polled), poll_seconds=15))
    assert (after.attempt, after.elapsed, after.next_poll_seconds) == (3, 60.0, 15)
    assert after.detail == polled.detail and not after.done
    # The next real poll counts the yield's pause too, even where no clock moved (skipped waits).
    assert waited_seconds(after, STARTED, STARTED, 15) == 60.0 + 15


def test_a_yield_pauses_about_the_waits_own_interval_within_bounds() -> None:
    shortest, longest = budget.YIELD_PAUSE_SECONDS
    for poll_seconds, pause in ((1, shortest), (15, 15), (3600, longest)):
        state = decode(HealthState, yielded(encode(HealthState(attempt=1)), poll_seconds))
        assert state.next_poll_seconds == pause


def test_a_yield_before_the_first_poll_waits_nothing_extra() -> None:
    after = decode(HealthState, yielded(encode(HealthState()), poll_seconds=15))
    assert (after.attempt, after.elapsed) == (0, 0.0)
    assert waited_seconds(after, STARTED, STARTED + timedelta(seconds=4), 15) == 4.0
