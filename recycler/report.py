"""The RunReport contract (design.md §8): what a run returns, prints with --json and alerts from."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from recycler.domain import Mode

Outcome = Literal["recycled", "planned", "skipped", "failed"]
_ISO = re.compile(r"^\d{4}-")


class VictimReport(BaseModel):
    instance_id: str
    launch_time: str | None
    image_id: str | None
    age_days: float | None = None
    image_age_days: float | None = None  # days since the victim's AMI was built


class ReplacementReport(BaseModel):
    instance_id: str | None
    image_id: str | None
    ami_refreshed: bool | None
    image_age_days: float | None = None


class RecycleReport(BaseModel):
    victim: VictimReport
    replacement: ReplacementReport | None = None
    outcome: Outcome
    reason: str
    waited_seconds: float | None = None


class FreshnessReport(BaseModel):
    """A freshness target as the plan saw it (policy/freshness.py): this run's share, the per-run rate
    that holds it, the cap and what sets it, and when it holds; `missed`: never at this rate."""

    target_days: float
    instances: int
    this_run: int
    needs_per_run: int | None  # None: no cap can hold it (runs that may act are further apart)
    cap: int | None
    limited_by: str = ""
    oldest_age_days: float
    within_target_at: str | None  # the run from which every instance stays within; None: never
    reaches_days: float | None = None  # the oldest age it settles at, when missed
    fix: str = ""
    missed: bool = False


class GroupReport(BaseModel):
    group: str
    outcome: Outcome
    reason: str
    detail: str = ""
    mode: Mode = Mode.REPLACE
    victim: VictimReport | None = None
    replacement: ReplacementReport | None = None
    waited_seconds: float | None = None
    oldest_instance_age_days: float | None = None
    current_image_id: str | None = None
    alert_published: bool = False
    canary: bool = False  # this group ran (or would run) alone as the canary for its image
    # A canary's bake: seconds its replacement stayed healthy after the health checks passed (None: no
    # bake), and whether the bake proved the image (False: inconclusive, the image stays unproven).
    baked_seconds: float | None = None
    baked: bool | None = None
    # With a freshness target: every recycle planned or done for the group in this run (the first is
    # also in victim/replacement), and how many due instances the per-run cap left for later runs.
    recycles: list[RecycleReport] = Field(default_factory=list)
    behind_by: int = 0
    freshness: FreshnessReport | None = None
    # AMI truth: how old the images are (days since built), and how many instances are not on the
    # image the group launches now; current_image_reason says why current_image_id is unknown.
    current_image_age_days: float | None = None
    oldest_image_age_days: float | None = None
    drifted_instances: int = 0
    current_image_reason: str | None = None
    # Container hosts: the health timeout this recycle used (or would use: a launch lifecycle hook
    # lengthens it), what runs on the instances and who drains them, instances parked in Standby
    # (never candidates), and whether replacements may come from a warm pool.
    health_timeout_seconds: int | None = None
    container_host: str | None = None
    standby_instances: int = 0
    warm_pool: bool = False


class RevertReport(BaseModel):
    """One launch path a condemned image was found on, and what recycler:revert_on_canary_failure did
    with it (recycler/workflow/revert.py): outcome is a policy.revert.RevertOutcome value."""

    image: str  # the condemned image
    path: str  # "ssm parameter /golden/ami", "launch template lt-... (name) version $Default"
    groups: list[str] = Field(default_factory=list)  # the groups that launch through it
    outcome: str
    restored_from: str | None = None  # the broken id (or the version that held it)
    restored_to: str | None = None  # the proven value or version now in place
    detail: str = ""


class Summary(BaseModel):
    recycled: int = 0
    planned: int = 0
    skipped: int = 0
    failed: int = 0
    instances_recycled: int = 0  # groups count once above; a freshness target recycles several each


class RunReport(BaseModel):
    run_id: str
    started_at: str
    dry_run: bool
    seed: int
    groups: list[GroupReport]
    summary: Summary
    alerts_failed: list[str] = Field(default_factory=list)
    # EventBridge events not delivered (recycler/workflow/events.py): reported and logged, but unlike an
    # undelivered alert they do not fail the run, since no person is waiting on them.
    events_failed: list[str] = Field(default_factory=list)
    # Which account and region the run read (the CLI asks STS once), so nobody drills the wrong one.
    account: str | None = None
    region: str | None = None
    trigger: str | None = None  # what started the run when it was not the schedule or a drill
    # Very large fleets: skipped groups not listed in `groups`, counted by reason (each is in the log as
    # a "group result" line). The fleet's oldest ages count them too.
    skipped_groups_omitted: dict[str, int] = Field(default_factory=dict)
    fleet_oldest_instance_age_days: float | None = None
    fleet_oldest_image_age_days: float | None = None
    # Every instance of the decided groups, as the plan read them (before this run replaced any).
    fleet_instance_age_p50_days: float | None = None
    fleet_instance_age_p95_days: float | None = None
    # Launch paths of images a canary condemned in this run, put back or not (revert_on_canary_failure).
    reverted: list[RevertReport] = Field(default_factory=list)
    # With an organization's verdict store (docs/many-accounts.md, Verdicts): why it could not be read,
    # when it could not. This run then judged every image from its own ledger alone, and recorded
    # nothing for the organization.
    organization_verdicts_unreadable: str | None = None

    @classmethod
    def build(
        cls,
        run_id: str,
        started_at: str,
        dry_run: bool,
        seed: int,
        groups: list[GroupReport],
        alerts_failed: list[str] | None = None,
        omitted: dict[str, int] | None = None,
        trigger: str | None = None,
        omitted_oldest: tuple[float | None, float | None] = (None, None),
        fleet_percentiles: tuple[float | None, float | None] = (None, None),
        reverted: list[RevertReport] | None = None,
    ) -> RunReport:
        counts = Summary(skipped=sum((omitted or {}).values()))
        for group in groups:
            setattr(counts, group.outcome, getattr(counts, group.outcome) + 1)
            if group.recycles:
                counts.instances_recycled += sum(1 for r in group.recycles if r.outcome == "recycled")
            elif group.outcome == "recycled":
                counts.instances_recycled += 1
        return cls(
            run_id=run_id,
            started_at=started_at,
            dry_run=dry_run,
            seed=seed,
            groups=groups,
            summary=counts,
            alerts_failed=alerts_failed or [],
            trigger=trigger,
            skipped_groups_omitted=omitted or {},
            fleet_oldest_instance_age_days=_oldest(
                [g.oldest_instance_age_days for g in groups], omitted_oldest[0]
            ),
            fleet_oldest_image_age_days=_oldest([g.oldest_image_age_days for g in groups], omitted_oldest[1]),
            fleet_instance_age_p50_days=fleet_percentiles[0],
            fleet_instance_age_p95_days=fleet_percentiles[1],
            reverted=reverted or [],
        )

    def bounded(self, limit_bytes: int) -> dict[str, Any]:
        """The report as JSON, or, when it is larger than limit_bytes, without its skipped groups
        (counted by reason in skipped_groups_omitted)."""
        body = self.model_dump(mode="json")
        if len(json.dumps(body, separators=(",", ":"))) <= limit_bytes:
            return body
        skipped = Counter(g["reason"] for g in body["groups"] if g["outcome"] == "skipped")
        body["groups"] = [g for g in body["groups"] if g["outcome"] != "skipped"]
        body["skipped_groups_omitted"] = dict(Counter(body["skipped_groups_omitted"]) + skipped)
        return body

    @property
    def freshness_missed(self) -> list[GroupReport]:
        """Groups whose freshness target cannot hold at the planned rate."""
        return [g for g in self.groups if g.freshness is not None and g.freshness.missed]

    @property
    def failed(self) -> bool:
        return self.summary.failed > 0 or bool(self.alerts_failed)


def _oldest(ages: Sequence[float | None], other: float | None) -> float | None:
    known = [a for a in (*ages, other) if a is not None]
    return max(known) if known else None
