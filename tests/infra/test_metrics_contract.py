"""The metrics contract: every metric an alarm or a dashboard widget reads is one the real handler emits.

CloudWatch identifies a metric by namespace, name and its whole dimension set, and a SEARCH schema
`{Namespace,D1,D2}` matches only metrics whose dimension names are exactly D1 and D2
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Dimension,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/search-expression-syntax.html). An alarm on
a dimension set nobody emits stays OK forever with missing data "not breaching", so this test runs the
real Lambda handler on the emulator with the synthesized function's environment, parses the Embedded
Metric Format lines it prints, and matches them against the synthesized alarms and dashboard body.
"""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Template

from recycler.domain import METRIC_NAMESPACE
from recycler.local import emulator
from tests.conftest import Stack, invoke_durable
from tests.infra.test_stack import OVERRIDES, synth

Metric = tuple[str, str, frozenset[tuple[str, str]]]  # namespace, name, dimensions (name, value)
SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}\s+MetricName=\"(?P<name>\w+)\"")


@pytest.fixture(scope="module")
def template() -> Template:
    return synth(**OVERRIDES)


def function_environment(template: Template) -> dict[str, str]:
    [function] = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "recycler.handler.lambda_handler"}}
    ).values()
    return {k: v for k, v in function["Properties"]["Environment"]["Variables"].items() if isinstance(v, str)}


def emitted_metrics(printed: str) -> set[Metric]:
    """Every (namespace, metric, dimension set) in the EMF documents a run printed."""
    found: set[Metric] = set()
    for line in printed.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = frozenset((d, str(document[d])) for d in dimension_set)
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], dimensions))
    return found


def alarmed_metrics(template: Template) -> list[tuple[str, Metric]]:
    watched = []
    for logical_id, alarm in template.find_resources("AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        if props.get("Namespace") != METRIC_NAMESPACE:
            continue  # AWS/Lambda, AWS/SQS: emitted by AWS, not by the handler
        dimensions = frozenset((d["Name"], d["Value"]) for d in props.get("Dimensions", []))
        watched.append((logical_id, (props["Namespace"], props["MetricName"], dimensions)))
    return watched


def dashboard_reads(template: Template) -> tuple[list[Metric], list[tuple[str, frozenset[str], str]]]:
    """Plain metrics and SEARCH expressions (namespace, dimension names, metric) of the dashboard."""
    [dashboard] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    text = (
        "".join(p if isinstance(p, str) else "TOKEN" for p in body["Fn::Join"][1])
        if isinstance(body, dict)
        else body
    )
    metrics: list[Metric] = []
    searches = []
    for widget in json.loads(text)["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            if isinstance(row[0], dict):
                match = SEARCH.search(row[0]["expression"])
                assert match, row
                namespace, *names = [s.strip() for s in match["schema"].split(",")]
                searches.append((namespace, frozenset(names), match["name"]))
                continue
            names = [c for c in row if isinstance(c, str)]
            namespace, name, rest = names[0], names[1], names[2:]
            metrics.append((namespace, name, frozenset(zip(rest[::2], rest[1::2], strict=True))))
    return metrics, searches


@pytest.fixture
def run_output(
    template: Template, stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> set[Metric]:
    """What a run that recycles, fails a canary and skips emits, with the stack's environment."""
    for key, value in function_environment(template).items():
        if not key.startswith("RECYCLER_"):  # the stack's table and topic are the emulator's here
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", "5")
    monkeypatch.delenv("RECYCLER_STOP_ALARM_NAMES", raising=False)
    world = stack.world
    world.group("web", [14, 3])
    world.group("api", [12, 2, 1])  # the largest group: the canary for the new image (most headroom)
    world.group("young", [0.2, 0.1])  # skipped too-young
    world.publish_patched_image()
    emulator.sabotage("api", "unhealthy")  # the canary for the new image fails
    status, report, error = invoke_durable({"source": "schedule", "poll_seconds": 15})
    assert status == "SUCCEEDED", error
    assert report is not None and report["summary"]["failed"] >= 1
    return emitted_metrics(capsys.readouterr().out)


def test_every_alarm_watches_a_metric_the_handler_emits(template: Template, run_output: set[Metric]) -> None:
    ours = [(alarm, metric) for alarm, metric in alarmed_metrics(template) if metric[0] == METRIC_NAMESPACE]
    assert len(ours) >= 4  # Failed, AlertsNotDelivered, the two bit-rot alarms
    unmatched = [(alarm, metric) for alarm, metric in ours if metric not in run_output]
    assert unmatched == [], f"alarms on metrics nobody emits: {unmatched}; emitted: {sorted(run_output)}"


def test_every_dashboard_graph_reads_a_metric_the_handler_emits(
    template: Template, run_output: set[Metric]
) -> None:
    metrics, searches = dashboard_reads(template)
    ours = [m for m in metrics if m[0] == METRIC_NAMESPACE]
    assert ours and searches
    assert [m for m in ours if m not in run_output] == []
    emitted_schemas = {(ns, frozenset(d for d, _ in dims), name) for ns, name, dims in run_output}
    assert [s for s in searches if s not in emitted_schemas] == [], sorted(emitted_schemas)


def test_a_freshness_target_max_per_run_cannot_hold_is_metric_alarm_and_summary_alert(
    template: Template, stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 7-day target with recycler:max-per-run 1 on six instances (five over it): the handler's run
    emits FreshnessTargetMissed on the dimension set the stack's alarm watches, at the alarm's threshold,
    and the summary alert on the topic names the group, the numbers and the setting that fixes it."""
    for key, value in function_environment(template).items():
        if not key.startswith("RECYCLER_"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("RECYCLER_STOP_ALARM_NAMES", raising=False)
    tags = {"recycler:max-age-days": "7", "recycler:max-per-run": "1"}
    stack.world.group("web", [20.0, 19.0, 18.0, 17.0, 16.0, 1.2], tags=tags, max_size=8)
    stack.world.group("api", [3.0, 2.0])  # no target: never counted
    status, _, error = invoke_durable({"source": "schedule", "poll_seconds": 15})
    assert status == "SUCCEEDED", error
    printed = capsys.readouterr().out
    [alarm] = [
        props
        for props in (a["Properties"] for a in template.find_resources("AWS::CloudWatch::Alarm").values())
        if props.get("MetricName") == "FreshnessTargetMissed"
    ]
    watched = (
        alarm["Namespace"],
        alarm["MetricName"],
        frozenset((d["Name"], d["Value"]) for d in alarm["Dimensions"]),
    )
    values = [  # EMF holds a metric's value as a number or a list of numbers
        float(*document["FreshnessTargetMissed"])
        if isinstance(document["FreshnessTargetMissed"], list)
        else float(document["FreshnessTargetMissed"])
        for document in (json.loads(line) for line in printed.splitlines() if '"_aws"' in line)
        if "FreshnessTargetMissed" in document and document.get("Fleet") == "all"
    ]
    assert watched in emitted_metrics(printed) and values == [1] and values[0] >= alarm["Threshold"]
    assert alarm["AlarmActions"], "the alarm notifies the alert topic"
    [summary] = [a for a in stack.alerts() if a["Subject"].startswith("recycler run")]
    assert "1 missing their freshness target" in summary["Subject"]
    assert (
        "FRESHNESS TARGET MISSED: web (7-day target); needs 2 per run; recycler:max-per-run 1; reaches "
        in summary["Message"]
    )
    assert "fix: set the tag recycler:max-per-run to 2 (or remove it)" in summary["Message"]
    assert [line for line in summary["Message"].splitlines() if line.startswith("FRESHNESS")] == [
        next(line for line in summary["Message"].splitlines() if "FRESHNESS TARGET MISSED: web" in line)
    ]  # api has no target
