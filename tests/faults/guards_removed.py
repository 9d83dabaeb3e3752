"""Proof that the fault tests guard something: remove each guard once, run its fault test, expect red.

`python -m tests.faults.guards_removed [f06 f15 ...]` (about 4 minutes for all). Not part of `make test`: it edits source
files in place, one at a time, and always writes the original back before the next one.
Exit 0 when every removal is caught; 1 when a fault test still passes without its guard.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Removal:
    guard: str
    path: str
    original: str
    without_guard: str
    tests: str  # pytest -k expression selecting the fault tests that must catch it


REMOVALS = (
    Removal(
        "kill switch / alarms re-checked before acting",
        "recycler/workflow/group/preflight.py",
        "        pulled = brake_pulled(services, settings)\n"
        "        if pulled is not None:\n"
        "            return pulled",
        "        pulled = None",
        "f13 or f14",
    ),
    Removal(
        "ledger claim before terminating",
        "recycler/workflow/group/preflight.py",
        "    try:\n        ledger.claim(",
        "    try:\n        return Claim(ok=True)\n        ledger.claim(",
        "f10 or f11",
    ),
    Removal(
        "terminate runs in a checkpointed step",
        "recycler/durable.py",
        "        data = self.context.step(\n"
        "            lambda _: encode(fn()), name=name, config=self.ONCE if at_most_once else self.RETRIED\n"
        "        )",
        "        data = encode(fn())",
        "f12",
    ),
    Removal(
        "fail fast on a Failed launch activity",
        "recycler/workflow/health.py",
        "                if a.status in FAILED_ACTIVITY and launched_by_us(a, self.surge_from) is not False",
        "                if False",
        "f05",
    ),
    Removal(
        "botocore retries throttled calls",
        "recycler/aws/clients.py",
        'retries={"max_attempts": 10, "mode": "adaptive"}',
        'retries={"max_attempts": 1, "mode": "adaptive"}',
        "f01",
    ),
    Removal(
        "an undelivered alert is reported",
        "recycler/workflow/group/recycle.py",
        "        return Published(ok=False, error=str(error))",
        "        return Published(ok=True)",
        "f09",
    ),
    Removal(
        "replacement Unhealthy in the group",
        "recycler/workflow/health.py",
        '        broken = [i for i in candidates if i.health_status != "Healthy"]',
        "        broken = []",
        "f06",
    ),
    Removal(
        "replacement healthy in every target group",
        "recycler/workflow/health.py",
        "        not_passing = {name: s for name, s in checks.items() if s not in PASSING_STATES}",
        "        not_passing: dict[str, str] = {}",
        "f07",
    ),
    Removal(
        "health judged against the group's current desired capacity",
        "recycler/workflow/health.py",
        "        required = snapshot.desired_capacity - len(launching_others)",
        "        required = self.desired_at_act",
        "f15",
    ),
    Removal(
        "a replacement scaled in before verification is not a failure",
        "recycler/workflow/health.py",
        "        if replacement_id is not None and replacement_id not in present:",
        "        if replacement_id is not None and replacement_id not in present and False:",
        "f17",
    ),
    Removal(
        "the surge instance is tracked in any lifecycle state",
        "recycler/workflow/group/surge.py",
        "    surge_instance = health.replacement or (",
        "    surge_instance = None and (",
        "f21",
    ),
    Removal(
        "a denied victim terminate after a surge is retried once",
        "recycler/workflow/group/surge.py",
        "    if not acted.ok:\n        acted = port.step(",
        "    if False:\n        acted = port.step(",
        "f23",
    ),
    Removal(
        "the surge runs in a checkpointed at-most-once step",
        "recycler/workflow/group/surge.py",
        '    grown = port.step(ctx.name("surge"), grow, Acted, at_most_once=True)',
        "    grown = grow()",
        "f24",
    ),
    Removal(
        "one group's unexpected exception is caught at its boundary",
        "recycler/workflow/group/recycle.py",
        "    except Exception as error:\n        # A bug",
        "    except ArithmeticError as error:\n        # A bug",
        "f25",
    ),
    Removal(
        "a run plans no more recycles than one durable execution holds",
        "recycler/workflow/planning.py",
        "        decisions = defer_over_budget(decisions, settings, payload, limits)",
        "        decisions = list(decisions)",
        "f26",
    ),
    Removal(
        "an ECS host is drained before it is terminated",
        "recycler/workflow/group/drain.py",
        '    if host.kind != "ecs" or not host.recycler_drains:',
        "    if True:",
        "f31 or f33",
    ),
    Removal(
        "a drain that times out terminates nothing",
        "recycler/workflow/group/drain.py",
        '    if state.status in ("drained", "gone"):',
        "    if True:",
        "f29",
    ),
    Removal(
        "a victim ECS does not know is not terminated",
        "recycler/workflow/group/drain.py",
        "        if found is None:\n            return Drained(",
        "        if found is None:\n            return Drained(ok=True)\n            return Drained(",
        "f30",
    ),
    Removal(
        "a launch hook that never completes is named",
        "recycler/workflow/health.py",
        '            if "Pending:Wait" in state.detail and self.launch_hooks:',
        "            if False:",
        "f32",
    ),
    Removal(
        "the brakes are read again after a drain",
        "recycler/workflow/group/drain.py",
        "        return brakes_after_drain(ctx, drain)",
        "        return drain",
        "f35",
    ),
)


def caught(removal: Removal) -> bool:
    source_file = ROOT / removal.path
    source = source_file.read_text()
    if source.count(removal.original) != 1:
        raise SystemExit(f"{removal.path}: the guard '{removal.guard}' moved; update REMOVALS")
    source_file.write_text(source.replace(removal.original, removal.without_guard))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/faults", "-q", "-k", removal.tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        source_file.write_text(source)
    return result.returncode != 0


def main(only: list[str]) -> int:
    """`only`: fault ids (f06 f15 ...) to limit the check to the removals their tests catch."""
    survived = 0
    chosen = [r for r in REMOVALS if not only or any(fid in r.tests for fid in only)]
    for removal in chosen:
        verdict = "caught" if caught(removal) else "NOT CAUGHT"
        survived += verdict != "caught"
        print(f"{verdict:<10} {removal.guard} ({removal.path}; tests: {removal.tests})", flush=True)
    print(f"{len(chosen) - survived}/{len(chosen)} guard removals caught by the fault tests")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
