"""`recycler:organization`: which OUs and regions the member StackSet targets, and its administrator
(infra/stackset.py builds it). Validated here, with errors that name the key."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from constructs import Node

from infra.config import PREFIX, REGION, ConfigError, Place, places_from

# AWS::CloudFormation::StackSet DeploymentTargets.OrganizationalUnitIds: an OU id or the root id.
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-cloudformation-stackset-deploymenttargets.html
ORGANIZATIONAL_UNIT = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
# An organization's id, as DescribeOrganization returns it (Organization.Id, pattern ^o-[a-z0-9]{10,32}$):
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_Organization.html
ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")

CALL_AS = ("DELEGATED_ADMIN", "SELF")
ORGANIZATION_KEYS = frozenset(
    {
        "organization_id",
        "organizational_units",
        "regions",
        "central",
        "call_as",
        "asset_bucket_prefix",
        "kill_switch",
    }
)


@dataclass(frozen=True)
class Organization:
    """`recycler:organization`: the member stack as one service-managed StackSet over these OUs and
    regions, reporting to `central` (the StackSet's administrator: the management account or a
    delegated administrator, `call_as`)."""

    organizational_units: tuple[str, ...]
    regions: tuple[str, ...]
    central: Place
    # The code buckets' policy names it as a fixed value: S3 refuses a policy limited only by wildcards.
    organization_id: str = ""
    call_as: str = "DELEGATED_ADMIN"
    asset_bucket_prefix: str = ""
    kill_switch: str = "off"

    def asset_bucket(self, region: str) -> str:
        return f"{self.asset_bucket_prefix}-{region}"


def read_organization(node: Node) -> Organization | None:
    key = f"{PREFIX}organization"
    raw = node.try_get_context(key)
    if raw is None:
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        raise ConfigError(f"{key}: not JSON") from None
    if not isinstance(value, dict):
        raise ConfigError(
            f'{key}: an object {{"organizational_units": [...], "regions": [...], "central": {{...}}}}'
        )
    unknown = sorted(set(value) - ORGANIZATION_KEYS)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key; use {', '.join(sorted(ORGANIZATION_KEYS))}")
    organization_id = str(value.get("organization_id", ""))
    if not ORGANIZATION_ID.match(organization_id):
        raise ConfigError(
            f"{key}.organization_id={organization_id!r}: name the organization's id (o-xxxxxxxxxx, from "
            "`aws organizations describe-organization`): S3 refuses the code buckets' policy without it"
        )
    units = value.get("organizational_units")
    if not isinstance(units, list) or not units:
        raise ConfigError(f'{key}.organizational_units: a list of OU ids ("ou-...") or the root id ("r-...")')
    for unit in units:
        if not ORGANIZATIONAL_UNIT.match(str(unit)):
            raise ConfigError(
                f"{key}.organizational_units: {unit!r} is not an OU id (ou-xxxx-xxxxxxxx) nor a root id (r-xxxx)"
            )
    regions = value.get("regions")
    if not isinstance(regions, list) or not regions:
        raise ConfigError(f'{key}.regions: a list of regions such as ["eu-west-1", "us-east-1"]')
    for region in regions:
        if not REGION.match(str(region)):
            raise ConfigError(f"{key}.regions: {region!r} is not a region such as eu-west-1")
    if len(set(regions)) != len(regions):
        raise ConfigError(f"{key}.regions: list each region once")
    if "central" not in value:
        raise ConfigError(f'{key}.central: the StackSet administrator\'s {{"account": ..., "region": ...}}')
    [central] = places_from(
        "organization.central", value["central"] if isinstance(value["central"], dict) else [None]
    )
    call_as = str(value.get("call_as", "DELEGATED_ADMIN"))
    if call_as not in CALL_AS:
        raise ConfigError(f"{key}.call_as={call_as!r}: use DELEGATED_ADMIN or SELF (the management account)")
    kill_switch = str(value.get("kill_switch", "off"))
    if kill_switch not in ("on", "off"):
        raise ConfigError(f"{key}.kill_switch={kill_switch!r}: use on or off")
    prefix = str(value.get("asset_bucket_prefix", f"recycler-assets-{central.account}"))
    # S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens; the region is appended.
    if not re.match(r"^[a-z0-9][a-z0-9-]{1,40}$", prefix):
        raise ConfigError(
            f"{key}.asset_bucket_prefix={prefix!r}: lower-case letters, digits and hyphens, at most 41"
        )
    return Organization(
        tuple(str(u) for u in units),
        tuple(str(r) for r in regions),
        central,
        organization_id,
        call_as,
        prefix,
        kill_switch,
    )
