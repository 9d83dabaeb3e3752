"""Edges of the revert's pure decisions that mutmut's first run showed no test pinned (CONTRIBUTING.md,
"Mutation audit"): with several earlier proven values, the newest one is restored, never the current
version's own value, and only earlier literal AMI ids other than the broken one are asked about."""

from __future__ import annotations

from recycler.policy.revert import candidates, previous_proven

HISTORY = [(1, "ami-oldest"), (2, "ami-older"), (3, "ami-newest-good"), (4, "ami-broken")]
GOOD = {"ami-oldest", "ami-older", "ami-newest-good"}


def test_the_newest_earlier_proven_value_is_restored_not_the_oldest() -> None:
    assert previous_proven(HISTORY, 4, "ami-broken", GOOD) == (3, "ami-newest-good")


def test_the_current_version_is_never_its_own_previous_value() -> None:
    # Version 3 is current and proven: a revert from it must go to an EARLIER version.
    assert previous_proven(HISTORY[:3], 3, "ami-broken", GOOD) == (2, "ami-older")


def test_only_earlier_literal_images_other_than_the_broken_one_are_candidates() -> None:
    history = [(1, "ami-a"), (2, "resolve:ssm:/x"), (3, "ami-broken"), (4, "ami-later"), (5, None)]
    assert candidates(history, 4, "ami-broken") == ["ami-a"]
