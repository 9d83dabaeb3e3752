"""The central stack of a many-account deployment: one alert topic every member also publishes to,
one dashboard over every member environment, and the CloudWatch cross-account observability sink.

Nothing here is read at run time by a member's Lambda except the topic (by an ARN built from context):
each region's recycler stays the engine of its own fleet.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_oam as oam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import CENTRAL_KEY_ALIAS, CENTRAL_TOPIC, DeployConfig, Place
from recycler.domain import METRIC_NAMESPACE

NAMESPACE = METRIC_NAMESPACE
DAY = Duration.days(1)


class RecyclerCentralStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, members: list[Place], **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config = DeployConfig.from_node(self.node)
        member_roles = [iam.ArnPrincipal(m.role_arn) for m in members]
        self.key = kms.Key(
            self,
            "Key",
            description="recycler central alert topic",
            alias=CENTRAL_KEY_ALIAS,
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Exactly the members' recycler roles may encrypt messages for the topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MemberRecyclersPublish",
                principals=member_roles,
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=CENTRAL_TOPIC,
            display_name="recycler alerts, every environment",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MemberRecyclersPublish",
                principals=member_roles,
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
            )
        )
        # No CloudWatch allow here (unlike the member topics, infra/alerts.py): no alarm publishes to this
        # topic, only the member roles above. An alarm added here needs AlertTopic.allow_alarms' statement.
        for email in config.alert_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

        # CloudWatch cross-account observability: members link their metrics to this sink.
        self.sink = oam.CfnSink(
            self,
            "Sink",
            name="recycler",
            policy={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": sorted({m.account for m in members})},
                        "Action": ["oam:CreateLink", "oam:UpdateLink"],
                        "Resource": "*",
                        "Condition": {
                            "ForAllValues:StringEquals": {"oam:ResourceTypes": ["AWS::CloudWatch::Metric"]}
                        },
                    }
                ],
            },
        )
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name="recycler-all-environments")
        for member in members:
            self.dashboard.add_widgets(*environment_widgets(member))
        CfnOutput(self, "CentralTopicArn", value=self.topic.topic_arn)
        CfnOutput(
            self,
            "SinkArn",
            value=self.sink.attr_arn,
            description="set recycler:central.sink_arn to this so member stacks link their metrics",
        )
        Validations.of(self.key).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                reason="SNS needs data keys of this one key to encrypt messages the members publish.",
            )
        )


def member_metric(member: Place, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"service": "recycler"},
        statistic=statistic,
        period=DAY,
        account=member.account,
        region=member.region,
        label=f"{name} {member.account} {member.region}",
    )


def environment_widgets(member: Place) -> list[cloudwatch.IWidget]:
    title = f"{member.account} {member.region}"
    return [
        cloudwatch.GraphWidget(
            title=f"{title}: recycled and failed per day",
            left=[member_metric(member, "Recycled"), member_metric(member, "Failed")],
            width=12,
        ),
        cloudwatch.GraphWidget(
            title=f"{title}: stale-AMI replacements and alerts not delivered",
            left=[member_metric(member, "StaleAmiReplacements"), member_metric(member, "AlertsNotDelivered")],
            width=12,
        ),
    ]
