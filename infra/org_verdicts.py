"""The organization's verdict store: one DynamoDB table in the central account (RecyclerVerdicts), and
what a member needs to use it (recycler/aws/verdicts_central.py, docs/many-accounts.md, Verdicts).

Why a table with a resource-based policy, not events to the central bus with a rule writing the table:
a member must *read* the organization's verdicts when it plans, synchronously, and claim an image's
canary with a conditional write; events only carry writes one way. DynamoDB tables take resource-based
policies, and a cross-account request is allowed when the caller's identity policy and the table's
policy both allow it
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-auth-iam-id-based-policies-DDB.html).

Least privilege: the members' recycler roles may GetItem, Query and PutItem on this table, nothing else
(every write the member makes is a PutItem). No member role is a principal (a role principal is stored as
its unique id: a recreated role would lose access, and a policy naming a role that does not exist yet is
refused); accounts or the organization are, and aws:PrincipalArn picks their recycler roles by name.
DynamoDB's Block Public Access refuses a policy whose `Principal: "*"` is not limited by a trusted
condition key with a value free of wildcards
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-bpa-rbp.html): the organization's
statement is limited by aws:PrincipalOrgID (fixed), as the code buckets' is.

No deploy order: a member reaches the table by an ARN built from context (fixed name), and a member
that cannot (not deployed yet, denied, throttled) plans as if no member had judged the image.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Aws, CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct, Node

from infra.central import Publishers
from infra.config import PREFIX, ROLE_NAME_PREFIX, ConfigError, Place
from infra.organization import Organization, read_organization
from recycler.policy.rings import Ring, RingsError, parse_rings

VERDICT_TABLE = "recycler-verdicts"
VERDICT_ACTIONS = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"]
RINGS_KEY = f"{PREFIX}rings"


def verdict_table_arn(central: Place, partition: str = Aws.PARTITION) -> str:
    return f"arn:{partition}:dynamodb:{central.region}:{central.account}:table/{VERDICT_TABLE}"


def read_rings(node: Node) -> tuple[Ring, ...]:
    """`recycler:rings`, validated. A ring may name accounts (a member knows its account id at run time)
    or, with `recycler:organization`, OUs: a member cannot read its own OU (only the management account
    or a delegated administrator may ask Organizations), so each ring of OUs becomes a StackSet of its
    own that tells its stack instances their OUs (infra/stackset.py). One StackSet per ring, not one
    StackSet with a parameter override per OU: "Overridden parameter values only apply to the accounts
    that are currently in the target OUs ... Accounts added to the target OUs ... in the future will use
    the StackSet default values" (an account joining production would land in the last ring).
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-manage-auto-deployment.html
    """
    raw = node.try_get_context(RINGS_KEY)
    try:
        rings = parse_rings(raw, RINGS_KEY)
    except RingsError as error:
        raise ConfigError(str(error)) from None
    if not any(ring.organizational_units for ring in rings):
        return rings
    organization = read_organization(node)
    if organization is None:
        n = next(n for n, ring in enumerate(rings) if ring.organizational_units)
        raise ConfigError(
            f"{RINGS_KEY}[{n}].organizational_units: rings of OUs need {PREFIX}organization (the StackSet "
            f'tells each member its OU); with {PREFIX}environments list accounts: "accounts": ["111111111111"]'
        )
    targets = set(organization.organizational_units)
    roots = sorted(unit for unit in targets if unit.startswith("r-"))
    if roots:
        raise ConfigError(
            f"{PREFIX}organization.organizational_units: {roots[0]} (the root) holds every ring's OUs, "
            "and an account in two StackSets fails the second; with rings of OUs, list the OUs instead"
        )
    for n, ring in enumerate(rings):
        for unit in ring.organizational_units:
            if unit not in targets:
                raise ConfigError(
                    f"{RINGS_KEY}[{n}].organizational_units: {unit} is not in {PREFIX}organization."
                    "organizational_units; list it there too (one StackSet per ring deploys to its OUs)"
                )
    return rings


def ring_stack_sets(
    organization: Organization, rings: tuple[Ring, ...]
) -> list[tuple[Ring | None, tuple[str, ...]]]:
    """The StackSets and the OUs each deploys to: first one over the organization's OUs no ring names
    (its members find their ring by account, or are in the last ring), then one per ring of OUs (its
    members are told the ring's OUs). Without rings of OUs, the one StackSet over every OU."""
    in_rings = {unit for ring in rings for unit in ring.organizational_units}
    rest = tuple(unit for unit in organization.organizational_units if unit not in in_rings)
    ringed: list[tuple[Ring | None, tuple[str, ...]]] = [
        (ring, ring.organizational_units) for ring in rings if ring.organizational_units
    ]
    return ([(None, rest)] if rest else []) + ringed


def rings_json(rings: tuple[Ring, ...]) -> str:
    """The rings as RECYCLER_RINGS carries them (the function validates them again on every run)."""
    return json.dumps(
        [
            {
                "name": r.name,
                "soak_hours": r.soak_hours,
                **({"accounts": list(r.accounts)} if r.accounts else {}),
                **({"organizational_units": list(r.organizational_units)} if r.organizational_units else {}),
            }
            for r in rings
        ],
        separators=(",", ":"),
    )


def table_policy(publishers: Publishers, organization_id: str, table_arn: str) -> dict[str, Any]:
    """Who may read and write verdicts: the listed members' accounts (their recycler roles by
    aws:PrincipalArn), and/or the organization's recycler roles (aws:PrincipalOrgID, fixed)."""
    statements: list[dict[str, Any]] = []
    if publishers.members:
        statements.append(
            {
                "Sid": "MemberRecyclersShareVerdicts",
                "Effect": "Allow",
                "Principal": {"AWS": publishers.accounts},
                "Action": VERDICT_ACTIONS,
                "Resource": table_arn,
                "Condition": {
                    "ArnLike": {"aws:PrincipalArn": sorted({m.role_arn() for m in publishers.members})}
                },
            }
        )
    if organization_id:
        statements.append(
            {
                "Sid": "OrganizationRecyclersShareVerdicts",
                "Effect": "Allow",
                "Principal": "*",
                "Action": VERDICT_ACTIONS,
                "Resource": table_arn,
                "Condition": {
                    "StringEquals": {"aws:PrincipalOrgID": organization_id},
                    "ArnLike": {"aws:PrincipalArn": f"arn:{Aws.PARTITION}:iam::*:role/{ROLE_NAME_PREFIX}*"},
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


class RecyclerVerdictsStack(Stack):
    """The central verdict table (in the central account and region)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        publishers: Publishers,
        organization_id: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        arn = f"arn:{Aws.PARTITION}:dynamodb:{Aws.REGION}:{Aws.ACCOUNT_ID}:table/{VERDICT_TABLE}"
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=VERDICT_TABLE,  # fixed: members build its ARN from context
            partition_key=dynamodb.Attribute(name="image", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="record", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expires_at",
            deletion_protection=True,
            # Not the AWS managed key (the ledger's): "Cross-account access using resource-based policies
            # doesn't support encrypted tables with AWS managed keys" (its key policy cannot grant another
            # account). An AWS owned key is; a customer managed key would need every member in its policy.
            # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-considerations.html
            encryption=dynamodb.TableEncryption.DEFAULT,
            removal_policy=RemovalPolicy.RETAIN,
            resource_policy=iam.PolicyDocument.from_json(table_policy(publishers, organization_id, arn)),
        )
        CfnOutput(self, "VerdictTableArn", value=self.table.table_arn)


def verdict_environment(environment: dict[str, str], central: Place, rings: tuple[Ring, ...]) -> None:
    """A member's side, before its function exists: where the table is, who the member is, the rings."""
    environment["RECYCLER_VERDICTS_TABLE"] = verdict_table_arn(central)
    environment["RECYCLER_ACCOUNT_ID"] = Aws.ACCOUNT_ID
    if rings:
        environment["RECYCLER_RINGS"] = rings_json(rings)


def grant_verdicts(role: iam.IRole, central: Place) -> None:
    """The member role's identity grant: the other half of a cross-account allow (the table's policy is
    the first)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ShareOrganizationVerdicts", actions=VERDICT_ACTIONS, resources=[verdict_table_arn(central)]
        )
    )
