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

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from recycler.domain import Mode
from recycler.workflow.codec import CHECKPOINT_BUDGET_BYTES

OPERATIONS_LIMIT = 3_000
STORAGE_LIMIT_BYTES = 100 * 1024 * 1024
CHECKPOINT_LIMIT_BYTES = 256 * 1024
# Room for what the counts below do not know about (SDK bookkeeping, a future step).
OPERATIONS_MARGIN = 0.9
STORAGE_MARGIN = 0.5

# What Lambda meters (Lambda Developer Guide, "Retries for Lambda durable functions": a step retry is
# "1 operation"; "Monitoring durable functions": DurableExecutionOperations, at most 3,000): every
# operation once (a step, a wait, a map, each map branch, which is a child context, a chained invoke),
# and every retry once more. A durable wait for a condition (the SDK's wait_for_condition) checkpoints
# each poll that is not the last as a retry of its step (create_wait_for_condition_retry): a wait of n
# polls is n operations, the invocation bound's yields included (each is a poll that calls nothing).
#
# The run's own: start, plan, the expected waits' read, metrics, the run summary alert, events; plus the
# map of the first phase, and one more map per image a canary runs for (its own phase, run.py).
RUN_OPERATIONS = 6
# A run whose recycles all succeed, without an events bus or a queue to order: start, plan, metrics.
RUN_SUCCESS_OPERATIONS = 3
# Steps per recycle, waits apart (each health wait and drain wait is counted by its polls), worst case
# with failure paths:
#   replace: branch, preflight, claim, terminate, group read after an internal error, alert, ledger;
#   surge:   branch, preflight, claim, surge, zones, terminate, terminate retry, then rollback or (victim
#            and surge instance in different zones) the surge instance's removal, group read after an
#            internal error, alert, ledger.
RECYCLE_OPERATIONS = {Mode.REPLACE: 7, Mode.SURGE: 11}
# A recycle that succeeds: branch, preflight, claim, terminate, ledger; a surge adds the surge and the zone
# read (same zone: one health wait).
RECYCLE_SUCCESS_OPERATIONS = {Mode.REPLACE: 5, Mode.SURGE: 7}
# Health waits per recycle: a surge across zones waits for the surge instance, then for the victim's
# replacement (surge.py).
HEALTH_WAITS = {Mode.REPLACE: 1, Mode.SURGE: 2}
# An ECS host recycler drains itself: drain, the brakes re-read after it, and putting it back ACTIVE when
# it timed out or a brake came on, plus the drain wait's polls; a surge across zones also drains the surge
# instance (drain, ACTIVE again, plus its polls).
DRAIN_OPERATIONS = 3
SURGE_DRAIN_OPERATIONS = 2
# A canary (the first job per unproven image) claims its image, marks the bake's start and releases the
# claim, plus the bake's polls.
CANARY_OPERATIONS = 3
# Polls back off where nothing changes fast: the pause after a poll grows with the time waited, by the
# durable SDK's default backoff rate (WaitStrategyConfig.backoff_rate, 1.5), from the poll interval up to
# LONGEST_POLL_SECONDS. A 10-minute boot is ~12 polls (it was 41 at a fixed 15 s), a 15-minute one ~14.
BACKOFF_RATE = 1.5
LONGEST_POLL_SECONDS = 120
# Alarms and health during a bake are read once a minute: a 30-minute bake is 31 polls.
BAKE_POLL_SECONDS = 60
# Lambda stops an invocation at its timeout (at most 900 s), wherever it is, a step included. The durable
# SDK resumes a map's due branches inside the running invocation while any branch is running, and suspends
# it only when none is (the SDK's concurrency/executor.py): with many groups
# polling at once that moment may never come. So a wait polled after this much of an invocation yields
# instead: it asks for a short pause without calling AWS, every branch soon waits, and the invocation
# suspends; the next invocation polls. An invocation lasts at most this plus the steps already started.
# A wait yields at most once per invocation, so at most once per this many seconds it waits: the budget
# counts that many more polls.
INVOCATION_YIELD_SECONDS = 300
# A yielded wait pauses its own poll interval, within these bounds: long enough that it is not due again
# while the steps under way finish (each resumed branch is busy for a checkpoint round trip, and the SDK
# suspends only when none is), short enough not to delay the next real poll much.
YIELD_PAUSE_SECONDS = (2, 30)
# One health poll checkpoints the whole HealthState; recycler keeps it under this size (health.py
# trims free text), and every other step of a recycle together stays under RECYCLE_STEP_BYTES.
POLL_STATE_BYTES = 1536
RECYCLE_STEP_BYTES = 8 * 1024


def next_pause(
    elapsed: float, poll_seconds: int, limit: float, first_at: float = 0, longest: int = LONGEST_POLL_SECONDS
) -> int:
    """Seconds before the next poll of a wait that has waited `elapsed`: not before `first_at` (a grace
    period: nothing is final before it), then backing off from poll_seconds by BACKOFF_RATE up to
    `longest` (never below poll_seconds), never past `limit` (the wait's timeout)."""
    if elapsed < first_at:
        pause = first_at - elapsed
    else:
        pause = max(poll_seconds, min(longest, (elapsed - first_at) * (BACKOFF_RATE - 1)))
    return max(1, math.ceil(min(pause, limit - elapsed)))


def polls(
    seconds: float,
    poll_seconds: int,
    first_at: float = 0,
    longest: int = LONGEST_POLL_SECONDS,
    limit: float | None = None,
) -> int:
    """How many polls a wait makes until it ends after `seconds` (its timeout, in the worst case), on
    next_pause's schedule: the first right away, the last the one that sees the end."""
    limit = seconds if limit is None else limit
    waited, count = 0.0, 1
    while waited < seconds and waited < limit:
        waited += next_pause(waited, poll_seconds, limit, first_at, longest)
        count += 1
    return count


def wait_operations(seconds: float, polled: int, *, yields: bool = True) -> int:
    """A durable wait's operations: its polls, and a yield per INVOCATION_YIELD_SECONDS it waits."""
    return polled + (math.ceil(seconds / INVOCATION_YIELD_SECONDS) if yields else 0)


@dataclass(frozen=True)
class JobCost:
    """One planned job as the budget counts it."""

    mode: Mode = Mode.REPLACE
    health_seconds: int = 900  # how long each health wait lasts: its timeout in the worst case
    poll_seconds: int = 15
    grace_seconds: int = 0  # the first poll after the act's is at the end of the grace period
    drain_seconds: int = 0  # an ECS host recycler drains itself: its drain timeout
    canary: bool = False  # the first job of an unproven image: it bakes
    bake_seconds: int = 0  # a canary's bake (the group's own bake-minutes)
    recycles: int = 1  # a freshness target recycles several instances, one after another
    # The worst case (failure paths, both health waits of a surge across zones), or a recycle that
    # succeeds as planned (a run's actual count, benchmarks).
    worst: bool = True
    group: str | None = None  # its name, when known (report_bytes); None: a name at AWS's limit


def job_operations(job: JobCost, *, yields: bool = True) -> int:
    """The operations one job's branch makes (its map branch included)."""
    health = wait_operations(
        job.health_seconds, polls(job.health_seconds, job.poll_seconds, job.grace_seconds), yields=yields
    )
    steps = RECYCLE_OPERATIONS if job.worst else RECYCLE_SUCCESS_OPERATIONS
    waits = HEALTH_WAITS[job.mode] if job.worst else 1
    per_recycle = steps[job.mode] + waits * health
    if job.drain_seconds:
        drain = wait_operations(job.drain_seconds, polls(job.drain_seconds, job.poll_seconds), yields=yields)
        per_recycle += DRAIN_OPERATIONS + drain
        if job.mode is Mode.SURGE:
            per_recycle += SURGE_DRAIN_OPERATIONS + drain
    total = per_recycle * job.recycles
    if job.canary:
        baked = polls(job.bake_seconds, BAKE_POLL_SECONDS, longest=BAKE_POLL_SECONDS)
        total += CANARY_OPERATIONS + wait_operations(job.bake_seconds, baked, yields=yields)
    return total


def job_storage_bytes(job: JobCost) -> int:
    """Checkpoint bytes one job may write: every poll's state, plus its other steps."""
    waits = HEALTH_WAITS[job.mode] * polls(job.health_seconds, job.poll_seconds, job.grace_seconds)
    if job.drain_seconds:
        waits += (2 if job.mode is Mode.SURGE else 1) * polls(job.drain_seconds, job.poll_seconds)
    per_recycle = (waits + math.ceil(job.health_seconds / INVOCATION_YIELD_SECONDS)) * POLL_STATE_BYTES
    baked = polls(job.bake_seconds, BAKE_POLL_SECONDS, longest=BAKE_POLL_SECONDS) if job.canary else 0
    return (per_recycle + RECYCLE_STEP_BYTES) * job.recycles + baked * POLL_STATE_BYTES


def run_operations(jobs: Sequence[JobCost], *, yields: bool = True, phases: int | None = None) -> int:
    """What a run of these jobs costs one execution: the run's own steps, one map per phase (the canaries'
    phase, then the jobs that waited on a canary: two at most unless a canary failed), and every job's
    branch."""
    if phases is None:
        phases = 1 + (1 if any(j.canary for j in jobs) else 0)
    own = RUN_OPERATIONS if any(j.worst for j in jobs) else RUN_SUCCESS_OPERATIONS
    return own + phases + sum(job_operations(j, yields=yields) for j in jobs)


@dataclass(frozen=True)
class Budget:
    """How many more operations and bytes one execution can take."""

    operations: int = int(OPERATIONS_LIMIT * OPERATIONS_MARGIN) - RUN_OPERATIONS
    storage_bytes: int = int(STORAGE_LIMIT_BYTES * STORAGE_MARGIN)
    # The execution's timeout, in seconds, less a margin (planning fills it in from the settings): a run
    # that outlasts it is stopped by Lambda mid-recycle. None: no time limit (in-process runs).
    seconds: float | None = None
    # The runtime can start child durable executions (chained invoke), each with limits of its own: a
    # window larger than one execution runs as slices (fanout.py), each holding this many operations (its
    # own map and its branches).
    fan_out: bool = False
    slice_operations: int = int(OPERATIONS_LIMIT * OPERATIONS_MARGIN) - 1


# At most this many jobs a slice (once the reports' bytes rule, below; kept: the children bench measured).
MAX_SLICE_JOBS = 60
# A child execution's result (its SliceReports) is checkpointed in the child and again as the parent's
# invoke result, and one checkpoint holds 256 KB at most (Lambda quotas, durable functions:
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html; what is checkpointed:
# https://docs.aws.amazon.com/durable-execution/patterns/best-practices/state/). Past it Lambda fails
# the execution after its instances were terminated, and the report of what was done is lost: so a slice
# is also cut where its reports could pass CHECKPOINT_BUDGET_BYTES. A child clips its reports' text to
# these bytes as JSON stores it, escapes counted (reports.clipped); ids to REPORT_ID_BYTES (an instance id
# is 19, an AMI id 21, a launch time in ISO 8601 with microseconds and offset 32).
REPORT_DETAIL_BYTES, REPORT_REASON_BYTES, REPORT_HOST_BYTES, REPORT_ID_BYTES = 1024, 200, 320, 32
# Measured, not guessed: checkpoint_size of a GroupReport whose every field is at its longest (each string
# at the cap above, each float 24 characters, -1.2345678901234567e-300, each count 19 digits, the longest
# outcome and mode), its group name empty (report_bytes adds the name's own), plus 1 for the comma between
# reports; and what each RecycleReport at its longest adds. tests/unit/test_slice_bytes.py rebuilds both
# from the real models and fails when they drift.
REPORT_BYTES, RECYCLE_REPORT_BYTES = 2820, 685
SLICE_REPORTS_BYTES = 14  # {"reports":[]}
# An Auto Scaling group's name is at most 255 characters (CreateAutoScalingGroup, AutoScalingGroupName):
# its bytes when the name is not known (ASCII; a name known to slices() is counted as JSON escapes it).
GROUP_NAME_BYTES = 255


def report_bytes(job: JobCost) -> int:
    """The most bytes one job's report takes in its slice's result (its recycles each in `recycles`)."""
    name = GROUP_NAME_BYTES if job.group is None else len(json.dumps(job.group)) - 2
    return REPORT_BYTES + name + RECYCLE_REPORT_BYTES * job.recycles


def pack_slices(costs: Sequence[int], capacity: int, sizes: Sequence[int]) -> list[list[int]]:
    """Consecutive jobs (indices) in slices whose operations fit `capacity`, whose reports (`sizes`, each
    report_bytes) fit one checkpoint, and MAX_SLICE_JOBS each."""
    packed: list[list[int]] = []
    used, written = capacity + 1, 0
    for index, (cost, size) in enumerate(zip(costs, sizes, strict=True)):
        full = used + cost > capacity or written + size > CHECKPOINT_BUDGET_BYTES
        if full or len(packed[-1]) >= MAX_SLICE_JOBS:
            packed.append([])
            used, written = 0, SLICE_REPORTS_BYTES
        packed[-1].append(index)
        used, written = used + cost, written + size
    return packed


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


def recycles_that_fit(
    modes: Sequence[Mode],
    health_timeouts: Sequence[int],
    poll_seconds: int,
    budget: Budget | None = None,
    images: Sequence[str | None] = (),
    recycles_per_job: Sequence[int] = (),
    drain_timeouts: Sequence[int] = (),
    bake_seconds: int | Sequence[int] = 0,
    max_concurrency: int = 1,
    names: Sequence[str] = (),
) -> int:
    """How many of these jobs (in order) one execution can hold within the budget; a job with a
    freshness target recycles several instances, one after another; an ECS host recycler drains
    waits for its drain too (drain_timeouts: seconds, 0 for none); the first job of an image not seen
    before is its canary and bakes (bake_seconds: the group's own, or one for all); `names`, the groups',
    bound each report's bytes in its slice (report_bytes)."""
    left = budget or Budget()
    operations, storage = left.operations, left.storage_bytes
    # With fan-out (fanout.py), the jobs fill child executions one after another, each within its own
    # limits; the parent pays a branch and a chained invoke per child, and keeps its results.
    in_slice, slice_storage, slice_jobs, slice_bytes = left.slice_operations + 1, 0, 0, 0
    seen: set[str | None] = set()
    # Time: the window's slots, each job starting on the first slot that frees (list scheduling, as the
    # sliding window runs them); the canaries' phase runs first, the jobs waiting on it after.
    canary_slots = [0.0] * max(1, max_concurrency)
    slots = [0.0] * max(1, max_concurrency)
    for count, (mode, timeout) in enumerate(zip(modes, health_timeouts, strict=True)):
        image = images[count] if count < len(images) else None
        canary = image is not None and image not in seen
        seen.add(image)
        own_bake = bake_seconds if isinstance(bake_seconds, int) else bake_seconds[count]
        job = JobCost(
            mode=mode,
            health_seconds=timeout,
            poll_seconds=poll_seconds,
            drain_seconds=drain_timeouts[count] if count < len(drain_timeouts) else 0,
            canary=canary,
            bake_seconds=own_bake if canary else 0,
            recycles=recycles_per_job[count] if count < len(recycles_per_job) else 1,
            group=names[count] if count < len(names) else None,
        )
        cost, written, report = job_operations(job), job_storage_bytes(job), report_bytes(job)
        if left.fan_out:
            new_slice = (
                in_slice + cost > left.slice_operations
                or slice_storage + written > left.storage_bytes
                or slice_bytes + report > CHECKPOINT_BUDGET_BYTES
                or slice_jobs >= MAX_SLICE_JOBS
            )
            if new_slice:
                in_slice, slice_storage, slice_jobs, slice_bytes = 0, 0, 0, SLICE_REPORTS_BYTES
                operations -= 2
                storage -= CHECKPOINT_LIMIT_BYTES
            in_slice, slice_storage, slice_jobs = in_slice + cost, slice_storage + written, slice_jobs + 1
            slice_bytes += report
            too_large = slice_bytes > CHECKPOINT_BUDGET_BYTES  # its report alone passes a checkpoint
            if cost > left.slice_operations or written > left.storage_bytes or too_large:
                return count
            operations -= (1 if count == 0 else 0) + (1 if canary else 0)
        else:
            operations -= cost + (1 if count == 0 else 0) + (1 if canary else 0)
            storage -= written
        duration = worst_case_seconds(mode, timeout, job.drain_seconds, job.bake_seconds, job.recycles)
        chosen = canary_slots if canary else slots
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
        f"({OPERATIONS_LIMIT:,} operations, every health and bake poll counted, "
        f"{STORAGE_LIMIT_BYTES // 2**20} MB written{timeout}); "
        "deferred to the next run"
    )
