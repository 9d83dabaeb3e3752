"""CodeDeploy reads: which deployment groups deploy to an Auto Scaling group, what is deployed to them now,
and the automatic deployments Auto Scaling started for a replacement.

A replacement in an Auto Scaling group that a CodeDeploy deployment group names is itself a deployment:
CodeDeploy's launch hook holds the new instance in Pending:Wait while it installs the last successful
revision, and abandons it when that deployment fails
(https://docs.aws.amazon.com/codedeploy/latest/userguide/integrations-aws-auto-scaling.html). Read only;
recycler never creates, stops or continues a deployment.

Calls: ListApplications (pages), ListDeploymentGroups per application (pages), BatchGetDeploymentGroups
per application in batches of 100 names, then for each deployment group that names a group being
planned (or whose blue/green copy one is, by its name CodeDeploy_<deployment group>_<id>) one
ListDeployments filtered to the statuses still under way. codedeploy_call_floor() counts them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from recycler.aws.clients import OnClients, chunks
from recycler.codedeploy import CodeDeployGroup, Deployment
from recycler.policy.codedeploy import UNDER_WAY, blue_green_source

# BatchGetDeploymentGroups and BatchGetDeployments take at most 100 names or ids
# (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_BatchGetDeploymentGroups.html).
BATCH_SIZE = 100
# The statuses of a deployment that has not ended (policy/codedeploy.py), as ListDeployments filters them
# (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ListDeployments.html).
ACTIVE_STATUSES = UNDER_WAY


def codedeploy_call_floor(deployment_groups_per_application: Sequence[int], targeting_planned: int) -> int:
    """The fewest CodeDeploy calls planning makes: one ListApplications page, per application one
    ListDeploymentGroups and a BatchGetDeploymentGroups per 100 of its deployment groups, one
    ListDeployments per deployment group that names a planned Auto Scaling group."""
    per_application = sum(1 + math.ceil(n / BATCH_SIZE) for n in deployment_groups_per_application)
    return 1 + per_application + targeting_planned


class CodeDeploy(OnClients):
    """CodeDeploy, read for the Auto Scaling groups a run would recycle."""

    @property
    def codedeploy(self) -> Any:
        return self._clients.get("codedeploy")

    def deployment_groups(self, group_names: Sequence[str]) -> dict[str, tuple[CodeDeployGroup, ...]]:
        """Per Auto Scaling group among `group_names`: the deployment groups that name it, with the ids of
        their deployments still under way. Groups no deployment group names are left out."""
        wanted = set(group_names)
        # A blue/green copy (CodeDeploy_<deployment group>_<id>) belongs to its deployment group even
        # while that still names the original group (policy/codedeploy.py).
        copies: dict[str, list[str]] = {}
        for name in wanted:
            source = blue_green_source(name)
            if source is not None:
                copies.setdefault(source, []).append(name)
        found: dict[str, list[CodeDeployGroup]] = {}
        for application in self._paginate("list_applications", "applications"):
            names = list(
                self._paginate("list_deployment_groups", "deploymentGroups", applicationName=application)
            )
            for batch in chunks(names, BATCH_SIZE):
                answer = self.codedeploy.batch_get_deployment_groups(
                    applicationName=application, deploymentGroupNames=list(batch)
                )
                for info in answer.get("deploymentGroupsInfo", []):
                    named = {t.get("name") for t in info.get("autoScalingGroups", [])}
                    for copy in copies.get(info["deploymentGroupName"], []):
                        if copy not in named:
                            found.setdefault(copy, []).append(
                                CodeDeployGroup(
                                    application=application,
                                    deployment_group=info["deploymentGroupName"],
                                    blue_green_copy=True,
                                )
                            )
                    for target in info.get("autoScalingGroups", []):
                        if target.get("name") not in wanted:
                            continue
                        found.setdefault(target["name"], []).append(
                            CodeDeployGroup(
                                application=application,
                                deployment_group=info["deploymentGroupName"],
                                launch_hook=target.get("hook", ""),
                                termination_hook=target.get("terminationHook", ""),
                            )
                        )
        read: dict[tuple[str, str], tuple[str, ...]] = {}
        result: dict[str, tuple[CodeDeployGroup, ...]] = {}
        for name, targets in found.items():
            with_active = []
            for target in targets:
                key = (target.application, target.deployment_group)
                if key not in read:  # one deployment group may name several Auto Scaling groups
                    read[key] = tuple(
                        self._paginate(
                            "list_deployments",
                            "deployments",
                            applicationName=target.application,
                            deploymentGroupName=target.deployment_group,
                            includeOnlyStatuses=list(ACTIVE_STATUSES),
                        )
                    )
                with_active.append(replace(target, active=read[key]))
            result[name] = tuple(with_active)
        return result

    def deployments_since(self, target: CodeDeployGroup, since: datetime) -> list[Deployment]:
        """The deployments to the deployment group created since `since`, any status, newest first."""
        ids = list(
            self._paginate(
                "list_deployments",
                "deployments",
                applicationName=target.application,
                deploymentGroupName=target.deployment_group,
                createTimeRange={"start": since},
            )
        )
        infos: list[dict[str, Any]] = []
        for batch in chunks(ids, BATCH_SIZE):
            infos += self.codedeploy.batch_get_deployments(deploymentIds=list(batch)).get(
                "deploymentsInfo", []
            )
        infos.sort(key=lambda i: i.get("createTime") or since, reverse=True)
        return [
            Deployment(
                deployment_id=info["deploymentId"],
                status=info.get("status", ""),
                creator=info.get("creator", ""),
                error_code=(info.get("errorInformation") or {}).get("code", ""),
                error_message=(info.get("errorInformation") or {}).get("message", ""),
            )
            for info in infos
        ]

    def _paginate(self, operation: str, key: str, **params: Any) -> list[str]:
        items: list[str] = []
        for page in self.codedeploy.get_paginator(operation).paginate(**params):
            items += page.get(key, [])
        return items
