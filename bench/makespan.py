"""Fleet makespan: how long one run takes to recycle a fleet whose replacements boot at uneven speeds.

100 groups, max_concurrency 10, replacement boot times drawn (fixed seed) between 3 and 15 minutes,
polled every 30 s after a 180 s health check grace period. The real Lambda handler runs under the
durable test runner with skipped waits.

Simulated time. The runner's skip clock jumps forward as soon as any branch arms a timer, even while
other branches are still mid-invocation, so concurrent branches' waits come out stretched (a 30 s
poll pause measured as up to 180 s). That is the runner, not Lambda, where each wait has its own
timer. So each recycle's duration is its own health wait as the workflow counts it (the pauses it
asked for, which is what Lambda waits), each replacement boots for its number of polls (the poll
schedule above turned into DescribeAutoScalingGroups reads of its group), and the schedule is
rebuilt from the order in which the real run started and finished groups: a group that starts does
so when the finish right before it (in the real run) ended. Makespan = the last finish. The lower bound is
max(sum of boot times / concurrency, longest boot): no schedule can beat it.

The baseline is the code before the sliding window (waves of max_concurrency, each wave waiting for
its slowest group), kept here only: it swaps `run_window` for `waves`. "longest-first" is the window
with a history: each group's claim in the ledger holds its last recycle's wait (here: a previous run on
the same boot times), so the run starts the longest expected recycles first (recycler/workflow/ordering.py).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from recycler.aws.fleet import Fleet
from recycler.local import emulator
from recycler.models import Settings
from recycler.report import GroupReport
from recycler.workflow.failures import RunFailures
from recycler.workflow.health import HealthCheck
from recycler.workflow.port import Port, Services
from recycler.workflow.run import recycle_branch
from recycler.workflow.state import HealthState, RecycleItem

REGION = "us-east-1"
GROUPS, CONCURRENCY, POLL_SECONDS, GRACE_SECONDS = 100, 10, 30, 180
BOOT_RANGE_SECONDS = (180.0, 900.0)
SEED = 20261125
GOAL_RATIO = 1.15


def boot_times(groups: int = GROUPS, seed: int = SEED) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.uniform(*BOOT_RANGE_SECONDS)) for _ in range(groups)]


def reads_to_boot(seconds: float) -> int:
    """Health polls read the group right after the terminate, at the end of the grace period, then
    every POLL_SECONDS: the reads before the first one at or after `seconds`."""
    if seconds <= 0:
        return 0
    if seconds <= GRACE_SECONDS:
        return 1
    return 1 + math.ceil((seconds - GRACE_SECONDS) / POLL_SECONDS)


def rebuild_schedule(events: list[tuple[str, str]], durations: dict[str, float], slots: int) -> float:
    """Simulated makespan from the real order of starts and finishes: the first `slots` groups start
    at 0; a later group starts when the finish that came right before it (in the real run) ended."""
    start: dict[str, float] = {}
    running, last_finish = 0, 0.0
    for kind, group in events:
        if kind == "start":
            running += 1
            if running > slots:
                raise AssertionError(f"{group} started while {slots} groups were running")
            start[group] = 0.0 if len(start) < slots else last_finish
        else:
            running -= 1
            last_finish = start[group] + durations[group]
    return max(start[g] + durations[g] for g in start)


@contextmanager
def recording(group_of: dict[str, str]) -> Iterator[list[tuple[str, str]]]:
    """Every terminate (a group starts) and every end of a health wait (it finishes), in order."""
    events: list[tuple[str, str]] = []
    terminate, poll = Fleet.terminate, HealthCheck.poll

    def terminating(self: Fleet, instance_id: str, *, decrement: bool) -> str:
        events.append(("start", group_of[instance_id]))
        return terminate(self, instance_id, decrement=decrement)

    def polling(self: HealthCheck, state: HealthState) -> HealthState:
        result = poll(self, state)
        if result.done:
            events.append(("finish", self.group))
        return result

    Fleet.terminate, HealthCheck.poll = terminating, polling  # type: ignore[method-assign]
    try:
        yield events
    finally:
        Fleet.terminate, HealthCheck.poll = terminate, poll  # type: ignore[method-assign]


def waves(
    port: Port,
    services: Services,
    settings: Settings,
    items: list[RecycleItem],
    failures: RunFailures,
    failed_so_far: int,
    name: str,
) -> list[GroupReport]:
    """The baseline: one map per wave of max_concurrency; a wave starts when the previous one ends."""
    size, results = settings.max_concurrency, []
    for index in range(0, len(items), size):
        results += port.map(
            f"{name}-wave-{index // size}",
            items[index : index + size],
            recycle_branch(services, settings, failures),
            GroupReport,
            size,
        )
    return results


@contextmanager
def scheduling(strategy: str) -> Iterator[None]:
    run_module: Any = importlib.import_module("recycler.workflow.run")
    original = run_module.run_window
    if strategy == "waves":
        run_module.run_window = waves
    try:
        yield
    finally:
        run_module.run_window = original


def simulate(strategy: str, groups: int = GROUPS) -> dict[str, Any]:
    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
    from moto import mock_aws

    from recycler.aws.ledger import Ledger
    from recycler.handler import durable_handler

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_TRACE_DISABLED="1",
        RECYCLER_LEDGER_TABLE="makespan-ledger",
        RECYCLER_MAX_CONCURRENCY=str(CONCURRENCY),
        RECYCLER_MAX_GROUPS_PER_RUN=str(groups),
        RECYCLER_FAILURES_BEFORE_STOP=str(groups),
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    emulator.install()
    emulator.reset()
    boots = boot_times(groups)
    now = datetime.now(UTC)
    group_of: dict[str, str] = {}
    with mock_aws(), DurableFunctionTestRunner(handler=durable_handler, skip_time=True) as runner:
        session = boto3.Session(region_name=REGION)
        ec2, autoscaling = session.client("ec2"), session.client("autoscaling")
        image = "ami-0makespan00000001"  # a bare id: the bench skips moto's default AMI catalogue
        template = emulator.create_launch_template(ec2, "lt", image)
        emulator.create_ledger_table(session.client("dynamodb"), "makespan-ledger")
        # The fleet's image is already proven: no canary phase, only the window is measured.
        Ledger("makespan-ledger", session=session).record_proven(image, "earlier", "run-0", now)
        for n, boot in enumerate(boots):
            name = f"g{n:03d}"
            victim = emulator.create_aged_group(
                autoscaling,
                name,
                template,
                [20 + (groups - n) / 1000, 1],  # plan order g000, g001, ...
                now,
                region=REGION,
                tags={"recycler:enabled": "true"},
                grace_seconds=GRACE_SECONDS,
            )[0]
            group_of[victim] = name
            emulator.sabotage(name, "slow", slow_reads=reads_to_boot(boot))
            if strategy == "longest-first":  # a run two days ago recorded how long each group took
                earlier, ledger = now - timedelta(days=2), Ledger("makespan-ledger", session=session)
                ledger.claim(name, "earlier", "i-earlier", earlier, timedelta(hours=20))
                ledger.finish(name, "earlier", earlier, "recycled", {"waited_seconds": boot})
        with scheduling(strategy), recording(group_of) as events:
            result = runner.run(
                input=json.dumps({"poll_seconds": POLL_SECONDS, "health_timeout_seconds": 3600}),
                execution_timeout=3600,
            )
    report = json.loads(result.result)
    durations = {g["group"]: float(g["waited_seconds"] or 0) for g in report["groups"]}
    makespan = rebuild_schedule(events, durations, CONCURRENCY)
    bound = max(sum(boots) / CONCURRENCY, *boots)
    lags = [durations[f"g{n:03d}"] - boot for n, boot in enumerate(boots)]
    return {
        "strategy": strategy,
        "groups": groups,
        "recycled": report["summary"]["recycled"],
        "makespan_minutes": round(makespan / 60, 1),
        "lower_bound_minutes": round(bound / 60, 1),
        "ratio": round(makespan / bound, 3),
        # How long after its boot each health wait saw the replacement healthy (poll granularity).
        "mean_detection_lag_seconds": round(sum(lags) / max(1, len(lags)), 1),
    }


def table(groups: int = GROUPS) -> list[dict[str, Any]]:
    return [simulate("window", groups), simulate("longest-first", groups), simulate("waves", groups)]


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| schedule | groups recycled | makespan | lower bound | ratio |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['strategy']} | {row['recycled']}/{row['groups']} | {row['makespan_minutes']} min | "
            f"{row['lower_bound_minutes']} min | {row['ratio']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import logging

    logging.getLogger("recycler").setLevel(logging.ERROR)
    print(render(table()))
