"""What `run` shows while it works, and what it says when it is stopped.

The port tells a `Watch` every step's result and every polled wait state. From them it prints one
progress line per step or poll (stderr, quiet with --json), asks before the first act when a person
is at the terminal, and keeps track of what was acted on and is still in flight: a Ctrl-C or an
unexpected error then says, in one line, what was done and the command that finishes or undoes each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from recycler.domain import Mode, Reason
from recycler.fix_commands import reactivate_command, remove_surge_instance_command
from recycler.report import GroupReport
from recycler.workflow.packing import unpack_plan
from recycler.workflow.state import Job, PlanRows, Started

# The steps that change something in the account (the rest read, claim or report).
ACTS = frozenset({"surge", "drain", "terminate", "terminate-retry", "surge-rollback", "undrain"})


class Declined(BaseException):
    """The operator answered no at the confirmation: nothing was acted on."""


def watch_group_command(group: str) -> str:
    return (
        f"aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names {group} "
        "--query 'AutoScalingGroups[0].Instances[].[InstanceId,LifecycleState,HealthStatus]'"
    )


def cluster_of(container_instance: str) -> str:
    """An ECS container instance ARN names its cluster: ...:container-instance/CLUSTER/ID."""
    parts = container_instance.split("/")
    return parts[1] if len(parts) == 3 else "<cluster>"


@dataclass
class Recycle:
    """One victim's recycle as far as it got: what is in flight and how to finish or undo it."""

    group: str
    victim: str
    mode: Mode
    surged: bool = False
    surge_instance: str | None = None
    draining: str = ""
    terminated: bool = False
    finished: bool = False
    notes: list[str] = field(default_factory=list)

    def in_flight(self) -> str:
        """One phrase: what was done and is not finished, with the command for each; '' when none."""
        parts = [f"{what} ({verb}: {command})" for what, verb, command in self.steps()]
        return f"{self.group}: " + "; ".join(parts) if parts else ""

    def steps(self) -> list[tuple[str, str, str]]:
        """What was done and is not finished: (what, "undo" or "watch", the command), in order."""
        if self.finished:
            return []
        steps = []
        if self.surged:
            instance = self.surge_instance or "<surge instance>"
            steps.append(
                (
                    f"desired capacity raised by 1 for surge instance {instance}, victim {self.victim} "
                    f"{'terminated' if self.terminated else 'still running'}",
                    "undo the surge",
                    remove_surge_instance_command(instance),
                )
            )
        if self.draining:
            steps.append(
                (
                    f"container instance {self.draining} is DRAINING",
                    "undo",
                    reactivate_command(cluster_of(self.draining), self.draining),
                )
            )
        if self.terminated and not self.surged:
            steps.append(
                (
                    f"victim {self.victim} terminated, Auto Scaling launches its replacement by itself",
                    "watch",
                    watch_group_command(self.group),
                )
            )
        return steps


class Watch:
    """The port's step and poll hooks for `run`: progress, confirmation, and what is in flight."""

    def __init__(
        self,
        err: TextIO,
        quiet: bool = False,
        confirm: Callable[[list[Job]], bool] | None = None,
        ledger: bool = True,
    ) -> None:
        self.err = err
        self.ledger = ledger  # without one, a claim is not a fact worth a line
        self.quiet = quiet
        self.confirm = confirm
        self.lock = threading.Lock()
        self.victims: dict[str, Job] = {}
        self.recycles: dict[str, Recycle] = {}
        self.claimed: list[str] = []
        self.started: Started | None = None  # the run's id, start and seed, once its first step ran

    def say(self, text: str) -> None:
        if not self.quiet:
            with self.lock:
                print(text, file=self.err, flush=True)

    # ---- the port's hooks ---------------------------------------------------------------------

    def on_step(self, name: str, result: Any) -> None:
        if isinstance(result, Started):
            self.started = result
            return
        if name == "plan" and isinstance(result, PlanRows):
            self._planned(result)
            return
        group, _, rest = name.partition(":")
        if not rest:
            return
        index, _, what = rest.rpartition(":")
        key = f"{group}:{index}" if index else group
        ok = bool(getattr(result, "ok", True))
        recycle = self._recycle(key, group, index)
        with self.lock:
            if what == "claim" and ok:
                self.claimed.append(group)
            elif what == "surge" and ok:
                recycle.surged = True
            elif what == "drain" and ok:
                recycle.draining = str(getattr(result, "container_instance", ""))
            elif what == "undrain":
                recycle.draining = ""
            elif what in ("terminate", "terminate-retry") and ok:
                recycle.terminated, recycle.draining = True, ""
                if recycle.surged:
                    recycle.finished = True  # the surge instance stays as the replacement
            elif what == "surge-rollback" and ok:
                recycle.surged = False
            elif what == "ledger":
                for other in self.recycles.values():
                    if other.group == group:
                        other.finished = True
        if what in ("claim", "ledger", "canary-claim", "canary-release") and not self.ledger:
            return  # nothing was claimed or recorded: no ledger is configured (said once, as a warning)
        self.say(f"{group}: {self._describe(what, recycle, result)}")

    def on_poll(self, name: str, state: Any) -> None:
        group, _, rest = name.partition(":")
        index, _, _ = rest.rpartition(":")
        recycle = self.recycles.get(f"{group}:{index}" if index else group)
        if recycle is not None and recycle.surged and recycle.surge_instance is None:
            new = tuple(getattr(state, "new_instances", ()) or ())
            recycle.surge_instance = getattr(state, "replacement", None) or (
                new[0] if len(new) == 1 else None
            )
        self.say(
            f"{group}: poll {state.attempt}, {state.elapsed:.0f} s, {state.status} - {state.detail or '-'}"
        )

    # ---- what was done ------------------------------------------------------------------------

    def in_flight(self) -> list[str]:
        with self.lock:
            return [text for text in (r.in_flight() for r in self.recycles.values()) if text]

    def acted_groups(self) -> list[str]:
        with self.lock:
            acted = [r for r in self.recycles.values() if r.surged or r.draining or r.terminated]
            return sorted({r.group for r in acted})

    def stopped_line(self, how: str) -> str:
        """One line: how the run stopped, what is in flight with its command, and the claims kept."""
        flying = self.in_flight()
        if not flying and not self.acted_groups():
            return f"recycler: {how}; nothing was acted on"
        text = f"recycler: {how}; in flight: " + (" | ".join(flying) if flying else "nothing")
        if self.claimed:
            text += (
                f" | ledger claims kept for {', '.join(sorted(set(self.claimed)))}: a second run within "
                "the min interval does not act on them again"
            )
        return text

    def partial_reports(self, error: str) -> list[GroupReport]:
        """For a run that raised after acting: one failed row per group acted on, saying what was done."""
        rows = []
        for group in self.acted_groups():
            done = [
                r.in_flight() or f"{group}: {r.victim} recycled"
                for r in self.recycles.values()
                if r.group == group
            ]
            job = self.victims.get(group)
            rows.append(
                GroupReport(
                    group=group,
                    outcome="failed",
                    reason=Reason.INTERNAL_ERROR.value,
                    detail=f"run stopped by {error}; " + "; ".join(done),
                    mode=job.mode if job else Mode.REPLACE,
                )
            )
        return rows

    # ---- internals ----------------------------------------------------------------------------

    def _planned(self, rows: PlanRows) -> None:
        skips, jobs = unpack_plan(rows)  # what the run acts on, as the run itself reads the plan
        self.victims = {job.group: job for job in jobs}
        self.say(
            f"planned: {len(jobs)} group(s) to recycle, {len(skips) + sum(rows.skipped_counts.values())} skipped"
        )
        if jobs and self.confirm is not None and not self.confirm(jobs):
            raise Declined

    def _recycle(self, key: str, group: str, index: str) -> Recycle:
        with self.lock:
            if key not in self.recycles:
                job = self.victims.get(group)
                victims = [job.victim.instance_id, *(m.instance_id for m in job.more_victims)] if job else []
                number = int(index) if index.isdigit() else 1
                victim = victims[number - 1] if 0 < number <= len(victims) else "<victim>"
                self.recycles[key] = Recycle(group, victim, job.mode if job else Mode.REPLACE)
            return self.recycles[key]

    @staticmethod
    def _describe(what: str, recycle: Recycle, result: Any) -> str:
        ok = bool(getattr(result, "ok", True))
        failed = "" if ok else f" FAILED: {getattr(result, 'error', '') or getattr(result, 'detail', '')}"
        words = {
            "preflight": "preflight checks passed"
            if ok
            else f"preflight stopped it: {getattr(result, 'reason', '')}",
            "claim": "claimed in the ledger" if ok else f"not claimed: {getattr(result, 'reason', '')}",
            "surge": "desired capacity raised by 1 (surge)",
            "drain": f"container instance set to DRAINING: {getattr(result, 'container_instance', '')}",
            "terminate": f"terminated victim {recycle.victim}",
            "terminate-retry": f"terminated victim {recycle.victim} (second attempt)",
            "surge-rollback": f"surge undone: {getattr(result, 'detail', '')}",
            "undrain": f"container instance back to ACTIVE: {getattr(result, 'detail', '')}",
            "alert": "alert published" if ok else "alert NOT delivered",
            "ledger": "recorded in the ledger",
            "brakes": "brakes checked after the drain",
            "canary-claim": "claimed the canary of its new image in the ledger"
            if ok
            else f"not the canary: {getattr(result, 'reason', '')}",
            "canary-release": "released the canary claim of its image",
            "bake-start": "the canary's bake started",
            "zones": "Availability Zones read",
            "group-after-error": "group read again after the error",
            "surge-remove": "surge instance removed",
            "surge-undrain": "container instance back to ACTIVE",
        }
        return words.get(what, what) + (failed if what in ACTS or what == "alert" else "")


def ask(question: str, err: TextIO, read: Callable[[], str] = input) -> bool:
    """y/yes goes on; anything else (or end of input) does not."""
    print(question, end="", file=err, flush=True)
    try:
        return read().strip().lower() in ("y", "yes")
    except EOFError:
        return False


def confirmation(jobs: list[Job], account: str, region: str) -> str:
    lines = [f"recycler will act on {len(jobs)} group(s) in account {account}, region {region}:"]
    for job in jobs:
        victims = [job.victim.instance_id, *(m.instance_id for m in job.more_victims)]
        how = "surge, then terminate" if job.mode is Mode.SURGE else "terminate"
        lines.append(f"  {job.group:<24} {how} {', '.join(victims)}")
    return "\n".join(lines) + "\nProceed? [y/N] "
