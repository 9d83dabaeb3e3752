"""The README, CONTRIBUTING.md and docs/*.md hold together: every relative link reaches a file and, with a
#anchor, a heading in it (GitHub's slugs); every "see docs/<file>.md, <section>" the code prints names a
real section (a heading that starts with it); and the README stays a newcomer's page (at most 350 lines)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 350
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
POINTER = re.compile(
    r"see (docs/[\w.-]+\.md|README\.md|CONTRIBUTING\.md),? \"?([A-Z][\w ,()`'-]*?)\"?(?=[).'`\n]|$)"
)


def documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `# comment` in a bash block is not a heading)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation but - and _ dropped, spaces to -."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text()):
        match = re.match(r"^#{1,6} (.+?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for line in prose(path.read_text()):
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{path.name}: {target} (no heading #{anchor} in {linked.name})")
    return broken


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_heading(path: Path) -> None:
    assert broken_links(path) == []


def test_the_checker_catches_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text(
        "# Other\n\n## A section (`with code`)\n\n```bash\n# not a heading\n```\n"
    )
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#a-section-with-code) [self](#page) [web](https://example.com)\n"
        "[gone](missing.md) [no heading](other.md#not-a-heading) `[in code](nowhere.md)`\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md (no such file)",
        "page.md: other.md#not-a-heading (no heading #not-a-heading in other.md)",
    ]


def test_the_readme_stays_short() -> None:
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_pointers_in_messages_name_real_sections() -> None:
    pointers = [
        (source, file, section)
        for folder in ("recycler", "infra")
        for source in sorted((ROOT / folder).rglob("*.py"))
        for file, section in POINTER.findall(source.read_text())
    ]
    assert pointers, "expected messages that point into the docs"
    missing = [
        f"{source.relative_to(ROOT)}: see {file}, {section}"
        for source, file, section in pointers
        if not any(anchor.startswith(slug(section)) for anchor in anchors(ROOT / file))
    ]
    assert missing == []
    stale = [
        path
        for folder in ("recycler", "infra")
        for path in (ROOT / folder).rglob("*.py")
        if "see README," in path.read_text()
    ]
    assert stale == [], "the README keeps no reference sections; point at docs/<file>.md, <section>"
