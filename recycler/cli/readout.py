"""What `history` and `fleet` share: the first-contact flags and errors of `plan` (recycler/cli/
first_contact.py), and one way to print rows as a table, JSON or CSV. Both only read."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import boto3

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def contact_flags(parser: argparse.ArgumentParser) -> None:
    formats = parser.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print JSON only on stdout")
    formats.add_argument("--csv", action="store_true", help="print CSV only on stdout")
    parser.add_argument("--region", metavar="REGION", help="AWS region (default: AWS_REGION or your config)")
    parser.add_argument("--profile", metavar="NAME", help="AWS named profile (default: AWS_PROFILE)")
    parser.add_argument("--debug", action="store_true", help="show the traceback when AWS cannot be used")


def positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
        return value

    return parse


def cannot_run(message: str, args: argparse.Namespace, err: TextIO | None = None) -> int:
    err = err or sys.stderr
    debug = args.debug or os.environ.get("RECYCLER_DEBUG") == "1"
    if debug:
        traceback.print_exc(file=err)
    print(f"recycler: cannot run: {message}", file=err)
    if not debug:
        print("recycler: add --debug for the traceback", file=err)
    return EXIT_BAD_INPUT


def read_with(args: argparse.Namespace, read: Callable[[boto3.Session, str], Any]) -> tuple[Any, int]:
    """read(session, account) after the same first contact as `plan`; (result, 0) or (None, exit code)."""
    from recycler.aws.errors import explain
    from recycler.cli.first_contact import CannotRun, connect

    try:
        session, identity = connect(args.region, args.profile)
        return read(session, identity.account), EXIT_OK
    except CannotRun as problem:
        return None, cannot_run(str(problem), args)
    except Exception as error:
        message = explain(error) or not_found(error)
        if message is None:
            raise
        return None, cannot_run(message, args)


def not_found(error: Exception) -> str | None:
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == (
        "ResourceNotFoundException"
    ):
        return (
            f"{error.response['Error'].get('Message', 'not found')}: check RECYCLER_LEDGER_TABLE (the "
            "stack's LedgerTable output) and the region"
        )
    return None


def write_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: TextIO | None = None) -> None:
    writer = csv.DictWriter(
        out or sys.stdout, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)


def write_json(document: Any, out: TextIO | None = None) -> None:
    print(json.dumps(document, indent=2, default=str), file=out or sys.stdout)
