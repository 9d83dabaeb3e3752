"""Fail early on publish: a new image meets its canary within minutes, bakes, and a broken one is caught
before the other groups launch it. Events are as EventBridge delivers them (AWS's documented samples)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from recycler.aws.ledger import Ledger
from recycler.local import emulator
from recycler.local.emulator.target_health import unhealthy_in
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.report import RunReport
from recycler.triggers import publish_payload
from recycler.workflow.port import Services
from recycler.workflow.run import run
from tests.conftest import REGION, Stack, invoke_durable
from tests.faults.harness import FaultPort, services
from tests.interleaving import b_plans_before_a_ends

ACCOUNT = "123456789012"


def envelope(
    source: str, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None
) -> dict[str, Any]:
    """An event exactly as EventBridge delivers it to a Lambda target."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-12-01T03:00:00Z",
        "region": REGION,
        "resources": resources or [],
        "detail": detail,
    }


# https://docs.aws.amazon.com/systems-manager/latest/userguide/monitoring-systems-manager-event-examples.html
PARAMETER_UPDATED = envelope(
    "aws.ssm",
    "Parameter Store Change",
    {"operation": "Update", "name": "/golden/ami", "type": "String", "description": ""},
    [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/golden/ami"],
)
# https://docs.aws.amazon.com/imagebuilder/latest/userguide/integ-eventbridge.html
IMAGE_AVAILABLE = envelope(
    "aws.imagebuilder",
    "EC2 Image Builder Image State Change",
    {"previous-state": {"status": "TESTING"}, "state": {"status": "AVAILABLE"}},
    [f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/golden/1.0.1/1"],
)
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html
TEMPLATE_VERSION = envelope(
    "aws.ec2",
    "AWS API Call via CloudTrail",
    {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateLaunchTemplateVersion",
        "requestParameters": {
            "CreateLaunchTemplateVersionRequest": {"LaunchTemplateId": "lt-0123456789abcdef0"}
        },
    },
)


@pytest.fixture
def publish_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECYCLER_BAKE_MINUTES", "5")
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", "5")


def two_groups_on_a_new_image(stack: Stack) -> None:
    stack.world.group("web", [14, 3, 2])  # the most headroom: the canary
    stack.world.group("api", [12, 2])
    stack.world.publish_patched_image()


@pytest.mark.parametrize(
    "event", [PARAMETER_UPDATED, IMAGE_AVAILABLE, TEMPLATE_VERSION], ids=["ssm", "imagebuilder", "cloudtrail"]
)
def test_each_publish_event_starts_one_canary_run(
    stack: Stack, terminations: list[Any], publish_env: None, event: dict[str, Any]
) -> None:
    two_groups_on_a_new_image(stack)
    status, report, error = invoke_durable(event)
    assert status == "SUCCEEDED", error
    assert report is not None and report["trigger"]
    groups = {g["group"]: g for g in report["groups"]}
    assert (groups["web"]["outcome"], groups["web"]["canary"], groups["web"]["baked"]) == (
        "recycled",
        True,
        True,
    )
    assert groups["web"]["baked_seconds"] >= 300
    assert (groups["api"]["outcome"], groups["api"]["reason"]) == ("skipped", "scheduled-later")
    assert len(terminations) == 1  # the canary's victim, nothing else
    proven = Ledger(stack.table, session=stack.world.session).proven_images([stack.world.images[1]])
    assert proven == {stack.world.images[1]: "web"}


def test_a_burst_of_events_makes_one_canary(stack: Stack, terminations: list[Any]) -> None:
    """A pipeline updates five parameters at once: five executions, all in flight together (each waits
    out its debounce while the others start), plan the same unproven image. One canary recycles one
    instance; the others find its claim and touch nothing."""
    two_groups_on_a_new_image(stack)
    before = {g: {i["InstanceId"] for i in stack.group_state(g)["Instances"]} for g in ("web", "api")}
    executions = 5
    in_flight = threading.Barrier(executions, timeout=120)

    def all_in_flight(name: str, state: Any) -> None:
        if name == "debounce" and state.attempt == 1:
            in_flight.wait()  # no execution plans before every one of them has started

    def execution(n: int) -> RunReport:
        event = envelope(
            "aws.ssm",
            "Parameter Store Change",
            {"operation": "Update", "name": f"/golden/ami-{n}", "type": "String", "description": ""},
        )
        return run(
            LocalPort(sleep=lambda _: None, on_poll=all_in_flight),
            services(stack),
            Settings(bake_minutes=5, failures_before_stop=5, publish_debounce_seconds=60),
            publish_payload(event).model_copy(update={"poll_seconds": 5}),
        )

    with ThreadPoolExecutor(max_workers=executions) as pool:
        reports = list(pool.map(execution, range(executions)))
    # The emulator's side: one instance of web replaced, api untouched, the image proven once by web.
    after = {g: {i["InstanceId"] for i in stack.group_state(g)["Instances"]} for g in ("web", "api")}
    assert len(before["web"] - after["web"]) == 1 and after["api"] == before["api"]
    assert len(terminations) == 1
    proven = Ledger(stack.table, session=stack.world.session).proven_images([stack.world.images[1]])
    assert proven == {stack.world.images[1]: "web"}
    # The others found the canary's claim, or (planning later) the image proven and web just recycled.
    outcomes = sorted(g.outcome for r in reports for g in r.groups)
    assert outcomes == ["recycled"] + ["skipped"] * (2 * executions - 1)


def publish_run(n: int) -> ManualPayload:
    """The run an SSM parameter update (the n-th of a pipeline's) starts."""
    detail = {"operation": "Update", "name": f"/golden/ami-{n}", "type": "String", "description": ""}
    return publish_payload(envelope("aws.ssm", "Parameter Store Change", detail)).model_copy(
        update={"poll_seconds": 5}
    )


def verdict_lands_after_b_planned(stack: Stack, b_payload: ManualPayload) -> tuple[RunReport, RunReport]:
    """Run A (a publish event's) canaries web; run B plans while A is replacing web's instance (so B's
    canary is api), then waits until A has its verdict and released its claim, and only then claims."""
    settings = Settings(bake_minutes=5, failures_before_stop=5, publish_debounce_seconds=60)
    return b_plans_before_a_ends(
        lambda port: run(port, services(stack), settings, publish_run(1)),
        lambda port: run(port, services(stack), settings, b_payload),
    )


@pytest.mark.parametrize("broken", [False, True], ids=["proven", "condemned"])
def test_a_verdict_between_a_runs_plan_and_its_canary_claim_starts_no_second_canary(
    stack: Stack, terminations: list[Any], broken: bool
) -> None:
    """Two publish events' runs; A's verdict lands between B's plan and B's canary claim. The claim is
    free by then: it must still not start a second canary, onto an image already proven (a publish run
    recycles canaries only) or, worse, onto one A condemned."""
    two_groups_on_a_new_image(stack)
    if broken:
        emulator.sabotage("web", "unhealthy")
    api_before = {i["InstanceId"] for i in stack.group_state("api")["Instances"]}
    a, b = verdict_lands_after_b_planned(stack, publish_run(2))
    # The emulator's side: api never launched the image; DynamoDB holds A's verdict, by web.
    assert {i["InstanceId"] for i in stack.group_state("api")["Instances"]} == api_before
    assert len(terminations) == 1
    assert image_records(stack).get("condemned" if broken else "proven") == "web"
    [web] = [g for g in a.groups if g.group == "web"]
    assert web.outcome == ("failed" if broken else "recycled")
    [api] = [g for g in b.groups if g.group == "api"]
    assert (api.outcome, api.reason) == ("skipped", "canary-failed" if broken else "scheduled-later")
    assert "after this run planned" in api.detail or not broken


def test_a_scheduled_run_recycles_a_group_whose_image_was_proven_since_it_planned(
    stack: Stack, terminations: list[Any]
) -> None:
    """The same race with a scheduled run as B: its canary's claim finds the image proven, so api is
    recycled as any group on a proven image (not a canary, no bake), in the run's next phase."""
    two_groups_on_a_new_image(stack)
    api_before = {i["InstanceId"] for i in stack.group_state("api")["Instances"]}
    _, b = verdict_lands_after_b_planned(stack, ManualPayload(poll_seconds=5))
    after = {i["InstanceId"]: i for i in stack.group_state("api")["Instances"]}
    assert len(api_before - set(after)) == 1 and len(terminations) == 2
    [replacement] = set(after) - api_before
    described = stack.world.ec2.describe_instances(InstanceIds=[replacement])
    assert described["Reservations"][0]["Instances"][0]["ImageId"] == stack.world.images[1]
    [api] = [g for g in b.groups if g.group == "api"]
    assert (api.outcome, api.canary, api.baked) == ("recycled", False, None)


def test_no_second_canary_while_another_run_tries_the_image(
    stack: Stack, terminations: list[Any], publish_env: None
) -> None:
    two_groups_on_a_new_image(stack)
    # Another run (a second event's execution, still baking) holds the image's canary claim.
    Ledger(stack.table, session=stack.world.session).claim_canary(
        stack.world.images[1], "web", "other-run", datetime.now(UTC) - timedelta(minutes=3)
    )
    status, report, _ = invoke_durable(IMAGE_AVAILABLE)
    assert status == "SUCCEEDED" and report is not None
    assert {g["group"]: g["reason"] for g in report["groups"]} == {
        "web": "canary-in-progress",
        "api": "canary-in-progress",  # it waits for that canary's verdict, not only for its schedule
    }
    assert terminations == []


def test_a_scheduled_run_waits_for_a_canary_another_run_holds(stack: Stack, terminations: list[Any]) -> None:
    two_groups_on_a_new_image(stack)
    Ledger(stack.table, session=stack.world.session).claim_canary(
        stack.world.images[1], "api", "publish-run", datetime.now(UTC)
    )
    report = run(FaultPort(), services(stack), Settings(bake_minutes=1), ManualPayload(poll_seconds=5))
    assert {g.group: g.reason for g in report.groups} == {
        "web": "canary-in-progress",
        "api": "canary-in-progress",
    }
    assert terminations == []


def alarm(stack: Stack, name: str) -> Any:
    cloudwatch = stack.world.session.client("cloudwatch")
    emulator.create_alarm(cloudwatch, name)
    return cloudwatch


def test_a_good_image_bakes_then_is_proven(stack: Stack) -> None:
    stack.world.group("web", [14, 3, 2], tags={"recycler:alarms": "web-5xx"})
    stack.world.group("api", [12, 2])
    stack.world.publish_patched_image()
    alarm(stack, "web-5xx")  # OK throughout
    pauses: list[float] = []
    report = run(
        LocalPort(sleep=pauses.append),
        services(stack),
        Settings(bake_minutes=10),
        ManualPayload(poll_seconds=5),
    )
    groups = {g.group: g for g in report.groups}
    assert groups["web"].canary and groups["web"].baked and groups["web"].baked_seconds == 600
    assert groups["api"].outcome == "recycled"  # after the canary was proven
    assert sum(pauses) >= 600


def test_an_alarm_during_the_bake_fails_the_canary_and_holds_the_image_back(
    stack: Stack, terminations: list[Any]
) -> None:
    stack.world.group("web", [14, 3, 2], tags={"recycler:alarms": "web-5xx"})
    stack.world.group("api", [12, 2])
    stack.world.publish_patched_image()
    cloudwatch = alarm(stack, "web-5xx")
    # The replacement passed its health checks; minutes later the group's 5xx alarm fires.
    fires = {
        "web:bake-start": lambda: cloudwatch.set_alarm_state(
            AlarmName="web-5xx", StateValue="ALARM", StateReason="5xx"
        )
    }
    report = run(
        FaultPort(after=fires),
        services(stack),
        Settings(bake_minutes=10, failures_before_stop=5),
        ManualPayload(poll_seconds=5),
    )
    groups = {g.group: g for g in report.groups}
    assert (groups["web"].outcome, groups["web"].reason) == ("failed", "bake-failed")
    assert "web-5xx" in groups["web"].detail and groups["web"].baked is False
    assert (groups["api"].outcome, groups["api"].reason) == ("skipped", "canary-failed")
    assert len(terminations) == 1  # api never launched the image
    assert Ledger(stack.table, session=stack.world.session).proven_images([stack.world.images[1]]) == {}
    assert any("bake" in a["Subject"] for a in stack.alerts())


def at_bake_minute(stack: Stack, minute: int, act: Any) -> tuple[LocalPort, Services]:
    """A port and services on one simulated clock; `act(replacement)` runs once, at the first bake poll
    `minute` minutes or more into web's bake (the bake polls once a minute)."""
    clock = emulator.SimulatedClock(datetime.now(UTC))
    before = {i["InstanceId"] for i in stack.group_state("web")["Instances"]}
    done: list[float] = []

    def polled(name: str, state: Any) -> None:
        if name == "web:bake" and state.elapsed >= minute * 60 and not done:
            done.append(state.elapsed)
            [replacement] = [
                i["InstanceId"]
                for i in stack.group_state("web")["Instances"]
                if i["InstanceId"] not in before
            ]
            act(replacement)

    return LocalPort(sleep=clock.sleep, on_poll=polled), replace(services(stack), clock=clock)


def image_records(stack: Stack) -> dict[str, str]:
    """What the ledger (DynamoDB) holds about the new image: record -> the group that wrote it."""
    items = stack.ledger_items(f"image#{stack.world.images[1]}")
    return {item["record"]: item.get("proven_by") or item.get("canary", "") for item in items}


def test_a_replacement_unhealthy_at_minute_10_of_its_bake_fails_the_canary(
    stack: Stack, terminations: list[Any]
) -> None:
    """Many bad images pass a boot and fail minutes later (a crash loop, a leak): Auto Scaling marks the
    replacement Unhealthy ten minutes into a thirty-minute bake."""
    two_groups_on_a_new_image(stack)
    api_before = stack.group_state("api")["Instances"]
    autoscaling = stack.world.autoscaling

    def turns_unhealthy(replacement: str) -> None:
        autoscaling.set_instance_health(InstanceId=replacement, HealthStatus="Unhealthy")

    port, running = at_bake_minute(stack, 10, turns_unhealthy)
    report = run(
        port, running, Settings(bake_minutes=30, failures_before_stop=5), ManualPayload(poll_seconds=5)
    )
    assert "proven" not in image_records(stack)  # the emulator's DynamoDB: the image is not proven
    assert stack.group_state("api")["Instances"] == api_before  # api never launched it
    assert len(terminations) == 1
    groups = {g.group: g for g in report.groups}
    assert (groups["web"].reason, groups["api"].reason) == ("bake-failed", "canary-failed")
    assert "turned InService/Unhealthy 660 s into the bake" in groups["web"].detail  # the poll after


def test_a_replacement_failing_its_target_group_during_the_bake_fails_the_canary(
    stack: Stack, terminations: list[Any]
) -> None:
    """The load balancer's health check (not Auto Scaling's) starts failing the replacement at minute 10
    of its bake: the bake reads every target group of the group at each poll."""
    session = stack.world.session
    arn = emulator.create_target_group(session.client("ec2"), session.client("elbv2"), "web")
    stack.world.group("web", [14, 3, 2], target_group_arns=[arn])
    stack.world.publish_patched_image()
    port, running = at_bake_minute(stack, 10, lambda replacement: unhealthy_in("web", replacement))
    report = run(
        port, running, Settings(bake_minutes=30, failures_before_stop=5), ManualPayload(poll_seconds=5)
    )
    assert image_records(stack).get("condemned") == "web"  # the emulator's DynamoDB
    web = next(g for g in report.groups if g.group == "web")
    assert (
        web.reason == "bake-failed" and "targetgroup/web/" in web.detail and "s into the bake" in web.detail
    )


def test_a_stop_alarm_firing_during_the_bake_fails_the_canary(stack: Stack, terminations: list[Any]) -> None:
    """The run's own stop-condition alarms (not only the group's recycler:alarms) are read at every bake
    poll: a checkout 5xx alarm firing at minute 10 of the canary's bake holds the image back."""
    two_groups_on_a_new_image(stack)
    cloudwatch = alarm(stack, "checkout-5xx")
    api_before = stack.group_state("api")["Instances"]

    def fires(_: str) -> None:
        cloudwatch.set_alarm_state(AlarmName="checkout-5xx", StateValue="ALARM", StateReason="5xx")

    port, running = at_bake_minute(stack, 10, fires)
    settings = Settings(bake_minutes=30, failures_before_stop=5, stop_alarm_names=("checkout-5xx",))
    report = run(port, running, settings, ManualPayload(poll_seconds=5))
    assert "proven" not in image_records(stack)
    assert stack.group_state("api")["Instances"] == api_before
    assert len(terminations) == 1
    web = next(g for g in report.groups if g.group == "web")
    assert web.reason == "bake-failed" and "checkout-5xx" in web.detail


def test_an_inconclusive_bake_proves_nothing(stack: Stack, terminations: list[Any]) -> None:
    """A scale-in takes the canary's replacement at minute 10 of its bake: not the image's fault, and not
    a proof either. The image stays unproven, so its next group is a canary again."""
    two_groups_on_a_new_image(stack)
    autoscaling = stack.world.autoscaling

    def scaled_in(replacement: str) -> None:
        autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=replacement, ShouldDecrementDesiredCapacity=True
        )

    port, running = at_bake_minute(stack, 10, scaled_in)
    payload = ManualPayload(source="publish", canary_only=True, trigger="test", poll_seconds=5)
    report = run(port, running, Settings(bake_minutes=30, publish_debounce_seconds=0), payload)
    records = image_records(stack)  # the emulator's DynamoDB: neither proven nor condemned
    assert "proven" not in records and "condemned" not in records
    assert Ledger(stack.table, session=stack.world.session).proven_images([stack.world.images[1]]) == {}
    web = next(g for g in report.groups if g.group == "web")
    assert (web.outcome, web.baked) == ("recycled", False) and "left the group" in web.detail


def test_a_group_deleted_during_the_bake_proves_nothing(stack: Stack, terminations: list[Any]) -> None:
    """An operator deletes the canary's group at minute 10 of its bake: no verdict on the image."""
    two_groups_on_a_new_image(stack)
    autoscaling = stack.world.autoscaling

    def deleted(_: str) -> None:
        autoscaling.delete_auto_scaling_group(AutoScalingGroupName="web", ForceDelete=True)

    port, running = at_bake_minute(stack, 10, deleted)
    payload = ManualPayload(source="publish", canary_only=True, trigger="test", poll_seconds=5)
    report = run(port, running, Settings(bake_minutes=30, publish_debounce_seconds=0), payload)
    records = image_records(stack)  # the emulator's DynamoDB: neither proven nor condemned
    assert "proven" not in records and "condemned" not in records
    web = next(g for g in report.groups if g.group == "web")
    assert (web.outcome, web.baked) == ("recycled", False) and "deleted during the bake" in web.detail


class ReadFailsOnce:
    """The fleet adapter, except that one group read (once armed) fails as a throttled call does when
    the SDK's retries are spent."""

    def __init__(self, fleet: Any) -> None:
        self.fleet, self.armed = fleet, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fleet, name)

    def group(self, name: str) -> Any:
        if self.armed:
            self.armed = False
            error = {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}
            raise ClientError(error, "DescribeAutoScalingGroups")  # type: ignore[arg-type]
        return self.fleet.group(name)


def test_a_failed_read_during_the_bake_is_retried_and_the_bake_goes_on(
    stack: Stack, terminations: list[Any]
) -> None:
    """One bake poll cannot read the group: the bake neither fails nor ends early; it reads again at
    the next poll and, healthy for its whole length, proves the image."""
    two_groups_on_a_new_image(stack)
    failing: list[ReadFailsOnce] = []
    port, running = at_bake_minute(stack, 10, lambda _: setattr(failing[0], "armed", True))
    failing.append(ReadFailsOnce(running.fleet))
    payload = ManualPayload(source="publish", canary_only=True, trigger="test", poll_seconds=5)
    settings = Settings(bake_minutes=30, publish_debounce_seconds=0)
    report = run(port, replace(running, fleet=failing[0]), settings, payload)
    assert not failing[0].armed  # the failed read happened
    assert image_records(stack).get("proven") == "web"  # the emulator's DynamoDB
    web = next(g for g in report.groups if g.group == "web")
    assert (web.outcome, web.baked) == ("recycled", True) and (web.baked_seconds or 0) >= 1800


def test_the_debounce_lets_a_pipeline_finish_before_the_canary_launches(stack: Stack) -> None:
    """A pipeline publishes in steps: its first change's event arrives, and a minute later it points the
    template at the final image. The run plans only after the debounce (5 minutes, from the event), so
    its canary launches the final image, not the half-published one."""
    two_groups_on_a_new_image(stack)
    final = emulator.stock_images(stack.world.ec2, 3)[2]
    web_before = {i["InstanceId"] for i in stack.group_state("web")["Instances"]}
    start = datetime.now(UTC)
    clock = emulator.SimulatedClock(start)
    published: list[datetime] = []

    def sleep(seconds: float) -> None:
        for step in [1.0] * int(seconds) + [seconds - int(seconds)]:  # the pipeline acts mid-wait
            clock.sleep(step)
            if not published and clock.now >= start + timedelta(seconds=60):
                published.append(clock.now)
                emulator.publish_image(stack.world.ec2, stack.world.template(), final)

    settings = Settings(bake_minutes=1, publish_debounce_seconds=300)
    payload = publish_payload(PARAMETER_UPDATED).model_copy(update={"poll_seconds": 5})
    run(LocalPort(sleep=sleep), replace(services(stack), clock=clock), settings, payload)
    [replacement] = [i for i in stack.group_state("web")["Instances"] if i["InstanceId"] not in web_before]
    described = stack.world.ec2.describe_instances(InstanceIds=[replacement["InstanceId"]])
    assert described["Reservations"][0]["Instances"][0]["ImageId"] == final  # what EC2 launched
    assert published == [start + timedelta(seconds=60)]


def test_an_event_outside_the_maintenance_windows_waits_for_the_next_one(
    stack: Stack, terminations: list[Any]
) -> None:
    two_groups_on_a_new_image(stack)
    three_am = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # a Tuesday
    clock = emulator.SimulatedClock(three_am)
    settings = Settings(
        maintenance_windows=("MON-FRI 08:00-17:00",), bake_minutes=1, publish_debounce_seconds=120
    )
    payload = ManualPayload(
        source="publish", canary_only=True, trigger="ssm parameter /golden/ami Update", poll_seconds=5
    )
    report: RunReport = run(
        LocalPort(sleep=clock.sleep), replace(services(stack), clock=clock), settings, payload
    )
    assert {g.group: g.outcome for g in report.groups} == {"web": "recycled", "api": "skipped"}
    # Acted only once the window opened: 08:00, not 03:02.
    assert clock.now >= datetime(2026, 12, 1, 8, 0, tzinfo=UTC) and len(terminations) == 1


def test_an_unknown_event_is_refused_and_nothing_is_read_or_terminated(
    stack: Stack, terminations: list[Any]
) -> None:
    stack.world.group("web", [14, 3])
    unknown = envelope(
        "aws.ec2", "EC2 Instance State-change Notification", {"instance-id": "i-0", "state": "running"}
    )
    status, report, _ = invoke_durable(unknown)
    assert status == "SUCCEEDED" and report is not None
    assert (
        "unknown event" in report["refused"] and "EC2 Instance State-change Notification" in report["refused"]
    )
    deleted = envelope("aws.ssm", "Parameter Store Change", {"operation": "Delete", "name": "/golden/ami"})
    assert "publishes no image" in invoke_durable(deleted)[1]["refused"]  # type: ignore[index]
    assert terminations == []


def test_a_failed_launch_template_call_starts_no_run(stack: Stack, terminations: list[Any]) -> None:
    """CloudTrail records failed calls too, with errorCode: the template did not change. Even if a rule
    let one through (the synthesized rule filters errorCode out, tests/infra/test_publish_rules.py), the
    handler refuses it and the fleet is untouched."""
    two_groups_on_a_new_image(stack)
    before = {g: stack.group_state(g)["Instances"] for g in ("web", "api")}
    failed = envelope(
        "aws.ec2",
        "AWS API Call via CloudTrail",
        {
            **TEMPLATE_VERSION["detail"],
            "errorCode": "Client.UnauthorizedOperation",
            "errorMessage": "You are not authorized to perform this operation.",
        },
    )
    status, report, _ = invoke_durable(failed)
    assert status == "SUCCEEDED" and report is not None
    assert {g: stack.group_state(g)["Instances"] for g in ("web", "api")} == before
    assert terminations == []
    assert "failed (Client.UnauthorizedOperation)" in report.get("refused", "")


def test_an_image_whose_canary_failed_is_not_launched_again_by_a_later_run(
    stack: Stack, terminations: list[Any]
) -> None:
    two_groups_on_a_new_image(stack)
    emulator.sabotage("web", "unhealthy")
    first = run(FaultPort(), services(stack), Settings(bake_minutes=1), ManualPayload(poll_seconds=5))
    assert {g.group: g.reason for g in first.groups} == {
        "web": "replacement unhealthy",
        "api": "canary-failed",
    }
    assert len(terminations) == 1
    # The next run (a publish event's, or tomorrow's) must not try the broken image on api.
    later = run(FaultPort(), services(stack), Settings(bake_minutes=1), ManualPayload(poll_seconds=5))
    api = next(g for g in later.groups if g.group == "api")
    assert (api.outcome, api.reason) == (
        "skipped",
        "canary-failed",
    ) and "failed its canary earlier" in api.detail
    assert len(terminations) == 1
    # A drill that asks for a canary tries it again (the operator fixed something else, say).
    again = run(
        FaultPort(),
        services(stack),
        Settings(bake_minutes=1),
        ManualPayload(poll_seconds=5, canary=True, groups=["api"]),
    )
    assert next(g for g in again.groups if g.group == "api").canary
