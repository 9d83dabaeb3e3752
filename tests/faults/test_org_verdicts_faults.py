"""Faults of the organization's verdict store (docs/many-accounts.md, Failure modes)."""

from __future__ import annotations

from recycler.aws.compose import aws_services
from recycler.local import emulator
from recycler.models import ManualPayload, Settings
from recycler.workflow.run import run
from tests.faults.harness import FaultPort
from tests.integration.test_org_verdicts import (
    LEDGER,
    STAGING,
    Organization,
    org,  # noqa: F401 - the fixture
    policy_allowing_only,
)


def test_f49_a_condemn_the_central_table_refuses_still_holds_the_image_in_its_own_account(
    org: Organization,  # noqa: F811 - the fixture imported above
) -> None:
    """The table's policy stops allowing PutItem after the member planned (a policy edit, a deny):
    its canary claim and its condemn are refused centrally. The canary still runs on the member's own
    ledger claim, fails, and is condemned there: its next run terminates nothing; nothing reached the table."""
    staging = org.member(STAGING)
    emulator.sabotage("web", "unhealthy")
    staging.publish(org.new)
    deny_writes = policy_allowing_only(org, ["dynamodb:GetItem", "dynamodb:Query"])
    settings = Settings(
        failures_before_stop=10, ledger_table=LEDGER, verdicts_table=org.table_arn, account_id=STAGING
    )
    services = aws_services(staging.session, settings=settings, region=staging.region)
    first = run(FaultPort(after={"plan": deny_writes}), services, settings, ManualPayload(poll_seconds=5))
    assert len(staging.terminated()) == 1 and first.groups[0].outcome == "failed"
    assert org.items() == []  # neither the claim nor the condemn reached the table

    own = staging.session.client("dynamodb").get_item(
        TableName=LEDGER, Key={"group_name": {"S": f"image#{org.new}"}, "record": {"S": "condemned"}}
    )
    assert own["Item"]["canary"]["S"] == "web"  # condemned in its own ledger: its later runs hold it
    run(FaultPort(), services, settings, ManualPayload(poll_seconds=5))
    assert len(staging.terminated()) == 1  # nothing more terminated
