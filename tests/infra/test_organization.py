"""recycler:organization: the member stack as one service-managed StackSet over OUs and regions, its
code in a bucket per target region, reporting to a central account that names no member role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import cx_api
from botocore.exceptions import ClientError

from infra.config import ConfigError
from recycler.local import emulator
from recycler.local.emulator import EmulatedOrganization, policy_is_public
from tests.infra.iam_eval import Request, Statement, evaluate, resolve
from tests.infra.test_many_environments import assembly, cfn_lint_errors, of_type

UNITS = ["ou-ab12-11111111", "ou-ab12-22222222"]
REGIONS = ["eu-west-1", "us-east-1", "ap-southeast-2"]
CENTRAL = {"account": "999999999999", "region": "eu-central-1"}
SINK = "arn:aws:oam:eu-west-1:999999999999:sink/eu-west-1-sink"
ORGANIZATION_ID = "o-a1b2c3d4e5"
ORGANIZATION = {
    "organization_id": ORGANIZATION_ID,
    "organizational_units": UNITS,
    "regions": REGIONS,
    "central": {**CENTRAL, "sink_arns": [SINK]},
}
# The management account is no StackSet target (AWS rule): it gets a normal stack.
MANAGEMENT = {"account": "123456789012", "region": "eu-west-1"}
PREFIX = "recycler-assets-999999999999"


@pytest.fixture(scope="module")
def org() -> cx_api.CloudAssembly:
    return assembly(**{"recycler:organization": ORGANIZATION, "recycler:environments": [MANAGEMENT]})


def stack_set(org: cx_api.CloudAssembly) -> dict[str, Any]:
    [resource] = of_type(
        org.get_stack_by_name("RecyclerOrganization").template, "AWS::CloudFormation::StackSet"
    )
    properties: dict[str, Any] = resource["Properties"]
    return properties


def member(org: cx_api.CloudAssembly) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(stack_set(org)["TemplateBody"])
    return body


def test_the_stacks_an_organization_deploys(org: cx_api.CloudAssembly) -> None:
    names = sorted(s.stack_name for s in org.stacks)
    assert names == sorted(
        [
            "RecyclerOrganization",
            "RecyclerCentral",
            "RecyclerVerdicts",
            f"Recycler-{MANAGEMENT['account']}-{MANAGEMENT['region']}",
        ]
        + [f"RecyclerAssets-{r}" for r in REGIONS]
        + [f"RecyclerSink-{r}" for r in REGIONS]
    )
    administrator = org.get_stack_by_name("RecyclerOrganization")
    assert (administrator.environment.account, administrator.environment.region) == (
        CENTRAL["account"],
        CENTRAL["region"],
    )
    # The StackSet waits for every region's code: a stack instance reads it when it creates the function.
    stacks = sorted(d.id for d in administrator.dependencies if not d.id.endswith(".assets"))
    assert stacks == sorted(f"RecyclerAssets-{r}" for r in REGIONS)


def test_a_service_managed_stack_set_over_the_ous_that_rolls_out_one_account_at_a_time(
    org: cx_api.CloudAssembly,
) -> None:
    """Before: recycler:organization was an unknown context key (synth refused it)."""
    properties = stack_set(org)
    assert properties["PermissionModel"] == "SERVICE_MANAGED"
    assert properties["CallAs"] == "DELEGATED_ADMIN"
    assert properties["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert properties["OperationPreferences"] == {
        "RegionConcurrencyType": "SEQUENTIAL",
        "RegionOrder": REGIONS,
        "FailureToleranceCount": 0,
        "MaxConcurrentCount": 1,
    }
    assert properties["StackInstancesGroup"] == [
        {"DeploymentTargets": {"OrganizationalUnitIds": UNITS}, "Regions": REGIONS}
    ]
    assert properties["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert properties["Parameters"] == [{"ParameterKey": "KillSwitchValue", "ParameterValue": "off"}]
    assert len(properties["TemplateBody"].encode()) <= 51_200


def test_the_member_template_needs_no_bootstrap_in_member_accounts(org: cx_api.CloudAssembly) -> None:
    """No asset parameters, no BootstrapVersion parameter or rule: a StackSet instance has no CDK
    bootstrap stack to read. The code is read from the region's asset bucket under the same key the
    RecyclerAssets stack of that region uploads."""
    template = member(org)
    assert set(template.get("Parameters", {})) == {"KillSwitchValue"}
    assert "Rules" not in template
    assert "cdk-hnb659fds" not in json.dumps(template)
    [function] = of_type(template, "AWS::Lambda::Function")
    code = function["Properties"]["Code"]
    assert code["S3Bucket"] == {"Fn::Sub": f"{PREFIX}-${{AWS::Region}}"}
    for region in REGIONS:
        assets = org.get_stack_by_name(f"RecyclerAssets-{region}").template
        [bucket] = of_type(assets, "AWS::S3::Bucket")
        assert bucket["Properties"]["BucketName"] == f"{PREFIX}-{region}"
        assert bucket["DeletionPolicy"] == "Retain"
        [upload] = of_type(assets, "Custom::CDKBucketDeployment")
        assert upload["Properties"]["SourceObjectKeys"] == [code["S3Key"]]
        assert upload["Properties"]["Extract"] is False and upload["Properties"]["Prune"] is False
        [policy] = of_type(assets, "AWS::S3::BucketPolicy")
        [read] = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s.get("Sid") == "OrganizationReadsRecyclerCode"
        ]
        assert read["Action"] == "s3:GetObject" and read["Principal"] == {"AWS": "*"}
        assert read["Condition"] == {
            "StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID},
            "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [f"o-*/*/{unit}/*" for unit in UNITS]},
        }


def test_the_member_keeps_its_ledger_when_an_account_leaves(org: cx_api.CloudAssembly) -> None:
    """RetainStacksOnAccountRemoval false deletes the stack instance of an account that leaves an OU;
    the ledger table (its history and claims) is DeletionPolicy Retain, so it stays."""
    [table] = of_type(member(org), "AWS::DynamoDB::Table")
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"


def test_the_member_role_name_and_its_region_s_sink(org: cx_api.CloudAssembly) -> None:
    """One template for every region: the role name carries the region (IAM names are global per
    account), and the link is made only where that region's sink is known, never to another region's."""
    template = member(org)
    [role] = [r for r in of_type(template, "AWS::IAM::Role") if r["Properties"].get("RoleName")]
    assert role["Properties"]["RoleName"] == {
        "Fn::Join": ["", ["recycler-function-", {"Ref": "AWS::Region"}]]
    }
    assert template["Mappings"]["MetricsSinks"] == {
        "eu-west-1": {"Arn": SINK},
        "us-east-1": {"Arn": ""},
        "ap-southeast-2": {"Arn": ""},
    }
    [link] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Oam::Link"]
    assert link["Condition"] == "HasMetricsSink"
    sink_here = {"Fn::FindInMap": ["MetricsSinks", {"Ref": "AWS::Region"}, "Arn"]}
    assert template["Conditions"]["HasMetricsSink"] == {
        "Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [sink_here, ""]}]},
            # the central account, if in a target OU, does not link to its own sink
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::AccountId"}, CENTRAL["account"]]}]},
        ]
    }
    assert link["Properties"]["SinkIdentifier"] == {
        "Fn::FindInMap": ["MetricsSinks", {"Ref": "AWS::Region"}, "Arn"]
    }


def test_central_policies_grant_the_ous_and_the_listed_accounts_never_a_role(
    org: cx_api.CloudAssembly,
) -> None:
    template = org.get_stack_by_name("RecyclerCentral").template
    [topic_policy] = of_type(template, "AWS::SNS::TopicPolicy")
    [key] = of_type(template, "AWS::KMS::Key")
    any_recycler_role = {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::*:role/recycler-function-*"]]
    }
    for document in (topic_policy["Properties"]["PolicyDocument"], key["Properties"]["KeyPolicy"]):
        [grant] = [s for s in document["Statement"] if s.get("Sid") == "MemberRecyclersPublishOrganization"]
        assert grant["Principal"] == {"AWS": "*"}
        assert grant["Condition"] == {
            "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [f"o-*/*/{unit}/*" for unit in UNITS]},
            "ArnLike": {"aws:PrincipalArn": any_recycler_role},
        }
        [management] = [s for s in document["Statement"] if s.get("Sid") == "MemberRecyclersPublishAccounts"]
        assert management["Principal"] == {
            "AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::123456789012:root"]]}
        }
        assert ":role/" not in json.dumps([s.get("Principal") for s in document["Statement"]])
    for region in REGIONS:
        [sink] = of_type(org.get_stack_by_name(f"RecyclerSink-{region}").template, "AWS::Oam::Sink")
        statements = sink["Properties"]["Policy"]["Statement"]
        assert [s["Principal"] for s in statements] == [{"AWS": ["123456789012"]}, "*"]
        assert statements[1]["Condition"]["ForAnyValue:StringLike"] == {
            "aws:PrincipalOrgPaths": [f"o-*/*/{unit}/*" for unit in UNITS]
        }


def test_the_management_account_gets_a_normal_stack_reporting_to_the_same_central(
    org: cx_api.CloudAssembly,
) -> None:
    template = org.get_stack_by_name(f"Recycler-{MANAGEMENT['account']}-{MANAGEMENT['region']}").template
    [function] = of_type(template, "AWS::Lambda::Function")
    assert "recycler-central-alerts" in json.dumps(function["Properties"]["Environment"]["Variables"])
    [link] = of_type(template, "AWS::Oam::Link")
    assert link["Properties"]["SinkIdentifier"] == SINK


def test_every_organization_template_is_cfn_lint_clean(org: cx_api.CloudAssembly, tmp_path: Path) -> None:
    templates = [(s.stack_name, s.template) for s in org.stacks] + [("member", member(org))]
    assert cfn_lint_errors(templates, tmp_path) == ""


def test_no_arn_names_the_aws_partition_in_govcloud(tmp_path: Path) -> None:
    """StackSets with Organizations run in GovCloud (not in the China regions, where trusted access
    cannot be activated: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-prereqs.html)."""
    gov = assembly(
        **{
            "recycler:organization": {
                "organization_id": ORGANIZATION_ID,
                "organizational_units": ["r-ab12"],
                "regions": ["us-gov-west-1", "us-gov-east-1"],
                "central": {"account": "999999999999", "region": "us-gov-west-1"},
                "call_as": "SELF",
            }
        }
    )
    templates = [(s.stack_name, s.template) for s in gov.stacks]
    [properties] = [
        r["Properties"]
        for _, t in templates
        for r in t["Resources"].values()
        if r["Type"] == "AWS::CloudFormation::StackSet"
    ]
    templates.append(("member", json.loads(properties["TemplateBody"])))
    for name, template in templates:
        assert "arn:aws:" not in json.dumps(template), name
    assert properties["StackInstancesGroup"][0]["DeploymentTargets"] == {"OrganizationalUnitIds": ["r-ab12"]}
    assert cfn_lint_errors(templates, tmp_path) == ""


@pytest.mark.parametrize(
    ("organization", "named"),
    [
        (
            {**ORGANIZATION, "organizational_units": ["ou-nope"]},
            r"organizational_units: 'ou-nope' is not an OU id",
        ),
        (
            {**ORGANIZATION, "organizational_units": []},
            r"recycler:organization\.organizational_units: a list",
        ),
        (
            {**ORGANIZATION, "regions": ["Ireland"]},
            r"recycler:organization\.regions: 'Ireland' is not a region",
        ),
        ({**ORGANIZATION, "regions": ["eu-west-1", "eu-west-1"]}, r"regions: list each region once"),
        ({k: v for k, v in ORGANIZATION.items() if k != "central"}, r"recycler:organization\.central"),
        (
            {**ORGANIZATION, "central": {"account": "1", "region": "eu-west-1"}},
            r"organization\.central.*12-digit",
        ),
        ({**ORGANIZATION, "call_as": "ADMIN"}, r"call_as='ADMIN'"),
        ({**ORGANIZATION, "kill_switch": "yes"}, r"kill_switch='yes'"),
        ({**ORGANIZATION, "ou": ["ou-ab12-11111111"]}, r"recycler:organization\.ou: unknown key"),
        (
            {k: v for k, v in ORGANIZATION.items() if k != "organization_id"},
            r"recycler:organization\.organization_id='': name the organization's id \(o-",
        ),
        ({**ORGANIZATION, "organization_id": "o-*"}, r"organization_id='o-\*': name"),
    ],
)
def test_bad_organization_context_names_the_key(organization: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        assembly(**{"recycler:organization": organization})


def test_the_central_place_is_given_once() -> None:
    with pytest.raises(ConfigError, match=r"recycler:central: with recycler:organization"):
        assembly(**{"recycler:organization": ORGANIZATION, "recycler:central": CENTRAL})


# ---- the code buckets on S3's Block Public Access (the emulator teaches moto S3's rule) ------------------

MEMBER = "arn:aws:iam::111111111111:role/stacksets-exec-0123456789abcdef"  # a StackSet's execution role
NESTED_MEMBER = "arn:aws:iam::222222222222:role/stacksets-exec-0123456789abcdef"
OUTSIDE_THE_OUS = "arn:aws:iam::333333333333:role/stacksets-exec-0123456789abcdef"
OUTSIDE_THE_ORGANIZATION = "arn:aws:iam::444444444444:role/stacksets-exec-0123456789abcdef"
EMULATED = EmulatedOrganization(
    ORGANIZATION_ID,
    "r-ab12",
    {
        "111111111111": (UNITS[0],),
        "222222222222": ("ou-ab12-99999999", UNITS[1]),  # an OU nested in another
        "333333333333": ("ou-ab12-99999999",),
    },
)


def asset_bucket(org: cx_api.CloudAssembly, region: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The bucket's name, Block Public Access settings and policy, as CloudFormation would create them."""
    template = org.get_stack_by_name(f"RecyclerAssets-{region}").template
    [(logical, bucket)] = [(k, r) for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"]
    name = bucket["Properties"]["BucketName"]
    [policy] = of_type(template, "AWS::S3::BucketPolicy")
    document = resolve(
        policy["Properties"]["PolicyDocument"],
        {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": CENTRAL["account"]},
        {logical: name},
        {f"{logical}.Arn": f"arn:aws:s3:::{name}"},
    )
    return name, bucket["Properties"]["PublicAccessBlockConfiguration"], document


@pytest.fixture
def s3() -> Iterator[Any]:
    from moto import mock_aws

    emulator.install()
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


def create(s3: Any, name: str, block: dict[str, Any], document: dict[str, Any]) -> None:
    """CreateBucket, PutPublicAccessBlock, PutBucketPolicy: the order CloudFormation follows (the
    policy is its own resource, created after the bucket with its settings)."""
    s3.create_bucket(Bucket=name)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(document))


def test_s3_accepts_the_code_buckets_policy_with_block_public_access_on(
    org: cx_api.CloudAssembly, s3: Any
) -> None:
    """Before: the read statement was limited by aws:PrincipalOrgPaths patterns only, a public policy
    by S3's rule, and PutBucketPolicy was refused (AccessDenied): the assets stacks failed, the StackSet
    never deployed."""
    for region in REGIONS:
        name, block, document = asset_bucket(org, region)
        assert block == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        create(s3, name, block, document)
        assert s3.get_bucket_policy_status(Bucket=name)["PolicyStatus"]["IsPublic"] is False
        assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) == document


def test_s3_refuses_a_policy_for_everyone_limited_only_by_patterns(
    org: cx_api.CloudAssembly, s3: Any
) -> None:
    name, block, document = asset_bucket(org, REGIONS[0])
    for statement in document["Statement"]:
        statement.get("Condition", {}).pop("StringEquals", None)  # only the OU path patterns are left
    with pytest.raises(ClientError, match="AccessDenied"):
        create(s3, name, block, document)


def may_read(s3: Any, bucket: str, key: str, principal_arn: str) -> bool:
    """GetObject across accounts as S3 decides it: the bucket policy (held by the emulator) must allow
    the principal, and with RestrictPublicBuckets a public policy lets no other account in. (The caller's
    own identity policy allows it: the StackSet execution role has AdministratorAccess.)"""
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    if block["RestrictPublicBuckets"] and policy_is_public(policy):
        return principal_arn.split(":")[4] == CENTRAL["account"]
    account = principal_arn.split(":")[4]
    statements = []
    for raw in policy["Statement"]:
        named = raw["Principal"]["AWS"] if isinstance(raw["Principal"], dict) else raw["Principal"]
        named = named if isinstance(named, list) else [named]
        if "*" not in named and not any(f":{account}:" in n or n == account for n in named):
            continue
        statements.append(
            Statement(
                label=raw.get("Sid", ""),
                effect=raw["Effect"],
                actions=tuple(raw["Action"] if isinstance(raw["Action"], list) else [raw["Action"]]),
                not_actions=False,
                resources=tuple(raw["Resource"] if isinstance(raw["Resource"], list) else [raw["Resource"]]),
                not_resources=False,
                conditions={
                    op: {k: tuple(v if isinstance(v, list) else [v]) for k, v in keys.items()}
                    for op, keys in raw.get("Condition", {}).items()
                },
            )
        )
    context = {**EMULATED.principal_context(principal_arn), "aws:securetransport": ("true",)}
    return evaluate(statements, Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", context)).allowed


def test_member_accounts_read_the_code_and_no_one_else(org: cx_api.CloudAssembly, s3: Any) -> None:
    """A member of the target OUs (nested ones too) reads the zip its stack instance names; an account
    of the organization outside the OUs and an account outside the organization do not."""
    name, block, document = asset_bucket(org, REGIONS[0])
    create(s3, name, block, document)
    [function] = of_type(member(org), "AWS::Lambda::Function")
    key = function["Properties"]["Code"]["S3Key"]
    assert may_read(s3, name, key, MEMBER)
    assert may_read(s3, name, key, NESTED_MEMBER)
    assert not may_read(s3, name, key, OUTSIDE_THE_OUS)
    assert not may_read(s3, name, key, OUTSIDE_THE_ORGANIZATION)
