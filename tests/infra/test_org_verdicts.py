"""The organization's verdict table (RecyclerVerdicts) and what members get to use it.

The synthesized table and its resource policy are created in the emulated central account, and members
reach it by ARN with STS sessions of their recycler roles (the emulator serves another account's table
only as its resource policy allows: recycler/local/emulator/organization_verdicts.py). Before this
change there was no such table: every assertion on it fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_cdk import cx_api
from botocore.exceptions import ClientError

from infra.config import ConfigError
from recycler.local import emulator
from recycler.local.emulator import policy_is_public
from recycler.local.emulator.organization_verdicts import join_organization
from tests.infra.iam_eval import resolve
from tests.infra.test_many_environments import assembly, of_type
from tests.infra.test_organization import CENTRAL, MANAGEMENT, ORGANIZATION, ORGANIZATION_ID, member

RINGS = [
    {"name": "staging", "accounts": ["111111111111"]},
    {"name": "production", "accounts": ["222222222222"], "soak_hours": 24},
]
MEMBER_ACCOUNT, OUTSIDER = "111111111111", "444444444444"


@pytest.fixture(scope="module")
def org() -> cx_api.CloudAssembly:
    return assembly(
        **{
            "recycler:organization": ORGANIZATION,
            "recycler:environments": [MANAGEMENT],
            "recycler:rings": RINGS,
        }
    )


def verdict_table(org: cx_api.CloudAssembly) -> dict[str, Any]:
    stack = org.get_stack_by_name("RecyclerVerdicts")
    assert (stack.environment.account, stack.environment.region) == (CENTRAL["account"], CENTRAL["region"])
    [table] = of_type(stack.template, "AWS::DynamoDB::Table")
    return dict(table["Properties"])


def resolved_policy(org: cx_api.CloudAssembly) -> dict[str, Any]:
    pseudo = {"AWS::Partition": "aws", "AWS::Region": CENTRAL["region"], "AWS::AccountId": CENTRAL["account"]}
    document: dict[str, Any] = resolve(verdict_table(org)["ResourcePolicy"]["PolicyDocument"], pseudo, {}, {})
    return document


def test_the_central_table_its_keys_and_a_policy_dynamodb_accepts(org: cx_api.CloudAssembly) -> None:
    table = verdict_table(org)
    assert table["TableName"] == "recycler-verdicts"
    assert table.get("SSESpecification", {}).get("SSEEnabled") is not True  # an AWS owned key (see below)
    assert table["KeySchema"] == [
        {"AttributeName": "image", "KeyType": "HASH"},
        {"AttributeName": "record", "KeyType": "RANGE"},
    ]
    policy = resolved_policy(org)
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"}
    # DynamoDB's Block Public Access refuses Principal "*" unless a trusted key with a fixed value limits it
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-bpa-rbp.html); S3's rule,
    # which the emulator knows, is the same for these statements.
    assert not policy_is_public(policy)
    org_statement = next(s for s in policy["Statement"] if s["Principal"] == "*")
    assert org_statement["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": ORGANIZATION_ID}


def test_members_get_the_table_arn_their_account_the_rings_and_three_actions(
    org: cx_api.CloudAssembly,
) -> None:
    template = member(org)
    [function] = [
        f for f in of_type(template, "AWS::Lambda::Function") if "RECYCLER_VERDICTS_TABLE" in json.dumps(f)
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    table = resolve(variables["RECYCLER_VERDICTS_TABLE"], {"AWS::Partition": "aws"}, {}, {})
    assert table == f"arn:aws:dynamodb:{CENTRAL['region']}:{CENTRAL['account']}:table/recycler-verdicts"
    assert variables["RECYCLER_ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}
    assert [r["name"] for r in json.loads(variables["RECYCLER_RINGS"])] == ["staging", "production"]
    statements = [
        s
        for p in of_type(template, "AWS::IAM::Policy")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "ShareOrganizationVerdicts"
    ]
    [grant] = statements
    assert sorted(grant["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]


def session_of(account: str, role: str) -> boto3.Session:
    creds = boto3.client("sts", region_name=CENTRAL["region"]).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="test"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=CENTRAL["region"],
    )


def sse_as_the_api_takes_it(spec: dict[str, Any] | None) -> dict[str, Any]:
    """CloudFormation's SSESpecification (SSEEnabled, SSEType, KMSMasterKeyId) as CreateTable's."""
    if spec is None:
        return {}
    api = {"Enabled": spec.get("SSEEnabled", False)}
    api |= {k: spec[k] for k in ("SSEType", "KMSMasterKeyId") if k in spec}
    return {"SSESpecification": api}


@pytest.fixture
def deployed(org: cx_api.CloudAssembly) -> Iterator[str]:
    """The synthesized table and policy, created in the emulated central account; its ARN."""
    from moto import mock_aws

    emulator.install()
    emulator.reset()
    with mock_aws():
        table = verdict_table(org)
        central = session_of(CENTRAL["account"], "admin").client("dynamodb")
        arn = central.create_table(
            TableName=table["TableName"],
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
            **sse_as_the_api_takes_it(table.get("SSESpecification")),
        )["TableDescription"]["TableArn"]
        central.put_resource_policy(ResourceArn=arn, Policy=json.dumps(resolved_policy(org)))
        join_organization(ORGANIZATION_ID, [CENTRAL["account"], MEMBER_ACCOUNT])
        yield arn
    emulator.reset()


def put(session: boto3.Session, arn: str) -> None:
    session.client("dynamodb").put_item(
        TableName=arn, Item={"image": {"S": "eu-west-1/ami-1"}, "record": {"S": "x"}}
    )


def test_the_organizations_recycler_roles_and_no_one_else_use_the_table(deployed: str) -> None:
    recycler = session_of(MEMBER_ACCOUNT, "recycler-function-eu-west-1")
    put(recycler, deployed)
    found = recycler.client("dynamodb").query(
        TableName=deployed,
        KeyConditionExpression="image = :k",
        ExpressionAttributeValues={":k": {"S": "eu-west-1/ami-1"}},
    )["Items"]
    assert len(found) == 1
    with pytest.raises(ClientError, match="AccessDenied"):  # not one of the three actions
        recycler.client("dynamodb").delete_item(
            TableName=deployed, Key={"image": {"S": "eu-west-1/ami-1"}, "record": {"S": "x"}}
        )
    with pytest.raises(ClientError, match="AccessDenied"):  # another role of a member account
        put(session_of(MEMBER_ACCOUNT, "developer"), deployed)
    with pytest.raises(ClientError, match="AccessDenied"):  # a recycler outside the organization
        put(session_of(OUTSIDER, "recycler-function-eu-west-1"), deployed)


@pytest.mark.parametrize(
    ("rings", "named"),
    [
        ([{"name": "staging", "accounts": ["1"]}], r"recycler:rings\[0\]\.accounts: a list of 12-digit"),
        (
            [
                {"name": "a", "accounts": ["111111111111"]},
                {"name": "b", "accounts": ["111111111111"], "soak": 1},
            ],
            r"recycler:rings\[1\]\.soak: unknown key",
        ),
        (
            [{"name": "a", "accounts": ["111111111111"], "soak_hours": -1}],
            r"recycler:rings\[0\]\.soak_hours: hours from 0",
        ),
        (
            [
                {"name": "a", "accounts": ["111111111111"]},
                {"name": "b", "accounts": ["222222222222"], "soak_hours": 2161},
            ],
            r"^recycler:rings\[1\]\.soak_hours: hours from 0 to 2160 \(90 days\), e\.g\. 24$",
        ),
        (
            [{"name": "a", "organizational_units": ["ou-ab12-33333333"]}],
            r"recycler:rings\[0\]\.organizational_units: ou-ab12-33333333 is not in recycler:organization",
        ),
        (
            [
                {"name": "a", "organizational_units": ["ou-ab12-11111111"]},
                {"name": "b", "organizational_units": ["ou-ab12-11111111"]},
            ],
            r"recycler:rings\[1\]\.organizational_units: ou-ab12-11111111 is already in ring 'a'",
        ),
        ({"name": "a"}, r"recycler:rings: an ordered list"),
    ],
)
def test_bad_rings_name_the_field_and_the_fix(rings: Any, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        assembly(**{"recycler:organization": ORGANIZATION, "recycler:rings": rings})


def test_rings_need_a_central_account() -> None:
    with pytest.raises(ConfigError, match=r"recycler:rings needs recycler:central"):
        assembly(**{"recycler:rings": RINGS})


def test_a_table_on_the_aws_managed_key_is_refused_across_accounts(deployed: str) -> None:
    """What the ledger uses (TableEncryption.AWS_MANAGED) would lock every member out: DynamoDB does not
    support cross-account access to such a table (rbac-considerations.html). The verdict table is on an
    AWS owned key (no SSESpecification: the test above created it as synthesized)."""
    central = session_of(CENTRAL["account"], "admin").client("dynamodb")
    arn = central.create_table(
        TableName="on-the-managed-key",
        KeySchema=[
            {"AttributeName": "image", "KeyType": "HASH"},
            {"AttributeName": "record", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "image", "AttributeType": "S"},
            {"AttributeName": "record", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS"},
    )["TableDescription"]["TableArn"]
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["dynamodb:PutItem"],
                    "Resource": arn,
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID}},
                }
            ],
        }
    )
    central.put_resource_policy(ResourceArn=arn, Policy=policy)
    with pytest.raises(ClientError, match="AWS managed key"):
        put(session_of(MEMBER_ACCOUNT, "recycler-function-eu-west-1"), arn)
