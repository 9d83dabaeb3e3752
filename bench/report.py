"""The results table, rendered from bench/results.json alone (no AWS, no emulator imports), so the table in
bench/README.md can be rewritten from, and checked against, the committed results.

Each section of results.json has one row function here; `table()` renders them in order. A new section
adds its key to `SECTIONS` and a row function returning the table's rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
README = HERE / "README.md"
BEGIN, END = "<!-- bench:results -->", "<!-- /bench:results -->"

Row = tuple[str, str, str, str]  # benchmark, measured, goal, met


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def planning(rows: list[dict[str, Any]]) -> list[Row]:
    return [
        (
            f"plan {r['groups']:,} opted-in groups x {r['instances_per_group']} (+ {r['not_opted_in']:,} not opted in)",
            f"{r['calls']:,} calls vs bound {r['lower_bound']:,} (ratio {r['ratio']}); median {r['median_seconds']} s "
            f"on moto, peak client memory {r['peak_mib']} MiB",
            f"calls ≤ {r['goal_ratio']} x bound",
            met(r["ratio"] <= r["goal_ratio"]),
        )
        for r in rows
    ]


def scale_run(r: dict[str, Any]) -> list[Row]:
    injected = r["throttles_injected"]
    return [
        (
            f"one run, {r['groups']:,} groups, concurrency {r['concurrency']}, 1 in {r['throttle_every']} EC2 / "
            "Auto Scaling Describe* and Terminate* requests throttled",
            f"{r['recycled']:,} recycled, {r['failed']} failed; {r['calls']:,} calls ({r['calls_per_group']} / group); "
            f"{injected:,} throttles injected, {r['retries']:,} botocore retries, "
            f"{r['throttled_calls_surfaced']} throttled calls surfaced, {r['throttling_failures']} groups failed "
            f"for throttling; {r['wall_seconds']} s on in-process moto",
            "no throttling error surfaces",
            met(injected > 0 and r["throttled_calls_surfaced"] == 0 and r["throttling_failures"] == 0),
        )
    ]


def makespan(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for strategy, s in r["summary"].items():
        ratio, wait, minutes = s["ratio"], s["ratio_to_wait_bound"], s["makespan_minutes"]
        goal = r["goals"].get(strategy)
        rows.append(
            (
                f"fleet makespan, {r['groups']} groups, concurrency {r['concurrency']}, {strategy} "
                f"({len(r['seeds'])} seeds)",
                f"ratio to the lower bound {ratio['median']} median ({ratio['min']}-{ratio['max']}); makespan "
                f"{minutes['median']} min median ({minutes['min']}-{minutes['max']}), bound "
                f"{s['lower_bound_minutes']['median']} min median; ratio to the bound of the measured waits "
                f"{wait['median']} ({wait['min']}-{wait['max']}); at most {s['most_in_flight']} in flight",
                f"ratio ≤ {goal}" if goal else "- (baseline)",
                met(ratio["max"] <= goal) if goal else "-",
            )
        )
    return rows


def cold_import(r: dict[str, Any]) -> list[Row]:
    top = ", ".join(f"{name} {ms}" for name, ms in r["top_offenders_ms"].items())
    return [
        (
            "cold `import recycler.handler` (median of 10)",
            f"{r['handler_ms']} ms vs bare `import boto3` {r['boto3_ms']} ms: {r['ratio']} x; largest top-level "
            f"packages (`-X importtime`, cumulative ms): {top}",
            f"≤ {r['goal_ratio']} x boto3",
            met(r["ratio"] <= r["goal_ratio"]),
        )
    ]


def billed_compute(r: dict[str, Any]) -> list[Row]:
    return [
        (
            f"compute billed per recycle, {r['boot_seconds'] // 60}-minute boot, {r['label']}",
            f"{r['health_polls']} polls, {r['invocations']} invocations, {r['billed_seconds']} s inside the "
            f"handler for {r['simulated_wait_seconds']} s of health wait and {r['baked_seconds']} s of canary bake "
            f"({r['billed_percent_of_wait']} %)",
            f"≤ {r['goal_percent']} % of the wait",
            met(r["billed_percent_of_wait"] <= r["goal_percent"]),
        )
    ]


def concurrency_50(r: dict[str, Any]) -> list[Row]:
    billed, on, off = r["billed"], r["with_yield"], r["without_yield"]
    return [
        (
            f"compute billed, {billed['groups']} groups at once (concurrency 50), 10-minute boots, 300 s grace",
            f"{billed['recycled']} recycled; {billed['invocations']} invocations, {billed['billed_seconds']} s "
            f"inside the handler for {billed['health_wait_seconds']:,} s of health waits "
            f"({billed['billed_percent_of_wait']} %)",
            f"≤ {billed['goal_percent']} % of the waits",
            met(billed["billed_percent_of_wait"] <= billed["goal_percent"]),
        ),
        (
            "longest invocation, 50 groups at once, real time scaled down (1 s polls, 6-12 s boots, "
            "0.2 s round trips), invocation yield at 1 s",
            f"{on['longest_after_plan_seconds']} s after the plan's ({on['plan_invocation_seconds']} s: one "
            f"step); {on['polls_past_limit']} of {on['polls']} polls started past the limit; without the yield "
            f"{off['longest_after_plan_seconds']} s and {off['polls_past_limit']} of {off['polls']} polls past it",
            "no poll past the limit",
            met(on["polls_past_limit"] == 0),
        ),
    ]


def publish(r: dict[str, Any]) -> list[Row]:
    return [
        (
            "publish → verdict, good image (5-minute boot, 30-minute bake)",
            f"proven {r['good_image_proven_minutes']} min after the publish event ({r['good_image_outcome']})",
            "-",
            "-",
        ),
        (
            "publish → verdict, broken image (alarm 10 min into the bake)",
            f"alerted {r['broken_image_alerted_minutes']} min after the publish event "
            f"({r['broken_image_outcome']}); {r['broken_launched_before_verdict_publish_triggered']} broken "
            "launches before the verdict (hourly scale-outs of 10 groups, 48 h)",
            "-",
            "-",
        ),
        (
            "broken launches after the verdict, 48 h of hourly scale-outs of 10 groups on one SSM alias",
            f"{r['broken_launched_after_verdict_unprotected']} with revert_on_canary_failure off; "
            f"{r['broken_launched_after_verdict_protected']} with it on (the run put the parameter back: "
            f"{r['revert_on_canary_failure']})",
            "0 with it on",
            "yes" if r["broken_launched_after_verdict_protected"] == 0 else "**no**",
        ),
        (
            "publish → verdict, next scheduled run only (baseline)",
            f"{r['next_scheduled_run_hours']} h; {r['broken_launched_before_verdict_scheduled_only']} broken launches "
            "before it",
            "-",
            "-",
        ),
    ]


def freshness(rows: list[dict[str, Any]]) -> list[Row]:
    out: list[Row] = []
    for r in rows:
        caught = r["days_to_catch_up"]
        target = r.get("target_days")
        least = r.get("min_recycles_per_week")
        measured_by = f" (`{r['command']}`, {r['date']})" if r.get("command") else ""
        ratio = r["recycles_per_week"] / least if least else None
        out.append(
            (
                f"freshness, {r['size']} instances, {r['policy']} (60 days){measured_by}",
                (
                    f"within the target after {caught} d, oldest after that {r['oldest_after_catch_up']} d; "
                    if caught is not None
                    else "never within the target; "
                    if target
                    else ""
                )
                + f"{r['recycles_per_week']} recycles / week"
                + (f" vs the minimum {least} ({ratio:.2f} x)" if ratio is not None else "")
                + (f", at most {r['most_in_one_run']} in one run" if r.get("most_in_one_run") else "")
                + f", oldest at day 60 {r['final_oldest']} d",
                f"oldest ≤ {target:g} d once within; recycles ≤ 1.2 x the minimum"
                if target
                else "- (baseline)",
                met(
                    caught is not None
                    and r["oldest_after_catch_up"] <= target
                    and (ratio is None or ratio <= 1.2)
                )
                if target
                else "-",
            )
        )
    return out


def fanout(r: dict[str, Any]) -> list[Row]:
    children = r["child_operations"] or [0]
    measured_by = f" (`{r['command']}`, {r['date']})" if r.get("command") else ""
    fits = (
        r["largest_operations"] <= r["goal_operations"]
        and r["largest_checkpoint_bytes"] <= r["checkpoint_limit_bytes"]
        and r["recycled"] + r["deferred"] == r["groups"]
    )
    return [
        (
            f"one scheduled run, {r['groups']:,} groups due, max_concurrency 50, 10-minute boots, fan-out"
            f"{measured_by}",
            f"{r['recycled']:,} recycled, {r['failed']} failed, {r['deferred']} deferred; {r['executions']} "
            f"executions: the parent {r['parent_operations']:,} operations, {len(children)} children "
            f"{min(children):,}-{max(children):,}; {r['operations_per_recycle']} operations / recycle as "
            f"Lambda meters them (estimate {r['estimate_per_recycle']}); largest checkpoint "
            f"{r['largest_checkpoint_bytes'] / 1024:.0f} KB",
            f"every execution ≤ {r['goal_operations']:,} of Lambda's 3,000 operations; checkpoints ≤ "
            f"{r['checkpoint_limit_bytes'] // 1024} KB",
            met(fits),
        )
    ]


SECTIONS: dict[str, Callable[[Any], list[Row]]] = {
    "planning": planning,
    "scale_run": scale_run,
    "makespan": makespan,
    "cold_import": cold_import,
    "billed_compute_every_poll": billed_compute,
    "billed_compute": billed_compute,
    "concurrency_50": concurrency_50,
    "publish": publish,
    "freshness": freshness,
    "fanout": fanout,
}


def table(results: dict[str, Any]) -> str:
    run = results["run"]
    lines = [
        f"`{run['command']}` on {run['date']}: {run['wall_seconds'] // 60:.0f} min {run['wall_seconds'] % 60:.0f} s "
        f"wall time, {run['cpus']} CPUs, Python {run['python']}.",
        "",
        "| benchmark | measured | goal | met |",
        "|---|---|---|---|",
    ]
    for key, rows in SECTIONS.items():
        if key in results:
            lines += ["| " + " | ".join(row) + " |" for row in rows(results[key])]
    return "\n".join(lines)


def block(results: dict[str, Any]) -> str:
    return f"{BEGIN}\n{table(results)}\n{END}"


def readme_block(text: str) -> str:
    match = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), text, re.DOTALL)
    if match is None:
        raise ValueError(f"bench/README.md has no {BEGIN} ... {END} block")
    return match.group(0)


def rewrite_readme(results: dict[str, Any], readme: Path = README) -> None:
    text = readme.read_text()
    readme.write_text(text.replace(readme_block(text), block(results)))


def load(path: Path = RESULTS) -> dict[str, Any]:
    results: dict[str, Any] = json.loads(path.read_text())
    return results
