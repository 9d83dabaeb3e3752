"""Fault matrix F54-F59: groups a CodeDeploy deployment group deploys to (docs/codedeploy.md).

Each test stages CodeDeploy on the emulator (recycler/local/emulator/codedeploy.py: the launch hook
CodeDeploy installs, the automatic deployment to each new instance, deployment states) and observes what
AWS would hold afterwards: the instances in the group, the ledger's records, the launch template's
default version, the alerts on the SNS topic.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest

from recycler.aws.ledger_images import IMAGE_KEY
from recycler.local import emulator
from tests.conftest import NOW, Stack, invoke_durable
from tests.faults.harness import FaultPort, recycle

AGENT_LOG = "/opt/codedeploy-agent/deployment-root/deployment-logs/codedeploy-agent-deployments.log"


def deployment_group(stack: Stack, group: str, *, termination_hook: bool = False, **options: Any) -> Any:
    """Application `shop` with deployment group `<group>-dg` on the Auto Scaling group; `options` are more
    CreateDeploymentGroup parameters (a blue/green deployment style)."""
    codedeploy = stack.world.session.client("codedeploy")
    codedeploy.create_application(applicationName="shop", computePlatform="Server")
    codedeploy.create_deployment_group(
        applicationName="shop",
        deploymentGroupName=f"{group}-dg",
        autoScalingGroups=[group],
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        terminationHookEnabled=termination_hook,
        **options,
    )
    return codedeploy


def instances(stack: Stack, group: str) -> set[str]:
    return {i["InstanceId"] for i in stack.group_state(group)["Instances"]}


def outcome(report: dict[str, Any] | None, group: str) -> dict[str, Any]:
    assert report is not None
    return next(g for g in report["groups"] if g["group"] == group)


def test_f54_a_group_with_a_deployment_in_progress_is_never_terminated(
    stack: Stack, terminations: list[Any]
) -> None:
    ids = stack.world.group("web", [9, 5])
    codedeploy = deployment_group(stack, "web")
    deployment = codedeploy.create_deployment(
        applicationName="shop",
        deploymentGroupName="web-dg",
        revision={"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k", "bundleType": "zip"}},
    )["deploymentId"]
    status, report, error = invoke_durable({"poll_seconds": 15})
    assert status == "SUCCEEDED", error
    web = outcome(report, "web")
    assert (web["outcome"], web["reason"]) == ("skipped", "deployment-in-progress")
    assert deployment in web["detail"]
    assert terminations == [] and instances(stack, "web") == set(ids)


def test_f55_a_failed_revision_neither_condemns_nor_reverts_the_image(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECYCLER_REVERT_ON_CANARY_FAILURE", "true")
    monkeypatch.setenv("RECYCLER_BAKE_MINUTES", "0")
    ids = stack.world.group("web", [9, 5])
    stack.world.publish_patched_image()  # an unproven image: the recycle is its canary
    ec2 = stack.world.ec2
    template = stack.world.templates["lt"]
    default_before = ec2.describe_launch_templates(LaunchTemplateIds=[template])["LaunchTemplates"][0]
    deployment_group(stack, "web")
    emulator.revision_outcome("web-dg", "fails")

    status, report, error = invoke_durable({"poll_seconds": 15})
    assert status == "SUCCEEDED", error
    web = outcome(report, "web")
    assert (web["outcome"], web["reason"]) == ("failed", "revision-failed")

    # AWS's side: CodeDeploy's automatic deployment to the replacement failed; the image is not condemned
    # in the ledger and the launch template still launches it.
    failed = [
        d
        for d in emulator.codedeploy_backend().deployments.values()
        if d.creator == "autoscaling" and d.status == "Failed"
    ]
    assert failed
    assert all(i.get("record") != "condemned" for i in stack.ledger_items(IMAGE_KEY + stack.world.images[1]))
    after = ec2.describe_launch_templates(LaunchTemplateIds=[template])["LaunchTemplates"][0]
    assert after["DefaultVersionNumber"] == default_before["DefaultVersionNumber"]
    assert ids[0] not in instances(stack, "web")  # the victim was recycled as planned
    alert = next(a for a in stack.alerts() if "revision-failed" in a["Subject"] + a["Message"])
    assert any(d.deployment_id in alert["Message"] for d in failed) and AGENT_LOG in alert["Message"]
    # Neither alert calls it the image's failure (no CANARY FAILED, no "put the launch path back").
    assert not any("CANARY FAILED" in a["Message"] or "broken AMI" in a["Message"] for a in stack.alerts())


def test_f56_a_launch_terminate_loop_is_stopped_and_alerted(stack: Stack) -> None:
    stack.world.group("web", [9, 5])
    deployment_group(stack, "web")
    emulator.revision_outcome("web-dg", "hangs")  # never ends: the hook's timeout abandons each instance
    ticks = itertools.count()  # each read of the hook's clock: two minutes later
    emulator.hook_clock("web", lambda: NOW + timedelta(seconds=120 * next(ticks)))
    status, report, error = invoke_durable({"poll_seconds": 15, "health_timeout_seconds": 3600})
    assert status == "SUCCEEDED", error
    web = outcome(report, "web")
    assert (web["outcome"], web["reason"]) == ("failed", "launch-loop")
    launches = [
        a
        for a in stack.world.autoscaling.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
        if a["Description"].startswith("Launching")
    ]
    assert len(launches) >= 2
    assert any("launch-loop" in a["Subject"] + a["Message"] for a in stack.alerts())


def test_f57_processes_a_deployment_left_suspended_skip_the_group_loudly(
    stack: Stack, terminations: list[Any]
) -> None:
    ids = stack.world.group("web", [9, 5])
    deployment_group(stack, "web")
    stack.world.autoscaling.suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["AZRebalance"])
    status, report, error = invoke_durable({"poll_seconds": 15})
    assert status == "SUCCEEDED", error
    web = outcome(report, "web")
    assert (web["outcome"], web["reason"]) == ("skipped", "processes-left-suspended")
    assert terminations == [] and instances(stack, "web") == set(ids)
    [alert] = stack.alerts()
    assert "processes-left-suspended" in alert["Message"] and "resume-processes" in alert["Message"]
    assert (
        json.loads(alert["Message"].split("JSON:", 1)[1])["groups"][0]["reason"] == "processes-left-suspended"
    )


def test_a_replacement_auto_scaling_marks_unhealthy_is_still_a_verdict_on_the_image(stack: Stack) -> None:
    """No failed deployment, one launch: CodeDeploy says nothing, the health check judges as for any group."""
    stack.world.group("web", [9, 5])
    stack.world.publish_patched_image()
    deployment_group(stack, "web")  # its automatic deployments succeed
    emulator.sabotage("web", "unhealthy")
    status, report, error = invoke_durable({"poll_seconds": 15})
    assert status == "SUCCEEDED", error
    web = outcome(report, "web")
    assert (web["outcome"], web["reason"]) == ("failed", "replacement unhealthy")
    assert any(i.get("record") == "condemned" for i in stack.ledger_items(IMAGE_KEY + stack.world.images[1]))


def test_f58_a_termination_deployment_is_waited_for_before_the_victim_counts_as_gone(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECYCLER_BAKE_MINUTES", "0")  # a bake's polls would outlast the deployment anyway
    ids = stack.world.group("web", [9, 5])
    deployment_group(stack, "web", termination_hook=True)
    status, report, error = invoke_durable({"poll_seconds": 15})
    assert status == "SUCCEEDED", error
    assert (outcome(report, "web")["outcome"], outcome(report, "web")["reason"]) == (
        "recycled",
        "oldest-instance",
    )
    # AWS's side when the run reported, read from the emulator's backends without a read that advances it:
    # the termination deployment has ended and the victim has left the group.
    from moto.autoscaling.models import autoscaling_backends

    group = autoscaling_backends[emulator.DEFAULT_ACCOUNT]["us-east-1"].autoscaling_groups["web"]
    assert ids[0] not in {s.instance.id for s in group.instance_states}
    [termination] = [
        d for d in emulator.codedeploy_backend().deployments.values() if d.creator == "autoscalingTermination"
    ]
    assert termination.status == "Succeeded"


def test_f59_a_deployment_started_after_the_plan_stops_the_terminate(
    stack: Stack, terminations: list[Any]
) -> None:
    ids = stack.world.group("web", [9, 5])
    codedeploy = deployment_group(stack, "web")
    started: list[str] = []

    def deploy() -> None:  # a pipeline deploys between the plan and the recycle
        revision = {"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k", "bundleType": "zip"}}
        started.append(
            codedeploy.create_deployment(
                applicationName="shop", deploymentGroupName="web-dg", revision=revision
            )["deploymentId"]
        )

    report = recycle(stack, FaultPort(after={"plan": deploy}))
    web = next(g for g in report.groups if g.group == "web")
    assert (web.outcome, web.reason) == ("skipped", "deployment-in-progress") and started[0] in web.detail
    assert terminations == [] and instances(stack, "web") == set(ids)
