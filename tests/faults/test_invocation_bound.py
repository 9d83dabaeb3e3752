"""Fault matrix F45: an invocation is bounded however busy many concurrent waits keep it.

Lambda stops an invocation at its timeout (at most 900 s, "Configure Lambda function timeout",
https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html), wherever it is, a step
included. The durable SDK resumes a map's due branches inside the running invocation while any branch
is running, and suspends the invocation only when none is (its concurrency/executor.py): with many groups
polling, each poll a few AWS round trips, that moment can be long in coming. recycler's waits yield once
an invocation has run budget.INVOCATION_YIELD_SECONDS: no AWS call, a short pause, and the invocation
suspends as soon as the steps already started have ended.

Real time here (the runner's skipped waits suspend at every wait, which would hide the executor's
in-process resumes), scaled down: 12 groups at once (bench/concurrency.py runs 50), 1 s polls, boots
of 3-6 s, the limit patched to 1 s, and each Describe call taking 0.2 s as a round trip to AWS does.
"""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.concurrency import Invocations, round_trips
from recycler import durable
from recycler.local import emulator
from recycler.workflow.health import HealthCheck
from recycler.workflow.state import HealthState
from tests.conftest import Stack

GROUPS = 12
LIMIT_SECONDS = 1.0
ROUND_TRIP_SECONDS = 0.2
STEPS_UNDER_WAY_SECONDS = 5.0


class PortClock:
    """The durable port's own clock readings: each invocation's start, and per thread the age its wait
    read right before deciding to poll. A poll is judged by the reading that let it run, so no margin
    between two clocks (a shared 2-core machine can stall a thread for longer than any margin)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.last = threading.local()

    def monotonic(self) -> float:
        self.last.value = time.monotonic()
        return float(self.last.value)

    def age_at_decision(self) -> float:
        """The invocation's age when this thread's wait decided to poll (inf if it never read the
        clock: a poll no yield check let through)."""
        reading = getattr(self.last, "value", None)
        self.last.value = None
        return float("inf") if reading is None else reading - self.starts[-1]


def test_f45_no_health_poll_starts_after_the_invocation_yield_while_groups_poll_at_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner

    # Only the port yields at the test's limit: the plan still budgets the production yield (at a yield a
    # second, a 600 s health timeout's worst case would leave room in one execution for 4 groups).
    monkeypatch.setattr(durable.DurablePort, "yield_after_seconds", LIMIT_SECONDS)
    monkeypatch.setenv("RECYCLER_MAX_CONCURRENCY", str(GROUPS))
    monkeypatch.setenv("RECYCLER_MAX_GROUPS_PER_RUN", str(GROUPS))
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", str(GROUPS))
    monkeypatch.setenv("RECYCLER_BAKE_MINUTES", "0")
    rng = random.Random(43)
    for n in range(GROUPS):
        name = f"g{n:02d}"
        stack.world.group(name, [20, 1], grace_seconds=1)
        emulator.boot_time(name, rng.uniform(3, 6), lambda: datetime.now(UTC))

    timed = Invocations()
    clock = PortClock()
    poll_ages: list[float] = []
    poll = HealthCheck.poll
    port_init = durable.DurablePort.__init__

    def port(self: durable.DurablePort, context: Any, invocation_started: float | None = None) -> None:
        port_init(self, context, invocation_started)
        if invocation_started is None:  # a root port: one per invocation
            clock.starts.append(self.invocation_started)

    def polled(self: HealthCheck, state: HealthState) -> HealthState:
        poll_ages.append(clock.age_at_decision())
        return poll(self, state)

    monkeypatch.setattr(durable, "time", clock)
    monkeypatch.setattr(durable.DurablePort, "__init__", port)
    monkeypatch.setattr(HealthCheck, "poll", polled)

    with round_trips(ROUND_TRIP_SECONDS), DurableFunctionTestRunner(handler=timed, skip_time=False) as runner:
        result = runner.run(
            input=json.dumps({"poll_seconds": 1, "health_timeout_seconds": 600}), execution_timeout=600
        )
    assert result.status.name == "SUCCEEDED", result.error
    report = json.loads(result.result)
    assert report["summary"]["recycled"] == GROUPS, report["summary"]
    assert poll_ages, "no health poll ran"
    late = [round(age, 2) for age in poll_ages if age >= LIMIT_SECONDS]
    assert late == [], f"{len(late)} of {len(poll_ages)} polls ran past the invocation's yield: {late[:10]}"
    # After the first (the plan: one step, a lifecycle-hook read per group), an invocation lasts the limit plus
    # the steps already under way when it was reached (a preflight, a terminate: a few round trips).
    durations = [round(end - start, 1) for start, end in timed.spans[1:]]
    assert max(durations) <= LIMIT_SECONDS + STEPS_UNDER_WAY_SECONDS, durations
