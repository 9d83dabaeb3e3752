"""Durable waits for a moment, not a condition: a publish event's debounce, and the next maintenance
window. No compute is held while waiting; the target moment is computed from checkpointed data, so a
replay waits for the same one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from recycler.workflow.health import waited_seconds
from recycler.workflow.port import Port

# The longest single pause: a long wait is several durable waits in a row, each a checkpointed poll.
LONGEST_PAUSE_SECONDS = 3600


@dataclass(frozen=True)
class Moment:
    """A checkpointed moment: what a wait counts from on every replay."""

    at: str


@dataclass(frozen=True)
class Waited:
    """The polled state of a wait for a moment; elapsed counts simulated time (skipped waits) too."""

    done: bool = False
    attempt: int = 0
    elapsed: float = 0.0
    next_poll_seconds: int = 0


def wait_for(port: Port, name: str, since: datetime, seconds: float, clock: Callable[[], datetime]) -> Waited:
    """Wait until `seconds` after `since` (a checkpointed moment), durably."""

    def poll(state: Waited) -> Waited:
        elapsed = waited_seconds(state, since, clock(), LONGEST_PAUSE_SECONDS)
        left = seconds - elapsed
        if left <= 0:
            return replace(state, done=True, attempt=state.attempt + 1, elapsed=elapsed, next_poll_seconds=0)
        pause = max(1, min(int(left + 0.999), LONGEST_PAUSE_SECONDS))
        return replace(state, attempt=state.attempt + 1, elapsed=elapsed, next_poll_seconds=pause)

    return port.wait_until(name, poll, Waited(), LONGEST_PAUSE_SECONDS)
