"""policy/rings.py: verdict keys, the judgement of an image from the organization's verdicts, and the
validation of recycler:rings (pure; no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recycler.models import InputError, load_settings
from recycler.policy.rings import (
    CONDEMNED,
    PROVEN,
    Membership,
    OrgVerdict,
    RingsError,
    Verdict,
    judge,
    parse_rings,
    verdict_key,
)

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
RINGS = parse_rings(
    '[{"name": "sandbox", "accounts": ["111111111111"]},'
    ' {"name": "staging", "accounts": ["222222222222"], "soak_hours": 2},'
    ' {"name": "production", "accounts": ["333333333333"], "soak_hours": 24}]'
)


def verdict(kind: str, ring: str, hours_ago: float, account: str = "222222222222") -> OrgVerdict:
    return OrgVerdict(
        key="us-east-1/ami-1",
        verdict=kind,
        ring=ring,
        account=account,
        region="us-east-1",
        group="web",
        image_id="ami-1",
        at=NOW - timedelta(hours=hours_ago),
        reason="replacement unhealthy" if kind == CONDEMNED else "",
    )


def test_a_copy_keys_as_its_source_and_an_image_of_an_instance_as_itself() -> None:
    assert verdict_key("ami-copy", "eu-west-1", "ami-1", "us-east-1") == "us-east-1/ami-1"
    assert verdict_key("ami-1", "us-east-1") == "us-east-1/ami-1"
    # CreateImage names the instance's image as source too, but it is another build.
    assert verdict_key("ami-2", "us-east-1", "ami-1", "us-east-1", "i-0abc") == "us-east-1/ami-2"


def test_condemned_anywhere_holds_every_ring_and_names_who() -> None:
    judged = judge(
        [verdict(PROVEN, "production", 30), verdict(CONDEMNED, "sandbox", 1, "111111111111")],
        RINGS,
        "production",
        NOW,
        readable=True,
    )
    assert judged.verdict is Verdict.CONDEMNED
    assert (
        "account 111111111111 us-east-1, group web" in judged.detail
        and "replacement unhealthy" in judged.detail
    )


def test_proven_in_the_same_or_a_later_ring_counts_an_earlier_one_does_not() -> None:
    assert (
        judge([verdict(PROVEN, "staging", 1)], RINGS, "staging", NOW, readable=True).verdict is Verdict.PROVEN
    )
    assert (
        judge([verdict(PROVEN, "production", 1)], RINGS, "staging", NOW, readable=True).verdict
        is Verdict.PROVEN
    )
    # Proven in staging 30 h ago: production canaries it itself (OPEN), it is not proven there.
    assert (
        judge([verdict(PROVEN, "staging", 30)], RINGS, "production", NOW, readable=True).verdict
        is Verdict.OPEN
    )


def test_a_later_ring_waits_for_the_soak_from_the_first_proof() -> None:
    early = judge(
        [verdict(PROVEN, "staging", 3), verdict(PROVEN, "staging", 1)],
        RINGS,
        "production",
        NOW,
        readable=True,
    )
    assert early.verdict is Verdict.WAITING
    assert early.detail.startswith("waiting for staging: proven 3 h ago") and "soak 24 h" in early.detail
    assert (
        judge([], RINGS, "staging", NOW, readable=True).detail
        == "waiting for sandbox: not proven there yet, soak 2 h"
    )
    assert judge([], RINGS, "sandbox", NOW, readable=True).verdict is Verdict.OPEN  # ring 0: on publish


def test_an_unreadable_store_proves_and_condemns_nothing_and_a_later_ring_waits() -> None:
    assert judge([], RINGS, "sandbox", NOW, readable=False).verdict is Verdict.OPEN
    assert judge([], RINGS, "production", NOW, readable=False).verdict is Verdict.WAITING
    assert judge([], (), "organization", NOW, readable=False).verdict is Verdict.OPEN


def test_a_member_no_ring_names_is_in_the_last_ring() -> None:
    assert Membership("999999999999", "us-east-1", RINGS).ring == "production"
    assert Membership("111111111111", "us-east-1", RINGS).ring == "sandbox"
    assert Membership("111111111111", "us-east-1").ring == "organization"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("[{", r"recycler:rings: not JSON"),
        ('{"name": "a"}', r"recycler:rings: an ordered list"),
        ('[{"name": "a b", "accounts": ["111111111111"]}]', r"\[0\]\.name: a short name"),
        ('[{"name": "a", "accounts": []}]', r"\[0\]: name its accounts or organizational_units"),
        (
            '[{"name": "a", "accounts": ["111111111111"]}, {"name": "a", "accounts": ["222222222222"]}]',
            r"\[1\]\.name: 'a' names two rings",
        ),
        (
            '[{"name": "a", "accounts": ["111111111111"]}, {"name": "b", "accounts": ["111111111111"]}]',
            r"\[1\]\.accounts: 111111111111 is already in ring 'a'; an account belongs to one ring",
        ),
        (
            '[{"name": "a", "organizational_units": ["ou-ab12-cd34ef56"]},'
            ' {"name": "b", "organizational_units": ["ou-ab12-cd34ef56"]}]',
            r"\[1\]\.organizational_units: ou-ab12-cd34ef56 is already in ring 'a'; an OU belongs to one ring",
        ),
        ('[{"name": "a", "accounts": ["111111111111"], "soak_hours": "1d"}]', r"\[0\]\.soak_hours: hours"),
        (
            '[{"name": "a", "organizational_units": ["ou-x"]}]',
            r"\[0\]\.organizational_units: a list of OU ids",
        ),
    ],
)
def test_bad_rings_name_the_field_and_the_fix(raw: str, named: str) -> None:
    with pytest.raises(RingsError, match=named):
        parse_rings(raw)


def test_the_function_refuses_bad_rings_by_variable() -> None:
    with pytest.raises(InputError, match="RECYCLER_RINGS"):
        load_settings({"RECYCLER_RINGS": '[{"name": "a"}]'})
