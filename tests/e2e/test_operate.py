"""The CLI as an operator meets it (issue 33): the region the AWS CLI would pick, a run that shows its
progress and can be stopped, every setting checked before anything acts, and opting in made visible.
Each test runs `python -m recycler` as a subprocess against the moto server on loopback."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from recycler.aws.ledger import Ledger
from recycler.local import emulator
from tests.conftest import REGION, World
from tests.e2e.test_cli import ROOT, cli, cli_without, in_service

pytestmark = pytest.mark.e2e
TABLE = "recycler-ledger"


def assert_refused(done: Any, message: str) -> None:
    assert done.returncode == 2, done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


# ---- 1. the region, as the AWS CLI resolves it --------------------------------------------------


def test_aws_region_wins_over_the_config_file(server: World, tmp_path: Path) -> None:
    # boto3 alone reads the config file's region and ignores AWS_REGION: this plan ran in us-west-2.
    server.group("web", [9, 5])
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-west-2\n")
    env = {"AWS_CONFIG_FILE": str(config), "AWS_REGION": REGION}
    done = cli_without("AWS_DEFAULT_REGION", args=("plan", "--json"), env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["region"] == REGION and [g["group"] for g in report["groups"]] == ["web"]
    # --region first, then AWS_REGION, then AWS_DEFAULT_REGION, then the profile's config.
    flag = cli_without(args=("plan", "--json", "--region", "us-west-2"), env=env)
    assert json.loads(flag.stdout)["region"] == "us-west-2"
    config_only = cli_without(
        "AWS_DEFAULT_REGION", "AWS_REGION", args=("plan", "--json"), env={"AWS_CONFIG_FILE": str(config)}
    )
    assert json.loads(config_only.stdout)["region"] == "us-west-2"
    default = cli_without("AWS_REGION", args=("plan", "--json"), env={"AWS_CONFIG_FILE": str(config)})
    assert json.loads(default.stdout)["region"] == REGION  # AWS_DEFAULT_REGION from the test env
    helped = cli("plan", "--help")
    assert "AWS_REGION, then AWS_DEFAULT_REGION" in " ".join(helped.stdout.split())


# ---- 2. a run you can watch and stop -----------------------------------------------------------


class Running:
    """The CLI as a background process, its stderr read line by line while it runs."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recycler", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **env},
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self.out: list[str] = []
        # Both pipes read by threads (communicate() would race this reader for stderr's last lines).
        self.readers = [
            threading.Thread(target=self._read, args=(stream, into), daemon=True)
            for stream, into in ((self.process.stderr, self.lines), (self.process.stdout, self.out))
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def wait_for(self, *texts: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(any(t in line for line in self.lines) for t in texts):
                return
            assert self.process.poll() is None, "".join(self.lines)
            time.sleep(0.2)
        raise AssertionError(f"never printed {texts}: {''.join(self.lines)}")

    def finish(self) -> tuple[int, str, str]:
        self.process.wait(timeout=60)
        for reader in self.readers:
            reader.join(timeout=10)
        return self.process.returncode, "".join(self.out), "".join(self.lines)


def test_run_prints_progress_and_ctrl_c_says_what_is_in_flight(server: World) -> None:
    web = server.group("web", [9, 5])
    # Its own template and image: not held back behind web as the canary for the same image.
    bastion = server.group("bastion", [9], tags={"recycler:mode": "surge"}, max_size=3, template="lt2")
    server.publish_patched_image()
    for group in ("web", "bastion"):
        emulator.sabotage(group, "slow", slow_reads=30)  # Pending for 30 reads of the group
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    env = {"RECYCLER_LEDGER_TABLE": TABLE}
    running = Running("run", "--poll", "1", env=env)
    # One progress line per step and poll, on stderr, while it waits (before: nothing until the end).
    running.wait_for(
        "web: terminated victim", "web: poll 2", "bastion: desired capacity raised", "bastion: poll 2"
    )
    running.process.send_signal(signal.SIGINT)
    code, _out, err = running.finish()
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    stopped = err[err.index("recycler: interrupted (Ctrl-C)") :]
    assert f"victim {web[0]} terminated" in stopped
    # Each command alone on its line, to copy (issue 39: not one long ` | `-joined line).
    commands = [line.strip() for line in stopped.splitlines() if line.startswith("    aws ")]
    assert any(
        c.startswith("aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names web")
        for c in commands
    )
    assert any(
        "terminate-instance-in-auto-scaling-group --instance-id i-" in c for c in commands
    )  # undo the surge
    assert f"victim {bastion[0]} still running" in stopped
    assert "kept: ledger claims for bastion, web" in stopped and " | " not in stopped
    desired = server.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["bastion"])[
        "AutoScalingGroups"
    ][0]["DesiredCapacity"]
    assert desired == 2  # the surge is in flight, as the line says
    # The claims stay: once the replacements are up, a second run does not act on the groups again.
    assert set(Ledger(TABLE, session=server.session).last_claims(["web", "bastion"])) == {"web", "bastion"}
    for group in ("web", "bastion"):
        settle(server, group)
    again = cli("run", "--json", "--poll", "1", env=env)
    assert again.returncode == 0, again.stderr
    reasons = {g["group"]: (g["outcome"], g["reason"]) for g in json.loads(again.stdout)["groups"]}
    assert reasons == {"web": ("skipped", "recently-recycled"), "bastion": ("skipped", "recently-recycled")}
    assert web[1] in in_service(server, "web") and bastion[0] in in_service(server, "bastion")


def settle(world: World, group: str) -> None:
    """Read the group until its slow replacement is InService (each read counts down its boot)."""
    for _ in range(60):
        found = world.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        if all(i["LifecycleState"] == "InService" for i in found["AutoScalingGroups"][0]["Instances"]):
            return
    raise AssertionError(f"{group} never settled")


def test_run_is_quiet_with_json_and_never_asks_without_a_terminal(server: World) -> None:
    server.group("web", [9, 5])
    done = cli("run", "--json", "--poll", "1")
    assert done.returncode == 0, done.stderr
    assert "web: poll" not in done.stderr and "Proceed?" not in done.stderr
    table = cli("run", "--poll", "1", "--force")
    assert table.returncode == 0, table.stderr
    assert "web: terminated victim" in table.stderr and "Proceed?" not in table.stderr


def test_run_asks_at_a_terminal_and_no_acts_on_nothing(server: World) -> None:
    import pty

    ids = server.group("web", [9, 5])
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    process = subprocess.Popen(
        [sys.executable, "-m", "recycler", "run", "--poll", "1"],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    os.close(follower)
    os.write(leader, b"n\n")
    _out, err = process.communicate(timeout=120)
    os.close(leader)
    assert process.returncode == 1, err
    assert "recycler will act on 1 group(s) in account 123456789012, region us-east-1" in err
    assert f"web                      terminate {ids[0]}" in err
    assert "not confirmed; nothing was acted on" in err
    assert set(in_service(server, "web")) == set(ids)


# ---- 3. every input checked before anything acts -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["run", "--report-file", "/nonexistent/x.json"],
            {},
            "--report-file /nonexistent/x.json: folder /nonexistent does not exist",
        ),
        (
            ["run"],
            {"RECYCLER_TOPIC_ARN": "not-an-arn"},
            "RECYCLER_TOPIC_ARN='not-an-arn' is not an SNS topic ARN",
        ),
        (
            ["run"],
            {"RECYCLER_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:missing"},
            "RECYCLER_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:missing: not found",
        ),
        (
            ["run"],
            {"RECYCLER_LEDGER_TABLE": "does-not-exist"},
            "RECYCLER_LEDGER_TABLE=does-not-exist: not found",
        ),
        (["run"], {"RECYCLER_LEDGER_TABLE": "a"}, "RECYCLER_LEDGER_TABLE='a' is not a DynamoDB table name"),
        (["run", "--stack", "Nope"], {}, "--stack Nope: no such stack in us-east-1"),
        (["run", "--group", "a:b"], {}, "--group #0: 'a:b' is not an Auto Scaling group name"),
        (["run"], {"RECYCLER_BLACKOUT_WEEKDAYS": "Saturday,Sundy"}, "unknown weekday 'Sundy'"),
    ],
)
def test_a_bad_setting_is_refused_before_anything_acts(
    server: World, args: list[str], env: dict[str, str], message: str
) -> None:
    ids = server.group("web", [9, 5])
    done = cli(*args, "--poll", "1", env=env)
    assert_refused(done, message)
    assert set(in_service(server, "web")) == set(ids)


def test_demo_poll_zero_is_a_message() -> None:
    done = cli("demo", "--poll", "0")
    assert_refused(done, "recycler: error: --poll: Input should be greater than or equal to 1")


def test_stack_outputs_give_the_run_the_lambdas_ledger_and_topic(server: World) -> None:
    ids = server.group("web", [9, 5])
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    topic = server.session.client("sns").create_topic(Name="recycler-alerts")["TopicArn"]
    body = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"LedgerTable": {"Value": TABLE}, "AlertTopicArn": {"Value": topic}},
    }
    server.session.client("cloudformation").create_stack(StackName="Recycler", TemplateBody=json.dumps(body))
    done = cli("run", "--json", "--poll", "1", "--stack", "Recycler")
    assert done.returncode == 0, done.stderr
    assert f"from stack Recycler: RECYCLER_LEDGER_TABLE={TABLE}, RECYCLER_TOPIC_ARN={topic}" in done.stderr
    assert "ledger is skipped" not in done.stderr
    [web] = json.loads(done.stdout)["groups"]
    assert web["outcome"] == "recycled" and ids[0] not in in_service(server, "web")
    assert server.session.client("dynamodb").scan(TableName=TABLE)["Items"]  # the stack's ledger was used


def test_a_report_that_cannot_be_written_after_acting_is_still_printed(server: World, tmp_path: Path) -> None:
    ids = server.group("web", [9, 5])
    emulator.sabotage("web", "slow", slow_reads=3)
    folder = tmp_path / "reports"
    folder.mkdir()
    running = Running("run", "--poll", "1", "--report-file", str(folder / "r.json"), env={})
    running.wait_for("web: terminated victim")
    folder.rmdir()  # gone while the run waits for the replacement
    code, out, err = running.finish()
    assert code == 1 and "Traceback" not in err, err
    assert f"the report could not be written to {folder / 'r.json'}" in err
    assert ids[0] in out and "recycled" in out  # what was done is on stdout all the same


def test_an_unexpected_error_after_acting_keeps_the_report(
    server: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recycler.cli.main import main
    from recycler.workflow import run as workflow_run
    from recycler.workflow.state import Acted

    def breaks_after_terminating(port: Any, *_: Any) -> Any:
        port.step("web:terminate", lambda: Acted(ok=True, at="2026-01-01T00:00:00+00:00"), Acted)
        raise RuntimeError("boom")

    monkeypatch.setattr(workflow_run, "run", breaks_after_terminating)
    report_file = tmp_path / "report.json"
    assert main(["run", "--json", "--report-file", str(report_file)]) == 1
    captured = capsys.readouterr()
    assert "the run stopped on an unexpected error (RuntimeError: boom); in flight: web:" in captured.err
    [web] = json.loads(report_file.read_text())["groups"]
    assert (web["outcome"], web["reason"]) == ("failed", "internal-error")
    assert json.loads(captured.out)["groups"] == [web]


# ---- 5. opting in, made visible ----------------------------------------------------------------


def test_a_misspelt_opt_in_shows_in_a_fleet_wide_plan(server: World) -> None:
    server.group("web", [9, 5])
    for name, value in (("api", "True"), ("jobs", "yes"), ("batch", "true "), ("legacy", "false")):
        server.group(name, [9, 5], enabled=value)
    done = cli("plan", "--json")
    assert done.returncode == 0, done.stderr
    reasons = {g["group"]: g["reason"] for g in json.loads(done.stdout)["groups"]}
    # Before: only web, the three misspelt opt-ins silently left out.
    assert reasons == {
        "web": "oldest-instance",
        "api": "invalid-tag",
        "jobs": "invalid-tag",
        "batch": "invalid-tag",
    }


def test_an_empty_fleet_says_how_to_opt_a_group_in(server: World) -> None:
    done = cli("plan")
    assert done.returncode == 0, done.stderr
    assert (
        "no Auto Scaling group in account 123456789012 us-east-1 carries the tag recycler:enabled"
        in done.stderr
    )
    assert (
        "aws autoscaling create-or-update-tags --tags ResourceId=NAME,ResourceType=auto-scaling-group,"
        "Key=recycler:enabled,Value=true,PropagateAtLaunch=false"
    ) in done.stderr


# ---- 8. the small things -----------------------------------------------------------------------


def test_version_and_csv_output(server: World) -> None:
    from recycler import __version__

    version = cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"recycler {__version__}"
    ids = server.group("web", [9, 5])
    done = cli("plan", "--output", "csv")
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.strip().splitlines()
    assert header.startswith("group,outcome,reason,detail,mode,victim")
    assert row.startswith("web,planned,oldest-instance,") and ids[0] in row


def assert_the_demos_story(stdout: str, report: dict[str, Any]) -> None:
    """What `make demo` must show (one demo run serves this and the --keep test: a run is ~40 s)."""
    assert "SNS alert: recycler FAILED: api - replacement unhealthy" in stdout
    outcomes = {g["group"]: g["outcome"] for g in report["groups"]}
    assert outcomes == {
        "api": "failed",
        "checkout": "skipped",
        "search": "skipped",
        "bastion": "recycled",
        "batch": "recycled",
        "fleet": "recycled",
        "golden": "recycled",
        "fresh": "skipped",
        "jobs": "skipped",
        "reports": "skipped",
        "web": "recycled",
        "containers": "recycled",
        "nodes": "skipped",
    }
    assert all(g["replacement"]["ami_refreshed"] for g in report["groups"] if g["outcome"] == "recycled")
    groups = {g["group"]: g for g in report["groups"]}
    assert groups["containers"]["container_host"] == "ecs:demo-ecs (drained by recycler)"
    assert "containers: poll" in stdout and "drained - no tasks left" in stdout
    assert groups["nodes"]["reason"] == "no-drain-hook"
    assert groups["api"]["canary"] and "CANARY FAILED" in stdout
    assert [r["outcome"] for r in groups["fleet"]["recycles"]] == ["recycled"] * 3  # one after another
    golden = groups["golden"]  # resolve:ssm:/golden/ami, moved to the patched AMI before the drill
    assert golden["replacement"]["image_id"] == golden["current_image_id"] != golden["victim"]["image_id"]
    assert golden["victim"]["image_age_days"] >= 89 and golden["current_image_age_days"] <= 2
    assert groups["checkout"]["reason"] == groups["search"]["reason"] == "canary-failed"
    # The second act: a Parameter Store Change starts a canary run; its 5xx alarm fires during the bake.
    assert "EventBridge delivers Parameter Store Change" in stdout
    assert "SNS alert: recycler FAILED: shop - bake-failed" in stdout
    assert "CANARY FAILED: image" in stdout and "failed on shop (bake-failed)" in stdout
    # The third act: CodeDeploy groups: a failed revision is not the image's; a deployment under way is left alone.
    assert "SNS alert: recycler FAILED: orders - revision-failed" in stdout
    assert "deployment-in-progress" in stdout


def test_demo_keep_leaves_the_embedded_aws_up_and_every_printed_command_works(tmp_path: Path) -> None:
    """--keep prints plan, run, fleet, history and a watch command; each, exactly as printed (after the
    printed export), exits 0 against the kept embedded AWS, and the emulator's errors stay out of it."""
    running = Running("demo", "--keep", "--report-file", str(tmp_path / "r.json"), env={})
    deadline = time.monotonic() + 240
    while not any("Ctrl-C here stops it" in line for line in running.out):
        assert time.monotonic() < deadline and running.process.poll() is None, "".join(running.lines)
        time.sleep(0.5)
    [exports] = [line for line in running.out if line.strip().startswith("export ")]
    env = dict(item.split("=", 1) for item in shlex.split(exports)[1:])
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:") and env["RECYCLER_LEDGER_TABLE"] == TABLE
    start = running.out.index(exports) + 1
    printed = [
        line.strip()
        for line in running.out[start:]
        if line.startswith("  ") and not line.strip().startswith("#")
    ]
    kinds = [
        next(word for word in ("plan", "run", "fleet", "history", "aws") if word in line) for line in printed
    ]
    assert kinds == ["plan", "plan", "run", "fleet", "history", "aws"], printed
    shell_env = {k: v for k, v in os.environ.items() if k not in ("AWS_DEFAULT_REGION", "AWS_PROFILE")} | env
    results = {}
    try:
        for line in printed:
            if line.startswith("aws ") and shutil.which("aws") is None:
                continue  # the AWS CLI is not installed here
            results[line] = subprocess.run(
                line,
                shell=True,
                check=False,
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=shell_env,
                timeout=240,
            )
        [fleet] = [line for line in printed if line.endswith("recycler fleet")]
        ages = subprocess.run(
            f"{fleet} --output json",
            shell=True,
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=shell_env,
        )
        # A request the emulator cannot serve (an unknown region): its traceback goes to its log.
        bad_region = subprocess.run(
            [sys.executable, "-m", "recycler", "plan", "--region", "xx-nowhere-1"],
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=shell_env,
            timeout=120,
        )
    finally:
        running.process.send_signal(signal.SIGINT)
        code, _, err = running.finish()
    for line, done in results.items():
        assert done.returncode == 0, f"{line}: {done.stderr}"
    plan = next(done for line, done in results.items() if line.endswith("recycler plan"))
    assert "recently-recycled" in plan.stdout  # the demo's ledger: it recycled web already
    assert bad_region.returncode != 0 and "Traceback" not in bad_region.stderr
    # Act 1's fleet runs a 90-day-old AMI; act 2 must not re-date it (it did, to an hour).
    image_ages = [g["max_image_age_days"] for g in json.loads(ages.stdout)["groups"]]
    assert max(image_ages) >= 89, ages.stdout
    assert "Traceback" not in "".join(running.out) + err
    assert code == 0
    assert_the_demos_story("".join(running.out), json.loads((tmp_path / "r.json").read_text()))


def test_no_region_anywhere_names_every_place_to_set_it(server: World) -> None:
    done = cli_without("AWS_DEFAULT_REGION", "AWS_REGION")
    assert_refused(done, "set AWS_REGION (or AWS_DEFAULT_REGION)")
