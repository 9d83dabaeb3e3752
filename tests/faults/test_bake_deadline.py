"""Fault matrix F48 and a group's own bake: the `recycler:bake-minutes` tag (up to 1,440 minutes) is the
bake the plan budgets, the preflight checks against the execution's deadline, and the bake itself runs;
a bake that would run past the deadline stops there, with its own reason and alert.

Lambda stops a durable execution at its ExecutionTimeout wherever it is ("Configure durable functions",
execution timeout; DurableExecutionTimedOut): a canary cut mid-bake would leave no verdict and no report.
The port is the in-process one holding a durable execution's limits, on a simulated clock.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

from recycler.aws.ledger import Ledger
from recycler.local import emulator
from recycler.models import ManualPayload, Settings
from recycler.workflow.budget import execution_budget_seconds
from recycler.workflow.failures import RunFailures
from recycler.workflow.group.recycle import recycle_group
from recycler.workflow.packing import decision_to_job
from recycler.workflow.planning import plan
from recycler.workflow.run import run
from recycler.workflow.state import RecycleItem, RunContext
from tests.conftest import NOW, Stack
from tests.faults.harness import outcome
from tests.faults.harness import services as harness_services
from tests.faults.test_execution_time import ExecutionPort
from tests.faults.test_fleet_realism import hook_owner, hooked_api


def test_the_plan_budgets_a_group_s_own_bake(stack: Stack, terminations: list[Any]) -> None:
    # A 12-hour execution has 9.6 h for recycles; this canary would bake 24 h (its own tag), the setting
    # says 30 minutes. Planned with the setting, Lambda would stop the execution mid-bake.
    ids = stack.world.group("web", [9, 5], tags={"recycler:bake-minutes": "1440"})
    clock = emulator.SimulatedClock(NOW)
    port = ExecutionPort(sleep=clock.sleep)
    report = run(port, replace(harness_services(stack), clock=clock), Settings(), ManualPayload())
    assert outcome(report, "web") == ("skipped", "deferred-budget")
    assert terminations == []
    assert {i["InstanceId"] for i in stack.group_state("web")["Instances"]} == set(ids)


def test_an_unreadable_bake_tag_skips_its_group_at_planning(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("web", [9, 5], tags={"recycler:bake-minutes": "forever"})
    clock = emulator.SimulatedClock(NOW)
    report = run(
        ExecutionPort(sleep=clock.sleep),
        replace(harness_services(stack), clock=clock),
        Settings(),
        ManualPayload(),
    )
    [web] = report.groups
    assert (web.outcome, web.reason) == ("skipped", "invalid-tag") and "recycler:bake-minutes" in web.detail
    assert terminations == []


def test_preflight_checks_a_canary_s_own_bake_against_the_deadline(
    stack: Stack, terminations: list[Any]
) -> None:
    # A canary whose own bake is 3 h, an hour before the execution's deadline: its recycle could end
    # two and a half hours after Lambda stopped the execution, so it does not start. (With the setting's
    # 30 minutes it would fit.)
    ids = stack.world.group("web", [9, 5], tags={"recycler:bake-minutes": "180"})
    clock = emulator.SimulatedClock(NOW)
    services = replace(harness_services(stack), clock=clock)
    settings = Settings()
    [decision] = plan(services, settings, ManualPayload(), NOW, random.Random(1))
    job = decision_to_job(decision, NOW)
    context = RunContext(
        run_id="r1", force=False, poll_seconds=15, deadline=(NOW + timedelta(hours=1)).isoformat()
    )
    failures = RunFailures("r1", services.ledger, clock)
    port = ExecutionPort(sleep=clock.sleep)
    report = recycle_group(port, services, settings, RecycleItem(job=job, run=context, canary=True), failures)
    assert (report.outcome, report.reason) == ("skipped", "deferred-budget")
    assert terminations == []
    assert {i["InstanceId"] for i in stack.group_state("web")["Instances"]} == set(ids)


def test_f48_a_bake_that_would_outrun_the_execution_stops_at_its_deadline(
    stack: Stack, terminations: list[Any]
) -> None:
    # A one-hour execution (48 min of time budget). api is its image's canary, with its own 20-minute
    # bake: planned, 635 s of health timeout and 20 minutes of bake fit. But its launch hook's owner
    # heartbeats for 30 minutes (a slow deployment), so the bake would end at ~51 minutes.
    ids, clock = hooked_api(stack)
    stack.world.autoscaling.create_or_update_tags(
        Tags=emulator.group_tags("api", {"recycler:bake-minutes": "20"})
    )
    started = clock.now
    owner, _ = hook_owner(stack, clock, heartbeats_for=1800, then="CONTINUE")
    port = ExecutionPort(sleep=owner.sleep, on_poll=owner.on_poll)
    settings = Settings(failures_before_stop=10, execution_timeout_hours=1)
    report = run(
        port, replace(harness_services(stack), clock=clock), settings, ManualPayload(poll_seconds=20)
    )
    [api] = report.groups
    # The bake stopped at the deadline: nothing ran past it, so Lambda never cut the run mid-bake.
    assert (clock.now - started).total_seconds() <= execution_budget_seconds(1) + 60
    assert (api.outcome, api.reason) == ("failed", "bake-past-deadline")
    assert api.baked is False and api.baked_seconds is not None and 15 * 60 < api.baked_seconds < 20 * 60
    # The replacement stays (the victim is gone); the image is neither proven nor condemned.
    assert terminations == [(ids[0], False)]
    ledger = Ledger(stack.table, session=stack.world.session)
    image = api.current_image_id
    assert image is not None
    assert ledger.proven_images([image]) == {} and ledger.condemned_images([image]) == {}
    [alert] = [a for a in stack.alerts() if a["Subject"].startswith("recycler FAILED: api")]
    assert "neither proven nor condemned" in alert["Message"] and "recycler:bake-minutes" in alert["Message"]
