"""The Lambda bundle: built locally without Docker, for the function's platform, with exact pins."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.bundling import ROOT, PipBundler, import_closure, runtime_requirements


def test_bundle_holds_the_pinned_runtime_for_arm64_python313(tmp_path: Path) -> None:
    PipBundler().try_bundle(str(tmp_path), image=None)  # type: ignore[arg-type]
    installed = dict(
        p.name.removesuffix(".dist-info").lower().replace("_", "-").rsplit("-", 1)
        for p in tmp_path.glob("*.dist-info")
    )
    for requirement in runtime_requirements():
        name, version = requirement.split("==")
        assert installed[name.split("[")[0]] == version, requirement
    [core] = list((tmp_path / "pydantic_core").glob("_pydantic_core.*.so"))
    assert "cpython-313-aarch64-linux-gnu" in core.name
    shipped = {str(p.relative_to(tmp_path)) for p in (tmp_path / "recycler").rglob("*.py")}
    assert "recycler/handler.py" in shipped and "recycler/workflow/group/recycle.py" in shipped
    assert not any(
        p.startswith(("recycler/local", "recycler/cli")) or p.endswith("__main__.py") for p in shipped
    )
    assert not (tmp_path / "moto").exists() and not (tmp_path / "rich").exists()


def test_nothing_shipped_imports_the_local_tools_or_the_cli() -> None:
    shipped = import_closure()
    assert "recycler.handler" in shipped and "recycler.workflow.health" in shipped
    assert not [m for m in shipped if m.startswith(("recycler.local", "recycler.cli"))]


def test_every_module_of_the_lambda_package_is_shipped() -> None:
    """The Lambda package holds only what the Lambda imports: a module outside recycler/local and
    recycler/cli that the handler does not need belongs in one of them (or is dead)."""
    package = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "recycler").rglob("*.py")
        if not {"local", "cli"} & set(p.relative_to(ROOT).parts) and p.name != "__main__.py"
    }
    assert package == import_closure()


def test_the_lambda_package_imports_with_the_local_tools_absent(tmp_path: Path) -> None:
    """The handler's closure alone imports cleanly: run it from a copy that has no recycler/local nor
    recycler/cli."""
    for module in import_closure():
        source = ROOT.joinpath(*module.split("."))
        source = source / "__init__.py" if source.is_dir() else source.with_suffix(".py")
        target = tmp_path / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    probe = "import sys, recycler.handler; sys.exit(any(m.startswith(('recycler.local', 'recycler.cli')) for m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _project_copy(tmp_path: Path) -> Path:
    """What the asset hash reads, copied: the package, the pins, and a test beside them."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "recycler", root / "recycler", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "tests").mkdir()
    (root / "tests" / "test_example.py").write_text("def test_x() -> None:\n    pass\n")
    return root


def test_the_asset_hash_covers_the_pins_and_the_shipped_code_only(tmp_path: Path) -> None:
    """CDK's default hash covers the asset folder and the bundling options, not pyproject.toml where the
    pins live: a boto3 bump alone would never reach Lambda. The custom hash does, and ignores what is
    not shipped."""
    from infra.bundling import asset_hash

    root = _project_copy(tmp_path)
    before = asset_hash(root)
    assert asset_hash(root) == before  # stable

    (root / "tests" / "test_example.py").write_text("def test_y() -> None:\n    pass\n")
    (root / "recycler" / "cli" / "render.py").write_text(
        "# the CLI's table, never shipped\n", encoding="utf-8"
    )
    (root / "recycler" / "__pycache__").mkdir(exist_ok=True)
    (root / "recycler" / "__pycache__" / "handler.cpython-313.pyc").write_bytes(b"\0")
    assert asset_hash(root) == before

    pyproject = root / "pyproject.toml"
    [pin] = [r for r in runtime_requirements(root) if r.startswith("boto3==")]
    pyproject.write_text(pyproject.read_text().replace(pin, pin + ".1"))
    bumped = asset_hash(root)
    assert bumped != before

    handler = root / "recycler" / "handler.py"
    handler.write_text(handler.read_text() + "\n# a change that ships\n")
    assert asset_hash(root) not in (before, bumped)


def test_the_function_code_is_addressed_by_that_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function's S3 key (and so its code and version) follows asset_hash(): CDK folds the custom
    hash and the bundling options into it, so a different hash is a different key."""
    import infra.function
    from infra.stack import build_app

    def code_key(digest: str) -> str:
        monkeypatch.setattr(infra.function, "asset_hash", lambda: digest)
        context = json.loads((ROOT / "cdk.json").read_text())["context"]
        context["aws:cdk:bundling-stacks"] = []
        template = build_app(context).synth().get_stack_by_name("Recycler").template
        [function] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
        return str(function["Properties"]["Code"]["S3Key"])

    assert code_key("pins-1") != code_key("pins-2")
