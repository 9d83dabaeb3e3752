"""policy/rings.judge at the soak's edge: a later ring opens exactly when the earlier ring's first proof is
soak old, not a moment before (that moment early is a canary in production before staging soaked). Also
the edges mutmut showed unpinned (CONTRIBUTING.md, "Mutation audit"): which of two condemns is named, and
the soak's bounds (0 to 2,160 h) wherever recycler:rings is read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from recycler.aws.verdicts_central import CentralVerdicts
from recycler.domain import Decision
from recycler.models import InputError, ManualPayload, load_settings
from recycler.policy.rings import (
    CONDEMNED,
    PROVEN,
    Membership,
    OrgVerdict,
    RingsError,
    Verdict,
    judge,
    parse_rings,
)
from recycler.workflow.org_verdicts import with_org_verdicts
from recycler.workflow.port import Services

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


def test_the_wait_reads_in_minutes_under_an_hour_and_in_hours_after() -> None:
    """What an operator reads in the plan: "proven 30 min ago", not "proven 0 h ago"."""
    fresh = judge([proven_in_staging(timedelta(minutes=30))], RINGS, "production", NOW, readable=True)
    assert fresh.detail.startswith("waiting for staging: proven 30 min ago (account 222222222222, group web)")
    assert fresh.detail.endswith("soak 24 h")
    later = judge([proven_in_staging(timedelta(hours=3))], RINGS, "production", NOW, readable=True)
    assert "proven 3 h ago" in later.detail


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


class UnreachableStore:
    """A VerdictStorePort whose table refuses this member (its policy does not let it in)."""

    member = Membership("333333333333", "us-east-1")

    def image_keys(self, image_ids: Sequence[str]) -> dict[str, str]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeImages")

    def verdicts(self, keys: Sequence[str]) -> dict[str, list[OrgVerdict]]:
        raise AssertionError("not reached")


def test_an_unreadable_store_is_said_in_each_planned_groups_detail() -> None:
    """The recycle goes ahead (it canaries the image here), but the operator reads why no remote verdict
    counted: docs/many-accounts.md, "says so in each planned group's detail"."""
    services = Services(fleet=cast(Any, None), brakes=cast(Any, None), ecs=cast(Any, None))
    services = replace(services, verdicts=cast(Any, UnreachableStore()))
    planned = Decision(group="web", recycle=True, reason="oldest-instance", current_image_id="ami-1")
    plan = with_org_verdicts(services, [planned], ManualPayload(), NOW, [], {})
    [decision] = plan.decisions
    assert decision.recycle and "AccessDenied" in plan.unreadable
    assert (
        decision.detail.startswith("organization verdicts unreadable (") and "AccessDenied" in decision.detail
    )


def test_a_proof_two_rings_back_does_not_stand_in_for_the_ring_just_before() -> None:
    """Sandbox proved it 30 h ago, staging never did: production still waits for staging."""
    three = parse_rings(
        '[{"name": "sandbox", "accounts": ["111111111111"]},'
        ' {"name": "staging", "accounts": ["222222222222"], "soak_hours": 2},'
        ' {"name": "production", "accounts": ["333333333333"], "soak_hours": 24}]'
    )
    in_sandbox = replace(proven_in_staging(timedelta(hours=30)), ring="sandbox", account="111111111111")
    judged = judge([in_sandbox], three, "production", NOW, readable=True)
    assert judged.verdict is Verdict.WAITING
    assert judged.detail == "waiting for staging: not proven there yet, soak 24 h"


class TwoCondemns:
    """A store where two members condemned ami-1: 444444444444 five hours ago, 111111111111 an hour ago,
    returned as the table returns them, by sort key (`condemned#<account>#<region>`): the later condemn
    first. "Query results are always sorted by the sort key value ... in order of UTF-8 bytes":
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.KeyConditionExpressions.html
    """

    member = Membership("333333333333", "us-east-1", RINGS)

    def image_keys(self, image_ids: Sequence[str]) -> dict[str, str]:
        return {image: f"us-east-1/{image}" for image in image_ids}

    def verdicts(self, keys: Sequence[str]) -> dict[str, list[OrgVerdict]]:
        def condemn(account: str, ago: timedelta, why: str) -> OrgVerdict:
            return replace(
                proven_in_staging(ago), verdict=CONDEMNED, account=account, reason=why, ring="production"
            )

        later = condemn("111111111111", timedelta(hours=1), "launch failed")
        first = condemn("444444444444", timedelta(hours=5), "replacement unhealthy")
        return {"us-east-1/ami-1": [later, first]}


def test_an_image_condemned_twice_is_held_naming_the_first_condemn() -> None:
    """The held groups' detail names who proved the image broken first (its evidence: when, and why),
    whatever order the table returns the condemns in."""
    services = Services(fleet=cast(Any, None), brakes=cast(Any, None), ecs=cast(Any, None))
    services = replace(services, verdicts=cast(Any, TwoCondemns()))
    planned = Decision(group="web", recycle=True, reason="oldest-instance", current_image_id="ami-1")
    plan = with_org_verdicts(services, [planned], ManualPayload(), NOW, [], {})
    assert plan.condemned == {
        "ami-1": "condemned by account 444444444444 us-east-1, group web, image ami-1, "
        "2026-12-06T07:00+00:00: replacement unhealthy"
    }
    assert plan.broken == ("ami-1",)  # either condemn proves it broken: the revert puts it back


@pytest.mark.parametrize("hours", [0, 2160, 0.5, 2160.0])
def test_a_soak_from_0_to_90_days_is_accepted(hours: float) -> None:
    rings = parse_rings(
        [
            {"name": "staging", "accounts": ["111111111111"]},
            {"name": "production", "accounts": ["222222222222"], "soak_hours": hours},
        ]
    )
    assert rings[1].soak == timedelta(hours=hours)


SOAK_ERROR = "recycler:rings[1].soak_hours: hours from 0 to 2160 (90 days), e.g. 24"


@pytest.mark.parametrize("hours", [2161, 2160.5, -1, -0.5])
def test_a_soak_over_90_days_or_below_0_is_refused_naming_the_ring_and_the_bounds(hours: float) -> None:
    with pytest.raises(RingsError) as refused:
        parse_rings(
            [
                {"name": "staging", "accounts": ["111111111111"]},
                {"name": "production", "accounts": ["222222222222"], "soak_hours": hours},
            ]
        )
    assert str(refused.value) == SOAK_ERROR


def test_the_function_refuses_a_soak_over_90_days_by_variable() -> None:
    """What the function says at start when RECYCLER_RINGS carries a soak of 2,161 h (its stack
    validated it at synth; a hand-edited variable is refused again, naming the variable)."""
    rings = json.dumps(
        [
            {"name": "staging", "accounts": ["111111111111"]},
            {"name": "production", "accounts": ["222222222222"], "soak_hours": 2161},
        ]
    )
    with pytest.raises(InputError) as refused:
        load_settings({"RECYCLER_RINGS": rings})
    assert "RECYCLER_RINGS[1].soak_hours: hours from 0 to 2160 (90 days), e.g. 24" in str(refused.value)
    accepted = rings.replace("2161", "2160")
    assert load_settings({"RECYCLER_RINGS": accepted}).rings == accepted
