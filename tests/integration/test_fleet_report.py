"""`python -m recycler fleet` against the emulator: the live fleet's instance and image ages, the counts
over the thresholds, the histogram, as a table, JSON (the auditor's document) and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest

from infra.config import DeployConfig
from recycler.cli import fleet_report
from recycler.cli.main import main
from recycler.local import emulator
from recycler.policy.ages import percentile
from tests.conftest import NOW, REGION, World


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fleet(world: World) -> World:
    world.group("web", [20, 3, 1])
    world.group("api", [40, 2])
    world.group("off", [100, 100], enabled="false")  # not opted in: not in the report
    emulator.set_image_created(world.images[0], NOW - timedelta(days=45), REGION)
    return world


def test_json_is_the_auditors_document(fleet: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "fleet", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["account"] == emulator.DEFAULT_ACCOUNT and report["region"] == REGION
    assert report["thresholds"] == {"bit_rot_days": 14.0, "image_rot_days": 30.0}
    groups = {g["group"]: g for g in report["groups"]}
    assert set(groups) == {"web", "api"}
    assert (groups["web"]["instances"], groups["web"]["over_bit_rot"]) == (3, 1)
    assert (groups["api"]["instances"], groups["api"]["over_bit_rot"]) == (2, 1)
    assert groups["web"]["over_image_rot"] == 3 and groups["web"]["max_image_age_days"] == pytest.approx(
        45, abs=0.1
    )
    assert groups["api"]["max_instance_age_days"] == pytest.approx(40, abs=0.1)
    assert [
        round(i["age_days"]) for i in sorted(groups["web"]["instance_list"], key=lambda i: i["age_days"])
    ] == [
        1,
        3,
        20,
    ]
    fleet_ = report["fleet"]
    assert (fleet_["groups"], fleet_["instances"], fleet_["over_bit_rot"], fleet_["over_image_rot"]) == (
        2,
        5,
        2,
        5,
    )
    assert fleet_["p50_instance_age_days"] == pytest.approx(3, abs=0.1)
    assert fleet_["p95_instance_age_days"] == fleet_["max_instance_age_days"] == pytest.approx(40, abs=0.1)
    counts = {(b["from_days"], b["to_days"]): b["instances"] for b in fleet_["histogram"]}
    assert counts[(1, 3)] == 2 and counts[(3, 7)] == 1 and counts[(14, 30)] == 1 and counts[(30, 60)] == 1
    assert sum(counts.values()) == 5


def test_thresholds_are_flags(fleet: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "fleet", "--json", "--bit-rot-days", "2.5", "--image-rot-days", "60")
    report = json.loads(out)
    assert code == 0 and (report["fleet"]["over_bit_rot"], report["fleet"]["over_image_rot"]) == (3, 0)


def test_csv_one_row_per_group(fleet: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "fleet", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and tuple(rows[0]) == fleet_report.GROUP_COLUMNS
    assert [(r["group"], r["over_bit_rot"]) for r in rows] == [("api", "1"), ("web", "1")]


def test_table_and_histogram(fleet: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "fleet")
    assert code == 0
    assert "fleet: 5 instances in 2 groups; instance age p50 3.0 d, p95 40.0 d, max 40.0 d" in out
    assert "2 over 14 d, 5 on an AMI over 30 d" in out
    assert "   1-3 d " in out and "   90+ d" in out and "█" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bit-rot-days", "-1"], "must be greater than 0"),
        (["--image-rot-days", "old"], "is not a number"),
        (["--json", "--csv"], "--json and --csv contradict each other"),
    ],
)
def test_bad_flags_exit_two(
    world: World, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = cli(capsys, "fleet", *args)
    assert code == 2 and message in err and out == ""


def test_no_region_is_the_same_message_as_plan(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    code, _, err = cli(capsys, "fleet")
    assert code == 2 and "recycler: cannot run: no AWS region" in err


def test_an_empty_fleet_is_a_report_not_an_error(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "fleet", "--json")
    report = json.loads(out)
    assert code == 0 and report["groups"] == [] and report["fleet"]["max_instance_age_days"] is None


def test_the_default_thresholds_are_the_stacks_alarm_thresholds() -> None:
    assert DeployConfig.bit_rot_days == fleet_report.BIT_ROT_DAYS
    assert DeployConfig.image_rot_days == fleet_report.IMAGE_ROT_DAYS


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([float(v) for v in range(1, 101)], 95) == 95.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0


def test_a_freshness_target_shows_when_it_holds_or_never_and_why(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    target = {"recycler:max-age-days": "7"}
    world.group("capped", [20, 19, 18, 17, 16, 1.2], tags={**target, "recycler:max-per-run": "1"}, max_size=8)
    world.group("uncapped", [20, 19, 18, 17, 16, 1.2], tags=target, max_size=8)
    world.group("plain", [20, 3])  # no target: nothing to say
    code, out, err = cli(capsys, "fleet", "--json")
    assert code == 0, err
    groups = {g["group"]: g for g in json.loads(out)["groups"]}
    assert groups["plain"]["target"] is None
    capped = groups["capped"]["target"]
    assert capped["target_days"] == 7 and capped["oldest_age_days"] == pytest.approx(20, abs=0.1)
    assert capped["within_target_on"] is None
    assert capped["at_the_planned_rate"].startswith(
        "never at this rate: freshness target 7 d MISSED: needs 2 per run; recycler:max-per-run 1; reaches "
    )
    # Without the cap, the next scheduled runs drain the backlog: a date within the next week.
    within = date.fromisoformat(groups["uncapped"]["target"]["within_target_on"])
    assert NOW.date() <= within <= NOW.date() + timedelta(days=7)
    code, out, _ = cli(capsys, "fleet")
    assert "capped: target 7 d, oldest 20.0 d; never at this rate: freshness target 7 d MISSED" in out
    assert f"uncapped: target 7 d, oldest 20.0 d; within from {within.isoformat()}" in out
