"""The canary's claim on an image, as DynamoDB holds it: one transaction that claims the image only
while it has no verdict (ledger_images.claim_canary). What a refused claim leaves in the table is read
back from the emulator's DynamoDB."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from recycler.aws.ledger import Ledger
from recycler.aws.ledger_images import refusal
from recycler.domain import ClaimRefused, ImageJudged, Reason
from tests.conftest import Stack

IMAGE = "ami-0123456789abcdef0"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def canary_item(stack: Stack) -> dict[str, str] | None:
    return next((i for i in stack.ledger_items(f"image#{IMAGE}") if i["record"] == "canary"), None)


@pytest.mark.parametrize(
    ("verdict", "reason"),
    [("proven", Reason.PROVEN_SINCE_PLANNED), ("condemned", Reason.CANARY_FAILED)],
)
def test_a_claim_on_an_image_with_a_verdict_is_refused_and_writes_nothing(
    stack: Stack, verdict: str, reason: Reason
) -> None:
    ledger = Ledger(stack.table, session=stack.world.session)
    ledger.claim_canary(IMAGE, "web", "run-a", NOW)
    if verdict == "proven":
        ledger.record_proven(IMAGE, "web", "run-a", NOW)
    else:
        ledger.record_condemned(IMAGE, "web", "run-a", NOW, "replacement unhealthy")
    ledger.release_canary(IMAGE, "run-a", "recycled")  # the claim alone is free again
    with pytest.raises(ImageJudged) as refused:
        ledger.claim_canary(IMAGE, "api", "run-b", NOW)
    assert refused.value.reason is reason
    assert f"{verdict} by run run-a's canary on group web" in str(refused.value)
    item = canary_item(stack)
    assert item is not None and (item["run_id"], item["status"]) == ("run-a", "recycled")


def test_a_drill_that_asks_for_a_canary_claims_a_condemned_image(stack: Stack) -> None:
    ledger = Ledger(stack.table, session=stack.world.session)
    ledger.record_condemned(IMAGE, "web", "run-a", NOW, "replacement unhealthy")
    ledger.claim_canary(IMAGE, "api", "drill", NOW, retry_judged=True)
    item = canary_item(stack)
    assert item is not None and (item["run_id"], item["canary"]) == ("drill", "api")


def test_a_claim_another_run_holds_is_refused_with_the_holder(stack: Stack) -> None:
    ledger = Ledger(stack.table, session=stack.world.session)
    ledger.claim_canary(IMAGE, "web", "run-a", NOW)
    with pytest.raises(ClaimRefused) as refused:
        ledger.claim_canary(IMAGE, "api", "run-b", NOW)
    assert not isinstance(refused.value, ImageJudged)
    assert "by run run-a (in-flight)" in str(refused.value)
    item = canary_item(stack)
    assert item is not None and item["run_id"] == "run-a"


@pytest.mark.parametrize("conflicted", [0, 1, 2], ids=["claim", "proven-check", "condemned-check"])
def test_a_transaction_conflict_is_read_as_another_run_holding_the_image(conflicted: int) -> None:
    """DynamoDB cancels a transaction that conflicts with another request in flight on one of its items
    (TransactionConflict, API_TransactWriteItems.html); the reasons follow TransactItems' order. A
    conflict on a verdict's check is no verdict: read as one, a proven image would skip its canary."""
    codes = ["None"] * 3
    codes[conflicted] = "TransactionConflict"
    response = {
        "Error": {"Code": "TransactionCanceledException"},
        "CancellationReasons": [{"Code": code} for code in codes],
    }
    refused = refusal(IMAGE, response)
    assert type(refused) is ClaimRefused
    assert f"transaction cancelled: {', '.join(codes)}" in str(refused)


def test_a_transaction_that_fails_never_undoes_another_requests_write(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB isolates a transaction from every other request (emulator/dynamodb.py). A write made
    while a canary claim's transaction is being checked, by another run, survives that transaction's
    cancellation: moto alone puts back a copy of the table taken before the write."""
    import moto.dynamodb.models as moto_dynamodb

    ledger = Ledger(stack.table, session=stack.world.session)
    ledger.record_proven(IMAGE, "web", "run-a", NOW)  # the claim below is cancelled
    checking: Any = getattr(moto_dynamodb, "get_filter_expression")  # noqa: B009 (not re-exported)
    others: list[threading.Thread] = []

    def another_run_writes_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not others:
            writer = Ledger(stack.table, session=stack.world.session)
            others.append(
                threading.Thread(target=writer.record_proven, args=("ami-other", "db", "run-c", NOW))
            )
            others[0].start()
            others[0].join(2)  # isolated, it waits for the transaction (the join gives up, it goes on)
        return checking(*args, **kwargs)

    monkeypatch.setattr(moto_dynamodb, "get_filter_expression", another_run_writes_meanwhile)
    with pytest.raises(ImageJudged):
        ledger.claim_canary(IMAGE, "api", "run-b", NOW)
    others[0].join(30)
    assert ledger.proven_images(["ami-other"]) == {"ami-other": "db"}  # what DynamoDB holds
