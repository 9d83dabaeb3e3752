"""Longest expected recycle first (recycler/workflow/ordering.py): the ledger's last waits order the
window; without them, or with the window wide enough for every job, the plan's order stands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from recycler.aws.ledger import Ledger
from recycler.domain import Mode
from recycler.models import Settings
from recycler.workflow.ordering import longest_first
from recycler.workflow.state import Job, RecycleItem, RunContext, Victim
from tests.conftest import NOW, Stack
from tests.faults.harness import recycle


def item(group: str, canary: bool = False) -> RecycleItem:
    victim = Victim("i-" + group, None, None, None)
    job = Job(group, Mode.REPLACE, "", 600, None, None, victim)
    return RecycleItem(job=job, run=RunContext(run_id="r", force=False, poll_seconds=15), canary=canary)


def names(items: list[RecycleItem]) -> list[str]:
    return [i.job.group for i in items]


def test_longest_first_canaries_first_unknown_as_the_mean() -> None:
    items = [item("a"), item("b"), item("c", canary=True), item("d"), item("e")]
    expected = {"a": 100.0, "b": 900.0, "c": 50.0, "d": 300.0}  # e unknown: the mean, 337.5
    assert names(longest_first(items, expected)) == ["c", "b", "e", "d", "a"]
    assert names(longest_first(items, {})) == ["a", "b", "c", "d", "e"]


def test_the_ledger_orders_the_next_runs_window(stack: Stack, terminations: list[Any]) -> None:
    world = stack.world
    victims = {
        name: world.group(name, [9 - n, 1])[0] for n, name in enumerate(["a-quick", "b-slow", "c-mid"])
    }
    stack.prove(world.images[0])
    ledger = Ledger(stack.table, session=world.session)
    earlier = NOW - timedelta(days=2)
    for name, waited in {"a-quick": 60, "b-slow": 840, "c-mid": 300}.items():
        ledger.claim(name, "earlier", "i-gone", earlier, timedelta(hours=20))
        ledger.finish(name, "earlier", earlier, "recycled", {"waited_seconds": waited})
    assert ledger.expected_waits(list(victims)) == {"a-quick": 60.0, "b-slow": 840.0, "c-mid": 300.0}
    report = recycle(stack, settings=Settings(max_concurrency=1, failures_before_stop=10))
    assert report.summary.recycled == 3
    assert [t[0] for t in terminations] == [victims["b-slow"], victims["c-mid"], victims["a-quick"]]
    # This run's waits replace the old ones: the next run orders by them.
    assert set(ledger.expected_waits(list(victims))) == set(victims)


def test_without_history_the_plan_order_stands(stack: Stack, terminations: list[Any]) -> None:
    world = stack.world
    victims = [world.group(name, [9 - n, 1])[0] for n, name in enumerate(["a", "b", "c"])]
    stack.prove(world.images[0])
    recycle(stack, settings=Settings(max_concurrency=1, failures_before_stop=10))
    assert [t[0] for t in terminations] == victims
