"""Launch failures classified by Auto Scaling's StatusMessage texts (the AWS troubleshooting pages'
wording): capacity is waited out, a quota fails fast without blaming the image, anything else is the
launch template's."""

from __future__ import annotations

import pytest

from recycler.domain import Activity
from recycler.policy.launches import LaunchFailure, failure_text, launch_failure, launched_by_us

CAPACITY = LaunchFailure.CAPACITY
QUOTA = LaunchFailure.QUOTA
TEMPLATE = LaunchFailure.LAUNCH_TEMPLATE


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            "We currently do not have sufficient t3.micro capacity in the Availability Zone you requested "
            "(us-east-1a). Our system will be working on provisioning additional capacity. You can currently "
            "get t3.micro capacity by not specifying an Availability Zone in your request or choosing "
            "us-east-1b. Launching EC2 instance failed.",
            CAPACITY,
        ),
        (
            "There is no Spot capacity available that matches your request. Launching EC2 instance failed.",
            CAPACITY,
        ),
        ("Server.InsufficientInstanceCapacity: insufficient capacity", CAPACITY),
        ("20 instance(s) are already running. Launching EC2 instance failed.", QUOTA),
        ("The AMI ID ami-0abc does not exist. Launching EC2 instance failed.", TEMPLATE),
        ("InvalidAMIID.NotFound: The image id '[ami-0broken]' does not exist.", TEMPLATE),
        ("AMI ami-0abc is pending, and cannot be run. Launching EC2 instance failed.", TEMPLATE),
        ("The requested configuration is currently not supported. Launching EC2 instance failed.", TEMPLATE),
        ("Invalid device name /dev/sdz. Launching EC2 instance failed.", TEMPLATE),
        ("EBS block device mappings not supported for instance-store AMIs.", TEMPLATE),
        ("The security group sg-1 does not exist. Launching EC2 instance failed.", TEMPLATE),
        (
            "Your Spot request price of 0.001 is lower than the minimum required Spot request fulfillment price",
            TEMPLATE,
        ),
        ("heartbeat of lifecycle hook deploy timed out", TEMPLATE),
        ("something nobody documented", TEMPLATE),  # fail safe: not waited out
        (  # a mixed instances launch: the image's words win over the capacity words beside them
            "Could not launch On-Demand Instances. InsufficientInstanceCapacity - We currently do not have "
            "sufficient m6i.large capacity in the Availability Zone you requested (us-east-1a). Could not "
            "launch On-Demand Instances. InvalidParameterValue - The architecture 'arm64' of the specified "
            "instance type does not match the architecture 'x86_64' of the specified AMI.",
            TEMPLATE,
        ),
    ],
)
def test_launch_failures_are_classified_by_their_message(message: str, kind: LaunchFailure) -> None:
    assert launch_failure(Activity("Failed", "Launching a new EC2 instance.", message, None)) is kind


def test_without_a_status_message_the_description_says_why() -> None:
    activity = Activity(
        "Failed",
        "Launching a new EC2 instance.  Status Reason: There is no Spot capacity available that matches "
        "your request. Launching EC2 instance failed.",
        "",
        None,
    )
    assert failure_text(activity).startswith("There is no Spot capacity")
    assert launch_failure(activity) is CAPACITY


# What operators are shown as a launch's failure (failure_text), exactly: pinned after mutmut found the
# reading of the Description unpinned (CONTRIBUTING.md, "Mutation audit").
def test_the_status_message_is_shown_as_auto_scaling_wrote_it() -> None:
    activity = Activity("Failed", "Launching.  Status Reason: something else", "  The AMI is gone.  ", None)
    assert failure_text(activity) == "  The AMI is gone.  "


def test_without_a_status_message_the_reason_after_the_first_marker_is_shown_trimmed() -> None:
    activity = Activity(
        "Failed",
        "Launching a new EC2 instance.  Status Reason: The security group sg-1 does not exist. "
        "Status Reason: repeated. Launching EC2 instance failed.  ",
        "",
        None,
    )
    assert failure_text(activity) == (
        "The security group sg-1 does not exist. Status Reason: repeated. Launching EC2 instance failed."
    )


def test_without_a_status_message_or_a_marker_the_whole_description_is_shown() -> None:
    activity = Activity("Cancelled", "  Launching a new EC2 instance was cancelled.  ", "", None)
    assert failure_text(activity) == "Launching a new EC2 instance was cancelled."


# Whose launch an activity is (launched_by_us), read from the Cause as Auto Scaling words it (the
# emulator's texts, recycler/local/emulator/capacity.py). Covered before only through the integration and
# fault tests' health waits; pinned here so the unit-test mutation run judges it too.
GAP = (
    "At 2026-12-07T10:00:00Z an instance was started in response to a difference between desired and actual "
    "capacity, increasing the capacity from 2 to 3."
)
POLICY = (
    "At 2026-12-07T10:00:00Z a monitor alarm TargetTracking-web-Alarm in state ALARM triggered policy "
    "web-target-tracking changing the desired capacity from 3 to 4. " + GAP
)
SURGE = (
    "At 2026-12-07T10:00:00Z a user request explicitly set group desired capacity changing the desired "
    "capacity from 3 to 4. " + GAP
)


def launch(cause: str) -> Activity:
    return Activity("Successful", "Launching a new EC2 instance: i-1", "", None, cause=cause)


@pytest.mark.parametrize(
    ("cause", "surge_from", "ours"),
    [
        (GAP, None, True),  # our terminate opened the gap this launch closes
        (POLICY, None, False),  # a scaling policy's launch
        ("At 2026-12-07T10:00:00Z an instance was started.", None, None),  # the cause does not say
        (SURGE, 3, True),  # our own +1 from 3 to 4
        (SURGE.replace("from 3 to 4", "from 4 to 5"), 3, False),  # someone else's user request
        (POLICY, 3, False),  # the same numbers, but a policy's, not a user request
        (GAP, 3, None),
    ],
)
def test_whose_launch_it_was_is_read_from_the_cause(
    cause: str, surge_from: int | None, ours: bool | None
) -> None:
    assert launched_by_us(launch(cause), surge_from) is ours
