"""EventBridge events, as a subscriber sees them: a rule on recycler's events delivering to an SQS queue
on the emulator (moto delivers PutEvents to a rule's SQS target; recycler/local/emulator/events.py adds
AWS's 256 KB request limit)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from recycler.aws.events import MAX_REQUEST_BYTES, Events, batches
from recycler.local import emulator
from recycler.local.emulator.events import create_event_tap, delivered
from recycler.workflow.events import NOTABLE_SKIPS, RUN_COMPLETED
from tests.conftest import REGION, Stack, invoke_durable

BUS = f"arn:aws:events:{REGION}:{emulator.DEFAULT_ACCOUNT}:event-bus/default"


@pytest.fixture
def tap(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RECYCLER_EVENTS_BUS", BUS)
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", "10")
    session = stack.world.session
    return create_event_tap(session.client("events"), session.client("sqs"))


def events_of(stack: Stack, queue_url: str) -> list[dict[str, Any]]:
    return delivered(stack.world.session.client("sqs"), queue_url)


def test_one_event_per_outcome_none_duplicated_under_durable_replays(
    stack: Stack, tap: str, invocations: list[int]
) -> None:
    world = stack.world
    world.group("web", [5, 4, 3])
    world.group("broken", [5, 4])
    world.group("tagged", [5, 4], tags={"recycler:mode": "sideways"})
    world.group("young", [0.1, 0.1])
    stack.prove(world.images[0])  # no canary: every group starts in the first phase
    emulator.sabotage("web", "slow", slow_reads=8)  # several suspended polls = several replays
    emulator.sabotage("broken", "unhealthy")
    status, report, _ = invoke_durable({"poll_seconds": 15, "health_timeout_seconds": 600})
    assert status == "SUCCEEDED" and report is not None
    assert len(invocations) > 3, "the wait should have suspended and replayed the workflow"

    events = events_of(stack, tap)
    kinds = Counter((e["detail-type"], e["detail"].get("group")) for e in events)
    assert kinds == {
        ("Recycle Succeeded", "web"): 1,
        ("Recycle Failed", "broken"): 1,
        ("Recycle Skipped", "tagged"): 1,
        (RUN_COMPLETED, None): 1,
    }, "young (too-young) is a routine skip: no event"
    assert len({e["detail"]["event_id"] for e in events}) == len(events)
    for event in events:
        assert event["source"] == "recycler"
        detail = event["detail"]
        assert detail["run_id"] == report["run_id"]
        assert (detail["account"], detail["region"]) == (emulator.DEFAULT_ACCOUNT, REGION)
    by_kind = {e["detail-type"]: e["detail"] for e in events}
    web = next(g for g in report["groups"] if g["group"] == "web")
    succeeded = by_kind["Recycle Succeeded"]
    assert succeeded["victim"] == web["victim"] and succeeded["replacement"] == web["replacement"]
    assert by_kind["Recycle Skipped"]["reason"] == "invalid-tag"
    run = by_kind[RUN_COMPLETED]
    assert run["summary"] == report["summary"] and "groups" not in run
    assert run["skipped_by_reason"] == {"too-young": 1, "invalid-tag": 1}
    assert run["failed_groups"] == ["broken"]
    assert report["events_failed"] == []


def test_a_dry_run_emits_the_run_and_notable_skips_only(stack: Stack, tap: str) -> None:
    stack.world.group("web", [5, 4])
    stack.world.group("tagged", [5, 4], tags={"recycler:mode": "sideways"})
    _, report, _ = invoke_durable({"dry_run": True})
    assert report is not None
    kinds = sorted(e["detail-type"] for e in events_of(stack, tap))
    assert kinds == ["Recycle Skipped", RUN_COMPLETED]


def test_refused_put_events_is_reported_and_the_run_still_succeeds(
    stack: Stack, tap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self: Events, events: Any) -> list[str]:
        raise ClientError(
            {
                "Error": {
                    "Code": "AccessDeniedException",
                    "Message": "not authorized to perform: events:PutEvents",
                }
            },
            "PutEvents",
        )

    monkeypatch.setattr(Events, "put", denied)
    stack.world.group("web", [5, 4])
    status, report, _ = invoke_durable({})
    assert status == "SUCCEEDED" and report is not None
    assert report["summary"]["recycled"] == 1
    assert len(report["events_failed"]) == 1 and "AccessDeniedException" in report["events_failed"][0]
    assert events_of(stack, tap) == []


def test_puts_batch_by_ten_entries_and_by_256_kb(
    stack: Stack, tap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = Events(BUS, stack.world.session)
    calls: list[int] = []
    original = events._events.put_events

    def counted(**kwargs: Any) -> Any:
        calls.append(len(kwargs["Entries"]))
        return original(**kwargs)

    monkeypatch.setattr(events._events, "put_events", counted)
    assert events.put([("Recycle Succeeded", {"group": f"g{i}"}) for i in range(23)]) == []
    assert calls == [10, 10, 3]
    calls.clear()
    big = "x" * 100_000  # three of these are over one request's 256 KB: the emulator refuses that
    assert events.put([("Recycle Failed", {"group": f"g{i}", "detail": big}) for i in range(3)]) == []
    assert calls == [2, 1]
    assert len(events_of(stack, tap)) == 26
    too_big = events.put([("Recycle Failed", {"detail": "x" * MAX_REQUEST_BYTES})])
    assert len(too_big) == 1 and "over PutEvents" in too_big[0]


def test_entries_put_events_refused_are_sent_again(stack: Stack, tap: str) -> None:
    """AWS may refuse some entries of a request and accept the rest (FailedEntryCount, an ErrorCode per
    refused entry): the refused ones are sent once more, and every event reaches the bus once."""
    events = Events(BUS, stack.world.session)
    emulator.refuse_events(3)  # 3 of the first request's 5 entries are throttled
    problems = events.put([("Recycle Succeeded", {"group": f"g{i}"}) for i in range(5)])
    received = Counter(e["detail"]["group"] for e in events_of(stack, tap))
    assert received == {f"g{i}": 1 for i in range(5)}
    assert problems == []
    assert len(emulator.current_state().refused_events) == 3


def test_entries_refused_twice_are_reported_by_name(stack: Stack, tap: str) -> None:
    events = Events(BUS, stack.world.session)
    emulator.refuse_events(5, "InternalFailure")  # the first request's 3 entries, then 2 of the resend
    problems = events.put(
        [("Recycle Failed", {"group": "a"}), ("Recycle Failed", {"group": "b"}), ("Run Completed", {})]
    )
    assert [e["detail-type"] for e in events_of(stack, tap)] == ["Run Completed"]
    assert problems == ["Recycle Failed: InternalFailure: Rate exceeded"] * 2


def test_a_run_whose_events_are_partly_throttled_delivers_each_once(
    stack: Stack, tap: str, invocations: list[int]
) -> None:
    stack.world.group("web", [5, 4])
    stack.world.group("tagged", [5, 4], tags={"recycler:mode": "sideways"})
    stack.prove(stack.world.images[0])
    emulator.refuse_events(1)  # the first entry of the run's events step
    status, report, _ = invoke_durable({"poll_seconds": 5})
    assert status == "SUCCEEDED" and report is not None
    kinds = Counter(e["detail-type"] for e in events_of(stack, tap))
    assert kinds == {"Recycle Succeeded": 1, "Recycle Skipped": 1, RUN_COMPLETED: 1}
    assert report["events_failed"] == [] and len(emulator.current_state().refused_events) == 1


def test_the_emulator_refuses_a_request_over_256_kb_as_aws_does(stack: Stack, tap: str) -> None:
    client = stack.world.session.client("events")
    entry = {"Source": "recycler", "DetailType": "x", "Detail": json.dumps({"d": "x" * 100_000})}
    with pytest.raises(ClientError, match="over the limit"):
        client.put_events(Entries=[entry] * 3)


def test_batches_never_exceed_either_limit() -> None:
    sizes = (9, 200_000, 70_000, 1)
    entries = [{"Source": "recycler", "DetailType": "t", "Detail": "x" * size} for size in sizes]
    found = list(batches(entries * 5))
    assert [e for b in found for e in b] == entries * 5  # every entry, in order
    for batch in found:
        assert len(batch) <= 10 and sum(len(e["Detail"]) + 10 for e in batch) < MAX_REQUEST_BYTES


def test_only_reasons_that_need_a_person_are_notable() -> None:
    """Each skip reason someone must act on, spelt out: removing one from NOTABLE_SKIPS (its event never
    sent) fails here as surely as adding a routine one (200 events a day that say "nothing to do")."""
    needs_a_person = {
        "invalid-tag",
        "not-found",
        "processes-suspended",
        "too-small",
        "no-room-to-surge",
        "no-candidate",
        "no-drain-hook",
        "canary-failed",
        "earlier-recycle-failed",
        "stopped-after-failures",
    }
    routine = {"too-young", "recently-recycled", "within-target", "not-opted-in", "opted-out", "run-limit"}
    assert {r.value for r in NOTABLE_SKIPS} == needs_a_person
    assert not routine & needs_a_person
