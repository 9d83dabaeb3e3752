"""A child execution's result (its slice's reports) is one checkpoint, 256 KB at most: slices are cut by
their reports' bytes as well as by operations (budget.report_bytes, budget.pack_slices, fanout.slices).

The reports here are real GroupReports at their longest, serialized by the workflow's codec as the durable
SDK stores them (codec.checkpoint_size): a freshness target's job carries one RecycleReport per recycle.
"""

from __future__ import annotations

import pytest

from recycler.domain import Mode
from recycler.models import Settings
from recycler.report import GroupReport, RecycleReport, ReplacementReport, VictimReport
from recycler.workflow import budget
from recycler.workflow.codec import CHECKPOINT_BUDGET_BYTES, checkpoint_size
from recycler.workflow.fanout import SliceReports, item_cost, slices
from recycler.workflow.reports import clipped
from recycler.workflow.state import Job, RecycleItem, RunContext, Victim

LONGEST_FLOAT = -1.2345678901234567e-300  # 24 characters as JSON, as long as a float gets
LONGEST_COUNT = 9_223_372_036_854_775_807  # 19 digits
NAME = "g" * 255  # an Auto Scaling group name at AWS's limit


def text(limit: int, fill: str = "x") -> str:
    return fill * limit


def victim_report(fill: str = "i") -> VictimReport:
    cap = budget.REPORT_ID_BYTES
    return VictimReport(
        instance_id=text(cap, fill),
        launch_time=text(cap, fill),
        image_id=text(cap, fill),
        age_days=LONGEST_FLOAT,
        image_age_days=LONGEST_FLOAT,
    )


def replacement_report(fill: str = "r") -> ReplacementReport:
    cap = budget.REPORT_ID_BYTES
    return ReplacementReport(
        instance_id=text(cap, fill),
        image_id=text(cap, fill),
        ami_refreshed=False,
        image_age_days=LONGEST_FLOAT,
    )


def recycle_report(fill: str = "x") -> RecycleReport:
    return RecycleReport(
        victim=victim_report(fill),
        replacement=replacement_report(fill),
        outcome="recycled",
        reason=text(budget.REPORT_REASON_BYTES, fill),
        waited_seconds=LONGEST_FLOAT,
    )


def longest_report(group: str, recycles: int, fill: str = "x") -> GroupReport:
    """A child's report with every field at its longest: each string at its cap, freshness target's
    recycles each filled in (freshness and image facts are the parent's, reports.with_image_facts)."""
    return GroupReport(
        group=group,
        outcome="recycled",
        reason=text(budget.REPORT_REASON_BYTES, fill),
        detail=text(budget.REPORT_DETAIL_BYTES, fill),
        mode=Mode.REPLACE,
        victim=victim_report(fill),
        replacement=replacement_report(fill),
        waited_seconds=LONGEST_FLOAT,
        oldest_instance_age_days=LONGEST_FLOAT,
        current_image_id=text(budget.REPORT_ID_BYTES, fill),
        alert_published=False,
        canary=False,
        baked_seconds=LONGEST_FLOAT,
        baked=False,
        recycles=[recycle_report(fill) for _ in range(recycles)],
        behind_by=LONGEST_COUNT,
        current_image_age_days=LONGEST_FLOAT,
        oldest_image_age_days=LONGEST_FLOAT,
        drifted_instances=LONGEST_COUNT,
        current_image_reason=text(budget.REPORT_REASON_BYTES, fill),
        health_timeout_seconds=LONGEST_COUNT,
        container_host=text(budget.REPORT_HOST_BYTES, fill),
        standby_instances=LONGEST_COUNT,
        warm_pool=False,
    )


def item(group: str, recycles: int, health_seconds: int = 60) -> RecycleItem:
    victims = tuple(
        Victim(f"i-{n:017x}", "2026-01-01T00:00:00+00:00", "ami-0123456789abcdef0", 9.0)
        for n in range(recycles)
    )
    job = Job(
        group,
        Mode.REPLACE,
        "",
        health_seconds,
        9.0,
        "ami-0fedcba9876543210",
        victims[0],
        more_victims=victims[1:],
    )
    return RecycleItem(job=job, run=RunContext(run_id="r", force=False, poll_seconds=15))


def fan_out() -> budget.Budget:
    # Lambda's limits, and a window never held by one execution: it always runs as slices.
    return budget.Budget(operations=1, fan_out=True)


def test_the_measured_constants_are_the_real_models_at_their_longest() -> None:
    empty = checkpoint_size(longest_report("", 0))
    assert empty + 1 == budget.REPORT_BYTES  # the comma between reports
    one, two = checkpoint_size(longest_report("", 1)), checkpoint_size(longest_report("", 2))
    assert two - one == budget.RECYCLE_REPORT_BYTES  # a recycle and its comma
    assert checkpoint_size(SliceReports(())) == budget.SLICE_REPORTS_BYTES


@pytest.mark.parametrize("group", ["web", NAME])
def test_a_named_groups_bound_is_its_longest_report_exactly(group: str) -> None:
    # None less, and no more than the two commas counted: the one after it in the slice's list, and one
    # per recycle where the first has none (each byte over-counted is room another slice must take).
    bound = budget.report_bytes(budget.JobCost(recycles=2, group=group))
    assert checkpoint_size(longest_report(group, 2)) + 2 == bound


@pytest.mark.parametrize("recycles", [0, 1, 2, 7, 40])
@pytest.mark.parametrize("group", [NAME, "web", "ü" * 40, "\U0001f680" * 20])
def test_a_clipped_report_is_never_larger_than_its_bound(group: str, recycles: int) -> None:
    # Far past every cap, in characters JSON escapes to 6 and 12 bytes: clipping bounds the bytes stored.
    for fill in ("x", "é", "\U0001f525"):
        huge = longest_report(group, recycles, fill * 3).model_copy(update={"detail": fill * 100_000})
        bound = budget.report_bytes(budget.JobCost(recycles=max(recycles, 1), group=group))
        assert checkpoint_size(clipped(huge)) + 1 <= bound


def test_clipping_leaves_an_ordinary_report_as_it_was() -> None:
    report = GroupReport(group="web", outcome="recycled", reason="oldest-instance", detail="replaced i-1")
    assert clipped(report) == report


def test_sixty_freshness_jobs_with_many_recycles_are_cut_into_slices_that_each_fit_a_checkpoint() -> None:
    items = [item(f"fleet-{n:03}-" + "g" * 240, recycles=3) for n in range(120)]
    pieces = slices(items, fan_out(), Settings(max_concurrency=10), "run")
    assert sum(len(p.items) for p in pieces) == 120
    for piece in pieces:
        result = SliceReports(tuple(longest_report(i.job.group, len(i.job.victims)) for i in piece.items))
        assert checkpoint_size(result) <= CHECKPOINT_BUDGET_BYTES, (len(piece.items), checkpoint_size(result))


def test_sixty_such_jobs_in_one_slice_would_not_fit_its_checkpoint() -> None:
    """What the slices were before bytes counted: 60 jobs a slice, the operations allowing it."""
    jobs = [item_cost(item(f"fleet-{n:03}-" + "g" * 240, recycles=3)) for n in range(60)]
    assert sum(budget.job_operations(j) for j in jobs) <= budget.Budget().slice_operations
    result = SliceReports(tuple(longest_report(j.group or "", j.recycles) for j in jobs))
    assert checkpoint_size(result) > CHECKPOINT_BUDGET_BYTES


def test_sixty_single_recycle_jobs_still_fill_one_slice() -> None:
    """The common case is not cut finer than before: 1,000 groups of one recycle each (bench/fanout.py)
    need 17 children, 60 jobs each, even at the longest names AWS allows."""
    items = [item(f"{n:04}" + "g" * 251, recycles=1, health_seconds=600) for n in range(1000)]
    pieces = slices(items, fan_out(), Settings(max_concurrency=50), "run")
    assert [len(p.items) for p in pieces] == [60] * 16 + [40]
    sixty = SliceReports(tuple(longest_report(i.job.group, 0) for i in pieces[0].items))
    assert checkpoint_size(sixty) <= CHECKPOINT_BUDGET_BYTES


def test_pack_slices_cuts_at_the_bytes_bound() -> None:
    size = CHECKPOINT_BUDGET_BYTES // 3
    assert budget.pack_slices([1] * 5, 100, [size] * 5) == [[0, 1], [2, 3], [4]]
    assert budget.pack_slices([1] * 5, 100, [10] * 5) == [[0, 1, 2, 3, 4]]


def test_the_plan_counts_the_same_slices() -> None:
    """recycles_that_fit charges the parent a branch and an invoke per child: it cuts where slices()
    cuts, so a window of jobs with several recycles each needs more children than their operations do."""
    args = ([Mode.REPLACE] * 120, [60] * 120, 15)
    names = [f"fleet-{n:03}-" + "g" * 240 for n in range(120)]
    three = [3] * 120
    jobs = [item_cost(item(name, recycles=3)) for name in names]
    packed = budget.pack_slices(
        [budget.job_operations(j) for j in jobs],
        budget.Budget().slice_operations,
        [budget.report_bytes(j) for j in jobs],
    )
    assert len(packed) == 3  # by operations alone, two (60 each)
    # The parent: 1 for the first job, 2 per child (a map branch and a chained invoke).
    for children, fits in ((2, False), (3, True)):
        limits = budget.Budget(fan_out=True, operations=1 + 2 * children)
        held = budget.recycles_that_fit(*args, limits, recycles_per_job=three, names=names)
        assert (held == 120) is fits, held
    one_child_each_sixty = budget.Budget(fan_out=True, operations=1 + 2 * 2)
    assert budget.recycles_that_fit(*args, one_child_each_sixty, names=names) == 120


def test_a_job_whose_report_alone_passes_a_checkpoint_is_not_planned() -> None:
    huge = budget.JobCost(recycles=1000, health_seconds=0)
    assert budget.report_bytes(huge) > CHECKPOINT_BUDGET_BYTES
    limits = budget.Budget(fan_out=True, slice_operations=10**9, operations=10**9)
    assert budget.recycles_that_fit([Mode.REPLACE], [0], 15, limits, recycles_per_job=[1000]) == 0


@pytest.mark.parametrize("fill", ["é", '"', "\U0001f525"])
def test_text_within_its_cap_in_characters_but_not_in_bytes_is_clipped(fill: str) -> None:
    """Each field exactly at its cap counted in characters, in characters JSON stores as 2, 6 or 12
    bytes: the checkpoint holds bytes, so the clipped report must still fit its bound."""
    report = longest_report("web", 2, fill)
    assert len(report.detail or "") == budget.REPORT_DETAIL_BYTES
    bound = budget.report_bytes(budget.JobCost(recycles=2, group="web"))
    assert checkpoint_size(clipped(report)) + 1 <= bound
