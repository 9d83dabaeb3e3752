"""The paired mutation audit's verdicts (tests/faults/verdicts.py, used by tests/faults/mutations.py).

A mutation is caught only when a named test fails on an assertion; a crash, an import error or a
collection error proves nothing, and a run that does not end in time is a timeout, not a crash of the
whole audit. The JUnit XML judged here is what pytest itself writes for each kind of ending.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.faults.mutations import run_tests
from tests.faults.verdicts import Outcome, Verdict, confirmed, judge, read_junit

SAMPLES = """
import time

import pytest


@pytest.fixture
def broken():
    raise ImportError("cannot import name 'x' from 'recycler.policy'")


def test_plain_assert():
    assert 1 == 2


def test_assert_with_message():
    assert [1] == [], "the victim must stay"


def test_fail():
    pytest.fail("terminated while the kill switch was on")


def test_did_not_raise():
    with pytest.raises(ValueError):
        pass


def test_import_error_in_the_body():
    from os import nothing_here  # noqa: F401


def test_type_error():
    None + 1


def test_setup_error(broken):
    pass


@pytest.mark.parametrize("n", [1, 2])
def test_one_case_fails(n):
    assert n == 1


def test_passes():
    pass
"""
HANGS = """
import time


def test_hangs():
    time.sleep(600)
"""
ASSERTING = (
    "test_plain_assert",
    "test_assert_with_message",
    "test_fail",
    "test_did_not_raise",
    "test_one_case_fails",
)
CRASHING = ("test_import_error_in_the_body", "test_type_error", "test_setup_error")


def node(name: str, module: str = "test_samples") -> str:
    return f"{module}.py::{name}"


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """One real pytest run over every kind of ending, read from the JUnit XML it wrote."""
    repo = tmp_path_factory.mktemp("samples")
    (repo / "test_samples.py").write_text(SAMPLES)
    return run_tests(repo, ("test_samples.py",), workers=1)


@pytest.mark.parametrize("name", ASSERTING)
def test_a_named_test_failing_on_an_assertion_catches_the_mutation(samples: Outcome, name: str) -> None:
    assert judge(samples, (node(name),)) is Verdict.CAUGHT


@pytest.mark.parametrize("name", CRASHING)
def test_a_crash_or_a_setup_error_is_not_a_catch(samples: Outcome, name: str) -> None:
    assert judge(samples, (node(name),)) is Verdict.NOT_CAUGHT


def test_a_module_that_does_not_import_is_not_a_catch(tmp_path: Path) -> None:
    """A collection error stops pytest before any test runs: the named test never judged anything."""
    (tmp_path / "test_unimportable.py").write_text(
        "from os import nothing_here  # noqa: F401\n\n\ndef test_guard():\n    assert False\n"
    )
    seen = run_tests(tmp_path, ("test_unimportable.py",), workers=1)
    assert seen.errors and not seen.assertion_failures
    assert judge(seen, (node("test_guard", "test_unimportable"),)) is Verdict.NOT_CAUGHT


def test_the_crashes_are_named_by_their_exception(samples: Outcome) -> None:
    assert samples.other_failures == {
        node("test_import_error_in_the_body"): "ImportError",
        node("test_type_error"): "TypeError",
    }
    assert node("test_setup_error") in samples.errors


def test_a_passing_or_unnamed_test_does_not_catch(samples: Outcome) -> None:
    assert judge(samples, (node("test_passes"),)) is Verdict.NOT_CAUGHT
    assert judge(samples, (node("test_not_in_the_run"),)) is Verdict.NOT_CAUGHT
    assert node("test_one_case_fails") not in samples.passed


def test_a_run_past_the_timeout_is_reported_as_a_timeout(tmp_path: Path) -> None:
    (tmp_path / "test_hangs.py").write_text(HANGS)
    seen = run_tests(tmp_path, ("test_hangs.py",), workers=1, timeout_s=3)
    assert seen.timed_out
    assert judge(seen, (node("test_hangs", "test_hangs"),)) is Verdict.TIMEOUT
    assert "killed after 3 s" in seen.tail


def test_the_message_alone_names_the_exception_when_the_traceback_is_short() -> None:
    xml = textwrap.dedent("""\
        <testsuites><testsuite>
        <testcase classname="tests.t" name="test_a"><failure message="assert 1 == 2">short</failure></testcase>
        <testcase classname="tests.t" name="test_b"><failure message="Failed: DID NOT RAISE">x</failure></testcase>
        <testcase classname="tests.t" name="test_c"><failure message="NameError: name 'y'">x</failure></testcase>
        </testsuite></testsuites>""")
    seen = read_junit(xml, exit_code=1)
    assert set(seen.assertion_failures) == {"tests/t.py::test_a", "tests/t.py::test_b"}
    assert seen.other_failures == {"tests/t.py::test_c": "NameError"}


def test_a_catch_stands_only_when_the_rerun_catches_it_too() -> None:
    assert confirmed(Verdict.CAUGHT, Verdict.CAUGHT) is Verdict.CAUGHT
    assert confirmed(Verdict.CAUGHT, Verdict.NOT_CAUGHT) is Verdict.UNCONFIRMED
    assert confirmed(Verdict.CAUGHT, Verdict.TIMEOUT) is Verdict.UNCONFIRMED
    assert confirmed(Verdict.NOT_CAUGHT, Verdict.CAUGHT) is Verdict.NOT_CAUGHT
