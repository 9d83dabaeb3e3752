"""The run's sliding window under the real Lambda handler and the durable test runner (waits skipped,
replays like Lambda): a group starts as soon as a slot frees, the stop-after-failures rule holds with a
failure in the middle of the window, and replays never start a group twice."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from recycler.aws.fleet import Fleet
from recycler.local import emulator
from recycler.workflow.health import HealthCheck
from recycler.workflow.state import HealthState
from tests.conftest import Stack, run_durable

Event = tuple[str, str]  # ("terminate", group) or ("checked", group): a health wait ended


@dataclass
class Timeline:
    events: list[Event] = field(default_factory=list)
    group_of: dict[str, str] = field(default_factory=dict)  # victim instance -> group

    def fleet(self, stack: Stack, boot_reads: dict[str, int]) -> None:
        """Groups in plan order (the first has the oldest instance), each replacement booting for
        that many reads of its group; one image, already proven, so no canary phase reorders them."""
        for rank, (name, reads) in enumerate(boot_reads.items()):
            victim = stack.world.group(name, [30 - rank, 1])[0]
            self.group_of[victim] = name
            emulator.sabotage(name, "slow", slow_reads=reads)
        stack.prove(stack.world.images[0])


@pytest.fixture
def timeline(monkeypatch: pytest.MonkeyPatch) -> Timeline:
    """Every terminate and every end of a health wait, in the order they happened."""
    seen = Timeline()
    terminate, poll = Fleet.terminate, HealthCheck.poll

    def terminating(self: Fleet, instance_id: str, *, decrement: bool) -> str:
        seen.events.append(("terminate", seen.group_of.get(instance_id, instance_id)))
        return terminate(self, instance_id, decrement=decrement)

    def polling(self: HealthCheck, state: HealthState) -> HealthState:
        result = poll(self, state)
        if result.done:
            seen.events.append(("checked", self.group))
        return result

    monkeypatch.setattr(Fleet, "terminate", terminating)
    monkeypatch.setattr(HealthCheck, "poll", polling)
    return seen


def test_the_next_group_starts_as_soon_as_a_slot_frees(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, timeline: Timeline
) -> None:
    monkeypatch.setenv("RECYCLER_MAX_CONCURRENCY", "2")
    events = timeline.events
    # g0 boots for 10 polls (~9 minutes on the backoff schedule, inside the 13 polls of its 605 s health
    # timeout); g1..g5 for one each: in waves of two, g2 would wait for g0.
    timeline.fleet(stack, {"g0": 10, **{f"g{n}": 1 for n in range(1, 6)}})
    done = run_durable({"poll_seconds": 15})
    assert done.status == "SUCCEEDED", done.error
    assert done.report is not None
    assert {g["group"]: g["outcome"] for g in done.report["groups"]} == {
        f"g{n}": "recycled" for n in range(6)
    }
    g0_checked = events.index(("checked", "g0"))
    started_while_g0_boots = [g for kind, g in events[:g0_checked] if kind == "terminate"]
    assert sorted(started_while_g0_boots) == [f"g{n}" for n in range(6)], events
    # Never more than two at a time: each start after the first two follows the end of another wait.
    running = 0
    for kind, _ in events:
        running += 1 if kind == "terminate" else -1
        assert running <= 2, events


def test_f27_a_failure_in_the_middle_of_the_window_stops_new_groups_not_running_ones(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, timeline: Timeline
) -> None:
    monkeypatch.setenv("RECYCLER_MAX_CONCURRENCY", "2")
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", "1")
    events = timeline.events
    timeline.fleet(stack, {"g0": 10, "g1": 1, "g2": 1, "g3": 1, "g4": 1})
    emulator.sabotage("g2", "unhealthy")  # fails while g0 is still booting
    done = run_durable({"poll_seconds": 15})
    assert done.status == "SUCCEEDED", done.error
    assert done.report is not None
    groups = {g["group"]: g for g in done.report["groups"]}
    assert [groups[g]["outcome"] for g in ("g0", "g1", "g2")] == ["recycled", "recycled", "failed"]
    for late in ("g3", "g4"):
        assert (groups[late]["outcome"], groups[late]["reason"]) == ("skipped", "stopped-after-failures")
        assert "1 group(s) failed in this run; limit 1" in groups[late]["detail"]
    terminated = [g for kind, g in events if kind == "terminate"]
    assert sorted(terminated) == ["g0", "g1", "g2"]
    # g2 failed while g0 was running, and g0 still ran to its healthy end.
    assert events.index(("checked", "g2")) < events.index(("checked", "g0"))


def test_f28_replays_mid_window_never_start_a_group_twice(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, timeline: Timeline, invocations: list[int]
) -> None:
    monkeypatch.setenv("RECYCLER_MAX_CONCURRENCY", "3")
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", "2")
    events = timeline.events
    boot = {"g0": 11, "g1": 3, "g2": 9, "g3": 2, "g4": 7, "g5": 1, "g6": 4, "g7": 2}
    timeline.fleet(stack, boot)
    emulator.sabotage("g3", "unhealthy")  # one failure mid-window: below the limit, the run goes on
    done = run_durable({"poll_seconds": 15})
    assert done.status == "SUCCEEDED", done.error
    assert len(invocations) > 10, "the waits should have suspended and replayed the run many times"
    starts = Counter(op.name for op in done.operations if op.name and op.name.endswith(":preflight"))
    assert starts == {f"{g}:preflight": 1 for g in boot}
    terminated = Counter(g for kind, g in events if kind == "terminate")
    assert terminated == {g: 1 for g in boot}
    assert done.report is not None
    outcomes = Counter(g["outcome"] for g in done.report["groups"])
    assert outcomes == {"recycled": 7, "failed": 1}
