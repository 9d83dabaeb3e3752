"""The AMI canary: the first recycle onto an image no recycle has proven runs alone.

Most fleets share a few golden AMIs. When a freshly published one is broken, every group that would
launch it fails the same way; so for each image not yet proven healthy, one group (the canary) goes
first, and the others that would launch that image wait until its replacement passed every health
check. If the canary fails, they are skipped (`canary-failed`): one broken instance, not one per group.
Jobs whose image is proven, or unknown (an unknown image is never a canary for others), do not wait.

Pure decisions over planned jobs; run.py schedules them.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence

from recycler.domain import NOT_THE_IMAGE, Mode, Reason
from recycler.messages import is_replacement_timeout
from recycler.policy.launches import TEMPLATE_TEXTS
from recycler.report import GroupReport
from recycler.workflow.state import Job


def headroom(job: Job) -> tuple[bool, int]:
    """How cheaply a group absorbs a failed replacement: surge mode never dips, then the largest."""
    return job.mode is Mode.SURGE, job.desired


def choose_canaries(jobs: Sequence[Job], proven: Collection[str], rng: random.Random) -> dict[str, Job]:
    """One canary per unproven image among these jobs: the most headroom, ties by the run's seed."""
    by_image: dict[str, list[Job]] = {}
    for job in jobs:
        if job.current_image_id is not None and job.current_image_id not in proven:
            by_image.setdefault(job.current_image_id, []).append(job)
    canaries: dict[str, Job] = {}
    for image in sorted(by_image):
        candidates = by_image[image]
        best = max(headroom(j) for j in candidates)
        tied = sorted((j for j in candidates if headroom(j) == best), key=lambda j: j.group)
        canaries[image] = rng.choice(tied)
    return canaries


def condemns_image(report: GroupReport) -> bool:
    """Only a replacement that launched and failed its checks (or its bake, or whose launch the image
    failed) condemns the image. A canary that failed before acting (terminate denied, say) leaves it
    unproven, and so does one that found no capacity: Auto Scaling could not launch anything to judge."""
    if report.outcome != "failed" or report.waited_seconds is None:
        return False
    try:
        return Reason(report.reason) not in NOT_THE_IMAGE
    except ValueError:  # a worded reason (a timeout's) is the image's
        return True


def proves_image_broken(report: GroupReport) -> bool:
    """A verdict on the image itself: the only failures that may put a launch path back for every group
    that uses it (revert_on_canary_failure), a stricter test than condemns_image, which only holds groups
    back. The replacement launched and failed a check or its bake, or stayed unhealthy until the timeout
    once it was seen, or its launch failed naming the image or the launch template. Not a launch hook
    that timed out or abandoned (the deployment's doing as likely as the image's), nor an internal error."""
    if not (report.canary and condemns_image(report)):
        return False
    if report.reason in (Reason.REPLACEMENT_UNHEALTHY, Reason.BAKE_FAILED):
        return True
    if report.reason == Reason.LAUNCH_FAILED:
        return TEMPLATE_TEXTS.search(report.detail) is not None
    return is_replacement_timeout(report.reason) and report.replacement is not None


def waits_for_canary(job: Job, canaries: dict[str, Job]) -> bool:
    canary = canaries.get(job.current_image_id or "")
    return canary is not None and canary.group != job.group


def canary_rng(seed: int, phase: int) -> random.Random:
    """The same choice on every replay of a run: seeded by the run's seed and the scheduling phase."""
    return random.Random(seed * 1_000 + phase)


def describe_plan(job: Job, canaries: dict[str, Job], waiting: int) -> str:
    """The dry-run detail: which group is the canary for which image, and who waits for it."""
    image = job.current_image_id
    if canaries.get(image or "") is job:
        return f"canary for {image}: runs alone first; {waiting} group(s) wait for it; {job.detail}"
    if waits_for_canary(job, canaries):
        return f"waits for canary {canaries[image or ''].group} on {image}; {job.detail}"
    return job.detail
