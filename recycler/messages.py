"""Every text an operator reads: alert subjects and bodies, what to do next for what failed, the run
summary, failure reasons that carry numbers (the commands that fix or undo something: fix_commands.py).

Matched on the domain's Reason codes, never on a message's wording (like karpenter's disruption events
file): a reworded message cannot change which advice an alert gives.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from recycler.domain import ATTENTION_SKIPS, DRAIN_FAILURES, AdapterError, Reason
from recycler.fix_commands import launch_path_steps, revert_lines
from recycler.messages_replacement import group_line, image_failed, replacement_steps

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from recycler.report import GroupReport, RunReport

SUBJECT_LIMIT = 100
SNS_MESSAGE_BYTES = 256 * 1024  # SNS's maximum message size
LISTED_GROUPS = 200  # a summary lists every group up to this many; beyond it, skips are counted
SNS_SUBJECT_SAFE = str.maketrans({"\n": " ", "\r": " "})


def _subject(text: str) -> str:
    """SNS subjects must be ASCII-ish, one line, at most 100 characters."""
    text = text.translate(SNS_SUBJECT_SAFE).encode("ascii", "replace").decode()
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 1] + "~"


def console_links(region: str, group: str, instance_ids: list[str]) -> list[str]:
    base = f"https://{region}.console.aws.amazon.com"
    links = [f"{base}/ec2/home?region={region}#AutoScalingGroupDetails:id={group};view=activity"]
    links += [f"{base}/ec2/home?region={region}#InstanceDetails:instanceId={i}" for i in instance_ids]
    return links


def failure_message(
    report: GroupReport, run_id: str, region: str, context: dict[str, Any], failure: Reason | None = None
) -> tuple[str, str]:
    """(subject, body) for one failed group; `failure` is what failed, when the reason is worded."""
    subject = _subject(f"recycler FAILED: {report.group} - {report.reason}")
    victim = report.victim
    replacement = report.replacement
    lines = [
        f"Recycling Auto Scaling group {report.group!r} FAILED in run {run_id}.",
        "",
        f"What failed:   {report.reason}",
        f"Details:       {report.detail or '-'}",
        f"Mode:          {report.mode}",
    ]
    if victim:
        lines.append(
            f"Victim:        {victim.instance_id} (launched {victim.launch_time}, "
            f"{victim.age_days if victim.age_days is not None else '?'} days old, AMI {victim.image_id})"
        )
    if replacement and replacement.instance_id:
        lines.append(f"Replacement:   {replacement.instance_id} (AMI {replacement.image_id})")
    else:
        lines.append("Replacement:   none seen InService")
    checks = context.get("checks") or {}
    for check, state in checks.items():
        lines.append(f"  check {check}: {state}")
    if context.get("last_activity"):
        lines.append(f"Last scaling activity: {context['last_activity']}")
    if report.waited_seconds is not None:
        lines.append(f"Waited:        {report.waited_seconds:.0f} s")
    ids = [
        i
        for i in [victim.instance_id if victim else None, replacement.instance_id if replacement else None]
        if i
    ]
    lines += ["", "Console:"] + [f"  {link}" for link in console_links(region, report.group, ids)]
    lines += [
        "",
        "What to do next:",
        *next_steps(report, checks, failure),
        "  3. The group is recycled again only after the issue is fixed and the min interval passed;",
        '     a drill can re-run it now: {"groups": ["' + report.group + '"], "force": true}.',
        "",
        "JSON:",
        json.dumps(
            {"run_id": run_id, **report.model_dump(mode="json"), "context": context}, indent=2, default=str
        ),
    ]
    return subject, "\n".join(lines)


def next_steps(report: GroupReport, checks: dict[str, str], failure: Reason | None = None) -> list[str]:
    """The first two steps, for what failed: a drain, a launch hook, an ECS agent, or the replacement."""
    failure = failure or failure_code(report.reason)
    if failure is Reason.BAKE_FAILED:
        return [
            f"  1. The replacement passed its health checks, then failed its bake ({report.detail}). It is "
            "still in the group: look at it now (its logs, the alarm's metric), then terminate it or let the "
            "group replace it once the launch path boots a good image.",
            "  2. " + launch_path_steps(report.current_image_id),
        ]
    if failure is Reason.BAKE_PAST_DEADLINE:
        return [
            f"  1. The canary's replacement passed its health checks, then the run reached its deadline (80 % "
            f"of the execution timeout) before the bake ended ({report.detail}). Nothing is wrong with the "
            "group; the image is neither proven nor condemned, so the next run bakes a canary again.",
            "  2. Let the bake fit one run: lower the group's recycler:bake-minutes tag, or raise "
            "recycler:execution_timeout_hours; a smaller run (fewer groups) also leaves the bake more room.",
        ]
    if failure in DRAIN_FAILURES:
        cluster = (report.container_host or "ecs:<cluster> ").removeprefix("ecs:").split(" ", 1)[0]
        victim = report.victim.instance_id if report.victim else "<victim>"
        return [
            f"  1. Nothing was terminated. See what still runs on {victim}: aws ecs list-container-instances "
            f"--cluster {cluster} --filter 'ec2InstanceId == {victim}', then aws ecs list-tasks --cluster "
            f"{cluster} --container-instance <arn>.",
            "  2. Standalone tasks never move: stop them or let them finish; services need room elsewhere in "
            "the cluster. Or raise the group's recycler:drain-timeout-minutes.",
        ]
    if failure is Reason.LAUNCH_HOOK_TIMED_OUT:
        return [
            "  1. The replacement waits in Pending:Wait until its launch lifecycle hook completes: find the "
            "deployment that owns the hook (CodeDeploy: the group's latest deployment) and why it has not finished.",
            "  2. If deployments legitimately take longer, raise the group's recycler:health-timeout-minutes.",
        ]
    if failure is Reason.NO_CAPACITY:
        return [
            "  1. Auto Scaling could not launch the replacement (no capacity for the instance type, or the "
            "account's instance quota); it keeps retrying. The image is not at fault: nothing was condemned.",
            "  2. Give the group more instance types (a MixedInstancesPolicy) or Availability Zones, or raise "
            "the quota; the group is one instance short until the launch succeeds.",
        ]
    if any(check.startswith("ecs ") and state != "ACTIVE" for check, state in checks.items()):
        return [
            "  1. The replacement never joined its ECS cluster: check the ECS agent on it (the AMI's agent, and "
            "ECS_CLUSTER in the launch template's user data).",
            "  2. Until it registers, the group's tasks have one instance less to run on.",
        ]
    return replacement_steps(failure)


def summary_message(report: RunReport) -> tuple[str, str]:
    failed = [g for g in report.groups if g.outcome == "failed"]
    stopped = [g for g in report.groups if g.reason == Reason.STOPPED_AFTER_FAILURES]
    missed = (
        f", {len(report.freshness_missed)} missing their freshness target" if report.freshness_missed else ""
    )
    subject = _subject(
        f"recycler run {report.run_id[:8]}: {len(failed)} failed, {report.summary.recycled} recycled, "
        f"{len(stopped)} stopped{missed}"
    )
    lines = [f"recycler run {report.run_id} started {report.started_at}", ""]
    for canary in filter(image_failed, report.groups):
        held = sum(
            1
            for g in report.groups
            if g.reason == Reason.CANARY_FAILED and g.current_image_id == canary.current_image_id
        )
        lines += [
            f"CANARY FAILED: image {canary.current_image_id} failed on {canary.group} ({canary.reason}); "
            f"{held} other group(s) that would launch it were not touched by recycler, but launch it on "
            "their next scale-out until their launch path is put back:",
            "  " + launch_path_steps(canary.current_image_id),
            *revert_lines([r for r in report.reverted if r.image == canary.current_image_id]),
            "",
        ]
    for group in report.freshness_missed:
        seen = group.freshness
        assert seen is not None
        needs = f"needs {seen.needs_per_run} per run" if seen.needs_per_run else "no per-run cap can hold it"
        reaches = f"reaches {seen.reaches_days:.1f} d" if seen.reaches_days is not None else ""
        fix = f"fix: {seen.fix}" if seen.fix else ""
        parts = [f"{group.group} ({seen.target_days:g}-day target)", needs, seen.limited_by, reaches, fix]
        lines.append("FRESHNESS TARGET MISSED: " + "; ".join(p for p in parts if p))
    every_group = len(report.groups) <= LISTED_GROUPS
    listed = report.groups if every_group else [g for g in report.groups if g.outcome != "skipped"]
    for group in listed:
        lines.append(group_line(group, ATTENTION_SKIPS))
    not_listed = Counter(report.skipped_groups_omitted)
    if not every_group:
        not_listed += Counter(g.reason for g in report.groups if g.outcome == "skipped")
    if not_listed:
        counts = ", ".join(f"{reason}={count}" for reason, count in sorted(not_listed.items()))
        lines.append(f"  and {sum(not_listed.values())} skipped group(s) not listed: {counts}")
    body = "\n".join([*lines, "", "JSON:", json.dumps(report.bounded(SNS_MESSAGE_BYTES // 2), indent=2)])
    if len(body.encode()) > SNS_MESSAGE_BYTES:
        cut = body.encode()[: SNS_MESSAGE_BYTES - 200].decode(errors="ignore")
        body = cut + "\n... truncated at SNS's 256 KB; the whole report is the execution's result"
    return subject, body


def failure_code(reason: str) -> Reason | None:
    """The code of a reason that is one (a worded reason, such as a timeout's, has none)."""
    try:
        return Reason(reason)
    except ValueError:
        return None


# ---- failure reasons that carry numbers ---------------------------------------------------------


def timed_out(failure: Reason, timeout_seconds: int, launch_hooks: tuple[str, ...] = ()) -> str:
    """The report's reason for a health wait that ran out of time."""
    if failure is Reason.LAUNCH_HOOK_TIMED_OUT:
        return f"launch hook {', '.join(launch_hooks)} not completed after {timeout_seconds} s"
    return f"{Reason.REPLACEMENT_UNHEALTHY.value} after {timeout_seconds} s"


def is_replacement_timeout(reason: str) -> bool:
    """The reason timed_out words for a replacement that never passed every check in time."""
    return reason.startswith(f"{Reason.REPLACEMENT_UNHEALTHY.value} after ")


def no_capacity(timeout_seconds: int, last_failure: str) -> str:
    """The detail of a recycle whose replacement found no capacity until the health timeout."""
    return (
        f"no capacity for the replacement in {timeout_seconds} s; Auto Scaling's last attempt: {last_failure}"
    )


def capacity_retry(last_failure: str) -> str:
    return f"no new instance yet: Auto Scaling retries a launch that failed for capacity ({last_failure})"


def aws_error_text(error: Exception) -> str:
    """An AWS error in one line: its code and message (an adapter's own error: its text)."""
    if isinstance(error, AdapterError):
        return str(error)
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', '')}"
    return f"{type(error).__name__}: {error}"


def scale_out_imminent(cause: str, at: datetime, capacity: str, window: timedelta) -> str:
    """A group about to scale out keeps every instance (policy/stampede.py)."""
    when, minutes = f"{at:%Y-%m-%d %H:%M} UTC", f"{window.total_seconds() / 60:.0f}"
    return (
        f"{cause} scales it out at {when} ({capacity}), within this recycle's worst case plus margin "
        f"({minutes} min): not recycled now; eligible on a run after {when}"
    )


def scale_out_unknown(why: str) -> str:
    return f"could not tell whether it scales out soon ({why}): not recycled; the next run reads it again"


def past_deadline(left_seconds: float, needs_seconds: int) -> str:
    return (
        f"the durable execution has {max(left_seconds, 0) / 60:.0f} min left of its time budget and this "
        f"recycle may take up to {needs_seconds / 60:.0f} min (health timeout, drain, bake): not started, "
        "so Lambda never stops it mid-wait; the next run takes it"
    )


def not_a_verdict(canary: str, reason: str) -> str:
    return (
        f"{canary} failed with {reason}, which does not prove the image broken: no launch path rewritten; "
        "the groups on it are held back until a recycle proves it"
    )


def version_differs(template: str, version: int, default: int) -> str:
    return (
        f"version {version} of {template} launches a proven image but differs from default version {default} "
        "in more than its image: setting it back would undo those changes too, so recycler left it"
    )


def revert_unreadable(error: Exception) -> str:
    return f"the launch path could not be read ({type(error).__name__}: {error}): nothing written"
