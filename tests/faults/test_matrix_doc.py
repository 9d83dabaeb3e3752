"""docs/reliability.md's fault matrix and tests/faults stay in step: every row names a real fault test,
every fault test has a row, and the row ids run from F01 without a gap."""

from __future__ import annotations

import re
from pathlib import Path

from tests.faults import (
    test_container_faults,
    test_durable_limits,
    test_faults,
    test_fleet_realism,
    test_living_fleet,
    test_surge,
    test_window,
)

FAULT_MODULES = (
    test_faults,
    test_living_fleet,
    test_surge,
    test_durable_limits,
    test_window,
    test_container_faults,
    test_fleet_realism,
)

RELIABILITY = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
HEADING = "## Fault matrix"


def fault_matrix() -> str:
    text = RELIABILITY.read_text()
    assert HEADING in text, f"{RELIABILITY} has no {HEADING!r} section"
    return text.split(HEADING, 1)[1].split("\n## ", 1)[0]


def test_reliability_table_matches_the_fault_tests() -> None:
    rows = re.findall(r"^\| (F\d\d) \|.*\| `(test_f\d\d_\w+)` \| ✅ \|$", fault_matrix(), flags=re.MULTILINE)
    documented = {name for _, name in rows}
    implemented = {name for module in FAULT_MODULES for name in dir(module) if re.match(r"test_f\d\d_", name)}
    assert sorted(implemented - documented) == [], "fault tests without a row"
    assert sorted(documented - implemented) == [], "rows without a fault test"
    assert all(name.startswith(f"test_{fid.lower()}_") for fid, name in rows)
    ids = {int(fid[1:]) for fid, _ in rows}
    assert ids == set(range(1, max(ids) + 1)), "row ids must run from F01 without a gap"
    assert max(ids) >= 39
