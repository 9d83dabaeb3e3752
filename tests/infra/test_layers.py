"""The package's shape: which way imports point (domain <- policy <- workflow <- durable/handler; aws
adapters beside the workflow, joined only in the composition root), no import cycle anywhere, counting
imports for type hints and package __init__ modules, and modules a reader finishes in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from recycler.domain import Reason

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "recycler"
MAX_LINES = 350
HANDLER_MAX_LINES = 90


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return (path / "__init__.py").exists() or path.with_suffix(".py").exists()


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path) -> set[str]:
    """Every recycler module a file imports: at run time, under TYPE_CHECKING or inside a function.
    `from a.b import c` depends on a.b (its __init__ runs) and on a.b.c when that is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] == "recycler" and is_module(m)}


GRAPH = {name: imports(path) for name, path in modules().items()}


def test_no_import_cycle_counting_type_hints_and_package_inits() -> None:
    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for nxt in GRAPH.get(node, set()):
                if nxt == start:
                    return [*path, nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for c in map(cycle_from, sorted(GRAPH)) if c]
    assert cycles == [], " ; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_cycle_through_a_type_checking_import(tmp_path: Path) -> None:
    """The check above is not blind to the imports it once dropped."""
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from recycler.workflow.port import Services\n"
    )
    assert "recycler.workflow.port" in imports(source)


# Which layer may import which (prefixes); everything else in recycler/ is free to import these.
FORBIDDEN = {
    "recycler.domain": ("recycler.",),
    "recycler.reasons": ("recycler.",),
    "recycler.policy": ("recycler.aws", "recycler.workflow", "recycler.models", "recycler.report"),
    "recycler.workflow": (
        "recycler.aws",
        "recycler.durable",
        "recycler.handler",
        "recycler.local",
        "recycler.cli",
    ),
    "recycler.aws": (
        "recycler.workflow",
        "recycler.durable",
        "recycler.handler",
        "recycler.local",
        "recycler.cli",
    ),
    "recycler.messages": ("recycler.aws", "recycler.workflow", "recycler.policy", "recycler.cli"),
    # The emulator is AWS's stand-in and the port the workflow's local adapter: neither knows the CLI
    # (the demo, a command of its own, prints with the CLI's tables).
    "recycler.local.emulator": ("recycler.cli", "recycler.workflow", "recycler.handler"),
    "recycler.local.port": ("recycler.cli",),
}
# Modules a layer is made of besides itself (the domain re-exports its reasons).
PART_OF: dict[str, tuple[str, ...]] = {"recycler.domain": ("recycler.reasons",)}
# The composition root joins the adapters and the workflow's Services: the one allowed crossing.
COMPOSITION_ROOT = "recycler.aws.compose"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_point_one_way(layer: str) -> None:
    wrong = {
        module: sorted(
            i
            for i in imported
            if i.startswith(FORBIDDEN[layer]) and i not in (module, *PART_OF.get(layer, ()))
        )
        for module, imported in GRAPH.items()
        if (module == layer or module.startswith(layer + ".")) and module != COMPOSITION_ROOT
    }
    wrong = {m: i for m, i in wrong.items() if i and not (m == "recycler.domain" and not i)}
    if layer == "recycler.domain":
        wrong = {m: i for m, i in wrong.items() if m == "recycler.domain"}
    assert wrong == {}


def test_the_workflow_never_imports_the_durable_sdk_or_boto3() -> None:
    offenders = []
    for name, path in modules().items():
        if name.startswith("recycler.workflow"):
            text = path.read_text(encoding="utf-8")
            if "aws_durable_execution_sdk_python" in text or "import boto3" in text:
                offenders.append(name)
    assert offenders == []


def test_modules_are_read_in_one_sitting() -> None:
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
    assert len((PACKAGE / "handler.py").read_text(encoding="utf-8").splitlines()) <= HANDLER_MAX_LINES


def test_no_reason_code_is_spelt_out_outside_the_domain() -> None:
    """Reasons are Reason members: a bare "terminate-failed" elsewhere is one typo from a silent skip."""
    codes = {r.value for r in Reason}
    spelt = []
    for name, path in modules().items():
        if name in ("recycler.domain", "recycler.reasons") or name.startswith(
            ("recycler.local", "recycler.cli")
        ):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in codes:
                spelt.append(f"{name}:{node.lineno} {node.value!r}")
    assert spelt == []
