"""The workflow's port on a durable execution: checkpointed steps, suspended waits, a durable map.

The local port (recycler/local/port.py) runs the same workflow in-process. Results cross the checkpoint
as plain JSON through the workflow's one codec (state.encode/decode).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    Duration,
    InvokeConfig,
    MapConfig,
    StepConfig,
    StepSemantics,
)
from aws_durable_execution_sdk_python.exceptions import UnrecoverableError
from aws_durable_execution_sdk_python.retries import RetryPresets
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from aws_durable_execution_sdk_python.waits import WaitForConditionConfig, WaitForConditionDecision

from recycler.models import Settings
from recycler.workflow import budget
from recycler.workflow.budget import Budget
from recycler.workflow.codec import decode, encode
from recycler.workflow.fanout import Slice, run_slice
from recycler.workflow.port import Polled, Port, Services

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a fan-out
S = TypeVar("S", bound=Polled)


class CompactJson(SerDes[Any]):
    """Step results are plain JSON already (state.encode): store them as compact JSON, exactly the bytes
    state.checkpoint_size counts. The SDK's default serializer wraps every list and value in a type
    envelope, which made a plan that measured 240 KB go over Lambda's 256 KB checkpoint limit."""

    def serialize(self, value: Any, _: SerDesContext) -> str:
        return json.dumps(value, separators=(",", ":"))

    def deserialize(self, data: str, _: SerDesContext) -> Any:
        return json.loads(data)


COMPACT = CompactJson()
# A child execution's event (DurablePort.invoke): the slice it recycles, under this one key.
CHILD_KEY = "recycler_slice"


class DurablePort:
    """The workflow port on a DurableContext: checkpointed steps, suspended waits, durable map.

    Results cross the checkpoint as plain JSON through the workflow's one codec (state.encode/decode).
    """

    # Terminate and scale steps must never run twice: interrupted attempts fail instead of re-running.
    ONCE = StepConfig(
        retry_strategy=RetryPresets.none(),
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        serdes=COMPACT,
    )
    RETRIED = StepConfig(serdes=COMPACT)
    # Past this long into an invocation a wait yields instead of polling; the budget counts the same.
    yield_after_seconds: float = budget.INVOCATION_YIELD_SECONDS

    def __init__(self, context: DurableContext, invocation_started: float | None = None) -> None:
        self.context = context
        # Each invocation builds a new root port (the handler runs again, replaying): its branches share
        # its start, so every wait in it knows how long this invocation has run.
        self.invocation_started = time.monotonic() if invocation_started is None else invocation_started

    def step(self, name: str, fn: Callable[[], T], kind: type[T], *, at_most_once: bool = False) -> T:
        data = self.context.step(
            lambda _: encode(fn()), name=name, config=self.ONCE if at_most_once else self.RETRIED
        )
        return decode(kind, data)

    def wait_until(self, name: str, poll: Callable[[S], S], initial: S, poll_seconds: int) -> S:
        kind = type(initial)

        def strategy(state: dict[str, Any], attempts: int) -> WaitForConditionDecision:
            if state["done"]:
                return WaitForConditionDecision.stop_polling()
            pause = state.get("next_poll_seconds") or poll_seconds
            return WaitForConditionDecision.continue_waiting(Duration.from_seconds(pause))

        def check(state: dict[str, Any], _: Any) -> dict[str, Any]:
            if time.monotonic() - self.invocation_started >= self.yield_after_seconds:
                return yielded(state, poll_seconds)
            return encode(poll(decode(kind, state)))  # type: ignore[no-any-return]

        config = WaitForConditionConfig(wait_strategy=strategy, initial_state=encode(initial), serdes=COMPACT)
        data = self.context.wait_for_condition(check, config=config, name=name)
        return decode(kind, data)

    def map(
        self, name: str, items: Sequence[I], fn: Callable[[Port, I], T], kind: type[T], max_concurrency: int
    ) -> list[T]:
        # A failed recycle is a result, not an exception, so every item runs to completion;
        # the workflow itself decides when to stop starting groups.
        every_item: CompletionConfig = CompletionConfig.all_completed()  # type: ignore[no-untyped-call]
        result: Any = self.context.map(
            list(items),
            lambda branch, item, _index, _all: encode(fn(DurablePort(branch, self.invocation_started), item)),
            name=name,
            config=MapConfig(
                max_concurrency=max_concurrency, completion_config=every_item, item_serdes=COMPACT
            ),
        )
        result.throw_if_error()
        return [decode(kind, data) for data in result.get_results()]

    def invoke(self, name: str, fn: Callable[[Port, I], T], item: I, kind: type[T]) -> T:
        # A chained invoke of this function's own version (a durable execution is pinned to the version it
        # started on; Lambda sets both variables in every runtime), so parent and children run one code.
        # The handler routes the payload to fanout.run_slice, which is what `fn` is in the workflow.
        target = f"{os.environ['AWS_LAMBDA_FUNCTION_NAME']}:{os.environ['AWS_LAMBDA_FUNCTION_VERSION']}"
        config: InvokeConfig[Any, Any] = InvokeConfig(serdes_payload=COMPACT, serdes_result=COMPACT)
        data = self.context.invoke(target, {CHILD_KEY: encode(item)}, name=name, config=config)
        return decode(kind, data)

    def limits(self) -> Budget | None:
        # Child executions invoke this function by the name and version Lambda gives every runtime.
        return Budget(fan_out="AWS_LAMBDA_FUNCTION_NAME" in os.environ)

    def is_fatal(self, error: Exception) -> bool:
        return isinstance(error, UnrecoverableError)


def yielded(state: dict[str, Any], poll_seconds: int) -> dict[str, Any]:
    """A wait's poll skipped for this invocation (budget.INVOCATION_YIELD_SECONDS): no AWS call, the same
    state with the pause it had asked for counted as waited (as the next poll would count it), and a pause
    of about its poll interval, which the next invocation ends with the real poll."""
    waited = float(state.get("elapsed", 0.0))
    if state.get("attempt"):
        waited += state.get("next_poll_seconds") or poll_seconds
    shortest, longest = budget.YIELD_PAUSE_SECONDS
    pause = max(shortest, min(poll_seconds, longest))
    return {**state, "elapsed": round(waited, 1), "next_poll_seconds": pause}


def run_child(piece: Any, context: DurableContext, services: Services, settings: Settings) -> dict[str, Any]:
    """A child execution a run started for a slice of its window (DurablePort.invoke): its reports."""
    return encode(run_slice(DurablePort(context), services, settings, decode(Slice, piece)))  # type: ignore[no-any-return]
