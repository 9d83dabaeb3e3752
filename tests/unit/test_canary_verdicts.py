"""Which canary failures hold an image back (condemns_image) and which prove it broken enough to put
its launch path back for every group (proves_image_broken): the second is the stricter, since it writes
to what every group on the image launches next."""

from __future__ import annotations

import pytest

from recycler.domain import Reason
from recycler.messages import timed_out
from recycler.report import GroupReport, ReplacementReport
from recycler.workflow.canary import condemns_image, proves_image_broken

REPLACEMENT = ReplacementReport(instance_id="i-new", image_id="ami-new", ami_refreshed=True)


def failed(
    reason: str, detail: str = "", *, replacement: ReplacementReport | None = REPLACEMENT
) -> GroupReport:
    return GroupReport(
        group="web",
        outcome="failed",
        reason=reason,
        detail=detail,
        canary=True,
        waited_seconds=60.0,
        replacement=replacement,
    )


@pytest.mark.parametrize(
    "reason",
    [
        Reason.DRAIN_TIMEOUT,
        Reason.DRAIN_INTERRUPTED,
        Reason.DRAIN_FAILED,
        Reason.CONTAINER_INSTANCE_NOT_FOUND,
        Reason.TERMINATE_FAILED,
        Reason.SURGE_FAILED,
        Reason.NO_CAPACITY,
        Reason.GROUP_DELETED,
    ],
)
def test_a_failure_before_any_replacement_was_judged_condemns_nothing(reason: Reason) -> None:
    # A drain's report carries the drain's waited_seconds: still no replacement launched from the image.
    assert not condemns_image(failed(reason.value))
    assert not proves_image_broken(failed(reason.value))


@pytest.mark.parametrize(
    ("report", "proves"),
    [
        (failed(Reason.REPLACEMENT_UNHEALTHY.value), True),
        (failed(Reason.BAKE_FAILED.value), True),
        (failed(timed_out(Reason.REPLACEMENT_TIMED_OUT, 600)), True),
        (failed(timed_out(Reason.REPLACEMENT_TIMED_OUT, 600), replacement=None), False),
        (failed(Reason.LAUNCH_FAILED.value, "Failed: ... The image id '[ami-new]' does not exist"), True),
        (
            failed(
                Reason.LAUNCH_FAILED.value, "Cancelled: ... Lifecycle Action Completed with ABANDON Result"
            ),
            False,
        ),
        (failed(timed_out(Reason.LAUNCH_HOOK_TIMED_OUT, 635, ("deploy",))), False),
        (failed(Reason.INTERNAL_ERROR.value), False),
    ],
    ids=[
        "unhealthy",
        "bake",
        "timeout-seen",
        "timeout-never-seen",
        "launch-names-image",
        "launch-hook-abandon",
        "launch-hook-timeout",
        "internal-error",
    ],
)
def test_only_a_verdict_on_the_image_puts_its_launch_path_back(report: GroupReport, proves: bool) -> None:
    assert condemns_image(report)  # every one of these holds the image back
    assert proves_image_broken(report) is proves
