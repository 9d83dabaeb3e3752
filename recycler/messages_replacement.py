"""What an alert tells an operator to do about a replacement that failed: the generic steps, and those for
a CodeDeploy group's revision or launch loop (docs/codedeploy.md). Beside messages.py (which is full);
like it, matched on Reason codes, never on wording."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recycler.domain import Reason

if TYPE_CHECKING:
    from recycler.report import GroupReport

# Failures of a CodeDeploy group's replacement that are the revision's or the deployment's, not the image's.
CODEDEPLOY_FAILURES = frozenset({Reason.REVISION_FAILED, Reason.LAUNCH_LOOP})
# Where the CodeDeploy agent logs each deployment on the instance
# (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployments-view-logs.html).
AGENT_LOG = "/opt/codedeploy-agent/deployment-root/deployment-logs/codedeploy-agent-deployments.log"


def replacement_steps(failure: Reason | None) -> list[str]:
    if failure in CODEDEPLOY_FAILURES:
        return [
            f"  1. Not the image: the deployment named above failed on the new instance. Read {AGENT_LOG} on "
            "it (or: aws deploy list-deployment-targets, then batch-get-deployment-targets for its lifecycle "
            "events), and fix the revision or redeploy the last good one.",
            "  2. Until a revision deploys, every new instance of the group (scale-outs too) is abandoned "
            "and replaced; the next run recycles the group again once the deployment group is healthy.",
        ]
    return [
        "  1. Open the group's Activity tab (link above) and read why the replacement did not become healthy.",
        "  2. Check the replacement's system log and target-group health reason; the launch template may",
        "     point at a broken AMI or user data.",
    ]


def image_failed(group: GroupReport) -> bool:
    """A failed canary that speaks of its image (a CodeDeploy revision's failure does not)."""
    return bool(group.canary) and group.outcome == "failed" and group.reason not in CODEDEPLOY_FAILURES


def group_line(group: GroupReport, attention: frozenset[Reason]) -> str:
    """One group in the run's summary; a skip that needs an operator says why (its fix is in the detail)."""
    why = f": {group.detail}" if group.reason in attention else ""
    return f"  {group.group:<32} {group.outcome:<9} {group.reason}{why}"
