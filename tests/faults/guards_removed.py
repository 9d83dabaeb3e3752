"""Kept for the command `python -m tests.faults.guards_removed [f06 f15 ...]`: the mutation audit now lives
in tests/faults/mutations.py (the 20 guard removals plus issue 29's mutations and a negative control),
and runs each mutation in a throwaway copy of the repo instead of editing this checkout."""

from __future__ import annotations

import sys

from tests.faults.mutations import MUTATIONS, REMOVALS, main

__all__ = ["MUTATIONS", "REMOVALS", "main"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
