"""cli/interrupt.py after a Ctrl-C: a claim is released only where nothing is left changed. A host whose
drain could not be undone, or a surge still in place, keeps its group's claim (so a second run does not
act on the group while it is still changed), and a terminated victim's host is not set ACTIVE again."""

from __future__ import annotations

import io

from recycler.cli.interrupt import undo_drains, untouched_claims
from recycler.cli.watch import Recycle, Watch
from recycler.domain import Mode

HOST = "arn:aws:ecs:us-east-1:111111111111:container-instance/prod/0123456789abcdef"


def watch_with(*recycles: Recycle) -> Watch:
    watch = Watch(io.StringIO())
    watch.claimed = sorted({r.group for r in recycles} | {"idle"})
    watch.recycles = {f"{r.group}:{r.victim}": r for r in recycles}
    return watch


def test_a_drain_that_could_not_be_undone_keeps_its_claim() -> None:
    watch = watch_with(Recycle("apps", "i-1", Mode.REPLACE, draining=HOST))

    def refused(cluster: str, arn: str) -> None:
        raise RuntimeError("AccessDeniedException")

    assert undo_drains(watch, refused) == []
    assert untouched_claims(watch) == ["idle"]


def test_a_drain_undone_releases_its_claim() -> None:
    watch = watch_with(Recycle("apps", "i-1", Mode.REPLACE, draining=HOST))
    activated: list[tuple[str, str]] = []
    assert len(undo_drains(watch, lambda cluster, arn: activated.append((cluster, arn)))) == 1
    assert activated == [("prod", HOST)]
    assert untouched_claims(watch) == ["apps", "idle"]


def test_a_surge_in_place_keeps_its_claim() -> None:
    watch = watch_with(Recycle("web", "i-1", Mode.SURGE, surged=True, surge_instance="i-2"))
    assert untouched_claims(watch) == ["idle"]


def test_a_terminated_victims_host_is_not_set_active_again() -> None:
    watch = watch_with(Recycle("apps", "i-1", Mode.REPLACE, draining=HOST, terminated=True))
    activated: list[str] = []
    assert undo_drains(watch, lambda cluster, arn: activated.append(arn)) == []
    assert activated == []
    assert untouched_claims(watch) == ["idle"]
