"""docs/reliability.md's fault matrix and tests/faults stay in step: every row names a real fault test,
every fault test has a row, and the row ids run from F01 without a gap."""

from __future__ import annotations

import re
from pathlib import Path

FAULTS = Path(__file__).resolve().parent


def fault_tests() -> set[str]:
    """Every `def test_fNN_…` in tests/faults, whichever file it is in (a new file cannot be missed)."""
    return {
        name
        for path in FAULTS.glob("test_*.py")
        for name in re.findall(r"^def (test_f\d\d_\w+)\(", path.read_text(), flags=re.MULTILINE)
    }


RELIABILITY = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
HEADING = "## Fault matrix"


def fault_matrix() -> str:
    text = RELIABILITY.read_text()
    assert HEADING in text, f"{RELIABILITY} has no {HEADING!r} section"
    return text.split(HEADING, 1)[1].split("\n## ", 1)[0]


def test_reliability_table_matches_the_fault_tests() -> None:
    rows = re.findall(r"^\| (F\d\d) \|.*\| `(test_f\d\d_\w+)` \| ✅ \|$", fault_matrix(), flags=re.MULTILINE)
    documented = {name for _, name in rows}
    implemented = fault_tests()
    assert sorted(implemented - documented) == [], "fault tests without a row"
    assert sorted(documented - implemented) == [], "rows without a fault test"
    assert all(name.startswith(f"test_{fid.lower()}_") for fid, name in rows)
    ids = {int(fid[1:]) for fid, _ in rows}
    assert ids == set(range(1, max(ids) + 1)), "row ids must run from F01 without a gap"
    assert max(ids) >= 45
