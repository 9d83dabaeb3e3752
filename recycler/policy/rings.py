"""The organization's verdicts on an image, and the rings an image goes through (pure decisions).

Every member of an organization records its canaries' verdicts in one central store
(recycler/aws/verdicts_central.py) under the image's *verdict key*, so a copy of one build in another
region, and the same shared AMI in forty accounts, are one image here. When a member plans, each image
its groups would launch is judged from those verdicts:

- condemned anywhere: held everywhere (`canary-failed`, naming the account, region and group);
- proven in the member's ring (or a later one): proven, no canary;
- with `recycler:rings`, ring k > 0 takes an image only once it was proven in ring k-1 at least that
  ring's soak ago; until then its groups wait (`waiting-for-soak`, "waiting for staging: proven 3 h
  ago, soak 24 h");
- otherwise open: the member canaries it as it does today.

An image whose verdicts could not be read is judged as if it had none here, except that ring k > 0
then waits (it cannot see the earlier ring's proof): never a remote 'proven', never a remote condemn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

PROVEN = "proven"
CONDEMNED = "condemned"
ACCOUNT = re.compile(r"^\d{12}$")
UNIT = re.compile(r"^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
RING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
# Without recycler:rings, every member is in this one ring: a proof anywhere counts everywhere.
ORGANIZATION_RING = "organization"
RINGS_EXAMPLE = (
    '[{"name": "staging", "accounts": ["111111111111"], "soak_hours": 0}, '
    '{"name": "production", "organizational_units": ["ou-ab12-22222222"], "soak_hours": 24}]'
)


class RingsError(ValueError):
    """`recycler:rings` cannot be used; the message names the field and the fix."""


@dataclass(frozen=True)
class Ring:
    """One stage of an image's rollout: its accounts (or OUs) and how long an image must have been proven
    in the ring before it (the soak) before this ring canaries it. Ring 0's soak is unused."""

    name: str
    accounts: tuple[str, ...] = ()
    organizational_units: tuple[str, ...] = ()
    soak_hours: float = 0.0

    @property
    def soak(self) -> timedelta:
        return timedelta(hours=self.soak_hours)


def verdict_key(
    image_id: str,
    region: str,
    source_image_id: str | None = None,
    source_region: str | None = None,
    source_instance_id: str | None = None,
) -> str:
    """The key every copy of one build shares: `<region>/<ami>` of the image a copy was made from.

    A shared AMI keeps its id in its region, so in every account it is `<region>/<its id>`. A copy made
    with CopyImage has a new id per region; DescribeImages names its source (SourceImageId and
    SourceImageRegion, which "only appear if the AMI was created using CreateImage, CopyImage, or
    CreateRestoreImageTask": https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html), so
    a copy keys as its source. An image made with CreateImage names the image its instance was launched
    from as its source too, but it is another build (a snapshot of a changed disk): it carries
    SourceInstanceId ("only appears if the AMI was created using CreateImage"), and keys as itself.
    A copy of a copy keys as the copy it was made from (one level: the source of a source may be in a
    region or account this member cannot describe); distribute copies from the build's own region.
    """
    if source_image_id and source_region and not source_instance_id:
        return f"{source_region}/{source_image_id}"
    return f"{region}/{image_id}"


@dataclass(frozen=True)
class OrgVerdict:
    """One member's verdict on an image, with its evidence."""

    key: str
    verdict: str  # proven | condemned
    ring: str
    account: str
    region: str
    group: str
    image_id: str
    at: datetime
    reason: str = ""
    run_id: str = ""

    def evidence(self) -> str:
        """Who proved what, where and when: the text a held group's report carries."""
        why = f": {self.reason}" if self.reason else ""
        return (
            f"account {self.account} {self.region}, group {self.group}, "
            f"image {self.image_id}, {self.at.isoformat(timespec='minutes')}{why}"
        )


@dataclass(frozen=True)
class Membership:
    """Who this member is in the organization's verdicts: its account, region and ring (the rings in
    order, empty without recycler:rings: then every member is in ORGANIZATION_RING)."""

    account: str
    region: str
    rings: tuple[Ring, ...] = ()
    units: tuple[str, ...] = ()

    @property
    def ring(self) -> str:
        """Its ring's name; a member no ring names is in the last ring (it takes an image last)."""
        if not self.rings:
            return ORGANIZATION_RING
        found = ring_of(self.rings, self.account, self.units)
        return found.name if found is not None else self.rings[-1].name


class Verdict(StrEnum):
    OPEN = "open"  # canary it here as today
    PROVEN = "proven"
    CONDEMNED = "condemned"
    WAITING = "waiting"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    detail: str = ""


def ring_index(rings: Sequence[Ring], ring_name: str) -> int:
    return next((i for i, r in enumerate(rings) if r.name == ring_name), len(rings) - 1)


def ring_of(rings: Sequence[Ring], account: str, units: Iterable[str] = ()) -> Ring | None:
    """The first ring naming the account (or one of its OUs); None if no ring names it."""
    own_units = set(units)
    for ring in rings:
        if account in ring.accounts or own_units & set(ring.organizational_units):
            return ring
    return None


def hours(delta: timedelta) -> str:
    value = delta.total_seconds() / 3600
    return f"{value:.0f} h" if value >= 1 or value == 0 else f"{value * 60:.0f} min"


def judge(
    verdicts: Sequence[OrgVerdict], rings: Sequence[Ring], ring_name: str, now: datetime, *, readable: bool
) -> Judgement:
    """What the member in `ring_name` does with an image, from every member's verdicts on its key."""
    condemned = sorted((v for v in verdicts if v.verdict == CONDEMNED), key=lambda v: v.at)
    if condemned:
        return Judgement(Verdict.CONDEMNED, f"condemned by {condemned[0].evidence()}")
    order = [r.name for r in rings] or [ORGANIZATION_RING]
    mine = ring_index(rings, ring_name) if rings else 0
    proven = sorted((v for v in verdicts if v.verdict == PROVEN), key=lambda v: v.at)

    def index(name: str) -> int:
        return order.index(name) if name in order else len(order) - 1

    here = [v for v in proven if index(v.ring) >= mine]
    if here:
        return Judgement(Verdict.PROVEN, f"proven by {here[0].evidence()}")
    if mine == 0:
        return Judgement(Verdict.OPEN)
    before = rings[mine - 1]
    soak = rings[mine].soak
    if not readable:
        return Judgement(
            Verdict.WAITING,
            f"waiting for {before.name}: the organization's verdicts are unreadable, so its proof "
            f"cannot be seen (soak {hours(soak)})",
        )
    earlier = [v for v in proven if v.ring == before.name]
    if not earlier:
        return Judgement(
            Verdict.WAITING, f"waiting for {before.name}: not proven there yet, soak {hours(soak)}"
        )
    first = earlier[0]
    if now - first.at < soak:
        return Judgement(
            Verdict.WAITING,
            f"waiting for {before.name}: proven {hours(now - first.at)} ago "
            f"(account {first.account}, group {first.group}), soak {hours(soak)}",
        )
    return Judgement(Verdict.OPEN, f"soaked in {before.name} for {hours(now - first.at)}")


def parse_rings(raw: Any, field: str = "recycler:rings") -> tuple[Ring, ...]:
    """`recycler:rings` (a JSON list, or its text) as rings, or RingsError naming the field and the fix."""
    if raw is None or raw in ("", []):
        return ()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise RingsError(f"{field}: not JSON ({error.msg}); e.g. {RINGS_EXAMPLE}") from None
    if not isinstance(raw, list):
        raise RingsError(f"{field}: an ordered list of rings, e.g. {RINGS_EXAMPLE}")
    rings: list[Ring] = []
    seen_accounts: dict[str, str] = {}
    for n, item in enumerate(raw):
        where = f"{field}[{n}]"
        if not isinstance(item, dict):
            raise RingsError(f"{where}: an object with name, accounts or organizational_units, soak_hours")
        unknown = sorted(set(item) - {"name", "accounts", "organizational_units", "soak_hours"})
        if unknown:
            raise RingsError(
                f"{where}.{unknown[0]}: unknown key; use name, accounts, organizational_units, soak_hours"
            )
        name = item.get("name")
        if not isinstance(name, str) or not RING_NAME.match(name):
            raise RingsError(f'{where}.name: a short name such as "staging" (letters, digits, . _ -)')
        if any(r.name == name for r in rings):
            raise RingsError(f"{where}.name: {name!r} names two rings; give each ring its own name")
        accounts = item.get("accounts", [])
        units = item.get("organizational_units", [])
        if not isinstance(accounts, list) or not all(
            isinstance(a, str) and ACCOUNT.match(a) for a in accounts
        ):
            raise RingsError(f'{where}.accounts: a list of 12-digit account ids, e.g. ["111111111111"]')
        if not isinstance(units, list) or not all(isinstance(u, str) and UNIT.match(u) for u in units):
            raise RingsError(
                f"{where}.organizational_units: a list of OU ids (ou-xxxx-xxxxxxxx) or a root (r-xxxx)"
            )
        if not accounts and not units:
            raise RingsError(f"{where}: name its accounts or organizational_units (a ring with no member)")
        for account in accounts:
            if account in seen_accounts:
                raise RingsError(
                    f"{where}.accounts: {account} is already in ring {seen_accounts[account]!r}; "
                    "an account belongs to one ring"
                )
            seen_accounts[account] = name
        for unit in units:
            if unit in seen_accounts:
                raise RingsError(
                    f"{where}.organizational_units: {unit} is already in ring {seen_accounts[unit]!r}; "
                    "an OU belongs to one ring"
                )
            seen_accounts[unit] = name
        soak = item.get("soak_hours", 0)
        if isinstance(soak, bool) or not isinstance(soak, int | float) or not 0 <= soak <= 24 * 90:
            raise RingsError(f"{where}.soak_hours: hours from 0 to 2160 (90 days), e.g. 24")
        rings.append(Ring(name, tuple(accounts), tuple(units), float(soak)))
    return tuple(rings)
