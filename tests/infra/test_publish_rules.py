"""The publish triggers' EventBridge rules as synthesized, run against EventBridge's own matching (the
emulator's: moto delivers PutEvents to a rule's SQS target). A rule that matches too much starts a
canary run for every parameter change in the account, or for a failed API call; one that matches too
little never starts one. The patterns are read from the synthesized template, not from infra/triggers.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.stack import build_app
from recycler.local.emulator.events import delivered
from tests.integration.test_publish import IMAGE_AVAILABLE, PARAMETER_UPDATED, TEMPLATE_VERSION, envelope

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
PREFIXES = ["/golden/", "/base-images/"]


@pytest.fixture(scope="module")
def patterns() -> dict[str, dict[str, Any]]:
    """source -> the EventPattern of the synthesized rule that targets the function for it."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update(
        {
            "aws:cdk:bundling-stacks": [],
            "recycler:publish_triggers": ["ssm", "imagebuilder", "launch-template"],
            "recycler:publish_parameter_prefixes": PREFIXES,
        }
    )
    template = build_app(context).synth().get_stack_by_name("Recycler").template
    rules = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    publish = [
        r["EventPattern"] for r in rules if r["EventPattern"].get("source", [""])[0].startswith("aws.")
    ]
    return {p["source"][0]: p for p in publish}


def test_three_publish_rules_each_for_its_documented_event(patterns: dict[str, dict[str, Any]]) -> None:
    assert patterns == {
        "aws.ssm": {
            "source": ["aws.ssm"],
            "detail-type": ["Parameter Store Change"],
            "detail": {
                "operation": ["Create", "Update", "LabelParameterVersion"],
                "name": [{"prefix": p} for p in PREFIXES],
            },
        },
        "aws.imagebuilder": {
            "source": ["aws.imagebuilder"],
            "detail-type": ["EC2 Image Builder Image State Change"],
            "detail": {"state": {"status": ["AVAILABLE"]}},
        },
        "aws.ec2": {
            "source": ["aws.ec2"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {
                "eventSource": ["ec2.amazonaws.com"],
                "eventName": ["CreateLaunchTemplateVersion", "ModifyLaunchTemplate"],
                "errorCode": [{"exists": False}],
            },
        },
    }


@pytest.fixture
def eventbridge(patterns: dict[str, dict[str, Any]]) -> Iterator[tuple[Any, Any, dict[str, str]]]:
    """The synthesized rules on the emulator's default bus, each delivering to its own SQS queue."""
    from moto import mock_aws

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        events, sqs = session.client("events"), session.client("sqs")
        queues = {}
        for source, pattern in patterns.items():
            name = source.replace(".", "-")
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(Rule=name, Targets=[{"Id": "function", "Arn": arn}])
            queues[source] = url
        yield events, sqs, queues


def matched(eventbridge: tuple[Any, Any, dict[str, str]], event: dict[str, Any]) -> list[str]:
    """The rules (by source) that EventBridge delivers this event to."""
    events, sqs, queues = eventbridge
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event["resources"],
    }
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    return [source for source, url in queues.items() if delivered(sqs, url)]


def test_each_documented_publish_event_reaches_its_rule(eventbridge: Any) -> None:
    assert matched(eventbridge, PARAMETER_UPDATED) == ["aws.ssm"]
    assert matched(eventbridge, IMAGE_AVAILABLE) == ["aws.imagebuilder"]
    assert matched(eventbridge, TEMPLATE_VERSION) == ["aws.ec2"]


def test_a_parameter_outside_the_prefixes_starts_nothing(eventbridge: Any) -> None:
    """Without the prefix filter the rule would start a canary run for every parameter write in the
    account (database passwords, feature flags)."""
    other = {**PARAMETER_UPDATED["detail"], "name": "/app/feature-flags"}
    assert matched(eventbridge, {**PARAMETER_UPDATED, "detail": other}) == []
    under = {**PARAMETER_UPDATED["detail"], "name": "/base-images/al2023"}
    assert matched(eventbridge, {**PARAMETER_UPDATED, "detail": under}) == ["aws.ssm"]


def test_a_failed_launch_template_call_starts_nothing(eventbridge: Any) -> None:
    """CloudTrail records calls that failed too, with errorCode set: nothing changed, nothing to canary.
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html"""
    failed = envelope(
        "aws.ec2",
        "AWS API Call via CloudTrail",
        {**TEMPLATE_VERSION["detail"], "errorCode": "UnauthorizedOperation", "errorMessage": "denied"},
    )
    assert matched(eventbridge, failed) == []
