"""policy/rings.judge at the soak's edge: a later ring opens exactly when the earlier ring's first proof is
soak old, not a moment before (that moment early is a canary in production before staging soaked)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import Stubber

from recycler.aws.verdicts_central import CentralVerdicts
from recycler.policy.rings import CONDEMNED, PROVEN, Membership, OrgVerdict, Verdict, judge, parse_rings

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
RINGS = parse_rings(
    '[{"name": "staging", "accounts": ["222222222222"]},'
    ' {"name": "production", "accounts": ["333333333333"], "soak_hours": 24}]'
)


def proven_in_staging(ago: timedelta) -> OrgVerdict:
    return OrgVerdict(
        key="us-east-1/ami-1",
        verdict=PROVEN,
        ring="staging",
        account="222222222222",
        region="us-east-1",
        group="web",
        image_id="ami-1",
        at=NOW - ago,
    )


def test_production_waits_until_the_soak_is_complete_and_opens_at_it() -> None:
    soak = timedelta(hours=24)
    almost = judge([proven_in_staging(soak - timedelta(seconds=30))], RINGS, "production", NOW, readable=True)
    assert almost.verdict is Verdict.WAITING, almost.detail
    exactly = judge([proven_in_staging(soak)], RINGS, "production", NOW, readable=True)
    assert exactly.verdict is Verdict.OPEN, exactly.detail


def stored(record: str, verdict: str, account: str) -> dict[str, Any]:
    return {
        "image": {"S": "us-east-1/ami-1"},
        "record": {"S": record},
        "verdict": {"S": verdict},
        "ring": {"S": "staging"},
        "account": {"S": account},
        "region": {"S": "us-east-1"},
        "group": {"S": "web"},
        "image_id": {"S": "ami-1"},
        "at": {"S": (NOW - timedelta(hours=1)).isoformat()},
    }


def test_a_condemn_on_the_second_page_of_a_query_is_read() -> None:
    """Query returns at most 1 MB a page, then LastEvaluatedKey: a condemn past it still holds the image."""
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    store = CentralVerdicts("verdicts", Membership("333333333333", "us-east-1", RINGS), session)
    stubber = Stubber(store._dynamodb)
    request = {
        "TableName": "verdicts",
        "KeyConditionExpression": "image = :key",
        "ExpressionAttributeValues": {":key": {"S": "us-east-1/ami-1"}},
        "ConsistentRead": True,
    }
    page_end = {"image": {"S": "us-east-1/ami-1"}, "record": {"S": "canary#staging"}}
    stubber.add_response(
        "query",
        {"Items": [stored("canary#staging", "", "222222222222")], "LastEvaluatedKey": page_end},
        request,
    )
    stubber.add_response(
        "query",
        {"Items": [stored("condemned#444444444444#us-east-1", CONDEMNED, "444444444444")]},
        {**request, "ExclusiveStartKey": page_end},
    )
    with stubber:
        verdicts = store.verdicts(["us-east-1/ami-1"])
    assert [v.verdict for v in verdicts.get("us-east-1/ami-1", [])] == [CONDEMNED], "page 2 not read"
    stubber.assert_no_pending_responses()
