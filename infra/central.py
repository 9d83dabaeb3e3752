"""The central stack of a many-account deployment: one alert topic every member also publishes to,
one dashboard over every member environment, and the CloudWatch cross-account observability sinks.

Nothing here is read at run time by a member's Lambda except the topic (by an ARN built from context):
each region's recycler stays the engine of its own fleet.

Nothing here names a member's role as a principal, so this stack deploys before, after or without its
members, and a member redeployed (its role recreated) still publishes: KMS refuses a key policy naming
a principal that does not exist yet ("invalid principals"), and a policy naming a role holds that
role's unique id, not its name. Member accounts (or the organization's OUs) are the principals, and
aws:PrincipalArn, a string condition, picks their recycler roles by name.
https://repost.aws/knowledge-center/kms-policy-error-invalid-principals
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-roles
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_cdk import Acknowledgment, Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_oam as oam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import CENTRAL_KEY_ALIAS, CENTRAL_TOPIC, ROLE_NAME_PREFIX, DeployConfig, Place
from recycler.domain import METRIC_NAMESPACE

NAMESPACE = METRIC_NAMESPACE
DAY = Duration.days(1)
SINK_NAME = "recycler"


@dataclass(frozen=True)
class Publishers:
    """Who may publish centrally: listed member environments, and/or every account under these OUs."""

    members: tuple[Place, ...] = ()
    organizational_units: tuple[str, ...] = ()

    @property
    def accounts(self) -> list[str]:
        return sorted({m.account for m in self.members})

    def org_paths(self) -> list[str]:
        """aws:PrincipalOrgPaths patterns for the OUs: a path is o-<org>/r-<root>/ou-.../ (nested OUs
        in order), so `*/<ou>/*` matches the OU and every OU under it without naming the organization.
        https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgpaths"""
        return [
            f"o-*/{unit}/*" if unit.startswith("r-") else f"o-*/*/{unit}/*"
            for unit in self.organizational_units
        ]

    def statements(self, sid: str, actions: list[str], resources: list[str]) -> list[iam.PolicyStatement]:
        """One statement per kind of grant; no role is a principal (see the module docstring)."""
        statements = []
        if self.members:
            statements.append(
                iam.PolicyStatement(
                    sid=f"{sid}Accounts",
                    principals=[iam.AccountPrincipal(account) for account in self.accounts],
                    actions=actions,
                    resources=resources,
                    conditions={
                        "ArnLike": {"aws:PrincipalArn": sorted({m.role_arn() for m in self.members})}
                    },
                )
            )
        if self.organizational_units:
            statements.append(
                iam.PolicyStatement(
                    sid=f"{sid}Organization",
                    principals=[iam.AnyPrincipal()],
                    actions=actions,
                    resources=resources,
                    conditions={
                        "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": self.org_paths()},
                        "ArnLike": {
                            "aws:PrincipalArn": f"arn:{Aws.PARTITION}:iam::*:role/{ROLE_NAME_PREFIX}*"
                        },
                    },
                )
            )
        return statements

    def sink_policy(self) -> dict[str, Any]:
        """Who may link metrics to a sink: the same accounts or OUs (a sink policy may name accounts or
        an organization's ids or paths: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-oam-sink.html)."""
        only_metrics = {"ForAllValues:StringEquals": {"oam:ResourceTypes": ["AWS::CloudWatch::Metric"]}}
        statements: list[dict[str, Any]] = []
        if self.members:
            statements.append(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": self.accounts},
                    "Action": ["oam:CreateLink", "oam:UpdateLink"],
                    "Resource": "*",
                    "Condition": only_metrics,
                }
            )
        if self.organizational_units:
            statements.append(
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["oam:CreateLink", "oam:UpdateLink"],
                    "Resource": "*",
                    "Condition": {
                        **only_metrics,
                        "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": self.org_paths()},
                    },
                }
            )
        return {"Version": "2012-10-17", "Statement": statements}


class MetricsSink(Construct):
    """The central account's OAM sink in this stack's region. OAM links accounts within one Region,
    so each member region needs its own sink and a member links only to its region's one.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Cross-Account-Methods.html"""

    def __init__(self, scope: Construct, construct_id: str, *, publishers: Publishers) -> None:
        super().__init__(scope, construct_id)
        self.sink = oam.CfnSink(self, "Sink", name=SINK_NAME, policy=publishers.sink_policy())
        region = Stack.of(self).region
        CfnOutput(
            scope,
            "SinkArn",
            value=self.sink.attr_arn,
            description=f"add to recycler:central.sink_arns so members in {region} link their metrics here",
        )


class RecyclerSinkStack(Stack):
    """A sink in another member region of the central account (RecyclerSink-<region>)."""

    def __init__(self, scope: Construct, construct_id: str, *, publishers: Publishers, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        MetricsSink(self, "Metrics", publishers=publishers)


class RecyclerCentralStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        publishers: Publishers,
        regions: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config = DeployConfig.from_node(self.node)
        self.key = kms.Key(
            self,
            "Key",
            description="recycler central alert topic",
            alias=CENTRAL_KEY_ALIAS,
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # The members' recycler roles (matched by name, in their accounts or OUs) may encrypt for the topic.
        for statement in publishers.statements(
            "MemberRecyclersPublish", ["kms:GenerateDataKey*", "kms:Decrypt"], ["*"]
        ):
            self.key.add_to_resource_policy(statement)
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=CENTRAL_TOPIC,
            display_name="recycler alerts, every environment",
            master_key=self.key,
            enforce_ssl=True,
        )
        for statement in publishers.statements(
            "MemberRecyclersPublish", ["sns:Publish"], [self.topic.topic_arn]
        ):
            self.topic.add_to_resource_policy(statement)
        # No CloudWatch allow here (unlike the member topics, infra/alerts.py): no alarm publishes to this
        # topic, only the member roles above. An alarm added here needs AlertTopic.allow_alarms' statement.
        for email in config.alert_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

        # CloudWatch cross-account observability: members in this region link their metrics to this sink
        # (other member regions: RecyclerSink-<region>).
        self.sink = MetricsSink(self, "Metrics", publishers=publishers)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name="recycler-all-environments")
        for member in publishers.members:
            self.dashboard.add_widgets(*environment_widgets(member))
        for region in regions:
            self.dashboard.add_widgets(*region_widgets(region))
        CfnOutput(self, "CentralTopicArn", value=self.topic.topic_arn)
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


def fleet_widgets(title: str, metric: Callable[[str], cloudwatch.IMetric]) -> list[cloudwatch.IWidget]:
    """The two graphs the central dashboard shows for one environment, or for every account of a region."""
    return [
        cloudwatch.GraphWidget(
            title=f"{title}: recycled and failed per day",
            left=[metric("Recycled"), metric("Failed")],
            width=12,
        ),
        cloudwatch.GraphWidget(
            title=f"{title}: stale-AMI replacements and alerts not delivered",
            left=[metric("StaleAmiReplacements"), metric("AlertsNotDelivered")],
            width=12,
        ),
    ]


def environment_widgets(member: Place) -> list[cloudwatch.IWidget]:
    return fleet_widgets(f"{member.account} {member.region}", lambda name: member_metric(member, name))


def region_search(region: str, name: str) -> cloudwatch.MathExpression:
    """Every linked account's series in a region (the StackSet's accounts are not known at synth): a
    SEARCH over the metrics the handler emits, whose only dimension is `service`."""
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{{NAMESPACE},service}} MetricName=\"{name}\"', 'Sum', 86400)",
        label=f"{name} {region}",
        period=DAY,
        search_region=region,
    )


def region_widgets(region: str) -> list[cloudwatch.IWidget]:
    return fleet_widgets(f"{region}, every linked account", lambda name: region_search(region, name))
