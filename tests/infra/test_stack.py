"""The synthesized stack: one synth (bundling skipped) shared by every assertion, cdk-nag included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.config import ConfigError, DeployConfig
from infra.stack import build_app

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

OVERRIDES = {
    "recycler:schedule_expression": "cron(30 6 ? * MON-FRI *)",
    "recycler:schedule_time_zone": "Europe/Berlin",
    "recycler:alert_emails": ["ops@example.com", "oncall@example.com"],
    "recycler:stop_alarm_names": "checkout-5xx,latency-p99",
    "recycler:tracing": True,
}


def synth(**overrides: Any) -> Template:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update({"aws:cdk:bundling-stacks": [], **overrides})
    # synth() runs the cdk-nag plugin: any unacknowledged finding raises here.
    assembly = build_app(context).synth()
    return Template.from_json(assembly.get_stack_by_name("Recycler").template)


@pytest.fixture(scope="module")
def template() -> Template:
    return synth(**OVERRIDES)


def resources(template: Template, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def test_durable_function_on_arm64_python313_without_reserved_concurrency(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Handler": "recycler.handler.lambda_handler",
            "DurableConfig": {"ExecutionTimeout": 12 * 3600, "RetentionPeriodInDays": 30},
            # Lambda refuses a reservation that leaves the account less than 100 unreserved: none by default.
            "ReservedConcurrentExecutions": Match.absent(),
            "TracingConfig": {"Mode": "Active"},
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "RECYCLER_STOP_ALARM_NAMES": "checkout-5xx,latency-p99",
                        "RECYCLER_LEDGER_TABLE": Match.any_value(),
                        "RECYCLER_TOPIC_ARN": Match.any_value(),
                        "RECYCLER_KILL_SWITCH_PARAMETER": "/recycler/kill-switch",
                        "RECYCLER_TRACING": "true",
                    }
                )
            },
        },
    )
    template.has_resource_properties("AWS::Lambda::Alias", {"Name": "live"})
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})


def test_reserved_concurrency_is_opt_in_and_validated() -> None:
    """Lambda keeps 100 of the account's concurrency unreserved: on an account whose quota is 10 (new
    accounts) any reservation fails the deploy, so there is none unless recycler:reserved_concurrency
    asks for one."""
    [function] = resources(synth(**{"recycler:reserved_concurrency": "3"}), "AWS::Lambda::Function").values()
    assert function["Properties"]["ReservedConcurrentExecutions"] == 3
    for bad in ("0", "-1"):
        with pytest.raises(ConfigError, match=r"recycler:reserved_concurrency=.*unreserved"):
            synth(**{"recycler:reserved_concurrency": bad})
    with pytest.raises(ConfigError, match="recycler:reserved_concurrency='lots'"):
        synth(**{"recycler:reserved_concurrency": "lots"})


def test_a_deploy_keeps_the_version_running_executions_are_pinned_to(template: Template) -> None:
    """A durable execution replays on the version it started on, for up to its execution timeout (12 h).
    current_version replaces its AWS::Lambda::Version on every code change; without Retain CloudFormation
    deletes the old one, and a run still waiting on it has nothing left to replay on."""
    [version] = resources(template, "AWS::Lambda::Version").values()
    assert version["DeletionPolicy"] == "Retain" and version["UpdateReplacePolicy"] == "Retain"
    [alias] = resources(template, "AWS::Lambda::Alias").values()
    [version_id] = resources(template, "AWS::Lambda::Version")
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}


def test_a_run_that_ends_failed_leaves_its_event_in_an_encrypted_dead_letter_queue(
    template: Template,
) -> None:
    """AWS's durable best practice: a dead-letter queue on the function keeps the event of an
    asynchronously invoked execution that ends FAILED, STOPPED or TIMED_OUT (checkov CKV_AWS_116)."""
    [function] = resources(template, "AWS::Lambda::Function").values()
    target = function["Properties"]["DeadLetterConfig"]["TargetArn"]
    [queue_id] = [
        q
        for q, queue in resources(template, "AWS::SQS::Queue").items()
        if {"Fn::GetAtt": [q, "Arn"]} == target
    ]
    queue = resources(template, "AWS::SQS::Queue")[queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True and queue["MessageRetentionPeriod"] == 14 * 86400
    # Lambda sends to it with the function's role.
    [role_policy] = [
        p
        for p in resources(template, "AWS::IAM::Policy").values()
        if any(
            s["Action"] == "sqs:SendMessage" and s["Resource"] == target
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        )
    ]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    assert {"Ref": role_id} in role_policy["Properties"]["Roles"]


def test_schedule_from_context_targets_the_alias_with_retries_and_dlq(template: Template) -> None:
    [schedule] = resources(template, "AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "cron(30 6 ? * MON-FRI *)"
    assert props["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert props["State"] == "ENABLED"
    target = props["Target"]
    [alias_id] = resources(template, "AWS::Lambda::Alias")
    assert target["Arn"] == {"Ref": alias_id}
    assert json.loads(target["Input"]) == {"source": "schedule"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 3
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert resources(template, "AWS::SQS::Queue")[queue_id]["Properties"]["SqsManagedSseEnabled"] is True


def test_schedule_can_be_disabled_and_bad_context_names_the_key() -> None:
    [schedule] = resources(
        synth(**{"recycler:schedule_enabled": "false"}), "AWS::Scheduler::Schedule"
    ).values()
    assert schedule["Properties"]["State"] == "DISABLED"
    with pytest.raises(ConfigError, match="recycler:max_concurrency"):
        synth(**{"recycler:max_concurrency": "lots"})
    with pytest.raises(ConfigError, match="recycler:schedule_expression"):
        synth(**{"recycler:schedule_expression": "every day at ten"})
    with pytest.raises(ConfigError, match=r"recycler:log_retention_days=60: use one of 7, 14, 30, 90, "):
        synth(**{"recycler:log_retention_days": "60"})


def test_ledger_table_is_safe_to_keep(template: Template) -> None:
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "BillingMode": "PAY_PER_REQUEST",
                    "DeletionProtectionEnabled": True,
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                    "KeySchema": [
                        {"AttributeName": "group_name", "KeyType": "HASH"},
                        {"AttributeName": "record", "KeyType": "RANGE"},
                    ],
                }
            ),
        },
    )


def test_topic_is_encrypted_tls_only_with_email_subscriptions(template: Template) -> None:
    [key_id] = resources(template, "AWS::KMS::Key")
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )
    endpoints = sorted(
        r["Properties"]["Endpoint"] for r in resources(template, "AWS::SNS::Subscription").values()
    )
    assert endpoints == ["oncall@example.com", "ops@example.com"]


def test_cloudwatch_alarms_may_publish_to_the_tls_only_topic(template: Template) -> None:
    """A topic policy replaces SNS's default one: with only the TLS deny in it, every alarm action fails
    "not authorized to perform: SNS:Publish" (re:Post knowledge center
    cloudwatch-receive-sns-for-alarm-trigger). CloudWatch needs an allow, for this account's alarms only,
    and the key of the encrypted topic."""
    [policy] = resources(template, "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    [topic_id] = resources(template, "AWS::SNS::Topic")
    [allow] = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert allow["Effect"] == "Allow" and allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic_id}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    alarm_arns = [
        {"Fn::GetAtt": [alarm_id, "Arn"]} for alarm_id in resources(template, "AWS::CloudWatch::Alarm")
    ]
    assert sorted(map(json.dumps, allow["Condition"]["ArnEquals"]["aws:SourceArn"])) == sorted(
        map(json.dumps, alarm_arns)
    )
    [key] = resources(template, "AWS::KMS::Key").values()
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(s["Action"])
        for s in key["Properties"]["KeyPolicy"]["Statement"]
    )


def test_alarms_notify_the_topic(template: Template) -> None:
    [topic_id] = resources(template, "AWS::SNS::Topic")
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    metrics = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert {
        "Failed",
        "Errors",
        "DurableExecutionFailed",
        "DurableExecutionTimedOut",
        "ApproximateNumberOfMessagesVisible",
        "FleetOldestInstanceAgeDays",
        "AlertsNotDelivered",
    } <= metrics
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    bit_rot = next(
        a for a in alarms.values() if a["Properties"].get("MetricName") == "FleetOldestInstanceAgeDays"
    )
    assert bit_rot["Properties"]["Threshold"] == 14 and bit_rot["Properties"]["Statistic"] == "Maximum"
    image_rot = next(
        a for a in alarms.values() if a["Properties"].get("MetricName") == "FleetOldestImageAgeDays"
    )
    assert image_rot["Properties"]["Threshold"] == 30


def test_discovery_and_the_iam_condition_agree_on_the_opt_in_value(template: Template) -> None:
    """What recycler plans is exactly what its role may act on: the tag filter discovery sends and the
    condition on every mutating action use the same value."""
    from recycler.policy.tags import OPT_IN_VALUE

    statements = [
        s
        for policy in resources(template, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    [act] = [s for s in statements if s.get("Sid") == "RecycleOptedInGroupsOnly"]
    assert act["Condition"] == {"StringEquals": {"autoscaling:ResourceTag/recycler:enabled": OPT_IN_VALUE}}
    [resolve] = [s for s in statements if s.get("Sid") == "ResolveImageAliases"]
    assert resolve["Action"] == "ssm:GetParameters"
    [read] = [s for s in statements if s.get("Sid") == "ReadFleet"]
    assert "ec2:DescribeImages" in read["Action"]


def test_dashboard_shows_bit_rot_at_a_glance(template: Template) -> None:
    [dashboard] = resources(template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in (
        "Recycles per day",
        "Skipped per day, by reason",
        "OldestInstanceAgeDays",
        "HealthWaitSeconds",
        "StaleAmiReplacements",
        "CanaryFailed",
        "Function errors and duration",
        "group result",
    ):
        assert needle in body, needle


def statements(template: Template) -> list[dict[str, Any]]:
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_terminate_only_on_opted_in_groups(template: Template) -> None:
    mutating = [
        s for s in statements(template) if "autoscaling:TerminateInstanceInAutoScalingGroup" in s["Action"]
    ]
    assert len(mutating) == 1
    assert mutating[0]["Condition"] == {"StringEquals": {"autoscaling:ResourceTag/recycler:enabled": "true"}}
    assert all("ec2:TerminateInstances" not in json.dumps(s["Action"]) for s in statements(template))


def test_no_wildcard_actions(template: Template) -> None:
    for statement in statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all(a != "*" and not a.endswith(":*") for a in actions), statement


def test_durable_checkpoint_permission_scoped_to_this_function(template: Template) -> None:
    [durable] = [s for s in statements(template) if "lambda:CheckpointDurableExecution" in s["Action"]]
    [function_id] = resources(template, "AWS::Lambda::Function")
    assert durable["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [function_id, "Arn"]}, ":*"]]}


def test_tracing_is_off_unless_asked_for() -> None:
    # The X-Ray SDK costs every cold start ~100 ms; without recycler:tracing the function neither
    # samples traces nor imports it.
    config = DeployConfig()
    assert not config.tracing and "RECYCLER_TRACING" not in config.function_environment()
    code = "import sys, recycler.handler; print('aws_xray_sdk' in sys.modules)"
    for tracing, expected in (("", "False"), ("true", "True")):
        env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "recycler", "RECYCLER_TRACING": tracing}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert done.stdout.split("\n")[-2] == expected, done.stdout


def test_the_function_may_make_every_ledger_call_the_code_makes(template: Template) -> None:
    # claim/finish/proven (put, update), plan (batch get), the run's failure count (update, get).
    actions: set[str] = set()
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            actions |= {a for a in listed if a.startswith("dynamodb:")}
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:GetItem"} <= actions


def test_draining_is_scoped_to_container_instances_of_the_configured_clusters(template: Template) -> None:
    [drain] = [s for s in statements(template) if s.get("Sid") == "DrainContainerInstances"]
    assert drain["Action"] == "ecs:UpdateContainerInstancesState"
    assert ":container-instance/*" in json.dumps(drain["Resource"])
    assert ":cluster/*" in json.dumps(drain["Condition"]["ArnLike"]["ecs:cluster"])
    narrowed = synth(**{"recycler:ecs_clusters": "prod,batch"})
    [drain] = [s for s in statements(narrowed) if s.get("Sid") == "DrainContainerInstances"]
    clusters = json.dumps(drain["Condition"]["ArnLike"]["ecs:cluster"])
    assert ":cluster/prod" in clusters and ":cluster/batch" in clusters and ":cluster/*" not in clusters
    with pytest.raises(ConfigError, match="recycler:ecs_clusters"):
        synth(**{"recycler:ecs_clusters": "arn:aws:ecs:eu-west-1:111111111111:cluster/prod"})


def test_every_call_a_container_host_recycle_makes_is_granted(template: Template, stack: Any) -> None:
    """Record the API operations of a real run (ECS host drained, launch hook, warm pool) on the
    emulator and check each against the synthesized role: a missing grant fails on AWS, not here."""
    from recycler.local import emulator
    from recycler.models import ManualPayload, Settings
    from recycler.workflow.run import run
    from tests.faults.harness import FaultPort, services

    world = stack.world
    ids = world.group("apps", [9, 5], tags={"recycler:ecs-cluster": "prod"})
    ecs = world.session.client("ecs")
    for arn in emulator.create_ecs_cluster(ecs, "prod", ids, group="apps").values():
        emulator.run_tasks(ecs, "prod", arn, service=1)
    world.autoscaling.put_warm_pool(AutoScalingGroupName="apps", MinSize=1)
    called: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        prefix = {"auto-scaling": "autoscaling", "elastic-load-balancing": "elasticloadbalancing"}
        service = model.service_model.service_id.hyphenize()
        called.add(f"{prefix.get(service, service)}:{model.name}")

    world.session.events.register("before-call", record)
    run(FaultPort(), services(stack), Settings(), ManualPayload(poll_seconds=1, health_timeout_seconds=60))
    granted = {
        action
        for s in statements(template)
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    ours = {c for c in called if c.split(":")[0] in ("autoscaling", "ecs", "ec2", "elasticloadbalancing")}
    assert {"ecs:UpdateContainerInstancesState", "autoscaling:DescribeLifecycleHooks"} <= ours
    assert ours - granted == set()
