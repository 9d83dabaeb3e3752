"""Build the Lambda bundle without Docker: pip installs the pinned runtime dependencies for the
function's platform (arm64, CPython 3.13, wheels only) next to the recycler package."""

from __future__ import annotations

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
# Modules only the CLI/demo/tests use; they are not shipped to Lambda.
LOCAL_ONLY = ("cli.py", "render.py", "demo.py", "emulator.py", "local.py", "__main__.py")


def runtime_requirements() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


@jsii.implements(ILocalBundling)
class PipBundler:
    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                output_dir,
                "--platform",
                PLATFORM,
                "--implementation",
                "cp",
                "--python-version",
                PYTHON_VERSION,
                "--only-binary=:all:",
                "--no-compile",
                *runtime_requirements(),
            ],
            check=True,
        )
        shutil.copytree(
            ROOT / "recycler",
            Path(output_dir) / "recycler",
            ignore=shutil.ignore_patterns("__pycache__", *LOCAL_ONLY),
            dirs_exist_ok=True,
        )
        return True


def bundling_options() -> BundlingOptions:
    # The image is required by the API but never pulled: local bundling always succeeds or raises.
    return BundlingOptions(
        image=DockerImage.from_registry("public.ecr.aws/lambda/python:3.13"), local=PipBundler()
    )
