"""Fleet makespan: how long one run takes to recycle a fleet whose replacements boot at uneven speeds.

100 groups, max_concurrency 10, replacement boot times drawn uniformly between 3 and 15 minutes (one
draw per seed, five seeds), polled every 30 s after a 180 s health check grace period. The real
workflow (recycler.workflow.run.run: plan, the window, every group's recycle and health wait) runs on
the emulator through bench/events.py's EventPort: a discrete-event simulation of the durable map, in
which every wait arms its branch's own timer and at most max_concurrency branches are in flight. The
emulator's boots run on the same simulated clock, so a replacement is Pending for exactly its boot
time after its terminate. Makespan = the end of the last branch, from the run's start; each branch's
start and end are recorded in simulated time, and the bench asserts that no instant had more than
max_concurrency branches in flight.

The lower bound is max(sum of boot times / concurrency, longest boot): no schedule can beat it. Part
of the gap is polling (a health wait sees the boot at its next poll), part is the order; "bound of
the waits" is the same bound on the branches' own measured durations, so its ratio is the order alone.

Strategies: "plan order" is the window as it runs without history (the plan's order, oldest
instance first); "longest-first" is the window with a history: the ledger holds each group's last
health wait, here the one the plan-order run of the same seed recorded, and the run starts the
longest expected recycles first (recycler/workflow/ordering.py); "waves" is the code before the
sliding window (one map per max_concurrency groups, each waiting for its slowest), kept only here as
the baseline: it swaps `run_window` for `waves`.
"""

from __future__ import annotations

import importlib
import random
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bench.events import EventClock, EventPort, max_in_flight
from recycler.aws.compose import aws_services
from recycler.aws.ledger import Ledger
from recycler.local import emulator
from recycler.models import ManualPayload, Settings
from recycler.report import GroupReport
from recycler.workflow.failures import RunFailures
from recycler.workflow.port import Port, Services
from recycler.workflow.run import recycle_branch, run
from recycler.workflow.state import RecycleItem

REGION = "us-east-1"
GROUPS, CONCURRENCY, POLL_SECONDS, GRACE_SECONDS = 100, 10, 30, 180
BOOT_RANGE_SECONDS = (180.0, 900.0)
SEEDS = tuple(20261125 + n for n in range(5))
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
GOAL_RATIO = 1.15  # the window (issue 14)
LONGEST_FIRST_GOAL = 1.05  # longest expected first (issue 31)
STRATEGIES = ("plan order", "longest-first", "waves")


def boot_times(groups: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [float(round(rng.uniform(*BOOT_RANGE_SECONDS))) for _ in range(groups)]


def lower_bound(durations: list[float], slots: int = CONCURRENCY) -> float:
    return max(sum(durations) / slots, *durations)


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


def simulate(strategy: str, boots: list[float], history: dict[str, float] | None = None) -> dict[str, Any]:
    """One run over groups g000... whose replacements boot in `boots` seconds; `history` is the
    ledger's last health wait per group (what a previous run recorded)."""
    from moto import mock_aws

    groups = len(boots)
    emulator.install()
    emulator.reset()
    clock = EventClock(START)
    settings = Settings(
        max_concurrency=CONCURRENCY,
        max_groups_per_run=groups,
        failures_before_stop=groups,
        ledger_table="makespan-ledger",
    )
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        ec2, autoscaling = session.client("ec2"), session.client("autoscaling")
        image = "ami-0makespan00000001"  # a bare id: the bench skips moto's default AMI catalogue
        template = emulator.create_launch_template(ec2, "lt", image)
        emulator.create_ledger_table(session.client("dynamodb"), "makespan-ledger")
        ledger = Ledger("makespan-ledger", session=session)
        # The fleet's image is already proven: no canary phase, only the window is measured.
        ledger.record_proven(image, "earlier", "run-0", START)
        for n, boot in enumerate(boots):
            name = f"g{n:03d}"
            emulator.create_aged_group(
                autoscaling,
                name,
                template,
                [20 + (groups - n) / 1000, 1],  # plan order g000, g001, ...
                START,
                region=REGION,
                tags={"recycler:enabled": "true"},
                grace_seconds=GRACE_SECONDS,
            )
            emulator.boot_time(name, boot, clock)
            if history and name in history:  # a run two days ago recorded how long the group took
                earlier = START - timedelta(days=2)
                ledger.claim(name, "earlier", "i-earlier", earlier, timedelta(hours=20))
                ledger.finish(name, "earlier", earlier, "recycled", {"waited_seconds": history[name]})
        port = EventPort(clock, label=lambda item: item.job.group)
        services = aws_services(session, settings=settings, region=REGION, clock=clock)
        with scheduling(strategy):
            report = run(
                port,
                services,
                settings,
                ManualPayload(poll_seconds=POLL_SECONDS, health_timeout_seconds=3600),
            )
    emulator.reset()
    peak = max_in_flight(port.timeline)
    assert peak <= CONCURRENCY, f"{peak} groups in flight at once, max_concurrency {CONCURRENCY}"
    assert set(port.concurrency) == {CONCURRENCY}, port.concurrency
    durations = [i.end - i.start for i in port.timeline if i.end is not None]
    makespan = max(i.end for i in port.timeline if i.end is not None)
    bound = lower_bound(boots)
    waits = {g.group: float(g.waited_seconds or 0) for g in report.groups}
    return {
        "strategy": strategy,
        "recycled": report.summary.recycled,
        "makespan_seconds": makespan,
        "lower_bound_seconds": bound,
        "ratio": round(makespan / bound, 3),
        "ratio_to_wait_bound": round(makespan / lower_bound(durations), 3),
        "most_in_flight": peak,
        "mean_detection_lag_seconds": round(
            statistics.mean(waits[f"g{n:03d}"] - b for n, b in enumerate(boots)), 1
        ),
        "waits": waits,
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": round(statistics.median(values), 3), "max": max(values)}


def measure(groups: int = GROUPS, seeds: tuple[int, ...] = SEEDS) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        boots = boot_times(groups, seed)
        plan_order = simulate("plan order", boots)
        longest = simulate("longest-first", boots, history=plan_order["waits"])
        for row in (plan_order, longest, simulate("waves", boots)):
            row.pop("waits")
            runs.append({"seed": seed, **row})
    summary = {}
    for strategy in STRATEGIES:
        mine = [r for r in runs if r["strategy"] == strategy]
        summary[strategy] = {
            "ratio": spread([r["ratio"] for r in mine]),
            "ratio_to_wait_bound": spread([r["ratio_to_wait_bound"] for r in mine]),
            "makespan_minutes": spread([round(r["makespan_seconds"] / 60, 1) for r in mine]),
            "lower_bound_minutes": spread([round(r["lower_bound_seconds"] / 60, 1) for r in mine]),
            "recycled": sum(r["recycled"] for r in mine),
            "most_in_flight": max(r["most_in_flight"] for r in mine),
            "mean_detection_lag_seconds": round(
                statistics.mean(r["mean_detection_lag_seconds"] for r in mine), 1
            ),
        }
    return {
        "groups": groups,
        "concurrency": CONCURRENCY,
        "seeds": list(seeds),
        "summary": summary,
        "runs": runs,
    }


if __name__ == "__main__":
    import json
    import logging
    import sys

    logging.getLogger("recycler").setLevel(logging.ERROR)
    quick = "--quick" in sys.argv
    print(json.dumps(measure(20 if quick else GROUPS, SEEDS[:2] if quick else SEEDS)["summary"], indent=2))
