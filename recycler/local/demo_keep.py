"""`demo --keep`: the embedded AWS stays up after both acts, with the environment and the commands
(plan, run, fleet, history, a watch) that work against it exactly as printed."""

from __future__ import annotations

import os
import shlex
import sys
import threading
from pathlib import Path
from typing import Any


def kept_environment(endpoint: str, topic_arn: str, region: str, table: str) -> dict[str, str]:
    """What another shell sets to use the kept embedded AWS (and the demo's ledger and topic)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_REGION": region,
        # The AWS CLI v1 (and boto3) read the region from AWS_DEFAULT_REGION, not AWS_REGION.
        "AWS_DEFAULT_REGION": region,
        "RECYCLER_LEDGER_TABLE": table,
        "RECYCLER_TOPIC_ARN": topic_arn,
    }


def kept_commands(python: str) -> list[tuple[str, str]]:
    """The commands --keep suggests, each with what it shows; every one works as printed against the
    kept embedded AWS (tests/e2e/test_operate.py runs them)."""
    from recycler.cli.watch import watch_group_command

    recycler = f"{python} -m recycler"
    return [
        (f"{recycler} plan", "the ledger now holds today's recycles: recently-recycled"),
        (f"{recycler} plan --force", "what a forced drill would do"),
        (f"{recycler} run --group web --force --poll 5", "a drill on one group (asks first at a terminal)"),
        (f"{recycler} fleet", "instance and image ages, both acts"),
        (f"{recycler} history", "what the ledger remembers"),
        (watch_group_command("web"), "watch a group while a run works (the AWS CLI)"),
    ]


def keep_running(console: Any, endpoint: str, topic_arn: str, region: str, table: str, log: Path) -> None:
    """--keep: the embedded AWS stays up until Ctrl-C, so the commands can be tried against it."""
    exports = " ".join(
        f"{k}={shlex.quote(v)}" for k, v in kept_environment(endpoint, topic_arn, region, table).items()
    )
    # The interpreter running the demo is the one with recycler installed (make demo: .venv/bin/python).
    python = shlex.quote(os.path.relpath(sys.executable)) if sys.executable else "python"
    commands = "".join(f"  {command}\n      # {what}\n" for command, what in kept_commands(python))
    console.print("\n[bold]The embedded AWS stays up[/] (--keep). In another shell, in this directory:")
    # As printed, to be pasted: no markup, no highlighting, no wrapping.
    console.print(
        f"  export {exports}\n{commands}Its own errors go to {log}, not here. Ctrl-C here stops it.",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("embedded AWS stopped")
