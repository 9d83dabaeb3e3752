"""infra/config.py's near-miss prefixes at their edge: two edits away (a swapped pair, recylcer:) and the
separators its docstring names (recycler_) are still recycler's keys, refused rather than ignored (an
ignored key deploys its default unnoticed)."""

from __future__ import annotations

import pytest

from infra.config import _after_a_near_miss_prefix


@pytest.mark.parametrize(
    "key",
    [
        "recylcer:max_concurrency",  # two letters swapped: two substitutions
        "recycelr:max_concurrency",
        "recyclr:max_concurrency",  # one letter missing
        "recycler_max_concurrency",
        "recycler.max_concurrency",
        "RECYCLER:max_concurrency",
    ],
)
def test_a_prefix_two_edits_away_or_with_another_separator_is_a_near_miss(key: str) -> None:
    assert _after_a_near_miss_prefix(key) == "max_concurrency"


def test_a_word_three_edits_away_is_another_namespace() -> None:
    assert _after_a_near_miss_prefix("bicycle:max_concurrency") is None
    assert _after_a_near_miss_prefix("recycler:max_concurrency") is None
