"""What a group held behind its image's canary is told (recycler/workflow/reports.py)."""

from __future__ import annotations

from recycler.report import GroupReport
from recycler.workflow.reports import canary_failed

IMAGE = "ami-0123456789abcdef0"


def held(group: str) -> GroupReport:
    return GroupReport(group=group, outcome="planned", reason="oldest-instance", current_image_id=IMAGE)


def test_a_group_behind_a_failed_canary_is_told_what_failed() -> None:
    canary = held("web").model_copy(update={"outcome": "failed", "reason": "replacement unhealthy"})
    assert (
        canary_failed(held("api"), canary).detail
        == f"canary web failed on image {IMAGE}: replacement unhealthy"
    )


def test_a_group_behind_a_canary_that_found_its_image_condemned_is_told_who_condemned_it() -> None:
    """The canary's claim found the image condemned by another run: web never ran, so "canary web
    failed" would send the operator to the wrong group."""
    why = f"image {IMAGE} was condemned by run r-1's canary on group db (2026-12-07T03:00:00+00:00) after this run planned"
    canary = held("web").model_copy(update={"outcome": "skipped", "reason": "canary-failed", "detail": why})
    told = canary_failed(held("api"), canary)
    assert (told.outcome, told.reason, told.detail) == ("skipped", "canary-failed", why)
