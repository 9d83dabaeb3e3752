"""The operator's view is the truth (issue 39), end to end: `python -m recycler` as a subprocess
against the moto server. The plan is what the run does, one account is recycled once however many
profiles reach it, and every command speaks the AWS CLI's output language."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from recycler.aws.ledger import Ledger
from recycler.local import emulator
from tests.conftest import World
from tests.e2e.test_cli import ROOT, cli, in_service

pytestmark = pytest.mark.e2e
TABLE = "recycler-ledger"


def answer_at_a_terminal(args: list[str], answer: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with a terminal on stdin (so it asks), answer, and return its exit code and stderr."""
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "recycler", *args],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**{k: v for k, v in os.environ.items() if k != "CI"}, **env},
        cwd=ROOT,
    )
    os.close(follower)
    os.write(leader, answer.encode() + b"\n")
    _out, err = process.communicate(timeout=240)
    os.close(leader)
    return process.returncode, err


def prompt_victims(err: str) -> set[str]:
    """The instance ids the confirmation lists, between its first line and `Proceed?`."""
    start = err.index("recycler will act on")
    return set(re.findall(r"\bi-[0-9a-f]+\b", err[start : err.index("Proceed?", start)]))


def terminated_since(world: World, before: dict[str, dict[str, str]]) -> set[str]:
    """Instances that were InService in a group before and are gone from it (EC2's side, not the report)."""
    return {i for group, ids in before.items() for i in ids if i not in in_service(world, group)}


def test_plan_prompt_and_run_agree_on_a_condemned_image_and_an_in_flight_claim(server: World) -> None:
    """After a failed canary the ledger condemns the image `search` launches; an interrupted run left its
    claim on `cart`. A forced plan, the confirmation and the run then name the same one victim (web's)."""
    web = server.group("web", [9, 5], template="lt3")
    cart = server.group("cart", [9, 5], template="lt2")
    server.group("search", [9, 5])
    server.publish_patched_image()  # search launches images[1] ...
    emulator.create_ledger_table(server.session.client("dynamodb"), TABLE)
    ledger = Ledger(TABLE, session=server.session)
    now = datetime.now(UTC)
    ledger.record_condemned(server.images[1], "search", "an-earlier-run", now, "replacement unhealthy")
    ledger.claim("cart", "an-interrupted-run", cart[0], now - timedelta(minutes=10), timedelta(hours=20))
    env = {"RECYCLER_LEDGER_TABLE": TABLE}

    plan = cli("plan", "--force", "--json", env=env)
    assert plan.returncode == 0, plan.stderr
    outcomes = {g["group"]: (g["outcome"], g["reason"]) for g in json.loads(plan.stdout)["groups"]}
    assert outcomes == {
        "web": ("planned", "oldest-instance"),
        "cart": ("skipped", "recently-recycled"),
        "search": ("skipped", "canary-failed"),
    }
    planned = {
        g["victim"]["instance_id"] for g in json.loads(plan.stdout)["groups"] if g["outcome"] == "planned"
    }

    before = {g: in_service(server, g) for g in ("web", "cart", "search")}
    code, err = answer_at_a_terminal(["run", "--force", "--poll", "1"], "y", env)
    assert code == 0, err
    assert prompt_victims(err) == {web[0]}, err
    assert terminated_since(server, before) == {web[0]} == planned
