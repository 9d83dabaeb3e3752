"""Every environment the stack synthesizes is one the function loads: the function's
Environment.Variables, with CloudFormation's references resolved to plausible values, go through
recycler.models.load_settings exactly as the handler reads them on every run.

A variable the stack sets that Settings does not know (RECYCLER_TRACING once) fails every run with
"unknown field"; synth and cdk-nag cannot see it, this test does.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from infra.config import DeployConfig
from infra.stack import build_app
from recycler.models import load_settings

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
ACCOUNT, REGION = "111111111111", "eu-west-1"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
# What Ref returns for the resource types the function's environment names (CloudFormation template
# reference, "Return values"): a topic's ARN, a table's name.
REF = {
    "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:Recycler-{{}}-1A2B3C",
    "AWS::DynamoDB::Table": "Recycler-{}-1A2B3C",
}

EVERYTHING = {
    "recycler:schedule_expression": "cron(30 6 ? * MON-FRI *)",
    "recycler:schedule_time_zone": "Europe/Berlin",
    "recycler:schedule_enabled": "false",
    "recycler:tag_prefix": "fleet:",
    "recycler:alert_emails": ["ops@example.com"],
    "recycler:dry_run": "true",
    "recycler:max_concurrency": "3",
    "recycler:max_groups_per_run": "20",
    "recycler:failures_before_stop": "2",
    "recycler:stop_alarm_names": "checkout-5xx,latency-p99",
    "recycler:kill_switch_parameter": "/ops/recycler/stop",
    "recycler:blackout_windows": ["2026-12-24T00:00Z/2026-12-27T00:00Z"],
    "recycler:blackout_weekdays": "Sat,Sun",
    "recycler:min_age_days": "2.5",
    "recycler:min_interval_hours": "30",
    "recycler:max_age_days": "7",
    "recycler:bit_rot_days": "10",
    "recycler:image_rot_days": "20",
    "recycler:log_retention_days": "30",
    "recycler:tracing": "true",
    "recycler:execution_timeout_hours": "6",
    "recycler:ecs_clusters": "prod,batch",
    "recycler:reserved_concurrency": "3",
    "recycler:bake_minutes": "15",
    "recycler:maintenance_windows": ["MON-FRI 08:00-17:00"],
    "recycler:publish_debounce_seconds": "60",
    "recycler:publish_triggers": ["ssm", "imagebuilder", "launch-template"],
    "recycler:publish_parameter_prefixes": ["/golden/"],
    "recycler:revert_on_canary_failure": "true",
    "recycler:events": "false",
}
MEMBER = {"account": ACCOUNT, "region": REGION}
CENTRAL = {"account": "999999999999", "region": "eu-central-1"}

# (context, stack to read, what Settings must hold); the defaults are Settings' own where a key is unset.
VARIANTS: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "defaults": (
        {},
        "Recycler",
        {
            "tracing": False,
            "max_age_days": None,
            "kill_switch_parameter": "/recycler/kill-switch",
            "events_bus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
        },
    ),
    "everything set": (
        EVERYTHING,
        "Recycler",
        {
            "tracing": True,
            "schedule_expression": "cron(30 6 ? * MON-FRI *)",
            "schedule_time_zone": "Europe/Berlin",
            "tag_prefix": "fleet:",
            "dry_run": True,
            "max_concurrency": 3,
            "max_groups_per_run": 20,
            "failures_before_stop": 2,
            "stop_alarm_names": ("checkout-5xx", "latency-p99"),
            "kill_switch_parameter": "/ops/recycler/stop",
            "blackout_windows": ("2026-12-24T00:00Z/2026-12-27T00:00Z",),
            "blackout_weekdays": ("Sat", "Sun"),
            "min_age_days": 2.5,
            "min_interval_hours": 30.0,
            "max_age_days": 7.0,
            "bake_minutes": 15.0,
            "maintenance_windows": ("MON-FRI 08:00-17:00",),
            "publish_debounce_seconds": 60,
            "revert_on_canary_failure": True,
            "events_bus": None,
        },
    ),
    "many accounts with a central topic": (
        {"recycler:environments": [MEMBER], "recycler:central": CENTRAL, "recycler:tracing": "true"},
        f"Recycler-{ACCOUNT}-{REGION}",
        {
            "tracing": True,
            "central_topic_arn": "arn:aws:sns:eu-central-1:999999999999:recycler-central-alerts",
        },
    ),
}


def resolve(value: Any, resources: dict[str, Any]) -> str:
    """A CloudFormation value as the function would see it once deployed."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Ref":
            if argument in PSEUDO:
                return PSEUDO[argument]
            return REF[resources[argument]["Type"]].format(argument)
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(resolve(part, resources) for part in parts)
        if function == "Fn::GetAtt" and argument[1] == "Arn":
            return f"arn:aws:{resources[argument[0]]['Type'].split('::')[1].lower()}:{REGION}:{ACCOUNT}:{argument[0]}"
    raise AssertionError(f"no plausible value for {value!r}: teach resolve() what CloudFormation returns")


def function_environment(context: dict[str, Any], stack_name: str) -> dict[str, str]:
    base = json.loads((ROOT / "cdk.json").read_text())["context"]
    base.update({"aws:cdk:bundling-stacks": [], **context})
    template = build_app(base).synth().get_stack_by_name(stack_name).template
    resources = template["Resources"]
    [function] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    variables = function["Properties"]["Environment"]["Variables"]
    return {name: resolve(value, resources) for name, value in variables.items()}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_function_loads_every_environment_the_stack_synthesizes(variant: str) -> None:
    context, stack_name, expected = VARIANTS[variant]
    environment = function_environment(context, stack_name)
    settings = load_settings(environment)  # raises InputError naming the variable the function refuses
    assert settings.topic_arn and settings.topic_arn.startswith("arn:aws:sns:")
    assert settings.ledger_table
    for name, value in expected.items():
        assert getattr(settings, name) == value, name


def test_the_variants_set_every_context_key_the_stack_accepts() -> None:
    """A new recycler:* key must be added to a variant above, so its variable is loaded here too."""
    accepted = {f"recycler:{spec.name}" for spec in fields(DeployConfig)} | {
        "recycler:environments",
        "recycler:central",
    }
    covered = {key for context, _, _ in VARIANTS.values() for key in context}
    assert accepted - covered == set()
