"""The in-process adapter of the workflow port, used by the CLI, the demo and the tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from recycler.workflow import Port, State

T = TypeVar("T")
PollHook = Callable[[str, State], None]


class LocalPort:
    """Steps run once, waits really sleep (or call an injected sleeper), map uses a thread pool."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep, on_poll: PollHook | None = None) -> None:
        self.sleep = sleep
        self.on_poll = on_poll

    def step(self, name: str, fn: Callable[[], T], *, at_most_once: bool = False) -> T:
        return fn()

    def wait_until(
        self, name: str, poll: Callable[[State], State], initial: State, poll_seconds: int
    ) -> State:
        state = initial
        while True:
            state = poll(state)
            if self.on_poll is not None:
                self.on_poll(name, state)
            if state["done"]:
                return state
            self.sleep(poll_seconds)

    def map(
        self, name: str, items: Sequence[State], fn: Callable[[Port, State], State], max_concurrency: int
    ) -> list[State]:
        if len(items) <= 1:
            return [fn(self, item) for item in items]
        with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix=name) as pool:
            return list(pool.map(lambda item: fn(self, item), items))
