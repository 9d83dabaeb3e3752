"""What one durable execution may hold, from AWS's documented limits, and what a run costs.

AWS Lambda durable functions: at most 3,000 operations per execution (CloudWatch metric
DurableExecutionOperations), 100 MB of checkpoint data written per execution, 256 KB per checkpoint.
Lambda fails an execution that goes past a limit, wherever it is, even after it terminated instances:
so recycler plans no more recycles than fit, with a margin, and defers the rest (reason
`deferred-budget`); they have the oldest instances left, so the next run takes them first.

The costs below are the workflow's own structure, counted (tests/integration/test_durable_budget.py
pins them against the operations the durable test runner records).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from recycler.domain import Mode

OPERATIONS_LIMIT = 3_000
STORAGE_LIMIT_BYTES = 100 * 1024 * 1024
CHECKPOINT_LIMIT_BYTES = 256 * 1024
# Room for what the counts below do not know about (SDK bookkeeping, a future step).
OPERATIONS_MARGIN = 0.9
STORAGE_MARGIN = 0.5

# start, plan, metrics, the run summary alert; plus the map of the first phase, and one more map per
# image a canary runs for (its own phase, run.py).
RUN_OPERATIONS = 4
# Worst case per recycle, failure paths included:
#   replace: branch, preflight, claim, terminate, health wait, group read after an internal error,
#            alert, ledger;
#   surge:   branch, preflight, claim, surge, health wait, zones, terminate, terminate retry, then
#            rollback or (victim and surge instance in different zones) the replacement's health wait
#            and the surge instance's removal, group read after an internal error, alert, ledger.
RECYCLE_OPERATIONS = {Mode.REPLACE: 8, Mode.SURGE: 13}
# Health waits per recycle: a surge across zones waits for the surge instance, then for the victim's
# replacement (surge.py).
HEALTH_WAITS = {Mode.REPLACE: 1, Mode.SURGE: 2}
# An ECS host recycler drains itself: drain, drain wait, the brakes re-read after it, and putting it back
# ACTIVE when it timed out or a brake came on; a surge across zones also drains the surge instance
# (drain, drain wait, ACTIVE again).
DRAIN_OPERATIONS = 4
SURGE_DRAIN_OPERATIONS = 3
# A canary (the first job per unproven image) claims its image, bakes (a start moment and a durable wait)
# and releases the claim.
CANARY_OPERATIONS = 4
# Alarms and health change over minutes: one bake poll a minute keeps a 30-minute bake at 30 polls.
BAKE_POLL_SECONDS = 60
# Lambda stops an invocation at its timeout (at most 900 s), wherever it is, a step included. The durable
# SDK resumes a map's due branches inside the running invocation while any branch is running, and suspends
# it only when none is (the SDK's concurrency/executor.py): with many groups
# polling at once that moment may never come. So a wait polled after this much of an invocation yields
# instead: it asks for a short pause without calling AWS, every branch soon waits, and the invocation
# suspends; the next invocation polls. An invocation lasts at most this plus the steps already started.
INVOCATION_YIELD_SECONDS = 300
# A yielded wait pauses its own poll interval, within these bounds: long enough that it is not due again
# while the steps under way finish (each resumed branch is busy for a checkpoint round trip, and the SDK
# suspends only when none is), short enough not to delay the next real poll much. Each yield writes one
# checkpoint the storage count does not know about: at most a few per wait per invocation, inside the
# storage margin.
YIELD_PAUSE_SECONDS = (2, 30)
# One health poll checkpoints the whole HealthState; recycler keeps it under this size (health.py
# trims free text), and every other step of a recycle together stays under RECYCLE_STEP_BYTES.
POLL_STATE_BYTES = 1536
RECYCLE_STEP_BYTES = 8 * 1024


@dataclass(frozen=True)
class Budget:
    """How many more operations and bytes one execution can take."""

    operations: int = int(OPERATIONS_LIMIT * OPERATIONS_MARGIN) - RUN_OPERATIONS
    storage_bytes: int = int(STORAGE_LIMIT_BYTES * STORAGE_MARGIN)
    # The execution's timeout, in seconds, less a margin (planning fills it in from the settings): a run
    # that outlasts it is stopped by Lambda mid-recycle. None: no time limit (in-process runs).
    seconds: float | None = None


# Of the execution timeout, what the planned recycles may take in the worst case: the rest is room for
# planning, reads, retries and the work no timeout counts.
TIME_MARGIN = 0.8
# A publish event waits for a maintenance window only while the run would still have this much of that
# time once the window opens: a canary's health wait and bake, with room (run.window_wait_limit).
RUN_ROOM_SECONDS = 2 * 3600


def execution_budget_seconds(timeout_hours: int) -> float:
    """What the planned recycles of one execution may take, from its start."""
    return timeout_hours * 3600 * TIME_MARGIN


def worst_case_seconds(
    mode: Mode, health_timeout: int, drain_timeout: int, bake_seconds: int, times: int
) -> int:
    """The longest one job can take: each of its recycles drains (if recycler drains), waits out every
    health wait to its timeout, and its canary bakes once."""
    return (drain_timeout + HEALTH_WAITS[mode] * health_timeout) * times + bake_seconds


def recycle_storage_bytes(health_timeout_seconds: int, poll_seconds: int) -> int:
    """Checkpoint bytes one recycle may write: every poll until the timeout, plus its other steps."""
    polls = math.ceil(health_timeout_seconds / max(poll_seconds, 1)) + 1
    return polls * POLL_STATE_BYTES + RECYCLE_STEP_BYTES


def recycles_that_fit(
    modes: Sequence[Mode],
    health_timeouts: Sequence[int],
    poll_seconds: int,
    budget: Budget | None = None,
    images: Sequence[str | None] = (),
    recycles_per_job: Sequence[int] = (),
    drain_timeouts: Sequence[int] = (),
    bake_seconds: int = 0,
    max_concurrency: int = 1,
) -> int:
    """How many of these jobs (in order) one execution can hold within the budget; a job with a
    freshness target recycles several instances, one after another; an ECS host recycler drains
    waits for its drain too (drain_timeouts: seconds, 0 for none)."""
    left = budget or Budget()
    operations, storage = left.operations, left.storage_bytes
    seen: set[str | None] = set()
    # Time: the window's slots, each job starting on the first slot that frees (list scheduling, as the
    # sliding window runs them); the canaries' phase runs first, the jobs waiting on it after.
    canary_slots = [0.0] * max(1, max_concurrency)
    slots = [0.0] * max(1, max_concurrency)
    for count, (mode, timeout) in enumerate(zip(modes, health_timeouts, strict=True)):
        image = images[count] if count < len(images) else None
        canary_phase = 1 if image is not None and image not in seen else 0
        seen.add(image)
        times = recycles_per_job[count] if count < len(recycles_per_job) else 1
        first_map = 1 if count == 0 else 0
        drain = drain_timeouts[count] if count < len(drain_timeouts) else 0
        waits = HEALTH_WAITS[mode]
        drain_operations = DRAIN_OPERATIONS + (SURGE_DRAIN_OPERATIONS if mode is Mode.SURGE else 0)
        per_recycle = RECYCLE_OPERATIONS[mode] + (drain_operations if drain else 0)
        operations -= per_recycle * times + first_map + canary_phase * (1 + CANARY_OPERATIONS)
        drain_bytes = recycle_storage_bytes(drain, poll_seconds) - RECYCLE_STEP_BYTES if drain else 0
        wait_bytes = waits * (recycle_storage_bytes(timeout, poll_seconds) - RECYCLE_STEP_BYTES)
        bake_bytes = canary_phase * (
            recycle_storage_bytes(bake_seconds, BAKE_POLL_SECONDS) - RECYCLE_STEP_BYTES
        )
        storage -= (wait_bytes + RECYCLE_STEP_BYTES + waits * drain_bytes) * times + bake_bytes
        duration = worst_case_seconds(mode, timeout, drain, bake_seconds * canary_phase, times)
        chosen = canary_slots if canary_phase else slots
        chosen[chosen.index(min(chosen))] += duration
        too_long = left.seconds is not None and max(canary_slots) + max(slots) > left.seconds
        if operations < 0 or storage < 0 or too_long:
            return count
    return len(modes)


def describe_limit(fit: int, budget: Budget | None = None, timeout_hours: int | None = None) -> str:
    timeout = ""
    if budget is not None and budget.seconds is not None and timeout_hours is not None:
        # budget.seconds is what is left for the recycles (a publish event's waits came out of it)
        timeout = (
            f", the execution timeout ({timeout_hours:g} h, {max(budget.seconds, 0) / 60:.0f} min of it left "
            "for recycles) at worst-case waits"
        )
    return (
        f"one run holds {fit} recycles within AWS's durable execution limits "
        f"({OPERATIONS_LIMIT:,} operations, {STORAGE_LIMIT_BYTES // 2**20} MB written{timeout}); "
        "deferred to the next run"
    )
