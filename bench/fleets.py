"""Fleets the in-process benches build on moto: many opted-in groups on one proven image."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from recycler.aws.ledger import Ledger
from recycler.local import emulator


def proven_fleet(groups: int, grace_seconds: int, *, region: str, image: str, ledger: str) -> list[str]:
    """`groups` opted-in groups of two instances (20 and 1 days old, the oldest a little older in each
    next group, so the plan's order is the names' order) on one launch template whose image an earlier
    run proved (no canary, no bake), and the ledger table. Their names, g0.. zero-padded."""
    session = boto3.Session(region_name=region)
    template = emulator.create_launch_template(session.client("ec2"), "lt", image)
    emulator.create_ledger_table(session.client("dynamodb"), ledger)
    now = datetime.now(UTC)
    Ledger(ledger, session=session).record_proven(image, "earlier", "run-0", now - timedelta(days=1))
    width = len(str(groups - 1))
    names = [f"g{n:0{width}d}" for n in range(groups)]
    for n, name in enumerate(names):
        emulator.create_aged_group(
            session.client("autoscaling"),
            name,
            template,
            [20 + n / 10 ** (width + 1), 1],
            now,
            region=region,
            tags={"recycler:enabled": "true"},
            grace_seconds=grace_seconds,
        )
    return names
