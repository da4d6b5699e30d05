"""The architecture holds: import-linter contracts pass, and each one fails when it is broken."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("inference", "adapters", "entrypoints")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.slow  # every check runs a process


@pytest.mark.parametrize("package", PACKAGES)
def test_each_top_level_package_resolves_inside_this_repo(package: str) -> None:
    # PyPI has unrelated distributions with these names; they must never shadow ours.
    module = importlib.import_module(package)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().parent.parent == ROOT


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_the_import_contracts_are_kept() -> None:
    result = _lint(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (contract name, module that gains an import, the import line that breaks the contract)
VIOLATIONS = [
    ("Dependencies point inward", "inference/use_cases/api.py", "import entrypoints.settings"),
    ("The core imports only the standard library", "inference/domain.py", "import pydantic"),
    ("Adapters are independent of each other", "adapters/model/timm_classifier.py", "import adapters.memory"),
    (
        "Adapters are independent of each other",
        "adapters/rabbitmq/consumer.py",
        "import adapters.redis.codec",
    ),
    ("Adapters are independent of each other", "adapters/model/base.py", "import adapters.images.decoding"),
    ("The in-memory adapters need no broker", "adapters/memory/queue.py", "import redis"),
    ("Only the container chooses adapters", "entrypoints/http/routes.py", "import adapters.memory"),
    (
        "The HTTP API and the worker do not import each other",
        "entrypoints/worker.py",
        "import entrypoints.http.app",
    ),
]


@pytest.mark.parametrize(
    ("contract", "module", "line"), VIOLATIONS, ids=[f"{v[0]} ({v[2]})" for v in VIOLATIONS]
)
def test_each_contract_fails_when_it_is_violated(
    tmp_path: Path, contract: str, module: str, line: str
) -> None:
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # deliberate violation\n")

    result = _lint(tmp_path)

    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout


def test_an_api_process_imports_no_model_library() -> None:
    # A distributed API reads only the manifest: model libraries would cost it seconds and hundreds
    # of megabytes, and its image ships none of them (nor numpy).
    probe = (
        "import sys, entrypoints.cli, entrypoints.container, entrypoints.http.app, entrypoints.worker\n"
        "from entrypoints.container import create_container\n"
        "from entrypoints.settings import Settings\n"
        "create_container(Settings(mode='distributed')).model_info()\n"
        "heavy = sorted({'torch', 'timm', 'onnxruntime', 'openvino', 'numpy'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
