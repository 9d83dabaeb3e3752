"""CodeDeploy blue/green deployments that copy an Auto Scaling group, which moto 5.2 records but never acts
on: its CreateDeployment creates no group and leaves the deployment `Created` for ever.

Taught here as AWS documents it, and where AWS does not, as it is observed, conservatively:
- with blueGreenDeploymentConfiguration.greenFleetProvisioningOption.action = COPY_AUTO_SCALING_GROUP,
  "CodeDeploy creates an Amazon EC2 Auto Scaling group by copying one you specify" (CodeDeploy User
  Guide, https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-groups-create-blue-green.html;
  "Use settings from a specified Auto Scaling group to define and create instances in a new Auto Scaling
  group", https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_GreenFleetProvisioningOption.html).
  The deployment group names exactly one group for this option (the API's
  InvalidBlueGreenDeploymentConfigurationException, hashicorp/terraform-provider-aws#2233);
- the copy is named `CodeDeploy_<deployment group>_<deployment id>` and, once the deployment has ended,
  the deployment group's autoScalingGroups names the copy (not in AWS's guide; observed by its users,
  hashicorp/terraform-provider-aws#4678: "after deployment aws changing asg group name to
  CodeDeploy_web_d_...");
- AWS documents that the group's settings are copied, and says nothing of its tags: the emulator copies
  the settings (launch template, sizes, subnets, target groups, health check) and NOT the tags, the case
  that must not surprise recycler (an untagged copy is not opted in).
A deployment id here has AWS's shape, `d-` and nine capitals or digits (moto's are UUIDs).
finish_blue_green() ends a deployment as CodeDeploy does when it succeeds: Succeeded, the deployment group
pointed at the copy (whose hooks CodeDeploy installs as for any group it names). The original group is
left as with blueInstanceTerminationOption KEEP_ALIVE; TERMINATE's end of it is not emulated.
"""

from __future__ import annotations

import random
import string
from typing import Any

from recycler.local.emulator.codedeploy import install_hooks
from recycler.local.emulator.state import DEFAULT_ACCOUNT

COPY_ACTION = "COPY_AUTO_SCALING_GROUP"
_ID_ALPHABET = string.ascii_uppercase + string.digits


def copied_group_name(deployment_group: str, deployment_id: str) -> str:
    return f"CodeDeploy_{deployment_group}_{deployment_id}"


def copies_a_group(info: Any) -> bool:
    style = info.deployment_style or {}
    provisioning = (info.blue_green_deployment_configuration or {}).get("greenFleetProvisioningOption", {})
    return style.get("deploymentType") == "BLUE_GREEN" and provisioning.get("action") == COPY_ACTION


def blue_green_like_aws() -> None:
    from moto.autoscaling.models import autoscaling_backends
    from moto.codedeploy import responses
    from moto.core.responses import ActionResult

    original_create = responses.CodeDeployResponse.create_deployment

    def create_deployment(self: Any) -> Any:
        answer = original_create(self)
        backend = self.codedeploy_backend
        info = backend.deployment_groups[self._get_param("applicationName")][
            self._get_param("deploymentGroupName")
        ]
        if not copies_a_group(info) or len(info.auto_scaling_groups) != 1:
            return answer
        created: Any = answer.result
        deployment = backend.deployments.pop(created["deploymentId"])
        deployment.deployment_id = "d-" + "".join(random.choices(_ID_ALPHABET, k=9))
        deployment.status = "InProgress"
        backend.deployments[deployment.deployment_id] = deployment
        autoscaling = autoscaling_backends[self.current_account][self.region]
        copy_group(
            autoscaling,
            info.auto_scaling_groups[0],
            copied_group_name(info.deployment_group_name, deployment.deployment_id),
        )
        return ActionResult({"deploymentId": deployment.deployment_id})

    responses.CodeDeployResponse.create_deployment = create_deployment  # type: ignore[method-assign]


def copy_group(autoscaling: Any, source_name: str, name: str) -> None:
    """A new group with the source's settings (not its tags, see above); it launches its own instances."""
    source = autoscaling.autoscaling_groups[source_name]
    template = (
        {
            "LaunchTemplateId": source.ec2_launch_template.id,
            "Version": source.provided_launch_template_version,
        }
        if source.ec2_launch_template is not None and not source.mixed_instances_policy
        else {}
    )
    autoscaling.create_auto_scaling_group(
        name=name,
        availability_zones=[] if source.vpc_zone_identifier else list(source.availability_zones),
        desired_capacity=source.desired_capacity,
        max_size=source.max_size,
        min_size=source.min_size,
        launch_config_name=getattr(source, "launch_configuration_name", None) if not template else None,
        launch_template=template,
        vpc_zone_identifier=source.vpc_zone_identifier,
        default_cooldown=source.default_cooldown,
        health_check_period=source.health_check_grace_period,
        health_check_type=source.health_check_type,
        load_balancers=list(source.load_balancer_names),
        target_group_arns=list(source.target_group_arns),
        placement_group=source.placement_group,
        termination_policies=list(source.termination_policies),
        tags=[],
        mixed_instances_policy=source.mixed_instances_policy,
    )


def finish_blue_green(deployment_id: str, region: str = "us-east-1", account: str = DEFAULT_ACCOUNT) -> str:
    """End a blue/green deployment as a successful one ends: Succeeded, and its deployment group names the
    copied group from now on. Returns the copy's name."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.codedeploy.models import codedeploy_backends
    from moto.core.utils import utcnow

    deployment = codedeploy_backends[account][region].deployments[deployment_id]
    info = deployment.deployment_group
    deployment.status, deployment.complete_time = "Succeeded", utcnow()
    copy = copied_group_name(info.deployment_group_name, deployment_id)
    info.auto_scaling_groups = [copy]
    install_hooks(autoscaling_backends[account][region], info)
    return copy
