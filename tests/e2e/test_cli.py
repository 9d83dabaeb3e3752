"""The CLI as users run it: a subprocess against a moto server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from recycler.local import emulator
from recycler.local.demo import embedded_aws
from tests.conftest import REGION, World

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    emulator.reset()
    with embedded_aws() as endpoint:
        # The server's backends live in this process and outlive one test: start from empty.
        urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
        )
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        session = boto3.Session(region_name=REGION)
        yield World(session=session, images=emulator.stock_images(session.client("ec2")))
    emulator.reset()


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recycler", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )


def in_service(world: World, group: str) -> dict[str, str]:
    found = world.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
        "AutoScalingGroups"
    ][0]
    ids = [i["InstanceId"] for i in found["Instances"] if i["LifecycleState"] == "InService"]
    reservations = world.ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["ImageId"] for r in reservations for i in r["Instances"]}


def test_run_json_recycles_onto_the_newest_image(server: World) -> None:
    ids = server.group("web", [9, 5, 2])
    server.publish_patched_image()
    done = cli("run", "--json", "--poll", "1", "--seed", "3")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # stdout holds only the report
    [web] = report["groups"]
    assert web["outcome"] == "recycled" and web["victim"]["instance_id"] == ids[0]
    serving = in_service(server, "web")
    assert ids[0] not in serving and len(serving) == 3
    assert serving[web["replacement"]["instance_id"]] == server.images[1]


def test_failed_group_exits_one(server: World) -> None:
    server.group("web", [9, 5])
    emulator.sabotage("web", "unhealthy")
    done = cli("run", "--json", "--poll", "1")
    assert done.returncode == 1
    assert json.loads(done.stdout)["summary"]["failed"] == 1


def test_plan_terminates_nothing_and_prints_a_table(server: World) -> None:
    ids = server.group("web", [9, 5])
    done = cli("plan", "--group", "web")
    assert done.returncode == 0, done.stderr
    assert "planned" in done.stdout and ids[0] in done.stdout
    assert set(in_service(server, "web")) == set(ids)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["run", "--poll", "0"], "--poll"),
        (["run", "--health-timeout", "5"], "--health-timeout"),
        (["run", "--group", "bad:name"], "--group"),
        (["run", "--max-groups", "abc"], "--max-groups"),
        (["run", "--bogus"], "--bogus"),
    ],
)
def test_bad_arguments_exit_two_naming_the_flag(server: World, args: list[str], named: str) -> None:
    ids = server.group("web", [9, 5])
    done = cli(*args)
    assert done.returncode == 2
    assert named in done.stderr
    assert set(in_service(server, "web")) == set(ids)


def test_demo_tells_the_story_and_exits_zero(tmp_path: Path) -> None:
    report_file = tmp_path / "report.json"
    done = cli("demo", "--report-file", str(report_file))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SNS alert: recycler FAILED: api - replacement unhealthy" in done.stdout
    report = json.loads(report_file.read_text())
    outcomes = {g["group"]: g["outcome"] for g in report["groups"]}
    assert outcomes == {
        "api": "failed",
        "bastion": "recycled",
        "batch": "recycled",
        "fresh": "skipped",
        "jobs": "skipped",
        "reports": "skipped",
        "web": "recycled",
    }
    assert all(g["replacement"]["ami_refreshed"] for g in report["groups"] if g["outcome"] == "recycled")
