"""The fleet's age distribution on the dashboard: the run emits p50 and p95 instance age beside the
oldest, computed over every instance of every opted-in group (the skipped ones too), and they are the
same figures `python -m recycler fleet --json` gives an auditor for the same fleet."""

from __future__ import annotations

import json

import pytest

from recycler.cli.main import main
from tests.conftest import Stack, invoke_durable
from tests.infra.test_metrics_contract import emitted_metrics


def emf_values(printed: str, name: str) -> list[float]:
    values = []
    for line in printed.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            if any(m["Name"] == name for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]):
                value = document[name]
                values += value if isinstance(value, list) else [value]
    return values


def test_run_emits_the_fleet_age_percentiles_the_fleet_report_shows(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    world = stack.world
    world.group("wide", [float(day) for day in range(1, 21)], max_size=25)  # 1..20 days
    world.group("old", [40.0, 30.0])
    world.group("young", [0.5])  # skipped too-young: its instance still counts
    world.group("off", [400.0, 400.0], enabled="false")  # not opted in: not in the fleet

    code = main(["fleet", "--json"])
    fleet = json.loads(capsys.readouterr().out)["fleet"]
    assert code == 0

    status, report, error = invoke_durable({"source": "schedule", "dry_run": True})
    assert status == "SUCCEEDED", error
    printed = capsys.readouterr().out

    # 23 instances: nearest rank p50 is the 12th (11 days), p95 the 22nd (30 days), max 40 days. The ages
    # grow while the test runs (0.01 d is 14 minutes; a loaded machine has taken that long): a rank
    # either side is a day away.
    assert fleet["instances"] == 23
    assert (fleet["p50_instance_age_days"], fleet["p95_instance_age_days"]) == pytest.approx(
        (11.0, 30.0), abs=0.05
    )
    assert report is not None
    assert report["fleet_instance_age_p50_days"] == pytest.approx(fleet["p50_instance_age_days"], abs=0.01)
    assert report["fleet_instance_age_p95_days"] == pytest.approx(fleet["p95_instance_age_days"], abs=0.01)
    assert emf_values(printed, "FleetInstanceAgeP50Days") == [report["fleet_instance_age_p50_days"]]
    assert emf_values(printed, "FleetInstanceAgeP95Days") == [report["fleet_instance_age_p95_days"]]
    assert emf_values(printed, "FleetOldestInstanceAgeDays") == [pytest.approx(40.0, abs=0.01)]
    dimensions = {dims for _, name, dims in emitted_metrics(printed) if name.startswith("FleetInstanceAge")}
    assert dimensions == {frozenset({("service", "recycler"), ("Fleet", "all")})}
