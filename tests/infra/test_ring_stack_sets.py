"""recycler:rings by OU: one StackSet per ring of OUs, each telling its stack instances their ring's OUs.

A member cannot read its own OU (Organizations answers only the management account or a delegated
administrator), and a per-OU parameter override would not reach an account that joins the OU later
("Accounts added to the target OUs ... in the future will use the StackSet default values":
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-manage-auto-deployment.html).
So each ring of OUs gets a StackSet of its own whose StackSet-level parameter names the ring's OUs; the
tests read each StackSet's parameter as its members' function would and place the member in a ring.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError
from recycler.cli.first_contact import STACK_OUTPUTS
from recycler.models import Settings
from tests.infra.test_many_environments import assembly, cfn_lint_errors, of_type
from tests.infra.test_organization import MANAGEMENT, ORGANIZATION, UNITS

STAGING_ACCOUNT, OTHER_ACCOUNT = "111111111111", "555555555555"
RINGS: list[dict[str, Any]] = [
    {"name": "staging", "accounts": [STAGING_ACCOUNT]},
    {"name": "prod.eu", "organizational_units": [UNITS[1]], "soak_hours": 24},
]
TABLE = "arn:aws:dynamodb:eu-central-1:999999999999:table/recycler-verdicts"


def administrator(rings: list[dict[str, Any]], **organization: Any) -> dict[str, Any]:
    """The RecyclerOrganization stack's template (the StackSets) for these rings."""
    org = assembly(
        **{
            "recycler:organization": {**ORGANIZATION, **organization},
            "recycler:environments": [MANAGEMENT],
            "recycler:rings": rings,
        }
    )
    template: dict[str, Any] = org.get_stack_by_name("RecyclerOrganization").template
    return template


def stack_sets_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = of_type(template, "AWS::CloudFormation::StackSet")
    return {s["Properties"]["StackSetName"]: s["Properties"] for s in found}


def stack_sets(rings: list[dict[str, Any]], **organization: Any) -> dict[str, dict[str, Any]]:
    return stack_sets_of(administrator(rings, **organization))


@pytest.fixture(scope="module")
def by_ou_template() -> dict[str, Any]:
    return administrator(RINGS)  # one synth (several seconds) for every test of these rings


@pytest.fixture(scope="module")
def by_ou(by_ou_template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return stack_sets_of(by_ou_template)


def member_ring(stack_set: dict[str, Any], account: str) -> str:
    """The ring a stack instance of this StackSet in `account` plans as: its function's environment,
    with the StackSet's parameter values substituted for the template's parameters."""
    body = json.loads(stack_set["TemplateBody"])
    values = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]}
    assert set(values) == set(body["Parameters"]), "every template parameter gets its value from the StackSet"
    [function] = [
        f for f in of_type(body, "AWS::Lambda::Function") if "RECYCLER_RINGS" in str(f["Properties"])
    ]
    environment = function["Properties"]["Environment"]["Variables"]
    units = environment["RECYCLER_ORGANIZATIONAL_UNITS"]
    assert units == {"Ref": "OrganizationalUnits"}
    settings = Settings(
        verdicts_table=TABLE,
        account_id=account,
        rings=environment["RECYCLER_RINGS"],
        organizational_units=values["OrganizationalUnits"],
    )
    membership = settings.membership("eu-west-1")
    assert membership is not None
    return membership.ring


def targets(stack_set: dict[str, Any]) -> list[str]:
    [group] = stack_set["StackInstancesGroup"]
    units: list[str] = group["DeploymentTargets"]["OrganizationalUnitIds"]
    return units


def test_a_ring_of_ous_is_a_stack_set_that_tells_its_members_their_ring(by_ou: dict[str, Any]) -> None:
    assert sorted(by_ou) == ["recycler", "recycler-ring1-prod-eu"]
    base, production = by_ou["recycler"], by_ou["recycler-ring1-prod-eu"]
    # Every OU of the organization in exactly one StackSet: an account in two would fail the second.
    assert targets(base) == [UNITS[0]] and targets(production) == [UNITS[1]]
    assert member_ring(production, OTHER_ACCOUNT) == "prod.eu"
    assert member_ring(base, STAGING_ACCOUNT) == "staging"
    assert member_ring(base, OTHER_ACCOUNT) == "prod.eu"  # named by no ring: the last ring
    # An account joining the OU later gets the StackSet's own values (auto-deployment), not an override.
    assert all(s["AutoDeployment"]["Enabled"] for s in by_ou.values())
    assert all("ParameterOverrides" not in g for s in by_ou.values() for g in s["StackInstancesGroup"])


def test_rings_of_accounts_keep_one_stack_set_and_no_ou_parameter() -> None:
    found = stack_sets(
        [{"name": "staging", "accounts": [STAGING_ACCOUNT]}, {"name": "prod", "accounts": [OTHER_ACCOUNT]}]
    )
    [only] = found.values()
    assert targets(only) == list(UNITS)
    assert "OrganizationalUnits" not in json.loads(only["TemplateBody"])["Parameters"]


def test_every_ou_in_a_ring_leaves_no_stack_set_over_the_rest() -> None:
    found = stack_sets(
        [
            {"name": "staging", "organizational_units": [UNITS[0]]},
            {"name": "production", "organizational_units": [UNITS[1]], "soak_hours": 24},
        ]
    )
    assert sorted(found) == ["recycler-ring0-staging", "recycler-ring1-production"]
    assert member_ring(found["recycler-ring0-staging"], OTHER_ACCOUNT) == "staging"


def test_rings_of_ous_with_the_root_as_a_target_are_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"organizational_units: r-ab12 \(the root\) holds every ring's OUs"
    ):
        stack_sets(RINGS, organizational_units=["r-ab12", UNITS[1]])


def test_rings_of_ous_without_an_organization_rollout_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"recycler:rings\[1\]\.organizational_units: rings of OUs need"):
        assembly(
            **{
                "recycler:environments": [MANAGEMENT],
                "recycler:central": {"account": "999999999999", "region": "eu-central-1"},
                "recycler:rings": RINGS,
            }
        )


def test_a_members_outputs_give_the_cli_its_verdict_store(by_ou: dict[str, Any]) -> None:
    """`history --image --stack` and `fleet --stack` read these outputs (first_contact.STACK_OUTPUTS)
    into the settings the function has: the same values its environment holds."""
    body = json.loads(by_ou["recycler-ring1-prod-eu"]["TemplateBody"])
    [function] = [f for f in of_type(body, "AWS::Lambda::Function") if "RECYCLER_RINGS" in str(f)]
    environment = function["Properties"]["Environment"]["Variables"]
    read = {
        STACK_OUTPUTS[name]: output["Value"]
        for name, output in body["Outputs"].items()
        if name in STACK_OUTPUTS
    }
    for variable in ("RECYCLER_VERDICTS_TABLE", "RECYCLER_RINGS", "RECYCLER_ORGANIZATIONAL_UNITS"):
        assert read[variable] == environment[variable], variable


def test_an_account_a_ring_names_stays_in_it_inside_a_later_rings_ou(by_ou: dict[str, Any]) -> None:
    """docs/many-accounts.md: an account named by a ring's accounts and inside another ring's OU is in the
    first ring that names it; staging's account deployed by production's StackSet stays in staging."""
    assert member_ring(by_ou["recycler-ring1-prod-eu"], STAGING_ACCOUNT) == "staging"


# CreateStackSet's StackSetName: "only alphanumeric characters (case-sensitive) and hyphens. It must start
# with an alphabetic character and can't be longer than 128 characters."
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html
STACK_SET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
THIRD_UNIT = "ou-ab12-33333333"


@pytest.fixture(scope="module")
def two_ou_ring() -> dict[str, dict[str, Any]]:
    """A first ring of two OUs whose name holds an underscore, the last ring by account."""
    return stack_sets(
        [
            {"name": "canary_eu-" + "x" * 30, "organizational_units": [UNITS[1], THIRD_UNIT]},
            {"name": "production", "accounts": [OTHER_ACCOUNT], "soak_hours": 24},
        ],
        organizational_units=[*UNITS, THIRD_UNIT],
    )


def test_every_stack_set_name_is_one_cloudformation_accepts(two_ou_ring: dict[str, Any]) -> None:
    assert len(two_ou_ring) == 2
    for name in two_ou_ring:
        assert STACK_SET_NAME.fullmatch(name), name


def test_every_stack_sets_ou_value_passes_the_parameters_allowed_pattern(two_ou_ring: dict[str, Any]) -> None:
    """CloudFormation refuses a stack instance whose parameter value does not match the template's
    AllowedPattern (Parameters section: AllowedPattern), so a ring of two OUs must pass it, and so must the
    StackSet over the OUs no ring names (its value empty)."""
    values = []
    for stack_set in two_ou_ring.values():
        body = json.loads(stack_set["TemplateBody"])
        pattern = body["Parameters"]["OrganizationalUnits"]["AllowedPattern"]
        [value] = [
            p["ParameterValue"] for p in stack_set["Parameters"] if p["ParameterKey"] == "OrganizationalUnits"
        ]
        assert re.fullmatch(pattern, value), (pattern, value)
        values.append(value)
    assert sorted(values) == ["", f"{UNITS[1]},{THIRD_UNIT}"]


def test_a_member_of_any_of_a_rings_ous_is_in_that_ring(two_ou_ring: dict[str, Any]) -> None:
    [ring_set] = [s for name, s in two_ou_ring.items() if name.startswith("recycler-ring0-")]
    assert targets(ring_set) == [UNITS[1], THIRD_UNIT]
    assert member_ring(ring_set, STAGING_ACCOUNT) == "canary_eu-" + "x" * 30
    assert member_ring(two_ou_ring["recycler"], STAGING_ACCOUNT) == "production"


def test_a_rings_stack_set_waits_for_the_one_over_the_other_ous(by_ou_template: dict[str, Any]) -> None:
    """Adding a ring of OUs moves the OU from the base StackSet to the ring's: CloudFormation must finish
    the base's update (its stack instances in that OU deleted) before the ring's StackSet creates stacks
    with the same fixed names there; without DependsOn it does both at once."""
    resources = by_ou_template["Resources"]
    found = {
        r["Properties"]["StackSetName"]: (logical, r.get("DependsOn", []))
        for logical, r in resources.items()
        if r["Type"] == "AWS::CloudFormation::StackSet"
    }
    base_id, base_depends = found["recycler"]
    assert base_id in found["recycler-ring1-prod-eu"][1] and base_depends == []


def condition_holds(body: dict[str, Any], name: str, values: dict[str, str]) -> bool:
    """Fn::Not [Fn::Equals [Ref P, literal]] with the StackSet's parameter values: the one shape used."""
    [equals] = body["Conditions"][name]["Fn::Not"]
    left, right = equals["Fn::Equals"]
    return bool(values[left["Ref"]] != right)


def test_only_a_rings_members_output_their_ous(by_ou: dict[str, Any]) -> None:
    """The base StackSet's members have no OUs to output (its value is ""): their stack has no such
    output, so `--stack` reads none (and no stack carries an empty output)."""
    for name, expected in (("recycler", False), ("recycler-ring1-prod-eu", True)):
        stack_set = by_ou[name]
        body = json.loads(stack_set["TemplateBody"])
        values = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]}
        output = body["Outputs"]["RingOrganizationalUnits"]
        assert condition_holds(body, output["Condition"], values) is expected, name


def test_the_templates_with_rings_of_ous_pass_cfn_lint(by_ou: dict[str, Any], tmp_path: Path) -> None:
    """The member template with its OrganizationalUnits parameter, condition and output, as every ring's
    StackSet carries it."""
    body = json.loads(by_ou["recycler-ring1-prod-eu"]["TemplateBody"])
    assert cfn_lint_errors([("member", body)], tmp_path) == ""
