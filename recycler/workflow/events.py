"""What a run tells EventBridge: one event per group outcome worth hearing about, one per run.

- `Recycle Succeeded` / `Recycle Failed`: every group recycled or failed; detail is its RunReport entry.
- `Recycle Skipped`: only a skip someone should act on (NOTABLE_SKIPS: a bad tag, a group that can never
  be recycled as configured, a failed canary, a run stopped by failures). Routine skips (too young,
  recently recycled, within its freshness target, not opted in, a brake that held the whole run) are
  counted in `Run Completed` instead: a daily run over 200 groups would otherwise emit 200 events a day
  that say "nothing to do".
- `Run Completed`: the summary, skips counted by reason, the names of failed groups; never every group.

Every detail carries the run id and a deterministic `event_id` (run id, group, outcome): emitted from one
checkpointed step, a replay never sends them again, but a step interrupted after PutEvents returned and
before its checkpoint is retried, so a consumer that must not double-count dedupes on `event_id`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from recycler.domain import AWS_ERRORS, Reason
from recycler.report import GroupReport, RunReport
from recycler.workflow.port import Services

logger = logging.getLogger(__name__)

SUCCEEDED = "Recycle Succeeded"
FAILED = "Recycle Failed"
SKIPPED = "Recycle Skipped"
RUN_COMPLETED = "Run Completed"
# Skips that need a person: the group cannot be recycled until someone changes something.
NOTABLE_SKIPS = frozenset(
    {
        Reason.INVALID_TAG,
        Reason.NOT_FOUND,
        Reason.PROCESSES_SUSPENDED,
        Reason.TOO_SMALL,
        Reason.NO_ROOM_TO_SURGE,
        Reason.NO_CANDIDATE,
        Reason.NO_DRAIN_HOOK,
        Reason.CANARY_FAILED,
        Reason.EARLIER_RECYCLE_FAILED,
        Reason.STOPPED_AFTER_FAILURES,
    }
)
# One event must stay well under PutEvents' 256 KB (recycler/aws/events.py): a group's recycles list
# (a freshness target's cap) is the only part that grows; above this it is counted instead.
DETAIL_BUDGET_BYTES = 64 * 1024
MAX_NAMES = 100  # failed groups named in Run Completed


@dataclass(frozen=True)
class EventsSent:
    """The events step's checkpointed result."""

    sent: int = 0
    problems: list[str] = field(default_factory=list)


def kind_of(group: GroupReport) -> str | None:
    if group.outcome == "recycled":
        return SUCCEEDED
    if group.outcome == "failed":
        return FAILED
    if group.outcome == "skipped" and group.reason in NOTABLE_SKIPS:
        return SKIPPED
    return None  # planned (a dry run decides, it does not act) and routine skips


def chat_notification(event_id: str, run_id: str, title: str, description: str) -> dict[str, Any]:
    """The event as a chat message, whole: Chatbot's custom notification (version 1.0, source custom; a
    run's events share a thread), which the chat feed's rule delivers as it is (InputPath
    `$.detail.chat`, infra/chat.py), so it stays JSON whatever a group name or an AWS error text holds.
    An input template would put those texts inside its quoted strings unescaped (EventBridge substitutes
    plain text: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html)
    and a quote or a newline in a failure's detail made a message Chatbot drops.
    https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html"""
    return {
        "version": "1.0",
        "source": "custom",
        "id": event_id,
        "content": {"textType": "client-markdown", "title": title, "description": description},
        "metadata": {"threadId": run_id, "summary": title},
    }


def group_detail(report: RunReport, group: GroupReport) -> dict[str, Any]:
    event_id = f"{report.run_id}/{group.group}/{group.outcome}"
    entry = group.model_dump(mode="json")
    detail: dict[str, Any] = {
        "event_id": event_id,
        "run_id": report.run_id,
        "dry_run": report.dry_run,
        **entry,
        "chat": chat_notification(
            event_id,
            report.run_id,
            f"recycler: {kind_of(group)} - {group.group}",
            f"*{entry['outcome']}*: {entry['reason']}\n{entry['detail']}\nrun {report.run_id}",
        ),
    }
    if len(json.dumps(detail, separators=(",", ":"))) > DETAIL_BUDGET_BYTES:
        detail["recycles_omitted"] = len(detail.pop("recycles"))
    return detail


def run_detail(report: RunReport) -> dict[str, Any]:
    skipped = Counter(g.reason for g in report.groups if g.outcome == "skipped")
    failed = [g.group for g in report.groups if g.outcome == "failed"]
    summary = report.summary
    return {
        "event_id": f"{report.run_id}/run",
        "run_id": report.run_id,
        "started_at": report.started_at,
        "dry_run": report.dry_run,
        "summary": report.summary.model_dump(mode="json"),
        "skipped_by_reason": dict(skipped + Counter(report.skipped_groups_omitted)),
        "failed_groups": failed[:MAX_NAMES],
        "failed_groups_omitted": max(0, len(failed) - MAX_NAMES),
        "alerts_failed": report.alerts_failed[:MAX_NAMES],
        "fleet_oldest_instance_age_days": report.fleet_oldest_instance_age_days,
        "fleet_instance_age_p50_days": report.fleet_instance_age_p50_days,
        "fleet_instance_age_p95_days": report.fleet_instance_age_p95_days,
        "fleet_oldest_image_age_days": report.fleet_oldest_image_age_days,
        # revert_on_canary_failure: each launch path of a condemned image, put back or why not.
        "reverted": [r.model_dump(mode="json") for r in report.reverted],
        "chat": chat_notification(
            f"{report.run_id}/run",
            report.run_id,
            f"recycler run {report.run_id} completed",
            f"recycled {summary.recycled}, failed {summary.failed}, skipped {summary.skipped}"
            f" (dry run: {str(report.dry_run).lower()})",
        ),
    }


def run_events(report: RunReport) -> list[tuple[str, dict[str, Any]]]:
    """The run's events in report order (groups by name), the run's own last."""
    events = [(kind, group_detail(report, g)) for g in report.groups if (kind := kind_of(g))]
    return [*events, (RUN_COMPLETED, run_detail(report))]


def emit(services: Services, report: RunReport) -> EventsSent:
    """Put the run's events; a refused or failed call is a result to report, never an exception."""
    assert services.events is not None
    events = run_events(report)
    try:
        problems = services.events.put(events)
    except AWS_ERRORS as error:
        logger.error("events not delivered", extra={"run_id": report.run_id, "error": str(error)})
        return EventsSent(sent=0, problems=[f"{len(events)} events: {error}"])
    return EventsSent(sent=len(events) - len(problems), problems=problems)
