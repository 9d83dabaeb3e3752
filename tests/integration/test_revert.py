"""recycler:revert_on_canary_failure on the emulator: a canary condemns an image, and the launch path that
would launch it on the next scale-out is put back once, only while it still holds the broken id. Every
test reads the emulator's side (the parameter's history, the template's default version), not only the
report."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import pytest

from recycler.aws.ledger import Ledger
from recycler.local import emulator
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.policy.revert import RevertOutcome
from recycler.workflow.run import run
from tests.conftest import NOW, REGION, Stack, run_durable
from tests.faults.harness import FaultPort, recycle
from tests.faults.harness import services as harness_services

PARAMETER = "/golden/ami"
ALIAS = f"resolve:ssm:{PARAMETER}"
PROTECTED = Settings(revert_on_canary_failure=True, bake_minutes=0, failures_before_stop=5)


def third_image(stack: Stack) -> str:
    return emulator.stock_images(stack.world.ec2, 3)[2]


def history(stack: Stack) -> list[tuple[int, str]]:
    ssm = stack.world.session.client("ssm")
    return [(p["Version"], p["Value"]) for p in ssm.get_parameter_history(Name=PARAMETER)["Parameters"]]


def prove(stack: Stack, image: str) -> None:
    Ledger(stack.table, session=stack.world.session).record_proven(image, "web", "an-earlier-run", NOW)


def template(stack: Stack, name: str, image: str, tags: dict[str, str] | None = None) -> str:
    extra: dict[str, Any] = (
        {
            "TagSpecifications": [
                {"ResourceType": "launch-template", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
        }
        if tags
        else {}
    )
    created = stack.world.ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}, **extra
    )
    return str(created["LaunchTemplate"]["LaunchTemplateId"])


def groups_on(stack: Stack, template_id: str, version: str, names: dict[str, list[float]]) -> None:
    for name, ages in names.items():
        emulator.create_aged_group(
            stack.world.autoscaling,
            name,
            template_id,
            ages,
            NOW,
            region=REGION,
            tags={"recycler:enabled": "true"},
        )
        emulator.point_group_at(stack.world.autoscaling, name, template_id, version)


def alias_fleet(stack: Stack, *, proven: bool = True, sabotaged: bool = True) -> tuple[str, str]:
    """web (the canary: most headroom) and api launch resolve:ssm:/golden/ami, published good then broken."""
    good, broken = stack.world.images[0], stack.world.images[1]
    ssm = stack.world.session.client("ssm")
    ssm.put_parameter(Name=PARAMETER, Value=good, Type="String", DataType="aws:ec2:image")
    groups_on(stack, template(stack, "golden", ALIAS), "$Default", {"web": [14, 3, 2], "api": [12, 2]})
    if proven:
        prove(stack, good)
    ssm.put_parameter(Name=PARAMETER, Value=broken, Type="String", DataType="aws:ec2:image", Overwrite=True)
    if sabotaged:
        emulator.sabotage("web", "unhealthy")
    return good, broken


def test_a_failed_canary_puts_the_parameter_back_once_and_a_replay_does_not_write_again(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, broken = alias_fleet(stack)
    # A second, good image on another template: its canary is proven in phase 0 and its other group
    # recycles in phase 1, after the revert, so the durable runner replays through the revert step.
    other = template(stack, "other", third_image(stack))
    groups_on(stack, other, "$Latest", {"x": [11, 2, 2], "y": [10, 2]})
    puts: list[dict[str, Any]] = []
    from moto.ssm.models import SimpleSystemManagerBackend

    original = SimpleSystemManagerBackend.put_parameter

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        puts.append(kwargs or {"args": args})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SimpleSystemManagerBackend, "put_parameter", counted)
    for key, value in {
        "RECYCLER_REVERT_ON_CANARY_FAILURE": "true",
        "RECYCLER_BAKE_MINUTES": "0",
        "RECYCLER_FAILURES_BEFORE_STOP": "5",
    }.items():
        monkeypatch.setenv(key, value)
    done = run_durable({"poll_seconds": 5, "health_timeout_seconds": 60})
    assert done.status == "SUCCEEDED", done.error
    assert done.report is not None
    groups = {g["group"]: (g["outcome"], g["reason"]) for g in done.report["groups"]}
    assert groups["web"][0] == "failed" and groups["api"] == ("skipped", "canary-failed")
    assert groups["y"] == ("recycled", "oldest-instance")  # phase 1: the run replayed past the revert
    assert history(stack) == [(1, good), (2, broken), (3, good)]  # the emulator's side: one new version
    assert len(puts) == 1
    [row] = done.report["reverted"]
    assert (row["path"], row["outcome"], row["restored_from"], row["restored_to"]) == (
        f"ssm parameter {PARAMETER}",
        RevertOutcome.RESTORED,
        broken,
        good,
    )
    assert row["groups"] == ["api", "web"]
    # Which parameter version now holds which earlier version's value: what an auditor checks.
    assert row["detail"] == f"{PARAMETER} version 2 -> 3, the value of version 1 (aws:ec2:image)"
    assert sum(1 for op in done.operations if str(op.name).startswith("revert:")) == 1
    [alert] = [a for a in stack.alerts() if a["Subject"].startswith("recycler run")]
    assert f"ssm parameter {PARAMETER}: restored {broken} -> {good}" in alert["Message"]
    # What the next scale-out launches now: the good image again.
    data = stack.world.ec2.describe_launch_template_versions(
        LaunchTemplateName="golden", Versions=["$Default"], ResolveAlias=True
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["ImageId"] == good


def test_a_parameter_published_again_before_the_restore_is_left_alone(stack: Stack) -> None:
    good, broken = alias_fleet(stack)
    fix = third_image(stack)
    ssm = stack.world.session.client("ssm")

    def someone_publishes_a_fix() -> None:
        ssm.put_parameter(Name=PARAMETER, Value=fix, Type="String", DataType="aws:ec2:image", Overwrite=True)

    report = recycle(stack, FaultPort(before={f"revert:{broken}:0": someone_publishes_a_fix}), PROTECTED)
    assert history(stack) == [(1, good), (2, broken), (3, fix)]  # nothing written after the fix
    [row] = report.reverted
    assert row.outcome == RevertOutcome.NO_LONGER_BROKEN and fix in row.detail


def test_a_default_template_is_pointed_back_and_a_latest_one_is_only_reported(stack: Stack) -> None:
    good, broken = stack.world.images[0], stack.world.images[1]
    default = template(stack, "default-lt", good, tags={"recycler:revert": "true"})
    latest = template(stack, "latest-lt", good, tags={"recycler:revert": "true"})
    groups_on(stack, default, "$Default", {"web": [14, 3, 2]})
    groups_on(stack, latest, "$Latest", {"api": [12, 2]})
    prove(stack, good)
    ec2 = stack.world.ec2
    for template_id in (default, latest):
        ec2.create_launch_template_version(
            LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData={"ImageId": broken}
        )
    ec2.modify_launch_template(LaunchTemplateId=default, DefaultVersion="2")
    emulator.sabotage("web", "unhealthy")
    emulator.sabotage("api", "unhealthy")
    report = recycle(stack, FaultPort(), PROTECTED, canary=True)
    templates = {
        t["LaunchTemplateId"]: (t["DefaultVersionNumber"], t["LatestVersionNumber"])
        for t in ec2.describe_launch_templates(LaunchTemplateIds=[default, latest])["LaunchTemplates"]
    }
    assert templates == {default: (1, 2), latest: (1, 2)}  # $Default back to 1; $Latest untouched
    outcomes = {r.path.split(" ")[2]: r for r in report.reverted}
    assert outcomes[default].outcome == RevertOutcome.RESTORED
    assert outcomes[default].restored_to == f"version 1 ({good})"
    assert outcomes[latest].outcome == RevertOutcome.MANUAL_ONLY
    assert outcomes[latest].detail.startswith(f"the groups launch version $Latest, which holds {broken}:")
    assert f"create-launch-template-version --launch-template-id {latest}" in outcomes[latest].detail


def test_an_untagged_default_template_is_not_touched(stack: Stack) -> None:
    good, broken = stack.world.images[0], stack.world.images[1]
    default = template(stack, "default-lt", good)
    groups_on(stack, default, "$Default", {"web": [14, 3, 2]})
    prove(stack, good)
    stack.world.ec2.create_launch_template_version(
        LaunchTemplateId=default, SourceVersion="1", LaunchTemplateData={"ImageId": broken}
    )
    stack.world.ec2.modify_launch_template(LaunchTemplateId=default, DefaultVersion="2")
    emulator.sabotage("web", "unhealthy")
    report = recycle(stack, FaultPort(), PROTECTED)
    [found] = stack.world.ec2.describe_launch_templates(LaunchTemplateIds=[default])["LaunchTemplates"]
    assert found["DefaultVersionNumber"] == 2
    assert [r.outcome for r in report.reverted] == [RevertOutcome.NOT_OPTED_IN]


def test_protection_off_writes_nothing(stack: Stack) -> None:
    good, broken = alias_fleet(stack)
    report = recycle(stack, FaultPort(), Settings(bake_minutes=0, failures_before_stop=5))
    assert report.groups[0].outcome == "failed" or any(g.outcome == "failed" for g in report.groups)
    assert history(stack) == [(1, good), (2, broken)]
    assert report.reverted == []


def test_no_proven_previous_value_writes_nothing_and_says_so(stack: Stack) -> None:
    good, broken = alias_fleet(stack, proven=False)
    report = recycle(stack, FaultPort(), PROTECTED)
    assert history(stack) == [(1, good), (2, broken)]
    [row] = report.reverted
    assert row.outcome == RevertOutcome.NO_PROVEN_PREVIOUS
    assert row.detail == f"no earlier value of {PARAMETER} is an image a recycle proved (and still exists)"
    [alert] = [a for a in stack.alerts() if a["Subject"].startswith("recycler run")]
    assert "no-proven-previous" in alert["Message"]


def test_launch_paths_that_cannot_be_read_write_nothing_and_say_which_image(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The role lacks a read the revert needs (DescribeAutoScalingGroups here): nothing is written, and the
    report still names the condemned image, the groups and the error, so a person can put it back."""
    from botocore.exceptions import ClientError

    from recycler.aws.launch_paths import LaunchPaths

    good, broken = alias_fleet(stack)

    def denied(*_: Any, **__: Any) -> Any:
        message = "not authorized to perform DescribeAutoScalingGroups"
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": message}}, "DescribeAutoScalingGroups"
        )

    monkeypatch.setattr(LaunchPaths, "of_groups", denied)
    report = recycle(stack, FaultPort(), PROTECTED)
    assert history(stack) == [(1, good), (2, broken)]
    [row] = report.reverted
    assert (row.image, row.path, row.outcome) == (broken, "-", RevertOutcome.FAILED)
    assert row.groups == ["api", "web"] and "AccessDenied" in row.detail


def test_launch_paths_of_an_unexpected_shape_write_nothing_and_the_run_still_reports(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reads of the groups' launch paths meet a response recycler did not expect (every member of
    DescribeLaunchTemplateVersions' LaunchTemplateVersion is optional in the API:
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_LaunchTemplateVersion.html): the revert
    writes nothing and says why, and the run, whose canary already terminated an instance, still ends
    with its report instead of failing."""
    from recycler.aws.launch_paths import LaunchPaths

    good, broken = alias_fleet(stack)

    def unexpected(*_: Any, **__: Any) -> Any:
        raise KeyError("LaunchTemplateName")

    monkeypatch.setattr(LaunchPaths, "of_groups", unexpected)
    report = recycle(stack, FaultPort(), PROTECTED)
    assert history(stack) == [(1, good), (2, broken)]
    [row] = report.reverted
    assert (row.image, row.path, row.outcome, row.groups) == (
        broken,
        "-",
        RevertOutcome.FAILED,
        ["api", "web"],
    )
    assert row.detail == "the launch path could not be read (KeyError: 'LaunchTemplateName'): nothing written"


def test_a_parameter_history_of_an_unexpected_shape_writes_nothing_and_says_what_was_unreadable(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GetParameterHistory answers without a version's Value (every member of ParameterHistory is
    optional in the API: https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ParameterHistory.html):
    recycler cannot tell which value to put back, so it writes nothing, and the report and the run's
    alert say the launch path could not be read, and why."""
    from moto.ssm.responses import SimpleSystemManagerResponse

    good, broken = alias_fleet(stack)
    answer = SimpleSystemManagerResponse.get_parameter_history

    def without_values(self: Any) -> Any:
        result = answer(self)
        for version in cast(dict[str, Any], result.result)["Parameters"]:
            version.pop("Value", None)
        return result

    with monkeypatch.context() as patched:
        patched.setattr(SimpleSystemManagerResponse, "get_parameter_history", without_values)
        report = recycle(stack, FaultPort(), PROTECTED)
    assert history(stack) == [(1, good), (2, broken)]  # SSM's side: no version written
    [row] = report.reverted
    unreadable = "the launch path could not be read (KeyError: 'Value'): nothing written"
    assert (row.path, row.outcome, row.detail) == (
        f"ssm parameter {PARAMETER}",
        RevertOutcome.FAILED,
        unreadable,
    )
    [alert] = [a for a in stack.alerts() if a["Subject"].startswith("recycler run")]
    assert f"ssm parameter {PARAMETER}: failed; {unreadable} (groups: api, web)" in alert["Message"]


def test_a_revert_interrupted_mid_write_is_reported_not_lost(stack: Stack) -> None:
    """The write step is lost (an invocation that ended inside it: at most once, so never retried): the
    run goes on, and the report says the write may have reached AWS, for a person to check."""
    good, broken = alias_fleet(stack)

    def lost() -> None:
        raise RuntimeError("the invocation ended inside the step")

    report = recycle(stack, FaultPort(before={f"revert:{broken}:0": lost}), PROTECTED)
    assert history(stack) == [(1, good), (2, broken)]
    [row] = report.reverted
    assert row.outcome == RevertOutcome.FAILED and row.image == broken
    assert row.detail.startswith("interrupted (the invocation ended inside the step): the write may have")


@pytest.mark.parametrize(
    ("code", "outcome"),
    [("AccessDeniedException", RevertOutcome.ACCESS_DENIED), ("InternalServerError", RevertOutcome.FAILED)],
)
def test_a_refused_write_is_reported_with_aws_error(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, code: str, outcome: RevertOutcome
) -> None:
    """PutParameter refused: the parameter keeps the broken id (what SSM holds), and the report says why
    in AWS's words; a denial is told apart (the role's policy is the fix, docs/fail-early-on-publish.md)."""
    from botocore.exceptions import ClientError

    from recycler.aws.launch_paths import LaunchPaths

    good, broken = alias_fleet(stack)

    def refused(*_: Any, **__: Any) -> int:
        raise ClientError({"Error": {"Code": code, "Message": "refused by the test"}}, "PutParameter")

    monkeypatch.setattr(LaunchPaths, "put_parameter", refused)
    report = recycle(stack, FaultPort(), PROTECTED)
    assert history(stack) == [(1, good), (2, broken)]
    [row] = report.reverted
    assert row.outcome == outcome and code in row.detail and "refused by the test" in row.detail


def test_an_image_this_run_proved_is_put_back_though_its_proof_never_reached_the_ledger(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """legacy's canary proves the good image in phase 0, but DynamoDB throttles the proof's PutItem past
    botocore's retries (ProvisionedThroughputExceededException: "The AWS SDKs for DynamoDB automatically
    retry requests that receive this exception. Your request is eventually successful, unless your retry
    queue is too large to finish", https://docs.aws.amazon.com/botocore/latest/reference/services/dynamodb/client/exceptions/ProvisionedThroughputExceededException.html).
    The run still counts the image proven, so when web's canary on the broken image fails in the same
    phase (its results are read in image-id order, the good image's first), the parameter goes back to it."""
    from botocore.exceptions import ClientError

    good, broken = alias_fleet(stack, proven=False)
    groups_on(stack, template(stack, "legacy", good), "$Latest", {"legacy": [20, 2]})

    def throttled(*_: Any, **__: Any) -> None:
        code, message = "ProvisionedThroughputExceededException", "Rate of requests exceeds"
        raise ClientError({"Error": {"Code": code, "Message": message}}, "PutItem")

    monkeypatch.setattr(Ledger, "record_proven", throttled)
    report = recycle(stack, FaultPort(), PROTECTED)
    groups = {g.group: (g.outcome, g.reason) for g in report.groups}
    assert groups["legacy"][0] == "recycled" and groups["web"][0] == "failed"
    assert Ledger(stack.table, session=stack.world.session).proven_images([good]) == {}  # DynamoDB's side
    assert history(stack) == [(1, good), (2, broken), (3, good)]  # SSM's side: put back once
    [row] = report.reverted
    assert (row.outcome, row.restored_from, row.restored_to) == (RevertOutcome.RESTORED, broken, good)


def test_a_deregistered_proven_image_is_not_put_back(stack: Stack) -> None:
    good, broken = alias_fleet(stack)
    stack.world.ec2.deregister_image(ImageId=good)
    report = recycle(stack, FaultPort(), PROTECTED)
    assert history(stack) == [(1, good), (2, broken)]
    assert [r.outcome for r in report.reverted] == [RevertOutcome.NO_PROVEN_PREVIOUS]


def test_the_revert_comes_right_after_the_canary_phase(stack: Stack) -> None:
    """Before any later phase starts: a later phase's recycles take as long as their health waits."""
    alias_fleet(stack)
    steps: list[str] = []

    class Recording(FaultPort):
        def step(self, name: str, fn: Any, kind: Any, *, at_most_once: bool = False) -> Any:
            steps.append(name)
            return super().step(name, fn, kind, at_most_once=at_most_once)

        def map(self, name: str, items: Any, fn: Any, kind: Any, max_concurrency: int) -> Any:
            steps.append(name)
            return super().map(name, items, fn, kind, max_concurrency)

    recycle(stack, Recording(), PROTECTED)
    reverts = [i for i, name in enumerate(steps) if name.startswith("revert:")]
    assert reverts and all(steps.index("phase-0") < i < steps.index("phase-1") for i in reverts)


def test_a_default_version_that_differs_in_more_than_its_image_is_not_set_back(stack: Stack) -> None:
    """ModifyLaunchTemplate sets a whole version: going back to version 1 would also undo version 2's
    instance type (or user data, security groups): recycler leaves it and says why."""
    good, broken = stack.world.images[0], stack.world.images[1]
    default = template(stack, "default-lt", good, tags={"recycler:revert": "true"})
    groups_on(stack, default, "$Default", {"web": [14, 3, 2]})
    prove(stack, good)
    stack.world.ec2.create_launch_template_version(
        LaunchTemplateId=default,
        SourceVersion="1",
        LaunchTemplateData={"ImageId": broken, "InstanceType": "t3.large"},
    )
    stack.world.ec2.modify_launch_template(LaunchTemplateId=default, DefaultVersion="2")
    emulator.sabotage("web", "unhealthy")
    report = recycle(stack, FaultPort(), PROTECTED)
    [found] = stack.world.ec2.describe_launch_templates(LaunchTemplateIds=[default])["LaunchTemplates"]
    assert found["DefaultVersionNumber"] == 2
    [row] = report.reverted
    assert row.outcome == RevertOutcome.MANUAL_ONLY and "differs from default version 2" in row.detail


def test_a_canary_failure_that_does_not_prove_the_image_broken_rewrites_nothing(stack: Stack) -> None:
    """The canary's launch abandoned by a launch hook (its deployment failed: as likely the pipeline's
    doing as the image's): the image is held back, but no launch path is rewritten for every group."""
    good, broken = alias_fleet(stack, sabotaged=False)
    stack.world.autoscaling.put_lifecycle_hook(
        AutoScalingGroupName="web",
        LifecycleHookName="deploy",
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
        HeartbeatTimeout=30,
        DefaultResult="ABANDON",
    )
    clock = emulator.SimulatedClock(NOW)
    emulator.hook_clock("web", clock)
    services = replace(harness_services(stack), clock=clock)
    report = run(LocalPort(sleep=clock.sleep), services, PROTECTED, ManualPayload(poll_seconds=20))
    groups = {g.group: (g.outcome, g.reason) for g in report.groups}
    assert groups == {"web": ("failed", "launch failed"), "api": ("skipped", "canary-failed")}
    assert history(stack) == [(1, good), (2, broken)]  # the emulator's side: nothing written
    [row] = report.reverted
    assert row.outcome == RevertOutcome.NO_IMAGE_VERDICT and sorted(row.groups) == ["api", "web"]


def test_the_newest_earlier_proven_value_is_put_back(stack: Stack) -> None:
    """A parameter with several proven values before the broken one: the restore writes the newest of
    them (the last image the fleet ran well), not the oldest (months of missing patches)."""
    old, broken = stack.world.images[0], stack.world.images[1]
    newer = third_image(stack)
    ssm = stack.world.session.client("ssm")
    ssm.put_parameter(Name=PARAMETER, Value=old, Type="String", DataType="aws:ec2:image")
    groups_on(stack, template(stack, "golden", ALIAS), "$Default", {"web": [14, 3, 2], "api": [12, 2]})
    prove(stack, old)
    ssm.put_parameter(Name=PARAMETER, Value=newer, Type="String", DataType="aws:ec2:image", Overwrite=True)
    prove(stack, newer)
    ssm.put_parameter(Name=PARAMETER, Value=broken, Type="String", DataType="aws:ec2:image", Overwrite=True)
    emulator.sabotage("web", "unhealthy")
    recycle(stack, FaultPort(), PROTECTED)
    assert history(stack) == [(1, old), (2, newer), (3, broken), (4, newer)]


def test_the_newest_earlier_proven_template_version_becomes_the_default(stack: Stack) -> None:
    old, broken = stack.world.images[0], stack.world.images[1]
    newer = third_image(stack)
    default = template(stack, "default-lt", old, tags={"recycler:revert": "true"})
    groups_on(stack, default, "$Default", {"web": [14, 3, 2]})
    ec2 = stack.world.ec2
    for image in (newer, broken):  # versions 2 and 3, each differing from version 1 in its image alone
        ec2.create_launch_template_version(
            LaunchTemplateId=default, SourceVersion="1", LaunchTemplateData={"ImageId": image}
        )
    ec2.modify_launch_template(LaunchTemplateId=default, DefaultVersion="3")
    prove(stack, old)
    prove(stack, newer)
    emulator.sabotage("web", "unhealthy")
    recycle(stack, FaultPort(), PROTECTED)
    [found] = ec2.describe_launch_templates(LaunchTemplateIds=[default])["LaunchTemplates"]
    assert found["DefaultVersionNumber"] == 2


def test_a_default_version_changed_while_the_revert_decides_is_left_alone(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone points the default at a fixed version after recycler read the template and before it
    writes: recycler reads the default once more right before ModifyLaunchTemplate, and leaves the fix."""
    from recycler.aws.launch_paths import LaunchPaths

    good, broken = stack.world.images[0], stack.world.images[1]
    fix = third_image(stack)
    default = template(stack, "default-lt", good, tags={"recycler:revert": "true"})
    groups_on(stack, default, "$Default", {"web": [14, 3, 2]})
    prove(stack, good)
    ec2 = stack.world.ec2
    ec2.create_launch_template_version(
        LaunchTemplateId=default, SourceVersion="1", LaunchTemplateData={"ImageId": broken}
    )
    ec2.modify_launch_template(LaunchTemplateId=default, DefaultVersion="2")
    emulator.sabotage("web", "unhealthy")
    read_versions = LaunchPaths.template_versions

    def someone_publishes_a_fix_meanwhile(self: LaunchPaths, template_id: str) -> Any:
        versions = read_versions(self, template_id)
        ec2.create_launch_template_version(
            LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData={"ImageId": fix}
        )
        ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="3")
        return versions

    monkeypatch.setattr(LaunchPaths, "template_versions", someone_publishes_a_fix_meanwhile)
    report = recycle(stack, FaultPort(), PROTECTED)
    [found] = ec2.describe_launch_templates(LaunchTemplateIds=[default])["LaunchTemplates"]
    assert found["DefaultVersionNumber"] == 3  # the fix stays the default
    [row] = report.reverted
    assert row.outcome == RevertOutcome.NO_LONGER_BROKEN
