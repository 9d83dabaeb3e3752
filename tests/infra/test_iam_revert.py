"""IAM truth for recycler:revert_on_canary_failure: the calls a revert makes on the emulator, evaluated
against the role synthesized with the context on (every one allowed, on its resource and conditions) and
with it off (every revert call denied), plus the scoping: a parameter outside
recycler:publish_parameter_prefixes, and a launch template without the revert tag, are refused."""

from __future__ import annotations

from typing import Any

import pytest

from recycler.aws.clients import Clients
from recycler.aws.launch_paths import LaunchPaths
from recycler.models import Settings
from recycler.policy.revert import RevertOutcome
from tests.conftest import Stack
from tests.infra.iam_eval import evaluate
from tests.infra.test_iam_truth import (
    CONTEXT,
    Go,
    Recording,
    Role,
    arn,
    build_role,
    denied,
    parameter_arn,
    record,
    recorded,
    requests,
    verdicts,
)
from tests.infra.test_stack import synth
from tests.integration.test_revert import alias_fleet, groups_on, template

ON = {
    **CONTEXT,
    "recycler:revert_on_canary_failure": "true",
    "recycler:publish_parameter_prefixes": "/golden/",
}
# The calls only a revert makes: with the context off, the role grants none of them.
REVERT_ACTIONS = {
    "ssm:GetParameter",
    "ssm:GetParameterHistory",
    "ssm:PutParameter",
    "ec2:DescribeLaunchTemplates",
    "ec2:ModifyLaunchTemplate",
}


def revert_scenario(stack: Stack, go: Go) -> None:
    """web (the canary) and api launch resolve:ssm:/golden/ami; shop launches a tagged template's
    $Default: one canary for the image, two launch paths put back."""
    good, broken = alias_fleet(stack)
    shop = template(stack, "shop-lt", good, tags={"recycler:revert": "true"})
    groups_on(stack, shop, "$Default", {"shop": [9, 5]})
    ec2 = stack.world.ec2
    ec2.create_launch_template_version(
        LaunchTemplateId=shop, SourceVersion="1", LaunchTemplateData={"ImageId": broken}
    )
    ec2.modify_launch_template(LaunchTemplateId=shop, DefaultVersion="2")
    report = go(Settings(revert_on_canary_failure=True, bake_minutes=0, failures_before_stop=5))
    assert sorted(r.outcome for r in report.reverted) == [RevertOutcome.RESTORED] * 2, report.reverted


@pytest.fixture(scope="module")
def role_on() -> Role:
    return build_role(ON)


@pytest.fixture(scope="module")
def role_off() -> Role:
    return build_role(CONTEXT)


@pytest.fixture(scope="module")
def recording() -> Recording:
    return record(revert_scenario)


def test_every_revert_call_is_allowed_with_the_context_on(recording: Recording, role_on: Role) -> None:
    if recording.error is not None:
        raise recording.error
    found = requests(recording, role_on)
    assert {r.action for r in found} >= REVERT_ACTIONS, REVERT_ACTIONS - {r.action for r in found}
    refused = denied(role_on.statements, found)
    assert not refused, "\n".join(d.explain() for d in refused)


def test_every_revert_call_is_denied_with_the_context_off(recording: Recording, role_off: Role) -> None:
    if recording.error is not None:
        raise recording.error
    found = [r for r in requests(recording, role_off) if r.action in REVERT_ACTIONS]
    assert {r.action for r in found} == REVERT_ACTIONS
    # GetParameter stays granted on the kill switch only; the revert reads /golden/ami.
    assert all(not evaluate(role_off.statements, r).allowed for r in found)


def test_no_revert_statement_without_the_context() -> None:
    def actions(context: dict[str, Any]) -> set[str]:
        template = synth(**context).to_json()
        found: set[str] = set()
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::IAM::Policy":
                for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                    listed = statement["Action"]
                    found.update([listed] if isinstance(listed, str) else listed)
        return found

    revert_writes = {"ssm:PutParameter", "ssm:GetParameterHistory", "ec2:ModifyLaunchTemplate"}
    assert not revert_writes & actions(CONTEXT)
    assert revert_writes <= actions(ON)


def test_a_parameter_outside_the_prefixes_and_an_untagged_template_are_refused(role_on: Role) -> None:
    from tests.infra.test_iam_truth import fresh_stack

    with fresh_stack() as stack:
        ssm = stack.world.session.client("ssm")
        image = stack.world.images[0]
        for name in ("/golden/ami", "/other/ami"):
            ssm.put_parameter(Name=name, Value=image, Type="String", DataType="aws:ec2:image")
        tagged = template(stack, "tagged", image, tags={"recycler:revert": "true"})
        untagged = template(stack, "untagged", image)
        with recorded(stack) as (seen, recorder):
            paths = LaunchPaths(Clients(seen.world.session))
            for name in ("/golden/ami", "/other/ami"):
                paths.put_parameter(name, image, "aws:ec2:image")
            for template_id in (tagged, untagged):
                paths.set_default_version(template_id, 1)
        puts = verdicts(recorder, role_on, "ssm:PutParameter")
        assert {d.request.resource: d.allowed for d in puts} == {
            parameter_arn("/golden/ami"): True,
            parameter_arn("/other/ami"): False,
        }
        modified = verdicts(recorder, role_on, "ec2:ModifyLaunchTemplate")
        assert {d.request.resource: d.allowed for d in modified} == {
            arn("ec2", f"launch-template/{tagged}"): True,
            arn("ec2", f"launch-template/{untagged}"): False,
        }
