"""Daily EventBridge Scheduler schedule targeting the function alias, with retries and a DLQ."""

from __future__ import annotations

from aws_cdk import Duration, TimeZone
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import DeployConfig


class DailySchedule(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeployConfig, target: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description="recycler: replace the oldest instance of each opted-in group",
            schedule=scheduler.ScheduleExpression.expression(
                config.schedule_expression, TimeZone.of(config.schedule_time_zone)
            ),
            target=targets.LambdaInvoke(
                target,
                input=scheduler.ScheduleTargetInput.from_object({"source": "schedule"}),
                dead_letter_queue=self.dead_letters,
                retry_attempts=3,
                max_event_age=Duration.hours(2),
            ),
            enabled=config.schedule_enabled,
        )
