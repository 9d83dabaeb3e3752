"""`python -m recycler demo`: filled in by the demo issue; until then, plan against a seeded emulator."""

from __future__ import annotations

import argparse


def main(args: argparse.Namespace) -> int:
    raise SystemExit("the demo is not built yet")
