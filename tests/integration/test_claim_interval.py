"""The ledger's claim honours recycler's minimum interval as "at least that long ago", in DynamoDB's
whole-second epoch: with a minimum interval of 0 a second run may claim a group the first claimed within the
same second (a refused claim skips the group as recently-recycled), and a real interval still refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recycler.aws.ledger import Ledger
from recycler.domain import ClaimRefused
from tests.conftest import NOW, Stack


def test_a_min_interval_of_zero_lets_the_next_run_claim_within_the_same_second(stack: Stack) -> None:
    ledger = Ledger(stack.table, session=stack.world.session)
    ledger.claim("web", "run-1", "i-first", NOW, timedelta(0))
    ledger.claim("web", "run-2", "i-second", NOW, timedelta(0))
    [claim] = [item for item in stack.ledger_items("web") if item["record"] == "claim"]
    assert (claim["run_id"], claim["victim"]) == ("run-2", "i-second")


def test_a_min_interval_still_refuses_a_claim_inside_it(stack: Stack) -> None:
    ledger = Ledger(stack.table, session=stack.world.session)
    ledger.claim("web", "run-1", "i-first", NOW, timedelta(hours=1))
    with pytest.raises(ClaimRefused):
        ledger.claim("web", "run-2", "i-second", NOW + timedelta(minutes=59), timedelta(hours=1))
    ledger.claim("web", "run-3", "i-third", NOW + timedelta(hours=1), timedelta(hours=1))
    [claim] = [item for item in stack.ledger_items("web") if item["record"] == "claim"]
    assert claim["run_id"] == "run-3"
