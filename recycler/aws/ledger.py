"""DynamoDB ledger: a conditional put claims a group before anything is terminated.

Table layout (created by infra/ledger.py): partition key `group_name`, sort key `record`.
- `record = "claim"`: the latest claim of the group (one item per group, overwritten by each claim).
- `record = "run#<iso time>#<run id>"`: history of every recycle attempt (victim, replacement, both images,
  outcome, reason, seconds waited), expiring via TTL; read back by `python -m recycler history`.
- `group_name = "image#<ami id>"`, `record = "proven"`: an image whose replacement passed every health
  check (which group, when): later runs do not canary it again.
- `group_name = "run#<run id>"`, `record = "failures"`: the groups that failed in that run, read before
  each group starts (the stop-after-failures rule must see failures a durable replay does not re-run).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from recycler.aws.clients import client
from recycler.aws.ledger_images import (
    IMAGE_KEY,
    IN_FLIGHT,
    IN_FLIGHT_LOCK,
    PROVEN,
    ImageRecords,
    plain_item,
)
from recycler.domain import ClaimRefused

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

CLAIM = "claim"
RUN_KEY = "run#"
FAILURES = "failures"


class Ledger(ImageRecords):
    def __init__(self, table: str, ttl_days: int = 90, session: boto3.Session | None = None) -> None:
        self.table = table
        self.ttl = timedelta(days=ttl_days)
        self._dynamodb: DynamoDBClient = client("dynamodb", session)

    def last_claims(self, groups: Sequence[str]) -> dict[str, datetime]:
        """When each group was last claimed, for groups that have a claim (batched reads)."""
        return {
            plain["group_name"]: datetime.fromisoformat(plain["claimed_at"])
            for plain in self.batch_items(groups, CLAIM, consistent=True)
        }

    def claims_in_flight(self, groups: Sequence[str], now: datetime) -> dict[str, dict[str, str]]:
        """The claims a forced claim() would still refuse: another run is mid-recycle on the group
        (status in-flight, younger than IN_FLIGHT_LOCK). A forced plan reads them so it says what the
        run will do."""
        return {
            plain["group_name"]: plain
            for plain in self.batch_items(groups, CLAIM, consistent=True)
            if plain.get("status") == IN_FLIGHT
            and int(plain.get("claimed_epoch", "0")) >= int((now - IN_FLIGHT_LOCK).timestamp())
        }

    def expected_waits(self, groups: Sequence[str]) -> dict[str, float]:
        """Each group's last health wait, from its claim (the item last_claims reads: no new grant)."""
        return {
            plain["group_name"]: float(plain["last_waited_seconds"])
            for plain in self.batch_items(groups, CLAIM)
            if plain.get("last_waited_seconds")
        }

    def proven_images(self, images: Sequence[str]) -> dict[str, str]:
        """Of these images, the ones a healthy recycle proved, with the group that proved it."""
        return {
            plain["group_name"].removeprefix(IMAGE_KEY): plain.get("proven_by", "")
            for plain in self.batch_items([IMAGE_KEY + i for i in images], PROVEN)
        }

    def record_proven(self, image: str, group: str, run_id: str, now: datetime) -> None:
        """A replacement on `image` passed every health check."""
        self._dynamodb.put_item(
            TableName=self.table,
            Item={
                "group_name": {"S": IMAGE_KEY + image},
                "record": {"S": PROVEN},
                "proven_by": {"S": group},
                "run_id": {"S": run_id},
                "proven_at": {"S": now.isoformat()},
                "expires_at": {"N": str(int((now + self.ttl).timestamp()))},
            },
        )

    def record_failure(self, run_id: str, group: str, now: datetime) -> None:
        """Add the group to the run's failed groups; a string-set ADD, so a retried step counts it once."""
        self._dynamodb.update_item(
            TableName=self.table,
            Key={"group_name": {"S": RUN_KEY + run_id}, "record": {"S": FAILURES}},
            UpdateExpression="ADD failed_groups :group SET expires_at = :expires",
            ExpressionAttributeValues={
                ":group": {"SS": [group]},
                ":expires": {"N": str(int((now + self.ttl).timestamp()))},
            },
        )

    def failed_groups(self, run_id: str) -> frozenset[str]:
        """The groups recorded as failed in this run so far (a strongly consistent read)."""
        response = self._dynamodb.get_item(
            TableName=self.table,
            Key={"group_name": {"S": RUN_KEY + run_id}, "record": {"S": FAILURES}},
            ConsistentRead=True,
        )
        return frozenset(response.get("Item", {}).get("failed_groups", {}).get("SS", []))

    def claim(
        self,
        group: str,
        run_id: str,
        victim: str,
        now: datetime,
        min_interval: timedelta,
        *,
        force: bool = False,
    ) -> None:
        """Claim the group for this run or raise ClaimRefused. Re-claiming by the same run succeeds."""
        # At least min_interval ago, in whole seconds: `<=`, so a min interval of 0 lets a run claim a group
        # an earlier run claimed within the same second.
        condition = "attribute_not_exists(group_name) OR run_id = :run OR claimed_epoch <= :cutoff"
        values: dict[str, Any] = {
            ":run": {"S": run_id},
            ":cutoff": {"N": str(int((now - min_interval).timestamp()))},
        }
        names: dict[str, str] | None = None
        if force:
            condition = (
                "attribute_not_exists(group_name) OR run_id = :run OR claimed_epoch < :stale "
                "OR #status <> :inflight"
            )
            values = {
                ":run": {"S": run_id},
                ":stale": {"N": str(int((now - IN_FLIGHT_LOCK).timestamp()))},
                ":inflight": {"S": IN_FLIGHT},
            }
            names = {"#status": "status"}
        item = {
            "group_name": {"S": group},
            "record": {"S": CLAIM},
            "run_id": {"S": run_id},
            "victim": {"S": victim},
            "status": {"S": IN_FLIGHT},
            "claimed_at": {"S": now.isoformat()},
            "claimed_epoch": {"N": str(int(now.timestamp()))},
            "expires_at": {"N": str(int((now + self.ttl).timestamp()))},
        }
        request: Any = {
            "TableName": self.table,
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._dynamodb.put_item(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                holder: Any = error.response.get("Item", {})
                raise ClaimRefused(group, plain_item(holder)) from None
            raise

    def release(self, group: str, run_id: str) -> bool:
        """Forget this run's claim on a group it did not recycle (an operator's Ctrl-C before anything
        was terminated), so the next run, --force or not, may act on it; False when the claim is not
        this run's in-flight one any more. A claim taken with --force over a recent recycle forgets
        that recycle's time too: the group's history rows keep it."""
        try:
            self._dynamodb.delete_item(
                TableName=self.table,
                Key={"group_name": {"S": group}, "record": {"S": CLAIM}},
                ConditionExpression="run_id = :run AND #status = :inflight",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":run": {"S": run_id}, ":inflight": {"S": IN_FLIGHT}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def history(self, groups: Sequence[str], since: datetime, now: datetime) -> list[dict[str, str]]:
        """History rows since `since`, newest first, still within their TTL.

        Per named group: a Query on its partition, the sort key bounded to `run#<since>`..: it reads only
        those rows. No group named: a Scan, since the groups are the partition keys and a table has no
        list of them (a fleet listing would miss groups deleted since); the filter drops claims, proven
        images and failures after the read, so a Scan costs the whole table, which holds one claim per
        group plus the rows within the TTL. Both are paginated (1 MB per page, LastEvaluatedKey):
        https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html
        https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html#Scan.FilterExpression
        TTL deletes an expired item within a few days, not at once, and until then reads still return
        it, so rows past `expires_at` are filtered out here:
        https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html"""
        values: dict[str, Any] = {
            ":from": {"S": f"{RUN_KEY}{since.isoformat()}"},
            ":now": {"N": str(int(now.timestamp()))},
        }
        names = {"#r": "record"}
        rows: list[dict[str, str]] = []
        if groups:
            for group in dict.fromkeys(groups):
                rows += self._pages(
                    "query",
                    TableName=self.table,
                    KeyConditionExpression="group_name = :g AND #r BETWEEN :from AND :to",
                    FilterExpression="expires_at > :now",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={**values, ":g": {"S": group}, ":to": {"S": RUN_KEY + "~"}},
                    ScanIndexForward=False,
                )
        else:
            rows = list(
                self._pages(
                    "scan",
                    TableName=self.table,
                    FilterExpression="begins_with(#r, :run) AND #r >= :from AND expires_at > :now",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={**values, ":run": {"S": RUN_KEY}},
                )
            )
        return sorted(rows, key=lambda row: row["record"], reverse=True)

    def _pages(self, operation: str, **request: Any) -> Iterator[dict[str, str]]:
        call = getattr(self._dynamodb, operation)
        while True:
            response = call(**request)
            yield from (plain_item(item) for item in response.get("Items", []))
            if not response.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def finish(self, group: str, run_id: str, now: datetime, outcome: str, record: dict[str, Any]) -> None:
        """Mark the claim with its outcome (and the wait, which orders the next run's window) and
        append a history row."""
        values: dict[str, Any] = {
            ":outcome": {"S": outcome},
            ":now": {"S": now.isoformat()},
            ":run": {"S": run_id},
        }
        update = "SET #status = :outcome, finished_at = :now"
        if record.get("waited_seconds") is not None:
            update += ", last_waited_seconds = :waited"
            values[":waited"] = {"N": str(float(record["waited_seconds"]))}
        self._dynamodb.update_item(
            TableName=self.table,
            Key={"group_name": {"S": group}, "record": {"S": CLAIM}},
            UpdateExpression=update,
            ConditionExpression="run_id = :run",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
        item = {
            "group_name": {"S": group},
            "record": {"S": f"run#{now.isoformat()}#{run_id}"},
            "run_id": {"S": run_id},
            "status": {"S": outcome},
            "expires_at": {"N": str(int((now + self.ttl).timestamp()))},
            **{key: {"S": str(value)} for key, value in record.items() if value is not None},
        }
        self._dynamodb.put_item(TableName=self.table, Item=item)
