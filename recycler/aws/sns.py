"""The SNS adapter: publish one alert to the stack's topic and, in a many-account deployment, to the
central one too (each in its own region)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from recycler.aws.clients import client

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class Alerts:
    """Publishes to the stack's topic and, in a many-account deployment, to the central one too."""

    def __init__(
        self, topic_arn: str, session: boto3.Session | None = None, also: Sequence[str] = ()
    ) -> None:
        self.topic_arns = [topic_arn, *also]
        session = session or boto3.Session()
        self.region = session.region_name or "us-east-1"
        # A central topic lives in another region: one client per topic's region.
        self._clients: dict[str, SNSClient] = {
            arn: client("sns", session, region=arn.split(":")[3] or None) for arn in self.topic_arns
        }

    def publish(self, subject: str, body: str) -> str:
        """Every topic is tried; the first failure is raised after the others were sent."""
        message_ids, failure = [], None
        for arn, sns in self._clients.items():
            try:
                message_ids.append(str(sns.publish(TopicArn=arn, Subject=subject, Message=body)["MessageId"]))
            except ClientError as error:
                failure = failure or error
        if failure is not None:
            raise failure
        return message_ids[0]
