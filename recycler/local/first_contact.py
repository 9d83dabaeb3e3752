"""The CLI's first contact with an AWS account: one call that says who and where, and plain words for
the errors a new user meets (no region, no credentials, an endpoint that does not answer, a role
without a permission) instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

from recycler.aws.errors import explain

# Fail fast on the identity probe: an endpoint that does not answer should not cost every retry.
PROBE_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10)


class CannotRun(RuntimeError):
    """recycler cannot start against this account; the message says why and how to fix it."""


@dataclass(frozen=True)
class Identity:
    account: str
    region: str
    arn: str


def connect(region: str | None, profile: str | None) -> tuple[boto3.Session, Identity]:
    """A session for the region and profile asked for, and who it is (one STS call)."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise CannotRun(
            f"no AWS profile named {profile!r}: check --profile / AWS_PROFILE, or run `aws configure --profile {profile}`"
        ) from None
    if not session.region_name:
        raise CannotRun("no AWS region: pass --region, set AWS_REGION, or run `aws configure`")
    try:
        caller = session.client("sts", config=PROBE_CONFIG).get_caller_identity()
    except Exception as error:
        message = explain(error)
        if message is None:
            raise
        raise CannotRun(message) from error
    return session, Identity(account=caller["Account"], region=session.region_name, arn=caller["Arn"])
