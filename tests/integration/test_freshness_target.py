"""A freshness target on the emulator: several recycles per group, strictly one after another."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recycler.aws.fleet import Fleet
from recycler.local import emulator
from recycler.models import ManualPayload, Settings
from recycler.workflow.run import run
from tests.conftest import REGION, Stack, invoke_durable
from tests.faults.harness import FaultPort, recycle, services

TARGET = {"recycler:max-age-days": "7", "recycler:max-per-run": "3"}
AGES = [20.0, 19.0, 18.0, 2.0, 1.5, 1.2]  # three due whatever weekday it is


def target_group(stack: Stack) -> list[str]:
    ids = stack.world.group("web", AGES, tags=TARGET, max_size=8)
    stack.world.publish_patched_image()
    return ids


def test_due_instances_are_recycled_one_after_another(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = target_group(stack)
    events: list[str] = []
    original = Fleet.terminate

    def terminate(fleet: Fleet, instance_id: str, *, decrement: bool) -> str:
        events.append(f"terminate {instance_id}")
        return original(fleet, instance_id, decrement=decrement)

    monkeypatch.setattr(Fleet, "terminate", terminate)
    port = FaultPort()
    port.on_poll = lambda name, state: events.append(f"healthy {name}") if state.status == "healthy" else None
    report = recycle(stack, port)
    [web] = report.groups
    assert web.outcome == "recycled" and [r.outcome for r in web.recycles] == ["recycled"] * 3
    assert [r.victim.instance_id for r in web.recycles] == ids[:3]  # oldest first
    # Each terminate waits for the previous replacement to pass every check.
    assert events == [
        f"terminate {ids[0]}",
        "healthy web:health",
        f"terminate {ids[1]}",
        "healthy web:2:health",
        f"terminate {ids[2]}",
        "healthy web:3:health",
    ]
    assert report.summary.instances_recycled == 3 and report.summary.recycled == 1
    assert web.victim is not None and web.victim.instance_id == ids[0]  # the first, for compatibility
    assert stack.group_state("web")["DesiredCapacity"] == 6


def test_a_failure_in_the_middle_stops_the_group(stack: Stack, terminations: list[Any]) -> None:
    ids = target_group(stack)
    port = FaultPort(before={"web:2:terminate": lambda: emulator.sabotage("web", "unhealthy")})
    report = recycle(stack, port, Settings(failures_before_stop=1))
    [web] = report.groups
    assert (web.outcome, web.reason) == ("failed", "replacement unhealthy")
    assert [(r.outcome, r.reason) for r in web.recycles] == [
        ("recycled", "oldest-instance"),
        ("failed", "replacement unhealthy"),
        ("skipped", "earlier-recycle-failed"),
    ]
    assert [i for i, _ in terminations] == ids[:2]
    assert next(a["Subject"] for a in stack.alerts()) == "recycler FAILED: web - replacement unhealthy"


def test_a_brake_pulled_mid_group_stops_it(stack: Stack, terminations: list[Any]) -> None:
    ids = target_group(stack)
    ssm = stack.world.session.client("ssm")
    ssm.put_parameter(Name="/recycler/kill-switch", Value="off", Type="String")

    def brake() -> None:
        ssm.put_parameter(Name="/recycler/kill-switch", Value="on", Type="String", Overwrite=True)

    settings = Settings(kill_switch_parameter="/recycler/kill-switch")
    report = recycle(stack, FaultPort(after={"web:terminate": brake}), settings)
    [web] = report.groups
    assert web.outcome == "recycled" and [i for i, _ in terminations] == ids[:1]
    assert [r.reason for r in web.recycles] == ["oldest-instance", "kill-switch", "kill-switch"]
    # The next run resumes where this one stopped: the two old instances it left, not the replacement.
    ssm.put_parameter(Name="/recycler/kill-switch", Value="off", Type="String", Overwrite=True)
    recycle(stack, settings=Settings(kill_switch_parameter="/recycler/kill-switch", min_interval_hours=0))
    assert [i for i, _ in terminations][:3] == ids[:3]  # (the even share may add a younger one after)
    assert not set(ids[:3]) & set(emulator.group_instances(stack.world.autoscaling, "web"))


def test_duplicate_and_replayed_runs_terminate_nothing_twice(stack: Stack, terminations: list[Any]) -> None:
    # Five due, three per run: the duplicate run still finds two due, and the ledger refuses it.
    ids = stack.world.group("web", [20.0, 19.0, 18.0, 17.0, 16.0, 1.2], tags=TARGET, max_size=8)
    emulator.sabotage("web", "slow", slow_reads=3)  # suspended polls: the workflow replays
    _, first, _ = invoke_durable({"source": "schedule", "poll_seconds": 15})
    _, second, _ = invoke_durable({"source": "schedule", "poll_seconds": 15})
    assert first is not None and second is not None
    assert [r["outcome"] for r in first["groups"][0]["recycles"]] == ["recycled"] * 3
    assert first["groups"][0]["behind_by"] == 2
    assert second["groups"][0]["reason"] == "recently-recycled"
    assert [i for i, _ in terminations] == ids[:3]


def test_plan_says_a_target_max_per_run_cannot_hold_with_the_numbers(stack: Stack) -> None:
    stack.world.group(
        "web",
        [20.0, 19.0, 18.0, 17.0, 16.0, 1.2],
        tags={"recycler:max-age-days": "7", "recycler:max-per-run": "1"},
        max_size=8,
    )
    report = recycle(stack, dry_run=True)
    [web] = report.groups
    assert web.outcome == "planned" and web.freshness is not None and web.freshness.missed
    assert (web.freshness.needs_per_run, web.freshness.cap, web.freshness.this_run) == (2, 1, 1)
    assert "freshness target 7 d MISSED: needs 2 per run; recycler:max-per-run 1; reaches " in web.detail
    assert "fix: set the tag recycler:max-per-run to 2 (or remove it)" in web.detail
    assert report.freshness_missed == [web]


def a_day_passes(stack: Stack, name: str) -> None:
    """Every instance of the group a day older: the emulator's launch times move back a day."""
    ids = emulator.group_instances(stack.world.autoscaling, name)
    for reservation in stack.world.ec2.describe_instances(InstanceIds=ids)["Reservations"]:
        for instance in reservation["Instances"]:
            emulator.backdate([instance["InstanceId"]], instance["LaunchTime"] - timedelta(days=1), REGION)


def test_instances_launched_the_same_day_are_not_all_recycled_in_one_run(stack: Stack) -> None:
    """Five instances launched together, a 7-day target, a run a day, and a max-per-run that would let
    one run take them all: the emulator sees them replaced over several runs, each before it is 7 days
    old, not four in the last run before their deadline."""
    stack.world.group(
        "web", [1.0] * 5, tags={"recycler:max-age-days": "7", "recycler:max-per-run": "5"}, max_size=7
    )
    settings = Settings(schedule_expression="rate(1 day)", min_interval_hours=0, bake_minutes=0)
    replaced_per_run = []
    for _ in range(7):
        before = set(emulator.group_instances(stack.world.autoscaling, "web"))
        oldest = max(ages(stack, "web").values())
        assert oldest <= 7.01, "an instance outgrew the target"
        # No ledger: the simulated days pass in seconds, and its claims are dated by the wall clock.
        run(FaultPort(), replace(services(stack), ledger=None), settings, ManualPayload(poll_seconds=5))
        replaced_per_run.append(len(before - set(emulator.group_instances(stack.world.autoscaling, "web"))))
        a_day_passes(stack, "web")
    assert sum(replaced_per_run) == 5 and max(replaced_per_run) <= 2, replaced_per_run


def ages(stack: Stack, name: str) -> dict[str, float]:
    ids = emulator.group_instances(stack.world.autoscaling, name)
    now = datetime.now(UTC)
    return {
        i["InstanceId"]: (now - i["LaunchTime"]).total_seconds() / 86400
        for r in stack.world.ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
