"""Putting a condemned image's launch path back (recycler:revert_on_canary_failure): which launch paths
recycler may restore, and to what. Pure decisions over data the AWS adapter read.

Restorable, because one write that changes nothing but the image puts every group on it back:
- an SSM parameter a launch template's ImageId resolves (`resolve:ssm:NAME`, any template version): AWS
  resolves it at every launch, so PutParameter with the previous value puts back every group that uses it
  (EC2 User Guide, "Use a Systems Manager parameter instead of an AMI ID");
- a launch template's default version, for groups that launch `$Default`: ModifyLaunchTemplate
  (DefaultVersion) points it at an earlier version (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyLaunchTemplate.html).
Not restorable by recycler: `$Latest` or a pinned version with a literal ImageId (putting it back needs a
new template version or a change to the group, both beyond "point back"), a parameter pinned to a version
or label (`resolve:ssm:NAME:3`), another account's parameter (an ARN), a launch configuration: the alert
gives the command (fix_commands.launch_path_steps).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

SSM_ALIAS = "resolve:ssm:"


class RevertOutcome(StrEnum):
    """What putting a condemned image's launch path back did."""

    RESTORED = "restored"
    NO_LONGER_BROKEN = "no-longer-holds-the-broken-id"  # someone changed it first: left alone
    NO_PROVEN_PREVIOUS = "no-proven-previous"  # nothing earlier that a recycle proved and still exists
    MANUAL_ONLY = "not-restorable"  # $Latest, a pinned version, a launch configuration: the command only
    NOT_OPTED_IN = "template-not-opted-in"  # a $Default template without the revert tag
    ACCESS_DENIED = "access-denied"
    FAILED = "failed"  # another AWS error, or an interrupted write (it may have reached AWS)
    # The canary failed in a way that does not prove the image broken (a launch hook, a timeout before
    # any replacement was seen): held back, but no launch path rewritten for it.
    NO_IMAGE_VERDICT = "not-a-verdict-on-the-image"


@dataclass(frozen=True)
class LaunchPath:
    """Where a group's next scale-out gets its image: the launch template version it names, its
    unresolved ImageId, and the SSM parameter that ImageId resolves, if any."""

    template_id: str
    template_name: str
    version: str  # "$Default", "$Latest" or a number, as the group names it
    image_ref: str  # the ImageId as stored: an AMI id or resolve:ssm:NAME

    @property
    def parameter(self) -> str | None:
        """The parameter recycler may put back: a plain name of this account, no version or label."""
        if not self.image_ref.startswith(SSM_ALIAS):
            return None
        name = self.image_ref.removeprefix(SSM_ALIAS)
        if name.startswith("arn:") or ":" in name:
            return None
        return name

    @property
    def restorable(self) -> bool:
        return self.parameter is not None or (
            self.version == "$Default" and not self.image_ref.startswith(SSM_ALIAS)
        )

    @property
    def key(self) -> str:
        """One restore per key: many groups share one parameter or one template's default version."""
        if self.parameter is not None:
            return f"ssm parameter {self.parameter}"
        return f"launch template {self.template_id} ({self.template_name}) version {self.version}"


def previous_proven(
    history: Sequence[tuple[int, str]], current_version: int, broken: str, good: Collection[str]
) -> tuple[int, str] | None:
    """The newest (version, value) before current_version whose value is a good image (proven by a
    recycle and still there), skipping the broken one; None if there is none. Works for a parameter's
    history and for a template's versions alike."""
    for version, value in sorted(history, reverse=True):
        if version < current_version and value != broken and value in good:
            return version, value
    return None


def candidates(history: Sequence[tuple[int, str | None]], current_version: int, broken: str) -> list[str]:
    """The earlier values worth asking the ledger about (a literal AMI id each)."""
    return sorted(
        {v for n, v in history if n < current_version and v and v != broken and v.startswith("ami-")}
    )
