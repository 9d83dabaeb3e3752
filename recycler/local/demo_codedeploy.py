"""The demo's third act: groups a CodeDeploy deployment group deploys to (docs/codedeploy.md). On
`orders`, the last revision's scripts fail on every new instance: the recycle fails as revision-failed,
and the image is not condemned. On `billing`, a deployment is under way: recycler does not touch it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import boto3

from recycler.local import emulator

REVISION = {
    "revisionType": "S3",
    "s3Location": {"bucket": "demo-releases", "key": "app.zip", "bundleType": "zip"},
}
SERVICE_ROLE = "arn:aws:iam::123456789012:role/demo-codedeploy"


def seed_codedeploy_groups(session: boto3.Session, now: datetime) -> str:
    """`orders` and `billing`, each named by a deployment group of application `store`; returns the id
    of the deployment under way on billing."""
    ec2, autoscaling, codedeploy = (
        session.client("ec2"),
        session.client("autoscaling"),
        session.client("codedeploy"),
    )
    # A fifth stock image: act 1 uses three, act 2 publishes (and condemns) the fourth.
    image = emulator.stock_images(ec2, 5)[4]
    emulator.set_image_created(image, now - timedelta(days=20), "us-east-1")
    template = emulator.create_launch_template(ec2, "demo-store", image)
    for name, ages in (("orders", [11, 7, 3]), ("billing", [10, 6])):
        emulator.create_aged_group(
            autoscaling, name, template, ages, now, region="us-east-1", tags={"recycler:enabled": "true"}
        )
    codedeploy.create_application(applicationName="store", computePlatform="Server")
    for name in ("orders", "billing"):
        codedeploy.create_deployment_group(
            applicationName="store",
            deploymentGroupName=f"{name}-dg",
            autoScalingGroups=[name],
            serviceRoleArn=SERVICE_ROLE,
        )
    emulator.revision_outcome("orders-dg", "fails")
    deployment = codedeploy.create_deployment(
        applicationName="store", deploymentGroupName="billing-dg", revision=REVISION
    )
    return str(deployment["deploymentId"])


def codedeploy_act(
    console: Any,
    session: boto3.Session,
    now: datetime,
    seeded: dict[str, Any],
    settings: Any,
    progress: Callable[[str, Any], None],
    poll_seconds: int,
) -> None:
    from rich.panel import Panel

    from recycler.cli.render import render_report
    from recycler.local.port import LocalPort, local_services
    from recycler.models import parse_payload
    from recycler.workflow.run import run

    in_progress = seed_codedeploy_groups(session, now)
    console.print(
        "\n[bold]CodeDeploy deploys application 'store' to groups orders and billing[/]: every new orders "
        "instance gets the last revision, whose scripts now fail; a deployment "
        f"({in_progress}) is under way on billing\n"
    )
    seen = len(emulator.published(session.client("sqs"), seeded["queue_url"]))
    payload = parse_payload(
        {"source": "manual", "groups": ["orders", "billing"], "poll_seconds": poll_seconds}
    )
    report = run(LocalPort(on_poll=progress), local_services(settings, session), settings, payload)
    render_report(report, console)
    for alert in emulator.published(session.client("sqs"), seeded["queue_url"])[seen:]:
        body = alert["Message"].split("\nJSON:")[0]
        console.print(Panel(body, title=f"SNS alert: {alert['Subject']}", border_style="red", expand=False))
