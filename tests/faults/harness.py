"""The fault harness: a port that injects a fault at a named step or poll, a run on the emulator, and
the invariants every fault test checks (nobody worse off, one termination per group)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import replace
from typing import Any, TypeVar

from recycler.aws.compose import aws_services
from recycler.aws.ledger import Ledger
from recycler.aws.sns import Alerts
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.report import RunReport
from recycler.workflow.port import Services
from recycler.workflow.run import run
from tests.conftest import REGION, Stack, World

Hook = Callable[[], None]
T = TypeVar("T")


class FaultPort(LocalPort):
    """A local port that injects a fault right before or after a named step, or after a poll."""

    def __init__(
        self,
        before: dict[str, Hook] | None = None,
        after: dict[str, Hook] | None = None,
        after_poll: dict[int, Hook] | None = None,
    ) -> None:
        super().__init__(sleep=lambda _: None, on_poll=self._polled)
        self.before = dict(before or {})
        self.after = dict(after or {})
        self.after_poll = dict(after_poll or {})
        self.polls = 0

    def _polled(self, name: str, state: Any) -> None:
        """Faults that happen while a recycle waits: after_poll[n] runs after the n-th health poll."""
        self.polls += 1
        if self.polls in self.after_poll:
            self.after_poll.pop(self.polls)()

    def step(self, name: str, fn: Callable[[], T], kind: type[T], *, at_most_once: bool = False) -> T:
        if name in self.before:
            self.before.pop(name)()
        result = super().step(name, fn, kind, at_most_once=at_most_once)
        if name in self.after:
            self.after.pop(name)()
        return result


def services(stack: Stack) -> Services:
    session = stack.world.session
    return replace(
        aws_services(session, region=REGION),
        ledger=Ledger(stack.table, session=session),
        alerts=Alerts(stack.topic_arn, session),
    )


def recycle(
    stack: Stack,
    port: LocalPort | None = None,
    settings: Settings | None = None,
    **payload: Any,
) -> RunReport:
    payload = {"poll_seconds": 5, "health_timeout_seconds": 60, **payload}
    return run(
        port or FaultPort(),
        services(stack),
        settings or Settings(failures_before_stop=10),
        ManualPayload(**payload),
    )


def healthy(world: World) -> dict[str, int]:
    groups = world.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    return {
        g["AutoScalingGroupName"]: sum(
            1 for i in g["Instances"] if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"
        )
        for g in groups
    }


def assert_no_worse(
    before: dict[str, int], after: dict[str, int], in_flight: AbstractSet[str] = frozenset()
) -> None:
    for group, count in before.items():
        if group not in after:
            continue  # deleted by the fault itself
        allowed = count - 1 if group in in_flight else count
        assert after[group] >= allowed, f"{group}: {count} healthy before, {after[group]} after"


def outcome(report: RunReport, group: str) -> tuple[str, str]:
    found = next(g for g in report.groups if g.group == group)
    return found.outcome, found.reason


def per_group(terminations: list[tuple[str, bool]], world: World) -> Counter[str]:
    owners = {}
    for group in world.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]:
        for instance in group["Instances"]:
            owners[instance["InstanceId"]] = group["AutoScalingGroupName"]
    return Counter(owners.get(i, i) for i, _ in terminations)
