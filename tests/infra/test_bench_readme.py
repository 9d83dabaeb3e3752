"""bench/README.md's results table is rendered from bench/results.json: the two cannot drift.

Renders the table from the committed results (bench/report.py imports no AWS and runs nothing) and
asserts the README holds exactly it. After `make bench`, both are rewritten together; after editing
results.json by hand, `.venv/bin/python -m bench --readme` rewrites the table.
"""

from __future__ import annotations

from bench import report


def test_readme_table_is_the_one_rendered_from_results() -> None:
    assert report.readme_block(report.README.read_text()) == report.block(report.load())


def test_every_section_of_results_is_rendered() -> None:
    results = report.load()
    assert set(results) - {"run"} <= set(report.SECTIONS), "a section without a row function"
    for key, rows in report.SECTIONS.items():
        assert key in results, f"results.json has no {key}"
        assert rows(results[key]), f"{key} renders no row"


def test_a_missed_goal_renders_as_missed() -> None:
    results = report.load()
    scale = {**results["scale_run"], "throttling_failures": 1}
    assert report.scale_run(scale)[0][3] == "**no**"
    no_throttles = {**results["scale_run"], "throttles_injected": 0}
    assert report.scale_run(no_throttles)[0][3] == "**no**", "a run without throttles proves nothing"
