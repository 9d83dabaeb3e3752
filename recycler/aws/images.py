"""The image a group launches now, as AWS resolves it at launch, and how old images are.

One DescribeLaunchTemplateVersions per distinct template version (ResolveAlias resolves `resolve:ssm:`
image ids), batched DescribeLaunchConfigurations and DescribeImages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from recycler.aws.clients import OnClients, chunks
from recycler.aws.groups import launch_template_spec, override_specs

logger = logging.getLogger(__name__)

LAUNCH_CONFIG_BATCH_SIZE = 50  # DescribeLaunchConfigurations names per call
IMAGE_BATCH_SIZE = 100  # DescribeImages ImageIds per call


@dataclass(frozen=True)
class CurrentImage:
    """The image a group launches now, or None with the reason it is unknown."""

    image_id: str | None
    unknown_reason: str | None
    # MixedInstancesPolicy overrides with their own launch template: (instance type, its image).
    overrides: tuple[tuple[str, str | None], ...] = ()


class Images(OnClients):
    """Reads what a group launches and how old an AMI is; shares the run's clients."""

    def current_images(self, groups: Sequence[dict[str, Any]]) -> dict[str, CurrentImage]:
        """The image each group would launch now, as AWS resolves it at launch; one call per distinct
        template version. An image that cannot be resolved is unknown, with the reason."""
        by_template: dict[tuple[str, str, str], list[str]] = {}
        by_config: dict[str, list[str]] = {}
        images: dict[str, CurrentImage] = {}
        for group in groups:
            name = group["AutoScalingGroupName"]
            spec = launch_template_spec(group)
            if spec is not None:
                by_template.setdefault(spec, []).append(name)
            elif group.get("LaunchConfigurationName"):
                by_config.setdefault(group["LaunchConfigurationName"], []).append(name)
            else:
                images[name] = CurrentImage(None, "the group has no launch template or configuration")
        resolved: dict[tuple[str, str, str], CurrentImage] = {}

        def image_of_template(spec: tuple[str, str, str]) -> CurrentImage:
            if spec not in resolved:
                resolved[spec] = self._template_image(*spec)
            return resolved[spec]

        for spec, members in by_template.items():
            images.update(dict.fromkeys(members, image_of_template(spec)))
        for group in groups:
            overrides = override_specs(group)
            name = group["AutoScalingGroupName"]
            if overrides and name in images:
                images[name] = replace(
                    images[name],
                    overrides=tuple((kind, image_of_template(spec).image_id) for kind, spec in overrides),
                )
        configs = list(by_config)
        for batch in chunks(configs, LAUNCH_CONFIG_BATCH_SIZE):
            response = self.autoscaling.describe_launch_configurations(LaunchConfigurationNames=list(batch))
            for described in response["LaunchConfigurations"]:
                image = described.get("ImageId")
                found = (
                    CurrentImage(image, None)
                    if image
                    else CurrentImage(None, "launch configuration has no ImageId")
                )
                images.update(dict.fromkeys(by_config[described["LaunchConfigurationName"]], found))
        for name, members in by_config.items():
            for member in members:
                images.setdefault(member, CurrentImage(None, f"launch configuration {name} not found"))
        return images

    def _template_image(self, kind: str, ident: str, version: str) -> CurrentImage:
        locator: dict[str, Any] = (
            {"LaunchTemplateId": ident} if kind == "id" else {"LaunchTemplateName": ident}
        )
        where = f"launch template {ident} version {version}"
        try:
            # ResolveAlias: a resolve:ssm:<parameter> ImageId comes back as the AMI it resolves to now,
            # which is what the group launches (needs ssm:GetParameters on the parameter).
            response = self.ec2.describe_launch_template_versions(
                Versions=[version], ResolveAlias=True, **locator
            )
        except ClientError as error:
            info = error.response.get("Error", {})
            logger.warning("%s unreadable: %s", where, error)
            return CurrentImage(None, f"{where}: {info.get('Code', 'Error')}: {info.get('Message', '')}")
        versions = response.get("LaunchTemplateVersions", [])
        if not versions:
            return CurrentImage(None, f"{where} not found")
        image = versions[0].get("LaunchTemplateData", {}).get("ImageId")
        if not image:
            return CurrentImage(None, f"{where} has no ImageId")
        if str(image).startswith("resolve:ssm:"):
            return CurrentImage(None, f"{where}: {image} did not resolve (parameter missing or not readable)")
        return CurrentImage(str(image), None)

    def image_ages(self, image_ids: Sequence[str], now: datetime) -> dict[str, float]:
        """Days since each AMI's CreationDate; a deregistered or unreadable image is left out (unknown)."""
        ages: dict[str, float] = {}
        for batch in chunks(sorted(set(image_ids)), IMAGE_BATCH_SIZE):
            try:
                images = self.ec2.describe_images(ImageIds=list(batch))["Images"]
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in (
                    "InvalidAMIID.NotFound",
                    "InvalidAMIID.Malformed",
                ):
                    raise
                # One unknown image fails the batch: a filter skips it instead.
                images = self.ec2.describe_images(Filters=[{"Name": "image-id", "Values": list(batch)}])[
                    "Images"
                ]
            for image in images:
                created = image.get("CreationDate")
                if created:
                    when = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
                    ages[image["ImageId"]] = round((now - when).total_seconds() / 86400, 1)
        return ages
