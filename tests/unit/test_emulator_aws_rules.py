"""The emulator's rules for S3 Block Public Access and EventBridge input transformation, against the
examples AWS's documentation gives (so the infra tests built on them are tested against AWS, not
against the emulator's own idea)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from recycler.local.emulator.block_public_access import policy_is_public
from recycler.local.emulator.input_transformer import transform

EVENT = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING", "note": 'say "hi"\n'},
}
RULE = SimpleNamespace(arn="arn:aws:events:us-east-1:123456789012:rule/r", name="r")


def test_a_string_outside_quotes_gets_quotes_and_an_object_is_inserted_as_json() -> None:
    """The user guide's example: {"instance": <instance>, "state": [9, <state>, true], ...}."""
    paths = {"instance": "$.detail.instance-id", "state": "$.detail.state", "detail": "$.detail"}
    out = transform(
        '{"instance": <instance>, "state": [9, <state>, true], "all": <detail>}', paths, EVENT, RULE
    )
    assert json.loads(out) == {
        "instance": "i-0123456789",
        "state": [9, "RUNNING", True],
        "all": EVENT["detail"],
    }
    assert (
        transform("<instance> is in state <state>", paths, EVENT, RULE) == "i-0123456789 is in state RUNNING"
    )


def test_a_string_is_substituted_unescaped() -> None:
    out = transform('{"text": "note: <note>"}', {"note": "$.detail.note"}, EVENT, RULE)
    assert out == '{"text": "note: say "hi"\n"}'
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


ANYONE_READS: dict[str, Any] = {
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": "*",
}


@pytest.mark.parametrize(
    ("statement", "public"),
    [
        # The S3 User Guide's examples ("The meaning of public").
        ({**ANYONE_READS, "Principal": {"Federated": "graph.facebook.com"}}, True),
        (ANYONE_READS, True),
        ({**ANYONE_READS, "Condition": {"StringLike": {"aws:SourceVpc": "vpc-*"}}}, True),
        ({**ANYONE_READS, "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-91237329"}}}, False),
        # The organization's id is a fixed principal value; its paths as patterns are not.
        ({**ANYONE_READS, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}, False),
        (
            {**ANYONE_READS, "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-*/*"]}}},
            True,
        ),
        ({**ANYONE_READS, "Principal": {"AWS": "arn:aws:iam::111111111111:root"}}, False),
        ({**ANYONE_READS, "Effect": "Deny"}, False),
    ],
)
def test_what_s3_counts_as_a_public_policy(statement: dict[str, Any], public: bool) -> None:
    assert policy_is_public({"Version": "2012-10-17", "Statement": [statement]}) is public
