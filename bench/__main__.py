"""`make bench`: planning cost vs fleet size, cold import, compute billed per recycle, one large run,
fleet makespan.

Prints one table and writes bench/results.json. Goals (issue #6): planning calls <= 1.5x the lower
bound at every size; handler import <= 2x a bare `import boto3`; billed compute <= 2% of wait time.
"""

from __future__ import annotations

import json
import logging
import os
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
from pathlib import Path
from typing import Any

import boto3

from bench import fast_moto, freshness, makespan
from bench.server import seed
from recycler.aws.compose import aws_services
from recycler.aws.fleet import Fleet, planning_call_floor
from recycler.aws.ledger import Ledger
from recycler.local import emulator
from recycler.local.demo import free_port
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


class CallLog:
    def __init__(self, session: boto3.Session) -> None:
        self.calls: Counter[str] = Counter()
        self.retries = 0
        session.events.register("before-parameter-build", self._call)
        session.events.register("needs-retry", self._retry)

    def _call(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def _retry(self, response: Any = None, attempts: int = 0, **_: Any) -> None:
        if response is not None and response[1].get("Error", {}).get("Code") in (
            "Throttling",
            "ThrottlingException",
        ):
            self.retries += 1

    def reset(self) -> None:
        self.calls.clear()
        self.retries = 0


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
        min_age_days=0, max_groups_per_run=1000, max_concurrency=10, failures_before_stop=1000
    )
    services = replace(aws_services(session, region=REGION), ledger=Ledger("bench-ledger", session=session))
    started = time.perf_counter()
    report = run(
        LocalPort(sleep=lambda _: None),
        services,
        settings,
        ManualPayload(poll_seconds=1, health_timeout_seconds=600),
    )
    seconds = time.perf_counter() - started
    return {
        "groups": len(report.groups),
        "recycled": report.summary.recycled,
        "failed": report.summary.failed,
        "calls": sum(log.calls.values()),
        "calls_per_group": round(sum(log.calls.values()) / max(1, len(report.groups)), 1),
        "wall_seconds": round(seconds, 1),
        "throttle_retries": log.retries,
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
        "handler_ms": round(handler * 1000, 1),
        "boto3_ms": round(boto * 1000, 1),
        "ratio": round(handler / boto, 2),
        "top_offenders_ms": {name: round(us / 1000, 1) for us, name in top[:6]},
    }


def bench_billed_compute(grace_seconds: int) -> dict[str, Any]:
    """One recycle whose replacement turns healthy after 10 simulated minutes, polled every 15 s after
    a first poll at the end of the group's grace period (0: every 15 s from the start, as before)."""
    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
    from moto import mock_aws

    from recycler import handler

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_TRACE_DISABLED="1",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    emulator.install()
    emulator.reset()
    spans: list[float] = []

    def timed(event: Any, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return handler.durable_handler(event, context)
        finally:
            spans.append(time.perf_counter() - started)

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
    report = json.loads(result.result)
    group = report["groups"][0]
    billed = sum(spans)
    return {
        "grace_seconds": grace_seconds,
        "health_polls": len(polls),
        "outcome": group["outcome"],
        "simulated_wait_seconds": group["waited_seconds"],
        "invocations": len(spans),
        "billed_seconds": round(billed, 2),
        "billed_percent_of_wait": round(100 * billed / group["waited_seconds"], 2),
    }


def main() -> int:
    # Every bench template pins one image, so each recycle would warn "stale AMI"; that is expected here.
    logging.getLogger("recycler").setLevel(logging.ERROR)
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
    print(f"one run recycling {SIZES[-1]:,} groups ...", file=sys.stderr)
    results["scale_run"] = bench_scale_run()
    print("cold import ...", file=sys.stderr)
    results["cold_import"] = bench_cold_import()
    print("compute billed per recycle ...", file=sys.stderr)
    results["billed_compute"] = bench_billed_compute(300)
    # A grace period shorter than a poll behaves as recycler did before for every group (moto reads 0 as 300).
    results["billed_compute_every_poll"] = bench_billed_compute(1)
    print("fleet makespan, sliding window vs waves ...", file=sys.stderr)
    results["makespan"] = makespan.table(makespan.GROUPS // 5 if QUICK else makespan.GROUPS)
    print("freshness target, 60 simulated days ...", file=sys.stderr)
    results["freshness"] = [asdict(row) for row in freshness.table()]
    if QUICK:
        print("quick run: bench/results.json keeps the full run's figures", file=sys.stderr)
    else:
        (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    return 0


def render(results: dict[str, Any]) -> str:
    lines = ["| benchmark | measured | goal | met |", "|---|---|---|---|"]
    for row in results["planning"]:
        lines.append(
            f"| plan {row['groups']:>5} groups x {INSTANCES_PER_GROUP} (+{NOT_OPTED_IN:,} not opted in) | {row['calls']} calls (bound {row['lower_bound']}, "
            f"ratio {row['ratio']}), median {row['median_seconds']} s, peak {row['peak_mib']} MiB | calls <= 1.5x bound | "
            f"{'yes' if row['ratio'] <= 1.5 else 'NO'} |"
        )
    cold = results["cold_import"]
    lines.append(
        f"| cold import recycler.handler | {cold['handler_ms']} ms vs import boto3 {cold['boto3_ms']} ms "
        f"(ratio {cold['ratio']}) | <= 2x boto3 | {'yes' if cold['ratio'] <= 2 else 'NO'} |"
    )
    for key, how in (
        ("billed_compute_every_poll", "polled every 15 s from the start (before)"),
        ("billed_compute", "first poll after the 300 s grace period"),
    ):
        billed = results[key]
        lines.append(
            f"| compute billed per recycle, {how} | {billed['health_polls']} polls, {billed['invocations']} invocations, {billed['billed_seconds']} s inside the handler for "
            f"{billed['simulated_wait_seconds']} s of waiting ({billed['billed_percent_of_wait']} %) | <= 2 % of wait | "
            f"{'yes' if billed['billed_percent_of_wait'] <= 2 else 'NO'} |"
        )
    for row in results["makespan"]:
        lines.append(
            f"| fleet makespan, {row['groups']} groups, concurrency {makespan.CONCURRENCY}, {row['strategy']} | "
            f"{row['makespan_minutes']} min vs lower bound {row['lower_bound_minutes']} min (ratio {row['ratio']}) | "
            f"ratio <= {makespan.GOAL_RATIO} | {'yes' if row['ratio'] <= makespan.GOAL_RATIO else 'NO'}"
            f"{' (baseline)' if row['strategy'] == 'waves' else ''} |"
        )
    scale = results["scale_run"]
    lines.append(
        f"| one run, {SIZES[-1]:,} groups, concurrency 10 | {scale['recycled']} recycled, {scale['failed']} failed, {scale['calls']} calls "
        f"({scale['calls_per_group']}/group), {scale['wall_seconds']} s, {scale['throttle_retries']} throttling retries | "
        f"no throttling error surfaces | {'yes' if scale['failed'] == 0 else 'NO'} |"
    )
    lines.append("")
    lines.append(
        "Freshness target (bench/freshness.py: the real policy, weekday schedule, backlog over 60 days):"
    )
    lines.append(freshness.render([freshness.GroupResult(**row) for row in results["freshness"]]))
    lines.append("")
    lines.append(
        "import time, top packages (ms): "
        + ", ".join(f"{k} {v}" for k, v in cold["top_offenders_ms"].items())
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
