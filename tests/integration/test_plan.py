"""Planning against an emulated AWS: decisions from real API shapes, and the cost of reading a fleet."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import boto3
import pytest

from recycler.aws.compose import aws_services
from recycler.aws.fleet import Fleet, planning_call_floor
from recycler.cli.main import main
from recycler.domain import Decision
from recycler.models import ManualPayload, Settings
from recycler.workflow.planning import plan
from tests.conftest import NOW, World


class CallLog:
    """Every AWS call a session makes, with the caller's parameters (botocore event hook)."""

    def __init__(self, session: boto3.Session) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        session.events.register("before-parameter-build", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((f"{model.service_model.service_name}.{model.name}", dict(params)))

    def count(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls)


def decisions(world: World, seed: int = 1, **payload: Any) -> dict[str, Decision]:
    services = aws_services(world.session)
    return {
        d.group: d for d in plan(services, Settings(), ManualPayload(**payload), NOW, random.Random(seed))
    }


def test_oldest_instance_chosen_with_ami_facts(world: World) -> None:
    ids = world.group("web", [3, 12, 6])
    world.publish_patched_image()
    d = decisions(world)["web"]
    assert d.recycle and d.victim is not None
    assert d.victim.instance_id == ids[1]
    assert d.victim.image_id == world.images[0]
    assert d.current_image_id == world.images[1]


def test_ties_spread_across_all_tied_instances(world: World) -> None:
    ids = world.group("tied", [9, 9, 9, 2])
    picks = Counter(decisions(world, seed)["tied"].victim.instance_id for seed in range(20))  # type: ignore[union-attr]
    assert set(picks) == set(ids[:3])


def test_unsafe_groups_are_refused(world: World) -> None:
    world.group("suspended", [9, 9])
    world.autoscaling.suspend_processes(AutoScalingGroupName="suspended", ScalingProcesses=["Launch"])
    sick = world.group("sick", [9, 9])
    world.autoscaling.set_instance_health(InstanceId=sick[1], HealthStatus="Unhealthy")
    world.group("single", [9])
    protected = world.group("protected", [30, 9])
    world.autoscaling.set_instance_protection(
        AutoScalingGroupName="protected", InstanceIds=[protected[0]], ProtectedFromScaleIn=True
    )
    found = decisions(world)
    assert found["suspended"].reason == "processes-suspended"
    assert found["sick"].reason == "not-steady"
    assert found["single"].reason == "too-small"
    assert found["protected"].victim is not None and found["protected"].victim.instance_id == protected[1]


def test_not_opted_in_groups_are_never_read_beyond_the_list_call(world: World) -> None:
    hidden = world.group("hidden", [30, 30], enabled=None)
    opted_out = world.group("opted-out", [30, 30], enabled="false")
    world.group("web", [9, 9])
    log = CallLog(world.session)
    found = decisions(world)
    assert set(found) == {"web"}
    read_ids = {
        value
        for name, params in log.calls
        if name == "ec2.DescribeInstances"
        for value in params.get("InstanceIds", [])
        + [v for f in params.get("Filters", []) for v in f["Values"]]
    }
    assert read_ids and not read_ids & set(hidden + opted_out)


def test_named_groups_report_why_they_are_out_of_scope(world: World) -> None:
    world.group("hidden", [30, 30], enabled=None)
    world.group("opted-out", [30, 30], enabled="false")
    found = decisions(world, groups=["hidden", "opted-out", "ghost"])
    assert {g: d.reason for g, d in found.items()} == {
        "hidden": "not-opted-in",
        "opted-out": "opted-out",
        "ghost": "not-found",
    }


def test_kill_switch_and_missing_alarm_stop_everything(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.group("web", [9, 9])
    world.session.client("ssm").put_parameter(Name="/recycler/kill-switch", Value="on", Type="String")
    services = aws_services(world.session)
    settings = Settings(kill_switch_parameter="/recycler/kill-switch")
    [d] = plan(services, settings, ManualPayload(), NOW, random.Random(1))
    assert d.reason == "kill-switch"
    world.session.client("ssm").put_parameter(
        Name="/recycler/kill-switch", Value="off", Type="String", Overwrite=True
    )
    [d] = plan(
        services,
        Settings(kill_switch_parameter="/recycler/kill-switch", stop_alarm_names=["gone"]),
        ManualPayload(),
        NOW,
        random.Random(1),
    )
    assert d.reason == "alarm-firing" and "gone (not found)" in d.detail


def test_an_instance_that_vanished_mid_plan_does_not_fail_its_batch(world: World) -> None:
    ids = world.group("web", [9, 5])
    details = Fleet(world.session).instance_details([*ids, "i-0123456789abcdef0"])
    assert set(details) == set(ids)
    assert all(launched is not None and image == world.images[0] for launched, image in details.values())


def test_plan_cli_prints_the_report_and_exits_zero(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.group("web", [3, 12])
    world.group("young", [0.1, 0.2])
    assert main(["plan", "--json", "--seed", "5"]) == 0
    report = json.loads(capsys.readouterr().out)
    outcomes = {g["group"]: (g["outcome"], g["reason"]) for g in report["groups"]}
    assert outcomes == {"web": ("planned", "oldest-instance"), "young": ("skipped", "too-young")}
    assert report["dry_run"] is True and report["seed"] == 5
    assert report["summary"] == {
        "recycled": 0,
        "planned": 1,
        "skipped": 1,
        "failed": 0,
        "instances_recycled": 0,
    }


def test_planning_pages_of_groups_stays_within_the_batching_bound(world: World) -> None:
    # Past one page of groups (100) and one instance batch (200): every batch boundary is crossed.
    groups, per_group = 120, 3
    for n in range(groups):
        world.group(f"g{n:03d}", [5, 4, 3], template=f"lt{n % 4}")
    for n in range(30):
        world.group(f"other{n:02d}", [5, 5], enabled=None)
    log = CallLog(world.session)
    found = decisions(world)
    assert len(found) == groups and all(d.recycle or d.reason == "run-limit" for d in found.values())
    distinct_templates = 4
    planned = sum(1 for d in found.values() if d.recycle)
    lower_bound = planning_call_floor(groups, groups * per_group, distinct_templates, planned)
    assert len(log.calls) <= lower_bound + 2, log.count()


def test_failure_alerts_also_reach_the_central_topic_in_another_region(world: World) -> None:
    from recycler.aws.sns import Alerts
    from recycler.local import emulator

    local_session = world.session
    central_session = boto3.Session(region_name="eu-central-1")
    local_topic, local_tap = emulator.create_alert_topic(
        local_session.client("sns"), local_session.client("sqs")
    )
    central_topic, central_tap = emulator.create_alert_topic(
        central_session.client("sns"), central_session.client("sqs"), "recycler-central-alerts"
    )
    Alerts(local_topic, local_session, also=[central_topic]).publish("recycler FAILED: web", "body")
    assert [m["Subject"] for m in emulator.published(local_session.client("sqs"), local_tap)] == [
        "recycler FAILED: web"
    ]
    assert [m["Subject"] for m in emulator.published(central_session.client("sqs"), central_tap)] == [
        "recycler FAILED: web"
    ]
