"""Two runs interleaved at one exact point, for the races between a run's plan and its canary claim.

Run A starts; at A's first poll named `a_poll` (its canary's replacement coming up: the victim is gone,
no verdict yet) run B starts in a thread and plans, then waits in its "plan" step's hook until A's run
has ended (its verdict recorded and its claim released), and only then goes on to claim. Simulated
waits on both sides (sleep=lambda _: None); the Events make the order exact, whatever the machine's load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from recycler.local.port import LocalPort
from recycler.report import RunReport

WAIT_SECONDS = 120  # only ever reached if a run hangs: the test fails instead of blocking


def b_plans_before_a_ends(
    run_a: Callable[[LocalPort], RunReport],
    run_b: Callable[[LocalPort], RunReport],
    a_poll: str = "web:health",
) -> tuple[RunReport, RunReport]:
    """(A's report, B's report); run_a and run_b run a whole run on the port they are given."""
    b_planned, a_done = threading.Event(), threading.Event()
    b_reports: list[RunReport] = []

    def b_waits_for_a_after_planning(name: str, _: Any) -> None:
        if name == "plan":
            b_planned.set()
            assert a_done.wait(WAIT_SECONDS)

    b = threading.Thread(
        target=lambda: b_reports.append(
            run_b(LocalPort(sleep=lambda _: None, on_step=b_waits_for_a_after_planning))
        )
    )

    def a_starts_b(name: str, _: Any) -> None:
        if name == a_poll and not b.ident:
            b.start()
            assert b_planned.wait(WAIT_SECONDS)

    try:
        a_report = run_a(LocalPort(sleep=lambda _: None, on_poll=a_starts_b))
    finally:
        a_done.set()
    b.join(WAIT_SECONDS)
    assert b.ident and not b.is_alive() and b_reports, "B never ran, or never finished"
    return a_report, b_reports[0]
