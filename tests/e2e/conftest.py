"""The moto server the e2e tests run the CLI against."""

from __future__ import annotations

import signal
import urllib.request
from collections.abc import Iterator

import boto3
import pytest

from recycler.local import emulator
from recycler.local.demo import embedded_aws
from tests.conftest import REGION, World


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_reaches_the_cli() -> None:
    """Tests started without job control (`make test &`, `nohup`) ignore SIGINT, and an ignored signal stays
    ignored across exec (POSIX), so the CLI under test would never see the Ctrl-C a test sends it: the
    tests' process takes SIGINT back, and with it every CLI it starts."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    emulator.reset()
    with embedded_aws() as endpoint:
        # The server's backends live in this process and outlive one test: start from empty.
        urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
        )
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        # CLI runs in real time: a canary's 30-minute bake (tests/integration/test_publish.py) would
        # outlast every subprocess timeout here.
        monkeypatch.setenv("RECYCLER_BAKE_MINUTES", "0")
        session = boto3.Session(region_name=REGION)
        yield World(session=session, images=emulator.stock_images(session.client("ec2")))
    emulator.reset()
