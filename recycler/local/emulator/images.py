"""The image an instance really gets: SSM parameter aliases in launch templates, and AMI creation dates.

moto 5.2 does not resolve `resolve:ssm:` image aliases (instances get the literal string) nor honour
ResolveAlias, and stamps its stock images with the time the backend started.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from recycler.local.emulator.state import DEFAULT_ACCOUNT

SSM_ALIAS = "resolve:ssm:"


def _ssm_value(alias: str, account: str, region: str) -> str | None:
    from moto.ssm.models import ssm_backends

    found = ssm_backends[account][region].get_parameter(alias.removeprefix(SSM_ALIAS))
    return str(found.value) if found is not None else None


def resolve_ssm_aliases() -> None:
    """A launch template ImageId may be `resolve:ssm:<parameter>`. AWS (EC2 User Guide, "Use a Systems
    Manager parameter instead of an AMI ID") resolves it when an instance launches, and
    DescribeLaunchTemplateVersions resolves it when asked with ResolveAlias=true; moto does neither.
    An alias whose parameter is missing stays unresolved here (recycler treats that as unknown)."""
    from moto.autoscaling.models import FakeAutoScalingGroup
    from moto.ec2.responses.launch_templates import LaunchTemplates

    original_image = FakeAutoScalingGroup.image_id

    def image_id(self: Any) -> Any:
        image = original_image.fget(self)  # type: ignore[attr-defined]
        if isinstance(image, str) and image.startswith(SSM_ALIAS):
            return _ssm_value(image, self.account_id, self.region) or image
        return image

    FakeAutoScalingGroup.image_id = property(image_id)  # type: ignore[assignment,method-assign]
    original_describe = LaunchTemplates.describe_launch_template_versions

    def describe_launch_template_versions(self: Any) -> Any:
        result = original_describe(self)
        if str(self._get_param("ResolveAlias", "false")).lower() != "true":
            return result
        body: Any = result.result
        for version in body["LaunchTemplateVersions"]:
            data = dict(version["LaunchTemplateData"])  # moto hands out the stored dict: copy it
            image = data.get("ImageId")
            if isinstance(image, str) and image.startswith(SSM_ALIAS):
                data["ImageId"] = _ssm_value(image, self.current_account, self.region) or image
            version["LaunchTemplateData"] = data
        return result

    LaunchTemplates.describe_launch_template_versions = describe_launch_template_versions  # type: ignore[method-assign]
    original_create = LaunchTemplates.create_launch_template_version

    def create_launch_template_version(self: Any) -> Any:
        # AWS (CreateLaunchTemplateVersion, SourceVersion): "The new version inherits the same launch
        # parameters as the source version, except for parameters that you specify in LaunchTemplateData";
        # moto ignores SourceVersion and stores only the parameters given.
        source = self._get_param("SourceVersion")
        if source:
            ident, name = self._get_param("LaunchTemplateId"), self._get_param("LaunchTemplateName")
            backend = self.ec2_backend
            template = (
                backend.get_launch_template(ident) if ident else backend.get_launch_template_by_name(name)
            )
            merged = {**template.get_version(source).data, **self._get_param("LaunchTemplateData", {})}
            given = self._get_param
            self._get_param = lambda key, default=None: (
                merged if key == "LaunchTemplateData" else given(key, default)
            )
        return original_create(self)

    LaunchTemplates.create_launch_template_version = create_launch_template_version  # type: ignore[method-assign]


def set_image_created(image_id: str, created: datetime, region: str, account: str = DEFAULT_ACCOUNT) -> None:
    """An AMI's CreationDate (moto stamps its stock images with the time the backend started)."""
    from moto.ec2.models import ec2_backends

    image = ec2_backends[account][region].amis[image_id]
    image.creation_date = created.astimezone(UTC).replace(tzinfo=None)
