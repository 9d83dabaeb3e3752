"""Large fleets stay within one durable checkpoint (256 KB), or fail before anything is terminated."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from recycler.domain import Decision, InstanceSnapshot
from recycler.handler import bounded_result
from recycler.report import GroupReport, RunReport
from recycler.workflow.codec import CHECKPOINT_BUDGET_BYTES, checkpoint_size, decode, encode
from recycler.workflow.packing import PlanTooLarge, pack_plan, unpack_plan
from recycler.workflow.state import PlanRows

NOW = datetime(2026, 11, 24, tzinfo=UTC)
LIMIT = 256 * 1024


def recyclable(n: int) -> Decision:
    victim = InstanceSnapshot(
        f"i-{n:017x}", "InService", "Healthy", False, NOW - timedelta(days=9), "ami-0123456789abcdef0"
    )
    return Decision(
        group=f"production-web-tier-{n:05d}",
        recycle=True,
        reason="oldest-instance",
        detail="oldest of 3 candidates",
        victim=victim,
        oldest_age_days=9.0,
        current_image_id="ami-0fedcba9876543210",
    )


def skipped(n: int, detail: str = "oldest candidate is 0.42 days old, minimum 1 " + "x" * 100) -> Decision:
    return Decision(
        group=f"production-api-tier-{n:05d}",
        recycle=False,
        reason="too-young",
        detail=detail,
        oldest_age_days=0.42,
        current_image_id="ami-0fedcba9876543210",
    )


def size(value: object) -> int:
    return checkpoint_size(value)


def test_small_plan_keeps_every_detail() -> None:
    packed = pack_plan([recyclable(1), skipped(2)], NOW)
    skips, _ = unpack_plan(packed)
    assert skips[0].detail.startswith("oldest candidate is 0.42 days old")


def test_two_thousand_groups_fit_one_checkpoint_keeping_every_reason() -> None:
    decisions = [recyclable(n) for n in range(50)] + [skipped(n) for n in range(1950)]
    packed = pack_plan(decisions, NOW)
    assert size(packed) <= CHECKPOINT_BUDGET_BYTES < LIMIT
    reports, jobs = unpack_plan(packed)
    assert len(reports) == 1950 and all(r.reason == "too-young" for r in reports)
    assert len(jobs) == 50


def test_a_thousand_recycles_fit_one_checkpoint() -> None:
    packed = pack_plan([recyclable(n) for n in range(1000)], NOW)
    assert size(packed) <= CHECKPOINT_BUDGET_BYTES
    _, jobs = unpack_plan(packed)
    job = jobs[999]
    assert job.group == "production-web-tier-00999" and job.victim.instance_id == f"i-{999:017x}"


def test_the_plan_survives_its_checkpoint_round_trip_unchanged() -> None:
    packed = pack_plan([recyclable(1), skipped(2)], NOW)
    assert decode(PlanRows, json.loads(json.dumps(encode(packed)))) == packed


def test_twelve_thousand_groups_plan_in_one_checkpoint_with_skips_counted() -> None:
    # 24x the default quota of 500 groups per region, with realistic names and details.
    decisions = [recyclable(n) for n in range(50)] + [skipped(n) for n in range(12_000)]
    decisions[60] = replace(decisions[60], reason="opted-out", detail="recycler:enabled is not true")
    packed = pack_plan(decisions, NOW)
    assert size(packed) <= CHECKPOINT_BUDGET_BYTES
    reports, jobs = unpack_plan(packed)
    assert reports == [] and len(jobs) == 50
    assert packed.skipped_counts == {"too-young": 11_999, "opted-out": 1}
    assert packed.skipped_oldest_instance_age_days == 0.42
    report = RunReport.build(
        "run", NOW.isoformat(), True, 1, [], omitted=packed.skipped_counts, omitted_oldest=(0.42, None)
    )
    assert report.summary.skipped == 12_000 and report.fleet_oldest_instance_age_days == 0.42


def test_a_plan_whose_recycles_cannot_fit_fails_before_any_step_acts() -> None:
    with pytest.raises(PlanTooLarge, match="RECYCLER_MAX_GROUPS_PER_RUN"):
        pack_plan([recyclable(n) for n in range(3000)], NOW)


def test_lambda_result_of_a_huge_fleet_stays_within_the_limit() -> None:
    groups = [
        GroupReport(group=f"g{n:05d}", outcome="skipped", reason="too-young", detail="x" * 80)
        for n in range(3000)
    ]
    groups.append(GroupReport(group="web", outcome="recycled", reason="oldest-instance"))
    report = RunReport.build("run", NOW.isoformat(), False, 1, groups)
    body = bounded_result(report)
    assert size(body) <= CHECKPOINT_BUDGET_BYTES
    assert [g["group"] for g in body["groups"]] == ["web"]
    assert body["skipped_groups_omitted"] == {"too-young": 3000}
    assert body["summary"]["skipped"] == 3000


def test_lambda_result_of_a_normal_fleet_is_the_whole_report() -> None:
    report = RunReport.build(
        "run", NOW.isoformat(), False, 1, [GroupReport(group="web", outcome="skipped", reason="too-young")]
    )
    assert bounded_result(report) == report.model_dump(mode="json")


def test_a_run_plans_only_the_recycles_whose_worst_case_waits_fit_the_execution_timeout() -> None:
    from recycler.domain import Mode
    from recycler.workflow import budget

    # 15-minute health timeouts, one at a time, a 30-minute bake for the image's canary, a 2-hour
    # execution: 0.8 x 7,200 s = 5,760 s of worst-case waiting fits the canary (2,700 s) and three more.
    two_hours = budget.Budget(seconds=2 * 3600 * budget.TIME_MARGIN)
    fit = budget.recycles_that_fit(
        [Mode.REPLACE] * 10, [900] * 10, 15, two_hours, images=["ami-1"] * 10, bake_seconds=1800
    )
    assert fit == 4
    # Ten at once finish within the same time: the window is counted, not a sum.
    assert (
        budget.recycles_that_fit(
            [Mode.REPLACE] * 10,
            [900] * 10,
            15,
            two_hours,
            images=["ami-1"] * 10,
            bake_seconds=1800,
            max_concurrency=10,
        )
        == 10
    )
    # A drain and a surge's two health waits count too, each on its own: 5,760 s holds one health wait
    # of 3,000 s (or a drain of 2,000 s and one wait of 2,000 s) but not two waits, nor the drain too.
    assert budget.recycles_that_fit([Mode.REPLACE], [3000], 15, two_hours) == 1
    assert budget.recycles_that_fit([Mode.SURGE], [3000], 15, two_hours) == 0  # across zones: two waits
    assert budget.recycles_that_fit([Mode.REPLACE], [2000], 15, two_hours, drain_timeouts=[2000]) == 1
    assert budget.recycles_that_fit([Mode.REPLACE], [2000], 15, two_hours, drain_timeouts=[4000]) == 0
    assert budget.recycles_that_fit([Mode.SURGE], [2000], 15, two_hours, drain_timeouts=[1000]) == 1
    assert budget.recycles_that_fit([Mode.SURGE], [2000], 15, two_hours, drain_timeouts=[2000]) == 0
    # In-process (no time limit): all of them.
    assert budget.recycles_that_fit([Mode.REPLACE] * 10, [900] * 10, 15, budget.Budget()) == 10
