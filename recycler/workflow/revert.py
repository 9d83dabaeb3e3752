"""recycler:revert_on_canary_failure: once a canary condemns an image, put back every launch path that
would launch it and that recycler can restore safely (recycler/policy/revert.py says which and to what).

For one condemned image: one checkpointed read of the launch paths of every group that would launch it
(the canary and the groups held back), deduplicated (many groups share one parameter or template); then
one AT-MOST-ONCE step per restorable path, so a replay returns the checkpointed outcome and never writes
again, and an attempt interrupted mid-step fails as interrupted (reported: the write may have reached AWS)
instead of running twice.

Each step reads the path's history and the ledger's proven images, then reads the path's current value
once more right before writing and writes only if it still holds the broken id. Neither PutParameter nor
ModifyLaunchTemplate has a conditional write, so the race that remains is that gap of milliseconds: a
publish landing between the last read and the write is overwritten. It shows: the parameter's history
(or CloudTrail's ModifyLaunchTemplate) has both writes, and a publish event for the new value starts
its own canary run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from recycler import messages
from recycler.domain import AWS_ERRORS
from recycler.fix_commands import manual_revert
from recycler.messages import aws_error_text
from recycler.models import Settings
from recycler.policy.revert import LaunchPath, RevertOutcome, candidates, previous_proven
from recycler.report import RevertReport
from recycler.workflow.port import Port, Services

logger = logging.getLogger(__name__)

# What AWS answers a call the role may not make (EC2 says UnauthorizedOperation).
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
# A response of a shape recycler does not expect (API members are optional): reported, never raised.
UNEXPECTED_SHAPE = (KeyError, ValueError, TypeError)
REVERT_TAG = "revert"  # a $Default template opts in with <tag prefix>revert=true (the IAM condition too)


@dataclass(frozen=True)
class PathEntry:
    key: str
    groups: list[str]
    path: LaunchPath | None = None
    why: str = ""  # no readable launch path: why


@dataclass(frozen=True)
class PathsRead:
    entries: list[PathEntry] = field(default_factory=list)
    error: str = ""


def revert_launch_paths(
    port: Port,
    services: Services,
    settings: Settings,
    image: str,
    groups: Sequence[str],
    proven: Collection[str],
) -> list[RevertReport]:
    paths = services.launch_paths
    if not settings.revert_on_canary_failure or paths is None or not groups:
        return []

    def read() -> PathsRead:
        try:
            found = paths.of_groups(groups)
        except AWS_ERRORS as error:
            return PathsRead(error=aws_error_text(error))
        except UNEXPECTED_SHAPE as error:
            return PathsRead(error=messages.revert_unreadable(error))
        entries: dict[str, PathEntry] = {}
        for group in sorted(found):
            path = found[group]
            key = path.key if isinstance(path, LaunchPath) else f"group {group}"
            entry = entries.setdefault(
                key,
                PathEntry(
                    key,
                    [],
                    path if isinstance(path, LaunchPath) else None,
                    "" if isinstance(path, LaunchPath) else path,
                ),
            )
            entry.groups.append(group)
        return PathsRead(list(entries.values()))

    read_paths = port.step(f"revert-paths:{image}", read, PathsRead)
    if read_paths.error:
        return [
            RevertReport(
                image=image,
                path="-",
                groups=sorted(groups),
                outcome=RevertOutcome.FAILED,
                detail=read_paths.error,
            )
        ]
    reports = []
    for index, entry in enumerate(read_paths.entries):
        report = RevertReport(
            image=image, path=entry.key, groups=entry.groups, outcome=RevertOutcome.MANUAL_ONLY
        )
        if entry.path is None or not entry.path.restorable:
            at = entry.path
            report.detail = manual_revert(
                image,
                entry.why,
                at.template_id if at else None,
                at.version if at else None,
                at.image_ref if at else None,
            )
            reports.append(report)
            continue
        restore = restorer(services, settings, entry.path, image, proven, report)
        try:
            done = port.step(f"revert:{image}:{index}", restore, RevertReport, at_most_once=True)
        except Exception as error:
            if port.is_fatal(error):
                raise
            done = report.model_copy(
                update={
                    "outcome": RevertOutcome.FAILED,
                    "detail": f"interrupted ({error}): the write may have reached AWS; check the path",
                }
            )
        logger.warning("launch path revert", extra=done.model_dump(mode="json"))
        reports.append(done)
    return reports


def restorer(
    services: Services,
    settings: Settings,
    path: LaunchPath,
    image: str,
    proven: Collection[str],
    report: RevertReport,
) -> Callable[[], RevertReport]:
    """The step's function: restore one path, every AWS error a reported outcome, never an exception."""

    def restore() -> RevertReport:
        try:
            if path.parameter is not None:
                return restore_parameter(services, path.parameter, image, proven, report)
            return restore_default_version(services, settings, path, image, proven, report)
        except ClientError as error:
            denied = error.response.get("Error", {}).get("Code") in DENIED
            outcome = RevertOutcome.ACCESS_DENIED if denied else RevertOutcome.FAILED
            return report.model_copy(update={"outcome": outcome, "detail": aws_error_text(error)})
        except AWS_ERRORS as error:
            return report.model_copy(
                update={"outcome": RevertOutcome.FAILED, "detail": aws_error_text(error)}
            )
        except UNEXPECTED_SHAPE as error:  # the reads come before the one write, the restore's last call
            return report.model_copy(
                update={"outcome": RevertOutcome.FAILED, "detail": messages.revert_unreadable(error)}
            )

    return restore


def good_images(services: Services, images: Sequence[str], proven: Collection[str]) -> set[str]:
    """Of these images, the ones a recycle proved (the ledger, or this run) and that still exist."""
    known = {i for i in images if i in proven}
    if services.ledger is not None and images:
        known |= set(services.ledger.proven_images(images))
    if not known:
        return set()
    return set(services.fleet.image_ages(sorted(known), services.clock()))


def restore_parameter(
    services: Services, name: str, image: str, proven: Collection[str], report: RevertReport
) -> RevertReport:
    paths = services.launch_paths
    assert paths is not None
    history = paths.parameter_history(name)
    current = max((version for version, _ in history), default=0)
    good = good_images(services, candidates(history, current, image), proven)
    choice = previous_proven(history, current, image, good)
    version, value, data_type = paths.parameter_now(name)  # the last read before the write
    if value != image:
        return report.model_copy(
            update={
                "outcome": RevertOutcome.NO_LONGER_BROKEN,
                "detail": f"{name} holds {value} now (version {version}), not {image}: left alone",
            }
        )
    if choice is None:
        return report.model_copy(
            update={
                "outcome": RevertOutcome.NO_PROVEN_PREVIOUS,
                "detail": f"no earlier value of {name} is an image a recycle proved (and still exists)",
            }
        )
    written = paths.put_parameter(name, choice[1], data_type)
    return report.model_copy(
        update={
            "outcome": RevertOutcome.RESTORED,
            "restored_from": image,
            "restored_to": choice[1],
            "detail": f"{name} version {version} -> {written}, the value of version {choice[0]} ({data_type})",
        }
    )


def restore_default_version(
    services: Services,
    settings: Settings,
    path: LaunchPath,
    image: str,
    proven: Collection[str],
    report: RevertReport,
) -> RevertReport:
    paths = services.launch_paths
    assert paths is not None
    template = path.template_id
    tag = f"{settings.tag_prefix}{REVERT_TAG}"
    if paths.template_tags(template).get(tag) != "true":
        return report.model_copy(
            update={
                "outcome": RevertOutcome.NOT_OPTED_IN,
                "detail": f"tag launch template {template} {tag}=true to let recycler set its default "
                "version; " + manual_revert(image, "", template, path.version),
            }
        )
    default, _ = paths.default_version(template)
    described = paths.template_versions(template)
    rest_of = {n: rest for n, _, rest in described}
    versions: list[tuple[int, str]] = [(n, i) for n, i, _ in described if i]
    good = good_images(services, candidates(versions, default, image), proven)
    # Only a version that differs from the default in its image alone: any other would also undo the
    # user data, security groups or instance type changed since (ModifyLaunchTemplate sets a whole version).
    same_rest = [(n, i) for n, i in versions if rest_of.get(n) == rest_of.get(default)]
    choice = previous_proven(same_rest, default, image, good)
    differs = previous_proven(versions, default, image, good) if choice is None else None
    now, image_now = paths.default_version(template)  # the last read before the write
    if image_now != image or now != default:
        return report.model_copy(
            update={
                "outcome": RevertOutcome.NO_LONGER_BROKEN,
                "detail": f"{template}'s default is version {now} ({image_now}) now, not {image}: left alone",
            }
        )
    if choice is None and differs is not None:
        return report.model_copy(
            update={
                "outcome": RevertOutcome.MANUAL_ONLY,
                "detail": messages.version_differs(template, differs[0], default)
                + "; "
                + manual_revert(image, "", template, path.version),
            }
        )
    if choice is None:
        return report.model_copy(
            update={
                "outcome": RevertOutcome.NO_PROVEN_PREVIOUS,
                "detail": f"no version of {template} below {default} launches an image a recycle proved",
            }
        )
    paths.set_default_version(template, choice[0])
    return report.model_copy(
        update={
            "outcome": RevertOutcome.RESTORED,
            "restored_from": f"version {default} ({image})",
            "restored_to": f"version {choice[0]} ({choice[1]})",
            "detail": f"{template} default version {default} -> {choice[0]}",
        }
    )
