"""Publish -> verdict latency: how soon a new image is proven (good) or alerted (broken), measured by
running the real workflow on the emulator with a simulated clock: 5-minute boots, a 300 s grace period,
15 s polls, the default 120 s debounce and a 30-minute bake. The broken image's 5xx alarm fires 10
minutes into the bake. The baseline is the next scheduled run of the default weekday schedule for an
image published Friday 11:00 UTC (what recycler did before publish events).

Then the exposure that latency buys: a 48-hour window with hourly scale-outs of 10 groups on one launch
path (one instance each), counting instances launched from the broken image before the verdict.

`python -m bench.publish` prints the figures as JSON (also part of `make bench`).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from recycler.aws.compose import aws_services
from recycler.aws.ledger import Ledger
from recycler.local import emulator
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.schedule import parse_schedule
from recycler.workflow.run import run

REGION = "us-east-1"
PUBLISHED = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)  # a Friday
BOOT_SECONDS = 300
SIMULATED_HOURS = 48
SCALING_GROUPS = 10


def verdict_latency(broken: bool) -> tuple[float, str]:
    """Seconds from the publish event to the run's verdict, and the canary's outcome."""
    from moto import mock_aws

    emulator.install()
    emulator.reset()
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        ec2 = session.client("ec2")
        old, new = emulator.stock_images(ec2, 2)
        template = emulator.create_launch_template(ec2, "release", old)
        emulator.create_aged_group(
            session.client("autoscaling"),
            "shop",
            template,
            [9, 6, 3],
            PUBLISHED,
            region=REGION,
            tags={"recycler:enabled": "true", "recycler:alarms": "shop-5xx"},
            grace_seconds=300,
        )
        emulator.create_ledger_table(session.client("dynamodb"), "bench-ledger")
        cloudwatch = session.client("cloudwatch")
        emulator.create_alarm(cloudwatch, "shop-5xx")
        emulator.publish_image(ec2, template, new)
        clock = emulator.SimulatedClock(PUBLISHED)
        emulator.boot_time("shop", BOOT_SECONDS, clock)
        bake_started: list[datetime] = []

        def on_poll(name: str, state: Any) -> None:
            if name.endswith(":bake") and not bake_started:
                bake_started.append(clock.now)
            if broken and bake_started and clock.now - bake_started[0] >= timedelta(minutes=10):
                cloudwatch.set_alarm_state(AlarmName="shop-5xx", StateValue="ALARM", StateReason="bench")

        services = replace(
            aws_services(session, region=REGION), ledger=Ledger("bench-ledger", session=session), clock=clock
        )
        payload = ManualPayload(source="publish", canary_only=True, trigger="bench", poll_seconds=15)
        report = run(LocalPort(sleep=clock.sleep, on_poll=on_poll), services, Settings(), payload)
    emulator.reset()
    [shop] = report.groups
    return (clock.now - PUBLISHED).total_seconds(), f"{shop.outcome} {shop.reason}"


def scheduled_latency() -> float:
    """Seconds from the publish to the next scheduled run (the default weekday schedule)."""
    schedule = parse_schedule(Settings().schedule_expression, "UTC")
    return (schedule.next(PUBLISHED) - PUBLISHED).total_seconds()


def exposure(latency_seconds: float) -> int:
    """Instances launched from the broken image by hourly scale-outs before the verdict (48 h window)."""
    hours = min(SIMULATED_HOURS, int(latency_seconds // 3600))
    return hours * SCALING_GROUPS


def measure() -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    good, good_outcome = verdict_latency(broken=False)
    bad, bad_outcome = verdict_latency(broken=True)
    baseline = scheduled_latency()
    return {
        "good_image_proven_minutes": round(good / 60, 1),
        "good_image_outcome": good_outcome,
        "broken_image_alerted_minutes": round(bad / 60, 1),
        "broken_image_outcome": bad_outcome,
        "next_scheduled_run_hours": round(baseline / 3600, 1),
        "broken_launched_before_verdict_publish_triggered": exposure(bad),
        "broken_launched_before_verdict_scheduled_only": exposure(baseline),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
