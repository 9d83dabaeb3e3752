"""What a mutation's test run proves, read from pytest's JUnit XML (used by tests/faults/mutations.py).

A mutation is caught only when a test it names fails ON AN ASSERTION: an `assert` (AssertionError) or
`pytest.fail` / `pytest.raises`'s "DID NOT RAISE" (pytest's `Failed`). Anything else proves nothing about
the guard: a test that crashes with ImportError, TypeError or NameError broke on the mutated code's
shape, and an `<error>` (a fixture's setup or teardown, a module that does not import) or no test run
at all means the test never judged the behaviour. A run that does not finish in time is a timeout,
reported as such, never a catch.

pytest 9's JUnit XML carries no exception type on `<failure>` (only `message`, the crash line, and the
long traceback as text), so the type is read from the traceback's last line, `path:line: TypeName`,
and from the message when that line is missing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import StrEnum

# AssertionError: a failed `assert`. Failed: pytest.fail(...) and pytest.raises' "DID NOT RAISE".
ASSERTION_TYPES = frozenset({"AssertionError", "Failed"})
_LAST_LINE_TYPE = re.compile(r":\d+: ([A-Za-z_][\w.]*)$")
_MESSAGE_TYPE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


class Verdict(StrEnum):
    CAUGHT = "caught"
    NOT_CAUGHT = "NOT CAUGHT"
    TIMEOUT = "TIMEOUT"
    UNCONFIRMED = "UNCONFIRMED"  # caught once, not on the rerun: flaky, so not a catch


@dataclass(frozen=True)
class Outcome:
    """One pytest run: per node id (file::function), how it ended."""

    assertion_failures: dict[str, str]  # node id -> first line of the failure message
    other_failures: dict[str, str]  # failed, but on a crash (ImportError, TypeError...): node -> type
    errors: frozenset[str]  # setup/teardown/collection errors
    passed: frozenset[str]
    exit_code: int | None  # None: killed at the timeout
    tail: str
    timed_out: bool = False


def node_id(case: ET.Element) -> str:
    """classname "tests.faults.test_x" and name "test_y[param]" -> "tests/faults/test_x.py::test_y"."""
    return f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name', '').split('[')[0]}"


def exception_type(failure: ET.Element) -> str:
    """The exception a `<failure>` ended on: `AssertionError`, `Failed`, `ImportError`..."""
    lines = (failure.text or "").rstrip().splitlines()
    if lines and (found := _LAST_LINE_TYPE.search(lines[-1])):
        return found.group(1).rsplit(".", 1)[-1]
    message = (failure.get("message") or "").strip()
    if message.startswith("assert "):  # a rewritten assert's crash line drops "AssertionError: "
        return "AssertionError"
    found = _MESSAGE_TYPE.match(message)
    return found.group(1).rsplit(".", 1)[-1] if found else "unknown"


def read_junit(xml_text: str, exit_code: int | None, tail: str = "") -> Outcome:
    assertion_failures: dict[str, str] = {}
    other_failures: dict[str, str] = {}
    errors: set[str] = set()
    passed: set[str] = set()
    for case in ET.fromstring(xml_text).iter("testcase"):
        node = node_id(case)
        failure, error = case.find("failure"), case.find("error")
        if failure is not None:
            kind = exception_type(failure)
            if kind in ASSERTION_TYPES:
                lines = (failure.get("message") or "").strip().splitlines() or [""]
                assertion_failures.setdefault(node, lines[0][:240])
            else:
                other_failures.setdefault(node, kind)
        if error is not None:
            errors.add(node)
        if failure is None and error is None and case.find("skipped") is None:
            passed.add(node)
    # A parametrized test with one case failing on an assertion and another passing: it failed.
    passed -= set(assertion_failures) | set(other_failures) | errors
    return Outcome(assertion_failures, other_failures, frozenset(errors), frozenset(passed), exit_code, tail)


def timed_out(tail: str) -> Outcome:
    return Outcome({}, {}, frozenset(), frozenset(), None, tail, timed_out=True)


def judge(outcome: Outcome, named: tuple[str, ...]) -> Verdict:
    """Caught only when a named test failed on an assertion; a run cut off by the timeout is a timeout."""
    if outcome.timed_out:
        return Verdict.TIMEOUT
    return Verdict.CAUGHT if set(named) & set(outcome.assertion_failures) else Verdict.NOT_CAUGHT


def confirmed(first: Verdict, rerun: Verdict) -> Verdict:
    """A catch stands only when the rerun catches it again; a catch that does not repeat is flaky."""
    if first is not Verdict.CAUGHT:
        return first
    return Verdict.CAUGHT if rerun is Verdict.CAUGHT else Verdict.UNCONFIRMED
