"""The real Lambda handler under the durable test runner (waits skipped, replays like Lambda) on moto."""

from __future__ import annotations

from typing import Any

import pytest

from recycler.local import emulator
from recycler.models import ManualPayload, Settings
from recycler.report import GroupReport
from recycler.workflow.run import run
from tests.conftest import Stack, invoke_durable


def by_group(report: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    assert report is not None, "the execution returned no RunReport"
    return {g["group"]: g for g in report["groups"]}


def test_happy_recycle_replaces_the_oldest_with_the_new_ami(stack: Stack, terminations: list[Any]) -> None:
    world = stack.world
    ids = world.group("web", [3, 12, 6])
    world.publish_patched_image()
    status, report, _ = invoke_durable({"source": "schedule", "poll_seconds": 15})
    assert status == "SUCCEEDED" and report is not None
    web = by_group(report)["web"]
    assert web["outcome"] == "recycled"
    assert web["victim"]["instance_id"] == ids[1]
    assert web["replacement"]["image_id"] == world.images[1] and web["replacement"]["ami_refreshed"] is True
    assert terminations == [(ids[1], False)]
    group = stack.group_state("web")
    in_service = {i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"}
    assert ids[1] not in in_service and web["replacement"]["instance_id"] in in_service
    assert len(in_service) == group["DesiredCapacity"] == 3
    claim = next(i for i in stack.ledger_items("web") if i["record"] == "claim")
    assert claim["status"] == "recycled" and claim["victim"] == ids[1]
    assert stack.alerts() == []


def test_stale_ami_is_reported_not_hidden(stack: Stack) -> None:
    stack.world.group("pinned", [5, 4])  # no new image published: $Latest is the same AMI
    _, report, _ = invoke_durable({})
    pinned = by_group(report)["pinned"]
    assert pinned["outcome"] == "recycled" and pinned["replacement"]["ami_refreshed"] is False
    assert "pins an old AMI" in pinned["detail"]


def test_unhealthy_replacement_fails_loudly(stack: Stack) -> None:
    stack.world.group("web", [5, 4])
    stack.world.publish_patched_image()
    emulator.sabotage("web", "unhealthy")
    status, report, _ = invoke_durable({})
    assert status == "SUCCEEDED" and report is not None
    web = by_group(report)["web"]
    assert web["outcome"] == "failed" and web["reason"] == "replacement unhealthy"
    assert web["alert_published"] is True and report["summary"]["failed"] == 1
    alerts = stack.alerts()
    subjects = [a["Subject"] for a in alerts]
    assert subjects[0] == "recycler FAILED: web - replacement unhealthy"
    body = alerts[0]["Message"]
    assert web["victim"]["instance_id"] in body and web["replacement"]["instance_id"] in body
    assert "What to do next" in body and '"outcome": "failed"' in body
    assert any(s.startswith("recycler run ") for s in subjects[1:])
    claim = next(i for i in stack.ledger_items("web") if i["record"] == "claim")
    assert claim["status"] == "failed"


def test_failed_launch_activity_fails_fast_with_its_message(stack: Stack) -> None:
    stack.world.group("web", [5, 4])
    emulator.sabotage("web", "launch-failed")
    _, report, _ = invoke_durable({"poll_seconds": 15, "health_timeout_seconds": 900})
    web = by_group(report)["web"]
    assert web["outcome"] == "failed" and web["reason"] == "launch failed"
    assert web["waited_seconds"] == 0  # the poll right after the terminate, not the 900 s timeout
    assert "InvalidAMIID.NotFound" in stack.alerts()[0]["Message"]


def test_health_timeout(stack: Stack) -> None:
    stack.world.group("web", [5, 4])
    emulator.sabotage("web", "slow", slow_reads=10_000)
    _, report, _ = invoke_durable({"poll_seconds": 30, "health_timeout_seconds": 300})
    web = by_group(report)["web"]
    assert web["outcome"] == "failed" and web["reason"] == "replacement unhealthy after 300 s"
    assert 300 <= web["waited_seconds"] < 330
    assert stack.alerts()[0]["Subject"] == "recycler FAILED: web - replacement unhealthy after 300 s"


def test_slow_replacement_is_waited_for(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("web", [5, 4])
    emulator.sabotage("web", "slow", slow_reads=6)
    _, report, _ = invoke_durable({"poll_seconds": 15})
    web = by_group(report)["web"]
    assert web["outcome"] == "recycled" and web["waited_seconds"] >= 45
    assert len(terminations) == 1


def test_duplicate_event_terminates_exactly_once(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("web", [5, 4, 3])
    _, first, _ = invoke_durable({"source": "schedule"})
    _, second, _ = invoke_durable({"source": "schedule"})
    assert by_group(first)["web"]["outcome"] == "recycled"
    assert by_group(second)["web"]["reason"] == "recently-recycled"
    assert len(terminations) == 1


def test_replays_never_repeat_the_terminate_step(
    stack: Stack, terminations: list[Any], invocations: list[int]
) -> None:
    stack.world.group("web", [5, 4, 3])
    emulator.sabotage("web", "slow", slow_reads=8)  # several suspended polls = several replays
    _, report, _ = invoke_durable({"poll_seconds": 15})
    assert by_group(report)["web"]["outcome"] == "recycled"
    assert len(invocations) > 3, "the wait should have suspended and replayed the workflow"
    assert len(terminations) == 1


def test_stop_after_failures_starts_no_further_group(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, terminations: list[Any]
) -> None:
    monkeypatch.setenv("RECYCLER_MAX_CONCURRENCY", "1")
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", "1")
    stack.world.group("a-broken", [9, 8])
    stack.world.group("b-fine", [5, 4])
    stack.world.group("c-fine", [5, 4])
    stack.prove(stack.world.images[0])  # no canary: the blast-radius rule alone decides
    emulator.sabotage("a-broken", "unhealthy")
    _, report, _ = invoke_durable({})
    groups = by_group(report)
    assert groups["a-broken"]["outcome"] == "failed"
    assert groups["b-fine"]["reason"] == groups["c-fine"]["reason"] == "stopped-after-failures"
    assert len(terminations) == 1
    assert [a["Subject"] for a in stack.alerts()][-1].startswith("recycler run ")


def test_dry_run_terminates_nothing(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("web", [5, 4])
    _, report, _ = invoke_durable({"dry_run": True, "groups": ["web"]})
    assert by_group(report)["web"]["outcome"] == "planned"
    assert terminations == [] and stack.ledger_items("web") == []


def test_surge_mode_never_dips_below_desired(stack: Stack, terminations: list[Any]) -> None:
    ids = stack.world.group("solo", [5], tags={"recycler:mode": "surge"}, max_size=2)
    stack.world.publish_patched_image()
    _, report, _ = invoke_durable({})
    solo = by_group(report)["solo"]
    assert solo["outcome"] == "recycled" and solo["mode"] == "surge"
    assert terminations == [(ids[0], True)]
    group = stack.group_state("solo")
    assert group["DesiredCapacity"] == 1
    assert [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"] == [
        solo["replacement"]["instance_id"]
    ]


def test_bad_payload_fails_the_execution_naming_the_field(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("web", [5, 4])
    status, _, error = invoke_durable({"dry_run": "yes", "grups": ["web"]})
    assert status == "FAILED"
    assert "dry_run" in error and "grups" in error
    assert terminations == []


def test_lambda_fails_loudly_with_the_same_one_line_cause(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, terminations: list[Any]
) -> None:
    from botocore.exceptions import ClientError

    from recycler import handler
    from recycler.aws.fleet import Fleet

    logged: list[str] = []
    original_error = handler.logger.error

    def error(message: object, *args: Any, **kwargs: Any) -> None:
        logged.append(str(message))
        original_error(message, *args, **kwargs)

    monkeypatch.setattr(handler.logger, "error", error)

    stack.world.group("web", [5, 4])

    def denied(self: Fleet, opt_in_tag: str, names: Any = None) -> Any:
        raise ClientError(
            {
                "Error": {
                    "Code": "AccessDenied",
                    "Message": "User: arn:aws:sts::123456789012:assumed-role/recycler is not authorized to "
                    "perform: autoscaling:DescribeAutoScalingGroups",
                }
            },
            "DescribeAutoScalingGroups",
        )

    monkeypatch.setattr(Fleet, "list_groups", denied)
    status, _, _ = invoke_durable({})
    assert status == "FAILED" and terminations == []
    assert (
        "run failed: not authorized: the caller needs autoscaling:DescribeAutoScalingGroups; "
        "see docs/iam.md, IAM for operators"
    ) in logged


def recycle_with_grace(stack: Stack, boot_reads: int, timeout: int) -> tuple[GroupReport, list[float]]:
    """One recycle of a group with a 300 s grace period, polled every 30 s: its report and every
    pause the health wait asked for (no bake: this measures the health wait alone)."""
    from recycler.local.port import LocalPort
    from tests.faults.harness import services

    stack.world.group("web", [5, 4], grace_seconds=300)
    emulator.sabotage("web", "slow", slow_reads=boot_reads)
    pauses: list[float] = []
    report = run(
        LocalPort(sleep=pauses.append),
        services(stack),
        Settings(bake_minutes=0),
        ManualPayload(poll_seconds=30, health_timeout_seconds=timeout),
    )
    return report.groups[0], pauses


def test_the_first_health_poll_after_the_act_waits_out_the_grace_period(stack: Stack) -> None:
    # Before the grace period ends Auto Scaling ignores failed health checks: polling then costs an
    # invocation each and cannot give a final verdict.
    web, pauses = recycle_with_grace(stack, boot_reads=3, timeout=1200)  # InService at the fourth poll
    assert web.outcome == "recycled"
    assert pauses == [300, 30, 30]
    assert web.waited_seconds == 360


def test_the_grace_pause_never_runs_past_the_health_timeout(stack: Stack) -> None:
    web, pauses = recycle_with_grace(stack, boot_reads=10_000, timeout=120)
    assert (web.outcome, web.reason) == ("failed", "replacement unhealthy after 120 s")
    assert pauses == [120] and web.waited_seconds == 120
