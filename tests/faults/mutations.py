"""Mutation audit: break one guard at a time in a throwaway copy of the repo and expect a NAMED test to fail.

`python -m tests.faults.mutations [NAME-OR-TEST-SUBSTRING ...]` (22 minutes for all on a busy 2-core box;
`python -m tests.faults.guards_removed` is the same command). Not part of `make test`.

- Every mutation runs in a fresh copy of the working tree (tracked and untracked files, minus .venv,
  node_modules and caches) in a temporary directory: the checkout is never edited, and an interrupted
  audit leaves nothing behind in it.
- A mutation is caught only when one of the tests it names FAILS ON AN ASSERTION (an `assert`,
  `pytest.fail`, `pytest.raises`' DID NOT RAISE), as pytest's JUnit XML records it
  (tests/faults/verdicts.py). A non-zero exit alone proves nothing: no test collected (exit 5), a
  collection or setup error, a test crashing with ImportError or TypeError all read as NOT caught.
- Each catch is confirmed by one rerun in a fresh copy; a catch that does not repeat reads UNCONFIRMED.
- A run past MUTATION_TIMEOUT_S (900 s) is killed and reported as TIMEOUT, and the audit goes on.
- First a baseline: every named test must pass on the unmutated copy, so "fails with the mutation"
  means "fails because of the mutation".
- The negative control changes a comment only. It must read NOT caught; if a test fails on it, the
  audit itself is broken and the exit is non-zero.
Exit 0 when every mutation is caught and the control is not.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.faults.verdicts import Outcome, Verdict, confirmed, judge, read_junit, timed_out

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
# One mutation's named tests; a run past this is killed and reported as a timeout (not a catch).
TIMEOUT_S = float(os.environ.get("MUTATION_TIMEOUT_S", "900"))
SKIPPED_DIRS = frozenset({".venv", "node_modules", ".git", "cdk.out", ".mypy_cache", ".ruff_cache"})

FAULTS = "tests/faults/test_faults.py"
LIVING = "tests/faults/test_living_fleet.py"
SURGE = "tests/faults/test_surge.py"
LIMITS = "tests/faults/test_durable_limits.py"
CONTAINERS = "tests/faults/test_container_faults.py"
SAFETY = "tests/faults/test_safety_properties.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    # (original, mutated) pairs applied in order; each original must occur exactly once.
    edits: tuple[tuple[str, str], ...]
    # pytest node ids (file::function, every parameter of it); at least one must fail.
    tests: tuple[str, ...]
    control: bool = False  # the negative control: must NOT be caught


def removal(name: str, path: str, original: str, mutated: str, *tests: str) -> Mutation:
    return Mutation(name, path, ((original, mutated),), tests)


# The 20 guard removals the fault matrix started with (docs/reliability.md).
REMOVALS = (
    removal(
        "kill switch / alarms re-checked before acting",
        "recycler/workflow/group/preflight.py",
        "        pulled = brake_pulled(services, settings)\n        if pulled is not None:\n            return pulled",
        "        pulled = None",
        f"{FAULTS}::test_f13_kill_switch_flipped_between_plan_and_terminate",
        f"{FAULTS}::test_f14_stop_alarm_fires_mid_run_no_new_group_starts",
    ),
    removal(
        "ledger claim before terminating",
        "recycler/workflow/group/preflight.py",
        "    try:\n        ledger.claim(",
        "    try:\n        return Claim(ok=True)\n        ledger.claim(",
        f"{FAULTS}::test_f10_ledger_unavailable_means_no_termination",
        f"{FAULTS}::test_f11_duplicate_schedule_and_overlapping_drill_terminate_once",
    ),
    removal(
        "terminate runs in a checkpointed step",
        "recycler/durable.py",
        "        data = self.context.step(\n"
        "            lambda _: encode(fn()), name=name, config=self.ONCE if at_most_once else self.RETRIED\n"
        "        )",
        "        data = encode(fn())",
        f"{FAULTS}::test_f12_durable_replay_after_terminate_never_terminates_twice",
    ),
    removal(
        "fail fast on a Failed launch activity",
        "recycler/workflow/health.py",
        "                if a.status in FAILED_ACTIVITY and launched_by_us(a, self.surge_from) is not False",
        "                if False",
        f"{FAULTS}::test_f05_failed_launch_activity_fails_fast",
    ),
    removal(
        "botocore retries throttled calls",
        "recycler/aws/clients.py",
        'retries={"max_attempts": 10, "mode": "adaptive"}',
        'retries={"max_attempts": 1, "mode": "adaptive"}',
        f"{FAULTS}::test_f01_throttled_describe_calls_are_retried",
    ),
    removal(
        "an undelivered alert is reported",
        "recycler/workflow/group/recycle.py",
        "        return Published(ok=False, error=str(error))",
        "        return Published(ok=True)",
        f"{FAULTS}::test_f09_lambda_raises_when_an_alert_is_not_delivered",
        f"{FAULTS}::test_f09_sns_publish_failure_fails_the_run",
    ),
    removal(
        "replacement Unhealthy in the group",
        "recycler/workflow/health.py",
        '        broken = [i for i in candidates if i.health_status != "Healthy"]',
        "        broken = []",
        f"{FAULTS}::test_f06_replacement_unhealthy_in_the_group",
    ),
    removal(
        "replacement healthy in every target group",
        "recycler/workflow/health.py",
        "        not_passing = {name: s for name, s in checks.items() if s not in PASSING_STATES}",
        "        not_passing: dict[str, str] = {}",
        f"{FAULTS}::test_f07_replacement_unhealthy_in_a_target_group_only",
    ),
    removal(
        "health judged against the group's current desired capacity",
        "recycler/workflow/health.py",
        "        required = snapshot.desired_capacity - len(launching_others)",
        "        required = self.desired_at_act",
        f"{LIVING}::test_f15_scale_in_of_an_original_during_the_wait_is_not_a_failure",
    ),
    removal(
        "a replacement scaled in before verification is not a failure",
        "recycler/workflow/health.py",
        "        if replacement_id is not None and replacement_id not in present:",
        "        if replacement_id is not None and replacement_id not in present and False:",
        f"{LIVING}::test_f17_the_replacement_itself_scaled_in_is_not_a_failure",
    ),
    removal(
        "the surge instance is tracked in any lifecycle state",
        "recycler/workflow/group/surge.py",
        "    surge_instance = health.replacement or (",
        "    surge_instance = None and (",
        f"{SURGE}::test_f21_surge_instance_stuck_pending_until_the_timeout_is_removed",
    ),
    removal(
        "a denied victim terminate after a surge is retried once",
        "recycler/workflow/group/surge.py",
        "    if not acted.ok:\n        acted = port.step(",
        "    if False:\n        acted = port.step(",
        f"{SURGE}::test_f23_a_failed_rollback_names_the_state_and_the_fix",
        f"{SURGE}::test_f23_victim_terminate_denied_after_a_healthy_surge",
    ),
    removal(
        "the surge runs in a checkpointed at-most-once step",
        "recycler/workflow/group/surge.py",
        '    grown = port.step(ctx.name("surge"), grow, Acted, at_most_once=True)',
        "    grown = grow()",
        f"{SURGE}::test_f24_replay_during_the_surge_wait_never_surges_twice",
    ),
    removal(
        "one group's unexpected exception is caught at its boundary",
        "recycler/workflow/group/recycle.py",
        "    except Exception as error:\n        # A bug",
        "    except ArithmeticError as error:\n        # A bug",
        f"{LIMITS}::test_f25_an_internal_error_in_one_group_fails_only_that_group",
    ),
    removal(
        "a run plans no more recycles than one durable execution holds",
        "recycler/workflow/planning.py",
        "        decisions = defer_over_budget(decisions, settings, payload, limits)",
        "        decisions = list(decisions)",
        f"{LIMITS}::test_f26_more_due_groups_than_one_execution_holds_stay_inside_the_operation_limit",
    ),
    removal(
        "an ECS host is drained before it is terminated",
        "recycler/workflow/group/drain.py",
        '    if host.kind != "ecs" or not host.recycler_drains:',
        "    if True:",
        f"{CONTAINERS}::test_f31_ecs_throttling_during_the_drain_is_waited_out",
        f"{CONTAINERS}::test_f33_replays_during_the_drain_wait_never_drain_or_terminate_twice",
    ),
    removal(
        "a drain that times out terminates nothing",
        "recycler/workflow/group/drain.py",
        '    if state.status in ("drained", "gone"):',
        "    if True:",
        f"{CONTAINERS}::test_f29_a_drain_that_times_out_fails_loudly_and_terminates_nothing",
    ),
    removal(
        "a victim ECS does not know is not terminated",
        "recycler/workflow/group/drain.py",
        "        if found is None:\n            return Drained(",
        "        if found is None:\n            return Drained(ok=True)\n            return Drained(",
        f"{CONTAINERS}::test_f30_a_victim_ecs_does_not_know_is_not_terminated",
    ),
    removal(
        "a launch hook that never completes is named",
        "recycler/workflow/health.py",
        '            if "Pending:Wait" in state.detail and self.launch_hooks:',
        "            if False:",
        f"{CONTAINERS}::test_f32_a_launch_hook_that_never_completes_times_out_naming_the_hook",
    ),
    removal(
        "the brakes are read again after a drain",
        "recycler/workflow/group/drain.py",
        "        return brakes_after_drain(ctx, drain)",
        "        return drain",
        f"{CONTAINERS}::test_f35_a_kill_switch_engaged_during_the_drain_stops_the_terminate",
    ),
)

# What the mutation audit of issue 29 found no test noticed (a-f), and the negative control.
AUDIT = (
    removal(
        "(a) the run's failure count survives a durable replay (kept in the ledger)",
        "recycler/workflow/failures.py",
        "        self.ledger = ledger\n",
        "        self.ledger = None  # mutated: the count lives in this invocation's memory only\n",
        f"{SAFETY}::test_stop_after_failures_counts_failures_from_earlier_invocations",
    ),
    removal(
        "(b) the terminate step is at most once per retry",
        "recycler/workflow/group/replace.py",
        '        ctx.name("terminate"), lambda: ctx.terminate_victim(decrement=False), Acted, at_most_once=True',
        '        ctx.name("terminate"), lambda: ctx.terminate_victim(decrement=False), Acted, at_most_once=False',
        f"{SAFETY}::test_an_invocation_lost_after_the_terminate_never_sends_it_again",
    ),
    removal(
        "(c) the replacement passes every target group's check, not only the first",
        "recycler/aws/fleet.py",
        "        for arn in target_group_arns:\n",
        "        for arn in target_group_arns[:1]:\n",
        f"{SAFETY}::test_a_surge_instance_failing_only_its_second_target_group_is_rolled_back",
    ),
    Mutation(
        "(d) a surge drains its ECS victim only after the surge instance is verified",
        "recycler/workflow/group/surge.py",
        (
            (
                "    health = ctx.wait_healthy(before, desired + 1, grown.at, surge_from=desired)\n",
                "    drain = drain_victim(ctx)  # mutated: drained before the surge instance is verified\n"
                "    health = ctx.wait_healthy(before, desired + 1, grown.at, surge_from=desired)\n",
            ),
            ("    drain = drain_victim(ctx)\n    if drain.refused", "    if drain.refused"),
        ),
        (
            f"{SAFETY}::test_a_surge_drains_the_victim_only_after_the_surge_instance_is_in_service_and_healthy",
        ),
    ),
    removal(
        "(e) the drain wait ends only when no task runs on the victim",
        "recycler/workflow/group/drain.py",
        "            if tasks == 0:\n",
        "            if True:  # mutated\n",
        f"{SAFETY}::test_the_victim_is_terminated_only_once_its_drain_left_no_task_running",
    ),
    removal(
        "(f) F18's fault disabled: the emulator never holds the victim in Terminating:Wait",
        "recycler/local/emulator/faults.py",
        'plan.startswith("terminating-wait"):',
        'plan.startswith("fault-disabled"):',
        f"{LIVING}::test_f18_victim_held_in_terminating_wait_is_not_a_failure",
    ),
    removal(
        "(f) a victim held in Terminating:Wait is named while the wait goes on",
        "recycler/workflow/health.py",
        '        return "; ".join([detail, *draining])',
        "        return detail",
        f"{LIVING}::test_f18_victim_held_in_terminating_wait_is_not_a_failure",
    ),
)

# Round 3: what fleet realism and fail-early-on-publish guard (each caught by the test named).
REALISM = "tests/faults/test_fleet_realism.py"
PUBLISH = "tests/integration/test_publish.py"
EXECUTION = "tests/faults/test_execution_time.py"
ROUND_3 = (
    removal(
        "a capacity failure is waited out, not a verdict on the image",
        "recycler/workflow/health.py",
        "            if kind is not LaunchFailure.CAPACITY:",
        "            if True:",
        f"{REALISM}::test_f36_a_capacity_blip_is_waited_out_and_condemns_no_image",
    ),
    removal(
        "ECS-managed scale-in protection does not hide candidates",
        "recycler/policy/victims.py",
        "    ignore_protection = options.ignore_protection or group.ecs_protection",
        "    ignore_protection = options.ignore_protection",
        f"{REALISM}::test_f38_an_ecs_protected_host_is_recycled_after_its_drain",
    ),
    removal(
        "a freshness target's own terminating victims are excused",
        "recycler/workflow/group/preflight.py",
        "        view, leaving = without_leaving(snapshot, ctx.own_victims)",
        "        view, leaving = snapshot, frozenset()",
        f"{REALISM}::test_f39_a_freshness_target_recycles_every_due_instance_through_the_deregistration_delay",
    ),
    removal(
        "a canary's bake reads the group's own alarms",
        "recycler/workflow/group/bake.py",
        "        firing = self.services.brakes.firing_alarms(alarms) if alarms else []",
        "        firing: list[str] = []",
        f"{PUBLISH}::test_an_alarm_during_the_bake_fails_the_canary_and_holds_the_image_back",
    ),
    removal(
        "never two canaries for one image at once (the ledger's canary claim)",
        "recycler/workflow/group/recycle.py",
        "        if not held.ok:\n            return ctx.report(",
        "        if False:\n            return ctx.report(",
        f"{PUBLISH}::test_no_second_canary_while_another_run_tries_the_image",
    ),
    removal(
        "an image whose canary failed is not launched again by a later run",
        "recycler/workflow/run.py",
        "    jobs = [j for j in jobs if j.current_image_id not in (condemned or {})]",
        "    jobs = list(jobs)",
        f"{PUBLISH}::test_an_image_whose_canary_failed_is_not_launched_again_by_a_later_run",
    ),
)

# This round's: the invocation yield, the execution's deadline, the window wait's bound, the revert's
# re-read, VPC Lattice health, and a heartbeated launch hook.
ROUND_4 = (
    removal(
        "a wait polled past the invocation's yield limit calls nothing and lets the invocation suspend",
        "recycler/durable.py",
        "            if time.monotonic() - self.invocation_started >= self.yield_after_seconds:",
        "            if False:",
        "tests/faults/test_invocation_bound.py::"
        "test_f45_no_health_poll_starts_after_the_invocation_yield_while_groups_poll_at_once",
    ),
    removal(
        "a recycle that could end past the execution's deadline does not start",
        "recycler/workflow/group/preflight.py",
        "        late = past_deadline(ctx)",
        "        late = None",
        f"{EXECUTION}::test_f46_a_wait_longer_than_planned_defers_the_next_recycle_instead_of_outrunning_the_execution",
    ),
    removal(
        "a publish waits for its maintenance window only while the execution has time for the canary",
        "recycler/workflow/run.py",
        "opens - began <= window_wait_limit(settings)",
        "opens - at <= timedelta(hours=10)",
        f"{EXECUTION}::test_f47_a_publish_waits_for_its_window_only_while_the_execution_has_time_for_the_canary",
    ),
    removal(
        "the revert writes only while the parameter still holds the broken id",
        "recycler/workflow/revert.py",
        "    if value != image:",
        "    if False:",
        "tests/integration/test_revert.py::test_a_parameter_published_again_before_the_restore_is_left_alone",
    ),
    removal(
        "every VPC Lattice target group of the group is checked",
        "recycler/workflow/checks.py",
        "fleet.lattice_health(snapshot.lattice_target_groups, instance_id).items()",
        "{}.items()",
        f"{REALISM}::test_f43_a_replacement_unhealthy_in_its_vpc_lattice_target_group_fails_the_recycle",
    ),
    removal(
        "a launch hook whose owner heartbeats holds the wait past the health timeout",
        "recycler/workflow/health.py",
        "        if not self.launch_hooks or self.hook_limit <= self.timeout or state.hook_held < self.timeout:",
        "        if True:",
        f"{REALISM}::test_f40_a_launch_hook_heartbeated_past_its_heartbeat_timeout_is_waited_out",
    ),
    # The stampede guard is judged twice: planning (every planned group, one read) and each preflight.
    removal(
        "stampede guard at planning: a failed read skips every planned group, read once for them all",
        "recycler/workflow/planning.py",
        "    decisions = with_scale_out_guard(services, snapshots, decisions, payload, now)",
        "    pass",
        "tests/faults/test_scale_outs.py::test_f52_a_scale_out_read_that_fails_keeps_every_instance",
        "tests/faults/test_scale_outs.py::test_many_groups_are_read_in_one_region_wide_call_and_each_judged_on_its_own",
    ),
    removal(
        "stampede guard at preflight: a scale-out scheduled after the plan is seen before the act",
        "recycler/workflow/group/preflight.py",
        "        if imminent:",
        "        if False:",
        "tests/faults/test_scale_outs.py::test_f53_a_scale_out_scheduled_after_the_plan_is_seen_right_before_the_act",
    ),
)

CONTROL = Mutation(
    "negative control: a comment reworded, no behaviour changed",
    "recycler/workflow/failures.py",
    (
        (
            "        self._in_memory: set[str] = set()  # only without a ledger",
            "        self._in_memory: set[str] = set()  # (control) only when no ledger",
        ),
    ),
    (f"{SAFETY}::test_stop_after_failures_counts_failures_from_earlier_invocations",),
    control=True,
)

MUTATIONS: tuple[Mutation, ...] = (*REMOVALS, *AUDIT, *ROUND_3, *ROUND_4, CONTROL)


def _tree_files(root: Path) -> list[Path]:
    """The working tree as git sees it (tracked and untracked, not ignored): what a clean copy holds."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    files = []
    for raw in listed:
        if not raw:
            continue
        relative = Path(raw.decode())
        if relative.parts[0] in SKIPPED_DIRS or not (root / relative).is_file():
            continue  # a deleted file still in the index, or a symlinked directory such as .venv
        files.append(relative)
    return files


def clean_copy(into: Path) -> Path:
    """Copy the working tree into `into`/repo; the shared virtualenv is used from the checkout."""
    repo = into / "repo"
    for relative in _tree_files(ROOT):
        target = repo / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)
    return repo


def apply(repo: Path, mutation: Mutation) -> None:
    source_file = repo / mutation.path
    source = source_file.read_text()
    for original, mutated in mutation.edits:
        if source.count(original) != 1:
            raise SystemExit(f"{mutation.path}: the code of '{mutation.name}' moved; update the mutation")
        source = source.replace(original, mutated)
    source_file.write_text(source)


def run_tests(repo: Path, tests: tuple[str, ...], workers: int, timeout_s: float = TIMEOUT_S) -> Outcome:
    """The named tests in `repo`; a run past `timeout_s` is killed (with its xdist workers) and read as a timeout."""
    junit = repo / "junit.xml"
    junit.unlink(missing_ok=True)
    command = [PYTHON, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    if workers > 1:
        command += ["-n", str(workers)]
    with subprocess.Popen(
        command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return timed_out(f"killed after {timeout_s:.0f} s\n" + _tail(output))
    if not junit.exists():
        return Outcome({}, {}, frozenset(), frozenset(), process.returncode, _tail(output))
    return read_junit(junit.read_text(), process.returncode, _tail(output))


def _tail(output: str) -> str:
    return "\n".join(output.strip().splitlines()[-15:])


def baseline(tests: tuple[str, ...]) -> list[str]:
    """Every named test passes without any mutation; what does not, in words."""
    with tempfile.TemporaryDirectory(prefix="recycler-mutation-") as tmp:
        repo = clean_copy(Path(tmp))
        seen = run_tests(repo, tests, workers=2)
    if seen.timed_out:
        return [f"the baseline did not finish within {TIMEOUT_S:.0f} s", seen.tail]
    failed = set(seen.assertion_failures) | set(seen.other_failures) | seen.errors
    problems = [f"{t}: fails without any mutation" for t in tests if t in failed]
    problems += [f"{t}: did not run" for t in tests if t not in failed | seen.passed]
    if problems:
        problems.append(seen.tail)
    return problems


def run_mutated(mutation: Mutation) -> Outcome:
    """What pytest saw of the mutation's named tests, in its own clean copy."""
    with tempfile.TemporaryDirectory(prefix="recycler-mutation-") as tmp:
        repo = clean_copy(Path(tmp))
        apply(repo, mutation)
        return run_tests(repo, mutation.tests, workers=2 if len(mutation.tests) > 1 else 1)


def verdict(mutation: Mutation) -> tuple[Verdict, Outcome]:
    """Caught only when a named test fails on an assertion, twice: each catch is confirmed by a rerun."""
    seen = run_mutated(mutation)
    first = judge(seen, mutation.tests)
    if first is not Verdict.CAUGHT:
        return first, seen
    return confirmed(first, judge(run_mutated(mutation), mutation.tests)), seen


def main(only: list[str]) -> int:
    """`only`: words that select mutations by name or test id (f06, f15, "(b)", ...); none: all."""
    chosen = [m for m in MUTATIONS if not only or any(w in m.name or w in " ".join(m.tests) for w in only)]
    started = time.monotonic()
    named = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
    problems = baseline(named)
    if problems:
        print("baseline broken, nothing audited:\n" + "\n".join(problems))
        return 2
    print(f"baseline: all {len(named)} named tests pass unmutated", flush=True)
    wrong = 0
    for mutation in chosen:
        found, seen = verdict(mutation)
        caught = found is Verdict.CAUGHT
        if mutation.control:
            label = "control ok (not caught)" if not caught else "CONTROL CAUGHT: the audit is broken"
        else:
            label = str(found)
        wrong += caught if mutation.control else not caught
        by = ", ".join(sorted(t.split("::")[1] for t in set(seen.assertion_failures) & set(mutation.tests)))
        print(
            f"{label:<10} {mutation.name} ({mutation.path}; failed on an assertion: {by or '-'}; "
            f"exit {'killed' if seen.exit_code is None else seen.exit_code})",
            flush=True,
        )
        for node in sorted(set(seen.assertion_failures) & set(mutation.tests)):
            print(f"    {node.split('::')[1]}: {seen.assertion_failures[node]}", flush=True)
        for node in sorted(set(seen.other_failures) & set(mutation.tests)):
            print(
                f"    {node.split('::')[1]}: crashed with {seen.other_failures[node]} (not a catch)",
                flush=True,
            )
        for node in sorted(seen.errors & set(mutation.tests)):
            print(
                f"    {node.split('::')[1]}: error in setup, teardown or collection (not a catch)", flush=True
            )
        if not caught and not mutation.control:
            print("    " + seen.tail.replace("\n", "\n    "), flush=True)
    real = [m for m in chosen if not m.control]
    print(
        f"{len(chosen) - wrong}/{len(chosen)} verdicts as expected "
        f"({len(real)} mutations, {len(chosen) - len(real)} control) in {time.monotonic() - started:.0f} s"
    )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
