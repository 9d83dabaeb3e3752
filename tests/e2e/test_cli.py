"""The CLI as users run it: a subprocess against a moto server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from recycler.aws.errors import NO_REGION
from recycler.local import emulator
from recycler.local.demo import free_port
from tests.conftest import NOW, REGION, World

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


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
    assert "planned" in done.stdout and ids[0] in done.stdout, done.stdout
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


# ---- first contact with an account: messages, not tracebacks -------------------------------------

NO_AWS_CONFIG = {
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",  # no instance-role lookup from a laptop
}


def cli_without(*names: str, args: tuple[str, ...] = ("plan",), env: dict[str, str] | None = None) -> Any:
    """The CLI with these environment variables removed (and no AWS config files)."""
    clean = {k: v for k, v in os.environ.items() if k not in names}
    return subprocess.run(
        [sys.executable, "-m", "recycler", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **NO_AWS_CONFIG, **(env or {})},
        cwd=ROOT,
        check=False,
    )


def assert_cannot_run(done: Any, message: str) -> None:
    assert done.returncode == 2, done.stderr
    assert f"recycler: cannot run: {message}" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_no_region_is_a_message(server: World) -> None:
    done = cli_without("AWS_DEFAULT_REGION", "AWS_REGION")
    assert_cannot_run(done, NO_REGION)


def test_region_flag_and_the_report_names_account_and_region(server: World) -> None:
    server.group("web", [9, 5])
    done = cli_without("AWS_DEFAULT_REGION", "AWS_REGION", args=("plan", "--json", "--region", REGION))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["account"], report["region"]) == ("123456789012", REGION)


def test_no_credentials_is_a_message(server: World) -> None:
    done = cli_without("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
    assert_cannot_run(done, "no AWS credentials: pass --profile")


def test_unreachable_endpoint_is_a_message_not_every_retry(server: World) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    done = cli_without(env={"AWS_ENDPOINT_URL": closed})
    assert_cannot_run(done, f"cannot reach AWS at {closed}")


class DenyingProxy:
    """A service behind a role that lacks one permission: that action is answered AccessDenied as AWS
    words it (query protocol: Auto Scaling; JSON protocol: ECS), everything else is forwarded to the
    emulator."""

    def __init__(self, upstream: str, action: str, service: str = "autoscaling") -> None:
        import http.server
        import threading

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("X-Amz-Target", "").endswith(f".{action}"):
                    proxy.denied += 1
                    denied = json.dumps(
                        {
                            "__type": "AccessDeniedException",
                            "message": "User: arn:aws:iam::123456789012:user/dev is not authorized to "
                            f"perform: {service}:{action} on resource: *",
                        }
                    ).encode()
                    self._reply(400, denied, "application/x-amz-json-1.1")
                    return
                if f"Action={action}".encode() in body:
                    proxy.denied += 1
                    text = (
                        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: "
                        "arn:aws:iam::123456789012:user/dev is not authorized to perform: "
                        f"autoscaling:{action}</Message></Error><RequestId>denied</RequestId></ErrorResponse>"
                    ).encode()
                    self._reply(403, text, "text/xml")
                    return
                request = urllib.request.Request(upstream + self.path, data=body, method="POST")
                for key in ("Content-Type", "Authorization", "X-Amz-Date", "X-Amz-Target"):
                    if self.headers.get(key):
                        request.add_header(key, self.headers[key])
                with urllib.request.urlopen(request, timeout=30) as answer:
                    self._reply(answer.status, answer.read(), answer.headers.get("Content-Type", "text/xml"))

            def _reply(self, status: int, payload: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass

        self.denied = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def test_access_denied_on_the_first_read_names_the_permission(server: World) -> None:
    proxy = DenyingProxy(os.environ["AWS_ENDPOINT_URL"], "DescribeAutoScalingGroups")
    try:
        done = cli_without(env={"AWS_ENDPOINT_URL_AUTO_SCALING": proxy.url})
    finally:
        proxy.close()
    assert proxy.denied >= 1
    assert_cannot_run(
        done,
        "not authorized: the caller needs autoscaling:DescribeAutoScalingGroups; see docs/iam.md, IAM for operators",
    )


def test_a_policy_without_the_container_host_reads_names_the_missing_permission(server: World) -> None:
    # An operator policy written before recycler looked at ECS capacity providers: planning stops, with
    # the permission to add, before anything is terminated.
    server.group("web", [9, 5])
    proxy = DenyingProxy(os.environ["AWS_ENDPOINT_URL"], "DescribeCapacityProviders", service="ecs")
    try:
        done = cli_without(args=("run", "--json"), env={"AWS_ENDPOINT_URL_ECS": proxy.url})
    finally:
        proxy.close()
    assert proxy.denied >= 1
    assert_cannot_run(
        done,
        "not authorized: the caller needs ecs:DescribeCapacityProviders; see docs/iam.md, IAM for operators",
    )
    assert len(in_service(server, "web")) == 2


def test_access_denied_on_terminate_fails_that_group_and_terminates_nothing(server: World) -> None:
    ids = server.group("web", [9, 5])
    proxy = DenyingProxy(os.environ["AWS_ENDPOINT_URL"], "TerminateInstanceInAutoScalingGroup")
    try:
        done = cli_without(args=("run", "--json"), env={"AWS_ENDPOINT_URL_AUTO_SCALING": proxy.url})
    finally:
        proxy.close()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [web] = json.loads(done.stdout)["groups"]
    assert (web["outcome"], web["reason"]) == ("failed", "terminate-failed")
    assert (
        "AccessDenied" in web["detail"] and "autoscaling:TerminateInstanceInAutoScalingGroup" in web["detail"]
    )
    assert set(in_service(server, "web")) == set(ids)


def test_debug_shows_the_traceback(server: World) -> None:
    done = cli_without("AWS_DEFAULT_REGION", "AWS_REGION", args=("plan", "--debug"))
    assert done.returncode == 2 and "Traceback" in done.stderr and "no AWS region" in done.stderr


def opted_in_group_in_us_west_2(name: str) -> None:
    west = boto3.Session(region_name="us-west-2")
    template = emulator.create_launch_template(
        west.client("ec2"), "lt", emulator.stock_images(west.client("ec2"))[0]
    )
    emulator.create_aged_group(
        west.client("autoscaling"),
        name,
        template,
        [8, 4],
        NOW,
        region="us-west-2",
        tags={"recycler:enabled": "true"},
    )


def test_several_regions_in_one_plan(server: World) -> None:
    server.group("web", [9, 5])
    opted_in_group_in_us_west_2("api")
    done = cli("plan", "--json", "--region", REGION, "--region", "us-west-2")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(g["group"] for g in report["groups"]) == [f"{REGION}/web", "us-west-2/api"]
    assert report["region"] == f"{REGION},us-west-2" and report["summary"]["planned"] == 2


def test_an_unknown_profile_is_a_message(server: World) -> None:
    done = cli_without(args=("plan", "--profile", "nobody"))
    assert_cannot_run(done, "no AWS profile named 'nobody'")


def test_run_drains_ecs_hosts_skips_undrainable_nodes_and_waits_out_launch_hooks(
    server: World, ecs_timeline: list[tuple[str, str, int | None]]
) -> None:
    ids = server.group("apps", [9, 5], tags={"recycler:ecs-cluster": "prod"})
    ecs = server.session.client("ecs")
    for arn in emulator.create_ecs_cluster(ecs, "prod", ids, group="apps").values():
        emulator.run_tasks(ecs, "prod", arn, service=2)
    emulator.drain_time("prod", 2)  # real seconds: the CLI really waits, polling every second
    server.group("nodes", [9, 5], tags={"eks:cluster-name": "prod"})
    # A group with an instance parked in Standby, a warm pool, and a launch hook whose heartbeat (2 s,
    # default result CONTINUE) lets the replacement go on by itself.
    parked = server.group("web", [30, 9, 5])
    server.autoscaling.enter_standby(
        InstanceIds=[parked[0]], AutoScalingGroupName="web", ShouldDecrementDesiredCapacity=True
    )
    server.autoscaling.put_warm_pool(AutoScalingGroupName="web", MinSize=1)
    server.autoscaling.put_lifecycle_hook(
        AutoScalingGroupName="web",
        LifecycleHookName="deploy",
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
        HeartbeatTimeout=2,
        DefaultResult="CONTINUE",
    )
    done = cli("run", "--json", "--poll", "1")
    assert done.returncode == 0, done.stderr
    groups = {g["group"]: g for g in json.loads(done.stdout)["groups"]}
    assert groups["apps"]["outcome"] == "recycled"
    assert groups["apps"]["container_host"] == "ecs:prod (drained by recycler)"
    assert (groups["nodes"]["outcome"], groups["nodes"]["reason"]) == ("skipped", "no-drain-hook")
    web = groups["web"]
    assert (web["outcome"], web["victim"]["instance_id"]) == ("recycled", parked[1])
    assert (web["health_timeout_seconds"], web["standby_instances"], web["warm_pool"]) == (
        5 + 2 + 600,
        1,
        True,
    )
    # Seen by the emulated AWS: DRAINING first, the terminate only once no task ran on the instance.
    assert [event for event in ecs_timeline if event[1] == ids[0]] == [
        ("DRAINING", ids[0], 2),
        ("terminate", ids[0], 0),
    ]


def test_several_profiles_in_one_plan(server: World, tmp_path: Path) -> None:
    """`plan --profile A --profile B`: one table across the accounts (here, regions) the profiles name."""
    server.group("web", [9, 5])
    opted_in_group_in_us_west_2("api")
    config = tmp_path / "config"
    config.write_text(f"[profile east]\nregion = {REGION}\n\n[profile west]\nregion = us-west-2\n")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[east]\naws_access_key_id = testing\naws_secret_access_key = testing\n\n"
        "[west]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    env = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
    done = cli_without(
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        args=("plan", "--json", "--profile", "east", "--profile", "west"),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(g["group"] for g in report["groups"]) == [f"{REGION}/web", "us-west-2/api"]


def test_reports_across_accounts_name_each_group_by_account_and_region() -> None:
    from recycler.cli.runner import across_regions
    from recycler.report import GroupReport, RunReport

    def one(account: str, group: str) -> RunReport:
        report = RunReport.build(
            "r",
            "2026-12-01T00:00:00+00:00",
            True,
            1,
            [GroupReport(group=group, outcome="planned", reason="oldest-instance")],
        )
        report.account, report.region = account, "eu-west-1"
        return report

    combined = across_regions([one("111111111111", "web"), one("222222222222", "web")])
    assert [g.group for g in combined.groups] == ["111111111111/eu-west-1/web", "222222222222/eu-west-1/web"]
    assert combined.account == "111111111111,222222222222"
