"""What `history` and `fleet` share with `plan`: the first-contact flags and errors (recycler/cli/
first_contact.py), every --profile and --region pair resolved once (places.py), `--stack`, and the output
contract (output.py). Both only read."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from recycler.cli.output import check_query, output_flags, output_of, print_selection, write_rows, write_text
from recycler.cli.places import place_flags

if TYPE_CHECKING:
    from recycler.cli.places import Place
    from recycler.models import Settings
EXIT_OK, EXIT_BAD_INPUT = 0, 2


def contact_flags(parser: argparse.ArgumentParser, what: str, stack: str | None = None) -> None:
    output_flags(parser, what)
    place_flags(parser)
    if stack:
        parser.add_argument("--stack", metavar="NAME", help=stack)
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


def read_each(
    args: argparse.Namespace, read: Callable[[Place, Settings], Any]
) -> tuple[list[tuple[Place, Any]], int]:
    """read(place, settings) in every account and region the flags name, each once, after the same
    first contact as `plan` (and --stack's outputs): ([(place, result)...], 0) or ([], exit code)."""
    from recycler.aws.errors import explain
    from recycler.cli.first_contact import CannotRun, apply_stack, check_names, stack_outputs
    from recycler.cli.places import resolve_places
    from recycler.models import InputError, load_settings

    try:
        output_of(args)
        check_query(args)
        stack = getattr(args, "stack", None)
        if stack and (len(args.regions or []) > 1 or len(args.profiles or []) > 1):
            raise CannotRun(
                "--stack names one stack in one account and region: use one --region and --profile"
            )
        places = resolve_places(args.profiles, args.regions, sys.stderr)
        if stack:
            applied = apply_stack(stack_outputs(places[0].session, stack), os.environ)
            print(f"recycler: from stack {stack}: {', '.join(applied)}", file=sys.stderr)
            check_names()
        settings = load_settings()
        return [(place, read(place, settings)) for place in places], EXIT_OK
    except (CannotRun, InputError) as problem:
        return [], cannot_run(str(problem), args)
    except Exception as error:
        message = explain(error) or not_found(error)
        if message is None:
            raise
        return [], cannot_run(message, args)


def placed(place: Place, name: str, several: bool, accounts: int) -> str:
    """A group's name in a report over several places: region/group, or account/region/group."""
    if not several:
        return name
    where = f"{place.identity.account}/{place.identity.region}" if accounts > 1 else place.identity.region
    return f"{where}/{name}"


def emit_rows(
    args: argparse.Namespace,
    document: Any,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    table: Callable[[], None],
) -> None:
    """The document (JSON), its rows (CSV, text) or the table, or what --query selects of the document."""
    output = output_of(args)
    if args.query:
        print_selection(document, args.query, output)
    elif output == "json":
        write_json(document)
    elif output == "csv":
        write_csv(rows, columns)
    elif output == "text":
        write_text(rows, columns)
    else:
        table()


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
    write_rows(rows, columns, out)


def write_json(document: Any, out: TextIO | None = None) -> None:
    print(json.dumps(document, indent=2, default=str), file=out or sys.stdout)
