"""The demo's second act: a new image is published, its canary runs within minutes, and the canary's
own 5xx alarm fires during the bake, so the image is caught before the other group launches it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from recycler.local import emulator
from recycler.workflow.group.bake import BakeState

PARAMETER = "/demo/release-ami"
ALARM = "shop-5xx"


def seed_release_groups(session: boto3.Session, now: datetime, image: str) -> str:
    """Two groups whose template resolves an SSM parameter; returns the release image to publish."""
    ec2, autoscaling, ssm = session.client("ec2"), session.client("autoscaling"), session.client("ssm")
    # A fourth stock image: the first three are act 1's (old, patched, broken). The first one again
    # would re-date act 1's 90-day-old AMI to an hour, and `fleet` after --keep would contradict act 1.
    release_image = emulator.stock_images(ec2, 4)[3]
    emulator.set_image_created(release_image, now - timedelta(hours=1), "us-east-1")
    ssm.put_parameter(Name=PARAMETER, Value=image, Type="String")
    template = ec2.create_launch_template(
        LaunchTemplateName="demo-release",
        LaunchTemplateData={"ImageId": f"resolve:ssm:{PARAMETER}", "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    for name, ages, tags in (("shop", [9, 6, 3], {"recycler:alarms": ALARM}), ("cart", [8, 4], {})):
        emulator.create_aged_group(
            autoscaling,
            name,
            template,
            ages,
            now,
            region="us-east-1",
            tags={"recycler:enabled": "true", **tags},
        )
    emulator.create_alarm(session.client("cloudwatch"), ALARM)
    return release_image


def parameter_changed(account: str, region: str) -> dict[str, Any]:
    """The event EventBridge delivers for the parameter update (AWS's documented shape)."""
    return {
        "version": "0",
        "id": "5c1b1d6e-0f3a-4d7e-9a51-6f1f8f0b9a11",
        "detail-type": "Parameter Store Change",
        "source": "aws.ssm",
        "account": account,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "region": region,
        "resources": [f"arn:aws:ssm:{region}:{account}:parameter{PARAMETER}"],
        "detail": {"operation": "Update", "name": PARAMETER, "type": "String"},
    }


class SpikeDuringBake:
    """After the canary's first bake poll, its service starts failing: the 5xx alarm goes to ALARM."""

    def __init__(self, session: boto3.Session) -> None:
        self.cloudwatch = session.client("cloudwatch")
        self.fired = False

    def __call__(self, name: str, state: Any) -> None:
        if isinstance(state, BakeState) and name.startswith("shop:") and not self.fired:
            self.fired = True
            self.cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="5xx spike")


def publish_act(
    console: Any,
    session: boto3.Session,
    now: datetime,
    seeded: dict[str, Any],
    settings: Any,
    progress: Callable[[str, Any], None],
) -> None:
    """A new image is published: a Parameter Store Change event starts a canary run within minutes."""
    from rich.panel import Panel

    from recycler.cli.render import render_report
    from recycler.local.port import LocalPort, local_services
    from recycler.triggers import payload_of
    from recycler.workflow.run import run

    release = seed_release_groups(session, now, seeded["patched_image"])
    session.client("ssm").put_parameter(Name=PARAMETER, Value=release, Type="String", Overwrite=True)
    console.print(
        f"\n[bold]A release pipeline moves {PARAMETER} to {release}[/] (groups shop and cart "
        "resolve it): EventBridge delivers Parameter Store Change; the canary runs now, not at the next "
        "scheduled run, and bakes before the image counts as proven\n"
    )
    spike = SpikeDuringBake(session)

    def on_poll(name: str, state: Any) -> None:
        if hasattr(state, "status"):  # health, drain and bake polls; not the debounce's clock
            progress(name, state)
        spike(name, state)

    seen = len(emulator.published(session.client("sqs"), seeded["queue_url"]))
    event = parameter_changed("123456789012", "us-east-1")
    report = run(LocalPort(on_poll=on_poll), local_services(settings, session), settings, payload_of(event))
    render_report(report, console)
    for alert in emulator.published(session.client("sqs"), seeded["queue_url"])[seen:]:
        body = alert["Message"].split("\nJSON:")[0]
        console.print(Panel(body, title=f"SNS alert: {alert['Subject']}", border_style="red", expand=False))
