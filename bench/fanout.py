"""A thousand groups in one scheduled run: operations per durable execution, with the fan-out.

The real Lambda handler under the durable test runner (waits skipped), which starts the function's
chained invokes as child durable executions. 1,000 groups need a recycle, every replacement boots for
10 minutes (stays Pending for the polls recycler makes in 600 s, see fleet()), 300 s grace, 15 s polls,
max_concurrency 50, the image already proven, ledger on. Each execution's operations are counted as
Lambda meters them (every operation once, every retry once more: each health poll after the first is a
retry of its wait's step), from the checkpoint updates the runner recorded, and set against the budget's
estimate for the same waits. Also: the largest checkpoint against Lambda's 256 KB, and how many groups
the plan deferred to the next run (its operation, storage and execution-time budgets: budget.py). The
runner's skipped clock is not a duration here: every skip jumps it for every execution in flight, so
the time a run takes is the plan's worst case, which deferred groups show when it is over the budget.

`python -m bench.fanout [groups]` runs this piece alone (it needs moto's in-process AWS: its own
interpreter); `--write` also puts the result in bench/results.json and rewrites bench/README.md's table.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench import fleets
from recycler.domain import Reason
from recycler.local import emulator
from recycler.workflow import budget

REGION = "us-east-1"
GROUPS = 1000
IMAGE = "ami-0fanout000000001"
LEDGER = "fanout-ledger"
BOOT_SECONDS = 600
GRACE_SECONDS = 300


def environment(groups: int) -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_TRACE_DISABLED="1",
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
        RECYCLER_MAX_CONCURRENCY="50",
        RECYCLER_MAX_GROUPS_PER_RUN=str(groups),
        RECYCLER_FAILURES_BEFORE_STOP="10",
        RECYCLER_LEDGER_TABLE=LEDGER,
        # Lambda names the function and its version to every runtime: the fan-out invokes that version.
        AWS_LAMBDA_FUNCTION_NAME="recycler",
        AWS_LAMBDA_FUNCTION_VERSION="1",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)


def fleet(groups: int) -> list[str]:
    names = fleets.proven_fleet(groups, GRACE_SECONDS, region=REGION, image=IMAGE, ledger=LEDGER)
    for name in names:
        # A 10-minute boot, counted in the group's own polls: the runner's skipped clock moves for every
        # execution at once (each skip jumps it for all), so with a thousand waits in flight a boot timed
        # on it ends after a poll or two. The replacement stays Pending for the DescribeAutoScalingGroups
        # reads (one per poll) that recycler's schedule makes in 600 s (budget.polls, which
        # tests/faults/test_durable_limits.py pins against the runner's clock with one wait at a time).
        emulator.sabotage(name, "slow", slow_reads=budget.polls(BOOT_SECONDS, 15, GRACE_SECONDS) - 1)
    return names


def metered(updates: list[Any]) -> int:
    """Lambda's count: every operation once, every retry once more."""
    return len({u.operation_id for u in updates}) + sum(1 for u in updates if u.action.value == "RETRY")


def measure(groups: int = GROUPS) -> dict[str, Any]:
    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
    from moto import mock_aws

    from bench import fast_moto
    from recycler.handler import durable_handler

    environment(groups)
    emulator.install()
    emulator.reset()
    fast_moto.install()
    started = time.monotonic()
    timeout = 12 * 3600
    with mock_aws(), DurableFunctionTestRunner(handler=durable_handler, skip_time=True) as runner:
        names = fleet(groups)
        runner.register_durable_function("recycler:1", durable_handler, execution_timeout=timeout)
        arn = runner.run_async(input=json.dumps({"poll_seconds": 15}), execution_timeout=timeout)
        result = runner.wait_for_result(arn, timeout=timeout)
        parent = runner._store.load(arn)
        children = [runner._store.load(c) for c in parent.chained_invoke_children.values()]
    report = json.loads(result.result)
    executions = [parent, *children]
    counts = [metered(e.updates) for e in executions]
    polls = Counter(u.name for e in [parent, *children] for u in e.updates if u.action.value == "RETRY")
    health_polls = [polls[f"{name}:health"] + 1 for name in names]
    per_group = budget.JobCost(health_seconds=BOOT_SECONDS, grace_seconds=GRACE_SECONDS, worst=False)
    largest_checkpoint = max(len(u.payload or "") for e in executions for u in e.updates)
    recycled = report["summary"]["recycled"]
    return {
        "groups": groups,
        "recycled": recycled,
        "failed": report["summary"]["failed"],
        "executions": len(executions),
        "parent_operations": counts[0],
        "largest_operations": max(counts),
        "child_operations": sorted(counts[1:]),
        "operations_per_recycle": round(sum(counts) / max(recycled, 1), 1),
        "estimate_per_recycle": budget.job_operations(per_group, yields=False),
        "health_polls_median": sorted(health_polls)[len(health_polls) // 2],
        "largest_checkpoint_bytes": largest_checkpoint,
        "deferred": sum(1 for g in report["groups"] if g["reason"] == Reason.DEFERRED_BUDGET),
        "execution_timeout_hours": timeout / 3600,
        "wall_seconds": round(time.monotonic() - started, 1),
        "goal_operations": 2700,
        "checkpoint_limit_bytes": budget.CHECKPOINT_LIMIT_BYTES,
    }


def write(measured: dict[str, Any]) -> None:
    """Only the fanout section of bench/results.json, and the README table rendered from it."""
    from bench import report

    stored = report.load()
    stored["fanout"] = {
        **measured,
        "command": "python -m bench.fanout --write",
        "date": datetime.now(UTC).date().isoformat(),
    }
    report.RESULTS.write_text(json.dumps(stored, indent=2) + "\n")
    report.rewrite_readme(stored)


if __name__ == "__main__":
    sizes = [int(arg) for arg in sys.argv[1:] if arg.isdigit()]
    result = measure(sizes[0] if sizes else GROUPS)
    if "--write" in sys.argv:
        write(result)
    print(json.dumps(result, indent=2))
