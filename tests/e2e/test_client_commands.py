"""`inference classify | submit | result`, each the real command against a real `inference serve`
(the demo model, whose shapes the tests draw: the right answer is known)."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.shapes import draw
from tests.e2e.serving import INFERENCE, ROOT, inference_serve

pytestmark = pytest.mark.slow

LABELS = ("red circle", "green square", "blue triangle", "red square")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with inference_serve("--model", "demo", env={"INFERENCE_MODEL__BACKEND": "torch"}) as url:
        yield url


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    """A folder of drawn shapes (PNG and JPEG), named by what they show, and a text file."""
    rng = random.Random(4242)
    folder = tmp_path / "shapes"
    folder.mkdir()
    for index, label in enumerate(LABELS):
        suffix = ".png" if index % 2 else ".jpg"
        draw(label, rng).save(folder / f"{label.replace(' ', '-')}{suffix}")
    (folder / "notes.txt").write_text("not an image, and not picked from a folder")
    return folder


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INFERENCE, *args], cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_classify_a_folder_as_jsonl_gives_one_line_per_image(served: str, shapes: Path) -> None:
    done = _run("classify", str(shapes), "--format", "jsonl", "--top-k", "3", "--url", served)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(LABELS)  # what `| wc -l` counts
    records = {Path(r["source"]).stem.replace("-", " "): r for r in map(json.loads, lines)}
    assert {name: r["label"] for name, r in records.items()} == {label: label for label in LABELS}
    assert all(len(r["top_k"]) == 3 for r in records.values())
    assert done.stderr == ""  # no progress bar when stderr is not a terminal


def test_classify_fails_when_one_image_is_corrupt_and_still_reports_the_others(
    served: str, shapes: Path
) -> None:
    (shapes / "broken.jpg").write_bytes((shapes / "red-circle.jpg").read_bytes()[:200])

    done = _run("classify", str(shapes), "--format", "jsonl", "--url", served)

    assert done.returncode == 1
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == len(LABELS) + 1
    broken = [r for r in records if r["source"].endswith("broken.jpg")]
    assert len(broken) == 1 and broken[0]["error"]["code"] in {"invalid_image", "unsupported_media_type"}


def test_classify_takes_files_and_globs_and_prints_csv_in_the_order_given(served: str, shapes: Path) -> None:
    first = shapes / "blue-triangle.jpg"
    done = _run("classify", str(first), str(shapes / "*.png"), "--format", "csv", "--url", served)

    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [Path(row["source"]).name for row in rows] == [
        "blue-triangle.jpg",
        "green-square.png",
        "red-square.png",
    ]
    assert [row["label"] for row in rows] == ["blue triangle", "green square", "red square"]


def test_submit_prints_one_id_per_file_and_result_waits_for_each(served: str, shapes: Path) -> None:
    files = [shapes / "red-circle.jpg", shapes / "green-square.png"]
    submitted = _run("submit", *map(str, files), "--url", served)

    assert submitted.returncode == 0, submitted.stderr
    ids = submitted.stdout.split()
    assert len(ids) == 2 and len(set(ids)) == 2
    results = [_run("result", request_id, "--wait", "20", "--url", served) for request_id in ids]
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    bodies = [json.loads(r.stdout) for r in results]
    assert [(b["status"], b["label"]) for b in bodies] == [
        ("succeeded", "red circle"),
        ("succeeded", "green square"),
    ]


def test_result_of_an_unknown_request_fails_with_the_servers_reason(served: str) -> None:
    done = _run("result", "00000000-0000-4000-8000-000000000000", "--url", served)

    assert done.returncode == 1
    assert "unknown_request" in done.stderr


def test_submit_of_a_text_file_fails_and_says_why(served: str, shapes: Path) -> None:
    done = _run("submit", str(shapes / "notes.txt"), "--url", served)

    assert done.returncode == 1 and done.stdout == ""
    assert "unsupported_media_type" in done.stderr
