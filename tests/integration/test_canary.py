"""The AMI canary: the first recycle onto an unproven image runs alone; a broken image fails one group."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest

from recycler.aws.fleet import Fleet
from recycler.local import emulator
from recycler.models import Settings
from recycler.report import RunReport
from recycler.workflow.port import Port
from recycler.workflow.state import RecycleItem
from tests.conftest import Stack, invoke_durable
from tests.faults.harness import FaultPort, recycle

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
SIX = ("g1", "g2", "g3", "g4", "g5", "g6")


def six_groups_on_a_new_image(stack: Stack, *, broken: bool) -> None:
    for n, name in enumerate(SIX):
        stack.world.group(name, [9.0] + [5.0] * (n % 3 + 1), max_size=8)  # g3/g6 have the most instances
        if broken:
            emulator.sabotage(name, "unhealthy")
    stack.world.publish_patched_image()


def by_group(report: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    assert report is not None
    return {g["group"]: g for g in report["groups"]}


def test_a_broken_image_fails_one_group_not_six(
    stack: Stack, terminations: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECYCLER_MAX_CONCURRENCY", "5")
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", "3")
    six_groups_on_a_new_image(stack, broken=True)
    status, report, _ = invoke_durable({"poll_seconds": 15})
    groups = by_group(report)
    assert status == "SUCCEEDED" and len(terminations) == 1
    [canary] = [g for g in groups.values() if g["canary"]]
    assert canary["outcome"] == "failed" and canary["group"] in ("g3", "g6")  # the most headroom
    held = [g for g in groups.values() if g["reason"] == "canary-failed"]
    assert len(held) == 5 and all(stack.world.images[1] in g["detail"] for g in held)
    assert (
        f"CANARY FAILED: image {stack.world.images[1]} failed on {canary['group']}"
        in stack.alerts()[-1]["Message"]
    )


class Recorder(FaultPort):
    """Records the order of terminations and of health verdicts, and each fan-out's groups."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__()
        self.events: list[str] = []
        self.fanouts: list[list[str]] = []
        self.on_poll = lambda name, state: (
            self.events.append(f"{state.status}:{name.split(':')[0]}") if state.done else None
        )
        original = Fleet.terminate
        events = self.events

        def terminate(fleet: Fleet, instance_id: str, *, decrement: bool) -> str:
            events.append(f"terminate:{instance_id}")
            return original(fleet, instance_id, decrement=decrement)

        monkeypatch.setattr(Fleet, "terminate", terminate)

    def map(
        self, name: str, items: Sequence[I], fn: Callable[[Port, I], T], kind: type[T], max_concurrency: int
    ) -> list[T]:
        self.fanouts.append([item.job.group for item in items if isinstance(item, RecycleItem)])
        return super().map(name, items, fn, kind, max_concurrency)


def test_a_good_image_is_proven_by_the_canary_before_any_other_group_is_touched(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    six_groups_on_a_new_image(stack, broken=False)
    port = Recorder(monkeypatch)
    report = recycle(stack, port, Settings(max_concurrency=5, failures_before_stop=3))
    assert report.summary.recycled == 6
    [canary] = [g.group for g in report.groups if g.canary]
    assert port.fanouts[0] == [canary]  # alone
    healthy_at = port.events.index(f"healthy:{canary}")
    assert [e for e in port.events[:healthy_at] if e.startswith("terminate:")] == [port.events[0]]
    assert sum(1 for e in port.events if e.startswith("terminate:")) == 6

    # The ledger now knows the image: the next run does not canary it.
    for name in SIX:
        stack.world.group(f"next-{name}", [9, 5])
    again = recycle(
        stack, Recorder(monkeypatch), Settings(max_concurrency=5, failures_before_stop=3), force=True
    )
    assert not any(g.canary for g in again.groups)


def test_two_new_images_get_two_canaries_at_the_same_time(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a1", "a2"):
        stack.world.group(name, [9, 5])
    for name in ("b1", "b2"):
        stack.world.group(name, [9, 5], template="other")
    stack.world.publish_patched_image()  # group a launches images[1]; group b still launches images[0]
    port = Recorder(monkeypatch)
    report = recycle(stack, port, Settings(max_concurrency=5, failures_before_stop=3))
    canaries = sorted(g.group for g in report.groups if g.canary)
    assert len(canaries) == 2 and canaries[0].startswith("a") and canaries[1].startswith("b")
    assert sorted(port.fanouts[0]) == canaries
    assert report.summary.recycled == 4


def test_dry_run_shows_the_canary_and_who_waits(stack: Stack) -> None:
    six_groups_on_a_new_image(stack, broken=False)
    report: RunReport = recycle(stack, dry_run=True)
    [canary] = [g for g in report.groups if g.canary]
    assert (
        canary.detail.startswith(f"canary for {stack.world.images[1]}") and "5 group(s) wait" in canary.detail
    )
    waiting = [g for g in report.groups if not g.canary]
    assert all(
        g.detail.startswith(f"waits for canary {canary.group} on {stack.world.images[1]}; ") for g in waiting
    )


def test_a_drill_can_force_a_canary_for_a_proven_image(stack: Stack) -> None:
    for name in ("x", "y"):
        stack.world.group(name, [9, 5])
    stack.prove(stack.world.images[0])
    assert not any(g.canary for g in recycle(stack, dry_run=True).groups)
    assert sum(g.canary for g in recycle(stack, dry_run=True, canary=True).groups) == 1


def test_a_replay_never_reruns_the_canary(stack: Stack, terminations: list[Any]) -> None:
    for name in ("c1", "c2", "c3"):
        stack.world.group(name, [9, 5])
        emulator.sabotage(name, "slow", slow_reads=4)  # several suspended polls: several replays
    stack.world.publish_patched_image()
    status, report, _ = invoke_durable({"poll_seconds": 15})
    assert status == "SUCCEEDED"
    assert sorted(g["outcome"] for g in by_group(report).values()) == ["recycled"] * 3
    assert len(terminations) == 3 and len({i for i, _ in terminations}) == 3
