"""`python -m recycler demo`: a real recycle drill against an embedded AWS (moto server on loopback).

It seeds a fleet that tells the whole story (old, tied, young, unsteady, suspended, single-instance
surge, a group whose replacement turns Unhealthy, ECS hosts drained first, Kubernetes nodes without a
drain hook), then runs the same workflow the Lambda runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from recycler.local import emulator
from recycler.workflow.state import DrainState, HealthState

REGION = "us-east-1"
TABLE = "recycler-ledger"


@dataclass(frozen=True)
class DemoGroup:
    name: str
    ages_days: tuple[float, ...]
    story: str
    tags: tuple[tuple[str, str], ...] = ()
    max_size: int | None = None
    broken_ami: bool = False  # launches the freshly published AMI that turns out broken
    ssm_alias: bool = False  # its launch template's ImageId is resolve:ssm:/golden/ami


FLEET = (
    DemoGroup("web", (14, 9, 4), "old web tier behind a target group: recycled onto the patched AMI"),
    DemoGroup(
        "batch",
        (20, 20 - 3 / 1440, 20 - 6 / 1440, 5),
        "three instances tied for oldest: random pick, seed shown",
    ),
    DemoGroup("fresh", (0.2, 0.3), "instances younger than a day: too-young"),
    DemoGroup("jobs", (10, 10), "one instance Unhealthy: not-steady"),
    DemoGroup("reports", (10, 10), "Launch process suspended: processes-suspended"),
    DemoGroup(
        "bastion",
        (30,),
        "single instance in surge mode: recycled with no capacity dip",
        (("recycler:mode", "surge"),),
        2,
    ),
    DemoGroup(
        "api",
        (12, 11, 10),
        "a broken new AMI: the canary for it (most headroom) turns Unhealthy, alert published",
        broken_ami=True,
    ),
    DemoGroup("checkout", (12, 11), "shares the broken AMI: held back by the failed canary", broken_ami=True),
    DemoGroup("search", (12, 11), "shares the broken AMI: held back by the failed canary", broken_ami=True),
    DemoGroup(
        "golden",
        (16, 15),
        "launch template ImageId resolve:ssm:/golden/ami: the parameter moved to the patched AMI",
        ssm_alias=True,
    ),
    DemoGroup(
        "fleet",
        (30, 25, 20, 3, 2),
        "freshness target 7 days: the three too old recycled one after another",
        (("recycler:max-age-days", "7"), ("recycler:max-per-run", "3")),
        6,
    ),
    DemoGroup(
        "containers",
        (13, 8, 3),
        "ECS container instances: the oldest drained (its tasks move off) before it is recycled",
        (("recycler:ecs-cluster", "demo-ecs"),),
    ),
    DemoGroup(
        "nodes",
        (18, 17),
        "Kubernetes nodes without a drain hook: skipped (no-drain-hook), how to add one in the report",
        (("kubernetes.io/cluster/demo", "owned"),),
    ),
    DemoGroup("legacy", (400, 400), "never opted in: not even read", (("recycler:enabled", "false"),)),
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def embedded_aws() -> Iterator[str]:
    """A moto server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    emulator.install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    restore = emulator_errors_to(EMULATOR_LOG)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        restore()


# The embedded AWS's own errors (a request it cannot serve, e.g. a region it does not know: moto's Flask
# app logs the traceback as "moto", werkzeug the failed request) go here, not into the demo's terminal.
EMULATOR_LOG = Path(tempfile.gettempdir()) / "recycler-emulator.log"


def emulator_errors_to(path: Path) -> Callable[[], None]:
    """Send the emulator's loggers to `path` only; returns what puts them back."""
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(name) for name in ("moto", "werkzeug")]
    propagated = [log.propagate for log in loggers]
    for log in loggers:
        log.addHandler(handler)
        log.propagate = False

    def restore() -> None:
        for log, propagate in zip(loggers, propagated, strict=True):
            log.removeHandler(handler)
            log.propagate = propagate
        handler.close()

    return restore


def seed_fleet(session: boto3.Session, now: datetime) -> dict[str, Any]:
    """Create the demo fleet; returns the topic ARN and tap queue for reading alerts back."""
    ec2 = session.client("ec2")
    autoscaling = session.client("autoscaling")
    old_image, patched_image, broken_image = emulator.stock_images(ec2, 3)
    template = emulator.create_launch_template(ec2, "demo-fleet", old_image)
    broken_template = emulator.create_launch_template(ec2, "demo-broken-ami", old_image)
    # Image ages: the fleet runs a 90-day-old AMI; the patched one was built yesterday.
    for image, age in ((old_image, 90), (patched_image, 1), (broken_image, 1)):
        emulator.set_image_created(image, now - timedelta(days=age), REGION)
    ssm = session.client("ssm")
    ssm.put_parameter(Name="/golden/ami", Value=old_image, Type="String")
    golden_template = ec2.create_launch_template(
        LaunchTemplateName="demo-golden",
        LaunchTemplateData={"ImageId": "resolve:ssm:/golden/ami", "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]

    target_group = emulator.create_target_group(ec2, session.client("elbv2"), "web")

    for group in FLEET:
        tags = {"recycler:enabled": "true", **dict(group.tags)}
        ids = emulator.create_aged_group(
            autoscaling,
            group.name,
            golden_template if group.ssm_alias else broken_template if group.broken_ami else template,
            group.ages_days,
            now,
            region=REGION,
            max_size=group.max_size,
            tags=tags,
            target_group_arns=[target_group] if group.name == "web" else None,
        )
        if group.name == "jobs":
            autoscaling.set_instance_health(InstanceId=ids[1], HealthStatus="Unhealthy")
        if group.name == "reports":
            autoscaling.suspend_processes(AutoScalingGroupName="reports", ScalingProcesses=["Launch"])
        if group.name == "containers":
            ecs = session.client("ecs")
            for arn in emulator.create_ecs_cluster(ecs, "demo-ecs", ids, group=group.name).values():
                emulator.run_tasks(ecs, "demo-ecs", arn, service=3)
            emulator.drain_time("demo-ecs", 3)  # its service tasks take a few seconds to move

    # The AMI pipeline publishes a patched image: replacements boot it.
    emulator.publish_image(ec2, template, patched_image)
    emulator.publish_image(ec2, broken_template, broken_image)
    # An Image Builder pipeline (say) moves the parameter: resolve:ssm: launches now boot the patched AMI.
    ssm.put_parameter(Name="/golden/ami", Value=patched_image, Type="String", Overwrite=True)
    emulator.sabotage("web", "slow", slow_reads=4)  # takes a few polls to pass, like a real boot
    for group in FLEET:
        if group.broken_ami:
            emulator.sabotage(group.name, "unhealthy")
    emulator.create_ledger_table(session.client("dynamodb"), TABLE)
    topic_arn, queue_url = emulator.create_alert_topic(session.client("sns"), session.client("sqs"))
    return {
        "topic_arn": topic_arn,
        "queue_url": queue_url,
        "old_image": old_image,
        "patched_image": patched_image,
    }


class Progress:
    """A live status line while health checks are polled."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.lines: dict[str, str] = {}
        self.lock = threading.Lock()
        self.status: Any = None

    def on_poll(self, name: str, state: HealthState | DrainState) -> None:
        group = name.split(":", maxsplit=1)[0]
        verdict = state.status
        text = f"{group}: poll {state.attempt}, {state.elapsed:.0f} s, {verdict} - {state.detail}"
        with self.lock:
            self.lines[group] = text
            if self.status is not None:
                self.status.update(
                    "waiting for drains and health checks\n  " + "\n  ".join(self.lines.values())
                )
        if state.done:
            style = "green" if verdict in ("healthy", "drained") else "bold red"
            self.console.print(f"  [{style}]{text}[/]")


def main(args: argparse.Namespace) -> int:
    from rich.panel import Panel

    from recycler.cli.render import console as terminal
    from recycler.cli.render import render_report
    from recycler.local.port import LocalPort, local_services
    from recycler.models import load_settings, parse_payload
    from recycler.workflow.run import run

    # Checked before the embedded AWS starts: a bad flag is a message, not a half-started demo.
    payload = parse_payload(
        {
            "source": "manual",
            "seed": args.seed,
            "poll_seconds": args.poll,
            "health_timeout_seconds": args.health_timeout,
        }
    )
    console = terminal()
    started = time.monotonic()
    now = datetime.now(UTC)
    with embedded_aws() as endpoint:
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="demo",
            AWS_SECRET_ACCESS_KEY="demo",
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
        )
        os.environ.pop("AWS_PROFILE", None)
        session = boto3.Session(region_name=REGION)
        console.print(f"[bold]recycler demo[/]: embedded AWS (moto server) at {endpoint}")
        seeded = seed_fleet(session, now)
        for group in FLEET:
            console.print(f"  [cyan]{group.name:<8}[/] {group.story}")
        os.environ["RECYCLER_LEDGER_TABLE"] = TABLE
        os.environ["RECYCLER_TOPIC_ARN"] = seeded["topic_arn"]
        # A drill's blast radius: the failed canary alone must not stop the groups on the good AMI.
        os.environ.setdefault("RECYCLER_FAILURES_BEFORE_STOP", "3")
        # A demo's bake and debounce last seconds, not the deployed 30 minutes and 2 minutes.
        os.environ.setdefault("RECYCLER_BAKE_MINUTES", "0.1")
        os.environ.setdefault("RECYCLER_PUBLISH_DEBOUNCE_SECONDS", "2")
        settings = load_settings()
        console.print(
            f"\nRecycling with poll {args.poll} s, health timeout {args.health_timeout} s, seed {args.seed} "
            f"(launch template now boots {seeded['patched_image']}, was {seeded['old_image']})\n"
        )
        progress = Progress(console)
        with console.status("planning") as status:
            progress.status = status
            report = run(
                LocalPort(on_poll=progress.on_poll), local_services(settings, session), settings, payload
            )
        render_report(report, console)
        alerts = emulator.published(session.client("sqs"), seeded["queue_url"])
        for alert in alerts:
            body = alert["Message"].split("\nJSON:")[0]
            console.print(
                Panel(body, title=f"SNS alert: {alert['Subject']}", border_style="red", expand=False)
            )
        from recycler.local.demo_publish import publish_act

        publish_act(console, session, now, seeded, settings, progress.on_poll)
        from recycler.local.demo_codedeploy import codedeploy_act

        codedeploy_act(console, session, now, seeded, settings, progress.on_poll, args.poll)
        with open(args.report_file, "w", encoding="utf-8") as handle:
            handle.write(report.model_dump_json(indent=2) + "\n")
        console.print(
            f"JSON report written to [bold]{args.report_file}[/] ({time.monotonic() - started:.0f} s)."
        )
        console.print(
            "The failed 'api' group is part of the story: recycler caught a bad AMI on one instance (the "
            "canary), said so loudly, left the rest of the group serving, and never touched the two other "
            "groups that would have launched it."
        )
        if getattr(args, "keep", False):
            from recycler.local.demo_keep import keep_running

            keep_running(console, endpoint, seeded["topic_arn"], REGION, TABLE, EMULATOR_LOG)
    return 0
