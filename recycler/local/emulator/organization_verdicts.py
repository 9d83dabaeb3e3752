"""What an organization's verdict store needs from AWS that moto 5.2 does not do.

1. DynamoDB across accounts. A request may name a table by its ARN, and DynamoDB serves the table of the
   account in that ARN when the caller's identity policy and the table's resource-based policy both
   allow it ("For cross-account access, you must explicitly allow access in both the identity and
   resource policies":
   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-auth-iam-id-based-policies-DDB.html).
   moto looks the ARN up among the *caller's* tables only (ResourceNotFound). Here a table ARN of
   another account is served from that account's backend, and only if its resource policy allows the
   caller: an Allow statement for the action whose principal and conditions hold for the caller
   (aws:PrincipalAccount, aws:PrincipalArn from the caller's assumed role, aws:PrincipalOrgID from
   join_organization()). No policy, or none that allows: AccessDeniedException, as DynamoDB answers.
   (The identity side is the function role's, asserted on the synthesized template in tests/infra.)
2. DescribeImages names a copy's source: SourceImageId and SourceImageRegion "only appear if the AMI
   was created using CreateImage, CopyImage, or CreateRestoreImageTask"
   (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html); moto returns neither.
3. join_organization(): which organization an account belongs to, the request context moto has not.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from typing import Any

from recycler.local.emulator.state import current_state

TABLE_ARN_PARTS = 6


def join_organization(organization_id: str, accounts: Sequence[str]) -> None:
    """These accounts are members of `organization_id` (what aws:PrincipalOrgID says of their roles)."""
    for account in accounts:
        current_state().organization_of[account] = organization_id


def _caller_role_arn(access_key: str) -> str | None:
    """The role an access key's session assumed (moto's STS keeps it on the key), else None."""
    from moto.iam.models import iam_backends

    for account in list(iam_backends.values()):
        for backend in list(account.values()):
            key = backend.access_keys.get(access_key)
            if key is not None and getattr(key, "role_arn", None):
                return str(key.role_arn)
    return None


def _values(raw: Any) -> list[str]:
    return [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]


def _principal_matches(principal: Any, account: str, role_arn: str | None) -> bool:
    if principal == "*":
        return True
    aws = principal.get("AWS", []) if isinstance(principal, dict) else []
    accepted = {"*", account, f"arn:aws:iam::{account}:root", role_arn}
    return any(entry in accepted for entry in _values(aws))


def _condition_holds(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """StringEquals / StringLike / ArnLike / ArnEquals on single-valued keys; anything else refuses
    (never allow by accident)."""
    for operator, keys in conditions.items():
        name = operator.split(":")[-1]
        for key, wanted in keys.items():
            value = context.get(key.lower())
            if value is None:
                return False
            patterns = _values(wanted)
            if name == "StringEquals":
                ok = value in patterns
            elif name in ("StringLike", "ArnLike", "ArnEquals"):
                ok = any(fnmatch.fnmatchcase(value, p) for p in patterns)
            else:
                return False
            if not ok:
                return False
    return True


def _allowed(
    policy: str, action: str, resource: str, context: Mapping[str, str], role_arn: str | None
) -> bool:
    document = json.loads(policy)
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    account = context["aws:principalaccount"]

    def applies(statement: Mapping[str, Any]) -> bool:
        actions = _values(statement.get("Action", []))
        resources = _values(statement.get("Resource", "*"))
        return (
            any(fnmatch.fnmatchcase(action, a) for a in actions)
            and any(fnmatch.fnmatchcase(resource, r) for r in resources)
            and _principal_matches(statement.get("Principal"), account, role_arn)
            and _condition_holds(statement.get("Condition", {}), context)
        )

    if any(s.get("Effect") == "Deny" and applies(s) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and applies(s) for s in statements)


def _aws_managed_key(table: Any, account: str, region: str) -> bool:
    """Is the table encrypted with the account's AWS managed key (alias/aws/dynamodb)? "Cross-account
    access using resource-based policies doesn't support encrypted tables with AWS managed keys"
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-considerations.html)."""
    from moto.kms.models import kms_backends

    sse = table.sse_specification or {}
    if not sse.get("Enabled"):
        return False
    kms = kms_backends[account][region]
    if not kms.alias_exists("alias/aws/dynamodb"):
        return False
    managed = kms.describe_key("alias/aws/dynamodb")
    return sse.get("KMSMasterKeyId") in (managed.arn, managed.id, "alias/aws/dynamodb")


def dynamodb_across_accounts() -> None:
    """Serve a table ARN of another account from that account, as its resource policy allows."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.dynamodb_backend

    def backend(self: Any) -> Any:
        body = getattr(self, "body", None)
        table = str(body.get("TableName") or "") if isinstance(body, dict) else ""
        parts = table.split(":") if table.startswith("arn:") else []
        if len(parts) < TABLE_ARN_PARTS or parts[4] == self.current_account:
            return original.fget(self)  # type: ignore[attr-defined]
        region, owner = parts[3], parts[4]
        owned = dynamodb_backends[owner][region]
        if table.split("/")[-1] not in owned.tables:
            raise ResourceNotFoundException(table_name=table)
        if _aws_managed_key(owned.tables[table.split("/")[-1]], owner, region):
            raise JsonRESTError(
                "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
                f"{table} is encrypted with the AWS managed key aws/dynamodb, whose key policy cannot "
                "grant another account: cross-account access needs an AWS owned or customer managed key",
            )
        role_arn = _caller_role_arn(self.get_access_key())
        context = {
            "aws:principalaccount": self.current_account,
            **({"aws:principalarn": role_arn} if role_arn else {}),
            **(
                {"aws:principalorgid": current_state().organization_of[self.current_account]}
                if self.current_account in current_state().organization_of
                else {}
            ),
        }
        action = f"dynamodb:{self._get_action()}"
        policy = owned.resource_policies.get(table)
        if policy is None or not _allowed(policy.policy_doc, action, table, context, role_arn):
            raise JsonRESTError(
                "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
                f"User: {role_arn or self.current_account} is not authorized to perform: {action} on "
                f"resource: {table} because no resource-based policy allows the {action} action",
            )
        return owned

    DynamoHandler.dynamodb_backend = property(backend)  # type: ignore[assignment,method-assign]


def images_name_their_source() -> None:
    """CopyImage's copy names its source image and region in DescribeImages, as AWS's does."""
    from moto.ec2.models.amis import AmiBackend

    original = AmiBackend.copy_image

    def copy_image(
        self: Any,
        source_image_id: str,
        source_region: str,
        name: str | None = None,
        description: str | None = None,
    ) -> Any:
        ami: Any = original(self, source_image_id, source_region, name, description)
        ami.source_image_id = source_image_id
        ami.source_image_region = source_region
        return ami

    AmiBackend.copy_image = copy_image  # type: ignore[method-assign]


def organization_verdicts_like_aws() -> None:
    dynamodb_across_accounts()
    images_name_their_source()


def create_verdict_table(dynamodb: Any, name: str, policy: Mapping[str, Any] | None = None) -> str:
    """The central verdict table infra/org_verdicts.py deploys (same keys), with its resource policy;
    returns its ARN."""
    arn = str(
        dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": "image", "KeyType": "HASH"},
                {"AttributeName": "record", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "image", "AttributeType": "S"},
                {"AttributeName": "record", "AttributeType": "S"},
            ],
        )["TableDescription"]["TableArn"]
    )
    if policy is not None:
        dynamodb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(policy))
    return arn
