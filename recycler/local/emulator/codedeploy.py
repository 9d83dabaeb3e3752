"""CodeDeploy deployment groups on Auto Scaling groups, which moto 5.2 keeps apart from Auto Scaling:
its CreateDeploymentGroup installs no hook, it lacks BatchGetDeploymentGroups, answers autoScalingGroups
as bare names (AWS: {name, hook, terminationHook},
https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AutoScalingGroup.html), never answers
errorInformation, and no instance launch ever makes a deployment.

Taught here as AWS documents it (CodeDeploy User Guide, "Integrating CodeDeploy with Amazon EC2 Auto
Scaling", https://docs.aws.amazon.com/codedeploy/latest/userguide/integrations-aws-auto-scaling.html):
- creating a deployment group that names an Auto Scaling group installs CodeDeploy's launch hook in it
  (`CodeDeploy-managed-automatic-launch-deployment-hook-<deployment group>-<id>`), and with
  terminationHookEnabled a termination hook too;
- a new instance waits in Pending:Wait on that hook while CodeDeploy deploys the last successful revision
  to it in a deployment created by `autoscaling`; when the deployment succeeds CodeDeploy completes the
  hook with CONTINUE; when it fails, with ABANDON: Auto Scaling terminates the instance and launches
  another, which gets a deployment of its own (the loop the docs warn about); a deployment that never
  ends leaves the hook to its heartbeat timeout and default result (launch_hooks.py);
- with terminationHookEnabled, a terminated instance waits in Terminating:Wait while CodeDeploy runs a
  termination deployment (creator `autoscalingTermination`) on it, then leaves.
revision_outcome() stages how a deployment group's automatic deployments end. A deployment's progress is
one DescribeAutoScalingGroups read of its group: created on one read, ended on the next.
"""

from __future__ import annotations

from typing import Any

from recycler.local.emulator.launch_hooks import LAUNCH_TRANSITION, complete_launch_hook
from recycler.local.emulator.state import DEFAULT_ACCOUNT, current_state
from recycler.local.emulator.terminating import hold_terminated

LAUNCH_HOOK_PREFIX = "CodeDeploy-managed-automatic-launch-deployment-hook"
TERMINATION_HOOK_PREFIX = "CodeDeploy-managed-automatic-termination-deployment-hook"
TERMINATING_TRANSITION = "autoscaling:EC2_INSTANCE_TERMINATING"
# The emulator's assumption for CodeDeploy's own hook (AWS does not document its timeout): ten minutes,
# then ABANDON, so a deployment that never ends does not hold an instance forever.
HOOK_HEARTBEAT_SECONDS = 600
OUTCOMES = ("succeeds", "fails", "hangs")
# How many DescribeAutoScalingGroups reads of its group a termination deployment takes (the victim waits
# in Terminating:Wait meanwhile).
TERMINATION_READS = 8
# What AWS answers for a deployment whose instance failed a lifecycle event script (ErrorInformation,
# https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ErrorInformation.html).
FAILED_ON_INSTANCE = {
    "code": "HEALTH_CONSTRAINTS",
    "message": "The overall deployment failed because too many individual instances failed deployment, "
    "too few healthy instances are available for deployment, or some instances in your deployment group "
    "are experiencing problems.",
}


def revision_outcome(deployment_group: str, how: str) -> None:
    """How the deployment group's next automatic deployments end: succeeds (the default), fails (a
    lifecycle event script fails on the instance: Failed, HEALTH_CONSTRAINTS, hook ABANDON) or hangs
    (stays InProgress: the hook's timeout abandons the instance)."""
    if how not in OUTCOMES:
        raise ValueError(f"revision_outcome how={how!r}; use one of {', '.join(OUTCOMES)}")
    current_state().codedeploy_outcomes[deployment_group] = how


def _backend(account: str, region: str) -> Any:
    from moto.codedeploy.models import codedeploy_backends

    return codedeploy_backends[account][region]


def _hooks_of(group: Any) -> str:
    return f"{group.deployment_group_name}-{group.deployment_group_id[:8]}"


def _targets(info: Any) -> list[dict[str, str]]:
    suffix = _hooks_of(info)
    return [
        {
            "name": name,
            "hook": f"{LAUNCH_HOOK_PREFIX}-{suffix}",
            **(
                {"terminationHook": f"{TERMINATION_HOOK_PREFIX}-{suffix}"}
                if info.termination_hook_enabled
                else {}
            ),
        }
        for name in info.auto_scaling_groups
    ]


def codedeploy_like_aws() -> None:
    from moto.autoscaling.models import autoscaling_backends
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.codedeploy import responses
    from moto.core.responses import ActionResult

    original_info = responses._deployment_group_info
    original_deployment = responses._deployment_info

    def deployment_group_info(info: Any) -> dict[str, Any]:
        return {**original_info(info), "autoScalingGroups": _targets(info)}

    def deployment_info(deployment: Any) -> dict[str, Any]:
        error = current_state().codedeploy_errors.get(deployment.deployment_id)
        return {**original_deployment(deployment), "errorInformation": dict(error or {})}

    def batch_get_deployment_groups(self: Any) -> Any:
        application = self._get_param("applicationName")
        names = self._get_param("deploymentGroupNames") or []
        groups = self.codedeploy_backend.deployment_groups.get(application, {})
        found = [deployment_group_info(groups[n]) for n in names if n in groups]
        missing = [n for n in names if n not in groups]
        return ActionResult(
            {
                "deploymentGroupsInfo": found,
                "errorMessage": f"not found: {', '.join(missing)}" if missing else "",
            }
        )

    original_create = responses.CodeDeployResponse.create_deployment_group

    def create_deployment_group(self: Any) -> Any:
        answer = original_create(self)
        application = self._get_param("applicationName")
        info = self.codedeploy_backend.deployment_groups[application][self._get_param("deploymentGroupName")]
        install_hooks(autoscaling_backends[self.current_account][self.region], info)
        return answer

    responses._deployment_group_info = deployment_group_info  # type: ignore[assignment]
    responses._deployment_info = deployment_info
    responses.CodeDeployResponse.batch_get_deployment_groups = batch_get_deployment_groups  # type: ignore[attr-defined]
    responses.CodeDeployResponse.create_deployment_group = create_deployment_group  # type: ignore[method-assign]

    original_describe = AutoScalingResponse.describe_auto_scaling_groups

    def describe(self: Any) -> Any:
        asked = set(self._get_param("AutoScalingGroupNames", []))
        backend = self.autoscaling_backend
        for group in list(backend.autoscaling_groups.values()):
            if not asked or group.name in asked:
                deploy_to_new_instances(group, _backend(self.current_account, self.region))
                end_termination_deployments(group, _backend(self.current_account, self.region))
        return original_describe(self)

    AutoScalingResponse.describe_auto_scaling_groups = describe  # type: ignore[method-assign]

    original_terminate = AutoScalingResponse.terminate_instance_in_auto_scaling_group

    def terminate(self: Any) -> Any:
        instance_id = self._get_param("InstanceId")
        groups = self.autoscaling_backend.autoscaling_groups.values()
        found = [(g, s) for g in groups for s in g.instance_states if s.instance.id == instance_id]
        answer = original_terminate(self)
        if found and instance_id not in current_state().held_terminating:
            group, victim = found[0]
            codedeploy = _backend(self.current_account, self.region)
            target = next(
                (
                    info
                    for apps in codedeploy.deployment_groups.values()
                    for info in apps.values()
                    if info.termination_hook_enabled and group.name in info.auto_scaling_groups
                ),
                None,
            )
            if target is not None:
                hold_terminated(group, victim, "Terminating:Wait", TERMINATION_READS)
                deployment = _automatic(codedeploy, target, group.name, "autoscalingTermination")
                current_state().codedeploy_deployments[f"terminating:{instance_id}"] = (
                    deployment.deployment_id
                )
        return answer

    AutoScalingResponse.terminate_instance_in_auto_scaling_group = terminate  # type: ignore[method-assign]


def install_hooks(autoscaling: Any, info: Any) -> None:
    """The hooks CodeDeploy installs in each Auto Scaling group a deployment group names."""
    for target in _targets(info):
        autoscaling.create_lifecycle_hook(
            target["hook"], target["name"], LAUNCH_TRANSITION, HOOK_HEARTBEAT_SECONDS, "ABANDON"
        )
        if "terminationHook" in target:
            autoscaling.create_lifecycle_hook(
                target["terminationHook"],
                target["name"],
                TERMINATING_TRANSITION,
                HOOK_HEARTBEAT_SECONDS,
                "CONTINUE",
            )


def _automatic(codedeploy: Any, target: Any, group_name: str, creator: str) -> Any:
    """A deployment CodeDeploy starts itself (for a new or a terminating instance), InProgress."""
    from moto.codedeploy.models import DeploymentInfo
    from moto.core.utils import utcnow

    deployment = DeploymentInfo(
        target.application, target, {}, target.deployment_config_name, None, None,
        {"autoScalingGroups": [group_name]}, None, None, None, None, creator,
    )  # fmt: skip
    deployment.status, deployment.start_time = "InProgress", utcnow()
    codedeploy.deployments[deployment.deployment_id] = deployment
    return deployment


def end_termination_deployments(group: Any, codedeploy: Any) -> None:
    """A held victim leaves on this read (terminating.py): its termination deployment has succeeded."""
    from moto.core.utils import utcnow

    emulated = current_state()
    for state in group.instance_states:
        key = f"terminating:{state.instance.id}"
        if key in emulated.codedeploy_deployments and emulated.held_terminating.get(state.instance.id) == 0:
            deployment = codedeploy.deployments[emulated.codedeploy_deployments.pop(key)]
            deployment.status, deployment.complete_time = "Succeeded", utcnow()


def deploy_to_new_instances(group: Any, codedeploy: Any) -> None:
    """Each instance held by CodeDeploy's launch hook gets an automatic deployment; on the next read the
    deployment ends as staged and CodeDeploy completes the hook (CONTINUE or ABANDON)."""
    from moto.core.utils import utcnow

    emulated = current_state()
    for state in list(group.instance_states):
        held = emulated.in_launch_hook.get(state.instance.id)
        if (
            held is None
            or state.lifecycle_state != "Pending:Wait"
            or not held[0].startswith(LAUNCH_HOOK_PREFIX)
        ):
            continue
        target = _deployment_group_of(codedeploy, group.name, held[0])
        if target is None:
            continue
        deployment_id = emulated.codedeploy_deployments.get(state.instance.id)
        if deployment_id is None:
            deployment = _automatic(codedeploy, target, group.name, "autoscaling")
            emulated.codedeploy_deployments[state.instance.id] = deployment.deployment_id
            continue
        deployment = codedeploy.deployments[deployment_id]
        how = emulated.codedeploy_outcomes.get(target.deployment_group_name, "succeeds")
        if deployment.status != "InProgress" or how == "hangs":
            continue
        deployment.complete_time = utcnow()
        if how == "succeeds":
            deployment.status = "Succeeded"
            complete_launch_hook(group, state, "CONTINUE", "CodeDeploy's deployment succeeded")
        else:
            deployment.status = "Failed"
            emulated.codedeploy_errors[deployment_id] = FAILED_ON_INSTANCE
            complete_launch_hook(group, state, "ABANDON", f"CodeDeploy's deployment {deployment_id} failed")


def _deployment_group_of(codedeploy: Any, group_name: str, hook: str) -> Any:
    for groups in codedeploy.deployment_groups.values():
        for info in groups.values():
            if group_name in info.auto_scaling_groups and hook.endswith(_hooks_of(info)):
                return info
    return None


def codedeploy_backend(region: str = "us-east-1", account: str = DEFAULT_ACCOUNT) -> Any:
    """The in-process emulator's CodeDeploy (a test reads deployments from it directly)."""
    return _backend(account, region)
