"""The Lambda bundle: built locally without Docker, for the function's platform, with exact pins."""

from __future__ import annotations

from pathlib import Path

from infra.bundling import LOCAL_ONLY, PipBundler, runtime_requirements


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
    shipped = {p.name for p in (tmp_path / "recycler").glob("*.py")}
    assert "handler.py" in shipped and not shipped & set(LOCAL_ONLY)
    assert not (tmp_path / "moto").exists() and not (tmp_path / "rich").exists()
