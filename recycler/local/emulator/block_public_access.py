"""S3 Block Public Access, which moto 5.2 stores but does not enforce: with `BlockPublicPolicy` on, S3
rejects a PutBucketPolicy whose policy is public (403 AccessDenied), and GetBucketPolicyStatus answers
by the same rule. moto accepts every policy, and counts any statement with a Condition as non-public.

S3's rule ("The meaning of public"): a policy is public unless every Allow statement is limited to fixed
values (no wildcard) of a principal, or of one of a short list of condition keys.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status
https://docs.aws.amazon.com/AmazonS3/latest/API/API_PublicAccessBlockConfiguration.html

Also an organization for tests: the condition keys IAM sets for a principal of one of its accounts
(aws:PrincipalOrgID, aws:PrincipalOrgPaths), which moto has no request context to set.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgid
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Keys whose fixed value makes a statement for `*` non-public (the S3 User Guide's list; an AWS
# principal "e.g. aws:PrincipalOrgID" is one of them). Compared case-insensitively, as IAM compares keys.
NON_PUBLIC_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SourceIp",
        "aws:PrincipalOrgID",
        "aws:SourceArn",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceOwner",
        "aws:SourceAccount",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "aws:userid",
        "s3:DataAccessPointArn",
        "s3:DataAccessPointAccount",
    )
)
# Operators that hold a request to the values listed; an ...IfExists operator lets a request without the
# key through, and Not... operators allow everything but the values, so neither limits.
LIMITING_OPERATORS = frozenset(
    {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "ipaddress"}
)


def _values(raw: Any) -> list[str]:
    return [str(v) for v in (raw if isinstance(raw, list) else [raw])]


def _principal_is_fixed(principal: Any) -> bool:
    """An AWS principal or a service principal without a wildcard. A federated one is public (the
    guide's first example: {"Federated": "graph.facebook.com"})."""
    if not isinstance(principal, Mapping) or set(principal) - {"AWS", "Service", "CanonicalUser"}:
        return False
    return all("*" not in v for raw in principal.values() for v in _values(raw))


def _limited_by_fixed_value(conditions: Mapping[str, Mapping[str, Any]]) -> bool:
    for operator, keys in conditions.items():
        qualifier, _, name = operator.rpartition(":")
        if name.lower() not in LIMITING_OPERATORS or qualifier == "ForAllValues":
            continue
        for key, raw in keys.items():
            values = _values(raw)
            fixed = all("*" not in v and "?" not in v for v in values)
            if key.lower() in NON_PUBLIC_KEYS and fixed:
                return True
    return False


def policy_is_public(policy: Mapping[str, Any] | str) -> bool:
    """S3's "is this policy public": some Allow grants a wildcard principal without a fixed-value limit."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = document.get("Statement", [])
    for statement in [statements] if isinstance(statements, Mapping) else statements:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", "*")
        if _principal_is_fixed(principal):
            continue
        if not _limited_by_fixed_value(statement.get("Condition", {})):
            return True
    return False


def block_public_access_like_aws() -> None:
    """PutBucketPolicy refuses a public policy on a bucket with BlockPublicPolicy (403 AccessDenied, as S3
    answers); GetBucketPolicyStatus tells public from non-public by S3's rule."""
    from moto.s3 import responses
    from moto.s3.exceptions import S3AccessDeniedError
    from moto.s3.models import S3Backend

    original = S3Backend.put_bucket_policy

    def put_bucket_policy(self: S3Backend, bucket_name: str, policy: bytes) -> None:
        block = self.get_bucket(bucket_name).public_access_block
        if block is not None and block.block_public_policy and policy_is_public(policy.decode()):
            raise S3AccessDeniedError()
        original(self, bucket_name, policy)

    S3Backend.put_bucket_policy = put_bucket_policy  # type: ignore[method-assign]

    def is_public(policy: bytes | str) -> bool:
        return policy_is_public(policy.decode() if isinstance(policy, bytes) else policy)

    responses.bucket_policy_is_public = is_public  # type: ignore[attr-defined]  # GetBucketPolicyStatus calls it


@dataclass(frozen=True)
class EmulatedOrganization:
    """An organization: its id, root, and the OU path (root first, nested OUs in order) of each account."""

    organization_id: str
    root_id: str
    accounts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # account -> its OUs

    def principal_context(self, principal_arn: str) -> dict[str, tuple[str, ...]]:
        """The global condition keys IAM sets for a request by this principal (lower-case keys): its
        account and ARN, and for a member of this organization its id and path
        (o-<id>/r-<root>/ou-.../ with nested OUs in order)."""
        account = principal_arn.split(":")[4]
        context: dict[str, tuple[str, ...]] = {
            "aws:principalaccount": (account,),
            "aws:principalarn": (principal_arn,),
        }
        if account in self.accounts:
            units = "".join(f"{unit}/" for unit in self.accounts[account])
            context["aws:principalorgid"] = (self.organization_id,)
            context["aws:principalorgpaths"] = (f"{self.organization_id}/{self.root_id}/{units}",)
        return context
