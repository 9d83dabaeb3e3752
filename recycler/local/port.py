"""The in-process adapter of the workflow port, used by the CLI, the demo and the tests."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3

from recycler.aws.compose import aws_services
from recycler.models import Settings
from recycler.workflow.budget import Budget
from recycler.workflow.port import Polled, Port, Services
from recycler.workflow.state import decode, encode

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a fan-out
S = TypeVar("S", bound=Polled)
# Told every polled state (a HealthState): the demo shows health waits live.
PollHook = Callable[[str, Any], None]


class LocalPort:
    """Steps run once, waits really sleep (or call an injected sleeper), map uses a thread pool.

    Every result goes through the same codec as on Lambda, so a step that returns something a
    checkpoint cannot hold fails here too, not first in production.
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep, on_poll: PollHook | None = None) -> None:
        self.sleep = sleep
        self.on_poll = on_poll

    def step(self, name: str, fn: Callable[[], T], kind: type[T], *, at_most_once: bool = False) -> T:
        return decode(kind, encode(fn()))

    def wait_until(self, name: str, poll: Callable[[S], S], initial: S, poll_seconds: int) -> S:
        kind = type(initial)
        state = initial
        while True:
            state = decode(kind, encode(poll(state)))
            if self.on_poll is not None:
                self.on_poll(name, state)
            if state.done:
                return state
            self.sleep(state.next_poll_seconds or poll_seconds)

    def map(
        self, name: str, items: Sequence[I], fn: Callable[[Port, I], T], kind: type[T], max_concurrency: int
    ) -> list[T]:
        def branch(item: I) -> T:
            return decode(kind, encode(fn(self, item)))

        if len(items) <= 1:
            return [branch(item) for item in items]
        with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix=name) as pool:
            return list(pool.map(branch, items))

    def limits(self) -> Budget | None:
        return None  # in-process: no durable execution limits apply

    def is_fatal(self, error: Exception) -> bool:
        return False


def local_services(settings: Settings, session: boto3.Session | None = None) -> Services:
    """The adapters for a run from this machine; says what is skipped when the stack is not set up."""
    session = session or boto3.Session()
    log = logging.getLogger("recycler")
    if not settings.ledger_table:
        log.warning("RECYCLER_LEDGER_TABLE not set: the at-most-once-per-interval ledger is skipped")
    if not settings.topic_arn:
        log.warning("RECYCLER_TOPIC_ARN not set: failure alerts are not published")
    return aws_services(session, settings=settings, region=session.region_name or "us-east-1")
