"""Fifty groups at once (`max_concurrency` 50): compute billed, and how long one invocation runs.

Billed compute: the real handler under the durable test runner (waits skipped), 50 groups whose
replacements boot for 10 minutes (staggered 9-11 min, seeded), 300 s grace, 15 s polls, no bake (the
image is proven): the time spent inside the handler, summed over every invocation, against the health
waits it covered.

Longest invocation: the durable SDK resumes a map's due branches inside the running invocation while
any branch is running, and suspends it only when none is. The runner's skipped waits suspend at every
wait, which hides that, so this part runs in real time, scaled down: 1 s polls, boots of 6-12 s, every
Describe call a 0.2 s round trip, with recycler's invocation yield (DurablePort.yield_after_seconds, budget.INVOCATION_YIELD_SECONDS)
scaled to 1 s, and once with the yield off. Reported: the longest invocation after the plan's (the first
one is the plan step: one lifecycle-hook read per group) and the polls that started past the limit.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import botocore.client

from bench import fleets
from recycler import durable
from recycler.local import emulator
from recycler.workflow.health import HealthCheck
from recycler.workflow.state import HealthState

REGION = "us-east-1"
GROUPS = 50
IMAGE = "ami-0concurrency00001"
LEDGER = "concurrency-ledger"
SEED = 20261201


def environment() -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_TRACE_DISABLED="1",
        RECYCLER_MAX_CONCURRENCY=str(GROUPS),
        RECYCLER_MAX_GROUPS_PER_RUN=str(GROUPS),
        RECYCLER_FAILURES_BEFORE_STOP=str(GROUPS),
        RECYCLER_LEDGER_TABLE=LEDGER,
        RECYCLER_BAKE_MINUTES="0",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)


def fleet(groups: int, grace_seconds: int, boots: list[float], clock: Any) -> None:
    names = fleets.proven_fleet(groups, grace_seconds, region=REGION, image=IMAGE, ledger=LEDGER)
    for name, boot in zip(names, boots, strict=True):
        emulator.boot_time(name, boot, clock)


class Invocations:
    """The real Lambda handler, recording when each invocation started and ended (monotonic clock)."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []

    def __call__(self, event: Any, context: Any) -> Any:
        from recycler import handler

        self.spans.append((time.monotonic(), 0.0))
        try:
            return handler.durable_handler(event, context)
        finally:
            self.spans[-1] = (self.spans[-1][0], time.monotonic())

    @property
    def billed_seconds(self) -> float:
        """The time spent inside the handler, which is what Lambda bills."""
        return sum(end - start for start, end in self.spans)

    def age(self) -> float:
        """How long the invocation running now has run."""
        return time.monotonic() - self.spans[-1][0]


def billed_compute(groups: int = GROUPS) -> dict[str, Any]:
    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
    from moto import mock_aws

    environment()
    emulator.install()
    emulator.reset()
    rng = random.Random(SEED)
    timed = Invocations()
    with mock_aws(), DurableFunctionTestRunner(handler=timed, skip_time=True) as runner:
        fleet(groups, 300, [rng.uniform(540, 660) for _ in range(groups)], runner._clock.now)
        result = runner.run(
            input=json.dumps({"poll_seconds": 15, "health_timeout_seconds": 1800}), execution_timeout=7200
        )
    report = json.loads(result.result)
    waited = sum(g["waited_seconds"] or 0 for g in report["groups"])
    billed = timed.billed_seconds
    return {
        "groups": groups,
        "recycled": report["summary"]["recycled"],
        "invocations": len(timed.spans),
        "billed_seconds": round(billed, 1),
        "health_wait_seconds": round(waited),
        "billed_percent_of_wait": round(100 * billed / max(waited, 1), 2),
        "goal_percent": 2.0,
    }


@contextmanager
def round_trips(seconds: float) -> Iterator[None]:
    """Every Describe call takes `seconds`, as a round trip to AWS does (sleeping releases the GIL)."""
    make_api_call = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 - private

    def slow(self: Any, operation: str, params: Any) -> Any:
        if operation.startswith("Describe"):
            time.sleep(seconds)
        return make_api_call(self, operation, params)

    setattr(botocore.client.BaseClient, "_make_api_call", slow)  # noqa: B010
    try:
        yield
    finally:
        setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)  # noqa: B010


def invocations(yield_seconds: float | None, groups: int = GROUPS) -> dict[str, Any]:
    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
    from moto import mock_aws

    environment()
    emulator.install()
    emulator.reset()
    rng = random.Random(SEED)
    limit = yield_seconds if yield_seconds is not None else float("inf")
    timed = Invocations()
    poll_ages: list[float] = []
    poll = HealthCheck.poll

    def polled(self: HealthCheck, state: HealthState) -> HealthState:
        poll_ages.append(timed.age())
        return poll(self, state)

    # Only the port yields at the scaled-down limit; the plan budgets the production yield.
    original_limit = durable.DurablePort.yield_after_seconds
    durable.DurablePort.yield_after_seconds = limit
    HealthCheck.poll = polled  # type: ignore[method-assign]
    try:
        with (
            mock_aws(),
            round_trips(0.2),
            DurableFunctionTestRunner(handler=timed, skip_time=False) as runner,
        ):
            fleet(groups, 1, [rng.uniform(6, 12) for _ in range(groups)], lambda: datetime.now(UTC))
            result = runner.run(
                input=json.dumps({"poll_seconds": 1, "health_timeout_seconds": 600}), execution_timeout=900
            )
    finally:
        durable.DurablePort.yield_after_seconds = original_limit
        HealthCheck.poll = poll  # type: ignore[method-assign]
    report = json.loads(result.result)
    spans = timed.spans
    after_plan = [end - start for start, end in spans[1:]]
    measure_from = yield_seconds if yield_seconds is not None else 1.0
    return {
        "yield_seconds": yield_seconds,
        "recycled": report["summary"]["recycled"],
        "invocations": len(spans),
        "plan_invocation_seconds": round(spans[0][1] - spans[0][0], 1),
        "longest_after_plan_seconds": round(max(after_plan, default=0.0), 1),
        "polls": len(poll_ages),
        "polls_past_limit": sum(1 for age in poll_ages if age > measure_from + 0.5),
    }


def measure() -> dict[str, Any]:
    return {
        "billed": billed_compute(),
        "with_yield": invocations(1.0),
        "without_yield": invocations(None),
    }


if __name__ == "__main__":
    import logging

    logging.getLogger("recycler").setLevel(logging.ERROR)
    print(json.dumps(measure(), indent=2))
