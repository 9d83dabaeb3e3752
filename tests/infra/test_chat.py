"""Chat channels (infra/chat.py): synthesized only when recycler:chat is set, read-only guardrail, a
notifications-only channel role, both topics subscribed, recycler's events as custom notifications;
cdk-nag clean (synth raises on a finding) and cfn-lint clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.config import ConfigError
from tests.infra.test_stack import synth

SLACK = {"workspace_id": "T0123ABCD", "channel_id": "C0123ABCD"}
TEAMS = {
    "team_id": "5f2b7a7e-0000-4000-8000-000000000001",
    "channel_id": "19%3aabc%40thread.tacv2",
    "tenant_id": "5f2b7a7e-0000-4000-8000-000000000002",
}
CHATBOT = ("AWS::Chatbot::SlackChannelConfiguration", "AWS::Chatbot::MicrosoftTeamsChannelConfiguration")


@pytest.fixture(scope="module")
def both() -> Template:
    return synth(**{"recycler:chat": {"slack": SLACK, "teams": TEAMS}})


def of(template: Template, kind: str) -> list[dict[str, Any]]:
    found = [r["Properties"] for r in template.find_resources(kind).values()]
    if kind == "AWS::Events::Rule":  # the chat feed's rules, not the publish triggers' (infra/triggers.py)
        found = [r for r in found if r["EventPattern"].get("source") == ["recycler"]]
    return found


def test_nothing_is_synthesized_without_chat_context() -> None:
    template = synth()
    for kind in (*CHATBOT, "AWS::Events::Rule"):
        assert of(template, kind) == []
    assert len(of(template, "AWS::SNS::Topic")) == 1


def test_slack_and_teams_subscribe_to_the_alerts_and_the_feed_with_a_read_only_guardrail(
    both: Template,
) -> None:
    [slack] = of(both, CHATBOT[0])
    [teams] = of(both, CHATBOT[1])
    assert (slack["SlackWorkspaceId"], slack["SlackChannelId"]) == (
        SLACK["workspace_id"],
        SLACK["channel_id"],
    )
    assert (teams["TeamId"], teams["TeamsChannelId"], teams["TeamsTenantId"]) == tuple(TEAMS.values())
    topics = {logical for logical in both.find_resources("AWS::SNS::Topic")}
    for config in (slack, teams):
        assert {ref["Ref"] for ref in config["SnsTopicArns"]} == topics and len(topics) == 2
        assert config["GuardrailPolicies"] == [
            {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/ReadOnlyAccess"]]}
        ]
        assert config["UserRoleRequired"] is False


def test_the_channel_role_only_reads_cloudwatch(both: Template) -> None:
    roles = both.find_resources("AWS::IAM::Role")
    [(logical, role)] = [
        (k, r)
        for k, r in roles.items()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "chatbot.amazonaws.com"}
    ]
    assert "ManagedPolicyArns" not in role["Properties"]
    policies = [
        p for p in of(both, "AWS::IAM::Policy") if any(r["Ref"] == logical for r in p.get("Roles", []))
    ]
    actions = {a for p in policies for s in p["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert actions == {"cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"}


def test_recycler_events_reach_the_feed_as_custom_notifications(both: Template) -> None:
    rules = of(both, "AWS::Events::Rule")
    patterns = sorted(tuple(r["EventPattern"]["detail-type"]) for r in rules)
    assert patterns == [("Recycle Succeeded", "Recycle Failed", "Recycle Skipped"), ("Run Completed",)]
    for rule in rules:
        assert rule["EventPattern"]["source"] == ["recycler"]
        [target] = rule["Targets"]
        template = target["InputTransformer"]["InputTemplate"]
        assert '"version":"1.0"' in template and '"source":"custom"' in template
    # EventBridge may publish to the feed (topic policy) and use its key (key policy).
    policies = json.dumps(of(both, "AWS::SNS::TopicPolicy"))
    assert "events.amazonaws.com" in policies
    keys = json.dumps(of(both, "AWS::KMS::Key"))
    assert "events.amazonaws.com" in keys


def test_slack_alone(tmp_path: Path) -> None:
    template = synth(**{"recycler:chat": json.dumps({"slack": SLACK})})  # as `-c` passes it: a string
    assert len(of(template, CHATBOT[0])) == 1 and of(template, CHATBOT[1]) == []


@pytest.mark.parametrize(
    ("chat", "named"),
    [
        ({"slack": {"workspace_id": "T1"}}, "recycler:chat.slack: needs exactly workspace_id, channel_id"),
        ({"teams": {**TEAMS, "extra": "x"}}, "recycler:chat.teams: needs exactly"),
        ({"discord": {}}, 'an object with "slack" and/or "teams"'),
        ("{not json", "not JSON"),
        ({"teams": {**TEAMS, "channel_id": "19:abc@thread.tacv2"}}, "URL-encode it"),
    ],
)
def test_bad_chat_context_names_the_key(chat: Any, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        synth(**{"recycler:chat": chat})


def test_cfn_lint_finds_no_errors(both: Template, tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(both.to_json()))
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--format",
            "parseable",
            "--ignore-checks",
            "W",
            "I",
            "--",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
