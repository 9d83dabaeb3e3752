"""Organization scale: one stack per account and region, a central topic and dashboard they report to,
cdk-nag clean and cfn-lint clean for every synthesized template."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import cx_api

from infra.config import ConfigError
from infra.stack import build_app

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
# Members in three regions, the central account in a fourth: OAM links accounts within one Region, so no
# member may link to another region's sink, and every member region must still deploy.
MEMBERS = [
    {"account": "111111111111", "region": "eu-west-1"},
    {"account": "111111111111", "region": "us-east-1"},
    {"account": "222222222222", "region": "eu-west-1"},
    {"account": "222222222222", "region": "ap-southeast-2"},
]
CENTRAL = {"account": "999999999999", "region": "eu-central-1"}
# The sinks known so far: the central region's and two member regions' (ap-southeast-2's not yet).
SINKS = {
    region: f"arn:aws:oam:{region}:999999999999:sink/{region}-sink"
    for region in ("eu-central-1", "eu-west-1", "us-east-1")
}
MEMBER_REGIONS = sorted({m["region"] for m in MEMBERS})


def assembly(**overrides: Any) -> cx_api.CloudAssembly:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update({"aws:cdk:bundling-stacks": [], **overrides})
    return build_app(context).synth()  # cdk-nag runs here: any finding in any stack raises


@pytest.fixture(scope="module")
def many() -> cx_api.CloudAssembly:
    return assembly(
        **{
            "recycler:environments": MEMBERS,
            "recycler:central": {**CENTRAL, "sink_arns": list(SINKS.values())},
            "recycler:alert_emails": ["ops@example.com"],
        }
    )


def of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def member_stack(many: cx_api.CloudAssembly, member: dict[str, str]) -> dict[str, Any]:
    template: dict[str, Any] = many.get_stack_by_name(
        f"Recycler-{member['account']}-{member['region']}"
    ).template
    return template


def test_one_member_stack_per_environment_one_central_and_a_sink_per_member_region(
    many: cx_api.CloudAssembly,
) -> None:
    names = sorted(s.stack_name for s in many.stacks)
    assert names == sorted(
        [f"Recycler-{m['account']}-{m['region']}" for m in MEMBERS]
        + ["RecyclerCentral", "RecyclerVerdicts"]
        + [f"RecyclerSink-{region}" for region in MEMBER_REGIONS]
    )
    for member in MEMBERS:
        stack = many.get_stack_by_name(f"Recycler-{member['account']}-{member['region']}")
        assert (stack.environment.account, stack.environment.region) == (member["account"], member["region"])
        assert len(of_type(stack.template, "AWS::Lambda::Function")) == 1
        assert len(of_type(stack.template, "AWS::DynamoDB::Table")) == 1
        assert len(of_type(stack.template, "AWS::Scheduler::Schedule")) == 1
    # Every member region has a sink of the central account in that region (the central region's is
    # in RecyclerCentral), each letting the member accounts link.
    for region in MEMBER_REGIONS:
        stack = many.get_stack_by_name(f"RecyclerSink-{region}")
        assert (stack.environment.account, stack.environment.region) == (CENTRAL["account"], region)
        [sink] = of_type(stack.template, "AWS::Oam::Sink")
        assert sink["Properties"]["Policy"]["Statement"][0]["Principal"]["AWS"] == [
            "111111111111",
            "222222222222",
        ]


def test_a_member_links_only_to_the_sink_in_its_own_region(many: cx_api.CloudAssembly) -> None:
    """OAM links accounts within one Region: a link to the central region's sink from eu-west-1 fails
    the deploy. Before: every member linked to the one sink_arn, whatever its region."""
    for member in MEMBERS:
        links = of_type(member_stack(many, member), "AWS::Oam::Link")
        expected = SINKS.get(member["region"])
        assert [link["Properties"]["SinkIdentifier"] for link in links] == ([expected] if expected else [])


def test_each_member_publishes_to_its_topic_and_the_central_one(many: cx_api.CloudAssembly) -> None:
    central_topic = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":sns:eu-central-1:999999999999:recycler-central-alerts"],
        ]
    }
    for member in MEMBERS:
        template = member_stack(many, member)
        [function] = of_type(template, "AWS::Lambda::Function")
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["RECYCLER_CENTRAL_TOPIC_ARN"] == central_topic and "RECYCLER_TOPIC_ARN" in variables
        statements = [
            s
            for p in of_type(template, "AWS::IAM::Policy")
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert any(s.get("Resource") == central_topic and s["Action"] == "sns:Publish" for s in statements)
        [role] = [r for r in of_type(template, "AWS::IAM::Role") if r["Properties"].get("RoleName")]
        assert role["Properties"]["RoleName"] == f"recycler-function-{member['region']}"


def role_arn(account: str, region: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, f":iam::{account}:role/recycler-function-{region}"],
        ]
    }


def account_root(account: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{account}:root"]]}


def test_central_policies_name_accounts_and_match_the_member_roles_by_arn(many: cx_api.CloudAssembly) -> None:
    """No role is a principal: KMS refuses a key policy whose principal does not exist yet (the central
    stack could not deploy before its members), and a policy naming a role keeps that role's unique id
    (a member redeployed could no longer publish). The accounts are the principals; aws:PrincipalArn,
    a string, picks their recycler roles. Before: Principal.AWS was the list of role ARNs."""
    template = many.get_stack_by_name("RecyclerCentral").template
    roles = sorted((role_arn(m["account"], m["region"]) for m in MEMBERS), key=json.dumps)
    accounts = [account_root("111111111111"), account_root("222222222222")]
    [topic_policy] = of_type(template, "AWS::SNS::TopicPolicy")
    [key] = of_type(template, "AWS::KMS::Key")
    for document in (topic_policy["Properties"]["PolicyDocument"], key["Properties"]["KeyPolicy"]):
        [grant] = [s for s in document["Statement"] if s.get("Sid") == "MemberRecyclersPublishAccounts"]
        assert sorted(grant["Principal"]["AWS"], key=json.dumps) == sorted(accounts, key=json.dumps)
        assert sorted(grant["Condition"]["ArnLike"]["aws:PrincipalArn"], key=json.dumps) == roles
        for statement in document["Statement"]:
            principals = statement.get("Principal", {})
            named = principals.get("AWS", []) if isinstance(principals, dict) else []
            for principal in named if isinstance(named, list) else [named]:
                assert ":role/" not in json.dumps(principal), statement
    [sink] = of_type(template, "AWS::Oam::Sink")
    assert sorted(sink["Properties"]["Policy"]["Statement"][0]["Principal"]["AWS"]) == [
        "111111111111",
        "222222222222",
    ]
    assert len(of_type(template, "AWS::SNS::Subscription")) == 1


def test_no_alarm_publishes_to_the_central_topic_without_an_allow(many: cx_api.CloudAssembly) -> None:
    """The central topic's policy names the member roles only: an alarm action aimed at it would be
    refused (a topic policy replaces SNS's default one), unless CloudWatch is allowed too."""
    template = many.get_stack_by_name("RecyclerCentral").template
    [topic_policy] = of_type(template, "AWS::SNS::TopicPolicy")
    principals = [s.get("Principal") for s in topic_policy["Properties"]["PolicyDocument"]["Statement"]]
    if {"Service": "cloudwatch.amazonaws.com"} not in principals:
        assert of_type(template, "AWS::CloudWatch::Alarm") == []


def test_the_central_dashboard_shows_every_member_environment(many: cx_api.CloudAssembly) -> None:
    template = many.get_stack_by_name("RecyclerCentral").template
    [dashboard] = of_type(template, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for member in MEMBERS:
        assert f"{member['account']} {member['region']}: recycled and failed per day" in body
        assert (
            f'\\"accountId\\":\\"{member["account"]}\\"' in body
            and f'\\"region\\":\\"{member["region"]}\\"' in body
        )


def test_without_environments_the_single_stack_is_unchanged() -> None:
    single = assembly()
    assert [s.stack_name for s in single.stacks] == ["Recycler"]
    [function] = of_type(single.get_stack_by_name("Recycler").template, "AWS::Lambda::Function")
    assert "RECYCLER_CENTRAL_TOPIC_ARN" not in function["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"recycler:environments": [{"account": "12", "region": "eu-west-1"}]}, "12-digit"),
        ({"recycler:environments": [MEMBERS[0], MEMBERS[0]]}, "each account and region once"),
        ({"recycler:central": CENTRAL}, "recycler:central needs recycler:environments"),
        (
            {
                "recycler:environments": MEMBERS,
                "recycler:central": {**CENTRAL, "sink_arns": ["arn:aws:oam:x"]},
            },
            "recycler:central.sink_arns: 'arn:aws:oam:x' is not an OAM sink ARN",
        ),
        (
            {
                "recycler:environments": MEMBERS,
                "recycler:central": {**CENTRAL, "sink_arns": ["arn:aws:oam:eu-west-1:123456789012:sink/a"]},
            },
            "not an OAM sink ARN of account 999999999999",
        ),
        (
            # An account has one OAM sink per Region: a second one there would be a stack that fails to
            # deploy ("An account can have one sink", in each Region: AWS::Oam::Sink,
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-oam-sink.html)
            {
                "recycler:environments": MEMBERS,
                "recycler:central": {
                    **CENTRAL,
                    "sink_arns": [SINKS["eu-west-1"], "arn:aws:oam:eu-west-1:999999999999:sink/another"],
                },
            },
            r"recycler:central.sink_arns: one sink per region",
        ),
    ],
)
def test_bad_environment_context_names_the_key(context: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        assembly(**context)


def cfn_lint_errors(templates: list[tuple[str, dict[str, Any]]], directory: Path) -> str:
    """cfn-lint's errors over these templates ("" when clean); warnings and informational findings are
    CDK's idioms, not broken templates."""
    paths = []
    for number, (name, template) in enumerate(templates):
        path = directory / f"{number}-{name}.json"
        path.write_text(json.dumps(template))
        paths.append(str(path))
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--format",
            "parseable",
            "--ignore-checks",
            "W",
            "I",
            "--",
            *paths,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


def test_cfn_lint_finds_no_errors_in_any_template(many: cx_api.CloudAssembly, tmp_path: Path) -> None:
    stacks = [*many.stacks, *assembly().stacks]
    assert cfn_lint_errors([(s.stack_name, s.template) for s in stacks], tmp_path) == ""


def test_no_arn_names_the_aws_partition_in_china(tmp_path: Path) -> None:
    """ARNs are built with AWS::Partition: in aws-cn (cn-north-1) an arn:aws: literal names resources
    that do not exist there (and IAM refuses a policy naming another partition's ARNs).
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
    Before: the central topic, key and member-role ARNs were spelt arn:aws:."""
    china = assembly(
        **{
            "recycler:environments": [
                {"account": "111111111111", "region": "cn-north-1"},
                {"account": "222222222222", "region": "cn-northwest-1"},
            ],
            "recycler:central": {
                "account": "999999999999",
                "region": "cn-north-1",
                "sink_arns": ["arn:aws-cn:oam:cn-north-1:999999999999:sink/china"],
            },
        }
    )
    for stack in china.stacks:
        assert "arn:aws:" not in json.dumps(stack.template), stack.stack_name
    assert (
        len(china.stacks) == 5
    )  # two members, RecyclerCentral, RecyclerVerdicts, RecyclerSink-cn-northwest-1
    assert cfn_lint_errors([(s.stack_name, s.template) for s in china.stacks], tmp_path) == ""
