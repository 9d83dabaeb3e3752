"""policy/rings.judge at the soak's edge: a later ring opens exactly when the earlier ring's first proof is
soak old, not a moment before (that moment early is a canary in production before staging soaked)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recycler.policy.rings import PROVEN, OrgVerdict, Verdict, judge, parse_rings

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
