"""Several recycles of one group in one run (the freshness target), summed up in one group report."""

from __future__ import annotations

from dataclasses import asdict

from recycler.models import GroupReport, Outcome, RecycleReport, VictimReport
from recycler.policy import Reason
from recycler.workflow.state import Job


def group_of_recycles(job: Job, done: list[GroupReport]) -> GroupReport:
    """The group's report for several recycles in one run: the first recycle's victim and replacement
    (compatibility), every recycle in `recycles`, and the outcome of the first that did not succeed."""
    recycles = [
        RecycleReport(
            victim=r.victim or VictimReport(**asdict(v)),
            replacement=r.replacement,
            outcome=r.outcome,
            reason=r.reason,
            waited_seconds=r.waited_seconds,
        )
        for r, v in zip(done, job.victims, strict=False)
    ]
    last = done[-1]
    stopped = last if last.outcome != "recycled" else None
    failed = stopped is not None and stopped.outcome == "failed"
    rest_reason = Reason.EARLIER_RECYCLE_FAILED.value if failed or stopped is None else stopped.reason
    recycles += [
        RecycleReport(victim=VictimReport(**asdict(v)), outcome="skipped", reason=rest_reason)
        for v in job.victims[len(done) :]
    ]
    recycled = sum(1 for r in done if r.outcome == "recycled")
    detail = f"recycled {recycled} of {len(job.victims)} due instance(s), one after another"
    if stopped is not None:
        victim_id = stopped.victim.instance_id if stopped.victim else "?"
        detail += f"; recycle {len(done)} (victim {victim_id}) {stopped.outcome}: {stopped.reason}"
        detail += f": {stopped.detail}"
    if job.behind_by:
        detail += f"; behind by {job.behind_by}"
    outcome: Outcome = "failed" if failed else ("recycled" if recycled else done[0].outcome)
    waits = [r.waited_seconds for r in done if r.waited_seconds is not None]
    return done[0].model_copy(
        update={
            "outcome": outcome,
            "reason": stopped.reason if failed and stopped else done[0].reason,
            "detail": detail,
            "recycles": recycles,
            "waited_seconds": round(sum(waits), 1) if waits else None,
        }
    )
