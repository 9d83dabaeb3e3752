"""`python -m recycler fleet` on a member of an organization: for each image its groups run or would
launch, the organization's verdict ring by ring, as the central table holds it.

The organization is test_org_verdicts.py's: emulated accounts with their own credentials, the central
account's table reached by ARN, verdicts written by the real workflow (a canary run in staging). The
fleet report is read with the member's credentials and RECYCLER_VERDICTS_TABLE, RECYCLER_ACCOUNT_ID and
RECYCLER_RINGS as its stack sets them.

On the code as it was, `fleet` printed no verdicts: the JSON had no `image_verdicts`, the table no verdict
rows, and no line said the store was unreadable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Protocol

import pytest

from recycler.cli.main import main
from recycler.local import emulator
from tests.integration import test_org_verdicts as shared
from tests.integration.test_org_verdicts import (
    HOME,
    OUTSIDER,
    PROD_A,
    RINGS,
    STAGING,
    TABLE,
    Member,
    Organization,
    recycle,
)

org = shared.org  # the organization fixture: central table, members joined, stock images


class Fleet(Protocol):
    def __call__(
        self, member: Member, *args: str, store: dict[str, str] | None = None
    ) -> tuple[int, str, str]: ...


@pytest.fixture
def fleet_as(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Fleet:
    """`fleet` with the member's credentials and (unless store is {}) its organization settings."""

    def run(member: Member, *args: str, store: dict[str, str] | None = None) -> tuple[int, str, str]:
        found = member.session.get_credentials()
        assert found is not None
        creds = found.get_frozen_credentials()
        env = {
            "AWS_ACCESS_KEY_ID": str(creds.access_key),
            "AWS_SECRET_ACCESS_KEY": str(creds.secret_key),
            "AWS_SESSION_TOKEN": str(creds.token),
            **(store or {}),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        code = main(["fleet", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def member_of(org: Organization, member: Member, rings: str | None = None) -> dict[str, str]:
    return {
        "RECYCLER_VERDICTS_TABLE": org.table_arn,
        "RECYCLER_ACCOUNT_ID": member.account,
        **({"RECYCLER_RINGS": rings} if rings else {}),
    }


def by_ring(rows: list[dict[str, str | None]], image: str) -> list[tuple[str | None, ...]]:
    return [
        (r["ring"], r["verdict"], r["account"], r["region"], r["group"]) for r in rows if r["image"] == image
    ]


@pytest.fixture
def soaking(org: Organization) -> tuple[Member, Member]:
    """Staging proved the new image (its canary, the real recorder); production has not taken it yet."""
    staging, production = org.member(STAGING), org.member(PROD_A)
    for member in (staging, production):
        member.publish(org.new)
    recycle(org, staging, rings=RINGS, at=datetime.now(UTC))
    return staging, production


def test_each_image_production_runs_or_would_launch_shows_its_verdict_per_ring(
    org: Organization,
    soaking: tuple[Member, Member],
    fleet_as: Fleet,
) -> None:
    _, production = soaking
    code, out, err = fleet_as(production, "--json", store=member_of(org, production, RINGS))
    assert code == 0, err
    report = json.loads(out)
    assert [g["group"] for g in report["groups"]] == ["web"]  # the fleet is reported as before
    rows = report["image_verdicts"]
    [proof] = [i for i in org.items() if i.get("verdict") == "proven"]  # what staging's canary wrote
    # The image production's template launches: staging's proof first, production none yet (ring order).
    assert by_ring(rows, org.new) == [
        ("staging", "proven", STAGING, HOME, "web"),
        ("production", "none yet", None, None, None),
    ]
    [staged] = [r for r in rows if r["image"] == org.new and r["ring"] == "staging"]
    assert (staged["account"], staged["group"], staged["at"]) == (
        proof["account"],
        proof["group"],
        proof["at"],
    )
    assert staged["key"] == proof["image"] == f"{HOME}/{org.new}"
    # The image its instances run now: no ring judged it.
    assert by_ring(rows, org.old) == [
        ("staging", "none yet", None, None, None),
        ("production", "none yet", None, None, None),
    ]
    assert set(rows[0]) == {"image", "key", "ring", "verdict", "account", "region", "group", "at"}
    assert "unreadable" not in err and "organization_verdicts_unreadable" not in report

    code, out, _ = fleet_as(
        production,
        "--query",
        "image_verdicts[?verdict=='proven'].[image, ring, account]",
        "--output",
        "text",
        store=member_of(org, production, RINGS),
    )
    assert code == 0 and out.splitlines() == [f"{org.new}\tstaging\t{STAGING}"]


def test_the_table_keeps_80_columns(
    org: Organization, soaking: tuple[Member, Member], fleet_as: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, production = soaking
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = fleet_as(production, store=member_of(org, production, RINGS))
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    # Each image id whole on its rows, with the ring's verdict beside it.
    assert any(org.new in line and "staging" in line and "proven" in line for line in lines)
    assert any(org.new in line and "production" in line and "none yet" in line for line in lines)


def test_a_condemned_image_shows_who_condemned_it(org: Organization, fleet_as: Fleet) -> None:
    """Without rings every member is in one ring, "organization"; staging's canary condemned the image."""
    staging, production = org.member(STAGING), org.member(PROD_A)
    emulator.sabotage("web", "unhealthy")
    for member in (staging, production):
        member.publish(org.new)
    recycle(org, staging)

    code, out, err = fleet_as(production, "--json", store=member_of(org, production))
    assert code == 0, err
    rows = json.loads(out)["image_verdicts"]
    assert by_ring(rows, org.new) == [("organization", "condemned", STAGING, HOME, "web")]
    [condemn] = [i for i in org.items() if i.get("verdict") == "condemned"]
    assert [r["at"] for r in rows if r["image"] == org.new] == [condemn["at"]]

    code, out, _ = fleet_as(production, store=member_of(org, production))
    assert code == 0
    assert any(org.new in line and "condemned" in line and STAGING in line for line in out.splitlines())


@pytest.mark.parametrize(
    ("account", "table", "error"),
    [
        (OUTSIDER, TABLE, "AccessDenied"),  # the table's policy does not let this account's role in
        (PROD_A, "recycler-verdicts-gone", "ResourceNotFoundException"),
    ],
)
def test_an_unreadable_store_is_one_line_and_the_fleet_is_still_reported(
    org: Organization,
    fleet_as: Fleet,
    account: str,
    table: str,
    error: str,
) -> None:
    member = org.member(account)
    store = {
        "RECYCLER_VERDICTS_TABLE": org.table_arn.replace(TABLE, table),
        "RECYCLER_ACCOUNT_ID": account,
    }
    code, out, err = fleet_as(member, "--json", store=store)
    assert code == 0, err
    report = json.loads(out)
    assert [(g["group"], g["instances"]) for g in report["groups"]] == [("web", 3)]
    assert report["image_verdicts"] == [] and error in report["organization_verdicts_unreadable"]
    [note] = [line for line in err.splitlines() if "organization verdicts" in line]
    assert note.startswith(f"organization verdicts unreadable ({error}")

    code, out, err = fleet_as(member, store=store)
    assert code == 0 and "recycler fleet: account" in out and "fleet: 3 instances in 1 groups" in out
    assert f"organization verdicts unreadable ({error}" in " ".join(out.split())
    assert "Traceback" not in err


def test_without_a_store_the_report_is_as_it_was(org: Organization, fleet_as: Fleet) -> None:
    """A guard, not a new behaviour (it passes on the old code too): no store, no verdict section."""
    member = org.member(PROD_A)
    member.publish(org.new)
    code, out, err = fleet_as(member, "--json", store={})
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"read_at", "account", "region", "thresholds", "fleet", "groups"}
    code, out, err = fleet_as(member, store={})
    assert code == 0 and "organization verdicts" not in out + err


def test_stack_names_the_store_its_rings_and_the_caller_is_the_member(
    org: Organization, soaking: tuple[Member, Member], fleet_as: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--stack NAME`: the member stack's VerdictsTable and Rings outputs (infra/stack.py); the member is
    the caller's account (no RECYCLER_ACCOUNT_ID: an operator does not set the function's variables)."""
    _, production = soaking
    body = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"VerdictsTable": {"Value": org.table_arn}, "Rings": {"Value": RINGS}},
    }
    production.session.client("cloudformation").create_stack(
        StackName="RecyclerMember", TemplateBody=json.dumps(body)
    )
    for variable in ("RECYCLER_VERDICTS_TABLE", "RECYCLER_ACCOUNT_ID", "RECYCLER_RINGS"):
        monkeypatch.delenv(variable, raising=False)
    code, out, err = fleet_as(production, "--json", "--stack", "RecyclerMember")
    assert code == 0, err
    assert f"RECYCLER_VERDICTS_TABLE={org.table_arn}" in err
    assert by_ring(json.loads(out)["image_verdicts"], org.new) == [
        ("staging", "proven", STAGING, HOME, "web"),
        ("production", "none yet", None, None, None),
    ]


def test_an_image_only_an_instance_type_override_launches_is_shown(
    org: Organization, fleet_as: Fleet
) -> None:
    """A mixed-instances group whose override for one instance type has a launch template of its own
    launches that template's image for the type (Auto Scaling's LaunchTemplateOverrides): it is an image
    the group would launch, so its verdicts are shown though no instance runs it yet."""
    production = org.member(PROD_A)
    special = emulator.create_launch_template(production.session.client("ec2"), "lt-special", org.new)
    production.session.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="mixed",
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {
                    "LaunchTemplateId": production.template,
                    "Version": "$Latest",
                },
                "Overrides": [
                    {"InstanceType": "m5.large"},
                    {
                        "InstanceType": "t3.micro",
                        "LaunchTemplateSpecification": {"LaunchTemplateId": special, "Version": "$Latest"},
                    },
                ],
            }
        },
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=1,
        AvailabilityZones=[f"{HOME}a"],
        Tags=emulator.group_tags("mixed", {"recycler:enabled": "true"}),
    )
    code, out, err = fleet_as(production, "--json", store=member_of(org, production, RINGS))
    assert code == 0, err
    rows = json.loads(out)["image_verdicts"]
    assert by_ring(rows, org.new) == [
        ("staging", "none yet", None, None, None),
        ("production", "none yet", None, None, None),
    ]


def test_a_verdict_from_a_ring_this_member_does_not_know_is_shown_after_its_rings(
    org: Organization, fleet_as: Fleet
) -> None:
    """Members may hold different rings for a while (a StackSet update reaches accounts one by one):
    staging proved the image as ring "pilot", which production's rings do not name. Its proof is still
    in the central table, so fleet shows it, after production's own rings."""
    staging, production = org.member(STAGING), org.member(PROD_A)
    for member in (staging, production):
        member.publish(org.new)
    pilot = f'[{{"name": "pilot", "accounts": ["{STAGING}"]}}, {{"name": "production", "accounts": ["{PROD_A}"]}}]'
    recycle(org, staging, rings=pilot, at=datetime.now(UTC))
    assert any(i.get("verdict") == "proven" for i in org.items())  # as ring "pilot"
    code, out, err = fleet_as(production, "--json", store=member_of(org, production, RINGS))
    assert code == 0, err
    assert by_ring(json.loads(out)["image_verdicts"], org.new) == [
        ("staging", "none yet", None, None, None),
        ("production", "none yet", None, None, None),
        ("pilot", "proven", STAGING, HOME, "web"),
    ]
