"""The Lambda bundle: built locally without Docker, for the function's platform, with exact pins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    assert not any(p.startswith("recycler/local") or p.endswith("__main__.py") for p in shipped)
    assert not (tmp_path / "moto").exists() and not (tmp_path / "rich").exists()


def test_nothing_shipped_imports_the_local_tools() -> None:
    shipped = import_closure()
    assert "recycler.handler" in shipped and "recycler.workflow.health" in shipped
    assert not [m for m in shipped if m.startswith("recycler.local")]


def test_every_module_of_the_lambda_package_is_shipped() -> None:
    """The Lambda package holds only what the Lambda imports: a module outside recycler/local that the
    handler does not need belongs in recycler/local (or is dead)."""
    package = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "recycler").rglob("*.py")
        if "local" not in p.relative_to(ROOT).parts and p.name != "__main__.py"
    }
    assert package == import_closure()


def test_the_lambda_package_imports_with_the_local_tools_absent(tmp_path: Path) -> None:
    """The handler's closure alone imports cleanly: run it from a copy that has no recycler/local."""
    for module in import_closure():
        source = ROOT.joinpath(*module.split("."))
        source = source / "__init__.py" if source.is_dir() else source.with_suffix(".py")
        target = tmp_path / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    probe = "import sys, recycler.handler; sys.exit(any(m.startswith('recycler.local') for m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
