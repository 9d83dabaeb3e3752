"""`python -m tests.mutation_score`: the score of the last `make mutate`, per module, from mutmut's mutants/.

mutmut keeps one `mutants/<module>.py.meta` (JSON) per mutated module, with each mutant's exit code
(`exit_code_by_key`); its own summary is one line for the whole run. This prints, per module: mutants
killed, survived, timed out, with no test reaching them, and not yet checked (a run stopped early), and
the score: killed (timeouts included, as mutmut counts them) over the mutants that were checked and
reached by a test. Then the names of the survivors, for `mutmut show NAME`.

`python -m tests.mutation_score PATTERN...` counts only the mutants whose names match a pattern (as
`make mutate MUTANTS=...` selects them, e.g. the sample '*__mutmut_*5'). `--unjudged PATTERN...` prints
the names of the matching mutants not checked yet, one per line: mutmut judges again every mutant it is
given by name, so resuming a stopped selection means naming only these.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from fnmatch import fnmatchcase
from pathlib import Path

from mutmut.stats import status_by_exit_code

MUTANTS = Path("mutants")
COLUMNS = ("killed", "timeout", "survived", "no tests", "not checked", "other")


def status(exit_code: int | None) -> str:
    found = status_by_exit_code[exit_code]
    if found in ("killed", "caught by type check"):
        return "killed"
    return found if found in COLUMNS else "other"


def selected(name: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatchcase(name, pattern) for pattern in patterns)


def scores(
    root: Path = MUTANTS, patterns: list[str] | None = None
) -> dict[str, tuple[Counter[str], dict[str, list[str]]]]:
    """module -> (count per status, names per status), of the mutants matching patterns."""
    found: dict[str, tuple[Counter[str], dict[str, list[str]]]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        every: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        names: dict[str, list[str]] = {}
        for name, code in sorted(every.items()):
            if selected(name, patterns or []):
                names.setdefault(status(code), []).append(name)
        module = str(meta.relative_to(root)).removesuffix(".meta")
        found[module] = (Counter({kind: len(listed) for kind, listed in names.items()}), names)
    return found


def score(counts: Counter[str]) -> str:
    judged = counts["killed"] + counts["timeout"] + counts["survived"]
    return f"{100 * (counts['killed'] + counts['timeout']) / judged:5.1f} %" if judged else "    -"


def main(argv: list[str]) -> int:
    unjudged = argv[:1] == ["--unjudged"]
    patterns = argv[1:] if unjudged else argv
    table = scores(patterns=patterns)
    if not table:
        print("no mutants/ here: run `make mutate` first", file=sys.stderr)
        return 1
    if unjudged:
        for _, names in table.values():
            for name in names.get("not checked", []):
                print(name)
        return 0
    total: Counter[str] = Counter()
    print(f"{'module':<40} {'score':>7} " + " ".join(f"{c:>11}" for c in COLUMNS))
    for module, (counts, _) in table.items():
        total += counts
        print(f"{module:<40} {score(counts):>7} " + " ".join(f"{counts[c]:>11}" for c in COLUMNS))
    print(f"{'all':<40} {score(total):>7} " + " ".join(f"{total[c]:>11}" for c in COLUMNS))
    for module, (_, names) in table.items():
        survivors = names.get("survived", [])
        if survivors:
            print(f"\n{module}: {len(survivors)} survived\n  " + "\n  ".join(survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
