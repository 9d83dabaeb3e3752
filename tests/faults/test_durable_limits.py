"""Fault matrix F25-F26 and the budget they rely on: Lambda's durable limits and failure isolation,
under the durable test runner.

run_durable fails an execution past AWS's documented 3,000 operations, as Lambda would; the counts in
recycler/workflow/budget.py are pinned here against the operations the runner records.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from recycler.aws.compose import aws_services
from recycler.aws.fleet import Fleet
from recycler.domain import Mode
from recycler.local import emulator
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.workflow import budget
from recycler.workflow.codec import checkpoint_size
from recycler.workflow.health import trimmed
from recycler.workflow.run import run
from recycler.workflow.state import HealthState
from tests.conftest import Stack, run_durable


def names(done: Any) -> Counter[str]:
    return Counter(str(getattr(op, "name", "")) for op in done.operations)


def test_a_recycle_costs_what_the_budget_counts(stack: Stack) -> None:
    stack.world.group("web", [5, 4])
    done = run_durable({})
    assert done.status == "SUCCEEDED"
    # start, plan, metrics + one map + branch, preflight, claim, terminate, health, ledger; the group is
    # its image's canary: canary claim, bake start, bake, canary release
    assert names(done)["web:bake"] == 1 and names(done)["web:canary-claim"] == 1
    job = budget.JobCost(health_seconds=0, canary=True, bake_seconds=1800, worst=False)
    assert done.metered == budget.run_operations([job], yields=False, phases=1)
    # Every poll of the bake is metered: once a minute for the default 30 minutes, the first right away.
    assert done.retries["web:bake"] + 1 == budget.polls(1800, 60, longest=60) == 31


def estimate_is_within_10_percent(done: Any, jobs: list[budget.JobCost], phases: int = 1) -> None:
    # The runner's invocations last seconds of real time, never INVOCATION_YIELD_SECONDS: no yields here.
    estimate = budget.run_operations(jobs, yields=False, phases=phases)
    assert abs(estimate - done.metered) <= 0.1 * done.metered, (estimate, done.metered, done.retries)


def test_the_budget_counts_every_health_poll_of_a_ten_minute_boot(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three groups whose replacements boot 5, 10 and 15 minutes on the runner's simulated clock, 300 s
    # grace, 15 s polls, the image already proven (no bake). One at a time: the runner skips a wait by
    # moving the one clock every branch reads, so concurrent branches would shorten each other's boots
    # by however their threads interleave (a 15-minute boot once took 11 polls, and 765 s).
    monkeypatch.setenv("RECYCLER_MAX_CONCURRENCY", "1")
    boots = {"a": 300, "b": 600, "c": 900}
    for name in boots:
        stack.world.group(name, [9, 5], grace_seconds=300)
    stack.prove(stack.world.images[0])

    def slow_boots(clock: Any) -> None:
        for name, seconds in boots.items():
            emulator.boot_time(name, seconds, clock)

    started = time.monotonic()
    done = run_durable({}, setup=slow_boots, timeout=3600)
    # The emulator's boot clock is the runner's simulated time plus the real time the run takes: every
    # real second (more on a loaded machine) brings the boot's end closer without a poll.
    real = time.monotonic() - started
    assert done.status == "SUCCEEDED", done.error
    assert done.report is not None and done.report["summary"]["recycled"] == 3
    polled = {name: done.retries[f"{name}:health"] + 1 for name in boots}
    # The first poll right after the act, the next at the end of the grace period, then backing off:
    # a 15-minute boot takes no more than 15 polls (at a fixed 15 s it took 61).
    assert polled["c"] <= 15, polled
    # The budget's schedule is an upper bound: real time passes between polls too (waited_seconds).
    for name, seconds in boots.items():
        fewest = budget.polls(max(seconds - real, 0), 15, first_at=300) - 1
        assert fewest <= polled[name] <= budget.polls(seconds, 15, 300), (name, polled, real)
    jobs = [budget.JobCost(health_seconds=s, grace_seconds=300, worst=False) for s in boots.values()]
    estimate_is_within_10_percent(done, jobs)


def test_the_budget_counts_a_canary_a_surge_and_a_drain(stack: Stack) -> None:
    # A canary that bakes 20 minutes (its own tag) on a new image, a surge and a replace group on a
    # proven one: 10-minute boots.
    tags = {"recycler:bake-minutes": "20"}
    stack.world.group("canary", [9, 5], grace_seconds=60, tags=tags, template="new")
    stack.world.publish_patched_image("new")
    stack.world.group("solo", [8], grace_seconds=60, tags={"recycler:mode": "surge"}, max_size=2)
    stack.world.group("web", [7, 5], grace_seconds=60)
    stack.prove(stack.world.images[0])

    def slow_boots(clock: Any) -> None:
        for name in ("canary", "solo", "web"):
            emulator.boot_time(name, 600, clock)

    done = run_durable({}, setup=slow_boots, timeout=7200)
    assert done.status == "SUCCEEDED", done.error
    assert done.report is not None and done.report["summary"]["recycled"] == 3, done.report
    assert done.retries["canary:bake"] + 1 == 21
    jobs = [
        budget.JobCost(health_seconds=600, grace_seconds=60, canary=True, bake_seconds=1200, worst=False),
        budget.JobCost(Mode.SURGE, health_seconds=600, grace_seconds=60, worst=False),
        budget.JobCost(health_seconds=600, grace_seconds=60, worst=False),
    ]
    estimate_is_within_10_percent(done, jobs)


def test_a_failed_surge_costs_no_more_than_the_budget_counts(stack: Stack) -> None:
    stack.world.group("solo", [5], tags={"recycler:mode": "surge"}, max_size=2)
    emulator.sabotage("solo", "unhealthy")
    done = run_durable({})
    assert done.report is not None and done.report["groups"][0]["outcome"] == "failed"
    assert done.metered <= budget.run_operations([budget.JobCost(Mode.SURGE, health_seconds=605)])
    assert names(done)["solo:surge-rollback"] == 1


def test_one_poll_stays_within_the_checkpoint_bytes_the_budget_counts() -> None:
    worst = HealthState(
        status="waiting",
        attempt=10_000,
        elapsed=864_000.0,
        reason="replacement unhealthy after 86400 s",
        detail="x" * 5_000,
        replacement="i-0123456789abcdef0",
        replacement_image="ami-0123456789abcdef0",
        checks={f"target-group {'t' * 200}/{n}": "unhealthy" * 20 for n in range(50)},
        last_activity="y" * 5_000,
        new_instances=tuple(f"i-{n:017x}" for n in range(100)),
        desired=1000,
        scaling="z" * 5_000,
    )
    assert checkpoint_size(trimmed(worst)) <= budget.POLL_STATE_BYTES


def test_a_surge_whose_drain_times_out_costs_no_more_than_the_budget_counts(stack: Stack) -> None:
    ids = stack.world.group(
        "apps",
        [9, 5],
        tags={
            "recycler:mode": "surge",
            "recycler:ecs-cluster": "prod",
            "recycler:drain-timeout-minutes": "1",
        },
        max_size=3,
    )
    ecs = stack.world.session.client("ecs")
    for arn in emulator.create_ecs_cluster(ecs, "prod", ids, group="apps").values():
        emulator.run_tasks(ecs, "prod", arn, standalone=1)  # never leaves: the drain times out
    done = run_durable({})
    assert done.report is not None and done.report["groups"][0]["reason"] == "drain-timeout"
    # surge, health, drain, drain wait, ACTIVE again, surge rollback, alert, ledger...
    assert {"apps:drain", "apps:drain-wait", "apps:undrain", "apps:surge-rollback"} <= set(names(done))
    job = budget.JobCost(Mode.SURGE, health_seconds=605, drain_seconds=60)
    assert done.metered <= budget.run_operations([job])


def test_storage_counts_every_poll_of_a_long_wait() -> None:
    # One-second polls for an hour back off to one every LONGEST_POLL_SECONDS: every one is a checkpoint.
    job = budget.JobCost(health_seconds=3600, poll_seconds=1)
    polled = budget.polls(3600, 1)
    assert 30 < polled < 3600 / budget.LONGEST_POLL_SECONDS + 30
    assert budget.job_storage_bytes(job) >= polled * budget.POLL_STATE_BYTES + budget.RECYCLE_STEP_BYTES
    # An execution whose storage holds three such jobs plans three.
    three = budget.Budget(operations=10**6, storage_bytes=3 * budget.job_storage_bytes(job) + 1)
    assert budget.recycles_that_fit([Mode.REPLACE] * 10, [3600] * 10, 1, three) == 3


def test_f26_more_due_groups_than_one_execution_holds_stay_inside_the_operation_limit(
    stack: Stack, terminations: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operation limit, not the execution timeout (test_checkpoint_size covers that one), decides here.
    monkeypatch.setenv("RECYCLER_EXECUTION_TIMEOUT_HOURS", "72")
    # 30-minute health waits, every poll counted to its timeout (the worst case): one execution holds
    # about 75 recycles, so 100 due groups are more than it can take (bench/ runs 1,000, fanned out).
    due = 100
    for n in range(due):
        stack.world.group(f"g{n:03d}", [5 + n / 1000, 4])
    done = run_durable({"max_groups": 1000, "health_timeout_seconds": 1800}, timeout=900)
    assert done.status == "SUCCEEDED", done.error
    assert len(done.operations) <= budget.OPERATIONS_LIMIT
    report = done.report
    assert report is not None
    recycled = sorted(g["group"] for g in report["groups"] if g["outcome"] == "recycled")
    # A large report keeps its skipped groups as counts by reason (each is logged on its own).
    deferred = report["skipped_groups_omitted"].get("deferred-budget", 0) + sum(
        1 for g in report["groups"] if g["reason"] == "deferred-budget"
    )
    assert deferred > 0, "the operation limit never bound: the test proves nothing"
    assert len(recycled) + deferred == due == report["summary"]["recycled"] + report["summary"]["skipped"]
    assert len(terminations) == len(recycled) >= 50
    assert done.metered <= budget.OPERATIONS_LIMIT
    # The oldest instances go first: here the higher-numbered groups.
    assert recycled == [f"g{n:03d}" for n in range(due - len(recycled), due)]


def test_deferred_groups_say_which_limit_deferred_them(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(12):
        stack.world.group(f"g{n:02d}", [5 + n, 4])
    # An execution with room for four recycles (a 605 s health timeout: 5 s grace + 10 min, every poll
    # counted), the map of their wave and their image's canary phase (its canary's claim, bake and release).
    canary = budget.JobCost(health_seconds=605, canary=True, bake_seconds=1800)
    others = budget.JobCost(health_seconds=605)
    small = budget.Budget(operations=budget.job_operations(canary) + 3 * budget.job_operations(others) + 2)
    port = LocalPort(sleep=lambda _: None)
    monkeypatch.setattr(port, "limits", lambda: small)
    report = run(
        port,
        aws_services(stack.world.session),
        Settings(),
        ManualPayload(dry_run=True),
    )
    planned = sorted(g.group for g in report.groups if g.outcome == "planned")
    deferred = [g for g in report.groups if g.reason == "deferred-budget"]
    assert planned == ["g08", "g09", "g10", "g11"]  # the oldest instances first
    assert len(deferred) == 8 and "3,000 operations" in deferred[0].detail
    # The CLI runs in-process, where no durable limit applies: nothing is deferred there.
    local = run(
        LocalPort(sleep=lambda _: None),
        aws_services(stack.world.session),
        Settings(),
        ManualPayload(dry_run=True),
    )
    assert sum(1 for g in local.groups if g.outcome == "planned") == 12


# ---- an unexpected exception in one group ---------------------------------------------------------


def break_group(monkeypatch: pytest.MonkeyPatch, where: str, group_victim: dict[str, str]) -> None:
    """Raise a non-AWS exception for group 'b' only, in its preflight, terminate or health poll."""
    terminated: list[str] = []
    describe, terminate = Fleet.describe_group, Fleet.terminate

    def describe_group(self: Fleet, name: str) -> Any:
        if name == "b" and (where == "preflight" or (where == "health" and terminated)):
            raise KeyError("LaunchTemplate")  # a response shape we did not expect
        return describe(self, name)

    def terminate_instance(self: Fleet, instance_id: str, *, decrement: bool) -> str:
        if instance_id == group_victim["b"]:
            if where == "terminate":
                raise ValueError("bug in terminate")
            terminated.append(instance_id)
        return terminate(self, instance_id, decrement=decrement)

    monkeypatch.setattr(Fleet, "describe_group", describe_group)
    monkeypatch.setattr(Fleet, "terminate", terminate_instance)


@pytest.mark.parametrize("where", ["preflight", "terminate", "health"])
def test_f25_an_internal_error_in_one_group_fails_only_that_group(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", "5")
    victims = {name: stack.world.group(name, [9, 5])[0] for name in ("a", "b", "c")}
    stack.prove(stack.world.images[0])  # a proven image: no canary holds the others back
    break_group(monkeypatch, where, victims)
    done = run_durable({})
    assert done.status == "SUCCEEDED", done.error
    assert done.report is not None
    groups = {g["group"]: g for g in done.report["groups"]}
    assert groups["a"]["outcome"] == groups["c"]["outcome"] == "recycled"
    b = groups["b"]
    assert (b["outcome"], b["reason"]) == ("failed", "internal-error") and b["alert_published"]
    assert b["detail"].startswith(("KeyError", "ValueError"))
    if where == "health":
        assert f"victim {victims['b']} was terminated before the error" in b["detail"]
    elif where == "terminate":  # the step raised: whether AWS got the call is unknown, so say so
        assert f"a terminate of victim {victims['b']} was attempted (it may have reached AWS)" in b["detail"]
        assert "the group now: 2/2 InService+Healthy" in b["detail"]
    else:
        assert "nothing was terminated" in b["detail"]
    alerts = stack.alerts()
    alert = next((a for a in alerts if a["Subject"].startswith("recycler FAILED: b")), None)
    assert alert is not None, [a["Subject"] for a in alerts]
    assert "internal-error" in alert["Message"] and "Traceback" not in alert["Message"]
    claims = [i["status"] for i in stack.ledger_items("b") if i["record"] == "claim"]
    assert claims == ([] if where == "preflight" else ["failed"])  # claimed groups record the failure


def test_budget_counts_one_map_operation_for_the_whole_window() -> None:
    fit = budget.recycles_that_fit([Mode.REPLACE] * 1000, [900] * 1000, 15)
    per = budget.job_operations(budget.JobCost(health_seconds=900))
    assert fit * per + 1 <= budget.Budget().operations < (fit + 1) * per + 1


def test_a_run_over_ten_thousand_opted_in_groups_succeeds_on_lambda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    run_module = importlib.import_module("recycler.workflow.run")
    from tests.unit.test_checkpoint_size import recyclable, skipped

    # Synthetic decisions for 12,050 opted-in groups (no fleet needed): 50 due, the rest too young.
    synthetic = [recyclable(n) for n in range(50)] + [skipped(n) for n in range(12_000)]
    monkeypatch.setattr(run_module, "plan", lambda *_, **__: synthetic)
    done = run_durable({"dry_run": True})
    assert done.status == "SUCCEEDED", done.error  # run_durable fails any checkpoint over 256 KB
    assert done.report is not None
    assert done.report["summary"]["planned"] == 50 and done.report["summary"]["skipped"] == 12_000
    assert done.report["skipped_groups_omitted"] == {"too-young": 12_000}
    assert done.report["fleet_oldest_instance_age_days"] == 9.0
    # The dashboard's "skipped by reason" still counts the groups the report does not list.
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum(m.get("Skipped", [0])[0] for m in metrics if m.get("Reason") == "too-young") == 12_000
