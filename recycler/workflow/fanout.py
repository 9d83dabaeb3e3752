"""A window too large for one durable execution runs as several: one child execution per slice.

Lambda meters every operation of an execution, each poll of a wait included, and fails the execution
past 3,000 ("Monitoring durable functions", DurableExecutionOperations); a thousand ten-minute recycles
are ~20,000. A chained invoke starts a child durable execution with limits of its own (the durable SDK's
`context.invoke`; "Invoke operations" in the AWS Durable Execution SDK guide), so a window whose worst
case does not fit one execution is cut into slices that each fit one (budget.pack_slices), every slice
is invoked at once from one map, and each child recycles its slice with its share of max_concurrency.

The parent keeps what spans the run: the canary phases (run.py starts a phase's slices only once the
phase before it is done), the report, the summary alert. Each group's claim (the ledger's conditional
put, one per group and run) keeps terminates at most once across children, and the run's failure count
is the ledger's, keyed by the run, so every child's preflight reads the same stop-after-N count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from recycler.models import Settings
from recycler.report import GroupReport
from recycler.workflow.budget import Budget, JobCost, job_operations, pack_slices, report_bytes
from recycler.workflow.failures import RunFailures
from recycler.workflow.group.recycle import recycle_group
from recycler.workflow.port import Port, Services
from recycler.workflow.reports import clipped
from recycler.workflow.state import RecycleItem


@dataclass(frozen=True)
class Slice:
    """What one child execution recycles: its share of the window, and of max_concurrency."""

    name: str
    items: tuple[RecycleItem, ...]
    max_concurrency: int


@dataclass(frozen=True)
class SliceReports:
    """A child execution's result: one report per item, in order."""

    reports: tuple[GroupReport, ...]


def item_cost(item: RecycleItem) -> JobCost:
    """The worst case of one item, as the budget counts it (the plan counted the same)."""
    job = item.job
    return JobCost(
        mode=job.mode,
        health_seconds=item.run.health_timeout_override or job.health_timeout_seconds,
        poll_seconds=item.run.poll_seconds,
        drain_seconds=job.host.drain_timeout_seconds if job.host.recycler_drains else 0,
        canary=item.canary,
        bake_seconds=job.bake_seconds if item.canary else 0,
        recycles=len(job.victims),
        group=job.group,
    )


def slices(items: Sequence[RecycleItem], limits: Budget | None, settings: Settings, name: str) -> list[Slice]:
    """The window's slices when it does not fit one execution (an empty list when it does, or when the
    runtime has no durable limits or cannot start child executions)."""
    if limits is None or not limits.fan_out or not items:
        return []
    jobs = [item_cost(item) for item in items]
    costs = [job_operations(job) for job in jobs]
    if sum(costs) + 1 <= limits.operations:
        return []
    # Cut by operations and, since a child's result is one checkpoint, by its reports' bytes.
    packed = pack_slices(costs, limits.slice_operations, [report_bytes(job) for job in jobs])
    # max_concurrency is the run's, shared by its children (at least one each).
    share, extra = divmod(settings.max_concurrency, len(packed))
    return [
        Slice(f"{name}-slice-{number}", tuple(items[i] for i in indices), max(1, share + (number < extra)))
        for number, indices in enumerate(packed)
    ]


def run_slice(port: Port, services: Services, settings: Settings, piece: Slice) -> SliceReports:
    """A child execution: its items recycled as the parent would have, on its own port and limits; its
    result, every report clipped to the bytes slices() counted for it, fits one checkpoint."""
    if not piece.items:
        return SliceReports(())
    failures = RunFailures(piece.items[0].run.run_id, services.ledger, services.clock)

    def branch(branch_port: Port, item: RecycleItem) -> GroupReport:
        return recycle_group(branch_port, services, settings, item, failures)

    reports = port.map(piece.name, list(piece.items), branch, GroupReport, piece.max_concurrency)
    return SliceReports(tuple(clipped(report) for report in reports))
