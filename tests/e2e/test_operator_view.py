"""The operator's view is the truth (issue 39), end to end: `python -m recycler` as a subprocess
against the moto server. The plan is what the run does, one account is recycled once however many
profiles reach it, and every command speaks the AWS CLI's output language."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from recycler.aws.ledger import Ledger
from recycler.cli.watch import watch_group_command
from recycler.local import emulator
from tests.conftest import REGION, World
from tests.e2e.test_cli import ROOT, cli, in_service, opted_in_group_in_us_west_2

pytestmark = pytest.mark.e2e
TABLE = "recycler-ledger"


def answer_at_a_terminal(args: list[str], answer: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with a terminal on stdin (so it asks), answer, and return its exit code and stderr."""
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "recycler", *args],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**{k: v for k, v in os.environ.items() if k != "CI"}, **env},
        cwd=ROOT,
    )
    os.close(follower)
    os.write(leader, answer.encode() + b"\n")
    _out, err = process.communicate(timeout=240)
    os.close(leader)
    return process.returncode, err


def prompt_victims(err: str) -> set[str]:
    """The instance ids the confirmation lists, between its first line and `Proceed?`."""
    start = err.index("recycler will act on")
    return set(re.findall(r"\bi-[0-9a-f]+\b", err[start : err.index("Proceed?", start)]))


def terminated_since(world: World, before: dict[str, dict[str, str]]) -> set[str]:
    """Instances that were InService in a group before and are gone from it (EC2's side, not the report)."""
    return {i for group, ids in before.items() for i in ids if i not in in_service(world, group)}


def test_plan_prompt_and_run_agree_on_a_condemned_image_and_an_in_flight_claim(server: World) -> None:
    """After a failed canary the ledger condemns the image `search` launches; an interrupted run left its
    claim on `cart`. A forced plan, the confirmation and the run then name the same one victim (web's)."""
    web = server.group("web", [9, 5], template="lt3")
    cart = server.group("cart", [9, 5], template="lt2")
    server.group("search", [9, 5])
    server.publish_patched_image()  # search launches images[1] ...
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    ledger = Ledger(TABLE, session=server.session)
    now = datetime.now(UTC)
    ledger.record_condemned(server.images[1], "search", "an-earlier-run", now, "replacement unhealthy")
    ledger.claim("cart", "an-interrupted-run", cart[0], now - timedelta(minutes=10), timedelta(hours=20))
    env = {"RECYCLER_LEDGER_TABLE": TABLE}

    plan = cli("plan", "--force", "--json", env=env)
    assert plan.returncode == 0, plan.stderr
    outcomes = {g["group"]: (g["outcome"], g["reason"]) for g in json.loads(plan.stdout)["groups"]}
    assert outcomes == {
        "web": ("planned", "oldest-instance"),
        "cart": ("skipped", "recently-recycled"),
        "search": ("skipped", "canary-failed"),
    }
    planned = {
        g["victim"]["instance_id"] for g in json.loads(plan.stdout)["groups"] if g["outcome"] == "planned"
    }

    before = {g: in_service(server, g) for g in ("web", "cart", "search")}
    code, err = answer_at_a_terminal(["run", "--force", "--poll", "1"], "y", env)
    assert code == 0, err
    assert prompt_victims(err) == {web[0]}, err
    assert terminated_since(server, before) == {web[0]} == planned


# ---- 2. one account and region is covered once, however many profiles reach it ----------------


def two_profiles_for_one_account(tmp_path: Path) -> dict[str, str]:
    """Two named profiles (say two SSO roles) that reach the same account and region."""
    config = tmp_path / "config"
    config.write_text(f"[profile admin]\nregion = {REGION}\n\n[profile ops]\nregion = {REGION}\n")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[admin]\naws_access_key_id = testing\naws_secret_access_key = testing\n\n"
        "[ops]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}


def test_two_profiles_for_one_account_recycle_each_group_once(server: World, tmp_path: Path) -> None:
    server.group("golden", [9, 5, 2])
    server.group("web", [8, 4, 2], template="lt2")
    before = {g: in_service(server, g) for g in ("golden", "web")}
    env = two_profiles_for_one_account(tmp_path)
    args = ("--profile", "admin", "--profile", "ops", "--group", "golden", "--group", "web")
    plan = cli_without("AWS_DEFAULT_REGION", args=("plan", "--json", *args), env=env)
    assert plan.returncode == 0, plan.stderr
    report = json.loads(plan.stdout)
    assert sorted(g["group"] for g in report["groups"]) == ["golden", "web"]
    assert report["region"] == REGION
    assert "profile ops reaches account 123456789012 us-east-1, as profile admin does: covered once" in (
        plan.stderr
    )
    done = cli_without("AWS_DEFAULT_REGION", args=("run", "--yes", "--force", "--poll", "1", *args), env=env)
    assert done.returncode == 0, done.stderr
    gone = {g: {i for i in ids if i not in in_service(server, g)} for g, ids in before.items()}
    assert {g: len(ids) for g, ids in gone.items()} == {"golden": 1, "web": 1}


def cli_without(*names: str, args: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recycler", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**{k: v for k, v in os.environ.items() if k not in names}, **env},
        cwd=ROOT,
        check=False,
    )


def test_fleet_and_history_cover_two_regions(server: World) -> None:
    server.group("web", [9, 5])
    opted_in_group_in_us_west_2("api")
    for region in (REGION, "us-west-2"):
        emulator.create_ledger_table(boto3.Session(region_name=region).client("dynamodb"), TABLE)
    env = {"RECYCLER_LEDGER_TABLE": TABLE}
    regions = ("--region", REGION, "--region", "us-west-2")
    ran = cli("run", "--yes", "--force", "--poll", "1", *regions, env=env)
    assert ran.returncode == 0, ran.stderr

    fleet = cli("fleet", "--output", "json", *regions)
    assert fleet.returncode == 0, fleet.stderr
    assert sorted(g["group"] for g in json.loads(fleet.stdout)["groups"]) == [
        f"{REGION}/web",
        "us-west-2/api",
    ]
    history = cli("history", "--csv", *regions, env=env)
    assert history.returncode == 0, history.stderr
    rows = list(csv.DictReader(history.stdout.splitlines()))
    assert sorted((r["region"], r["group"]) for r in rows) == [
        (REGION, f"{REGION}/web"),
        ("us-west-2", "us-west-2/api"),
    ]


# ---- 3. one output contract on every command ---------------------------------------------------


@pytest.mark.parametrize(
    ("command", "query", "expected"),
    [
        (("plan",), "groups[].group", ["web"]),
        (("run", "--dry-run"), "groups[].outcome", ["planned"]),
        (("fleet",), "groups[].instances", [2]),
        (("history",), "[].group", ["web"]),
    ],
)
def test_every_command_takes_output_json_and_a_query(
    server: World, command: tuple[str, ...], query: str, expected: list[object]
) -> None:
    server.group("web", [9, 5])
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    env = {"RECYCLER_LEDGER_TABLE": TABLE}
    if command == ("history",):
        assert cli("run", "--yes", "--poll", "1", env=env).returncode == 0
    whole = cli(*command, "--output", "json", env=env)
    assert whole.returncode == 0, whole.stderr
    json.loads(whole.stdout)  # stdout holds only the document
    picked = cli(*command, "--output", "json", "--query", query, env=env)
    assert picked.returncode == 0, picked.stderr
    assert json.loads(picked.stdout) == expected


def test_contradictory_outputs_are_refused(server: World) -> None:
    for command in ("plan", "fleet", "history"):
        done = cli(command, "--json", "--output", "csv")
        assert done.returncode == 2, done.stderr
        assert "--json and --output csv contradict each other" in done.stderr
        assert done.stdout == ""


@pytest.mark.parametrize("command", [("fleet", "--csv"), ("plan", "--json"), ("history", "--json")])
def test_a_reader_that_goes_away_ends_quietly(server: World, command: tuple[str, ...]) -> None:
    """`| head -1`, made certain: the reading end is closed before the CLI writes anything."""
    for number in range(3):
        server.group(f"web-{number}", [9, 5])
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    process = subprocess.Popen(
        [sys.executable, "-m", "recycler", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "RECYCLER_LEDGER_TABLE": TABLE},
        cwd=ROOT,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    process.wait(timeout=120)
    assert "Traceback" not in err and "Error" not in err, err
    assert "could not be written" not in err, err
    assert process.returncode in (0, 141), err


# ---- 3. tables readable at 80 columns -----------------------------------------------------------

INSTANCE_ID = re.compile(r"i-[0-9a-f]+")


def test_every_table_fits_80_columns_and_never_splits_an_instance_id(server: World) -> None:
    """COLUMNS=80, as a shell exports it for an 80-column terminal: plan, run, fleet and history print
    no line longer than 80 and every instance id whole (a fragment at a line's end would be shorter)."""
    server.group("web", [9, 5])
    server.group("checkout-payments-reconciliation", [9, 5], template="lt2")
    server.group("search", [0.1, 0.2])  # too young: a reason on its own line
    server.publish_patched_image()
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    env = {"RECYCLER_LEDGER_TABLE": TABLE, "COLUMNS": "80"}
    reservations = server.ec2.describe_instances()["Reservations"]
    before = {i["InstanceId"] for r in reservations for i in r["Instances"]}

    printed = {}
    for command in (
        ("plan",),
        ("run", "--yes", "--poll", "1"),
        ("fleet",),
        ("history",),
    ):
        done = cli(*command, env=env)
        assert done.returncode == 0, done.stderr
        printed[command[0]] = done.stdout
        for line in done.stdout.splitlines():
            assert len(line) <= 80, f"{command[0]}: {len(line)} columns: {line!r}"
            for found in INSTANCE_ID.findall(line):
                assert len(found) == len("i-0123456789abcdef0"), f"{command[0]}: split id in {line!r}"
    reservations = server.ec2.describe_instances()["Reservations"]
    launched = {i["InstanceId"] for r in reservations for i in r["Instances"]} - before
    assert launched  # the run recycled: its replacements appear whole in run's and history's output
    for replacement in launched:
        assert replacement in printed["run"] and replacement in printed["history"]
    assert "too-young" in printed["plan"] and "checkout-payments-reconciliation" in printed["plan"]


# ---- 5. drills: --bake-minutes and --canary; AWS_PROFILE named --------------------------------


def proven_by(world: World, image: str) -> dict[str, str] | None:
    """The ledger's PROVEN record of an image, as DynamoDB holds it (not the report)."""
    item = world.session.client("dynamodb").get_item(
        TableName=TABLE, Key={"group_name": {"S": f"image#{image}"}, "record": {"S": "proven"}}
    )
    return {k: str(next(iter(v.values()))) for k, v in item["Item"].items()} if "Item" in item else None


def test_bake_minutes_shortens_a_canarys_bake(server: World) -> None:
    """The deployed default bakes a canary 30 minutes (RECYCLER_BAKE_MINUTES here): `--bake-minutes 0`
    lets a drill prove the new image within the command, and the ledger records it proven."""
    before = server.group("web", [9, 5])
    server.publish_patched_image()  # web now launches images[1]: unproven, so its recycle is a canary
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    env = {"RECYCLER_LEDGER_TABLE": TABLE, "RECYCLER_BAKE_MINUTES": "30"}

    refused = cli("run", "--yes", "--bake-minutes", "-1", env=env)
    assert refused.returncode == 2 and "--bake-minutes" in refused.stderr, refused.stderr
    done = cli("run", "--yes", "--poll", "1", "--bake-minutes", "0", "--json", env=env)
    assert done.returncode == 0, done.stderr
    [group] = json.loads(done.stdout)["groups"]
    assert group["canary"] is True
    assert terminated_since(server, {"web": dict.fromkeys(before, "")}) == {group["victim"]["instance_id"]}
    proven = proven_by(server, server.images[1])
    assert proven is not None and proven["run_id"] == json.loads(done.stdout)["run_id"]


def test_canary_drills_an_image_an_earlier_canary_condemned(server: World) -> None:
    """The canary-failed advice's CLI equivalent: a condemned image is never launched again by a plain run,
    and `run --canary` tries it anyway (the drill), proving it when its replacement stays healthy."""
    before = server.group("web", [9, 5])
    server.publish_patched_image()
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    ledger = Ledger(TABLE, session=server.session)
    ledger.record_condemned(
        server.images[1], "web", "an-earlier-run", datetime.now(UTC), "replacement unhealthy"
    )
    env = {"RECYCLER_LEDGER_TABLE": TABLE}

    plain = cli("run", "--yes", "--poll", "1", "--json", env=env)
    assert plain.returncode == 0, plain.stderr
    assert [g["reason"] for g in json.loads(plain.stdout)["groups"]] == ["canary-failed"]
    assert terminated_since(server, {"web": dict.fromkeys(before, "")}) == set()  # EC2: nothing terminated

    drill = cli("run", "--yes", "--poll", "1", "--canary", "--bake-minutes", "0", "--json", env=env)
    assert drill.returncode == 0, drill.stderr
    [group] = json.loads(drill.stdout)["groups"]
    assert group["outcome"] == "recycled" and group["canary"] is True
    assert terminated_since(server, {"web": dict.fromkeys(before, "")}) == {group["victim"]["instance_id"]}
    assert in_service(server, "web")[group["replacement"]["instance_id"]] == server.images[1]
    assert proven_by(server, server.images[1]) is not None


@pytest.mark.parametrize("command", ["plan", "run", "fleet", "history"])
def test_a_missing_aws_profile_is_named_with_where_it_came_from(server: World, command: str) -> None:
    done = cli(command, env={"AWS_PROFILE": "nope"})
    assert done.returncode == 2, done.stderr
    assert "'nope'" in done.stderr and "AWS_PROFILE" in done.stderr, done.stderr
    assert "None" not in done.stderr and "Traceback" not in done.stderr


# ---- 6. Ctrl-C: undo what recycler started, keep a report, one command a line ------------------


def interrupt_at(monkeypatch: pytest.MonkeyPatch, wait_suffix: str) -> None:
    """Ctrl-C while the run waits: KeyboardInterrupt from the first wait whose name ends so."""
    from recycler.local.port import LocalPort

    original = LocalPort.wait_until

    def wait_until(self: LocalPort, name: str, *args: Any, **kwargs: Any) -> Any:
        if name.endswith(wait_suffix):
            raise KeyboardInterrupt
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(LocalPort, "wait_until", wait_until)


def claim_item(world: World, group: str) -> dict[str, Any] | None:
    item = world.session.client("dynamodb").get_item(
        TableName=TABLE, Key={"group_name": {"S": group}, "record": {"S": "claim"}}, ConsistentRead=True
    )
    return item.get("Item")


def test_ctrl_c_during_a_drain_puts_the_host_back_releases_the_claim_and_keeps_a_report(
    server: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recycler.cli.main import main

    ids = server.group("apps", [9, 5], tags={"recycler:ecs-cluster": "prod"})
    ecs = server.session.client("ecs")
    hosts = emulator.create_ecs_cluster(ecs, "prod", ids, group="apps")
    for arn in hosts.values():
        emulator.run_tasks(ecs, "prod", arn, service=2)
    emulator.drain_time("prod", 600)
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    monkeypatch.setenv("RECYCLER_LEDGER_TABLE", TABLE)
    interrupt_at(monkeypatch, "drain-wait")
    report_file = tmp_path / "report.json"

    assert main(["run", "--yes", "--poll", "1", "--report-file", str(report_file)]) == 130
    err = capsys.readouterr().err

    # The emulator's side: no host left DRAINING, no instance terminated, no claim left.
    described = ecs.describe_container_instances(cluster="prod", containerInstances=list(hosts.values()))
    assert {c["status"] for c in described["containerInstances"]} == {"ACTIVE"}
    assert set(ids) <= set(in_service(server, "apps"))
    assert claim_item(server, "apps") is None
    [apps] = json.loads(report_file.read_text())["groups"]
    assert (apps["group"], apps["outcome"], apps["reason"]) == ("apps", "skipped", "run-interrupted")
    assert "ACTIVE again" in apps["detail"] and "claim was released" in apps["detail"]
    assert "Traceback" not in err and " | " not in err
    assert "undone: apps: container instance" in err and "released: the ledger claim on apps" in err


def test_ctrl_c_after_a_terminate_prints_each_command_on_its_own_line(
    server: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recycler.cli.main import main

    server.group("web", [9, 5])
    server.group("api", [9, 5])
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    monkeypatch.setenv("RECYCLER_LEDGER_TABLE", TABLE)
    interrupt_at(monkeypatch, "health")
    report_file = tmp_path / "report.json"

    assert main(["run", "--yes", "--poll", "1", "--report-file", str(report_file)]) == 130
    err = capsys.readouterr().err.splitlines()

    groups = {g["group"]: g for g in json.loads(report_file.read_text())["groups"]}
    terminated = [name for name, g in groups.items() if g["outcome"] == "failed"]
    assert terminated and all(groups[name]["reason"] == "run-interrupted" for name in groups)
    for name in terminated:
        assert claim_item(server, name) is not None  # something was terminated: the claim stays
        # The command to watch it, alone on its line, exactly as it would be pasted.
        assert f"    {watch_group_command(name)}" in err
    assert any(line.startswith("  kept: ledger claims for") for line in err)


# ---- 7. progress lines say only what happened, warnings in operator words ----------------------

LOGGER_FORMAT = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)[ :]|recycler\.(workflow|aws|local)\.")


def test_progress_says_only_what_happened_and_warnings_read_as_sentences(server: World) -> None:
    """No ledger: no claim is announced; a template pinning the old AMI is warned about by group, with
    the image, in words; nothing in logger format; the missing ledger is said once, not once a group."""
    server.group("web", [9, 5])
    server.group("api", [9, 5])  # no new image published: both replacements launch the victims' AMI
    done = cli("run", "--yes", "--poll", "1")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert [line for line in lines if LOGGER_FORMAT.search(line)] == []
    assert not [line for line in lines if "ledger" in line and "claim" in line]
    assert not [line for line in lines if re.match(r"^\w+: (canary-claim|canary-release|bake-start)$", line)]
    assert sum("RECYCLER_LEDGER_TABLE not set" in line for line in lines) == 1
    assert not [line for line in lines if "no ledger configured" in line]
    for group in ("web", "api"):
        [stale] = [
            line for line in lines if line.startswith(f"recycler: warning: {group}: the replacement runs")
        ]
        assert f"(image {server.images[0]})" in stale and "launch template pins an old AMI" in stale

    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    with_ledger = cli("run", "--yes", "--force", "--poll", "1", env={"RECYCLER_LEDGER_TABLE": TABLE})
    assert with_ledger.returncode == 0, with_ledger.stderr
    assert "web: claimed in the ledger" in with_ledger.stderr.splitlines()
    assert claim_item(server, "web") is not None  # and it is so in DynamoDB
