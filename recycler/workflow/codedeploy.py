"""CodeDeploy in the run: at planning, skip the groups a deployment is under way on (or whose processes a
deployment left suspended); while waiting for health, read the replacement's automatic deployment so a
failed revision is reported as the revision's failure, not the image's, and a launch/terminate loop
ends the wait. The decisions are in recycler/policy/codedeploy.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from recycler.codedeploy import CodeDeployGroup
from recycler.domain import AWS_ERRORS, Decision, GroupSnapshot, Reason
from recycler.messages import aws_error_text
from recycler.policy.codedeploy import (
    blue_green_source,
    guard,
    is_codedeploy_hook,
    replacement_verdict,
    termination_note,
    termination_under_way,
)
from recycler.policy.launches import launched_by_us
from recycler.workflow.port import Services
from recycler.workflow.state import HealthState

# A deployment Auto Scaling starts for our terminate (a termination deployment) can be created a moment
# before the terminate call returns and the wait's start is taken.
CLOCK_SLACK = timedelta(seconds=5)


def with_codedeploy(
    services: Services, snapshots: Sequence[GroupSnapshot], decisions: list[Decision]
) -> list[Decision]:
    """One read of CodeDeploy (aws/codedeploy.py: its applications and deployment groups, then the
    deployments under way to the ones that name a group) for the groups this run would recycle and the
    ones skipped for suspended processes; nothing is read when there are none. A failed read skips
    those groups: nothing is terminated on a group whose deployments recycler cannot see."""
    asked = [d.group for d in decisions if d.recycle or d.reason == Reason.PROCESSES_SUSPENDED.value]
    if services.codedeploy is None or not asked:
        return decisions
    try:
        targets = services.codedeploy.deployment_groups(asked)
    except AWS_ERRORS as error:
        detail = f"could not read CodeDeploy deployments: {aws_error_text(error)}"
        return [d.skipped(Reason.PREFLIGHT_ERROR, detail) if d.recycle else d for d in decisions]
    by_name = {s.name: s for s in snapshots}
    return [
        guard(d, by_name[d.group], targets.get(d.group, ())) if d.group in by_name else d for d in decisions
    ]


def deployment_started_since_plan(
    services: Services, snapshot: GroupSnapshot, launch_hooks: Sequence[str]
) -> tuple[str, str] | None:
    """Right before the terminate (the plan may be minutes old, a pipeline may have deployed since): the
    same guard as at planning, for a group with CodeDeploy's launch hook or named as a blue/green copy.
    (reason, detail) to skip."""
    copy = blue_green_source(snapshot.name) is not None  # a blue/green copy may carry no hook yet
    if services.codedeploy is None or not (copy or any(map(is_codedeploy_hook, launch_hooks))):
        return None
    targets = services.codedeploy.deployment_groups([snapshot.name]).get(snapshot.name, ())
    planned = Decision(group=snapshot.name, recycle=True, reason=Reason.OLDEST_INSTANCE.value)
    checked = guard(planned, snapshot, targets)
    return None if checked.recycle else (checked.reason, checked.detail)


def codedeploy_verdict(
    services: Services,
    group: str,
    started: datetime,
    state: HealthState,
    launch_hooks: Sequence[str],
    surge_from: int | None,
    targets: dict[str, tuple[CodeDeployGroup, ...]],
    timeout: int,
) -> HealthState:
    """After a health poll of a group with CodeDeploy's launch hook: a failed automatic deployment since
    the terminate fails the wait as `revision-failed`, more than one launch as `launch-loop` (neither
    condemns the image); a launch abandoned by the hook alone is not the image's failure either: Auto
    Scaling launches another, so the wait goes on. With terminationHookEnabled, a healthy replacement
    waits (within the health timeout, then reported, not failed) for the victim's termination deployment.
    `targets` caches the deployment groups read once."""
    if services.codedeploy is None or not any(map(is_codedeploy_hook, launch_hooks)):
        return state
    since = started - CLOCK_SLACK  # deployments; launches are counted from the terminate itself
    try:
        if group not in targets:
            targets.update(services.codedeploy.deployment_groups([group]))
            targets.setdefault(group, ())
        if not targets[group]:  # a hook named like CodeDeploy's, no deployment group: judged as any hook
            return state
        if state.status == "healthy":
            return _after_termination_deployment(services, targets[group], since, state, timeout)
        deployments = [d for t in targets[group] for d in services.codedeploy.deployments_since(t, since)]
        launches = [
            a
            for a in services.fleet.recent_activities(group, limit=20)
            if a.is_launch
            and (a.start_time is None or a.start_time >= started)
            and launched_by_us(a, surge_from) is not False
        ]
    except AWS_ERRORS as error:
        return replace(state, detail=f"{state.detail}; CodeDeploy read failed: {aws_error_text(error)}")
    verdict = replacement_verdict(deployments, len(launches))
    if verdict is not None:
        code, detail = verdict
        return replace(state, status="failed", code=code.value, reason=code.value, detail=detail)
    if (
        state.status == "failed"
        and state.code == Reason.LAUNCH_FAILED.value
        and "abandon" in state.detail.lower()
    ):
        return replace(
            state,
            status="waiting",
            code="",
            reason="",
            replacement=None,  # the abandoned instance is gone: the next launch is the replacement
            detail=f"{state.detail}; Auto Scaling launches another",
        )
    return state


def _after_termination_deployment(
    services: Services,
    targets: Sequence[CodeDeployGroup],
    started: datetime,
    state: HealthState,
    timeout: int,
) -> HealthState:
    """A healthy replacement on a group with CodeDeploy's termination hook: the recycle ends once the
    victim's termination deployment has (it holds the victim in Terminating:Wait until then)."""
    hooked = [t for t in targets if t.termination_hook]
    if not hooked or services.codedeploy is None:
        return state
    deployments = [d for t in hooked for d in services.codedeploy.deployments_since(t, started)]
    pending = termination_under_way(deployments)
    if pending is None:
        return state
    note = termination_note(pending, state.elapsed)
    if state.elapsed >= timeout:  # bounded: the replacement is healthy; say so, do not fail the image
        return replace(state, detail=f"{state.detail}; {note}")
    return replace(state, status="waiting", detail=note)
