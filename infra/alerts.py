"""SNS alert topic: KMS-encrypted, TLS-only, e-mail subscriptions from context."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class AlertTopic(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, emails: list[str]) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="recycler alert topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms publish to the encrypted topic: they need to use the key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self, "Topic", display_name="recycler alerts", master_key=self.key, enforce_ssl=True
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
