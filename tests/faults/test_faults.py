"""Fault matrix (docs/reliability.md): each fault injected into a real run on the emulator.

Every test asserts the same invariants: no group ends with fewer InService+Healthy instances than it
started with (except the one in-flight recycle that failed), never more than one termination per group,
the right outcome and reason, an alert where one is due, and a failed run where it failed.
Row ids (F01...) are the docs/reliability.md table's; tests/faults/test_matrix_doc.py keeps the two in step.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from recycler.aws.fleet import Fleet
from recycler.aws.sns import Alerts
from recycler.local import emulator
from recycler.local.emulator.throttling import throttling
from recycler.models import Settings
from recycler.report import RunReport
from tests.conftest import Stack, invoke_durable
from tests.faults.harness import FaultPort, assert_no_worse, healthy, outcome, per_group, recycle

# ---- F01 throttling ---------------------------------------------------------------------------


def test_f01_throttled_describe_calls_are_retried(stack: Stack, terminations: list[Any]) -> None:
    ids = stack.world.group("web", [9, 5])
    # Throttled where the emulator answers: the three throttled reads never reach moto, as on AWS.
    with throttling(1, limit=3, only=("auto-scaling.DescribeAutoScalingGroups",)) as throttler:
        report = recycle(stack)
    assert throttler.total == 3, "the fault was never injected"
    assert outcome(report, "web") == ("recycled", "oldest-instance")
    assert terminations == [(ids[0], False)] and not report.failed


# ---- F02 AccessDenied on one group's terminate ------------------------------------------------


def test_f02_access_denied_on_one_terminate_fails_that_group_only(
    stack: Stack, terminations: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    denied = stack.world.group("locked", [9, 5])
    stack.world.group("open", [9, 5])
    before = healthy(stack.world)
    original = Fleet.terminate

    def deny(self: Fleet, instance_id: str, *, decrement: bool) -> str:
        if instance_id in denied:
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": "not authorized: autoscaling:TerminateInstanceInAutoScalingGroup",
                    }
                },
                "TerminateInstanceInAutoScalingGroup",
            )
        return original(self, instance_id, decrement=decrement)

    monkeypatch.setattr(Fleet, "terminate", deny)
    report = recycle(stack)
    assert outcome(report, "locked") == ("failed", "terminate-failed")
    assert outcome(report, "open") == ("recycled", "oldest-instance")
    assert report.failed
    assert_no_worse(before, healthy(stack.world))
    assert "recycler FAILED: locked - terminate-failed" in [a["Subject"] for a in stack.alerts()]


# ---- F03 / F04 the group or victim changed after planning --------------------------------------


def test_f03_group_deleted_between_plan_and_terminate(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("web", [9, 5])

    def delete() -> None:
        stack.world.autoscaling.delete_auto_scaling_group(AutoScalingGroupName="web", ForceDelete=True)

    report = recycle(stack, FaultPort(after={"plan": delete}))
    assert outcome(report, "web") == ("skipped", "not-found")
    assert terminations == []


def test_f04_victim_already_terminating_after_plan(stack: Stack, terminations: list[Any]) -> None:
    ids = stack.world.group("web", [9, 5, 4])
    before = healthy(stack.world)

    def someone_else_terminates() -> None:
        stack.world.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=ids[0], ShouldDecrementDesiredCapacity=False
        )

    report = recycle(stack, FaultPort(after={"plan": someone_else_terminates}))
    assert outcome(report, "web")[1] in ("no-candidate", "not-steady")
    assert terminations == []
    assert_no_worse(before, healthy(stack.world))


def test_f04_victim_gone_at_terminate_time(stack: Stack, terminations: list[Any]) -> None:
    ids = stack.world.group("web", [9, 5, 4])
    before = healthy(stack.world)

    def vanish() -> None:
        stack.world.autoscaling.detach_instances(
            AutoScalingGroupName="web", InstanceIds=[ids[0]], ShouldDecrementDesiredCapacity=False
        )

    report = recycle(stack, FaultPort(after={"web:claim": vanish}))
    assert outcome(report, "web") == ("failed", "terminate-failed")
    assert len(terminations) == 1 and report.failed
    assert_no_worse(before, healthy(stack.world))
    assert any(a["Subject"] == "recycler FAILED: web - terminate-failed" for a in stack.alerts())


# ---- F05-F08 the replacement does not come up ---------------------------------------------------


def test_f05_failed_launch_activity_fails_fast(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("web", [9, 5])
    emulator.sabotage("web", "launch-failed")
    report = recycle(stack, health_timeout_seconds=900)
    assert outcome(report, "web") == ("failed", "launch failed")
    assert report.groups[0].waited_seconds == 0  # the poll right after the terminate, not 900 s
    alert = stack.alerts()[0]
    assert "InvalidAMIID.NotFound" in alert["Message"] and len(terminations) == 1


def test_f06_replacement_unhealthy_in_the_group(stack: Stack, terminations: list[Any]) -> None:
    # On different images: each is its own canary, so web's failure does not hold "other" back.
    stack.world.group("web", [9, 5], template="web-lt")
    stack.world.publish_patched_image("web-lt")
    stack.world.group("other", [9, 5])
    before = healthy(stack.world)
    emulator.sabotage("web", "unhealthy")
    report = recycle(stack)
    assert outcome(report, "web") == ("failed", "replacement unhealthy")
    assert outcome(report, "other") == ("recycled", "oldest-instance")
    assert_no_worse(before, healthy(stack.world), in_flight={"web"})
    assert per_group(terminations, stack.world).most_common(1)[0][1] == 1
    assert stack.alerts()[0]["Subject"] == "recycler FAILED: web - replacement unhealthy"


def test_f07_replacement_unhealthy_in_a_target_group_only(stack: Stack, terminations: list[Any]) -> None:
    session = stack.world.session
    target_group = emulator.create_target_group(session.client("ec2"), session.client("elbv2"), "web")
    stack.world.group("web", [9, 5], target_group_arns=[target_group])
    emulator.sabotage("web", "target-unhealthy")
    report = recycle(stack, health_timeout_seconds=60)
    assert outcome(report, "web") == ("failed", "replacement unhealthy after 60 s")
    body = stack.alerts()[0]["Message"]
    assert "check target-group" in body and "unhealthy" in body
    assert len(terminations) == 1


def test_f08_health_timeout(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("web", [9, 5])
    emulator.sabotage("web", "slow", slow_reads=1000)
    report = recycle(stack, health_timeout_seconds=120)
    assert outcome(report, "web") == ("failed", "replacement unhealthy after 120 s")
    assert 120 <= (report.groups[0].waited_seconds or 0) < 130
    assert len(terminations) == 1 and report.failed


# ---- F09 / F10 the ledger or the topic is unavailable -------------------------------------------


def test_f09_sns_publish_failure_fails_the_run(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stack.world.group("web", [9, 5])
    emulator.sabotage("web", "unhealthy")

    def broken(self: Alerts, subject: str, body: str) -> str:
        raise ClientError({"Error": {"Code": "KMS.DisabledException", "Message": "key disabled"}}, "Publish")

    monkeypatch.setattr(Alerts, "publish", broken)
    report = recycle(stack)
    assert outcome(report, "web")[0] == "failed"
    assert report.groups[0].alert_published is False
    assert report.failed and any("alert not delivered" in a or "KMS" in a for a in report.alerts_failed)
    # The function's log says which alert and why: what an operator finds in CloudWatch Logs.
    logged = [r for r in caplog.records if r.getMessage() == "alert not delivered"]
    assert logged and all("KMS.DisabledException" in getattr(r, "error", "") for r in logged)
    assert any("web" in getattr(r, "subject", "") for r in logged)


def test_f09_lambda_raises_when_an_alert_is_not_delivered(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.world.group("web", [9, 5])
    emulator.sabotage("web", "unhealthy")
    monkeypatch.setenv("RECYCLER_TOPIC_ARN", stack.topic_arn.replace("recycler-alerts", "deleted-topic"))
    status, _, error = invoke_durable({}, timeout=120)
    assert status == "FAILED"
    assert "alerts not delivered" in error


def test_f10_ledger_unavailable_means_no_termination(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("web", [9, 5])

    def drop() -> None:
        stack.world.session.client("dynamodb").delete_table(TableName=stack.table)

    report = recycle(stack, FaultPort(after={"plan": drop}))
    assert outcome(report, "web") == ("failed", "ledger-unavailable")
    assert terminations == [] and report.failed
    assert "nothing terminated" in report.groups[0].detail


def test_a_ledger_lost_before_the_preflight_of_a_proven_image_terminates_nothing(
    stack: Stack, terminations: list[Any]
) -> None:
    """F10 with the image proven: no canary claim comes first, so the preflight's read of the run's
    failures is the first to find the table gone."""
    stack.world.group("web", [9, 5])
    stack.prove(stack.world.images[0])
    before = {i["InstanceId"] for i in stack.group_state("web")["Instances"]}

    def drop() -> None:
        stack.world.session.client("dynamodb").delete_table(TableName=stack.table)

    report = recycle(stack, FaultPort(after={"plan": drop}))
    assert {i["InstanceId"] for i in stack.group_state("web")["Instances"]} == before and terminations == []
    assert outcome(report, "web") == ("failed", "ledger-unavailable") and report.failed
    assert "could not read this run's failures, nothing terminated" in report.groups[0].detail


def test_a_group_opted_out_after_the_plan_is_not_touched(stack: Stack, terminations: list[Any]) -> None:
    """An owner sets recycler:enabled=false while the run is under way (after its plan): the preflight
    re-reads the tag, and the group is left as it is."""
    stack.world.group("web", [9, 5])
    stack.prove(stack.world.images[0])
    before = {i["InstanceId"] for i in stack.group_state("web")["Instances"]}

    def opt_out() -> None:
        stack.world.autoscaling.create_or_update_tags(
            Tags=emulator.group_tags("web", {"recycler:enabled": "false"})
        )

    report = recycle(stack, FaultPort(after={"plan": opt_out}))
    assert {i["InstanceId"] for i in stack.group_state("web")["Instances"]} == before and terminations == []
    assert outcome(report, "web") == ("skipped", "opted-out")
    assert report.groups[0].detail == "opt-in tag removed after planning"


# ---- F11 / F12 duplicates and replays --------------------------------------------------------------


def test_f11_duplicate_schedule_and_overlapping_drill_terminate_once(
    stack: Stack, terminations: list[Any]
) -> None:
    stack.world.group("web", [9, 5, 4])
    # A proven image: this is about the group's claim (a canary would be refused earlier, by its image's
    # canary claim: tests/integration/test_publish.py).
    stack.prove(stack.world.images[0])
    reports: list[RunReport] = []
    barrier = threading.Barrier(2)

    def both_checked() -> None:
        barrier.wait(timeout=30)  # both runs pass preflight before either claims: the ledger decides

    threads = [
        threading.Thread(
            target=lambda p=payload: reports.append(
                recycle(stack, FaultPort(after={"web:preflight": both_checked}), **p)
            )
        )
        for payload in ({"source": "schedule"}, {"source": "manual", "force": True})
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    outcomes = sorted(outcome(r, "web") for r in reports)
    assert outcomes == [("recycled", "oldest-instance"), ("skipped", "recently-recycled")]
    assert len(terminations) == 1


def test_f12_durable_replay_after_terminate_never_terminates_twice(
    stack: Stack, terminations: list[Any]
) -> None:
    stack.world.group("web", [9, 5])
    emulator.sabotage("web", "slow", slow_reads=10)  # ten suspended polls: the workflow replays ten times
    _, report, _ = invoke_durable({"poll_seconds": 15})
    assert report is not None and report["groups"][0]["outcome"] == "recycled"
    assert len(terminations) == 1


# ---- F13 / F14 someone pulls the brake mid-run ----------------------------------------------------


def test_f13_kill_switch_flipped_between_plan_and_terminate(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("web", [9, 5])
    ssm = stack.world.session.client("ssm")
    ssm.put_parameter(Name="/recycler/kill-switch", Value="off", Type="String")

    def flip() -> None:
        ssm.put_parameter(Name="/recycler/kill-switch", Value="on", Type="String", Overwrite=True)

    report = recycle(
        stack, FaultPort(after={"plan": flip}), Settings(kill_switch_parameter="/recycler/kill-switch")
    )
    assert outcome(report, "web") == ("skipped", "kill-switch")
    assert terminations == []


def test_f14_stop_alarm_fires_mid_run_no_new_group_starts(stack: Stack, terminations: list[Any]) -> None:
    stack.world.group("a-first", [9, 5])
    stack.world.group("b-second", [9, 5])
    stack.prove(stack.world.images[0])  # no canary: the order is the plan's
    cloudwatch = stack.world.session.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="checkout-5xx",
        MetricName="5xx",
        Namespace="App",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )

    def fire() -> None:
        cloudwatch.set_alarm_state(AlarmName="checkout-5xx", StateValue="ALARM", StateReason="5xx spike")

    settings = Settings(stop_alarm_names=["checkout-5xx"], max_concurrency=1, failures_before_stop=10)
    report = recycle(stack, FaultPort(after={"a-first:terminate": fire}), settings)
    assert outcome(report, "a-first") == ("recycled", "oldest-instance")
    assert outcome(report, "b-second") == ("skipped", "alarm-firing")
    assert len(terminations) == 1


# ---- guards checked right before acting (not in the matrix: no fault, just a busy group) -----------


@pytest.mark.parametrize("busy", ["instance-refresh", "scaling-activity"])
def test_preflight_skips_a_group_with_activity_in_progress(
    stack: Stack, terminations: list[Any], busy: str
) -> None:
    stack.world.group("web", [9, 5])
    if busy == "instance-refresh":
        emulator.add_instance_refresh("web", "InProgress")
    else:
        emulator.add_activity("web", "InProgress", "Launching a new EC2 instance: i-0abc")
    report = recycle(stack)
    reason = outcome(report, "web")
    assert reason[0] == "skipped" and reason[1] == "activity-in-progress"
    assert terminations == []
