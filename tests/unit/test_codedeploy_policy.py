"""recycler/policy/codedeploy.py: when a CodeDeploy group is not touched, and what its deployments say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from botocore.exceptions import ClientError

from recycler.codedeploy import CodeDeployGroup, Deployment
from recycler.domain import NOT_THE_IMAGE, Decision, GroupSnapshot, Reason
from recycler.messages_replacement import AGENT_LOG
from recycler.policy.codedeploy import blue_green_source, guard, replacement_verdict
from recycler.workflow.codedeploy import with_codedeploy
from recycler.workflow.port import Services

PLANNED = Decision(group="web", recycle=True, reason=Reason.OLDEST_INSTANCE.value)
TARGET = CodeDeployGroup("shop", "web-dg")


def snapshot(suspended: frozenset[str] = frozenset()) -> GroupSnapshot:
    return GroupSnapshot("web", 2, 2, 3, (), suspended_processes=suspended)


def test_a_group_no_deployment_group_names_passes() -> None:
    assert guard(PLANNED, snapshot(frozenset({"AZRebalance"})), ()) is PLANNED


def test_an_active_deployment_skips_and_names_it() -> None:
    skipped = guard(PLANNED, snapshot(), [TARGET, CodeDeployGroup("shop", "other", active=("d-123",))])
    assert skipped.reason == Reason.DEPLOYMENT_IN_PROGRESS.value and "d-123" in skipped.detail


def test_a_blue_green_copy_is_known_by_its_name_only() -> None:
    assert blue_green_source("CodeDeploy_web-dg_d-A1B2C3D4E") == "web-dg"
    assert blue_green_source("CodeDeploy_my_dg_d-A1B2C3D4E") == "my_dg"  # underscores in the name
    assert blue_green_source("CodeDeploy_web-dg") is None
    assert blue_green_source("web") is None and blue_green_source("CodeDeploy_web-dg_x-1") is None


def test_a_deployment_under_way_skips_its_blue_green_copy_and_says_so() -> None:
    copy = CodeDeployGroup("shop", "web-dg", active=("d-A1B2C3D4E",), blue_green_copy=True)
    skipped = guard(PLANNED, snapshot(), [copy])
    assert skipped.reason == Reason.DEPLOYMENT_IN_PROGRESS.value
    assert "d-A1B2C3D4E" in skipped.detail and "blue/green copy" in skipped.detail


def test_an_active_deployment_explains_a_processes_suspended_skip() -> None:
    suspended = PLANNED.skipped(Reason.PROCESSES_SUSPENDED, "Terminate")
    assert guard(
        suspended, snapshot(frozenset({"Terminate"})), [CodeDeployGroup("shop", "web-dg", active=("d-1",))]
    ).reason == (Reason.DEPLOYMENT_IN_PROGRESS.value)


def test_processes_codedeploy_suspends_left_without_a_deployment_skip_with_the_resume_command() -> None:
    skipped = guard(
        PLANNED, snapshot(frozenset({"AZRebalance", "ScheduledActions", "AlarmNotification"})), [TARGET]
    )
    assert skipped.reason == Reason.PROCESSES_LEFT_SUSPENDED.value
    assert "--scaling-processes AZRebalance ScheduledActions" in skipped.detail


def test_other_skips_are_left_alone() -> None:
    young = PLANNED.skipped(Reason.TOO_YOUNG, "")
    assert guard(young, snapshot(), [CodeDeployGroup("shop", "web-dg", active=("d-1",))]) is young


def test_a_failed_automatic_deployment_is_the_revision_not_the_image() -> None:
    failed = Deployment("d-9", "Failed", "autoscaling", "HEALTH_CONSTRAINTS", "too many instances failed")
    verdict = replacement_verdict([failed], 1)
    assert verdict is not None
    code, detail = verdict
    assert code is Reason.REVISION_FAILED and code in NOT_THE_IMAGE
    assert "d-9" in detail[:240] and AGENT_LOG in detail[:240]


def test_a_users_failed_deployment_says_nothing_of_the_replacement() -> None:
    assert replacement_verdict([Deployment("d-1", "Failed", "user")], 1) is None


def test_a_second_launch_is_the_loop_unless_a_deployment_succeeded() -> None:
    pending = Deployment("d-1", "InProgress", "autoscaling")
    verdict = replacement_verdict([pending], 2)
    assert verdict is not None and verdict[0] is Reason.LAUNCH_LOOP and Reason.LAUNCH_LOOP in NOT_THE_IMAGE
    assert replacement_verdict([Deployment("d-2", "Succeeded", "autoscaling"), pending], 2) is None
    assert replacement_verdict([pending], 1) is None


class UnreadableCodeDeploy:
    def deployment_groups(self, group_names: Sequence[str]) -> dict[str, tuple[CodeDeployGroup, ...]]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListApplications")

    def deployments_since(self, target: CodeDeployGroup, since: datetime) -> list[Deployment]:
        raise AssertionError("not read at planning")


def test_a_codedeploy_read_that_fails_skips_the_planned_groups() -> None:
    services = Services(fleet=cast(Any, None), brakes=cast(Any, None), ecs=cast(Any, None))
    services.codedeploy = UnreadableCodeDeploy()
    young = PLANNED.skipped(Reason.TOO_YOUNG, "")
    decided = with_codedeploy(services, [snapshot()], [PLANNED, replace(young, group="other")])
    assert decided[0].reason == Reason.PREFLIGHT_ERROR.value and "AccessDeniedException" in decided[0].detail
    assert decided[1].reason == Reason.TOO_YOUNG.value
