"""Launch paths as AWS stores them, and the two writes that put one back (recycler:revert_on_canary_failure).

Reads: DescribeAutoScalingGroups (the group's launch template and version), DescribeLaunchTemplateVersions
WITHOUT ResolveAlias (the ImageId as stored, `resolve:ssm:NAME` for an alias), DescribeLaunchTemplates (its
tags), GetParameterHistory and GetParameter. Writes: PutParameter and ModifyLaunchTemplate.

Neither write is conditional: PutParameter has no expected-value or expected-version argument and
ModifyLaunchTemplate no expected-default-version one (SSM API Reference, PutParameter; EC2 API Reference,
ModifyLaunchTemplate). The caller reads the current value right before writing, so the remaining race is
the time between that read and the write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from recycler.aws.clients import OnClients, chunks
from recycler.aws.groups import launch_template_spec
from recycler.policy.revert import LaunchPath

GROUP_BATCH = 50  # DescribeAutoScalingGroups names per call
HISTORY_PAGE = 50  # GetParameterHistory MaxResults maximum
VERSIONS_PAGE = 200  # DescribeLaunchTemplateVersions MaxResults maximum


class LaunchPaths(OnClients):
    """The launch-path reads and writes of one run; shares the run's clients."""

    def of_groups(self, names: Sequence[str]) -> dict[str, LaunchPath | str]:
        """Each group's launch path, or in words why it has none recycler can read."""
        found: dict[str, LaunchPath | str] = {}
        specs: dict[tuple[str, str, str], list[str]] = {}
        for batch in chunks(sorted(set(names)), GROUP_BATCH):
            groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=list(batch))
            for group in groups["AutoScalingGroups"]:
                name = group["AutoScalingGroupName"]
                spec = launch_template_spec(dict(group))
                if spec is None:
                    found[name] = "a launch configuration (immutable: the group must be changed)"
                else:
                    specs.setdefault(spec, []).append(name)
        for (kind, ident, version), members in specs.items():
            locator: dict[str, Any] = (
                {"LaunchTemplateId": ident} if kind == "id" else {"LaunchTemplateName": ident}
            )
            versions = self.ec2.describe_launch_template_versions(Versions=[version], **locator)
            listed: list[Any] = list(versions["LaunchTemplateVersions"])
            stored = listed[0] if listed else None
            image = (stored or {}).get("LaunchTemplateData", {}).get("ImageId")
            path: LaunchPath | str = (
                LaunchPath(stored["LaunchTemplateId"], stored["LaunchTemplateName"], version, str(image))
                if stored and image
                else f"launch template {ident} version {version} has no ImageId"
            )
            found.update(dict.fromkeys(members, path))
        for name in names:
            found.setdefault(name, "group not found")
        return found

    # ---- SSM parameters -----------------------------------------------------------------------

    def parameter_history(self, name: str) -> list[tuple[int, str]]:
        """Every stored (version, value) of the parameter, oldest first. Parameter Store keeps the
        last 100 versions (Systems Manager User Guide, "Working with parameter versions")."""
        history: list[tuple[int, str]] = []
        for page in self.ssm.get_paginator("get_parameter_history").paginate(
            Name=name, PaginationConfig={"PageSize": HISTORY_PAGE}
        ):
            history += [(int(p["Version"]), str(p["Value"])) for p in page["Parameters"]]
        return sorted(history)

    def parameter_now(self, name: str) -> tuple[int, str, str]:
        """(version, value, data type) right now."""
        found = self.ssm.get_parameter(Name=name)["Parameter"]
        return int(found["Version"]), str(found["Value"]), str(found.get("DataType") or "text")

    def put_parameter(self, name: str, value: str, data_type: str) -> int:
        """Overwrite the value, keeping its data type (Parameter Store refuses to change a parameter to
        or from aws:ec2:image: "Parameter data types in Parameter Store"). An aws:ec2:image value is
        validated asynchronously after the call returns (SSM API Reference, PutParameter, DataType)."""
        answer = self.ssm.put_parameter(
            Name=name, Value=value, Type="String", DataType=data_type, Overwrite=True
        )
        return int(answer["Version"])

    # ---- launch templates ---------------------------------------------------------------------

    def template_versions(self, template_id: str) -> list[tuple[int, str | None, str]]:
        """Every version's (number, unresolved ImageId, everything else it launches with as canonical
        JSON), oldest first: a default version set back brings back all of its data, not only its image."""
        versions: list[tuple[int, str | None, str]] = []
        for page in self.ec2.get_paginator("describe_launch_template_versions").paginate(
            LaunchTemplateId=template_id, PaginationConfig={"PageSize": VERSIONS_PAGE}
        ):
            for version in page["LaunchTemplateVersions"]:
                data = dict(version.get("LaunchTemplateData", {}))
                image = data.pop("ImageId", None)
                rest = json.dumps(data, sort_keys=True, default=str)
                versions.append((int(version["VersionNumber"]), str(image) if image else None, rest))
        return sorted(versions)

    def default_version(self, template_id: str) -> tuple[int, str | None]:
        """The default version's number and unresolved ImageId, read now."""
        [version] = self.ec2.describe_launch_template_versions(
            LaunchTemplateId=template_id, Versions=["$Default"]
        )["LaunchTemplateVersions"]
        image = version.get("LaunchTemplateData", {}).get("ImageId")
        return int(version["VersionNumber"]), str(image) if image else None

    def template_tags(self, template_id: str) -> dict[str, str]:
        [template] = self.ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"]
        return {t["Key"]: t.get("Value", "") for t in template.get("Tags", [])}

    def set_default_version(self, template_id: str, version: int) -> None:
        self.ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))
