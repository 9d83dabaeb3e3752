"""The nouns of CodeDeploy as recycler reads it: a deployment group that names an Auto Scaling group, and
one deployment. Beside domain.py (which is full); like it, this imports nothing of recycler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CodeDeployGroup:
    """A CodeDeploy deployment group that names an Auto Scaling group (BatchGetDeploymentGroups'
    autoScalingGroups), with the deployments to it still under way when it was read."""

    application: str
    deployment_group: str
    launch_hook: str = ""  # the hook CodeDeploy installed into the Auto Scaling group
    termination_hook: str = ""  # set when terminationHookEnabled: terminations run a deployment
    active: tuple[str, ...] = ()  # deployment ids Created/Queued/InProgress/Baking/Ready
    # The Auto Scaling group is not named by the deployment group but is its blue/green copy,
    # CodeDeploy_<deployment group>_<deployment id> (policy/codedeploy.py, blue_green_source).
    blue_green_copy: bool = False


@dataclass(frozen=True)
class Deployment:
    """One CodeDeploy deployment as BatchGetDeployments answers it (the fields recycler reads)."""

    deployment_id: str
    status: str
    creator: str
    error_code: str = ""
    error_message: str = ""
