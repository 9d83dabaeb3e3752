"""One broken image published at once to every account of an organization: failed canaries with and
without shared verdicts, and production's exposure behind a staging ring with a soak.

40 member accounts in one region, each with one opted-in group of 3 instances, its own ledger and its
own run of the real workflow (`run()` on the in-process port, waits skipped), with its own credentials
(an STS session of its recycler-function role, so moto serves that account). The broken image is
published to every account at once: every run has planned before any canary starts (a barrier after
each run's plan step; moto's requests are answered one at a time). Every replacement on the image comes
up Unhealthy. Then every account's next scheduled run (one after another, 25 h later). Counted on the
emulator: replacements that came up Unhealthy, i.e. failed canaries, each one a broken instance in a
real group and an alert.

- **no shared verdicts**: each account judges the image alone (recycler before issue 42);
- **shared verdicts**: the central table (recycler/aws/verdicts_central.py), one ring;
- **rings**: staging (the first 4 accounts) then production (the other 36), soak 24 h.

`python -m bench.organization` prints the rows; `--write` also puts them in bench/results.json and
rewrites bench/README.md's table (the rest of the bench is not run); `--json` prints them as JSON (what
`make bench` reads). `BENCH_QUICK=1`: 8 accounts.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3

from bench import fast_moto, report
from recycler.aws.compose import aws_services
from recycler.local import emulator
from recycler.local.emulator.organization_verdicts import create_verdict_table, join_organization
from recycler.local.emulator.seed import backdate, create_group, create_launch_template, point_group_at
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.workflow.run import run

REGION = "us-east-1"
ORGANIZATION = "o-bench00000"
CENTRAL = "999999999999"
OLD, BROKEN = "ami-0bench00000000001", "ami-0bench0000000bad1"
ACCOUNTS = 8 if os.environ.get("BENCH_QUICK") == "1" else 40
STAGING_ACCOUNTS = 4 if ACCOUNTS >= 8 else 1
SOAK_HOURS = 24
TABLE = "recycler-verdicts"
LEDGER = "recycler-ledger"


@dataclass(frozen=True)
class Outcome:
    mode: str
    accounts: int
    failed_canaries: int  # replacements that came up Unhealthy, over both waves
    failed_in_production: int | None  # with rings: those in production accounts
    # accounts whose publish run held the image (canary-in-progress, waiting-for-soak, canary-failed)
    held_accounts: int
    seconds: float


def session_of(account: str) -> boto3.Session:
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/recycler-function-{REGION}", RoleSessionName="bench"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def member(account: str, now: datetime) -> boto3.Session:
    session = session_of(account)
    template = create_launch_template(session.client("ec2"), "golden", OLD)
    autoscaling = session.client("autoscaling")
    ids = create_group(
        autoscaling,
        "web",
        template,
        size=3,
        max_size=6,
        tags={"recycler:enabled": "true"},
        version="1",
        zone=f"{REGION}a",
    )
    backdate(ids, now - timedelta(days=9), REGION, account)
    point_group_at(autoscaling, "web", template, "$Latest")
    emulator.create_ledger_table(session.client("dynamodb"), LEDGER)
    emulator.publish_image(session.client("ec2"), template, BROKEN)
    return session


def unhealthy_replacements(session: boto3.Session) -> int:
    groups = session.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    return sum(1 for g in groups for i in g["Instances"] if i["HealthStatus"] == "Unhealthy")


class PlannedTogether(LocalPort):
    """Every account's run waits after its plan step until all have planned: published at once."""

    def __init__(self, barrier: threading.Barrier | None) -> None:
        super().__init__(sleep=lambda _: None)
        self.barrier = barrier

    def step(self, name: str, fn: Any, kind: Any, *, at_most_once: bool = False) -> Any:
        result = super().step(name, fn, kind, at_most_once=at_most_once)
        if name == "plan" and self.barrier is not None:
            self.barrier.wait()
        return result


def measure(mode: str) -> Outcome:
    from moto import mock_aws

    began = time.perf_counter()
    emulator.install()
    emulator.reset()
    fast_moto.serialize_requests()
    accounts = [f"{100000000000 + n:012d}" for n in range(1, ACCOUNTS + 1)]
    rings = (
        json.dumps(
            [
                {"name": "staging", "accounts": accounts[:STAGING_ACCOUNTS]},
                {"name": "production", "accounts": accounts[STAGING_ACCOUNTS:], "soak_hours": SOAK_HOURS},
            ]
        )
        if mode == "rings"
        else None
    )
    with mock_aws():
        now = datetime.now(UTC)
        central = session_of(CENTRAL).client("dynamodb")
        arn = f"arn:aws:dynamodb:{REGION}:{CENTRAL}:table/{TABLE}"
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"],
                    "Resource": arn,
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION}},
                }
            ],
        }
        create_verdict_table(central, TABLE, policy)
        join_organization(ORGANIZATION, [CENTRAL, *accounts])
        sessions = {account: member(account, now) for account in accounts}
        emulator.sabotage("web", "unhealthy")  # every replacement on the broken image: Unhealthy
        held: set[str] = set()

        def one_run(account: str, at: datetime, barrier: threading.Barrier | None) -> None:
            settings = Settings(
                failures_before_stop=10,
                ledger_table=LEDGER,
                verdicts_table=arn if mode != "alone" else None,
                account_id=account,
                rings=rings,
            )
            services = aws_services(sessions[account], settings=settings, region=REGION, clock=lambda: at)
            try:
                report_ = run(PlannedTogether(barrier), services, settings, ManualPayload(poll_seconds=5))
            except BaseException:
                if barrier is not None:
                    barrier.abort()
                raise
            if barrier is not None and any(g.outcome == "skipped" for g in report_.groups):
                held.add(account)

        barrier = threading.Barrier(len(accounts))
        threads = [threading.Thread(target=one_run, args=(a, now, barrier)) for a in accounts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for account in accounts:  # each account's next scheduled run
            one_run(account, now + timedelta(hours=SOAK_HOURS + 1), None)
        failed = {a: unhealthy_replacements(s) for a, s in sessions.items()}
    emulator.reset()
    return Outcome(
        mode=mode,
        accounts=len(accounts),
        failed_canaries=sum(failed.values()),
        failed_in_production=sum(failed[a] for a in accounts[STAGING_ACCOUNTS:]) if mode == "rings" else None,
        held_accounts=len(held),
        seconds=round(time.perf_counter() - began, 1),
    )


def table() -> list[Outcome]:
    return [measure(mode) for mode in ("alone", "shared", "rings")]


def write(results: list[Outcome]) -> None:
    """Only the organization section of bench/results.json, and the README table rendered from it."""
    stored = report.load()
    stored["organization"] = [
        {
            **asdict(r),
            "command": "python -m bench.organization --write",
            "date": datetime.now(UTC).date().isoformat(),
        }
        for r in results
    ]
    report.RESULTS.write_text(json.dumps(stored, indent=2) + "\n")
    report.rewrite_readme(stored)


def main() -> None:
    import logging

    logging.getLogger("recycler").setLevel(logging.CRITICAL)
    rows = table()
    if "--json" in sys.argv:  # for `make bench` (bench/__main__.py): the rows only, on stdout
        print(json.dumps([asdict(r) for r in rows]))
        return
    if "--write" in sys.argv:
        write(rows)
    print("\n".join("| " + " | ".join(row) + " |" for row in report.organization([asdict(r) for r in rows])))


if __name__ == "__main__":
    main()
