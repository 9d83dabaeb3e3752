"""Proof that the fault tests guard something: remove each guard once, run its fault test, expect red.

`python -m tests.faults.guards_removed` (about 2 minutes). Not part of `make test`: it edits source
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
        "recycler/workflow/recycle.py",
        "            stop = run_level_guard(services, settings, services.clock())\n"
        "            if stop is not None:\n"
        "                return Preflight(ok=False, reason=stop[0].value, detail=stop[1])",
        "            stop = None",
        "f13 or f14",
    ),
    Removal(
        "ledger claim before terminating",
        "recycler/workflow/recycle.py",
        "        try:\n            ledger.claim(",
        "        try:\n            return Claim(ok=True)\n            ledger.claim(",
        "f10 or f11",
    ),
    Removal(
        "terminate runs in a checkpointed step",
        "recycler/handler.py",
        "        data = self.context.step(\n"
        "            lambda _: encode(fn()), name=name, config=self.ONCE if at_most_once else None\n"
        "        )",
        "        data = encode(fn())",
        "f12",
    ),
    Removal(
        "fail fast on a Failed launch activity",
        "recycler/workflow/health.py",
        '            if activity.status in ("Failed", "Cancelled") and (',
        "            if False and (",
        "f05",
    ),
    Removal(
        "botocore retries throttled calls",
        "recycler/fleet.py",
        'retries={"max_attempts": 10, "mode": "adaptive"}',
        'retries={"max_attempts": 1, "mode": "adaptive"}',
        "f01",
    ),
    Removal(
        "an undelivered alert is reported",
        "recycler/workflow/recycle.py",
        "        return Published(ok=False, error=str(error))",
        "        return Published(ok=True)",
        "f09",
    ),
    Removal(
        "replacement Unhealthy in the group",
        "recycler/workflow/health.py",
        '        broken = [i for i in new if i.health_status != "Healthy"]',
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
)


def caught(removal: Removal) -> bool:
    source_file = ROOT / removal.path
    source = source_file.read_text()
    if source.count(removal.original) != 1:
        raise SystemExit(f"{removal.path}: the guard '{removal.guard}' moved; update REMOVALS")
    source_file.write_text(source.replace(removal.original, removal.without_guard))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/faults/test_faults.py", "-q", "-k", removal.tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        source_file.write_text(source)
    return result.returncode != 0


def main() -> int:
    survived = 0
    for removal in REMOVALS:
        verdict = "caught" if caught(removal) else "NOT CAUGHT"
        survived += verdict != "caught"
        print(f"{verdict:<10} {removal.guard} ({removal.path}; tests: {removal.tests})", flush=True)
    print(f"{len(REMOVALS) - survived}/{len(REMOVALS)} guard removals caught by the fault tests")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
