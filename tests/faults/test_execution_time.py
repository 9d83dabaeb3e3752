"""Fault matrix F46-F47: the durable execution's timeout is a deadline for the whole run, not only the
plan's estimate.

Lambda stops a durable execution at its ExecutionTimeout wherever it is, a recycle's wait included
("Configure durable functions", execution timeout; DurableExecutionTimedOut). The plan fits the run
into budget.TIME_MARGIN of it; these are the two ways a run can still get there: a wait that runs longer
than planned, and a publish event that waited for its maintenance window first.

The port here is the in-process one holding a durable execution's limits (what DurablePort.limits()
returns), on a simulated clock, so hours pass in a moment.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from recycler.aws.ledger import Ledger
from recycler.local import emulator
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.workflow.budget import Budget
from recycler.workflow.run import run
from tests.conftest import NOW, Stack
from tests.faults.harness import outcome
from tests.faults.harness import services as harness_services
from tests.faults.test_fleet_realism import hook_owner, hooked_api


class ExecutionPort(LocalPort):
    """The in-process port with a durable execution's limits: the run plans and acts as on Lambda."""

    def limits(self) -> Budget | None:
        return Budget()


def test_f46_a_wait_longer_than_planned_defers_the_next_recycle_instead_of_outrunning_the_execution(
    stack: Stack, terminations: list[Any]
) -> None:
    # One slot, a one-hour execution (48 min of time budget): the plan fits api (health timeout 635 s)
    # and web (605 s). api's launch hook is heartbeated for 40 minutes, then released.
    ids, clock = hooked_api(stack)
    web = stack.world.group("web", [8, 4], grace_seconds=5)
    # Their image is proven: no canary phase, the two share the one slot in plan order (api is older).
    Ledger(stack.table, session=stack.world.session).record_proven(stack.world.images[0], "x", "r0", NOW)
    port, _ = hook_owner(stack, clock, heartbeats_for=2400, then="CONTINUE")
    durable = ExecutionPort(sleep=port.sleep, on_poll=port.on_poll)
    settings = Settings(failures_before_stop=10, max_concurrency=1, execution_timeout_hours=1, bake_minutes=0)
    report = run(
        durable, replace(harness_services(stack), clock=clock), settings, ManualPayload(poll_seconds=20)
    )
    assert outcome(report, "api") == ("recycled", "oldest-instance")
    # At 40 minutes, 8 are left and web may take 10: it does not start, so Lambda never stops it mid-wait.
    assert outcome(report, "web") == ("skipped", "deferred-budget")
    [deferred] = [g for g in report.groups if g.group == "web"]
    assert "min left of its time budget" in deferred.detail and "the next run takes it" in deferred.detail
    assert terminations == [(ids[0], False)]  # web's instances untouched
    assert {i["InstanceId"] for i in stack.group_state("web")["Instances"]} == set(web)


def test_f47_a_publish_waits_for_its_window_only_while_the_execution_has_time_for_the_canary(
    stack: Stack, terminations: list[Any]
) -> None:
    stack.world.group("web", [14, 3, 2])
    stack.world.publish_patched_image()
    publish = ManualPayload(source="publish", canary_only=True, trigger="ssm parameter /ami Update")
    windows = ("MON-FRI 08:00-17:00",)

    # A one-hour execution cannot wait five hours for 08:00: it acts on nothing now, and says when the
    # window opens (the next scheduled run takes it), instead of timing out while it waits.
    clock = emulator.SimulatedClock(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))  # a Tuesday
    settings = Settings(maintenance_windows=windows, execution_timeout_hours=1, publish_debounce_seconds=0)
    report = run(
        ExecutionPort(sleep=clock.sleep), replace(harness_services(stack), clock=clock), settings, publish
    )
    assert outcome(report, "web") == ("skipped", "outside-maintenance-window")
    assert clock.now < datetime(2026, 12, 1, 3, 5, tzinfo=UTC) and terminations == []

    # A three-hour execution (2.4 h of time budget) may wait the 20 minutes to 08:00, but what it waited
    # is not the canary's any more: 124 minutes left, and a canary with a 2-hour bake may take 130.
    clock = emulator.SimulatedClock(datetime(2026, 12, 1, 7, 40, tzinfo=UTC))
    settings = Settings(
        maintenance_windows=windows, execution_timeout_hours=3, publish_debounce_seconds=0, bake_minutes=120
    )
    report = run(
        ExecutionPort(sleep=clock.sleep), replace(harness_services(stack), clock=clock), settings, publish
    )
    assert outcome(report, "web") == ("skipped", "deferred-budget")
    [web] = report.groups
    assert "the execution timeout (3 h, 124 min of it left for recycles)" in web.detail
    assert clock.now >= datetime(2026, 12, 1, 8, 0, tzinfo=UTC) and terminations == []


def test_f46_a_launch_hook_that_starts_late_is_waited_out_only_until_the_deadline(
    stack: Stack, terminations: list[Any]
) -> None:
    # One slot, a one-hour execution (48 min of time budget). admin goes first and its replacement boots
    # for 20 minutes; then api's replacement is held by a launch hook whose owner heartbeats forever.
    # The hook could hold it 48 minutes from api's terminate: 68 minutes into a 60-minute execution.
    # (admin is listed first, so the window takes it first.)
    stack.world.group("admin", [10, 4], grace_seconds=5, tags={"recycler:health-timeout-minutes": "30"})
    ids, clock = hooked_api(stack)
    emulator.boot_time("admin", 1200, clock)
    Ledger(stack.table, session=stack.world.session).record_proven(stack.world.images[0], "x", "r0", NOW)
    started = clock.now
    port, _ = hook_owner(stack, clock, heartbeats_for=float("inf"), then=None)
    durable = ExecutionPort(sleep=port.sleep, on_poll=port.on_poll)
    settings = Settings(failures_before_stop=10, max_concurrency=1, execution_timeout_hours=1, bake_minutes=0)
    report = run(
        durable, replace(harness_services(stack), clock=clock), settings, ManualPayload(poll_seconds=20)
    )
    assert outcome(report, "admin") == ("recycled", "oldest-instance")
    [api] = [g for g in report.groups if g.group == "api"]
    assert api.outcome == "failed" and api.reason.startswith("launch hook deploy-api not completed after")
    # The wait ended at the execution's deadline (48 min), not 48 minutes after api's terminate.
    assert (clock.now - started).total_seconds() <= 48 * 60 + 2 * 20
    assert api.waited_seconds is not None and 25 * 60 <= api.waited_seconds <= 29 * 60
    assert ids[0] in {t[0] for t in terminations}
