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
MEMBERS = [
    {"account": "111111111111", "region": "eu-west-1"},
    {"account": "111111111111", "region": "us-east-1"},
    {"account": "222222222222", "region": "eu-west-1"},
    {"account": "222222222222", "region": "us-east-1"},
]
CENTRAL = {"account": "999999999999", "region": "eu-central-1"}


def assembly(**overrides: Any) -> cx_api.CloudAssembly:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update({"aws:cdk:bundling-stacks": [], **overrides})
    return build_app(context).synth()  # cdk-nag runs here: any finding in any stack raises


@pytest.fixture(scope="module")
def many() -> cx_api.CloudAssembly:
    return assembly(
        **{
            "recycler:environments": MEMBERS,
            "recycler:central": {**CENTRAL, "sink_arn": "arn:aws:oam:eu-central-1:999999999999:sink/abc"},
            "recycler:alert_emails": ["ops@example.com"],
        }
    )


def of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_one_member_stack_per_environment_and_one_central(many: cx_api.CloudAssembly) -> None:
    names = sorted(s.stack_name for s in many.stacks)
    assert names == sorted([f"Recycler-{m['account']}-{m['region']}" for m in MEMBERS] + ["RecyclerCentral"])
    for member in MEMBERS:
        stack = many.get_stack_by_name(f"Recycler-{member['account']}-{member['region']}")
        assert (stack.environment.account, stack.environment.region) == (member["account"], member["region"])
        assert len(of_type(stack.template, "AWS::Lambda::Function")) == 1
        assert len(of_type(stack.template, "AWS::DynamoDB::Table")) == 1
        assert len(of_type(stack.template, "AWS::Scheduler::Schedule")) == 1


def test_each_member_publishes_to_its_topic_and_the_central_one(many: cx_api.CloudAssembly) -> None:
    central_topic = "arn:aws:sns:eu-central-1:999999999999:recycler-central-alerts"
    for member in MEMBERS:
        template = many.get_stack_by_name(f"Recycler-{member['account']}-{member['region']}").template
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
        assert len(of_type(template, "AWS::Oam::Link")) == 1


def test_central_policies_name_exactly_the_member_roles(many: cx_api.CloudAssembly) -> None:
    template = many.get_stack_by_name("RecyclerCentral").template
    roles = sorted(f"arn:aws:iam::{m['account']}:role/recycler-function-{m['region']}" for m in MEMBERS)
    [topic_policy] = of_type(template, "AWS::SNS::TopicPolicy")
    [publish] = [
        s
        for s in topic_policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "MemberRecyclersPublish"
    ]
    assert sorted(publish["Principal"]["AWS"]) == roles
    [key] = of_type(template, "AWS::KMS::Key")
    [use] = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "MemberRecyclersPublish"
    ]
    assert sorted(use["Principal"]["AWS"]) == roles
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
    ],
)
def test_bad_environment_context_names_the_key(context: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        assembly(**context)


def test_cfn_lint_finds_no_errors_in_any_template(many: cx_api.CloudAssembly, tmp_path: Path) -> None:
    templates = []
    for number, stack in enumerate([*many.stacks, *assembly().stacks]):
        path = tmp_path / f"{number}-{stack.stack_name}.json"
        path.write_text(json.dumps(stack.template))
        templates.append(str(path))
    # Errors only (warnings and informational findings are CDK's idioms, not broken templates).
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--format",
            "parseable",
            "--ignore-checks",
            "W",
            "I",
            "--",
            *templates,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
