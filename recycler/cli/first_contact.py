"""The CLI's first contact with an AWS account: the region as the AWS CLI picks it, one call that says
who and where, every setting checked before anything acts (the report path, the ledger table, the
alert topic, a deployed stack's outputs), and plain words for the errors a new user meets (no region,
no credentials, an endpoint that does not answer, a role without a permission) instead of a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ProfileNotFound

from recycler.aws.errors import DENIED_CODES, NO_REGION, explain
from recycler.models import VERDICT_STACK_OUTPUTS

# Fail fast on the identity probe: an endpoint that does not answer should not cost every retry.
PROBE_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10)


class CannotRun(RuntimeError):
    """recycler cannot start against this account; the message says why and how to fix it."""


@dataclass(frozen=True)
class Identity:
    account: str
    region: str
    arn: str


def resolve_region(
    flag: str | None, profile: str | None, environ: Mapping[str, str] = os.environ
) -> str | None:
    """The region as the AWS CLI resolves it: --region, then AWS_REGION, then AWS_DEFAULT_REGION, then
    the profile's `region` in the config file. boto3 alone skips AWS_REGION (design.md §11b), so a
    plan could read, and a run terminate, in the config file's region while AWS_REGION names another."""
    for value in (flag, environ.get("AWS_REGION"), environ.get("AWS_DEFAULT_REGION")):
        if value:
            return value
    return _session(None, profile).region_name


def _session(region: str | None, profile: str | None) -> boto3.Session:
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        # boto3 reads AWS_PROFILE when no --profile is given: name where the missing name came from.
        name, source = (profile, "--profile") if profile else (os.environ.get("AWS_PROFILE"), "AWS_PROFILE")
        raise CannotRun(
            f"no AWS profile named {name!r} ({source}): fix {source}, or run `aws configure --profile {name}`"
        ) from None


def connect(region: str | None, profile: str | None) -> tuple[boto3.Session, Identity]:
    """A session for the region (resolved as the AWS CLI does) and profile, and who it is (one STS call)."""
    session = _session(resolve_region(region, profile), profile)
    if not session.region_name:
        raise CannotRun(NO_REGION)
    try:
        caller = session.client("sts", config=PROBE_CONFIG).get_caller_identity()
    except Exception as error:
        message = explain(error)
        if message is None:
            raise
        raise CannotRun(message) from error
    return session, Identity(account=caller["Account"], region=session.region_name, arn=caller["Arn"])


# ---- every input checked before anything acts --------------------------------------------------

TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
TABLE_NAME = re.compile(
    r"^([a-zA-Z0-9_.-]{3,255}|arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[a-zA-Z0-9_.-]{3,255})$"
)
# What a deployed stack's outputs set for a CLI run (infra/stack.py): the Lambda's ledger and topic.
STACK_OUTPUTS = {
    "LedgerTable": "RECYCLER_LEDGER_TABLE",
    "AlertTopicArn": "RECYCLER_TOPIC_ARN",
    "KillSwitchParameter": "RECYCLER_KILL_SWITCH_PARAMETER",
    # With recycler:central / recycler:organization: the organization's verdicts (history --image, fleet).
    **VERDICT_STACK_OUTPUTS,
}


def check_report_file(path: str | None) -> None:
    """The report is written after the run: a path that cannot be written is refused before it."""
    if not path:
        return
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise CannotRun(f"--report-file {path}: is a directory; name a file")
    if not folder.is_dir():
        raise CannotRun(
            f"--report-file {path}: folder {folder} does not exist; create it or pick another path"
        )
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise CannotRun(f"--report-file {path}: not writable by this user; pick another path")


def check_names(environ: Mapping[str, str] = os.environ) -> None:
    """The ledger table and topic as typed: well-formed before any call is made with them."""
    topic = environ.get("RECYCLER_TOPIC_ARN")
    if topic and not TOPIC_ARN.match(topic):
        raise CannotRun(
            f"RECYCLER_TOPIC_ARN={topic!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME); "
            "use the stack's AlertTopicArn output, or --stack NAME"
        )
    table = environ.get("RECYCLER_LEDGER_TABLE")
    if table and not TABLE_NAME.match(table):
        raise CannotRun(
            f"RECYCLER_LEDGER_TABLE={table!r} is not a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -); "
            "use the stack's LedgerTable output, or --stack NAME"
        )


def probe(session: boto3.Session, topic_arn: str | None, table: str | None) -> list[str]:
    """The ledger table and topic exist where this run will use them (DescribeTable,
    GetTopicAttributes). A missing one stops the run; a caller not allowed to describe them is
    warned (the returned lines) and goes on: the run's own calls may still be allowed."""
    warnings: list[str] = []
    checks: list[tuple[str, str, str, Callable[[], object]]] = []
    if table:
        dynamodb = session.client("dynamodb", config=PROBE_CONFIG)
        checks.append(
            (
                "RECYCLER_LEDGER_TABLE",
                table,
                "dynamodb:DescribeTable",
                lambda: dynamodb.describe_table(TableName=table),
            )
        )
    if topic_arn:
        sns = session.client("sns", config=PROBE_CONFIG, region_name=topic_arn.split(":")[3])
        checks.append(
            (
                "RECYCLER_TOPIC_ARN",
                topic_arn,
                "sns:GetTopicAttributes",
                lambda: sns.get_topic_attributes(TopicArn=topic_arn),
            )
        )
    for variable, value, action, call in checks:
        try:
            call()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in DENIED_CODES or code == "AuthorizationError":
                warnings.append(f"{variable}: cannot check {value} exists (needs {action}); going on")
                continue
            if code in ("ResourceNotFoundException", "NotFound", "NotFoundException"):
                raise CannotRun(
                    f"{variable}={value}: not found in {session.region_name} for this account; use the stack's "
                    "output (--stack NAME) or unset it to run without"
                ) from None
            raise
    return warnings


def stack_outputs(session: boto3.Session, stack: str) -> dict[str, str]:
    """A deployed recycler stack's outputs (cloudformation:DescribeStacks)."""
    cloudformation = session.client("cloudformation", config=PROBE_CONFIG)
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            raise CannotRun(
                f"--stack {stack}: no such stack in {session.region_name}; `aws cloudformation list-stacks` "
                "lists them (a many-account member is Recycler-ACCOUNT-REGION)"
            ) from None
        raise
    # OutputValue is optional in DescribeStacks' Output (API_Output.html): absent reads as empty.
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in found[0].get("Outputs", [])}
    if not any(key in outputs for key in STACK_OUTPUTS):
        raise CannotRun(
            f"--stack {stack}: has none of the outputs {', '.join(STACK_OUTPUTS)}; is it recycler's?"
        )
    return outputs


def apply_stack(outputs: Mapping[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Set the run's ledger, topic and kill switch from the stack; returns what was set, in words."""
    applied = []
    for output, variable in STACK_OUTPUTS.items():
        if output in outputs:
            environ[variable] = outputs[output]
            applied.append(f"{variable}={outputs[output]}")
    return applied
