"""The ledger's image records: which run's canary is trying an image now, and which images failed their
canary (`group_name = "image#<ami>"`, `record = "canary"` / `"condemned"`; the proven record is written in
ledger.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from recycler.aws.clients import chunks
from recycler.domain import ClaimRefused, ImageJudged

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

IMAGE_KEY = "image#"
CANARY = "canary"
CONDEMNED = "condemned"
PROVEN = "proven"
IN_FLIGHT = "in-flight"
# As planning reads them: an image proven since it was condemned (a drill) is no longer held.
VERDICTS = (PROVEN, CONDEMNED)
BATCH_GET_LIMIT = 100
# A forced drill may re-recycle a group inside min_interval, but never while another run is mid-recycle
# on it, and a canary claim holds its image; an in-flight claim older than this is considered abandoned
# (a crashed run).
IN_FLIGHT_LOCK = timedelta(hours=6)


def canary_claim_condition(key: str, run_id: str, now: datetime) -> dict[str, Any]:
    """PutItem's condition for a canary claim (this ledger's, and the organization's central table's):
    no claim yet, this run's own (a replay), one that ended, or one a crashed run left IN_FLIGHT_LOCK ago.
    A refusal returns the holder's item."""
    return {
        "ConditionExpression": f"attribute_not_exists({key}) OR run_id = :run "
        "OR #status <> :inflight OR claimed_epoch < :stale",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {
            ":run": {"S": run_id},
            ":inflight": {"S": IN_FLIGHT},
            ":stale": {"N": str(int((now - IN_FLIGHT_LOCK).timestamp()))},
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def refusal(image: str, response: Any) -> ClaimRefused:
    """Why a canary claim's transaction was cancelled. CancellationReasons follow the order of
    TransactItems (the claim, then one check per verdict), each failed condition with the item it read
    (docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CancellationReason.html). A verdict
    outranks a held claim. Any other cancellation (a TransactionConflict with another run's claim or
    verdict written at that moment) is read as "another run holds the image": nothing is terminated,
    and the next run claims again."""
    reasons: list[Any] = response.get("CancellationReasons") or []
    failed = [r.get("Code") == "ConditionalCheckFailed" for r in reasons]
    for verdict, reason, is_failed in zip(VERDICTS, reasons[1:], failed[1:], strict=False):
        if is_failed:
            return ImageJudged(image, plain_item(reason.get("Item", {})), condemned=verdict == CONDEMNED)
    held = reasons[0].get("Item", {}) if failed[:1] == [True] else {}
    codes = ", ".join(str(r.get("Code")) for r in reasons) or "no reasons given"
    return ClaimRefused(f"image {image}", plain_item(held) or {"status": f"transaction cancelled: {codes}"})


def plain_item(item: dict[str, Any]) -> dict[str, str]:
    """A DynamoDB item without its type tags."""
    return {key: next(iter(value.values())) for key, value in item.items()}


class ImageRecords:
    """Mixed into Ledger, which sets the table, its TTL and the client."""

    table: str
    ttl: timedelta
    _dynamodb: DynamoDBClient

    def batch_items(
        self, keys: Sequence[str], record: str, *, consistent: bool = False
    ) -> Iterator[dict[str, str]]:
        """The items (partition key, `record`) of these keys that exist: BatchGetItem 100 at a time, with
        every unprocessed key asked again."""
        for batch in chunks(list(dict.fromkeys(keys)), BATCH_GET_LIMIT):
            request: Any = {
                self.table: {
                    "Keys": [{"group_name": {"S": key}, "record": {"S": record}} for key in batch],
                    **({"ConsistentRead": True} if consistent else {}),
                }
            }
            while request:
                response = self._dynamodb.batch_get_item(RequestItems=request)
                yield from (plain_item(item) for item in response.get("Responses", {}).get(self.table, []))
                request = response.get("UnprocessedKeys") or None

    def claim_canary(
        self, image: str, group: str, run_id: str, now: datetime, *, retry_judged: bool = False
    ) -> None:
        """Claim `image` for this run's canary or raise ClaimRefused: never two canaries for one image at
        once, whichever runs (several publish events, a scheduled run) plan it. Re-claiming by the same run
        succeeds (a replay); a claim left by a crashed run expires after IN_FLIGHT_LOCK.

        The claim and "the image has no verdict" are one transaction (ImageJudged otherwise): a run that
        planned before another run's canary proved or condemned the image, and claims after that canary
        released its claim, would find the claim free and start a second canary. retry_judged (a drill
        with "canary": true) claims an image whatever its verdict."""
        claim: Any = {
            "TableName": self.table,
            "Item": {
                "group_name": {"S": IMAGE_KEY + image},
                "record": {"S": CANARY},
                "canary": {"S": group},
                "run_id": {"S": run_id},
                "status": {"S": IN_FLIGHT},
                "claimed_at": {"S": now.isoformat()},
                "claimed_epoch": {"N": str(int(now.timestamp()))},
                "expires_at": {"N": str(int((now + self.ttl).timestamp()))},
            },
            **canary_claim_condition("group_name", run_id, now),
        }
        try:
            if retry_judged:
                self._dynamodb.put_item(**claim)
            else:
                self._dynamodb.transact_write_items(
                    TransactItems=[{"Put": claim}, *(self._no_record(image, v) for v in VERDICTS)]
                )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                holder: Any = error.response.get("Item", {})
                raise ClaimRefused(f"image {image}", plain_item(holder)) from None
            if code == "TransactionCanceledException":
                raise refusal(image, error.response) from None
            raise

    def _no_record(self, image: str, record: str) -> TransactWriteItemTypeDef:
        """A ConditionCheck (IAM: dynamodb:ConditionCheckItem) that the image has no `record` item."""
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": {"group_name": {"S": IMAGE_KEY + image}, "record": {"S": record}},
                "ConditionExpression": "attribute_not_exists(group_name)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def release_canary(self, image: str, run_id: str, outcome: str) -> None:
        """This run's canary for `image` is over: another run may canary it (if it is still unproven)."""
        try:
            self._dynamodb.update_item(
                TableName=self.table,
                Key={"group_name": {"S": IMAGE_KEY + image}, "record": {"S": CANARY}},
                UpdateExpression="SET #status = :outcome",
                ConditionExpression="run_id = :run",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":outcome": {"S": outcome}, ":run": {"S": run_id}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise  # someone else's claim now (ours expired): nothing of ours to release

    def record_condemned(self, image: str, group: str, run_id: str, now: datetime, reason: str) -> None:
        """A replacement on `image` failed its canary's checks or bake: later runs do not launch it."""
        self._dynamodb.put_item(
            TableName=self.table,
            Item={
                "group_name": {"S": IMAGE_KEY + image},
                "record": {"S": CONDEMNED},
                "canary": {"S": group},
                "run_id": {"S": run_id},
                "reason": {"S": reason[:300]},
                "failed_at": {"S": now.isoformat()},
                "expires_at": {"N": str(int((now + self.ttl).timestamp()))},
            },
        )

    def condemned_images(self, images: Sequence[str]) -> dict[str, str]:
        """Of these images, the ones whose canary failed, with who failed it, when and why."""
        return {
            plain["group_name"].removeprefix(IMAGE_KEY): (
                f"canary {plain.get('canary', '?')}, {plain.get('failed_at', '?')}: {plain.get('reason', '?')}"
            )
            for plain in self.batch_items([IMAGE_KEY + i for i in images], CONDEMNED)
        }
