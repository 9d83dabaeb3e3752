"""Launch activities read as Auto Scaling words them: whose launch it was, and why one failed.

A launch that failed for capacity is not a verdict on the image: Auto Scaling makes the launch request
again (in the same Availability Zone, or with balanced-best-effort in another one) until capacity comes
back. A launch that failed because of the image or the launch template fails every time. The health
wait keeps waiting out the first kind and fails fast on the second.
"""

from __future__ import annotations

import re
from enum import StrEnum

from recycler.domain import Activity

# Scaling activity causes, as Auto Scaling words them ("At <time> a monitor alarm ... triggered policy
# ... changing the desired capacity from 3 to 4. At <time> an instance was started in response to a
# difference between desired and actual capacity, increasing the capacity from 3 to 4.").
DESIRED_CHANGED = "changing the desired capacity"
CAPACITY_GAP = "difference between desired and actual capacity"


class LaunchFailure(StrEnum):
    CAPACITY = "capacity"  # no instance of the type in the zone right now: Auto Scaling retries
    # The account's instance limit: retrying soon does not fix it, and neither does another image.
    QUOTA = "quota"
    LAUNCH_TEMPLATE = "launch template"  # the image, or the rest of the launch template: fails every time


# Auto Scaling's StatusMessage texts, from the AWS troubleshooting pages (first match wins):
# https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-instancelaunchfailure.html ("We currently do
# not have sufficient <instance type> capacity in the Availability Zone you requested ... Wait a few
# minutes and then submit your request again; capacity can shift frequently", "There is no Spot capacity
# available that matches your request ... The Spot request continues to automatically make the launch
# request until capacity becomes available", "<number> instance(s) are already running"), and the EC2
# error codes LaunchInstancesError.ErrorCode carries
# (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LaunchInstancesError.html, "e.g.,
# InsufficientInstanceCapacity"). Anything else, including every AMI, user data, block device, security
# group and key pair message (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-ami.html), is
# the launch template's: an unknown text fails safe, as the image's failure.
CAPACITY_TEXTS = re.compile(
    r"do not have sufficient .*capacity|no spot capacity available|insufficient\w*capacity"
    r"|unfulfillablecapacity|insufficient capacity|capacity-not-available",
    re.IGNORECASE,
)
QUOTA_TEXTS = re.compile(
    r"instance\(s\) are already running|instancelimitexceeded|maxspotinstancecountexceeded|vcpu limit",
    re.IGNORECASE,
)
# Texts that name the image or the launch template win over a capacity word in the same message.
TEMPLATE_TEXTS = re.compile(
    r"\bami\b|image id|invalidamiid|user ?data|block device|device name|architecture|security group"
    r"|key pair|not supported|no longer supported",
    re.IGNORECASE,
)


def launched_by_us(activity: Activity, surge_from: int | None) -> bool | None:
    """True: the launch our terminate (or surge) caused; False: a launch for another reason, such as a
    scaling policy; None: the cause does not say."""
    cause = activity.cause
    if surge_from is not None:
        ours = f"{DESIRED_CHANGED} from {surge_from} to {surge_from + 1}"
        if ours in cause and "user request" in cause:
            return True
        return False if DESIRED_CHANGED in cause else None
    # Our terminate keeps desired capacity as it was: the launch closes the gap it opened.
    if DESIRED_CHANGED in cause:
        return False
    return True if CAPACITY_GAP in cause else None


def failure_text(activity: Activity) -> str:
    """Why a launch failed: its StatusMessage, else what its Description says after "Status Reason:"."""
    if activity.message:
        return activity.message
    return activity.description.split("Status Reason:", 1)[-1].strip()


def launch_failure(activity: Activity) -> LaunchFailure:
    """What kind of failure a Failed or Cancelled launch activity reports."""
    text = failure_text(activity)
    if TEMPLATE_TEXTS.search(text):
        return LaunchFailure.LAUNCH_TEMPLATE
    if CAPACITY_TEXTS.search(text):
        return LaunchFailure.CAPACITY
    if QUOTA_TEXTS.search(text):
        return LaunchFailure.QUOTA
    return LaunchFailure.LAUNCH_TEMPLATE
