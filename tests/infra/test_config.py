"""Deploy-time configuration: one source for defaults (the runtime's Settings), and a synth that refuses
what the function would refuse on every run, naming the context key and the fix."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.config import INFRA_DEFAULTS, ConfigError, DeployConfig
from infra.stack import build_app
from recycler.domain import Reason
from recycler.models import Settings, load_settings
from recycler.policy.guards import run_guard

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


def build(**context: Any) -> None:
    """Construct the app as `cdk synth` does (validation runs while the stacks are built)."""
    base = json.loads((ROOT / "cdk.json").read_text())["context"]
    build_app({**base, "aws:cdk:bundling-stacks": [], **context})


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        # Settings' own validators: ZoneInfo, the schedule parser, the weekday list, Field bounds.
        (
            "schedule_time_zone",
            "Berlin",
            r"recycler:schedule_time_zone='Berlin': .*IANA name such as Europe/Berlin",
        ),
        (
            "schedule_expression",
            "cron(0 10 * * MON-FRI *)",
            r"recycler:schedule_expression='cron\(0 10 \* \* MON-FRI \*\)': .*\?",
        ),
        ("schedule_expression", "cron(0 10 L * ? *)", r"recycler:schedule_expression=.*L, W and #"),
        ("blackout_weekdays", "Weekend", r"recycler:blackout_weekdays='Weekend': .*'Weekend'.*Mon, Tue"),
        ("blackout_windows", "2026-12-24/2026-12-27", r"recycler:blackout_windows=.*needs a time zone"),
        ("min_age_days", "-1", r"recycler:min_age_days='-1': .*greater than or equal to 0"),
        ("failures_before_stop", "0", r"recycler:failures_before_stop='0': .*greater than or equal to 1"),
        ("max_concurrency", "51", r"recycler:max_concurrency='51': .*less than or equal to 50"),
        ("max_age_days", "-3", r"recycler:max_age_days='-3': .*greater than 0"),
        ("dry_run", "maybe", r"recycler:dry_run='maybe': .*valid boolean"),
    ],
)
def test_synth_refuses_what_the_function_would_refuse_on_every_run(key: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as refused:
        build(**{f"recycler:{key}": value})
    # The fix: what the default is, so the operator can fall back to it.
    assert "default" in str(refused.value)


@pytest.mark.parametrize("hours", ["0", "8761"])
def test_the_execution_timeout_is_within_lambdas_limit(hours: str) -> None:
    # Lambda's limit for one durable execution is a year; the function's own Settings says so at synth.
    with pytest.raises(ConfigError, match=rf"recycler:execution_timeout_hours='{hours}': Input should be"):
        build(**{"recycler:execution_timeout_hours": hours})


def test_an_unknown_key_is_refused_with_the_nearest_known_one() -> None:
    with pytest.raises(
        ConfigError, match=r"recycler:max_concurency: unknown .*did you mean recycler:max_concurrency"
    ):
        build(**{"recycler:max_concurency": "3"})
    with pytest.raises(ConfigError, match=r"recycler:colour: unknown .*docs/configuration.md, Context keys"):
        build(**{"recycler:colour": "blue"})


def test_what_synth_accepts_is_what_the_function_loads() -> None:
    """Context that passes synth, e.g. "0" as 'no freshness target', reaches Settings as it means: the
    synthesized function's environment, loaded as the handler loads it on every run."""
    from tests.infra.test_function_environment import function_environment

    environment = function_environment(
        {"recycler:max_age_days": "0", "recycler:blackout_weekdays": "sat,SUN"}, "Recycler"
    )
    settings = load_settings(environment)
    assert settings.max_age_days is None  # no freshness target, not "every instance is due"
    saturday, sunday, monday = (datetime(2026, 12, day, 12, tzinfo=UTC) for day in (5, 6, 7))

    def blackout(moment: datetime) -> object:
        return run_guard(
            moment, kill_switch=None, firing_alarms=(), blackout_weekdays=settings.blackout_weekdays
        )

    assert blackout(saturday) == (Reason.BLACKOUT, "sat is a blackout weekday")
    assert blackout(sunday) == (Reason.BLACKOUT, "sun is a blackout weekday")
    assert blackout(monday) is None
    assert "RECYCLER_MAX_AGE_DAYS" not in environment


def test_a_value_that_would_not_reach_the_function_unchanged_is_refused() -> None:
    """Lists travel as comma-separated variables: an alarm name with a comma would arrive as two."""
    with pytest.raises(
        ConfigError, match=r"recycler:stop_alarm_names=\('a,b',\) reaches the function as \('a', 'b'\)"
    ):
        build(**{"recycler:stop_alarm_names": ["a,b"]})


def test_defaults_come_from_the_runtime_settings() -> None:
    """A stack synthesized without any recycler:* context runs a function whose settings are the
    runtime's defaults (what a CLI run without RECYCLER_* variables uses), read from the synthesized
    environment, not from DeployConfig."""
    from tests.infra.test_function_environment import function_environment

    runtime = set(Settings.model_fields) & {spec.name for spec in fields(DeployConfig)}
    assert {"tag_prefix", "max_concurrency", "schedule_expression", "tracing", "max_age_days"} <= runtime
    deployed = load_settings(function_environment({}, "Recycler"))
    local = Settings()
    differs = {
        name: (getattr(deployed, name), getattr(local, name))
        for name in sorted(runtime)
        if getattr(deployed, name) != getattr(local, name)
    }
    # The one exception says why: the stack creates the parameter, so it always has a name.
    assert differs == {"kill_switch_parameter": (INFRA_DEFAULTS["kill_switch_parameter"], None)}


def test_cdk_json_repeats_no_default() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    defaults = {spec.name: spec.default for spec in fields(DeployConfig)}
    repeated = [
        key
        for key, value in context.items()
        if key.startswith("recycler:")
        and defaults.get(key.removeprefix("recycler:"))
        == (tuple(value) if isinstance(value, list) else value)
    ]
    assert repeated == []


def test_revert_on_canary_failure_needs_the_parameters_it_may_put_back() -> None:
    """Its ssm:PutParameter grant is scoped to recycler:publish_parameter_prefixes: none, no grant."""
    with pytest.raises(
        ConfigError, match="revert_on_canary_failure needs recycler:publish_parameter_prefixes"
    ):
        build(**{"recycler:revert_on_canary_failure": "true"})
    build(**{"recycler:revert_on_canary_failure": "true", "recycler:publish_parameter_prefixes": "/golden/"})


@pytest.mark.parametrize(
    "key",
    [
        "recyler:max_concurrency",
        "recycle:max_concurrency",
        "Recycler:max_concurrency",
        "recycler-max_concurrency",
    ],
)
def test_a_key_under_a_near_miss_prefix_is_refused_with_the_known_key(key: str) -> None:
    """Such a key is meant for recycler; ignored, its default would be deployed unnoticed."""
    with pytest.raises(
        ConfigError, match=rf"^{key}: unknown context key .*did you mean recycler:max_concurrency\?"
    ):
        build(**{key: "3"})


def test_other_namespaces_are_not_near_misses() -> None:
    from infra.config import _after_a_near_miss_prefix

    for key in (
        "aws:cdk:bundling-stacks",
        "@aws-cdk/core:validateAgainstDefaultRules",
        "cdk-nag:x",
        "acknowledge:x",
    ):
        assert _after_a_near_miss_prefix(key) is None


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("bit_rot_days", "-1", r"recycler:bit_rot_days=-1: .*always fire"),
        ("bit_rot_days", "0", r"recycler:bit_rot_days=0: .*always fire"),
        ("image_rot_days", "0", r"recycler:image_rot_days=0: .*always fire"),
        ("image_rot_days", "nan", r"recycler:image_rot_days=nan: .*never fire"),
        ("bit_rot_days", "inf", r"recycler:bit_rot_days=inf: .*never fire"),
        (
            "image_rot_days",
            "100000",
            r"recycler:image_rot_days=100000: .*EC2 opened on 2006-08-25.*never fire",
        ),
    ],
)
def test_an_age_alarm_that_would_always_or_never_fire_is_refused(key: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        build(**{f"recycler:{key}": value})


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"recyler:max_concurrency": "3"}, "recyler:max_concurrency: unknown context key"),
        ({"recycler:bit_rot_days": "-1"}, "recycler:bit_rot_days=-1: "),
    ],
)
def test_synth_refuses_in_one_line_without_a_traceback(
    context: dict[str, str], named: str, tmp_path: Path
) -> None:
    """app.py as `cdk synth -c key=value` runs it: the CLI hands the context over in CDK_CONTEXT_JSON."""
    import subprocess
    import sys

    environment = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**context, "aws:cdk:bundling-stacks": []}),
        "CDK_OUTDIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        # This machine's Node 20 banner is not the refusal under test (the docs ask for Node 22+).
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    synth = subprocess.run(
        [sys.executable, "app.py"],
        check=False,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in synth.stderr.splitlines() if line.strip()]
    assert synth.returncode == 2, synth.stderr
    assert len(lines) == 1, synth.stderr
    assert named in lines[0] and "Traceback" not in synth.stderr
    assert not list(tmp_path.glob("*.template.json"))  # nothing synthesized
