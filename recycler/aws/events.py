"""The EventBridge adapter: each group's outcome and the run's summary as events on the account's
default bus (or the bus RECYCLER_EVENTS_BUS names), in as few PutEvents calls as AWS allows.

Limits (AWS): at most 10 entries per PutEvents call (API reference, Entries "Array Members: Minimum number
of 1 item. Maximum number of 10 items": https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html),
and the entries of one request total less than 256 KB, measured as AWS measures them (Source, DetailType,
Detail and each Resources entry in UTF-8 bytes, 14 bytes for a Time):
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
A request can partly fail: each failed entry carries an ErrorCode, the others were accepted, and "you must
detect unsuccessful entries and include them in a subsequent call":
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevents.html
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import boto3

from recycler.aws.clients import client

logger = logging.getLogger(__name__)

SOURCE = "recycler"
MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
DEFAULT_BUS = "default"


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge computes it (eb-putevent-size.html)."""
    size = 14 if entry.get("Time") is not None else 0
    size += len(entry["Source"].encode()) + len(entry["DetailType"].encode())
    size += len(str(entry.get("Detail", "")).encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources", []))


def batches(entries: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Consecutive entries, at most MAX_ENTRIES and under MAX_REQUEST_BYTES per batch."""
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        this = entry_size(entry)
        if batch and (len(batch) == MAX_ENTRIES or size + this >= MAX_REQUEST_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += this
    if batch:
        yield batch


class Events:
    """Puts recycler's events on one bus; `bus` is a name or an ARN (PutEvents takes either). With an
    ARN, its account and region go in every event's detail beside the run id."""

    def __init__(self, bus: str = DEFAULT_BUS, session: boto3.Session | None = None) -> None:
        session = session or boto3.Session()
        self.bus = bus
        parts = bus.split(":") if bus.startswith("arn:") else []
        self.account = parts[4] if len(parts) > 5 and parts[4] else None
        self.region = (parts[3] if len(parts) > 5 else None) or session.region_name
        self._events: Any = client("events", session, region=self.region)

    def put(self, events: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """Put every event; returns one line per event not delivered. Entries a request refused are
        sent once more (throttling, an internal failure); a call that raises is raised."""
        entries = [self._entry(kind, detail) for kind, detail in events]
        problems = [
            f"{e['DetailType']}: {entry_size(e)} bytes is over PutEvents' {MAX_REQUEST_BYTES} bytes"
            for e in entries
            if entry_size(e) >= MAX_REQUEST_BYTES
        ]
        pending = [e for e in entries if entry_size(e) < MAX_REQUEST_BYTES]
        for attempt in (1, 2):
            refused: list[tuple[dict[str, Any], str]] = []
            for batch in batches(pending):
                response = self._events.put_events(Entries=batch)
                for entry, result in zip(batch, response.get("Entries", []), strict=False):
                    if result.get("ErrorCode"):
                        refused.append((entry, f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"))
            pending = [entry for entry, _ in refused]
            if not refused or attempt == 2:
                problems += [f"{entry['DetailType']}: {why}" for entry, why in refused]
                break
        if problems:
            logger.error("events not delivered", extra={"bus": self.bus, "problems": problems})
        return problems

    def _entry(self, kind: str, detail: dict[str, Any]) -> dict[str, Any]:
        where = {"account": self.account, "region": self.region}
        return {
            "Source": SOURCE,
            "DetailType": kind,
            "Detail": json.dumps({**detail, **where}, separators=(",", ":"), default=str),
            "EventBusName": self.bus,
        }
