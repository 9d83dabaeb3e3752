"""Lambda entry point: the workflow on a durable execution, with Powertools logging, metrics, tracing.

Entry: `recycler.handler.lambda_handler`. Durable waits suspend the function between health polls,
so a 15-minute health wait costs a few short invocations instead of 15 minutes of compute.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from recycler.aws.compose import aws_services
from recycler.aws.errors import explain
from recycler.durable import CHILD_KEY, DurablePort, run_child
from recycler.metrics import publish_metrics
from recycler.models import Settings, load_settings
from recycler.report import RunReport
from recycler.triggers import Refused, payload_of
from recycler.workflow.codec import CHECKPOINT_BUDGET_BYTES
from recycler.workflow.port import Services
from recycler.workflow.run import run

logger = Logger(service="recycler")
copy_config_to_registered_loggers(source_logger=logger, include={"recycler"})


class AlertDeliveryError(RuntimeError):
    """An SNS alert could not be published: the run must fail visibly, not swallow it."""


@functools.lru_cache(maxsize=4)
def services_from(settings: Settings) -> Services:
    """Built once per container: every health poll is a fresh invocation, and a warm container
    should not rebuild a boto3 session and its clients each time (Lambda's usual practice)."""
    region = os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return aws_services(settings=settings, region=region)


def bounded_result(report: RunReport) -> dict[str, Any]:
    """The RunReport; for a very large fleet, without its skipped groups (each logged) but their counts."""
    # The execution's result is stored like a checkpoint: it has the same limit.
    return report.bounded(CHECKPOINT_BUDGET_BYTES)


def recycle(event: Any, context: DurableContext) -> dict[str, Any]:
    if isinstance(event, dict) and CHILD_KEY in event:  # a slice of a run's window (fanout.py)
        return run_child(event[CHILD_KEY], context, services_from(settings := load_settings()), settings)
    # Validation runs before any step, so bad input fails the execution with the field named and
    # nothing is read or terminated; an EventBridge event recycler does not act on is refused, logged.
    try:
        payload = payload_of(event)
    except Refused as refused:
        logger.warning("event refused", extra={"refused": str(refused)})
        return {"refused": str(refused)}
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
