"""What a publish event tells the operator: the run's `trigger` (RunReport.trigger, in the report and the
alert) names what was published, and a refused event says which field ruled it out. The events are
shaped as EventBridge delivers them (tests/integration/test_publish.py, with the AWS pages cited there);
here only the texts, which the integration tests match loosely."""

from __future__ import annotations

from typing import Any

import pytest

from recycler.triggers import Refused, publish_payload
from tests.integration.test_publish import IMAGE_AVAILABLE, PARAMETER_UPDATED, TEMPLATE_VERSION, envelope

CLOUDTRAIL = ("aws.ec2", "AWS API Call via CloudTrail")


def call(name: str, request: dict[str, Any] | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"eventSource": "ec2.amazonaws.com", "eventName": name}
    if request is not None:
        detail["requestParameters"] = request
    return envelope(*CLOUDTRAIL, detail)


@pytest.mark.parametrize(
    ("event", "trigger"),
    [
        (PARAMETER_UPDATED, "ssm parameter /golden/ami Update"),
        (IMAGE_AVAILABLE, f"image builder {IMAGE_AVAILABLE['resources'][0]} AVAILABLE"),
        (TEMPLATE_VERSION, "launch template lt-0123456789abcdef0 CreateLaunchTemplateVersion"),
        # CloudTrail nests each call's parameters under its request's name; ModifyLaunchTemplate (a new
        # default version) may name the template by name.
        (
            call("ModifyLaunchTemplate", {"ModifyLaunchTemplateRequest": {"LaunchTemplateName": "web"}}),
            "launch template web ModifyLaunchTemplate",
        ),
        (
            call("CreateLaunchTemplateVersion", {"LaunchTemplateId": "lt-0aaaaaaaaaaaaaaaa"}),
            "launch template lt-0aaaaaaaaaaaaaaaa CreateLaunchTemplateVersion",
        ),
        (call("ModifyLaunchTemplate", None), "launch template ? ModifyLaunchTemplate"),
    ],
)
def test_the_trigger_names_what_was_published(event: dict[str, Any], trigger: str) -> None:
    payload = publish_payload(event)
    assert (payload.trigger, payload.source, payload.canary_only) == (trigger, "publish", True)


@pytest.mark.parametrize(
    ("event", "said"),
    [
        (
            envelope("aws.ssm", "Parameter Store Change", {"operation": "Delete", "name": "/golden/ami"}),
            "parameter /golden/ami Delete: publishes no image",
        ),
        (
            envelope("aws.ssm", "Parameter Store Change", {"operation": "Update"}),
            "parameter ? Update: publishes no image",
        ),
        (
            envelope("aws.ssm", "Parameter Store Change", {"name": "/golden/ami"}),
            "parameter /golden/ami ?: publishes no image",
        ),
        (
            envelope(
                "aws.imagebuilder", "EC2 Image Builder Image State Change", {"state": {"status": "FAILED"}}
            ),
            "image state FAILED: only AVAILABLE publishes an image",
        ),
        (
            envelope("aws.imagebuilder", "EC2 Image Builder Image State Change", {}),
            "image state ?: only AVAILABLE publishes an image",
        ),
        (call("RunInstances", {}), "CloudTrail call RunInstances: not a launch template change"),
        (envelope(*CLOUDTRAIL, {}), "CloudTrail call ?: not a launch template change"),
    ],
)
def test_a_refused_event_names_the_field_that_ruled_it_out(event: dict[str, Any], said: str) -> None:
    with pytest.raises(Refused) as refused:
        publish_payload(event)
    assert str(refused.value) == said
