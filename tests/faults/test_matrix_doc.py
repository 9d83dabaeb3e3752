"""README's Reliability matrix and tests/faults stay in step: every row names a real fault test, and
every fault test has a row."""

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

README = Path(__file__).resolve().parents[2] / "README.md"


def test_reliability_table_matches_the_fault_tests() -> None:
    section = README.read_text().split("## Reliability", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (F\d\d) \|.*\| `(test_f\d\d_\w+)` \| ✅ \|$", section, flags=re.MULTILINE)
    documented = {name for _, name in rows}
    implemented = {name for module in FAULT_MODULES for name in dir(module) if re.match(r"test_f\d\d_", name)}
    assert documented == implemented
    assert all(name.startswith(f"test_{fid.lower()}_") for fid, name in rows)
    assert {fid for fid, _ in rows} == {f"F{n:02d}" for n in range(1, 40)}
