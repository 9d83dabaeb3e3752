"""CodeDeploy deployment groups on Auto Scaling groups: when not to terminate, and how to read the
replacement's own deployment. Pure decisions on what recycler/aws/codedeploy.py read.

What AWS documents (CodeDeploy User Guide, "Integrating CodeDeploy with Amazon EC2 Auto Scaling",
https://docs.aws.amazon.com/codedeploy/latest/userguide/integrations-aws-auto-scaling.html, and its
troubleshooting page https://docs.aws.amazon.com/codedeploy/latest/userguide/troubleshooting-auto-scaling.html):
- a new instance in the group waits in Pending:Wait on CodeDeploy's launch hook while CodeDeploy deploys
  the last successful revision to it (a deployment created by `autoscaling`); if that deployment fails,
  the hook is abandoned, Auto Scaling terminates the instance and launches another, which can loop:
  instances "continuously provisioned and terminated before a revision can be deployed";
- terminating an instance while a deployment to it is in progress fails that deployment;
- with terminationHookEnabled, a terminating instance waits in Terminating:Wait while CodeDeploy runs a
  termination deployment (creator `autoscalingTermination`) on it;
- CodeDeploy may suspend Terminate, AZRebalance, InstanceRefresh and ScheduledActions during a deployment;
  when it cannot resume them "the processes stay suspended" until someone resumes them
  (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_EC2DeploymentOptions.html).
- a blue/green deployment group with greenFleetProvisioningOption COPY_AUTO_SCALING_GROUP: each deployment
  "creates an Amazon EC2 Auto Scaling group by copying one you specify"
  (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-groups-create-blue-green.html),
  named CodeDeploy_<deployment group>_<deployment id>, which the deployment group names once the
  deployment has ended (observed, hashicorp/terraform-provider-aws#4678; AWS's guide does not say). While
  it runs the deployment group still names the original (blue) group, so the copy (green) is matched by
  its name: neither side is terminated while the deployment is under way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from recycler.codedeploy import CodeDeployGroup, Deployment
from recycler.domain import Decision, GroupSnapshot, Reason
from recycler.messages_replacement import AGENT_LOG

# The processes CodeDeploy may suspend for a deployment (EC2DeploymentOptions, link above).
CODEDEPLOY_SUSPENDS = frozenset({"Terminate", "AZRebalance", "InstanceRefresh", "ScheduledActions"})
# Who created a deployment (DeploymentInfo.creator): Auto Scaling's for a new instance, and for a
# terminating one when the deployment group has terminationHookEnabled.
AUTOMATIC = "autoscaling"
TERMINATION = "autoscalingTermination"
ENDED_BADLY = frozenset({"Failed", "Stopped"})
# A deployment in one of these has not ended (DeploymentStatus,
# https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html).
UNDER_WAY = ("Created", "Queued", "InProgress", "Baking", "Ready")
LAUNCH_HOOK_PREFIX = "CodeDeploy-managed-automatic-launch-deployment-hook"


# CodeDeploy_<deployment group>_<deployment id>; a deployment id is `d-` and nine capitals or digits
# (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html), matched loosely.
BLUE_GREEN_COPY = re.compile(r"^CodeDeploy_(?P<deployment_group>.+)_d-[A-Za-z0-9]+$")


def is_codedeploy_hook(hook_name: str) -> bool:
    return hook_name.startswith(LAUNCH_HOOK_PREFIX)


def blue_green_source(group_name: str) -> str | None:
    """The deployment group whose blue/green deployment created this Auto Scaling group, by its name
    (CodeDeploy_<deployment group>_<deployment id>); None for any other name."""
    match = BLUE_GREEN_COPY.match(group_name)
    return match.group("deployment_group") if match else None


def guard(decision: Decision, snapshot: GroupSnapshot, targets: Sequence[CodeDeployGroup]) -> Decision:
    """A group CodeDeploy deploys to is not touched while a deployment to it is under way (a terminate
    would fail it), nor while processes a deployment suspended stay suspended with none under way (a
    deployment failed to resume them: an operator must look). Other groups and other skips pass."""
    if not targets or not (decision.recycle or decision.reason == Reason.PROCESSES_SUSPENDED.value):
        return decision
    for target in targets:
        if target.active:
            side = " (this group is its blue/green copy)" if target.blue_green_copy else ""
            return decision.skipped(
                Reason.DEPLOYMENT_IN_PROGRESS,
                f"CodeDeploy deployment {target.active[0]} ({target.application}/{target.deployment_group}) "
                f"is under way{side}; terminating an instance now would fail it. The next run tries again.",
            )
    left = sorted(snapshot.suspended_processes & CODEDEPLOY_SUSPENDS)
    if not left:
        return decision
    names = ", ".join(f"{t.application}/{t.deployment_group}" for t in targets)
    return decision.skipped(
        Reason.PROCESSES_LEFT_SUSPENDED,
        f"{', '.join(left)} suspended on a CodeDeploy group ({names}) with no deployment under way: a "
        "deployment that could not resume them leaves them suspended. Check the last deployment, then "
        f"aws autoscaling resume-processes --auto-scaling-group-name {snapshot.name} "
        f"--scaling-processes {' '.join(left)}",
    )


def replacement_verdict(deployments: Sequence[Deployment], launches: int) -> tuple[Reason, str] | None:
    """What CodeDeploy says of a replacement, from the deployments created since the terminate (newest
    first) and the launches Auto Scaling made for it. A failed automatic deployment is the revision's
    failure (its scripts, the agent), not the image's; more than one launch for one recycle is the loop
    the docs describe. None: nothing to say, the health check judges as for any group."""
    automatic = [d for d in deployments if d.creator == AUTOMATIC]
    failed = [d for d in automatic if d.status in ENDED_BADLY]
    if failed:
        return Reason.REVISION_FAILED, revision_failed(failed[0], launches)
    if launches > 1 and not any(d.status == "Succeeded" for d in automatic):
        # (After a deployment that succeeded, a replacement that fails is the image's, as for any group.)
        ids = ", ".join(d.deployment_id for d in automatic[:3]) or "none found"
        return Reason.LAUNCH_LOOP, (
            f"Auto Scaling launched {launches} instances for one replacement: each was terminated before "
            f"CodeDeploy could deploy to it (automatic deployments: {ids}). Stopped waiting; check the "
            f"health check grace period and the launch hook's timeout, and read {AGENT_LOG} on a new instance."
        )
    return None


def revision_failed(deployment: Deployment, launches: int) -> str:
    """Short enough for the health state's detail (health.DETAIL_CHARS): the id and the log first."""
    return (
        f"CodeDeploy deployment {deployment.deployment_id} {deployment.status.lower()} on the replacement "
        f"({deployment.error_code or 'no error code'}); read {AGENT_LOG} on it. "
        f"Not a verdict on the image; {launches} launched. {deployment.error_message}"
    )


def termination_under_way(deployments: Sequence[Deployment]) -> Deployment | None:
    """The victim's termination deployment (terminationHookEnabled), while it has not ended: the victim
    waits in Terminating:Wait until it does."""
    return next((d for d in deployments if d.creator == TERMINATION and d.status in UNDER_WAY), None)


def termination_note(deployment: Deployment, waited: float) -> str:
    return (
        f"the victim's termination deployment {deployment.deployment_id} was still {deployment.status} after "
        f"{waited:.0f} s (terminationHookEnabled); the replacement is healthy, the victim not yet gone"
    )
