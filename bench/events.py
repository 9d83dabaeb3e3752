"""An event-driven port for the workflow: exact simulated time for a run whose branches wait at once.

The workflow talks to its runtime through recycler.workflow.port.Port. `EventPort` implements it as a
discrete-event simulation, the way a durable Lambda schedules a map (the SDK's
concurrency/executor.py): branches are admitted in index order while fewer than `max_concurrency` are
in flight, a waiting branch keeps its slot, each wait arms that branch's own timer, and a slot frees
only when its branch ends. Steps (the AWS calls) take no simulated time.

Each branch runs on its own thread, but only one thread runs at any moment: a branch runs until it
waits or ends, then hands control back to the map, which pops the earliest armed timer (a priority
queue of (due time, branch index)), moves the clock to it and resumes that branch. So the clock moves
only when every branch in flight is waiting, and then exactly to the next timer: a branch's wait
advances only its own timer, never another's. The same clock is the services' clock and the
emulator's boot clock, so a replacement turns InService exactly `boot` seconds after its terminate.

`EventPort.timeline` records every group's start and end in simulated seconds from the clock's start.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from recycler.workflow.budget import Budget
from recycler.workflow.codec import decode, encode
from recycler.workflow.port import Polled, Port

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a fan-out
S = TypeVar("S", bound=Polled)


class EventClock:
    """Simulated time: the services' clock and the emulator's boot clock. Only EventPort moves it."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return (self.now - self.start).total_seconds()


@dataclass
class Interval:
    """One branch of a map: its label, and when it started and ended (simulated seconds)."""

    label: str
    start: float
    end: float | None = None


def max_in_flight(intervals: Sequence[Interval]) -> int:
    """The most intervals open at any instant. A slot freed at t can be taken at t (ends sort first)."""
    edges = sorted(
        [(i.start, 1) for i in intervals] + [(i.end if i.end is not None else i.start, -1) for i in intervals]
    )
    most = open_now = 0
    for _, delta in edges:
        open_now += delta
        most = max(most, open_now)
    return most


@dataclass
class _Branch:
    index: int
    resume: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class _Map:
    """One map call's scheduler: the armed timers and the hand-over between branch and map."""

    def __init__(self, clock: EventClock) -> None:
        self.clock = clock
        self.timers: list[tuple[float, int, int, _Branch]] = []
        self.order = itertools.count()
        self.handed_back = threading.Semaphore(0)

    def wait(self, branch: _Branch, seconds: float) -> None:
        """Called on the branch's thread: arm its timer, hand control back, sleep until resumed."""
        due = self.clock.seconds() + seconds
        heapq.heappush(self.timers, (due, branch.index, next(self.order), branch))
        self.handed_back.release()
        branch.resume.acquire()


class EventPort:
    """The workflow port on simulated time (see the module docstring). Not thread-safe by design: at
    most one branch runs at a time, so moto, the clock and the timers need no locks."""

    def __init__(self, clock: EventClock, label: Callable[[Any], str] = str) -> None:
        self.clock = clock
        self.label = label
        self.timeline: list[Interval] = []
        self.concurrency: list[int] = []  # each map's max_concurrency, for the caller's assertion
        self._map: _Map | None = None
        self._branch: _Branch | None = None

    def _branch_port(self, scheduler: _Map, branch: _Branch) -> EventPort:
        port = EventPort(self.clock, self.label)
        port._map, port._branch = scheduler, branch
        return port

    def _sleep(self, seconds: float) -> None:
        if self._map is None or self._branch is None:
            self.clock.now += timedelta(seconds=seconds)  # outside a map nothing else runs
        else:
            self._map.wait(self._branch, seconds)

    def step(self, name: str, fn: Callable[[], T], kind: type[T], *, at_most_once: bool = False) -> T:
        return decode(kind, encode(fn()))

    def wait_until(self, name: str, poll: Callable[[S], S], initial: S, poll_seconds: int) -> S:
        kind = type(initial)
        state = initial
        while True:
            state = decode(kind, encode(poll(state)))
            if state.done:
                return state
            self._sleep(state.next_poll_seconds or poll_seconds)

    def invoke(self, name: str, fn: Callable[[Port, I], T], item: I, kind: type[T]) -> T:
        # The bench measures one execution's schedule: a child runs on this same simulated clock.
        return decode(kind, encode(fn(self, decode(type(item), encode(item)))))

    def map(
        self, name: str, items: Sequence[I], fn: Callable[[Port, I], T], kind: type[T], max_concurrency: int
    ) -> list[T]:
        if self._map is not None:
            raise NotImplementedError("a map inside a map branch")  # the workflow has none
        self.concurrency.append(max_concurrency)
        scheduler = _Map(self.clock)
        queue = deque(enumerate(items))
        branches: list[_Branch] = []
        intervals: dict[int, Interval] = {}
        in_flight = 0

        def run(branch: _Branch, item: I) -> None:
            try:
                branch.result = decode(kind, encode(fn(self._branch_port(scheduler, branch), item)))
            except BaseException as error:  # re-raised on the map's thread
                branch.error = error
            finally:
                branch.done = True
                scheduler.handed_back.release()

        def settle(branch: _Branch) -> None:
            nonlocal in_flight
            if branch.done:
                in_flight -= 1
                intervals[branch.index].end = self.clock.seconds()
                if branch.error is not None:
                    raise branch.error

        while queue or scheduler.timers:
            while queue and in_flight < max_concurrency:
                index, item = queue.popleft()
                branch = _Branch(index)
                branches.append(branch)
                intervals[index] = Interval(self.label(item), self.clock.seconds())
                self.timeline.append(intervals[index])
                in_flight += 1
                threading.Thread(target=run, args=(branch, item), name=f"{name}-{index}", daemon=True).start()
                scheduler.handed_back.acquire()  # it runs until its first wait, or its end
                settle(branch)
            if not scheduler.timers:
                continue
            due, _, _, branch = heapq.heappop(scheduler.timers)
            self.clock.now = self.clock.start + timedelta(seconds=max(due, self.clock.seconds()))
            branch.resume.release()
            scheduler.handed_back.acquire()
            settle(branch)
        assert in_flight == 0 and all(b.done for b in branches)
        return [b.result for b in sorted(branches, key=lambda b: b.index)]

    def limits(self) -> Budget | None:
        return None

    def is_fatal(self, error: Exception) -> bool:
        return False
