"""Fail early on publish: EventBridge rules that start a canary run within minutes of a new image.

Each rule targets the function's alias with the event as EventBridge delivers it; the handler turns it
into a canary run (recycler/triggers.py) or refuses it, logged. Patterns are AWS's documented events:
- Parameter Store Change (aws.ssm), operations that write a value:
  https://docs.aws.amazon.com/systems-manager/latest/userguide/monitoring-systems-manager-event-examples.html
- EC2 Image Builder Image State Change (aws.imagebuilder) to AVAILABLE:
  https://docs.aws.amazon.com/imagebuilder/latest/userguide/integ-eventbridge.html
- AWS API Call via CloudTrail (aws.ec2) for CreateLaunchTemplateVersion / ModifyLaunchTemplate, which
  EventBridge receives only from a CloudTrail trail that logs management events:
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html
"""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import DeployConfig


class PublishTriggers(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        alias: lambda_.IAlias,
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        # Retries and a dead-letter queue as the schedule has: an event that cannot invoke is not lost.
        target = targets.LambdaFunction(alias, retry_attempts=3, dead_letter_queue=dead_letters)
        self.rules: list[events.Rule] = []
        if "ssm" in config.publish_triggers:
            detail: dict[str, object] = {"operation": ["Create", "Update", "LabelParameterVersion"]}
            if config.publish_parameter_prefixes:
                detail["name"] = [{"prefix": p} for p in config.publish_parameter_prefixes]
            self._rule("ParameterChanged", ["aws.ssm"], ["Parameter Store Change"], detail, target)
        if "imagebuilder" in config.publish_triggers:
            self._rule(
                "ImageAvailable",
                ["aws.imagebuilder"],
                ["EC2 Image Builder Image State Change"],
                {"state": {"status": ["AVAILABLE"]}},
                target,
            )
        if "launch-template" in config.publish_triggers:
            self._rule(
                "LaunchTemplateChanged",
                ["aws.ec2"],
                ["AWS API Call via CloudTrail"],
                {
                    "eventSource": ["ec2.amazonaws.com"],
                    "eventName": ["CreateLaunchTemplateVersion", "ModifyLaunchTemplate"],
                    # CloudTrail records failed calls too (errorCode set): they changed nothing. Exists
                    # matching: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
                    "errorCode": [{"exists": False}],
                },
                target,
            )

    def _rule(
        self,
        name: str,
        source: list[str],
        detail_type: list[str],
        detail: dict[str, object],
        target: targets.LambdaFunction,
    ) -> None:
        rule = events.Rule(
            self,
            name,
            description=f"recycler: a new image published ({detail_type[0]}) starts a canary run",
            event_pattern=events.EventPattern(source=source, detail_type=detail_type, detail=detail),
        )
        rule.add_target(target)
        self.rules.append(rule)
