"""Fault matrix F60: CodeDeploy blue/green deployment groups that copy an Auto Scaling group
(docs/codedeploy.md#bluegreen-deployment-groups).

The emulator (recycler/local/emulator/codedeploy_blue_green.py) does what AWS does for such a deployment:
it creates the copy `CodeDeploy_<deployment group>_<deployment id>` with the original's settings and not
its tags (AWS documents the settings, not the tags), and once the deployment has ended the deployment
group names the copy. The tests observe the instances each group holds afterwards.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from recycler.local import emulator
from tests.conftest import NOW, REGION, Stack, invoke_durable
from tests.faults.test_codedeploy import deployment_group, instances, outcome

REVISION = {"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k", "bundleType": "zip"}}


def blue_green_deployment_group(stack: Stack, group: str) -> Any:
    return deployment_group(
        stack,
        group,
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        blueGreenDeploymentConfiguration={
            "greenFleetProvisioningOption": {"action": "COPY_AUTO_SCALING_GROUP"},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE"},
        },
    )


def opt_in_copy(stack: Stack, copy: str) -> list[str]:
    """The copy carries the opt-in tag (an operator tagged it, or AWS copied the original's tags) and
    instances old enough to be recycled."""
    stack.world.autoscaling.create_or_update_tags(
        Tags=emulator.group_tags(copy, {"recycler:enabled": "true"})
    )
    ids = sorted(instances(stack, copy))
    for n, instance_id in enumerate(ids):
        emulator.backdate([instance_id], NOW - timedelta(days=9 - n), REGION)
    return ids


def test_the_emulator_copies_the_group_without_its_tags_and_repoints_the_deployment_group(
    stack: Stack,
) -> None:
    stack.world.group("web", [9, 5])
    codedeploy = blue_green_deployment_group(stack, "web")
    deployment = codedeploy.create_deployment(
        applicationName="shop", deploymentGroupName="web-dg", revision=REVISION
    )["deploymentId"]
    assert deployment.startswith("d-") and len(deployment) == 11
    copy = f"CodeDeploy_web-dg_{deployment}"
    state = stack.group_state(copy)
    original = stack.group_state("web")
    assert state["DesiredCapacity"] == original["DesiredCapacity"] and len(state["Instances"]) == 2
    assert state["LaunchTemplate"]["LaunchTemplateId"] == original["LaunchTemplate"]["LaunchTemplateId"]
    assert not [t for t in state.get("Tags", []) if t["Key"].startswith("recycler:")]
    info = codedeploy.get_deployment_group(applicationName="shop", deploymentGroupName="web-dg")
    assert info["deploymentGroupInfo"]["autoScalingGroups"][0]["name"] == "web"  # until it ends

    assert emulator.finish_blue_green(deployment) == copy
    info = codedeploy.get_deployment_group(applicationName="shop", deploymentGroupName="web-dg")
    assert [g["name"] for g in info["deploymentGroupInfo"]["autoScalingGroups"]] == [copy]
    assert codedeploy.get_deployment(deploymentId=deployment)["deploymentInfo"]["status"] == "Succeeded"


def test_f60_neither_side_of_a_blue_green_deployment_is_recycled_while_it_runs(
    stack: Stack, terminations: list[Any]
) -> None:
    blue = stack.world.group("web", [9, 5])
    codedeploy = blue_green_deployment_group(stack, "web")
    deployment = codedeploy.create_deployment(
        applicationName="shop", deploymentGroupName="web-dg", revision=REVISION
    )["deploymentId"]
    copy = f"CodeDeploy_web-dg_{deployment}"
    green = opt_in_copy(stack, copy)

    status, report, error = invoke_durable({"poll_seconds": 15})
    assert status == "SUCCEEDED", error
    for group in ("web", copy):
        skipped = outcome(report, group)
        assert (skipped["outcome"], skipped["reason"]) == ("skipped", "deployment-in-progress"), skipped
        assert deployment in skipped["detail"]
    assert "blue/green copy" in outcome(report, copy)["detail"]
    # AWS's side: no instance of either group was terminated while the deployment ran.
    assert terminations == []
    assert instances(stack, "web") == set(blue) and instances(stack, copy) == set(green)


def test_an_untagged_copy_is_never_opted_in(stack: Stack, terminations: list[Any]) -> None:
    """AWS does not document that the copy carries the original's tags: recycler opts in no group by
    its name alone, even once its deployment group names it."""
    stack.world.group("web", [9, 5])
    codedeploy = blue_green_deployment_group(stack, "web")
    deployment = codedeploy.create_deployment(
        applicationName="shop", deploymentGroupName="web-dg", revision=REVISION
    )["deploymentId"]
    copy = emulator.finish_blue_green(deployment)
    green = sorted(instances(stack, copy))
    for instance_id in green:
        emulator.backdate([instance_id], NOW - timedelta(days=9), REGION)

    # The original's replacement waits out CodeDeploy's launch hook (hours, simulated): hourly polls keep
    # that wait short in replays; the copy is what this test watches.
    status, report, error = invoke_durable({"poll_seconds": 3600})
    assert status == "SUCCEEDED", error
    assert report is not None and copy not in {g["group"] for g in report["groups"]}
    assert instances(stack, copy) == set(green)
    assert not [t for t in terminations if t[0] in green]


def test_a_tagged_copy_is_recycled_once_its_deployment_has_ended(stack: Stack) -> None:
    stack.world.group("web", [9, 5], enabled=None)  # the original is not recycled: only the copy is
    codedeploy = blue_green_deployment_group(stack, "web")
    deployment = codedeploy.create_deployment(
        applicationName="shop", deploymentGroupName="web-dg", revision=REVISION
    )["deploymentId"]
    copy = emulator.finish_blue_green(deployment)
    green = opt_in_copy(stack, copy)

    status, report, error = invoke_durable({"poll_seconds": 15})
    assert status == "SUCCEEDED", error
    recycled = outcome(report, copy)
    assert (recycled["outcome"], recycled["reason"]) == ("recycled", "oldest-instance"), recycled
    assert green[0] not in instances(stack, copy)
