"""The recycler stack: wires one construct per concern."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import (
    Acknowledgment,
    Annotations,
    App,
    Aws,
    CfnCondition,
    CfnMapping,
    CfnOutput,
    CfnParameter,
    DefaultStackSynthesizer,
    Environment,
    Fn,
    Stack,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_oam as oam
from aws_cdk import aws_ssm as ssm
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra.alerts import AlertTopic
from infra.central import Publishers, RecyclerCentralStack, RecyclerSinkStack
from infra.config import (
    CENTRAL_KEY_ALIAS,
    PREFIX,
    ROLE_NAME_PREFIX,
    ConfigError,
    DeployConfig,
    Place,
    check_context_keys,
    read_places,
)
from infra.function import RecyclerFunction
from infra.ledger import Ledger
from infra.observability import Alarms, Dashboard
from infra.org_verdicts import RecyclerVerdictsStack, grant_verdicts, read_rings, verdict_environment
from infra.organization import Organization, read_organization
from infra.schedule import DailySchedule
from infra.stackset import MEMBER_STACK, add_organization
from infra.triggers import PublishTriggers
from recycler.models import ORGANIZATIONAL_UNITS_PATTERN, VERDICT_STACK_OUTPUTS


class RecyclerStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        place: Place | None = None,
        central: Place | None = None,
        organization: Organization | None = None,
        **kwargs: Any,
    ) -> None:
        """place and central: one stack of a listed environment. organization: the StackSet's member
        template (one template for every account and region, so the region is a token)."""
        super().__init__(scope, construct_id, **kwargs)
        if organization is not None:
            central = organization.central
        config = DeployConfig.from_node(self.node)
        ledger = Ledger(self, "Ledger")
        alerts = AlertTopic(self, "Alerts", emails=config.alert_emails)
        kill_switch = ssm.StringParameter(
            self,
            "KillSwitch",
            parameter_name=config.kill_switch_parameter,
            string_value=self._kill_switch_value() if organization else "off",
            description="recycler kill switch: set to 'on' to stop every recycle at once",
        )
        environment = {
            "RECYCLER_LEDGER_TABLE": ledger.table.table_name,
            "RECYCLER_TOPIC_ARN": alerts.topic.topic_arn,
        }
        if central is not None:
            environment["RECYCLER_CENTRAL_TOPIC_ARN"] = central.central_topic_arn()
            rings = read_rings(self.node)
            verdict_environment(environment, central, rings)
            if organization is not None and any(ring.organizational_units for ring in rings):
                environment["RECYCLER_ORGANIZATIONAL_UNITS"] = self._organizational_units()
            self._verdict_outputs(environment)
        recycler = RecyclerFunction(
            self,
            "Recycler",
            config=config,
            environment=environment,
            role_name=self._role_name(place, central, organization),
        )
        if central is not None:
            self._publish_centrally(recycler, central)
            grant_verdicts(recycler.role, central)
            self._link_metrics(central, place, organization)
        ledger.table.grant(
            recycler.role,
            # A canary's claim is a transaction with checks that the image has no verdict yet; a
            # transaction's ConditionCheck is authorized as dynamodb:ConditionCheckItem
            # (docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
            "dynamodb:ConditionCheckItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
        )
        alerts.topic.grant_publish(recycler.role)
        # The kill switch is read with GetParameter alone (Powertools' SSMProvider.get): not grant_read,
        # which adds GetParameters, GetParameterHistory and DescribeParameters nothing calls.
        recycler.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadKillSwitch", actions=["ssm:GetParameter"], resources=[kill_switch.parameter_arn]
            )
        )
        schedule = DailySchedule(self, "Daily", config=config, target=recycler.alias)
        PublishTriggers(
            self, "OnPublish", config=config, alias=recycler.alias, dead_letters=schedule.dead_letters
        )
        alarms = Alarms(
            self,
            "Alarms",
            config=config,
            function=recycler.function,
            dead_letters=schedule.dead_letters,
            topic=alerts.topic,
        )
        alerts.allow_alarms(alarms.alarms.values())
        Dashboard(self, "Observability", function=recycler.function, log_group=recycler.log_group)
        self._acknowledge(recycler, schedule)
        CfnOutput(self, "FunctionAlias", value=recycler.alias.function_arn)
        CfnOutput(self, "AlertTopicArn", value=alerts.topic.topic_arn)
        CfnOutput(self, "LedgerTable", value=ledger.table.table_name)
        CfnOutput(self, "KillSwitchParameter", value=kill_switch.parameter_name)
        # Where an operator looks first, and the alias drills invoke (README, Operate).
        dashboard = cast(Dashboard, self.node.find_child("Observability")).dashboard
        CfnOutput(
            self,
            "DashboardUrl",
            value=f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#dashboards/dashboard/{dashboard.dashboard_name}",
        )

    def _kill_switch_value(self) -> str:
        """A StackSet parameter, so one update-stack-set (with a parameter override) stops every
        account and region at once (docs/many-accounts.md, Organization rollout)."""
        return CfnParameter(
            self,
            "KillSwitchValue",
            allowed_values=["off", "on"],
            default="off",
            description="recycler kill switch in every stack instance: 'on' stops every recycle",
        ).value_as_string

    def _verdict_outputs(self, environment: dict[str, str]) -> None:
        """What `--stack NAME` reads (recycler/cli/first_contact.py STACK_OUTPUTS): history --image, fleet.
        The OUs output only where its StackSet set them: the StackSet over OUs no ring names passes ""."""
        for output, variable in VERDICT_STACK_OUTPUTS.items():
            value = environment.get(variable)
            if value is None:
                continue
            named = None
            if variable == "RECYCLER_ORGANIZATIONAL_UNITS":
                named = CfnCondition(
                    self, "RingNamesItsUnits", expression=Fn.condition_not(Fn.condition_equals(value, ""))
                )
            CfnOutput(self, output, value=value, condition=named)

    def _organizational_units(self) -> str:
        """A StackSet parameter: the OUs of the ring whose StackSet made this stack instance (empty from
        the StackSet over OUs no ring names). infra/org_verdicts.py read_rings says why not an override."""
        return CfnParameter(
            self,
            "OrganizationalUnits",
            default="",
            allowed_pattern=ORGANIZATIONAL_UNITS_PATTERN,
            description="recycler:rings by OU: the OUs of this stack instance's ring (set by its StackSet)",
        ).value_as_string

    @staticmethod
    def _role_name(
        place: Place | None, central: Place | None, organization: Organization | None
    ) -> str | None:
        """Fixed names the central policies match by aws:PrincipalArn; roles are global per account, so
        the region is part of the name (also the StackSet's, resolved per stack instance)."""
        if organization is not None:
            return f"{ROLE_NAME_PREFIX}{Aws.REGION}"
        return place.role_name if place and central else None

    def _publish_centrally(self, recycler: RecyclerFunction, central: Place) -> None:
        """Failure alerts also go to the central topic (an ARN from context, no cross-stack export)."""
        recycler.role.add_to_policy(
            iam.PolicyStatement(
                sid="PublishToCentralTopic", actions=["sns:Publish"], resources=[central.central_topic_arn()]
            )
        )
        recycler.role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptForCentralTopic",
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=[f"arn:{Aws.PARTITION}:kms:{central.region}:{central.account}:key/*"],
                conditions={"ForAnyValue:StringEquals": {"kms:ResourceAliases": CENTRAL_KEY_ALIAS}},
            )
        )
        Validations.of(recycler.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:{central.region}:{central.account}:key/*]",
                reason="The central key's id is not known before it exists; the statement is limited to the key "
                f"with the alias {CENTRAL_KEY_ALIAS} by condition.",
            )
        )

    def _link_metrics(self, central: Place, place: Place | None, organization: Organization | None) -> None:
        """Link this environment's metrics to the central account's sink in the same region, and never
        to another region's: CloudWatch cross-account observability links accounts within one Region
        (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Cross-Account-Methods.html).
        Until that region's sink ARN is in recycler:central.sink_arns there is no link (the deploy does
        not wait on the central account); the deploy after adds it."""
        if organization is not None:
            # One template for every region: the region picks its sink from a map of every target region.
            sinks = CfnMapping(
                self,
                "MetricsSinks",
                mapping={region: {"Arn": central.sink_in(region) or ""} for region in organization.regions},
            )
            arn = sinks.find_in_map(Aws.REGION, "Arn")
            # The central account itself (if in a target OU) sees its metrics already: it does not link.
            linked = CfnCondition(
                self,
                "HasMetricsSink",
                expression=Fn.condition_and(
                    Fn.condition_not(Fn.condition_equals(arn, "")),
                    Fn.condition_not(Fn.condition_equals(Aws.ACCOUNT_ID, central.account)),
                ),
            )
            link = oam.CfnLink(
                self,
                "MetricsLink",
                resource_types=["AWS::CloudWatch::Metric"],
                sink_identifier=arn,
                label_template="$AccountName",
            )
            link.cfn_options.condition = linked
            return
        region = place.region if place else self.region
        sink = central.sink_in(region)
        if place is not None and place.account == central.account:
            return  # the central account's own metrics need no link to its own sink
        if sink:
            oam.CfnLink(
                self,
                "MetricsLink",
                resource_types=["AWS::CloudWatch::Metric"],
                sink_identifier=sink,
                label_template="$AccountName",
            )
        else:
            Annotations.of(self).add_info(
                f"No sink for {region} in recycler:central.sink_arns yet: deploy RecyclerCentral (or "
                f"RecyclerSink-{region}), then add its SinkArn output to link this environment's metrics."
            )

    def _acknowledge(self, recycler: RecyclerFunction, schedule: DailySchedule) -> None:
        wildcard_reasons = {
            "Resource::*": (
                "Describe* reads (Auto Scaling, EC2, ELB, CloudWatch alarms, ECS capacity providers, clusters "
                "and container instances, listed region-wide because a group's cluster is known only once "
                "they are read) and X-Ray; every mutating action is scoped by condition."
            ),
            "Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/*": (
                "Group ARNs carry a random UUID; the statement is limited by the condition "
                "autoscaling:ResourceTag/<prefix>enabled = true, so only opted-in groups can be changed."
            ),
            "Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:container-instance/*": (
                "Container instance ids are assigned at registration; draining is limited by the condition "
                "ecs:cluster to the clusters recycler:ecs_clusters names (default: this account and region)."
            ),
            "Action::kms:GenerateDataKey*": "Publishing to the KMS-encrypted alert topic needs data keys from its one key.",
            "Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/*": (
                "A launch template may name any parameter as its resolve:ssm: image alias; GetParameters is read-only."
            ),
            "Resource::arn:<AWS::Partition>:ssm:<AWS::Region>::parameter/aws/service/*": (
                "AWS's public AMI parameters (resolve:ssm:/aws/service/...) that launch templates commonly use."
            ),
        }
        for finding, reason in wildcard_reasons.items():
            Validations.of(recycler.role).acknowledge(
                Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{finding}]", reason=reason)
            )
        Validations.of(recycler.durable_policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::<RecyclerFunction5DAB5402.Arn>:*]",
                reason="Durable checkpoints are authorized on execution ARNs under this function's versions, and its "
                "chained invokes of its own version on qualified ARNs (function:name:*), as Lambda documents.",
            )
        )
        Validations.of(recycler.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="Pinned to python3.13: the bundle is built for cp313 wheels and tested on that runtime.",
            )
        )
        Annotations.of(recycler.function).acknowledge_info(
            "aws-lambda:Function.DurableConfig",
            "The function is durable from its first deployment; it is never converted from a plain function.",
        )
        Validations.of(schedule.dead_letters).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is itself the schedule's dead-letter queue.",
            )
        )
        Validations.of(recycler.failed_runs).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is itself the function's dead-letter queue (events of runs that ended failed).",
            )
        )


DESCRIPTION = "recycler: daily replacement of the oldest instance per Auto Scaling group"


def build_app(context: dict[str, Any] | None = None) -> App:
    """The app `npx cdk synth` builds (app.py), with cdk-nag AwsSolutions checks as a validation plugin.

    Without recycler:environments: one stack, "Recycler", in the CLI's account and region. With it: one
    stack per environment, and with recycler:central a RecyclerCentral stack they all report to (plus a
    RecyclerSink-<region> for every other member region). With recycler:organization: the member stack
    as a service-managed StackSet (RecyclerOrganization, infra/stackset.py) over OUs and regions, its
    code in a bucket per region (RecyclerAssets-<region>), reporting to organization.central."""
    app = App(context=context)
    check_context_keys(app.node)
    members = read_places(app.node, "environments")
    centrals = read_places(app.node, "central")
    organization = read_organization(app.node)
    if len(centrals) > 1:
        raise ConfigError(f"{PREFIX}central: one account and region, not a list")
    if organization is not None and centrals:
        raise ConfigError(
            f"{PREFIX}central: with {PREFIX}organization, the central account is {PREFIX}organization.central"
        )
    central = organization.central if organization else centrals[0] if centrals else None
    if central is not None and not members and organization is None:
        raise ConfigError(
            f"{PREFIX}central needs {PREFIX}environments: the member environments to report to it"
        )
    if read_rings(app.node) and central is None:
        raise ConfigError(
            f"{PREFIX}rings needs {PREFIX}central or {PREFIX}organization: the rings share verdicts in the "
            "central account's table"
        )
    if not members and organization is None:
        RecyclerStack(app, "Recycler", description=DESCRIPTION)
    for member in members:
        RecyclerStack(
            app,
            member.stack_name,
            place=member,
            central=central,
            env=Environment(account=member.account, region=member.region),
            description=f"{DESCRIPTION} ({member.account} {member.region})",
        )
    if central is not None:
        publishers = Publishers(tuple(members), organization.organizational_units if organization else ())
        RecyclerCentralStack(
            app,
            "RecyclerCentral",
            publishers=publishers,
            regions=organization.regions if organization else (),
            env=Environment(account=central.account, region=central.region),
            description="recycler: one alert topic and dashboard for every environment",
        )
        RecyclerVerdictsStack(
            app,
            "RecyclerVerdicts",
            publishers=publishers,
            organization_id=organization.organization_id if organization else "",
            env=Environment(account=central.account, region=central.region),
            description="recycler: the organization's canary verdicts on images",
        )
        member_regions = {m.region for m in members} | set(organization.regions if organization else ())
        for region in sorted(member_regions - {central.region}):
            RecyclerSinkStack(
                app,
                f"RecyclerSink-{region}",
                publishers=publishers,
                env=Environment(account=central.account, region=region),
                description=f"recycler: the central account's metrics sink for members in {region}",
            )
    if organization is not None:
        org = organization

        def build_member(scope: App, synthesizer: DefaultStackSynthesizer) -> Stack:
            return RecyclerStack(
                scope, MEMBER_STACK, organization=org, synthesizer=synthesizer, description=DESCRIPTION
            )

        add_organization(app, organization, build_member)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
