"""One verdict per image for the whole organization, across emulated accounts and regions.

Every member runs the real workflow with its own credentials (an STS session of its
recycler-function-<region> role, so moto serves that account), its own ledger and fleet, and reaches
the central account's verdict table by ARN, as the stack deploys it. What is asserted is what AWS would
hold: instances each account terminated and replacements that came up unhealthy, and the items of the
central table.

On the code as it was (no central store) each of these fails: every account canaries the broken image
(3 unhealthy replacements, not 1), the copy in eu-west-1 is canaried again, production canaries at once,
and no report says the store was unreadable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from recycler.aws.compose import aws_services
from recycler.aws.ledger import Ledger
from recycler.local import emulator
from recycler.local.emulator.organization_verdicts import create_verdict_table, join_organization
from recycler.local.emulator.seed import backdate, create_group, create_launch_template, point_group_at
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.report import RunReport
from recycler.workflow.run import run
from tests.faults.harness import FaultPort
from tests.interleaving import b_plans_before_a_ends

ORGANIZATION = "o-a1b2c3d4e5"
CENTRAL = "999999999999"
STAGING, PROD_A, PROD_B, OUTSIDER = "111111111111", "222222222222", "333333333333", "444444444444"
HOME, AWAY = "us-east-1", "eu-west-1"
TABLE = "recycler-verdicts"
LEDGER = "recycler-ledger"


def table_policy(arn: str) -> dict[str, Any]:
    """What infra/org_verdicts.py attaches: the organization's recycler roles, three actions."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OrganizationRecyclersShareVerdicts",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"],
                "Resource": arn,
                "Condition": {
                    "StringEquals": {"aws:PrincipalOrgID": ORGANIZATION},
                    "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/recycler-function-*"},
                },
            }
        ],
    }


def policy_allowing_only(org: Organization, actions: list[str]) -> Callable[[], None]:
    """A policy edit to make later (after a member planned): the table's policy then allows only
    `actions`. Another account's call needs the table's policy to allow its action too
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-auth-iam-id-based-policies-DDB.html)."""
    policy = table_policy(org.table_arn)
    policy["Statement"][0]["Action"] = actions

    def edit() -> None:
        org.central.client("dynamodb").put_resource_policy(
            ResourceArn=org.table_arn, Policy=json.dumps(policy)
        )

    return edit


def session_of(account: str, region: str) -> boto3.Session:
    """The member's function role: an STS session in that account (moto serves the account its key
    belongs to)."""
    sts = boto3.client("sts", region_name=region)
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/recycler-function-{region}", RoleSessionName="recycler"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


@dataclass
class Member:
    account: str
    region: str
    session: boto3.Session
    template: str

    def publish(self, image: str) -> None:
        emulator.publish_image(self.session.client("ec2"), self.template, image)

    def replacements(self, before: set[str]) -> list[Any]:
        """Instances this account launched since `before` (the replacements its recycles caused)."""
        groups = self.session.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        return [i for g in groups for i in g["Instances"] if i["InstanceId"] not in before]

    def terminated(self) -> list[str]:
        reservations = self.session.client("ec2").describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["terminated", "shutting-down"]}]
        )["Reservations"]
        return [i["InstanceId"] for r in reservations for i in r["Instances"]]

    def instances(self) -> set[str]:
        groups = self.session.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        return {i["InstanceId"] for g in groups for i in g["Instances"]}


@dataclass
class Organization:
    table_arn: str
    old: str
    new: str
    central: boto3.Session

    def member(self, account: str, region: str = HOME, *, groups: tuple[str, ...] = ("web",)) -> Member:
        session = session_of(account, region)
        ec2 = session.client("ec2")
        template = create_launch_template(ec2, f"lt-{account}", self.old)
        autoscaling = session.client("autoscaling")
        now = datetime.now(UTC)
        for name in groups:
            ids = create_group(
                autoscaling,
                name,
                template,
                size=3,
                max_size=6,
                tags={"recycler:enabled": "true"},
                version="1",
                zone=f"{region}a",
            )
            backdate(ids, now - timedelta(days=9), region, account)
            point_group_at(autoscaling, name, template, "$Latest")
        emulator.create_ledger_table(session.client("dynamodb"), LEDGER)
        return Member(account, region, session, template)

    def items(self) -> list[dict[str, str]]:
        items: list[Any] = self.central.client("dynamodb").scan(TableName=TABLE)["Items"]
        return [{k: str(next(iter(v.values()))) for k, v in item.items()} for item in items]


@pytest.fixture
def org() -> Iterator[Organization]:
    from moto import mock_aws

    emulator.install()
    emulator.reset()
    with mock_aws():
        central = session_of(CENTRAL, HOME)
        dynamodb = central.client("dynamodb")
        arn = f"arn:aws:dynamodb:{HOME}:{CENTRAL}:table/{TABLE}"
        create_verdict_table(dynamodb, TABLE, table_policy(arn))
        join_organization(ORGANIZATION, [CENTRAL, STAGING, PROD_A, PROD_B])  # not OUTSIDER
        old, new = emulator.stock_images(central.client("ec2"))
        yield Organization(table_arn=arn, old=old, new=new, central=central)
    emulator.reset()


def recycle(
    org: Organization,
    member: Member,
    *,
    rings: str | None = None,
    at: datetime | None = None,
    table_arn: str | None = None,
    units: str | None = None,
    port: LocalPort | None = None,
    payload: ManualPayload | None = None,
) -> RunReport:
    settings = Settings(
        failures_before_stop=10,
        ledger_table=LEDGER,
        verdicts_table=table_arn or org.table_arn,
        account_id=member.account,
        rings=rings,
        organizational_units=units,
    )
    clock = (lambda: at) if at is not None else None
    services = aws_services(member.session, settings=settings, region=member.region, clock=clock)
    payload = payload or ManualPayload(poll_seconds=5, health_timeout_seconds=60)
    return run(port or FaultPort(), services, settings, payload)


def unhealthy(member: Member, before: set[str]) -> int:
    return sum(1 for i in member.replacements(before) if i["HealthStatus"] == "Unhealthy")


def test_a_broken_image_shared_to_three_accounts_fails_one_canary(org: Organization) -> None:
    members = [org.member(account) for account in (STAGING, PROD_A, PROD_B)]
    emulator.sabotage("web", "unhealthy")  # every replacement on the new image comes up Unhealthy
    before = {m.account: m.instances() for m in members}
    reports = []
    for member in members:  # the same shared AMI id in each account of the region
        member.publish(org.new)
        reports.append(recycle(org, member))

    assert sum(len(m.terminated()) for m in members) == 1
    assert sum(unhealthy(m, before[m.account]) for m in members) == 1
    first, *others = reports
    assert first.groups[0].outcome == "failed"
    for report in others:
        [group] = report.groups
        assert group.reason == "canary-failed"
        assert f"account {STAGING} {HOME}, group web" in group.detail  # who proved it broken
    [condemned] = [i for i in org.items() if i.get("verdict") == "condemned"]
    assert condemned["account"] == STAGING and condemned["image"] == f"{HOME}/{org.new}"


def test_a_copy_in_another_region_is_held(org: Organization) -> None:
    staging = org.member(STAGING)
    emulator.sabotage("web", "unhealthy")
    staging.publish(org.new)
    recycle(org, staging)
    assert len(staging.terminated()) == 1

    away = org.member(PROD_A, AWAY)
    copy = away.session.client("ec2").copy_image(
        SourceImageId=org.new, SourceRegion=HOME, Name="golden-copy"
    )["ImageId"]
    assert copy != org.new
    away.publish(copy)
    report = recycle(org, away)

    assert away.terminated() == []
    [group] = report.groups
    assert group.reason == "canary-failed" and f"account {STAGING} {HOME}" in group.detail


RINGS = (
    f'[{{"name": "staging", "accounts": ["{STAGING}"]}}, '
    f'{{"name": "production", "accounts": ["{PROD_A}", "{PROD_B}"], "soak_hours": 24}}]'
)


def test_production_waits_for_stagings_soak(org: Organization) -> None:
    staging, production = org.member(STAGING), org.member(PROD_A)
    for member in (staging, production):
        member.publish(org.new)
    now = datetime.now(UTC)

    recycle(org, staging, rings=RINGS, at=now)
    assert len(staging.terminated()) == 1  # staging canaried it, and it is healthy: proven there

    early = recycle(org, production, rings=RINGS, at=now + timedelta(hours=3))
    assert production.terminated() == []
    [group] = early.groups
    assert group.reason == "waiting-for-soak"
    assert "waiting for staging: proven 3 h ago" in group.detail and "soak 24 h" in group.detail

    soaked = recycle(org, production, rings=RINGS, at=now + timedelta(hours=25))
    assert len(production.terminated()) == 1 and soaked.groups[0].outcome == "recycled"
    proofs = {(i["account"], i["ring"]) for i in org.items() if i.get("verdict") == "proven"}
    assert proofs == {(STAGING, "staging"), (PROD_A, "production")}


STAGING_OU, PRODUCTION_OU = "ou-ab12-11111111", "ou-ab12-22222222"
RINGS_BY_OU = (
    f'[{{"name": "staging", "organizational_units": ["{STAGING_OU}"]}}, '
    f'{{"name": "production", "organizational_units": ["{PRODUCTION_OU}"], "soak_hours": 24}}]'
)


def test_rings_of_ous_place_each_member_by_the_ous_its_stack_set_names(org: Organization) -> None:
    """A member cannot read its own OU; its ring's StackSet sets RECYCLER_ORGANIZATIONAL_UNITS
    (tests/infra/test_org_verdicts.py checks that half). Without it, both would be in the last ring and
    staging would wait for itself."""
    staging, production = org.member(STAGING), org.member(PROD_A)
    for member in (staging, production):
        member.publish(org.new)
    now = datetime.now(UTC)

    recycle(org, staging, rings=RINGS_BY_OU, units=STAGING_OU, at=now)
    assert len(staging.terminated()) == 1
    early = recycle(org, production, rings=RINGS_BY_OU, units=PRODUCTION_OU, at=now + timedelta(hours=3))
    assert production.terminated() == []
    assert "waiting for staging: proven 3 h ago" in early.groups[0].detail
    recycle(org, production, rings=RINGS_BY_OU, units=PRODUCTION_OU, at=now + timedelta(hours=25))
    assert len(production.terminated()) == 1
    proofs = {(i["account"], i["ring"]) for i in org.items() if i.get("verdict") == "proven"}
    assert proofs == {(STAGING, "staging"), (PROD_A, "production")}


def test_a_member_that_cannot_reach_the_store_neither_condemns_nor_proves(org: Organization) -> None:
    staging = org.member(STAGING)
    emulator.sabotage("web", "unhealthy")
    staging.publish(org.new)
    recycle(org, staging)  # condemned centrally by staging

    outsider = org.member(OUTSIDER)  # the table's policy does not let it in
    outsider.publish(org.new)
    report = recycle(org, outsider)

    # It cannot see staging's verdict: it canaries the image itself (no remote condemn)...
    assert len(outsider.terminated()) == 1
    assert (
        report.organization_verdicts_unreadable and "AccessDenied" in report.organization_verdicts_unreadable
    )
    # ...and nothing it judged reached the organization.
    assert {i["account"] for i in org.items() if "verdict" in i} == {STAGING}

    # Production behind an unreadable store takes nothing: it cannot see staging's proof.
    healthy = org.member(PROD_B, groups=("db",))
    healthy.publish(org.new)
    broken_table = org.table_arn.replace(TABLE, "recycler-verdicts-gone")
    waiting = recycle(org, healthy, rings=RINGS, table_arn=broken_table)
    assert healthy.terminated() == []
    [group] = waiting.groups
    assert group.reason == "waiting-for-soak" and "unreadable" in group.detail


def test_an_image_another_members_canary_is_trying_is_held_not_canaried_again(org: Organization) -> None:
    """Published to every account at once: one canary per image per ring. Before: each member canaried."""
    staging, production = org.member(STAGING), org.member(PROD_A)
    for member in (staging, production):
        member.publish(org.new)
    holder = org_ledger_of(org, staging)
    holder.claim_canary(org.new, "web", "run-of-staging", datetime.now(UTC))  # staging's canary is mid-flight

    report = recycle(org, production)

    assert production.terminated() == []
    [group] = report.groups
    assert group.reason == "canary-in-progress" and f"account {STAGING} {HOME}, group web" in group.detail


def org_ledger_of(org: Organization, member: Member) -> Any:
    """The ledger a member's run uses (its own, and the organization's), as a run would build it."""
    settings = Settings(ledger_table=LEDGER, verdicts_table=org.table_arn, account_id=member.account)
    return aws_services(member.session, settings=settings, region=member.region).ledger


def verdict_lands_after_b_planned(
    org: Organization, a: Member, b: Member, payload: ManualPayload | None = None
) -> tuple[RunReport, RunReport]:
    """Member A's canary tries the image; member B (another account, the same ring) plans while A's
    replacement comes up (nothing judged yet: B's web is a canary too), then waits until A's run has
    recorded its verdict centrally and released its organization claim, and only then claims."""
    return b_plans_before_a_ends(
        lambda port: recycle(org, a, port=port), lambda port: recycle(org, b, port=port, payload=payload)
    )


def canary_items(org: Organization, member: Member) -> tuple[dict[str, str], dict[str, str]]:
    """The image's canary claim as the central table holds it (one per ring), and as the member's own
    ledger holds it."""
    [central] = [i for i in org.items() if i["record"] == "canary#organization"]
    scanned: list[Any] = member.session.client("dynamodb").scan(TableName=LEDGER)["Items"]
    own = [{k: str(next(iter(v.values()))) for k, v in item.items()} for item in scanned]
    [local] = [i for i in own if i["group_name"] == f"image#{org.new}" and i["record"] == "canary"]
    return central, local


def test_a_condemn_between_a_members_plan_and_its_claim_launches_nothing_there(org: Organization) -> None:
    """Staging's canary condemns the image after production (the same ring) planned and before
    production claims: staging has released the organization's claim by then, so the claim alone is
    free. Production must not launch the condemned image in its account. Before: it canaried it (a
    second unhealthy replacement, in another account, and a second condemn)."""
    staging, production = org.member(STAGING), org.member(PROD_A)
    for member in (staging, production):
        member.publish(org.new)
    emulator.sabotage("web", "unhealthy")
    before = production.instances()

    first, second = verdict_lands_after_b_planned(org, staging, production)

    # The emulator's side: production's group is as it was, the table holds staging's condemn alone,
    # and production's claim (central and its own) was given back, not left in flight.
    assert production.instances() == before and production.terminated() == []
    assert [(i["verdict"], i["account"]) for i in org.items() if "verdict" in i] == [("condemned", STAGING)]
    central, local = canary_items(org, production)
    assert (central["account"], central["status"]) == (PROD_A, "condemned-by-organization")
    assert local["status"] == "condemned-by-organization"
    assert first.groups[0].outcome == "failed"
    [group] = second.groups
    assert (group.outcome, group.reason) == ("skipped", "canary-failed")
    assert "after this run planned" in group.detail
    assert f"account {STAGING} {HOME}, group web" in group.detail
    assert second.reverted == []  # staging condemned it: production's run reverts nothing of its own


def test_a_claim_not_given_back_after_a_verdict_still_holds_the_group_back(
    org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same condemn race, and production's ledger refuses the release of its claim (throttled past
    the SDK's retries): the verdict still holds the group back, skipped, not failed (a failure of this
    run would count toward failures_before_stop and page for an image another account already judged)."""
    staging, production = org.member(STAGING), org.member(PROD_A)
    for member in (staging, production):
        member.publish(org.new)
    emulator.sabotage("web", "unhealthy")
    before = production.instances()
    releasing = Ledger.release_canary

    def refused_after_a_verdict(self: Ledger, image: str, run_id: str, outcome: str) -> None:
        if outcome.endswith("-by-organization"):
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "throttled"}}
            raise ClientError(error, "UpdateItem")  # type: ignore[arg-type]
        releasing(self, image, run_id, outcome)

    monkeypatch.setattr(Ledger, "release_canary", refused_after_a_verdict)
    _, second = verdict_lands_after_b_planned(org, staging, production)
    assert production.instances() == before and production.terminated() == []
    [group] = second.groups
    assert (group.outcome, group.reason) == ("skipped", "canary-failed") and not second.failed


@pytest.mark.parametrize("source", ["publish", "schedule"])
def test_a_proof_between_a_members_plan_and_its_claim_starts_no_second_canary(
    org: Organization, source: str
) -> None:
    """The same race with staging's canary proving the image (in the ring production is in): the image
    needs no second canary. A publish event's run leaves the group to its schedule (scheduled-later);
    a scheduled run recycles it as any group on a proven image (no canary, no bake). Before: production
    canaried it."""
    staging, production = org.member(STAGING), org.member(PROD_A)
    for member in (staging, production):
        member.publish(org.new)
    before = production.instances()
    payload = ManualPayload(poll_seconds=5, health_timeout_seconds=60)
    if source == "publish":
        payload = payload.model_copy(
            update={"source": "publish", "canary_only": True, "trigger": "ssm parameter /golden/ami Update"}
        )

    first, second = verdict_lands_after_b_planned(org, staging, production, payload)

    [group] = second.groups
    if source == "publish":
        assert production.instances() == before and production.terminated() == []
        assert [(i["verdict"], i["account"]) for i in org.items() if "verdict" in i] == [("proven", STAGING)]
        assert (group.outcome, group.reason) == ("skipped", "scheduled-later")
    else:
        assert len(production.terminated()) == 1
        assert (group.outcome, group.canary, group.baked) == ("recycled", False, None)
    assert first.groups[0].outcome == "recycled"
    central, local = canary_items(org, production)
    assert (central["account"], central["status"]) == (PROD_A, "proven-by-organization")
    assert local["status"] == "proven-by-organization"


def test_a_drill_canaries_an_image_another_member_condemned(org: Organization) -> None:
    """A drill with "canary": true tries its image whatever its verdict, the organization's too (an
    operator re-trying an image staging condemned): the verdicts read again once the canary claim is
    granted must not hold it. Staging condemned the image on its api group; production's drill launches
    it on web, proves it there, and its verdict joins staging's condemn. Mutation guarded: the re-read
    done for a drill too, which holds it (skipped, canary-failed) and launches nothing."""
    staging, production = org.member(STAGING, groups=("api",)), org.member(PROD_A)
    for member in (staging, production):
        member.publish(org.new)
    emulator.sabotage("api", "unhealthy")  # staging's replacement only: web's come up healthy
    recycle(org, staging)
    assert [(i["verdict"], i["account"]) for i in org.items() if "verdict" in i] == [("condemned", STAGING)]
    before = production.instances()

    drill = ManualPayload(canary=True, poll_seconds=5, health_timeout_seconds=60)
    report = recycle(org, production, payload=drill)

    # The emulator's side: one of production's instances replaced, by one launched from the image.
    assert len(production.terminated()) == 1
    [replacement] = production.replacements(before)
    described = production.session.client("ec2").describe_instances(InstanceIds=[replacement["InstanceId"]])
    assert described["Reservations"][0]["Instances"][0]["ImageId"] == org.new
    [group] = report.groups
    assert (group.outcome, group.canary) == ("recycled", True)
    verdicts = sorted((i["verdict"], i["account"]) for i in org.items() if "verdict" in i)
    assert verdicts == [("condemned", STAGING), ("proven", PROD_A)]
    central, local = canary_items(org, production)  # the drill's claim, given back once it was done
    assert (central["account"], central["run_id"], central["status"]) == (PROD_A, report.run_id, "recycled")
    assert (local["run_id"], local["status"]) == (report.run_id, "recycled")


def test_a_canary_whose_verdicts_cannot_be_read_again_goes_on_with_its_claims(
    org: Organization, caplog: pytest.LogCaptureFixture
) -> None:
    """The table's policy stops allowing Query after the member planned (a policy edit): the central
    claim (a PutItem) is granted, the read of the image's verdicts after it is refused. As when the
    store cannot be reached for the claim (docs/many-accounts.md, Failure modes), the canary goes on
    with the claims it holds, and the log names the image. Mutation guarded: the refused read raised,
    which fails the group (ledger-unavailable) and replaces nothing."""
    staging = org.member(STAGING)
    staging.publish(org.new)
    deny_queries = policy_allowing_only(org, ["dynamodb:GetItem", "dynamodb:PutItem"])
    caplog.set_level(logging.WARNING, logger="recycler.workflow.org_verdicts")
    report = recycle(org, staging, port=FaultPort(after={"plan": deny_queries}))

    assert len(staging.terminated()) == 1
    [group] = report.groups
    assert (group.outcome, group.canary) == ("recycled", True)
    assert report.organization_verdicts_unreadable is None  # the plan read them: the re-read failed
    [logged] = [
        r for r in caplog.records if r.getMessage() == "organization verdicts not read after the canary claim"
    ]
    assert getattr(logged, "image", None) == org.new and "AccessDenied" in str(getattr(logged, "error", ""))
    # Writes still reach the table: staging's proof, and its claim given back.
    assert [(i["verdict"], i["account"]) for i in org.items() if "verdict" in i] == [("proven", STAGING)]
    central, _ = canary_items(org, staging)
    assert (central["account"], central["status"]) == (STAGING, "recycled")


def test_another_members_broken_verdict_puts_this_members_launch_path_back_once(org: Organization) -> None:
    """revert_on_canary_failure reaches every member: production's groups launch resolve:ssm:/golden/ami;
    staging proves the new image broken; production's run terminates nothing and puts its own parameter
    back to the image it had proven, once. Before: production canaried the image itself (one broken
    replacement there) before reverting."""
    staging = org.member(STAGING)
    emulator.sabotage("web", "unhealthy")
    staging.publish(org.new)
    recycle(org, staging)  # condemned centrally: replacement unhealthy

    session = session_of(PROD_A, HOME)
    ssm, ec2 = session.client("ssm"), session.client("ec2")
    ssm.put_parameter(Name="/golden/ami", Value=org.old, Type="String", DataType="aws:ec2:image")
    template = create_launch_template(ec2, "golden", "resolve:ssm:/golden/ami")
    autoscaling = session.client("autoscaling")
    ids = create_group(
        autoscaling,
        "api",
        template,
        size=3,
        max_size=6,
        tags={"recycler:enabled": "true"},
        version="$Default",
        zone=f"{HOME}a",
    )
    backdate(ids, datetime.now(UTC) - timedelta(days=9), HOME, PROD_A)
    emulator.create_ledger_table(session.client("dynamodb"), LEDGER)
    from recycler.aws.ledger import Ledger

    Ledger(LEDGER, session=session).record_proven(org.old, "api", "an-earlier-run", datetime.now(UTC))
    ssm.put_parameter(
        Name="/golden/ami", Value=org.new, Type="String", DataType="aws:ec2:image", Overwrite=True
    )
    production = Member(PROD_A, HOME, session, template)

    def protected() -> RunReport:
        settings = Settings(
            failures_before_stop=10,
            ledger_table=LEDGER,
            verdicts_table=org.table_arn,
            account_id=PROD_A,
            revert_on_canary_failure=True,
        )
        services = aws_services(session, settings=settings, region=HOME)
        return run(FaultPort(), services, settings, ManualPayload(poll_seconds=5, health_timeout_seconds=60))

    first = protected()
    assert production.terminated() == []
    assert first.groups[0].reason == "canary-failed"
    values = [p["Value"] for p in ssm.get_parameter_history(Name="/golden/ami")["Parameters"]]
    assert values == [org.old, org.new, org.old]  # put back to the image production had proven
    assert [r.outcome for r in first.reverted] == ["restored"]

    protected()  # the path no longer holds the broken image: nothing more written
    assert len(ssm.get_parameter_history(Name="/golden/ami")["Parameters"]) == 3


def test_history_shows_an_images_verdicts_ring_by_ring(
    org: Organization, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`history --image` from production: staging's proof first, then production's condemn, under the
    image's verdict key. Before: --image was refused (an unknown flag)."""
    staging, production = org.member(STAGING), org.member(PROD_A)
    for member in (staging, production):
        member.publish(org.new)
    now = datetime.now(UTC)
    recycle(org, staging, rings=RINGS, at=now)  # proven in staging
    emulator.sabotage("web", "unhealthy")
    recycle(org, production, rings=RINGS, at=now + timedelta(hours=25))  # condemned in production

    found = production.session.get_credentials()
    assert found is not None
    creds = found.get_frozen_credentials()
    for key, value in {
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_SESSION_TOKEN": str(creds.token),
        "RECYCLER_VERDICTS_TABLE": org.table_arn,
        "RECYCLER_ACCOUNT_ID": PROD_A,
        "RECYCLER_RINGS": RINGS,
    }.items():
        monkeypatch.setenv(key, str(value))
    from recycler.cli.main import main

    code = main(["history", "--image", org.new, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["ring"], r["verdict"], r["account"]) for r in rows] == [
        ("staging", "proven", STAGING),
        ("production", "condemned", PROD_A),
    ]
    assert all(r["key"] == f"{HOME}/{org.new}" for r in rows)
