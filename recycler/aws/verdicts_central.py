"""The organization's verdict store: one DynamoDB table in the central account that every member reads
when it plans and writes when its canary proves or condemns an image (docs/many-accounts.md, Verdicts).

A member reaches it by ARN, with its own function role: DynamoDB takes a table ARN wherever it takes a
table name, and a cross-account request is allowed when the caller's identity policy and the table's
resource-based policy both allow it
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-auth-iam-id-based-policies-DDB.html,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-cross-account-access.html).
The table's policy (infra/org_verdicts.py) lets the organization's recycler roles GetItem, Query and
PutItem only: every write here is a PutItem (conditional where it must not overwrite).

Layout: partition key `image` (the verdict key, policy/rings.verdict_key), sort key `record`:
- `proven#<ring>#<account>#<region>`: that member's first proof (a later proof does not move it: the
  soak is measured from the first);
- `condemned#<account>#<region>`: that member's first condemn;
- `canary#<ring>`: which member's canary is trying the image in that ring now (one at a time).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from recycler.aws.clients import chunks, client
from recycler.aws.ledger_images import IN_FLIGHT, canary_claim_condition, plain_item
from recycler.domain import ClaimRefused
from recycler.policy.rings import CONDEMNED, PROVEN, Membership, OrgVerdict, verdict_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client

logger = logging.getLogger(__name__)

CANARY = "canary#"
# A member that cannot reach the store must find out in seconds, not after the run's standard retries
# (10 attempts): it then plans as if no member had judged the image.
CENTRAL_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=10)
DESCRIBE_IMAGES_LIMIT = 100
VERDICT_TTL = timedelta(days=365)


def table_region(table: str, default: str) -> str:
    """The region of a table ARN (arn:<partition>:dynamodb:<region>:<account>:table/<name>)."""
    parts = table.split(":")
    return parts[3] if table.startswith("arn:") and len(parts) > 5 else default


class CentralVerdicts:
    """VerdictStorePort over the central table, as this member (its account, region and ring)."""

    def __init__(self, table: str, member: Membership, session: boto3.Session | None = None) -> None:
        self.table = table
        self.member = member
        session = session or boto3.Session()
        self._dynamodb: DynamoDBClient = session.client(
            "dynamodb", region_name=table_region(table, member.region), config=CENTRAL_CONFIG
        )
        self._ec2: EC2Client = client("ec2", session, member.region)

    # ---- keys ----------------------------------------------------------------------------------

    def image_keys(self, image_ids: Sequence[str]) -> dict[str, str]:
        """Each image's verdict key, from DescribeImages (its source, for a copy). An image this member
        cannot describe keys as itself: its verdicts are then its own, never a copy's."""
        keys = {image: verdict_key(image, self.member.region) for image in image_ids}
        for batch in chunks(list(dict.fromkeys(image_ids)), DESCRIBE_IMAGES_LIMIT):
            try:
                images: list[Any] = list(self._ec2.describe_images(ImageIds=list(batch))["Images"])
            except ClientError as error:
                if not error.response.get("Error", {}).get("Code", "").startswith("InvalidAMIID"):
                    raise
                images = []  # one missing id fails the batch: those ids key as themselves
            for image in images:
                keys[image["ImageId"]] = verdict_key(
                    image["ImageId"],
                    self.member.region,
                    image.get("SourceImageId"),
                    image.get("SourceImageRegion"),
                    image.get("SourceInstanceId"),
                )
        return keys

    # ---- reads ---------------------------------------------------------------------------------

    def verdicts(self, keys: Sequence[str]) -> dict[str, list[OrgVerdict]]:
        """Every member's verdicts on these keys: one strongly consistent Query per key (a run plans a
        handful of images)."""
        found: dict[str, list[OrgVerdict]] = {}
        for key in dict.fromkeys(keys):
            request: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "image = :key",
                "ExpressionAttributeValues": {":key": {"S": key}},
                "ConsistentRead": True,
            }
            while True:
                response = self._dynamodb.query(**request)
                for item in response.get("Items", []):
                    verdict = verdict_of(plain_item(dict(item)))
                    if verdict is not None:
                        found.setdefault(key, []).append(verdict)
                if not response.get("LastEvaluatedKey"):
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found

    # ---- writes --------------------------------------------------------------------------------

    def record(self, verdict: OrgVerdict) -> None:
        """This member's verdict, unless it recorded one of that kind before (the first stays)."""
        record = (
            f"{PROVEN}#{verdict.ring}#{verdict.account}#{verdict.region}"
            if verdict.verdict == PROVEN
            else f"{CONDEMNED}#{verdict.account}#{verdict.region}"
        )
        try:
            self._dynamodb.put_item(
                TableName=self.table,
                Item={
                    "image": {"S": verdict.key},
                    "record": {"S": record},
                    "verdict": {"S": verdict.verdict},
                    "ring": {"S": verdict.ring},
                    "account": {"S": verdict.account},
                    "region": {"S": verdict.region},
                    "group": {"S": verdict.group},
                    "image_id": {"S": verdict.image_id},
                    "at": {"S": verdict.at.isoformat()},
                    "reason": {"S": verdict.reason[:300]},
                    "run_id": {"S": verdict.run_id},
                    "expires_at": {"N": str(int((verdict.at + VERDICT_TTL).timestamp()))},
                },
                ConditionExpression="attribute_not_exists(image)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def _canary_item(self, key: str, run_id: str, status: str, now: datetime) -> dict[str, Any]:
        """This member's canary record on `key` for its ring (its claim, or the claim's end)."""
        member = self.member
        return {
            "image": {"S": key},
            "record": {"S": CANARY + member.ring},
            "account": {"S": member.account},
            "region": {"S": member.region},
            "run_id": {"S": run_id},
            "status": {"S": status},
            "claimed_at": {"S": now.isoformat()},
            "claimed_epoch": {"N": str(int(now.timestamp()))},
            "expires_at": {"N": str(int((now + VERDICT_TTL).timestamp()))},
        }

    def claim_canary(self, key: str, group: str, run_id: str, now: datetime) -> None:
        """One canary per image per ring across the organization, or ClaimRefused naming the member that
        holds it. Same rules as the ledger's claim: a replay re-claims, a stale claim expires."""
        member = self.member
        try:
            self._dynamodb.put_item(
                TableName=self.table,
                Item={**self._canary_item(key, run_id, IN_FLIGHT, now), "canary": {"S": group}},
                **canary_claim_condition("image", run_id, now),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                old: Any = error.response.get("Item", {})
                holder = plain_item(old)
                where = f"account {holder.get('account', '?')} {holder.get('region', '?')}"
                holder["run_id"] = (
                    f"{holder.get('run_id', '?')} in {where}, group {holder.get('canary', '?')}"
                )
                raise ClaimRefused(f"image {key} (organization, ring {member.ring})", holder) from None
            raise

    def release_canary(self, key: str, run_id: str, outcome: str, now: datetime) -> None:
        """This member's canary on `key` is over (a PutItem, conditional on still holding it)."""
        try:
            self._dynamodb.put_item(
                TableName=self.table,
                Item=self._canary_item(key, run_id, outcome, now),
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": {"S": run_id}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise  # someone else's claim now (ours went stale): nothing of ours to release


def verdict_of(plain: dict[str, str]) -> OrgVerdict | None:
    """A verdict item as an OrgVerdict; None for a canary claim or an item this version cannot read."""
    if plain.get("verdict") not in (PROVEN, CONDEMNED):
        return None
    try:
        at = datetime.fromisoformat(plain["at"])
    except (KeyError, ValueError):
        return None
    return OrgVerdict(
        key=plain.get("image", ""),
        verdict=plain["verdict"],
        ring=plain.get("ring", ""),
        account=plain.get("account", "?"),
        region=plain.get("region", "?"),
        group=plain.get("group", "?"),
        image_id=plain.get("image_id", "?"),
        at=at,
        reason=plain.get("reason", ""),
        run_id=plain.get("run_id", ""),
    )
