"""`make bench`: planning cost vs fleet size, one large run with throttling, fleet makespan, cold
import, compute billed per recycle, publish -> verdict latency, freshness.

Each section is a function returning a dict (with its goal); bench/report.py renders the one results
table from them. A full run writes bench/results.json and rewrites the table in bench/README.md;
`BENCH_QUICK=1` runs a tenth of the size and only prints the table; `--readme` rewrites the README
table from the committed bench/results.json without running anything.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from bench import concurrency, fast_moto, freshness, makespan, report
from bench.server import seed
from recycler.aws.compose import aws_services
from recycler.aws.fleet import Fleet, planning_call_floor
from recycler.aws.ledger import Ledger
from recycler.local import emulator
from recycler.local.demo import free_port
from recycler.local.emulator import throttling
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.workflow.health import HealthCheck
from recycler.workflow.planning import plan
from recycler.workflow.run import run
from recycler.workflow.state import HealthState

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"
TEMPLATES = 5
# BENCH_QUICK=1 runs every section at a tenth of the size, to check the bench itself quickly
# (it prints the table but leaves bench/results.json to the full run).
QUICK = os.environ.get("BENCH_QUICK") == "1"
SIZES = (10, 100) if QUICK else (10, 100, 1000)
INSTANCES_PER_GROUP = 3
NOT_OPTED_IN = 100 if QUICK else 1000
# moto scans its ~4,000 default AMIs and walks its instance-type offerings on each launch; that is
# the emulator's cost, not recycler's, so the bench uses a bare image id and the type moto lists
# first (validation still runs, and stops at once).
os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
IMAGE = "ami-0bench00000000001"
INSTANCE_TYPE: Any = "a1.2xlarge"
PLANNING_GOAL_RATIO = 1.5  # issue 6: planning calls <= 1.5x the lower bound at every size
IMPORT_GOAL_RATIO = 2.0  # handler import <= 2x a bare `import boto3`
BILLED_GOAL_PERCENT = 2.0  # billed compute <= 2 % of the wait
SCALE_CONCURRENCY = 10
THROTTLE_EVERY = 200  # the large run: 1 in 200 EC2 / Auto Scaling Describe* and Terminate* requests throttled


class CallLog:
    """API calls by operation (one per call, however many attempts), botocore's retries (the
    RetryAttempts of every response), and calls that still ended throttled after them."""

    def __init__(self, session: boto3.Session) -> None:
        self.calls: Counter[str] = Counter()
        self.retries = 0
        self.throttled_surfaced = 0
        session.events.register("before-parameter-build", self._call)
        session.events.register("after-call", self._after_call)

    def _call(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def _after_call(self, parsed: Any = None, **_: Any) -> None:
        parsed = parsed or {}
        self.retries += int(parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        if parsed.get("Error", {}).get("Code") in throttling.THROTTLE_CODES:
            self.throttled_surfaced += 1

    def reset(self) -> None:
        self.calls.clear()
        self.retries = 0
        self.throttled_surfaced = 0


class Emulator:
    """The moto server subprocess (bench/server.py) and its seeding channel."""

    def __init__(self) -> None:
        port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.server", str(port)],
            cwd=HERE.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.endpoint = f"http://127.0.0.1:{port}"
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"

    def seed(
        self, prefix: str, start: int, end: int, instances: int, opted_in: bool, templates: list[str]
    ) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        command = {
            "prefix": prefix,
            "start": start,
            "end": end,
            "instances": instances,
            "opted_in": opted_in,
            "templates": templates,
        }
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "done"

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@contextmanager
def server() -> Iterator[Emulator]:
    emulator_process = Emulator()
    try:
        yield emulator_process
    finally:
        emulator_process.close()


def create_templates(session: boto3.Session) -> list[str]:
    ec2 = session.client("ec2")
    return [
        ec2.create_launch_template(
            LaunchTemplateName=f"lt{n}", LaunchTemplateData={"ImageId": IMAGE, "InstanceType": INSTANCE_TYPE}
        )["LaunchTemplate"]["LaunchTemplateId"]
        for n in range(TEMPLATES)
    ]


def lower_bound(groups: int) -> int:
    # Every opted-in group is planned here (max_groups_per_run 1000), so each has its hooks read.
    return planning_call_floor(groups, groups * INSTANCES_PER_GROUP, min(groups, TEMPLATES), planned=groups)


def bench_planning(session: boto3.Session, seeder: Emulator) -> list[dict[str, Any]]:
    templates = create_templates(session)
    started = time.perf_counter()
    # Never read beyond the (server-side filtered) list call, so they need no instances.
    seeder.seed("other", 0, NOT_OPTED_IN, 0, False, templates)
    rows = []
    seeded = 0
    settings = Settings(min_age_days=0, max_groups_per_run=1000)
    for size in SIZES:
        seed_start = time.perf_counter()
        print(f"  seeding up to {size} opted-in groups", file=sys.stderr)
        seeder.seed("g", seeded, size, INSTANCES_PER_GROUP, True, templates)  # cumulative: 10, +90, +900
        seeded = size
        log = CallLog(session)
        fleet = Fleet(session)
        times = []
        peak = 0
        for attempt in range(5):
            log.reset()
            tracemalloc.start()
            t0 = time.perf_counter()
            decisions = plan(
                replace(aws_services(session), fleet=fleet),
                settings,
                ManualPayload(),
                _now(),
                random.Random(attempt),
            )
            times.append(time.perf_counter() - t0)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        assert sum(d.recycle for d in decisions) == size, "every opted-in group should be planned"
        calls = sum(log.calls.values())
        rows.append(
            {
                "groups": size,
                "instances_per_group": INSTANCES_PER_GROUP,
                "not_opted_in": NOT_OPTED_IN,
                "goal_ratio": PLANNING_GOAL_RATIO,
                "calls": calls,
                "by_operation": dict(log.calls),
                "lower_bound": lower_bound(size),
                "ratio": round(calls / lower_bound(size), 2),
                "median_seconds": round(statistics.median(times), 3),
                "peak_mib": round(peak / 2**20, 1),
                "seed_seconds": round(time.perf_counter() - seed_start, 1),
            }
        )
    print(
        f"  seeded {NOT_OPTED_IN + SIZES[-1]} groups in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return rows


def _now() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(days=2)  # every seeded instance is two days old


def mentions_throttling(text: str | None) -> bool:
    lowered = (text or "").lower()
    return any(word in lowered for word in ("throttl", "rate exceeded", "requestlimitexceeded"))


def bench_scale_run() -> dict[str, Any]:
    """1,000 groups needing a recycle, max_concurrency 10, on in-process moto (no HTTP per call)."""
    from moto import mock_aws

    os.environ.pop("AWS_ENDPOINT_URL", None)
    emulator.install()
    fast_moto.install()
    fast_moto.serialize_requests()
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        templates = create_templates(session)
        seed(
            session,
            {
                "prefix": "g",
                "start": 0,
                "end": SIZES[-1],
                "instances": INSTANCES_PER_GROUP,
                "opted_in": True,
                "templates": templates,
            },
        )
        return _scale_run(session)


def _scale_run(session: boto3.Session) -> dict[str, Any]:
    emulator.create_ledger_table(session.client("dynamodb"), "bench-ledger")
    log = CallLog(session)
    settings = Settings(
        min_age_days=0,
        max_groups_per_run=1000,
        max_concurrency=SCALE_CONCURRENCY,
        failures_before_stop=1000,
    )
    services = replace(aws_services(session, region=REGION), ledger=Ledger("bench-ledger", session=session))
    started = time.perf_counter()
    with throttling.throttling(THROTTLE_EVERY) as throttler:
        report = run(
            LocalPort(sleep=lambda _: None),
            services,
            settings,
            ManualPayload(poll_seconds=1, health_timeout_seconds=600),
        )
    seconds = time.perf_counter() - started
    failed = [g for g in report.groups if g.outcome == "failed"]
    return {
        "groups": len(report.groups),
        "concurrency": SCALE_CONCURRENCY,
        "recycled": report.summary.recycled,
        "failed": report.summary.failed,
        "calls": sum(log.calls.values()),
        "calls_per_group": round(sum(log.calls.values()) / max(1, len(report.groups)), 1),
        "wall_seconds": round(seconds, 1),
        "throttle_every": THROTTLE_EVERY,
        "throttles_injected": throttler.total,
        "throttles_by_operation": dict(throttler.injected),
        "retries": log.retries,
        "throttled_calls_surfaced": log.throttled_surfaced,
        # A failed group whose reason or detail names throttling: what "surfaced" means in the report.
        "throttling_failures": sum(1 for g in failed if mentions_throttling(f"{g.reason} {g.detail}")),
    }


def bench_cold_import() -> dict[str, Any]:
    def median_import(module: str) -> float:
        code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "recycler", "AWS_DEFAULT_REGION": REGION}
        samples = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
                ).stdout
            )
            for _ in range(10)
        ]
        return statistics.median(samples)

    handler = median_import("recycler.handler")
    boto = median_import("boto3")
    trace = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import recycler.handler"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "recycler"},
    ).stderr
    top: list[tuple[int, str]] = []
    for line in trace.splitlines()[1:]:
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].count(".") == 0:
            top.append((int(parts[1]), parts[2]))  # cumulative microseconds of top-level packages
    top.sort(reverse=True)
    return {
        "goal_ratio": IMPORT_GOAL_RATIO,
        "handler_ms": round(handler * 1000, 1),
        "boto3_ms": round(boto * 1000, 1),
        "ratio": round(handler / boto, 2),
        "top_offenders_ms": {name: round(us / 1000, 1) for us, name in top[:6]},
    }


def bench_billed_compute(grace_seconds: int, label: str) -> dict[str, Any]:
    """One recycle whose replacement turns healthy after 10 simulated minutes, polled every 15 s after
    a first poll at the end of the group's grace period (0: every 15 s from the start, as before)."""
    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
    from moto import mock_aws

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_TRACE_DISABLED="1",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    emulator.install()
    emulator.reset()
    timed = concurrency.Invocations()

    polls: list[int] = []
    original_poll = HealthCheck.poll

    def counted(self: HealthCheck, state: HealthState) -> HealthState:
        polls.append(1)
        return original_poll(self, state)

    HealthCheck.poll = counted  # type: ignore[method-assign]
    wait_seconds, poll = 600, 15
    with mock_aws(), DurableFunctionTestRunner(handler=timed, skip_time=True) as runner:
        session = boto3.Session(region_name=REGION)
        template = create_templates(session)[0]
        emulator.create_group(
            session.client("autoscaling"),
            "web",
            template,
            size=3,
            tags={"recycler:enabled": "true"},
            grace_seconds=grace_seconds,
        )
        # Pending for 600 s of the runner's simulated clock (one wait at a time: it is exact here).
        emulator.boot_time("web", wait_seconds, runner._clock.now)
        result = runner.run(
            input=json.dumps(
                {"poll_seconds": poll, "health_timeout_seconds": 1800, "groups": ["web"], "force": True}
            ),
            execution_timeout=3600,
        )
    HealthCheck.poll = original_poll  # type: ignore[method-assign]
    logging.getLogger("recycler").setLevel(logging.ERROR)  # the handler's Logger set its own level
    report = json.loads(result.result)
    group = report["groups"][0]
    billed = timed.billed_seconds
    # The group is the image's canary: after the health wait it bakes, polled too; both are waiting.
    waited = group["waited_seconds"] + (group.get("baked_seconds") or 0)
    return {
        "label": label,
        "boot_seconds": wait_seconds,
        "goal_percent": BILLED_GOAL_PERCENT,
        "grace_seconds": grace_seconds,
        "health_polls": len(polls),
        "outcome": group["outcome"],
        "simulated_wait_seconds": group["waited_seconds"],
        "baked_seconds": group.get("baked_seconds") or 0,
        "invocations": len(timed.spans),
        "billed_seconds": round(billed, 2),
        "billed_percent_of_wait": round(100 * billed / waited, 2),
    }


def bench_makespan() -> dict[str, Any]:
    measured = makespan.measure(makespan.GROUPS // 5, makespan.SEEDS[:2]) if QUICK else makespan.measure()
    goals = {"plan order": makespan.GOAL_RATIO, "longest-first": makespan.LONGEST_FIRST_GOAL}
    return {**measured, "goals": goals}


def in_own_interpreter(module: str, *args: str, without: tuple[str, ...] = ()) -> dict[str, Any]:
    """A bench piece that needs an interpreter of its own (moto in-process, its own AMI settings): its
    JSON result, from its standard output."""
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", *without)}
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=HERE.parent,
    ).stdout
    measured: dict[str, Any] = json.loads(out)
    return measured


def bench_publish() -> dict[str, Any]:
    """bench/publish.py: it uses moto's stock AMIs, which this interpreter skips."""
    return in_own_interpreter("bench.publish", without=("MOTO_EC2_LOAD_DEFAULT_AMIS",))


def bench_fanout() -> dict[str, Any]:
    """bench/fanout.py: moto in-process under the durable test runner."""
    return in_own_interpreter("bench.fanout", str(fanout_groups()))


def fanout_groups() -> int:
    return 100 if QUICK else 1000


def bench_freshness() -> list[dict[str, Any]]:
    return [asdict(row) for row in freshness.table(target_days=7.0)]


def main(argv: list[str]) -> int:
    if "--readme" in argv:  # the README table from the committed results; runs nothing
        report.rewrite_readme(report.load())
        return 0
    # Every bench template pins one image, so each recycle would warn "stale AMI"; that is expected here.
    logging.getLogger("recycler").setLevel(logging.ERROR)
    began = time.perf_counter()
    results: dict[str, Any] = {}
    print("planning cost vs fleet size ...", file=sys.stderr)
    with server() as seeder:
        os.environ.update(
            AWS_ENDPOINT_URL=seeder.endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION=REGION,
        )
        session = boto3.Session(region_name=REGION)
        results["planning"] = bench_planning(session, seeder)
    print(f"one run recycling {SIZES[-1]:,} groups, throttles injected ...", file=sys.stderr)
    results["scale_run"] = bench_scale_run()
    print("fleet makespan: plan order, longest-first, waves ...", file=sys.stderr)
    results["makespan"] = bench_makespan()
    print("cold import ...", file=sys.stderr)
    results["cold_import"] = bench_cold_import()
    print("compute billed per recycle ...", file=sys.stderr)
    # A grace period shorter than a poll behaves as recycler did before for every group (moto reads 0 as 300).
    results["billed_compute_every_poll"] = bench_billed_compute(
        1, "polled every 15 s from the start (before)"
    )
    results["billed_compute"] = bench_billed_compute(300, "first poll after a 300 s grace period")
    print("fifty groups at once: billed compute, longest invocation ...", file=sys.stderr)
    results["concurrency_50"] = concurrency.measure()
    print("publish -> verdict latency ...", file=sys.stderr)
    results["publish"] = bench_publish()
    print("freshness target, 60 simulated days ...", file=sys.stderr)
    results["freshness"] = bench_freshness()
    print(f"one run of {fanout_groups():,} due groups, fanned out to child executions ...", file=sys.stderr)
    results["fanout"] = bench_fanout()
    results["run"] = {
        "command": "BENCH_QUICK=1 .venv/bin/python -m bench" if QUICK else "make bench",
        "date": datetime.now(UTC).date().isoformat(),
        "wall_seconds": round(time.perf_counter() - began),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if QUICK:
        print(
            "quick run: bench/results.json and bench/README.md keep the full run's figures", file=sys.stderr
        )
    else:
        report.RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        report.rewrite_readme(results)
    print(report.table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
