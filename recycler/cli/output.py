"""One output contract for every command, as the AWS CLI has it: `--output table|json|csv|text`
(`--json` and `--csv` are aliases; contradictory ones are refused), `--query` with a JMESPath
expression applied to the JSON document, and a reader that goes away (`| head -1`) ends the command
quietly.

With --query the selection is printed as JSON (--output json), or as the AWS CLI's text: one line per
row, values separated by tabs (--output text, and table, which has no columns to lay a selection out
in); with --output csv a list of objects is CSV rows, anything else text.
https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-filter.html
https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-output-format.html
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import jmespath
from jmespath.exceptions import JMESPathError

from recycler.models import InputError

OUTPUTS = ("table", "json", "csv", "text")
# What a shell reports for a process its reader's closed pipe stopped (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141


def output_flags(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--output",
        choices=OUTPUTS,
        default=None,
        help=f"stdout: a table (default), {what} as JSON, CSV rows, or tab-separated text",
    )
    parser.add_argument("--json", action="store_true", help="the same as --output json")
    parser.add_argument("--csv", action="store_true", help="the same as --output csv")
    parser.add_argument(
        "--query",
        metavar="JMESPATH",
        help="print only what this JMESPath expression selects from the JSON document, as the AWS CLI",
    )


def output_of(args: argparse.Namespace) -> str:
    """The one output the flags ask for; InputError when they ask for two."""
    asked = {
        flag: value
        for flag, value in (
            ("--json", "json" if getattr(args, "json", False) else None),
            ("--csv", "csv" if getattr(args, "csv", False) else None),
            (f"--output {getattr(args, 'output', None)}", getattr(args, "output", None)),
        )
        if value
    }
    if len(set(asked.values())) > 1:
        raise InputError(f"{' and '.join(asked)} contradict each other: pick one output")
    return next(iter(asked.values()), "table")


def check_query(args: argparse.Namespace) -> None:
    """A JMESPath expression that does not parse is refused before anything is read."""
    query = getattr(args, "query", None)
    if query is None:
        return
    try:
        jmespath.compile(query)
    except JMESPathError as error:
        raise InputError(f"--query {query!r} is not a JMESPath expression: {error}") from None


def print_selection(document: Any, query: str, output: str, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    selected = jmespath.search(query, document)
    if output == "json":
        print(json.dumps(selected, indent=2, default=str), file=out)
    elif output == "csv" and isinstance(selected, list) and selected and isinstance(selected[0], dict):
        write_rows(selected, list(selected[0]), out)
    else:
        for line in text_lines(selected):
            print(line, file=out)


def text_lines(value: Any) -> list[str]:
    """The AWS CLI's text output: a list of rows one per line, a row's values separated by tabs."""
    if value is None:
        return []
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return ["\t".join(_cell(v) for v in value)] if value else []
        return [line for v in value for line in text_lines(v)]
    if isinstance(value, dict):
        return ["\t".join(_cell(v) for v in value.values())]
    return [_cell(value)]


def _cell(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def write_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: TextIO | None = None) -> None:
    writer = csv.DictWriter(
        out or sys.stdout, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)


def write_text(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: TextIO | None = None) -> None:
    """--output text: each row's columns separated by tabs, no header (the AWS CLI's text)."""
    for row in rows:
        print("\t".join(_cell(row.get(column)) for column in columns), file=out or sys.stdout)


def quietly_on_broken_pipe(command: Callable[[], int]) -> int:
    """A reader that stops reading (`| head -1`) ends the command without a traceback: stdout is pointed
    at /dev/null so Python's exit flush does not fail again, and the exit code is the shell's 141."""
    try:
        code = command()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
