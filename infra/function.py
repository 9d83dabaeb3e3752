"""The durable recycler Lambda, its alias, log group and least-privilege role."""

from __future__ import annotations

from aws_cdk import Acknowledgment, AssetHashType, Aws, Duration, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import ROOT, asset_hash, bundling_options
from infra.config import LOG_RETENTION, DeployConfig
from recycler.domain import METRIC_NAMESPACE
from recycler.policy.tags import OPT_IN_VALUE

READ_ONLY_ACTIONS = [
    # None of these APIs supports resource-level permissions, so they need Resource "*".
    "ec2:DescribeImages",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeInstanceRefreshes",
    "autoscaling:DescribeLaunchConfigurations",
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplateVersions",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeInstanceHealth",
    "cloudwatch:DescribeAlarms",
    # Container hosts: lifecycle hooks of the groups to recycle, and which groups are ECS capacity.
    # Capacity providers and clusters are listed region-wide: a group's cluster is known only after they
    # are read. (A warm pool shows in DescribeAutoScalingGroups: DescribeWarmPool is not needed.)
    "autoscaling:DescribeLifecycleHooks",
    "ecs:DescribeCapacityProviders",
    "ecs:ListClusters",
    "ecs:DescribeClusters",
    "ecs:ListContainerInstances",
    "ecs:DescribeContainerInstances",
    # The stampede guard (docs/scale-outs.md): what may scale a planned group out soon.
    "autoscaling:DescribeScheduledActions",
    "autoscaling:DescribePolicies",
    "autoscaling:GetPredictiveScalingForecast",
    # CodeDeploy: which deployment groups name the groups to recycle (docs/codedeploy.md).
    "codedeploy:ListApplications",
]
# The two acts, and nothing else: recycler never updates a group's configuration.
GROUP_ACTIONS = [
    "autoscaling:TerminateInstanceInAutoScalingGroup",
    "autoscaling:SetDesiredCapacity",
]


class RecyclerFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        environment: dict[str, str],
        role_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=LOG_RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="recycler: read Auto Scaling fleets, recycle opted-in groups only",
            role_name=role_name,
        )
        self.log_group.grant_write(self.role)
        # AWS's durable best practice: a dead-letter queue keeps the event of an asynchronously invoked
        # execution that ends FAILED, STOPPED or TIMED_OUT (the schedule's input, or a drill's payload),
        # for 14 days, to read or redrive. The DurableExecutionFailed/TimedOut alarms say that it happened.
        # https://docs.aws.amazon.com/lambda/latest/dg/durable-best-practices.html
        self.failed_runs = sqs.Queue(
            self,
            "FailedRuns",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler="recycler.handler.lambda_handler",
            code=lambda_.Code.from_asset(
                str(ROOT / "recycler"),
                bundling=bundling_options(),
                # What the bundle is built from, pins included (infra/bundling.py).
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=asset_hash(),
            ),
            role=self.role,
            memory_size=512,
            # One invocation plans and starts the window; health waits suspend the function instead.
            timeout=Duration.minutes(15),
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            # DISABLED, not PASS_THROUGH, without recycler:tracing: PASS_THROUGH still grants X-Ray writes that
            # nothing sends (tests/infra/test_iam_truth.py lists every grant no call uses).
            tracing=lambda_.Tracing.ACTIVE if config.tracing else lambda_.Tracing.DISABLED,
            reserved_concurrent_executions=config.reserved_concurrency,
            dead_letter_queue=self.failed_runs,
            durable_config=lambda_.DurableConfig(
                execution_timeout=Duration.hours(config.execution_timeout_hours),
                retention_period=Duration.days(30),
            ),
            environment={
                "POWERTOOLS_SERVICE_NAME": "recycler",
                "POWERTOOLS_METRICS_NAMESPACE": METRIC_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **config.function_environment(),
                **environment,
            },
            description="Replaces the oldest instance of each opted-in Auto Scaling group",
            # A durable execution stays on the version it started on (the schedule invokes the alias,
            # Lambda resolves it once), replaying there for up to its execution timeout:
            # https://docs.aws.amazon.com/lambda/latest/dg/durable-best-practices.html
            # current_version is replaced on every code or configuration change; DESTROY (CDK's default)
            # would delete the version a run still waits on. Old versions are kept and cleaned up by
            # hand once no execution runs on them (docs/deployment.md, "Deploys and runs in flight").
            # https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_lambda.VersionOptions.html
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.RETAIN),
        )
        self.alias = lambda_.Alias(self, "Live", alias_name="live", version=self.function.current_version)
        self._grant_fleet_access(config)
        if config.revert_on_canary_failure:
            self._grant_reverts(config)
        if config.events:
            self._emit_events()

    def _emit_events(self) -> None:
        """Group outcomes and run summaries as events on the account's default bus (recycler/aws/events.py).
        PutEvents authorizes the event-bus resource, arn:${Partition}:events:${Region}:${Account}:event-bus/
        ${EventBusName}: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html
        The function names the bus by that ARN, so the grant and the call are one string."""
        bus = f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-bus/default"
        self.function.add_environment("RECYCLER_EVENTS_BUS", bus)
        self.role.add_to_policy(
            iam.PolicyStatement(sid="PutEventsOnTheDefaultBus", actions=["events:PutEvents"], resources=[bus])
        )

    def _grant_reverts(self, config: DeployConfig) -> None:
        """recycler:revert_on_canary_failure (recycler/workflow/revert.py), and only with it: read and put
        back the SSM parameters under recycler:publish_parameter_prefixes, and set the default version of
        launch templates that opted in with the tag <prefix>revert=true.

        Service Authorization Reference (docs.aws.amazon.com/service-authorization/latest/reference/):
        list_awssystemsmanager.html: GetParameter, GetParameterHistory and PutParameter authorize the
        parameter resource arn:${Partition}:ssm:${Region}:${Account}:parameter/${ParameterNameWithoutLeadingSlash};
        PutParameter's ssm:Overwrite condition key (Systems Manager User Guide, "Preventing access to
        Parameter Store API operations") keeps the grant to overwriting a parameter, never creating one.
        list_amazonec2.html: ModifyLaunchTemplate authorizes launch-template
        arn:${Partition}:ec2:${Region}:${Account}:launch-template/${LaunchTemplateId} with
        aws:ResourceTag/${TagKey}; DescribeLaunchTemplates has no resource-level permissions ("*")."""
        account = f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        parameters = [f"{account}:parameter/{p.lstrip('/')}*" for p in config.publish_parameter_prefixes]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPublishedParameters",
                actions=["ssm:GetParameter", "ssm:GetParameterHistory"],
                resources=parameters,
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PutPublishedParametersBack",
                actions=["ssm:PutParameter"],
                resources=parameters,
                conditions={"StringEquals": {"ssm:Overwrite": "true"}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadLaunchTemplateTags", actions=["ec2:DescribeLaunchTemplates"], resources=["*"]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="SetDefaultVersionOfOptedInTemplates",
                actions=["ec2:ModifyLaunchTemplate"],
                resources=[f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:launch-template/*"],
                conditions={"StringEquals": {f"aws:ResourceTag/{config.tag_prefix}revert": "true"}},
            )
        )
        wildcards = {
            f"Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/{p.lstrip('/')}*": "The parameters recycler:publish_parameter_prefixes names: the ones whose publish starts a "
            "canary; PutParameter only overwrites (ssm:Overwrite = true)."
            for p in config.publish_parameter_prefixes
        }
        wildcards["Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:launch-template/*"] = (
            "Launch template ids are assigned at creation; ModifyLaunchTemplate is limited by the condition "
            f"aws:ResourceTag/{config.tag_prefix}revert = true to the templates that opted in."
        )
        for finding, reason in wildcards.items():
            Validations.of(self.role).acknowledge(
                Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{finding}]", reason=reason)
            )

    def _grant_fleet_access(self, config: DeployConfig) -> None:
        self.role.add_to_policy(
            iam.PolicyStatement(sid="ReadFleet", actions=READ_ONLY_ACTIONS, resources=["*"])
        )
        # A group's VPC Lattice traffic sources: the replacement's target health (ListTargets takes a
        # target group, resource type TargetGroup, arn:...:vpc-lattice:<region>:<account>:targetgroup/<id>:
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonvpclattice.html).
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadLatticeTargetHealth",
                actions=["vpc-lattice:ListTargets"],
                resources=[f"arn:{Aws.PARTITION}:vpc-lattice:{Aws.REGION}:{Aws.ACCOUNT_ID}:targetgroup/*"],
            )
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:vpc-lattice:<AWS::Region>:"
                "<AWS::AccountId>:targetgroup/*]",
                reason="The groups' Lattice target groups are known only when their traffic sources are read; "
                "ListTargets only reads target health.",
            )
        )
        # CodeDeploy deployment groups on the groups to recycle and their deployments (docs/codedeploy.md).
        # Resource types from the Service Authorization Reference
        # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodedeploy.html):
        # ListDeploymentGroups takes an application; BatchGetDeploymentGroups, ListDeployments and
        # BatchGetDeployments a deployment group. Read only: recycler never starts or stops a deployment.
        codedeploy = f"arn:{Aws.PARTITION}:codedeploy:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadCodeDeployApplications",
                actions=["codedeploy:ListDeploymentGroups"],
                resources=[f"{codedeploy}:application:*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadCodeDeployDeployments",
                actions=[
                    "codedeploy:BatchGetDeploymentGroups",
                    "codedeploy:ListDeployments",
                    "codedeploy:BatchGetDeployments",
                ],
                resources=[f"{codedeploy}:deploymentgroup:*/*"],
            )
        )
        for resource in ("application:*", "deploymentgroup:*/*"):
            Validations.of(self.role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codedeploy:<AWS::Region>:"
                    f"<AWS::AccountId>:{resource}]",
                    reason="Which CodeDeploy applications and deployment groups name a group is known only "
                    "once they are listed; these actions only read them.",
                )
            )
        # DescribeLaunchTemplateVersions(ResolveAlias) resolves resolve:ssm: image aliases: it reads the
        # account's own parameters and AWS's public ones (e.g. /aws/service/ami-amazon-linux-latest/...).
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ResolveImageAliases",
                actions=["ssm:GetParameters"],
                resources=[
                    f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter/*",
                    f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}::parameter/aws/service/*",
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="RecycleOptedInGroupsOnly",
                actions=GROUP_ACTIONS,
                resources=[
                    f"arn:{Aws.PARTITION}:autoscaling:{Aws.REGION}:{Aws.ACCOUNT_ID}:autoScalingGroup:*:autoScalingGroupName/*"
                ],
                conditions={
                    "StringEquals": {f"autoscaling:ResourceTag/{config.tag_prefix}enabled": OPT_IN_VALUE}
                },
            )
        )
        # Draining (and undoing a drain) touches container instances only, of the configured clusters or
        # of any cluster in this account and region; ecs:cluster is the condition key IAM evaluates for it.
        clusters = config.ecs_clusters or ["*"]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="DrainContainerInstances",
                actions=["ecs:UpdateContainerInstancesState"],
                resources=[f"arn:{Aws.PARTITION}:ecs:{Aws.REGION}:{Aws.ACCOUNT_ID}:container-instance/*"],
                conditions={
                    "ArnLike": {
                        "ecs:cluster": [
                            f"arn:{Aws.PARTITION}:ecs:{Aws.REGION}:{Aws.ACCOUNT_ID}:cluster/{name}"
                            for name in clusters
                        ]
                    }
                },
            )
        )
        # A separate policy, not the role's default one: the function depends on its default policy,
        # and this statement names the function, which would make a cycle.
        self.durable_policy = iam.Policy(
            self,
            "DurableCheckpoints",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="DurableExecution",
                    actions=["lambda:CheckpointDurableExecution", "lambda:GetDurableExecutionState"],
                    resources=[f"{self.function.function_arn}:*"],
                ),
                # A run too large for one durable execution invokes its own version once per slice (the
                # durable SDK's context.invoke: a chained invoke, recycler/workflow/fanout.py); Lambda
                # authorizes it as an invoke of a qualified ARN ("Security and permissions for Lambda
                # durable functions": an unqualified ARN never matches), so `:*` and nothing else.
                iam.PolicyStatement(
                    sid="ChainedInvoke",
                    actions=["lambda:InvokeFunction"],
                    resources=[f"{self.function.function_arn}:*"],
                ),
            ],
        )
