"""What EventBridge delivers to a rule's SNS or SQS target, which moto 5.2 gets wrong or does not do:
it raises NotImplementedError for an SNS target, ignores a target's InputPath, and parses an input
transformer's output as JSON (an error inside PutEvents where AWS would deliver the text).

AWS, as the EventBridge user guide's "Input transformation" documents it: each <variable> of the
template is replaced by the value its JSON path selects, as plain text. A string value is inserted as it
is, without escaping, so a quote, a backslash or a newline in it ends up raw in the output (inside a
quoted string of a JSON template, the output is then no longer JSON); outside quotes in a JSON template
a string gets quotes around it (the guide's example: `"instance": <instance>` gives `"instance":
"i-0123456789"`), in a text template it stays bare (`<instance> is in state <status>`); an object or
array is inserted as its JSON. Predefined variables: aws.events.rule-arn, aws.events.rule-name,
aws.events.event.ingestion-time, aws.events.event (the event without detail) and aws.events.event.json.
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
A target's InputPath delivers the part of the event it selects, as JSON:
https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_Target.html
The text is what the target receives: the SNS message (as a subscriber such as Chatbot gets it) or
the SQS message body.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_MISSING = object()
# The event as EventBridge delivers it (moto's events carry bookkeeping keys besides).
EVENT_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


def select(event: Any, path: str) -> Any:
    """The value a dot-notation JSON path (with [n] indices) selects, or _MISSING."""
    value = event
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path.removeprefix("$")):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(value, list) or index >= len(value):
                return _MISSING
            value = value[index]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _as_text(value: Any, quoted: bool) -> str:
    if isinstance(value, str):
        return f'"{value}"' if quoted else value  # never escaped
    return json.dumps(value, separators=(",", ":"))


def transform(template: str, paths: Mapping[str, str], event: Mapping[str, Any], rule: Any) -> str:
    """The input transformer's output for this event, by plain-text substitution as AWS does."""
    variables: dict[str, Any] = {name: select(event, path) for name, path in paths.items()}
    variables["aws.events.rule-arn"] = rule.arn
    variables["aws.events.rule-name"] = rule.name
    variables["aws.events.event.ingestion-time"] = event.get("time")
    variables["aws.events.event"] = {k: v for k, v in event.items() if k != "detail"}
    variables["aws.events.event.json"] = dict(event)
    out: list[str] = []
    json_template = template.lstrip().startswith(("{", "["))
    in_string = False
    position = 0
    while position < len(template):
        match = _PLACEHOLDER.match(template, position)
        if match and variables.get(match[1], _MISSING) is not _MISSING:
            out.append(_as_text(variables[match[1]], json_template and not in_string))
            position = match.end()
            continue
        char = template[position]
        if char == "\\" and in_string:
            out.append(template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        position += 1
    return "".join(out)


def _delivered(target: Mapping[str, Any], event: dict[str, Any], rule: Any) -> str:
    if "InputTransformer" in target:
        transformer = target["InputTransformer"]
        return transform(transformer["InputTemplate"], transformer.get("InputPathsMap", {}), event, rule)
    if "InputPath" in target:
        return json.dumps(select(event, target["InputPath"]))
    if "Input" in target:
        return str(target["Input"])
    return json.dumps(event)


def _aws_event(original: Mapping[str, Any]) -> dict[str, Any]:
    """moto keeps `time` as a timestamp; AWS delivers it as ISO 8601."""
    from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp

    event = {key: original[key] for key in EVENT_KEYS if key in original}
    if isinstance(event.get("time"), int | float):
        event["time"] = iso_8601_datetime_without_milliseconds(utcfromtimestamp(event["time"]))
    return event


def targets_like_aws() -> None:
    """SNS and SQS targets receive what AWS delivers: the transformed text, the InputPath's part, the
    constant Input, or the event."""
    from moto.events.models import Rule
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    original = Rule.send_to_targets

    def send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        others = []
        for target in self.targets:
            service, region, account = target["Arn"].split(":")[2:5]
            shaped = {"InputTransformer", "InputPath", "Input"} & set(target)
            if not transform_input or service not in ("sns", "sqs") or (service == "sqs" and not shaped):
                others.append(target)  # moto delivers these as AWS does
                continue
            text = _delivered(target, _aws_event(original_event), self)
            if service == "sns":
                sns_backends[account][region].publish(message=text, arn=target["Arn"])
            elif "SqsParameters" in target:  # FIFO: moto's own delivery keeps its group handling
                others.append(target)
            else:
                name = target["Arn"].split(":")[5]
                sqs_backends[account][region].send_message(queue_name=name, message_body=text)
        if others:
            rest = copy.copy(self)
            rest.targets = others
            original(rest, original_event, transform_input)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
