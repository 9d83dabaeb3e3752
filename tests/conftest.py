"""Shared fixtures: an in-process emulated AWS (moto) with helpers to build fleets with known ages."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from recycler.local import emulator

REGION = "us-east-1"
# Fleets are aged relative to the wall clock: runs through the CLI and the Lambda handler read the real
# time, so a fixed date here would make "0.1 days old" a day older every day the suite runs.
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("RECYCLER_") or key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(key)
    # pytest-xdist's workers export COLUMNS=80 (a plain pytest run does not): the CLI's tables honour it, so
    # a test would see the narrow layout only under -n. Tests that mean a width set COLUMNS themselves.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Recycler")


@dataclass
class World:
    """A small fleet builder over the emulator; times are relative to NOW."""

    session: boto3.Session
    images: list[str] = field(default_factory=list)
    templates: dict[str, str] = field(default_factory=dict)

    @property
    def autoscaling(self) -> Any:
        return self.session.client("autoscaling")

    @property
    def ec2(self) -> Any:
        return self.session.client("ec2")

    def template(self, name: str = "lt", *, refreshed: bool = True) -> str:
        """A launch template: version 1 boots images[0]; with refreshed, $Latest boots images[1]."""
        if name not in self.templates:
            self.templates[name] = emulator.create_launch_template(self.ec2, name, self.images[0])
        return self.templates[name]

    def group(
        self,
        name: str,
        ages_days: list[float],
        *,
        enabled: str | None = "true",
        tags: dict[str, str] | None = None,
        max_size: int | None = None,
        target_group_arns: list[str] | None = None,
        template: str = "lt",
        grace_seconds: int = 5,
    ) -> list[str]:
        """A group with one instance per age (days before NOW), on the old image."""
        all_tags = dict(tags or {})
        if enabled is not None:
            all_tags["recycler:enabled"] = enabled
        return emulator.create_aged_group(
            self.autoscaling,
            name,
            self.template(template),
            ages_days,
            NOW,
            region=REGION,
            max_size=max_size,
            tags=all_tags,
            target_group_arns=target_group_arns,
            grace_seconds=grace_seconds,
        )

    def publish_patched_image(self, template: str = "lt") -> None:
        emulator.publish_image(self.ec2, self.template(template), self.images[1])


@pytest.fixture
def world() -> Iterator[World]:
    from moto import mock_aws

    emulator.install()
    emulator.reset()
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        yield World(session=session, images=emulator.stock_images(session.client("ec2")))
    emulator.reset()


@dataclass
class Stack:
    """The world plus what the CDK stack deploys: ledger table and alert topic (with an SQS tap)."""

    world: World
    table: str
    topic_arn: str
    queue_url: str

    def alerts(self) -> list[dict[str, str]]:
        return emulator.published(self.world.session.client("sqs"), self.queue_url)

    def ledger_items(self, group: str) -> list[dict[str, Any]]:
        items = self.world.session.client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="group_name = :g",
            ExpressionAttributeValues={":g": {"S": group}},
        )["Items"]
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]

    def prove(self, image: str) -> None:
        """Record the image as proven by an earlier healthy recycle: its groups need no canary (the
        steady state of a fleet whose AMI has not changed)."""
        from recycler.aws.ledger import Ledger

        Ledger(self.table, session=self.world.session).record_proven(image, "earlier-run", "run-0", NOW)

    def group_state(self, name: str) -> Any:
        return self.world.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ][0]


@pytest.fixture
def stack(world: World, monkeypatch: pytest.MonkeyPatch) -> Stack:
    session = world.session
    emulator.create_ledger_table(session.client("dynamodb"), "recycler-ledger")
    topic_arn, queue_url = emulator.create_alert_topic(session.client("sns"), session.client("sqs"))
    monkeypatch.setenv("RECYCLER_LEDGER_TABLE", "recycler-ledger")
    monkeypatch.setenv("RECYCLER_TOPIC_ARN", topic_arn)
    return Stack(world=world, table="recycler-ledger", topic_arn=topic_arn, queue_url=queue_url)


@dataclass
class DurableRun:
    status: str
    report: dict[str, Any] | None
    error: str
    operations: list[Any]
    # What Lambda meters: every operation once and every retry once more (a wait's polls are retries of
    # its step), from the checkpoint updates the runner recorded.
    metered: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    # The child executions it started (fanout.py), each as Lambda meters it, and their retries by name.
    children: list[tuple[int, Counter[str]]] = field(default_factory=list)


def metered_operations(updates: list[Any]) -> tuple[int, Counter[str]]:
    """Lambda's count of an execution's operations from its checkpoint updates (Lambda Developer Guide,
    "Retries for Lambda durable functions": a retried step is "1 operation" more): each distinct
    operation once, each RETRY update once more. Also the retries by operation name."""
    retries = Counter(str(u.name) for u in updates if u.action.value == "RETRY")
    return len({u.operation_id for u in updates}) + sum(retries.values()), retries


def run_durable(
    event: Any, timeout: int = 300, setup: Callable[[Callable[[], datetime]], None] | None = None
) -> DurableRun:
    """The real Lambda handler under the durable test runner (waits skipped, replays like Lambda).

    The runner enforces none of Lambda's durable limits; this does, as Lambda would: an execution
    with more metered operations than AWS documents (3,000, each poll of a wait counted), or one
    checkpoint over 256 KB, FAILS, whatever it did before. `setup` is given the runner's simulated
    clock before the run (emulator.boot_time measures boots on it).
    """
    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner

    from recycler.handler import durable_handler
    from recycler.workflow.budget import CHECKPOINT_LIMIT_BYTES, OPERATIONS_LIMIT

    with DurableFunctionTestRunner(handler=durable_handler, skip_time=True) as runner:
        if setup is not None:
            setup(runner._clock.now)
        # A run that fans out invokes its own version, as Lambda names it to the function (DurablePort.invoke).
        own = f"{os.environ.get('AWS_LAMBDA_FUNCTION_NAME')}:{os.environ.get('AWS_LAMBDA_FUNCTION_VERSION')}"
        runner.register_durable_function(own, durable_handler, execution_timeout=timeout)
        arn = runner.run_async(input=json.dumps(event), execution_timeout=timeout)
        result = runner.wait_for_result(arn, timeout=timeout)
        execution = runner._store.load(arn)
        metered, retries = metered_operations(execution.updates)
        child_updates = [runner._store.load(c).updates for c in execution.chained_invoke_children.values()]
        children = [metered_operations(updates) for updates in child_updates]
        largest = max((len(u.payload or "") for u in sum(child_updates, execution.updates)), default=0)
    error = result.error
    error_text = json.dumps(error.to_dict()) if hasattr(error, "to_dict") else str(error or "")
    operations = result.get_all_operations()
    status = result.status.name
    for count in [metered, *(child for child, _ in children)]:
        if count > OPERATIONS_LIMIT:
            status, error_text = "FAILED", f"{count} operations exceed the limit of {OPERATIONS_LIMIT}"
    if largest > CHECKPOINT_LIMIT_BYTES:
        status, error_text = "FAILED", f"a checkpoint of {largest} bytes exceeds {CHECKPOINT_LIMIT_BYTES}"
    for operation in operations:
        payload = getattr(operation, "result", None)
        if isinstance(payload, str) and len(payload.encode()) > CHECKPOINT_LIMIT_BYTES:
            status, error_text = (
                "FAILED",
                f"checkpoint {operation.name} exceeds {CHECKPOINT_LIMIT_BYTES} bytes",
            )
    report = json.loads(result.result) if result.result else None
    return DurableRun(status, report, error_text, operations, metered, retries, children)


def invoke_durable(event: Any, timeout: int = 300) -> tuple[str, dict[str, Any] | None, str]:
    """(execution status, RunReport or None, error text) of run_durable."""
    done = run_durable(event, timeout)
    return done.status, done.report if done.status != "FAILED" else None, done.error


@pytest.fixture
def terminations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every terminate the fleet adapter sends, whoever sends it."""
    from recycler.aws.fleet import Fleet

    calls: list[tuple[str, bool]] = []
    original = Fleet.terminate

    def counting(self: Fleet, instance_id: str, *, decrement: bool) -> str:
        calls.append((instance_id, decrement))
        return original(self, instance_id, decrement=decrement)

    monkeypatch.setattr(Fleet, "terminate", counting)
    return calls


@pytest.fixture
def invocations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per invocation of the Lambda handler's workflow: each durable replay is one."""
    from recycler import handler

    calls: list[int] = []
    original = handler.run  # type: ignore[attr-defined]

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(handler, "run", counting)
    return calls


@pytest.fixture
def ecs_timeline(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int | None]]:
    """What the emulated AWS saw, in order, whoever sent it (in-process, durable runner or CLI):
    ("DRAINING"|"ACTIVE", EC2 instance id, running tasks), ("surge", group, None), and
    ("terminate", EC2 instance id, tasks still running on it when the terminate arrived)."""
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.ecs.models import ecs_backends
    from moto.ecs.responses import EC2ContainerServiceResponse

    emulator.install()  # wrap the emulator's methods, never be wrapped by them (undo would drop theirs)
    events: list[tuple[str, str, int | None]] = []

    def container_instances() -> Iterator[Any]:
        for regions in ecs_backends.values():
            for backend in regions.values():
                for by_id in backend.container_instances.values():
                    yield from by_id.values()

    def tasks_on(instance_id: str) -> int | None:
        found = [c for c in container_instances() if c.ec2_instance_id == instance_id]
        return found[0].running_tasks_count if found else None

    original_update = EC2ContainerServiceResponse.update_container_instances_state

    def update(self: Any) -> Any:
        result = original_update(self)
        for arn in self._get_param("containerInstances"):
            ci = next(
                c for c in container_instances() if c.container_instance_arn.endswith(arn.split("/")[-1])
            )
            events.append((self._get_param("status"), ci.ec2_instance_id, ci.running_tasks_count))
        return result

    original_terminate = AutoScalingResponse.terminate_instance_in_auto_scaling_group

    def terminate(self: Any) -> Any:
        instance_id = self._get_param("InstanceId")
        events.append(("terminate", instance_id, tasks_on(instance_id)))
        return original_terminate(self)

    original_desired = AutoScalingResponse.set_desired_capacity

    def set_desired(self: Any) -> Any:
        events.append(("surge", self._get_param("AutoScalingGroupName"), None))
        return original_desired(self)

    monkeypatch.setattr(EC2ContainerServiceResponse, "update_container_instances_state", update)
    monkeypatch.setattr(AutoScalingResponse, "terminate_instance_in_auto_scaling_group", terminate)
    monkeypatch.setattr(AutoScalingResponse, "set_desired_capacity", set_desired)
    return events
