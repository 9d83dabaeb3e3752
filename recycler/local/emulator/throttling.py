"""Throttling injected where the emulator answers: every Nth EC2 or Auto Scaling request (Describe* and
Terminate* by default, or the operations named) is answered the way AWS throttles it, instead of by moto.

AWS: EC2 throttles with `RequestLimitExceeded` ("Request throttling for the Amazon EC2 API",
https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html), Auto Scaling with `Throttling`
("Rate exceeded"); either request did nothing, and the SDK's retry mode backs off and sends it again.

`throttling()` wraps moto's request stubber (the `before-send` handler in-process moto answers from):
a throttled request never reaches moto's backends, so a throttled terminate terminates nothing, as on
AWS. (A second `before-send` handler would not do: botocore calls every handler and takes the first
answer, so moto would still act on the request.) EC2 answers `RequestLimitExceeded`, its throttling
code, Auto Scaling `Throttling` ("Rate exceeded"). botocore's retry handler backs off and sends again;
the retried request is counted again, so a retry can itself be throttled.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

EC2 = (
    b"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>RequestLimitExceeded</Code>"
    b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>emulator</RequestID></Response>"
)
AUTOSCALING = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
    b"</Error><RequestId>emulator</RequestId></ErrorResponse>"
)
SERVICES = {"ec2": (503, EC2), "auto-scaling": (400, AUTOSCALING)}
THROTTLE_CODES = ("Throttling", "ThrottlingException", "RequestLimitExceeded")


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body

    def read(self, *_: Any, **__: Any) -> bytes:
        return self.body


class Throttler:
    """Answers one in `every` matching requests with a throttling error, at most `limit` of them (None: no
    limit); matching: `only`'s "service.Operation" names, else every Describe* and Terminate*. Counts
    what it injected."""

    def __init__(self, every: int, limit: int | None = None, only: tuple[str, ...] = ()) -> None:
        self.every = every
        self.limit = limit
        self.only = only
        self.seen = 0
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    def matches(self, service: str, operation: str) -> bool:
        if service not in SERVICES:
            return False
        if self.only:
            return f"{service}.{operation}" in self.only
        return operation.startswith(("Describe", "Terminate"))

    def answer(self, event_name: str, request: Any) -> AWSResponse | None:
        """The throttling response for this request, or None to let moto answer it."""
        parts = [*event_name.split("."), "", ""]
        service, operation = parts[1], parts[2]
        if not self.matches(service, operation):
            return None
        with self._lock:
            self.seen += 1
            if self.seen % self.every or (self.limit is not None and self.total >= self.limit):
                return None
            self.injected[f"{service}.{operation}"] += 1
        status, body = SERVICES[service]
        return AWSResponse(request.url, status, HTTPHeaders(), _Body(body))

    @property
    def total(self) -> int:
        return sum(self.injected.values())


@contextmanager
def throttling(every: int, limit: int | None = None, only: tuple[str, ...] = ()) -> Iterator[Throttler]:
    """While inside, in-process moto answers one in `every` matching requests with a throttle."""
    from moto.core.botocore_stubber import BotocoreStubber

    throttler = Throttler(every, limit, only)
    original = BotocoreStubber.__call__

    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        if self.enabled:
            throttled = throttler.answer(event_name, request)
            if throttled is not None:
                return throttled
        return original(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = call  # type: ignore[method-assign]
    try:
        yield throttler
    finally:
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]
