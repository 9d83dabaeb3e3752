"""Why a group was not recycled, or why its recycle failed: the codes every report, metric and alert
carries. Part of the domain (recycler.domain re-exports them); nothing here imports another recycler
module."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a group was not recycled (skip codes, design.md §4) or why its recycle failed (failure codes).

    A report's `reason` is one of these values, except where a failure's text carries a number (a
    timeout's seconds, a hook's name): `messages.py` words those, from the code that says what failed."""

    NOT_OPTED_IN = "not-opted-in"
    OPTED_OUT = "opted-out"
    NOT_FOUND = "not-found"
    INVALID_TAG = "invalid-tag"
    KILL_SWITCH = "kill-switch"
    BLACKOUT = "blackout"
    ALARM_FIRING = "alarm-firing"
    RECENTLY_RECYCLED = "recently-recycled"
    TOO_YOUNG = "too-young"
    NOT_STEADY = "not-steady"
    PROCESSES_SUSPENDED = "processes-suspended"
    ACTIVITY_IN_PROGRESS = "activity-in-progress"
    TOO_SMALL = "too-small"
    NO_ROOM_TO_SURGE = "no-room-to-surge"
    NO_CANDIDATE = "no-candidate"
    RUN_LIMIT = "run-limit"
    STOPPED_AFTER_FAILURES = "stopped-after-failures"
    CANARY_FAILED = "canary-failed"
    WITHIN_TARGET = "within-target"
    EARLIER_RECYCLE_FAILED = "earlier-recycle-failed"
    DEFERRED_BUDGET = "deferred-budget"
    NO_DRAIN_HOOK = "no-drain-hook"
    WAITING_FOR_SOAK = "waiting-for-soak"  # recycler:rings: not yet soaked in the ring before this one
    SCALE_OUT_IMMINENT = "scale-out-imminent"  # a scheduled or predictive scale-out within the recycle

    # Failures: what went wrong once recycler acted, or was about to.
    LEDGER_UNAVAILABLE = "ledger-unavailable"
    PREFLIGHT_ERROR = "preflight-error"
    TERMINATE_FAILED = "terminate-failed"
    SURGE_FAILED = "surge-failed"
    DRAIN_FAILED = "drain-failed"
    DRAIN_TIMEOUT = "drain-timeout"
    DRAIN_INTERRUPTED = "drain-interrupted"
    CONTAINER_INSTANCE_NOT_FOUND = "container-instance-not-found"
    INTERNAL_ERROR = "internal-error"
    RUN_INTERRUPTED = "run-interrupted"  # the operator's Ctrl-C stopped a CLI run
    REPLACEMENT_UNHEALTHY = "replacement unhealthy"
    LAUNCH_FAILED = "launch failed"
    GROUP_DELETED = "group deleted"
    # Auto Scaling could not launch the replacement for want of capacity (or the account's instance
    # quota) until the health timeout: not the image's fault.
    NO_CAPACITY = "no-capacity"
    # Worded with their numbers by messages.py ("replacement unhealthy after 900 s").
    REPLACEMENT_TIMED_OUT = "replacement-timed-out"
    LAUNCH_HOOK_TIMED_OUT = "launch-hook-timed-out"
    BAKE_FAILED = "bake-failed"
    BAKE_PAST_DEADLINE = "bake-past-deadline"  # the run's deadline came first: no verdict on the image
    # A run a publish event started recycles only canaries; the rest wait for their scheduled run.
    SCHEDULED_LATER = "scheduled-later"
    CANARY_IN_PROGRESS = "canary-in-progress"
    # A canary's claim found its image proven by another run's canary after this run planned: the group
    # goes on as a proven image's recycle (a publish event's run: scheduled-later).
    PROVEN_SINCE_PLANNED = "proven-since-planned"
    OUTSIDE_MAINTENANCE_WINDOW = "outside-maintenance-window"
    # What a plan decided for a group it recycles.
    OLDEST_INSTANCE = "oldest-instance"
    # CodeDeploy groups (policy/codedeploy.py); the last two fail a recycle without judging the image.
    DEPLOYMENT_IN_PROGRESS = "deployment-in-progress"
    PROCESSES_LEFT_SUSPENDED = "processes-left-suspended"
    REVISION_FAILED = "revision-failed"
    LAUNCH_LOOP = "launch-loop"


# A drain that failed leaves the victim running: the alert's next steps are about its tasks.
DRAIN_FAILURES = frozenset(
    {Reason.DRAIN_TIMEOUT, Reason.DRAIN_INTERRUPTED, Reason.DRAIN_FAILED, Reason.CONTAINER_INSTANCE_NOT_FOUND}
)

# Failures that do not condemn the image: no capacity, a deleted group, a refused act, a bake cut by the deadline.
UNJUDGED = {Reason.TERMINATE_FAILED, Reason.SURGE_FAILED, Reason.NO_CAPACITY, Reason.GROUP_DELETED}
NOT_THE_IMAGE = (
    DRAIN_FAILURES | UNJUDGED | {Reason.BAKE_PAST_DEADLINE, Reason.REVISION_FAILED, Reason.LAUNCH_LOOP}
)
# Skips that need an operator (the run's summary alert goes out for them, as for a failure).
ATTENTION_SKIPS = frozenset({Reason.PROCESSES_LEFT_SUSPENDED})
