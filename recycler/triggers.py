"""Publish events as EventBridge delivers them, turned into a canary run, or refused with the reason.

A new image reaches a group's launch path three ways, each with its own EventBridge event:
- an SSM parameter a launch template resolves (`resolve:ssm:`) changes: "Parameter Store Change" from
  `aws.ssm` (https://docs.aws.amazon.com/systems-manager/latest/userguide/monitoring-systems-manager-event-examples.html);
- EC2 Image Builder finishes an image: "EC2 Image Builder Image State Change" from `aws.imagebuilder`,
  `detail.state.status` AVAILABLE (https://docs.aws.amazon.com/imagebuilder/latest/userguide/integ-eventbridge.html);
- a launch template gets a new version or default: "AWS API Call via CloudTrail" from `aws.ec2`, event
  names CreateLaunchTemplateVersion / ModifyLaunchTemplate (needs a CloudTrail trail:
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html).
Anything else shaped like an EventBridge event is refused by name: nothing is read or terminated.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from recycler.models import ManualPayload, parse_payload

PARAMETER_CHANGE = ("aws.ssm", "Parameter Store Change")
IMAGE_STATE_CHANGE = ("aws.imagebuilder", "EC2 Image Builder Image State Change")
CLOUDTRAIL_CALL = ("aws.ec2", "AWS API Call via CloudTrail")
# Operations after which the parameter holds a (possibly new) value: a delete publishes no image.
PUBLISHING_OPERATIONS = frozenset({"Create", "Update", "LabelParameterVersion"})
TEMPLATE_CALLS = frozenset({"CreateLaunchTemplateVersion", "ModifyLaunchTemplate"})
ACCEPTED = (
    "Parameter Store Change (aws.ssm), EC2 Image Builder Image State Change (aws.imagebuilder) with "
    "state AVAILABLE, AWS API Call via CloudTrail (aws.ec2) for CreateLaunchTemplateVersion or "
    "ModifyLaunchTemplate"
)


class Refused(ValueError):
    """An event recycler does not act on, with why; the run does nothing."""


def is_eventbridge_event(event: Any) -> bool:
    return isinstance(event, dict) and "detail-type" in event and "source" in event


def payload_of(event: Any) -> ManualPayload:
    """The run an invocation asks for: a publish event's canary run (or Refused), else the schedule's or
    a drill's payload (InputError naming the field)."""
    return publish_payload(event) if is_eventbridge_event(event) else parse_payload(event)


def publish_payload(event: dict[str, Any]) -> ManualPayload:
    """The canary run a publish event asks for, or Refused naming what was wrong."""
    try:
        envelope = parse(event=event, model=EventBridgeModel)
    except ValidationError as error:
        raise Refused(f"not a valid EventBridge event: {error.errors()[0]['msg']}") from None
    detail: dict[str, Any] = envelope.detail if isinstance(envelope.detail, dict) else {}
    kind = (envelope.source, envelope.detail_type)
    if kind == PARAMETER_CHANGE:
        operation, name = detail.get("operation", ""), detail.get("name", "")
        if operation not in PUBLISHING_OPERATIONS or not name:
            raise Refused(f"parameter {name or '?'} {operation or '?'}: publishes no image")
        trigger = f"ssm parameter {name} {operation}"
    elif kind == IMAGE_STATE_CHANGE:
        status = (detail.get("state") or {}).get("status", "")
        if status != "AVAILABLE":
            raise Refused(f"image state {status or '?'}: only AVAILABLE publishes an image")
        trigger = f"image builder {envelope.resources[0] if envelope.resources else '?'} AVAILABLE"
    elif kind == CLOUDTRAIL_CALL:
        call = detail.get("eventName", "")
        if call not in TEMPLATE_CALLS:
            raise Refused(f"CloudTrail call {call or '?'}: not a launch template change")
        if detail.get("errorCode"):
            raise Refused(f"{call} failed ({detail['errorCode']}): nothing changed")
        request = detail.get("requestParameters") or {}
        nested = request.get("CreateLaunchTemplateVersionRequest") or request.get(
            "ModifyLaunchTemplateRequest"
        )
        template = (nested or request).get("LaunchTemplateId") or (nested or request).get(
            "LaunchTemplateName"
        )
        trigger = f"launch template {template or '?'} {call}"
    else:
        raise Refused(
            f"unknown event: source {envelope.source!r}, detail-type {envelope.detail_type!r}; recycler acts on {ACCEPTED}"
        )
    return ManualPayload(source="publish", canary_only=True, trigger=trigger[:512])
