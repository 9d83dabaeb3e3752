"""Chat channels (infra/chat.py): synthesized only when recycler:chat is set, read-only guardrail, a
notifications-only channel role, both topics subscribed, recycler's events as custom notifications;
cdk-nag clean (synth raises on a finding) and cfn-lint clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template

from infra.config import ConfigError
from recycler.aws.events import Events
from recycler.local import emulator
from recycler.report import GroupReport, RunReport
from recycler.workflow.events import run_events
from tests.infra.test_many_environments import assembly
from tests.infra.test_organization import ORGANIZATION
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
        # The message is the event's own detail.chat, delivered as it is (no input template).
        assert target["InputPath"] == "$.detail.chat" and "InputTransformer" not in target
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


# An AWS error text as a failure's detail carries it: quotes, a backslash, a newline.
DETAIL = 'Launching a new EC2 instance failed. Status Reason: The image id "ami-0bad" is not valid \\ retry.\nAt 2026-12-06'


def test_a_failure_with_quotes_and_newlines_reaches_the_chat_feed_as_json(both: Template) -> None:
    """The feed rules as synthesized, on the emulator's EventBridge (input transformers substitute plain
    text, unescaped, as AWS does), deliver to an SNS topic whose subscriber reads what Chatbot would.
    Before: the template put <$.detail.detail> inside a quoted string, and the message was not JSON."""
    from moto import mock_aws

    emulator.install()
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        sns, sqs, bus = session.client("sns"), session.client("sqs"), session.client("events")
        topic = sns.create_topic(Name="feed")["TopicArn"]
        queue = sqs.create_queue(QueueName="chatbot")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue_arn["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        for number, rule in enumerate(of(both, "AWS::Events::Rule")):
            [target] = rule["Targets"]
            shaped = {k: v for k, v in target.items() if k in ("InputTransformer", "InputPath", "Input")}
            bus.put_rule(Name=f"feed-{number}", EventPattern=json.dumps(rule["EventPattern"]))
            bus.put_targets(Rule=f"feed-{number}", Targets=[{"Id": "feed", "Arn": topic, **shaped}])
        failed = GroupReport(
            group='web "blue"', outcome="failed", reason="replacement unhealthy", detail=DETAIL
        )
        report = RunReport.build("run-1", "2026-12-06T10:00:00+00:00", False, 1, [failed])
        assert Events(session=session).put(run_events(report)) == []
        bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    messages = [json.loads(body) for body in bodies]  # Chatbot drops a message that is not JSON
    assert len(messages) == 2
    for message in messages:
        assert (message["version"], message["source"]) == ("1.0", "custom")
        assert message["metadata"]["threadId"] == "run-1"
    [failure] = [m for m in messages if "Recycle Failed" in m["content"]["title"]]
    assert failure["content"]["title"] == 'recycler: Recycle Failed - web "blue"'
    assert DETAIL in failure["content"]["description"]


def test_chat_is_refused_with_an_organization() -> None:
    """A StackSet cannot create chat channels: each account's workspace is authorized by hand first, so
    every stack instance would fail (and stop the rollout). Before: the member template held one."""
    with pytest.raises(ConfigError, match=r"^recycler:chat: not with recycler:organization .*alert_emails"):
        assembly(**{"recycler:organization": ORGANIZATION, "recycler:chat": {"slack": SLACK}})
