"""EventBridge, which moto 5.2 delivers from PutEvents to a rule's SQS target as AWS does, but without
AWS's request size limit: the entries of one PutEvents request must total less than 256 KB, measured as
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html says (moto already refuses
more than 10 entries). And moto accepts every entry, where AWS may refuse some of a request's entries and
accept the others: the response's FailedEntryCount counts them, and each refused entry's result carries an
ErrorCode and ErrorMessage instead of an EventId, at the entry's index; "you must detect unsuccessful
entries and include them in a subsequent call" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevents.html,
https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html). refuse_events()
stages that. Plus a tap for tests and the demo: a rule on recycler's events to an SQS queue.
"""

from __future__ import annotations

import json
from typing import Any

from recycler.aws.events import MAX_REQUEST_BYTES, SOURCE, entry_size
from recycler.local.emulator.state import current_state


def refuse_events(count: int, error_code: str = "ThrottlingException") -> None:
    """PutEvents refuses the next `count` entries it receives (in whichever requests) with `error_code`,
    accepting the others of the same request, as AWS does under throttling or an internal failure."""
    state = current_state()
    state.events_to_refuse, state.events_error_code = count, error_code


def events_like_aws() -> None:
    """PutEvents refuses a request whose entries total 256 KB or more, and refuses the entries
    refuse_events() staged, as AWS does."""
    from moto.events.exceptions import ValidationException
    from moto.events.models import EventsBackend
    from moto.events.responses import EventsHandler

    accept = EventsBackend.put_events

    def put_some(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        state = current_state()
        refused = set(range(min(state.events_to_refuse, len(events))))
        state.events_to_refuse -= len(refused)
        state.refused_events += [events[i] for i in sorted(refused)]
        rest = [e for i, e in enumerate(events) if i not in refused]
        accepted = iter(accept(self, rest) if rest else [])
        failure = {"ErrorCode": state.events_error_code, "ErrorMessage": "Rate exceeded"}
        return [dict(failure) if i in refused else next(accepted) for i in range(len(events))]

    EventsBackend.put_events = put_some  # type: ignore[method-assign]

    original = EventsHandler.put_events

    def put_events(self: Any) -> Any:
        entries = self._get_param("Entries") or []
        if sum(entry_size(e) for e in entries) >= MAX_REQUEST_BYTES:
            raise ValidationException("Total size of the entries in the request is over the limit.")
        return original(self)

    EventsHandler.put_events = put_events  # type: ignore[method-assign]


def create_event_tap(events: Any, sqs: Any, name: str = "recycler-events-tap") -> str:
    """A rule matching every recycler event on the default bus, targeting a new SQS queue; its URL."""
    queue_url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name=name, EventPattern=json.dumps({"source": [SOURCE]}), State="ENABLED")
    events.put_targets(Rule=name, Targets=[{"Id": "tap", "Arn": queue_arn}])
    return queue_url


def delivered(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Drain the tap queue: every event the rule delivered, as EventBridge wrote it."""
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            return found
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
