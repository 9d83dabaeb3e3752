"""Plain words for the AWS errors an operator meets first (no region, no credentials, an endpoint that
does not answer, a role without a permission): one line that names the problem and the fix. The CLI
prints it instead of a traceback; the Lambda handler logs it as the cause before failing loudly.
"""

from __future__ import annotations

import re

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
    TokenRetrievalError,
)

IAM_HELP = "see docs/iam.md, IAM for operators"
# The order the AWS CLI (and the recycler CLI) reads the region in.
NO_REGION = (
    "no AWS region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or set `region` in your "
    "profile (`aws configure`)"
)
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
)
CREDENTIAL_CODES = frozenset(
    {"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch"}
)
# The IAM action behind each call recycler makes, for "the caller needs ...".
SERVICE_OF_OPERATION = {
    "DescribeAutoScalingGroups": "autoscaling",
    "DescribeLaunchConfigurations": "autoscaling",
    "DescribeScalingActivities": "autoscaling",
    "DescribeInstanceRefreshes": "autoscaling",
    "TerminateInstanceInAutoScalingGroup": "autoscaling",
    "SetDesiredCapacity": "autoscaling",
    "DescribeLifecycleHooks": "autoscaling",
    "DescribeCapacityProviders": "ecs",
    "ListClusters": "ecs",
    "DescribeClusters": "ecs",
    "ListContainerInstances": "ecs",
    "DescribeContainerInstances": "ecs",
    "UpdateContainerInstancesState": "ecs",
    "DescribeInstances": "ec2",
    "DescribeLaunchTemplateVersions": "ec2",
    "DescribeAlarms": "cloudwatch",
    "GetParameter": "ssm",
    "GetCallerIdentity": "sts",
    "Query": "dynamodb",
    "Scan": "dynamodb",
    "PutItem": "dynamodb",
    "Publish": "sns",
    **dict.fromkeys(
        [
            "ListApplications",
            "ListDeploymentGroups",
            "BatchGetDeploymentGroups",
            "ListDeployments",
            "BatchGetDeployments",
        ],
        "codedeploy",
    ),
}


# How a durable step that raised a ClientError reports it: the original type by name, and its text.
CLIENT_ERROR_TEXT = re.compile(
    r"An error occurred \((?P<code>[\w.]+)\) when calling the (?P<op>\w+) operation: (?P<msg>.*)"
)


def unwrapped(error: BaseException) -> BaseException:
    """A durable step re-raises what failed it under the runtime's own type, naming the original in
    error_type: rebuild a ClientError from its text so it is explained the same way."""
    if str(getattr(error, "error_type", "")).rsplit(".", 1)[-1] == "ClientError":
        found = CLIENT_ERROR_TEXT.search(str(getattr(error, "message", None) or error))
        if found:
            return ClientError({"Error": {"Code": found["code"], "Message": found["msg"]}}, found["op"])
    return error


def is_kind(error: BaseException, *kinds: type[BaseException]) -> bool:
    """isinstance, or the same type named by a durable step's error_type."""
    named = str(getattr(error, "error_type", "")).rsplit(".", 1)[-1]
    return isinstance(error, kinds) or named in {kind.__name__ for kind in kinds}


def explain(error: BaseException) -> str | None:
    """One line naming the problem and the fix, or None for an error these words do not cover."""
    error = unwrapped(error)
    if is_kind(error, NoRegionError):
        return NO_REGION
    if is_kind(error, NoCredentialsError, PartialCredentialsError, TokenRetrievalError):
        return (
            "no AWS credentials: pass --profile, set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, or run `aws configure` (`aws sso login` for SSO profiles)"
        )
    if is_kind(error, EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError):
        return (
            f"cannot reach AWS at {getattr(error, 'kwargs', {}).get('endpoint_url', 'its endpoint')}: "
            "check your network or VPN, and AWS_ENDPOINT_URL if you set it"
        )
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        text = error.response.get("Error", {}).get("Message", "")
        if code in CREDENTIAL_CODES:
            return f"AWS rejected the credentials ({code}): refresh them (`aws sso login`, `aws configure`)"
        if code in DENIED_CODES:
            return f"not authorized: the caller needs {required_action(error, text)}; {IAM_HELP}"
    return None


def required_action(error: ClientError, message: str) -> str:
    """The IAM action a denied call needed: from AWS's message when it names it, else the call."""
    named = re.search(r"perform: ([\w-]+:\w+)", message)
    if named:
        return named.group(1)
    operation = error.operation_name
    return f"{SERVICE_OF_OPERATION.get(operation, 'the service')}:{operation}"
