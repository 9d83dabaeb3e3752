"""The one place boto3 clients are made: every adapter shares its session, retry mode and timeouts."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode with a generous attempt budget: throttling on describe calls is retried with
# backoff by botocore instead of failing the run; adaptive mode adds client-side rate limiting.
RETRY_CONFIG = Config(retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=10, read_timeout=30)


def client(service: str, session: boto3.Session | None = None, region: str | None = None) -> Any:
    return (session or boto3.Session()).client(  # type: ignore[call-overload]
        service, region_name=region, config=RETRY_CONFIG
    )


class Clients:
    """Lazily built clients of one session, shared by the adapters of a run."""

    def __init__(self, session: boto3.Session | None = None) -> None:
        self.session = session or boto3.Session()
        self._clients: dict[str, Any] = {}
        # boto3 clients are thread-safe once built, but building them from one Session is not.
        self._lock = threading.Lock()

    def get(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = client(service, self.session)
            return self._clients[service]


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
