"""Publish -> verdict latency: how soon a new image is proven (good) or alerted (broken), measured by
running the real workflow on the emulator with a simulated clock: 5-minute boots, a 300 s grace period,
15 s polls, the default 120 s debounce and a 30-minute bake. The broken image's 5xx alarm fires 10
minutes into the bake. The baseline is the next scheduled run of the default weekday schedule for an
image published Friday 11:00 UTC (what recycler did before publish events).

Then the exposure that latency buys: a 48-hour window with hourly scale-outs of 10 groups on one launch
path (one instance each), counting instances launched from the broken image before the verdict. And after
it: the 10 groups launch `resolve:ssm:/golden/ami` (an aws:ec2:image parameter whose previous value a
recycle proved), the publish run's canary fails its bake, and every remaining hour of the window each
group really scales out by one on the emulator; the instances launched from the broken image are counted,
with recycler:revert_on_canary_failure off and on (the run puts the parameter back).

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
from recycler.local.port import LocalPort, PollHook
from recycler.models import ManualPayload, Settings
from recycler.schedule import parse_schedule
from recycler.workflow.run import run

REGION = "us-east-1"
PUBLISHED = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)  # a Friday
BOOT_SECONDS = 300
SIMULATED_HOURS = 48
SCALING_GROUPS = 10


def alarm_during_bake(cloudwatch: Any, clock: emulator.SimulatedClock, *, fires: bool) -> PollHook:
    """The broken image's tell: the canary group's 5xx alarm goes into ALARM 10 minutes into its bake."""
    bake_started: list[datetime] = []

    def on_poll(name: str, state: Any) -> None:
        if name.endswith(":bake") and not bake_started:
            bake_started.append(clock.now)
        if fires and bake_started and clock.now - bake_started[0] >= timedelta(minutes=10):
            cloudwatch.set_alarm_state(AlarmName="shop-5xx", StateValue="ALARM", StateReason="bench")

    return on_poll


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
        on_poll = alarm_during_bake(cloudwatch, clock, fires=broken)

        services = replace(
            aws_services(session, region=REGION), ledger=Ledger("bench-ledger", session=session), clock=clock
        )
        payload = ManualPayload(source="publish", canary_only=True, trigger="bench", poll_seconds=15)
        report = run(LocalPort(sleep=clock.sleep, on_poll=on_poll), services, Settings(), payload)
    emulator.reset()
    [shop] = report.groups
    return (clock.now - PUBLISHED).total_seconds(), f"{shop.outcome} {shop.reason}"


PARAMETER = "/golden/ami"


def exposure_after_verdict(protected: bool) -> tuple[int, float, str]:
    """Instances the 10 groups on one alias launch from the broken image after the verdict, by real
    hourly scale-outs on the emulator until the 48 h window ends; the verdict's latency; the revert."""
    from moto import mock_aws

    emulator.install()
    emulator.reset()
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        ec2, autoscaling, ssm = session.client("ec2"), session.client("autoscaling"), session.client("ssm")
        old, new = emulator.stock_images(ec2, 2)
        ssm.put_parameter(Name=PARAMETER, Value=old, Type="String", DataType="aws:ec2:image")
        template = ec2.create_launch_template(
            LaunchTemplateName="golden",
            LaunchTemplateData={"ImageId": f"resolve:ssm:{PARAMETER}", "InstanceType": "t3.micro"},
        )["LaunchTemplate"]["LaunchTemplateId"]
        names = [f"shop-{n}" for n in range(SCALING_GROUPS)]
        for name in names:
            # shop-0 has the most headroom: the canary; the other nine are held back by its verdict.
            emulator.create_aged_group(
                autoscaling,
                name,
                template,
                [9, 6, 3] if name == "shop-0" else [9],
                PUBLISHED,
                region=REGION,
                max_size=SIMULATED_HOURS + 4,
                tags={"recycler:enabled": "true", "recycler:alarms": "shop-5xx"},
                grace_seconds=300,
            )
            emulator.point_group_at(autoscaling, name, template, "$Default")
        emulator.create_ledger_table(session.client("dynamodb"), "bench-ledger")
        ledger = Ledger("bench-ledger", session=session)
        ledger.record_proven(old, "shop-0", "an-earlier-run", PUBLISHED - timedelta(days=7))
        cloudwatch = session.client("cloudwatch")
        emulator.create_alarm(cloudwatch, "shop-5xx")
        ssm.put_parameter(Name=PARAMETER, Value=new, Type="String", DataType="aws:ec2:image", Overwrite=True)
        clock = emulator.SimulatedClock(PUBLISHED)
        emulator.boot_time("shop-0", BOOT_SECONDS, clock)
        on_poll = alarm_during_bake(cloudwatch, clock, fires=True)

        services = replace(aws_services(session, region=REGION), ledger=ledger, clock=clock)
        payload = ManualPayload(source="publish", canary_only=True, trigger="bench", poll_seconds=15)
        settings = Settings(revert_on_canary_failure=protected)
        report = run(LocalPort(sleep=clock.sleep, on_poll=on_poll), services, settings, payload)
        latency = (clock.now - PUBLISHED).total_seconds()
        before = set(_instances(autoscaling, names))
        for _hour in range(int(latency // 3600) + 1, SIMULATED_HOURS + 1):
            for group in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names)[
                "AutoScalingGroups"
            ]:
                # A target-tracking policy's scale-out, as the emulator words its activity.
                emulator.scale(group["AutoScalingGroupName"], group["DesiredCapacity"] + 1, autoscaling)
        launched = sorted(set(_instances(autoscaling, names)) - before)
        pages = ec2.get_paginator("describe_instances").paginate(InstanceIds=launched)
        images = [i["ImageId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]
        assert len(images) == len(launched) == SCALING_GROUPS * (SIMULATED_HOURS - int(latency // 3600))
    emulator.reset()
    reverts = "; ".join(f"{r.path} {r.outcome}" for r in report.reverted) or "none"
    return sum(1 for image in images if image == new), latency, reverts


def _instances(autoscaling: Any, names: list[str]) -> list[str]:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names)["AutoScalingGroups"]
    return [i["InstanceId"] for g in groups for i in g["Instances"]]


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
    unprotected, _, _ = exposure_after_verdict(protected=False)
    protected, alias_latency, reverts = exposure_after_verdict(protected=True)
    return {
        "good_image_proven_minutes": round(good / 60, 1),
        "good_image_outcome": good_outcome,
        "broken_image_alerted_minutes": round(bad / 60, 1),
        "broken_image_outcome": bad_outcome,
        "next_scheduled_run_hours": round(baseline / 3600, 1),
        "broken_launched_before_verdict_publish_triggered": exposure(bad),
        "broken_launched_before_verdict_scheduled_only": exposure(baseline),
        "broken_launched_before_verdict_on_alias": exposure(alias_latency),
        "broken_launched_after_verdict_unprotected": unprotected,
        "broken_launched_after_verdict_protected": protected,
        "revert_on_canary_failure": reverts,
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
