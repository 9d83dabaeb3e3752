"""Throttling injected where the emulator answers: every Nth EC2 or Auto Scaling Describe* or
Terminate* request is answered the way AWS throttles it, instead of by moto.

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
    b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>bench</RequestID></Response>"
)
AUTOSCALING = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
    b"</Error><RequestId>bench</RequestId></ErrorResponse>"
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
    """Answers one in `every` matching requests with a throttling error; counts what it injected."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.seen = 0
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    def answer(self, event_name: str, request: Any) -> AWSResponse | None:
        """The throttling response for this request, or None to let moto answer it."""
        parts = [*event_name.split("."), "", ""]
        service, operation = parts[1], parts[2]
        if service not in SERVICES or not operation.startswith(("Describe", "Terminate")):
            return None
        with self._lock:
            self.seen += 1
            if self.seen % self.every:
                return None
            self.injected[f"{service}.{operation}"] += 1
        status, body = SERVICES[service]
        return AWSResponse(request.url, status, HTTPHeaders(), _Body(body))

    @property
    def total(self) -> int:
        return sum(self.injected.values())


@contextmanager
def throttling(every: int) -> Iterator[Throttler]:
    """While inside, in-process moto answers one in `every` matching requests with a throttle."""
    from moto.core.botocore_stubber import BotocoreStubber

    throttler = Throttler(every)
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


def mentions_throttling(text: str | None) -> bool:
    lowered = (text or "").lower()
    return any(word in lowered for word in ("throttl", "rate exceeded", "requestlimitexceeded"))
