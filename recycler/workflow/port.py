"""The contract between the workflow and its runtime, and the AWS adapters a run uses.

The workflow never imports the durable SDK: the Lambda maps this port onto a DurableContext
(recycler/durable.py), the CLI runs it in-process (recycler/local/port.py). Both pass every step result
through the one codec in recycler/workflow/state.py, so what the tests see is what Lambda replays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from recycler.interfaces import (
    AlertsPort,
    BrakesPort,
    CodeDeployPort,
    EcsPort,
    EventsPort,
    FleetPort,
    LaunchPathsPort,
    LedgerPort,
    ScaleOutsPort,
    VerdictStorePort,
)
from recycler.workflow.budget import Budget

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a fan-out


class Polled(Protocol):
    """A polled state: the wait ends when `done` is true."""

    @property
    def done(self) -> bool: ...

    @property
    def next_poll_seconds(self) -> int:
        """The pause before the next poll; 0 for the wait's poll_seconds."""
        ...


S = TypeVar("S", bound=Polled)


class Waiting(Protocol):
    """A durable wait's polled state: how long it has waited, and the pause it asked for last."""

    @property
    def attempt(self) -> int: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def next_poll_seconds(self) -> int: ...


class Port(Protocol):
    """What the workflow needs from its runtime: checkpointed steps, durable polling, bounded fan-out.

    `kind` is the step's result type: the port encodes the result to JSON when it checkpoints it and
    decodes it back on replay, so a step must return exactly that type.
    """

    def step(self, name: str, fn: Callable[[], T], kind: type[T], *, at_most_once: bool = False) -> T:
        """Run fn once per execution; a replay returns the checkpointed result instead.
        at_most_once: an interrupted attempt fails rather than running fn again (terminate, scale)."""
        ...

    def wait_until(self, name: str, poll: Callable[[S], S], initial: S, poll_seconds: int) -> S:
        """Call poll(state) until the returned state has done=True, pausing between calls (the state's
        next_poll_seconds, else poll_seconds) without holding compute."""
        ...

    def map(
        self, name: str, items: Sequence[I], fn: Callable[[Port, I], T], kind: type[T], max_concurrency: int
    ) -> list[T]:
        """fn(branch_port, item) for every item, at most max_concurrency at a time, results in order."""
        ...

    def invoke(self, name: str, fn: Callable[[Port, I], T], item: I, kind: type[T]) -> T:
        """fn(child_port, item) as a child execution with limits of its own, its result checkpointed here.
        On Lambda it is a chained invoke of this same function (the durable SDK's context.invoke), whose
        handler runs the workflow's one child entry, fanout.run_slice, for the item: fn must be that."""
        ...

    def limits(self) -> Budget | None:
        """What one execution may hold (a durable Lambda's documented limits), or None in-process."""
        ...

    def is_fatal(self, error: Exception) -> bool:
        """True for the runtime's own errors (a checkpoint that failed, a replay that diverged): they
        must end the execution, never be reported as one group's failure."""
        ...


@dataclass
class Services:
    """The AWS adapters a run uses, as the domain's Protocols: the real ones come from
    recycler.aws.compose, a test passes its own. The ledger, alerts and events are optional (events only
    where RECYCLER_EVENTS_BUS names a bus)."""

    fleet: FleetPort
    brakes: BrakesPort
    ecs: EcsPort
    ledger: LedgerPort | None = None
    alerts: AlertsPort | None = None
    events: EventsPort | None = None
    # Read and written only with recycler:revert_on_canary_failure (recycler/workflow/revert.py).
    launch_paths: LaunchPathsPort | None = None
    # Scheduled actions and predictive forecasts (planning's stampede guard); None: not read (a test's own).
    scale_outs: ScaleOutsPort | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    region: str = "us-east-1"
    # The organization's verdicts (recycler:central / recycler:organization): read when planning; the
    # ledger is then an OrgLedger that also records this member's verdicts there (workflow/org_verdicts.py).
    verdicts: VerdictStorePort | None = None
    # Read for the groups a run would recycle and their replacements (workflow/codedeploy.py); None: the
    # run does not look at CodeDeploy (a test's own Services).
    codedeploy: CodeDeployPort | None = None
