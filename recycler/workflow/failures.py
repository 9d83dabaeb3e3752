"""The blast-radius rule across a sliding window: once `failures_before_stop` groups have failed in a
run, no further group starts; groups already running finish.

A group reads the count in its preflight step, right before it acts, so the decision is checkpointed with
the step. The count itself must survive a durable replay: the SDK's map returns a finished branch from
its checkpoint without calling our code again, so a counter kept in memory would forget every failure
that finished before the invocation that replays it. On Lambda the stack always configures the ledger,
and the failures live there (one string-set item per run); without a ledger (a local run, which never
replays) the count is kept in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from recycler.interfaces import LedgerPort


class RunFailures:
    """The groups that failed in this run so far, where every branch of the run can read them."""

    def __init__(self, run_id: str, ledger: LedgerPort | None, clock: Callable[[], datetime]) -> None:
        self.run_id = run_id
        self.ledger = ledger
        self.clock = clock
        self._in_memory: set[str] = set()  # only without a ledger
        self._lock = threading.Lock()

    def record(self, group: str) -> None:
        """A group failed. Call it inside a checkpointed step when a ledger is configured."""
        if self.ledger is not None:
            self.ledger.record_failure(self.run_id, group, self.clock())
            return
        with self._lock:
            self._in_memory.add(group)

    def count(self) -> int:
        """How many groups failed so far; raises the ledger's error if it cannot be read."""
        if self.ledger is not None:
            return len(self.ledger.failed_groups(self.run_id))
        with self._lock:
            return len(self._in_memory)
