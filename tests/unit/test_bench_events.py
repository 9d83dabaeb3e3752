"""bench/events.py: the event-driven port the makespan bench measures with. Each wait advances only
its own branch's timer, at most max_concurrency branches are in flight, results come back in order."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from bench.events import EventClock, EventPort, Interval, max_in_flight
from recycler.workflow.port import Port

START = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Ticks:
    done: bool = False
    attempt: int = 0
    next_poll_seconds: int = 0


def test_concurrent_waits_each_advance_their_own_timer() -> None:
    clock = EventClock(START)
    port = EventPort(clock)
    seen: list[tuple[str, float]] = []
    durations = {"a": 30, "b": 60, "c": 10, "d": 20}

    def branch(branch_port: Port, name: str) -> str:
        """Waits durations[name] in polls of 10 s, recording when it ends."""

        def poll(state: Ticks) -> Ticks:
            return replace(state, attempt=state.attempt + 1, done=state.attempt >= durations[name] // 10)

        branch_port.wait_until(name, poll, Ticks(), 10)
        seen.append((name, clock.seconds()))
        return name

    assert port.map("m", list(durations), branch, str, 2) == ["a", "b", "c", "d"]
    # a [0,30], b [0,60], c [30,40], d [40,60]: a sliding window of 2, not a sum, not stretched.
    assert sorted(seen, key=lambda s: s[1]) == [("a", 30.0), ("c", 40.0), ("b", 60.0), ("d", 60.0)]
    assert [(i.label, i.start, i.end) for i in port.timeline] == [
        ("a", 0.0, 30.0),
        ("b", 0.0, 60.0),
        ("c", 30.0, 40.0),
        ("d", 40.0, 60.0),
    ]
    assert max_in_flight(port.timeline) == 2


def test_a_branch_error_ends_the_map() -> None:
    port = EventPort(EventClock(START))

    def branch(_: Port, item: int) -> int:
        if item == 1:
            raise RuntimeError("boom")
        return item

    with pytest.raises(RuntimeError, match="boom"):
        port.map("m", [0, 1, 2], branch, int, 2)


def test_max_in_flight_frees_a_slot_before_taking_it() -> None:
    assert max_in_flight([Interval("a", 0, 30), Interval("b", 30, 40)]) == 1
    assert max_in_flight([Interval("a", 0, 30), Interval("b", 29, 40), Interval("c", 0, 5)]) == 2
