"""One verdict per image for the whole organization: read at planning, written with the ledger's.

Planning (`with_org_verdicts`, inside the plan step): every image the planned recycles would launch
is judged from every member's verdicts (policy/rings.judge): condemned anywhere is held here
(`canary-failed`, naming the account and group), proven in this ring counts as proven (no canary),
and with rings a later ring waits for the earlier ring's soak (`waiting-for-soak`).

Writing (`OrgLedger`, wrapping this member's ledger): a canary claim is also claimed in the central
store for the image's ring (one canary per image per ring across the organization), then the image's
verdicts are read again (another member may have judged it since this run planned), and a proof or a
condemn is also recorded there, with its evidence.

Fail safe: a member that cannot read the store plans as if no member had judged the image (no canary
skipped, no remote proof, no remote condemn; a later ring waits), says so in each planned group's
detail, and a verdict it cannot write stays in its own ledger only (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from recycler.domain import AWS_ERRORS, ClaimRefused, Decision, ImageJudged, Reason
from recycler.interfaces import LedgerPort, VerdictStorePort
from recycler.messages import aws_error_text, is_replacement_timeout
from recycler.models import ManualPayload, Settings
from recycler.policy.rings import CONDEMNED, PROVEN, OrgVerdict, Verdict, judge, verdict_key
from recycler.report import GroupReport, RevertReport
from recycler.workflow.port import Port, Services
from recycler.workflow.revert import revert_launch_paths

logger = logging.getLogger(__name__)

UNREADABLE = (
    "organization verdicts unreadable ({error}): image treated as unproven here, nothing proven or "
    "condemned from them"
)


@dataclass(frozen=True)
class OrgPlan:
    """The plan once the organization's verdicts are read: decisions (some now waiting for a soak),
    proven and condemned images, and why the verdicts were unreadable ("" when they were read)."""

    decisions: list[Decision]
    proven: tuple[str, ...]
    condemned: dict[str, str]
    unreadable: str = ""
    # Images the organization condemned with a verdict on the image itself (proves_broken): the ones
    # revert_on_canary_failure puts back in this member's own launch paths.
    broken: tuple[str, ...] = ()


def with_org_verdicts(
    services: Services,
    decisions: Sequence[Decision],
    payload: ManualPayload,
    now: datetime,
    proven: Sequence[str],
    condemned: dict[str, str],
) -> OrgPlan:
    """The plan's decisions, proven images and condemned images once the organization's verdicts are
    read. A drill with "canary": true tries its image anyway (as with the ledger's verdicts)."""
    store = services.verdicts
    images = sorted({d.current_image_id for d in decisions if d.recycle and d.current_image_id})
    if store is None or not images or payload.canary:
        return OrgPlan(list(decisions), tuple(proven), condemned)
    member = store.member
    problem = ""
    try:
        keys = store.image_keys(images)
        verdicts = store.verdicts(sorted(set(keys.values())))
    except AWS_ERRORS as error:
        problem = aws_error_text(error)
        logger.warning("organization verdicts unreadable", extra={"error": problem, "images": images})
        keys = {image: verdict_key(image, member.region) for image in images}
        verdicts = {}
    proven_here = set(proven)
    condemned_here = dict(condemned)
    waiting: dict[str, str] = {}
    broken: list[str] = []
    for image in images:
        judged = judge(verdicts.get(keys[image], []), member.rings, member.ring, now, readable=not problem)
        if judged.verdict is Verdict.CONDEMNED and image not in condemned_here:
            condemned_here[image] = judged.detail
            proven_here.discard(image)  # condemned anywhere wins over a proof (docs/many-accounts.md)
            if any(v.verdict == CONDEMNED and proves_broken(v.reason) for v in verdicts.get(keys[image], [])):
                broken.append(image)
        elif judged.verdict is Verdict.PROVEN:
            proven_here.add(image)
        elif judged.verdict is Verdict.WAITING and image not in proven_here:
            waiting[image] = judged.detail
    updated = []
    for decision in decisions:
        image = decision.current_image_id or ""
        if decision.recycle and image in waiting and image not in condemned_here:
            updated.append(decision.skipped(Reason.WAITING_FOR_SOAK, f"image {image}: {waiting[image]}"))
        elif decision.recycle and problem:
            note = UNREADABLE.format(error=problem)
            updated.append(
                replace(decision, detail=f"{note}; {decision.detail}" if decision.detail else note)
            )
        else:
            updated.append(decision)
    return OrgPlan(updated, tuple(sorted(proven_here)), condemned_here, problem, tuple(broken))


def proves_broken(reason: str) -> bool:
    """A remote condemn that may put this member's launch paths back: the replacement launched and
    failed a check or its bake, or stayed unhealthy until the timeout (canary.proves_image_broken's
    verdicts that the reason alone shows; a launch that failed naming the template needs the failure's
    detail, which the table does not keep, so it holds the image here but reverts nothing)."""
    return reason in (Reason.REPLACEMENT_UNHEALTHY, Reason.BAKE_FAILED) or is_replacement_timeout(reason)


def revert_org_condemned(
    port: Port,
    services: Services,
    settings: Settings,
    broken: Sequence[str],
    held: Sequence[GroupReport],
    proven: Collection[str],
) -> list[RevertReport]:
    """revert_on_canary_failure for images another member proved broken: this member puts back its own
    launch paths that still hold them (each path written at most once, and only while it still holds
    the broken id: a later run finds nothing left to write). `held`: this run's groups on them."""
    if not settings.revert_on_canary_failure:
        return []
    reverted: list[RevertReport] = []
    for image in broken:
        groups = sorted(
            r.group for r in held if r.current_image_id == image and r.reason == Reason.CANARY_FAILED
        )
        reverted += revert_launch_paths(port, services, settings, image, groups, proven)
    return reverted


class OrgLedger:
    """This member's ledger, whose image verdicts and canary claims also reach the organization's store.
    Everything else is the ledger's own. A central write that fails is logged and the run goes on with
    the ledger alone: the verdict is still this member's, never the organization's."""

    def __init__(self, ledger: LedgerPort, store: VerdictStorePort) -> None:
        self.ledger = ledger
        self.store = store
        self._keys: dict[str, str] = {}

    def key(self, image: str) -> str:
        if image not in self._keys:
            try:
                self._keys.update(self.store.image_keys([image]))
            except AWS_ERRORS as error:
                logger.warning("image not described", extra={"image": image, "error": aws_error_text(error)})
                return verdict_key(image, self.store.member.region)
        return self._keys[image]

    def _record(
        self, kind: str, image: str, group: str, run_id: str, now: datetime, reason: str = ""
    ) -> None:
        member = self.store.member
        try:
            self.store.record(
                OrgVerdict(
                    key=self.key(image),
                    verdict=kind,
                    ring=member.ring,
                    account=member.account,
                    region=member.region,
                    group=group,
                    image_id=image,
                    at=now,
                    reason=reason,
                    run_id=run_id,
                )
            )
        except AWS_ERRORS as error:
            logger.error(
                "organization verdict not recorded: it stays this member's",
                extra={"image": image, "verdict": kind, "group": group, "error": aws_error_text(error)},
            )

    # ---- the image verdicts, also the organization's --------------------------------------------

    def record_proven(self, image: str, group: str, run_id: str, now: datetime) -> None:
        self.ledger.record_proven(image, group, run_id, now)
        self._record(PROVEN, image, group, run_id, now)

    def record_condemned(self, image: str, group: str, run_id: str, now: datetime, reason: str) -> None:
        self.ledger.record_condemned(image, group, run_id, now, reason)
        self._record(CONDEMNED, image, group, run_id, now, reason)

    def claim_canary(
        self, image: str, group: str, run_id: str, now: datetime, *, retry_judged: bool = False
    ) -> None:
        """The ledger's claim, then the organization's for the image's ring. Refused there (another
        member's canary holds it): the local claim is released and the refusal raised, so this run's
        groups on the image are held (canary-in-progress), as for another local run's canary. Store
        unreachable: the local claim alone (the canary runs here, as without an organization).

        Granted there: the image's verdicts are read again (ImageJudged if judged meanwhile), unless
        retry_judged (a drill with "canary": true tries an image whatever its verdict)."""
        self.ledger.claim_canary(image, group, run_id, now, retry_judged=retry_judged)
        key = self.key(image)
        try:
            self.store.claim_canary(key, group, run_id, now)
        except ClaimRefused:
            self.ledger.release_canary(image, run_id, "held-by-organization")
            raise
        except AWS_ERRORS as error:
            logger.warning(
                "organization canary claim not made", extra={"image": image, "error": aws_error_text(error)}
            )
            return
        if not retry_judged:
            self._judged_since_planned(image, key, run_id, now)

    def _judged_since_planned(self, image: str, key: str, run_id: str, now: datetime) -> None:
        """Raise ImageJudged, with both claims released, if another member proved (in this member's
        ring) or condemned the image after this run planned: that member's canary released the
        organization's claim once it had its verdict, so the claim alone was free. Verdicts are one item
        per member, so no condition on fixed keys can say "no member judged it"; a read after the claim
        can. A member records its verdict (record_proven/record_condemned, its ledger step) before it
        releases its claim (its canary-release step), and a strongly consistent Query "returns a
        response with the most up-to-date data, reflecting the updates from all prior write operations
        that were successful"
        (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html;
        CentralVerdicts.verdicts reads with ConsistentRead, in the table's own region): a claim granted
        after that release sees the verdict."""
        member = self.store.member
        try:
            verdicts = self.store.verdicts([key]).get(key, [])
        except AWS_ERRORS as error:
            # The documented choice for a store this member cannot reach (docs/many-accounts.md,
            # Failure modes: as when the claim itself cannot be made): it never stops the member's
            # canary, which goes on with the claims it holds, as without an organization. The member's
            # own ledger still refused a claim on an image it judged, and the canary itself (one group,
            # baked) is what catches a broken image; a member must not depend on the central account
            # to recycle its own fleet.
            logger.warning(
                "organization verdicts not read after the canary claim",
                extra={"image": image, "error": aws_error_text(error)},
            )
            return
        judged = judge(verdicts, member.rings, member.ring, now, readable=True)
        if judged.verdict not in (Verdict.CONDEMNED, Verdict.PROVEN):
            return  # not judged for this ring since it planned: this run's canary goes on
        try:
            self.release_canary(image, run_id, f"{judged.verdict.value}-by-organization")
        except AWS_ERRORS as error:
            # The verdict holds the group back either way; claims not given back expire (IN_FLIGHT_LOCK),
            # and a judged image needs no canary meanwhile. Failing the group instead would count a
            # verdict as a failure of this run.
            logger.warning(
                "canary claim not released after a verdict",
                extra={"image": image, "error": aws_error_text(error)},
            )
        raise ImageJudged(
            image,
            {"image": key, "verdict": judged.verdict.value, "detail": judged.detail},
            condemned=judged.verdict is Verdict.CONDEMNED,
            evidence=judged.detail,
        )

    def release_canary(self, image: str, run_id: str, outcome: str) -> None:
        self.ledger.release_canary(image, run_id, outcome)
        try:
            self.store.release_canary(self.key(image), run_id, outcome, datetime.now(UTC))
        except AWS_ERRORS as error:
            logger.warning(
                "organization canary claim not released: it expires",
                extra={"image": image, "error": aws_error_text(error)},
            )

    # ---- the ledger's own -----------------------------------------------------------------------

    def last_claims(self, groups: Sequence[str]) -> dict[str, datetime]:
        return self.ledger.last_claims(groups)

    def claims_in_flight(self, groups: Sequence[str], now: datetime) -> dict[str, dict[str, str]]:
        return self.ledger.claims_in_flight(groups, now)

    def proven_images(self, images: Sequence[str]) -> dict[str, str]:
        return self.ledger.proven_images(images)

    def condemned_images(self, images: Sequence[str]) -> dict[str, str]:
        return self.ledger.condemned_images(images)

    def record_failure(self, run_id: str, group: str, now: datetime) -> None:
        self.ledger.record_failure(run_id, group, now)

    def failed_groups(self, run_id: str) -> frozenset[str]:
        return self.ledger.failed_groups(run_id)

    def claim(
        self,
        group: str,
        run_id: str,
        victim: str,
        now: datetime,
        min_interval: timedelta,
        *,
        force: bool = False,
    ) -> None:
        self.ledger.claim(group, run_id, victim, now, min_interval, force=force)

    def finish(self, group: str, run_id: str, now: datetime, outcome: str, record: dict[str, Any]) -> None:
        self.ledger.finish(group, run_id, now, outcome, record)

    def expected_waits(self, groups: Sequence[str]) -> dict[str, float]:
        return self.ledger.expected_waits(groups)


def joined(services: Services, store: VerdictStorePort) -> Services:
    """These services as a member of the organization's verdicts: the ledger also records centrally."""
    ledger = OrgLedger(services.ledger, store) if services.ledger is not None else None
    return replace(services, ledger=ledger, verdicts=store)
