"""Build the Lambda bundle without Docker: pip installs the pinned runtime dependencies for the
function's platform (arm64, CPython 3.13, wheels only) next to the recycler modules the handler imports.

What ships is the handler's import closure within the recycler package, found by reading the source:
the local tools (recycler/local) and the operator CLI (recycler/cli) are left out because nothing the
handler imports imports them, not because a list names them.

The asset is addressed by asset_hash(): exactly what the bundle is built from (the shipped files, the
pins, pip's options). CDK's own hash covers the asset folder and the bundling options only, and the
pins live outside both, in pyproject.toml.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.13"
HANDLER_MODULE = "recycler.handler"
PACKAGE = "recycler"
# Everything pip is told besides the target directory and the pins: part of the asset hash.
PIP_OPTIONS = (
    "--quiet",
    "--disable-pip-version-check",
    "--platform",
    PLATFORM,
    "--implementation",
    "cp",
    "--python-version",
    PYTHON_VERSION,
    "--only-binary=:all:",
    "--no-compile",
)


def module_file(module: str, root: Path = ROOT) -> Path:
    path = root.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imported_modules(source: Path, root: Path = ROOT) -> set[str]:
    """recycler modules a file imports at run time, wherever the import statement is."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from recycler import policy` imports the submodule recycler.policy.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] == PACKAGE and module_file(m, root).exists()}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (imports for type hints never run)."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def import_closure(root_module: str = HANDLER_MODULE, root: Path = ROOT) -> set[str]:
    """Every recycler module the handler needs, with the packages that contain them."""
    closure: set[str] = set()
    pending = [root_module]
    while pending:
        module = pending.pop()
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            package_or_module = ".".join(parts[:depth])
            if package_or_module not in closure:
                closure.add(package_or_module)
                pending.append(package_or_module)
        pending.extend(imported_modules(module_file(module, root), root) - closure)
    return closure


def shipped_files(root: Path = ROOT) -> list[Path]:
    return sorted(module_file(m, root) for m in import_closure(root=root))


def runtime_requirements(root: Path = ROOT) -> list[str]:
    with open(root / "pyproject.toml", "rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


def asset_hash(root: Path = ROOT) -> str:
    """A digest of what the bundle is built from: each shipped file (path and bytes), the runtime pins
    from pyproject.toml and pip's options. A boto3 bump alone changes it (and so the function's code and
    version); a test, the local tools, the CLI or a .pyc beside the sources do not.

    CDK's default (AssetHashType.SOURCE) fingerprints the asset folder and the bundling options, so the
    pins, read from outside both at bundle time, never changed it:
    https://docs.aws.amazon.com/cdk/api/v2/python/aws_cdk/AssetOptions.html ("If you chose to customize
    the hash, you will need to make sure it is updated every time the asset changes")."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    for source in shipped_files(root):
        add(source.relative_to(root).as_posix(), source.read_bytes())
    add("requirements", "\n".join(runtime_requirements(root)).encode())
    add("pip", "\n".join(PIP_OPTIONS).encode())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class PipBundler:
    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--target",
                output_dir,
                *PIP_OPTIONS,
                *runtime_requirements(),
            ],
            check=True,
        )
        for source in shipped_files():
            target = Path(output_dir) / source.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        return True


def bundling_options() -> BundlingOptions:
    # The image is required by the API but never pulled: local bundling always succeeds or raises.
    return BundlingOptions(
        image=DockerImage.from_registry("public.ecr.aws/lambda/python:3.13"), local=PipBundler()
    )
