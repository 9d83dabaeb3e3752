"""Where a command reads or acts: every pair of `--profile` and `--region`, each resolved to an account and
a region (STS GetCallerIdentity, once per pair) before anything is read. Two profiles that reach the
same account and region (several SSO roles per account are common) cover it once: recycled twice in
one command, the second "victim" would be the replacement launched seconds earlier.
https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TextIO

import boto3

from recycler.cli.first_contact import CannotRun, Identity, connect


@dataclass(frozen=True)
class Place:
    profile: str | None
    session: boto3.Session
    identity: Identity

    @property
    def name(self) -> str:
        return f"{self.profile or 'default'}/{self.identity.region}"


def place_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region",
        action="append",
        dest="regions",
        metavar="REGION",
        help="AWS region (default, as the AWS CLI: AWS_REGION, then AWS_DEFAULT_REGION, then the profile's "
        "region in ~/.aws/config); repeat to cover several regions in one report",
    )
    parser.add_argument(
        "--profile",
        action="append",
        dest="profiles",
        metavar="NAME",
        help="AWS named profile (default: AWS_PROFILE); repeat to cover several accounts in one report; "
        "profiles that reach the same account and region cover it once",
    )


def resolve_places(profiles: list[str] | None, regions: list[str] | None, err: TextIO) -> list[Place]:
    """Each distinct (account, region) once, in the order given; CannotRun names the profile/region
    that cannot be used, before any of them is read."""
    places: list[Place] = []
    seen: dict[tuple[str, str], Place] = {}
    nothing: list[str | None] = [None]  # the default profile, the region the AWS CLI would pick
    pairs = [(p, r) for p in profiles or nothing for r in regions or nothing]
    for profile, region in pairs:
        try:
            session, identity = connect(region, profile)
        except CannotRun as problem:
            if len(pairs) == 1:
                raise
            where = f"{profile or 'default'}/{region or 'default'}"
            raise CannotRun(f"{where}: {problem}") from problem
        key = (identity.account, identity.region)
        if key in seen:
            first = seen[key]
            print(
                f"recycler: profile {profile or 'default'} reaches account {identity.account} "
                f"{identity.region}, as profile {first.profile or 'default'} does: covered once",
                file=err,
            )
            continue
        seen[key] = place = Place(profile, session, identity)
        places.append(place)
    return places
