"""The in-process adapter of the workflow port, used by the CLI, the demo and the tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3

from recycler.aws.compose import aws_services
from recycler.models import Settings
from recycler.workflow.budget import Budget
from recycler.workflow.codec import decode, encode
from recycler.workflow.port import Polled, Port, Services

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a fan-out
S = TypeVar("S", bound=Polled)
# Told every polled state (a HealthState or DrainState): the demo and `run` show waits live.
PollHook = Callable[[str, Any], None]
# Told every step's result by name (`web:terminate` -> Acted): `run` prints progress and keeps track of
# what it acted on, so an interrupt or an error can say what is in flight.
StepHook = Callable[[str, Any], None]


class Interrupted(BaseException):
    """The operator stopped the run (Ctrl-C): every branch stops at its next step or wait.

    A BaseException, like KeyboardInterrupt, so no `except Exception` in the workflow mistakes it for a
    failed group and acts again (an undo, a rollback) on the way out."""


class LocalPort:
    """Steps run once, waits really sleep (or call an injected sleeper), map uses a thread pool.

    Every result goes through the same codec as on Lambda, so a step that returns something a
    checkpoint cannot hold fails here too, not first in production. Ctrl-C in a fan-out stops every
    branch before its next step (a branch in the middle of an AWS call finishes that call first).
    """

    def __init__(
        self,
        sleep: Callable[[float], None] | None = None,
        on_poll: PollHook | None = None,
        on_step: StepHook | None = None,
    ) -> None:
        self.stopping = threading.Event()
        self.sleep = sleep or self._sleep
        self.on_poll = on_poll
        self.on_step = on_step

    def _sleep(self, seconds: float) -> None:
        if self.stopping.wait(seconds):
            raise Interrupted

    def _check(self) -> None:
        if self.stopping.is_set():
            raise Interrupted

    def step(self, name: str, fn: Callable[[], T], kind: type[T], *, at_most_once: bool = False) -> T:
        self._check()
        result = decode(kind, encode(fn()))
        if self.on_step is not None:
            self.on_step(name, result)
        return result

    def wait_until(self, name: str, poll: Callable[[S], S], initial: S, poll_seconds: int) -> S:
        kind = type(initial)
        state = initial
        while True:
            self._check()
            state = decode(kind, encode(poll(state)))
            if self.on_poll is not None:
                self.on_poll(name, state)
            if state.done:
                return state
            self.sleep(state.next_poll_seconds or poll_seconds)
            self._check()

    def map(
        self, name: str, items: Sequence[I], fn: Callable[[Port, I], T], kind: type[T], max_concurrency: int
    ) -> list[T]:
        def branch(item: I) -> T:
            return decode(kind, encode(fn(self, item)))

        if len(items) <= 1:
            return [branch(item) for item in items]
        with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix=name) as pool:
            try:
                return list(pool.map(branch, items))
            except BaseException:
                # Ctrl-C reaches only this thread: tell the branches before the pool waits for them.
                self.stopping.set()
                raise

    def invoke(self, name: str, fn: Callable[[Port, I], T], item: I, kind: type[T]) -> T:
        # A child execution in-process: the item and the result cross the codec as they would cross
        # the chained invoke's payload and result; the child stops with this port (Ctrl-C).
        self._check()
        child = LocalPort(sleep=self.sleep, on_poll=self.on_poll, on_step=self.on_step)
        child.stopping = self.stopping
        result = decode(kind, encode(fn(child, decode(type(item), encode(item)))))
        if self.on_step is not None:
            self.on_step(name, result)
        return result

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
