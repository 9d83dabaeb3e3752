"""DynamoDB's isolation, which moto 5.2 does not have across threads.

DynamoDB runs TransactWriteItems in serializable isolation with every other operation on its items: a
PutItem, UpdateItem or DeleteItem, another transaction, a GetItem, and each read inside a Query, Scan
or BatchGetItem; a transaction is all-or-nothing, and no other request sees it half done
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation).

moto runs a transaction as a deep copy of each table it touches, then its checks and writes one by one,
and on a failed check puts the copied tables back. With several executions in flight (a burst of
publish events, the scheduled run beside a publish event's), a transaction that fails puts back a copy
taken before another thread's write, and that write is lost: a canary claim vanishes and a second
canary starts. Here every item operation of one backend runs alone, as DynamoDB orders them.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

ITEM_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "transact_write_items",
)

_serialized = threading.RLock()  # re-entrant: a transaction's writes call put_item/update_item


def _alone(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def isolated(*args: Any, **kwargs: Any) -> Any:
        with _serialized:
            return operation(*args, **kwargs)

    return isolated


def isolation_like_aws() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in ITEM_OPERATIONS:
        setattr(DynamoDBBackend, name, _alone(getattr(DynamoDBBackend, name)))
