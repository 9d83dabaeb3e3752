"""Lambda entry point: the workflow on a durable execution, with Powertools logging, metrics and tracing.

Entry: `recycler.handler.lambda_handler`. Durable waits suspend the function between health polls,
so a 15-minute health wait costs a few short invocations instead of 15 minutes of compute.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    Duration,
    MapConfig,
    StepConfig,
    StepSemantics,
)
from aws_durable_execution_sdk_python.exceptions import UnrecoverableError
from aws_durable_execution_sdk_python.retries import RetryPresets
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from aws_durable_execution_sdk_python.waits import WaitForConditionConfig, WaitForConditionDecision
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from recycler.aws_errors import explain
from recycler.models import RunReport, Settings, load_settings, parse_payload
from recycler.workflow import Port, Services, run
from recycler.workflow.budget import Budget
from recycler.workflow.port import Polled
from recycler.workflow.state import CHECKPOINT_BUDGET_BYTES, decode, encode

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a fan-out
S = TypeVar("S", bound=Polled)
NAMESPACE = "Recycler"

logger = Logger(service="recycler")
metrics = Metrics(namespace=NAMESPACE, service="recycler")
copy_config_to_registered_loggers(source_logger=logger, include={"recycler"})


class AlertDeliveryError(RuntimeError):
    """An SNS alert could not be published: the run must fail visibly, not swallow it."""


class CompactJson(SerDes[Any]):
    """Step results are plain JSON already (state.encode): store them as compact JSON, exactly the bytes
    state.checkpoint_size counts. The SDK's default serializer wraps every list and value in a type
    envelope, which made a plan that measured 240 KB go over Lambda's 256 KB checkpoint limit."""

    def serialize(self, value: Any, _: SerDesContext) -> str:
        return json.dumps(value, separators=(",", ":"))

    def deserialize(self, data: str, _: SerDesContext) -> Any:
        return json.loads(data)


COMPACT = CompactJson()


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

    def __init__(self, context: DurableContext) -> None:
        self.context = context

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

        config = WaitForConditionConfig(wait_strategy=strategy, initial_state=encode(initial), serdes=COMPACT)
        data = self.context.wait_for_condition(
            lambda state, _: encode(poll(decode(kind, state))), config=config, name=name
        )
        return decode(kind, data)

    def map(
        self, name: str, items: Sequence[I], fn: Callable[[Port, I], T], kind: type[T], max_concurrency: int
    ) -> list[T]:
        # A failed recycle is a result, not an exception, so every item runs to completion;
        # the workflow itself decides when to stop starting groups.
        every_item: CompletionConfig = CompletionConfig.all_completed()  # type: ignore[no-untyped-call]
        result: Any = self.context.map(
            list(items),
            lambda branch, item, _index, _all: encode(fn(DurablePort(branch), item)),
            name=name,
            config=MapConfig(
                max_concurrency=max_concurrency, completion_config=every_item, item_serdes=COMPACT
            ),
        )
        result.throw_if_error()
        return [decode(kind, data) for data in result.get_results()]

    def limits(self) -> Budget | None:
        return Budget()

    def is_fatal(self, error: Exception) -> bool:
        return isinstance(error, UnrecoverableError)


@functools.lru_cache(maxsize=4)
def services_from(settings: Settings) -> Services:
    """Built once per container: every health poll is a fresh invocation, and a warm container
    should not rebuild a boto3 session and its clients each time (Lambda's usual practice)."""
    region = os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return Services.from_settings(settings, region=region)


def publish_metrics(report: RunReport) -> None:
    """EMF metrics for the dashboard and alarms (namespace Recycler)."""
    summary = report.summary
    metrics.add_metric(name="Recycled", unit=MetricUnit.Count, value=summary.recycled)
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=summary.failed)
    metrics.add_metric(name="Planned", unit=MetricUnit.Count, value=summary.planned)
    metrics.add_metric(
        name="StaleAmiReplacements",
        unit=MetricUnit.Count,
        value=sum(1 for g in report.groups if g.replacement and g.replacement.ami_refreshed is False),
    )
    metrics.add_metric(name="AlertsNotDelivered", unit=MetricUnit.Count, value=len(report.alerts_failed))
    metrics.add_metric(name="InstancesRecycled", unit=MetricUnit.Count, value=summary.instances_recycled)
    metrics.flush_metrics()
    for reason, count in report.skipped_groups_omitted.items():  # a very large fleet's unlisted skips
        _emit("Skipped", MetricUnit.Count, count, "Reason", reason)
    for group in report.groups:
        if group.outcome == "skipped":
            _emit("Skipped", MetricUnit.Count, 1, "Reason", group.reason)
        if group.waited_seconds is not None:
            _emit("HealthWaitSeconds", MetricUnit.Seconds, group.waited_seconds, "Outcome", group.outcome)
        if group.oldest_image_age_days is not None:
            _emit(
                "OldestImageAgeDays",
                MetricUnit.Count,
                group.oldest_image_age_days,
                "AutoScalingGroupName",
                group.group,
            )
        if group.oldest_instance_age_days is not None:
            _emit(
                "OldestInstanceAgeDays",
                MetricUnit.Count,
                group.oldest_instance_age_days,
                "AutoScalingGroupName",
                group.group,
            )
    for group in report.groups:
        if group.behind_by:
            # The freshness target's cap cannot keep up: that many due instances wait for later runs.
            _emit("BehindBy", MetricUnit.Count, group.behind_by, "AutoScalingGroupName", group.group)
        if group.canary and group.outcome == "failed" and group.current_image_id:
            _emit("CanaryFailed", MetricUnit.Count, 1, "ImageId", group.current_image_id)
    # One series without the group dimension: the "bit rot" alarm watches its maximum across groups
    # (including skipped groups a very large fleet's report only counts).
    if report.fleet_oldest_instance_age_days is not None:
        _emit(
            "FleetOldestInstanceAgeDays",
            MetricUnit.Count,
            report.fleet_oldest_instance_age_days,
            "Fleet",
            "all",
        )
    if report.fleet_oldest_image_age_days is not None:
        _emit("FleetOldestImageAgeDays", MetricUnit.Count, report.fleet_oldest_image_age_days, "Fleet", "all")


def _emit(name: str, unit: MetricUnit, value: float, dimension: str, label: str) -> None:
    """One metric with its own dimension (EMF allows one dimension set per Metrics flush)."""
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name=dimension, value=label)


def bounded_result(report: RunReport) -> dict[str, Any]:
    """The RunReport, or for a very large fleet the report without its skipped groups (each of
    which is already logged as one "group result" line) plus their counts by reason."""
    # The execution's result is stored like a checkpoint: it has the same limit.
    return report.bounded(CHECKPOINT_BUDGET_BYTES)


def recycle(event: Any, context: DurableContext) -> dict[str, Any]:
    # Validation runs before any step, so bad input fails the execution with the field named and
    # nothing is read or terminated.
    payload = parse_payload(event)
    settings = load_settings()
    context.set_logger(logger)
    try:
        report = run(DurablePort(context), services_from(settings), settings, payload)
    except Exception as error:
        # Still fails the execution (alarmed); the log says why in the words the CLI uses.
        cause = explain(error)
        if cause is not None:
            logger.error(f"run failed: {cause}")
        raise
    logger.set_correlation_id(report.run_id)
    context.step(lambda _: publish_metrics(report), name="metrics")
    logger.info("run finished", extra={"summary": report.summary.model_dump(), "run_id": report.run_id})
    if report.alerts_failed:
        raise AlertDeliveryError("alerts not delivered: " + "; ".join(report.alerts_failed))
    return bounded_result(report)


def traced(handler: Callable[..., Any]) -> Callable[..., Any]:
    """X-Ray subsegments for the handler and every AWS call, when the stack turns tracing on
    (`recycler:tracing`): the Tracer imports the X-Ray SDK, ~100 ms of every cold start."""
    if os.environ.get("RECYCLER_TRACING") != "true":
        return handler
    from aws_lambda_powertools import Tracer

    return Tracer(service="recycler").capture_lambda_handler(handler)


durable_handler = durable_execution(recycle)
lambda_handler = traced(logger.inject_lambda_context(durable_handler, clear_state=True))
