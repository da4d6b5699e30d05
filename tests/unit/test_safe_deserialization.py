"""A static guard: nothing that crosses a process boundary or comes from disk is unpickled.

Messages are image bytes with AMQP headers, records are JSON, weights are safetensors or
`torch.load(weights_only=True)`. This walks the source so a later change cannot quietly add
pickle (or its relatives) on a data path.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    path
    for package in ("inference", "adapters", "entrypoints", "demo", "bench")
    for path in (ROOT / package).rglob("*.py")
)
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
UNSAFE_CALLS = {"eval", "exec"}


def unsafe_uses(source: str) -> list[str]:
    findings = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            findings += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            findings.append(f"from {node.module} import …")
        elif isinstance(node, ast.Call):
            findings += _unsafe_call(node)
    return findings


def _unsafe_call(call: ast.Call) -> list[str]:
    name = ast.unparse(call.func)
    keywords = {k.arg: k.value for k in call.keywords}
    if name in UNSAFE_CALLS:
        return [f"{name}()"]
    if name.endswith("torch.load") or (name == "load" and "weights_only" in keywords):
        flag = keywords.get("weights_only")
        if not (isinstance(flag, ast.Constant) and flag.value is True):
            return [f"{name}() without weights_only=True"]
    if name in {"yaml.load", "yaml.unsafe_load", "yaml.full_load"}:
        return [f"{name}() (use yaml.safe_load)"]
    return []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_source_file_deserialises_unsafely(path: Path) -> None:
    assert unsafe_uses(path.read_text()) == []


@pytest.mark.parametrize(
    ("snippet", "finding"),
    [
        ("import pickle", "import pickle"),
        ("from pickle import loads", "from pickle import …"),
        ("import torch\ntorch.load(p)", "torch.load() without weights_only=True"),
        ("import torch\ntorch.load(p, weights_only=False)", "torch.load() without weights_only=True"),
        ("import yaml\nyaml.load(s)", "yaml.load() (use yaml.safe_load)"),
        ("eval(text)", "eval()"),
    ],
)
def test_the_guard_catches_each_unsafe_use(snippet: str, finding: str) -> None:
    assert unsafe_uses(snippet) == [finding]


def test_the_guard_lets_safe_loading_through() -> None:
    assert unsafe_uses("import torch, yaml\ntorch.load(p, weights_only=True)\nyaml.safe_load(s)") == []
