"""SNS alert topic: KMS-encrypted, TLS-only, e-mail subscriptions from context, and the alarms that may
publish to it."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.chat import ChatChannels, read_chat

CLOUDWATCH = iam.ServicePrincipal("cloudwatch.amazonaws.com")


class AlertTopic(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, emails: tuple[str, ...]) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="recycler alert topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms publish to the encrypted topic: they need to use the key.
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[CLOUDWATCH],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self, "Topic", display_name="recycler alerts", master_key=self.key, enforce_ssl=True
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        chat = read_chat(self.node)  # recycler:chat: Slack and Teams channels, only when configured
        self.chat = ChatChannels(self, "Chat", alerts=self.topic, key=self.key, chat=chat) if chat else None

    def allow_alarms(self, alarms: Iterable[cloudwatch.IAlarm]) -> None:
        """Let exactly these alarms publish. enforce_ssl makes CDK write a topic policy, and a topic
        policy replaces SNS's default one (which let the account's principals, CloudWatch alarms among
        them, publish): with the TLS deny alone every alarm action fails "Resource: arn:aws:cloudwatch:...
        is not authorized to perform: SNS:Publish". AWS's fix is an allow for cloudwatch.amazonaws.com,
        narrowed by aws:SourceArn to the alarms:
        https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger
        aws:SourceAccount as well keeps another account's alarm from using the topic (confused deputy):
        https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html"""
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[CLOUDWATCH],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnEquals": {"aws:SourceArn": [alarm.alarm_arn for alarm in alarms]},
                },
            )
        )
