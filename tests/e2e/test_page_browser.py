"""The page at `/` in a real browser: Debian's chromium driven by Playwright, against real
`inference serve` processes (the ImageNet model, so that a real photo shows real bars).

Playwright cannot download its own browsers here; it drives /usr/bin/chromium (`apt-get install
chromium`, which .ci/run does). Without it these tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, expect, sync_playwright

from demo.shapes import draw
from tests.e2e.serving import inference_serve, photo

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CATS = ("tabby, tabby cat", "tiger cat", "Persian cat", "Siamese cat, Siamese", "Egyptian cat")
API_KEY = "the-page-test-key-0123456789"
UPLOAD_LIMIT = 200_000  # the keyed service's: chelsea.png (about 240 kB) is over it

if not shutil.which(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip(f"needs {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


LAUNCH: dict[str, Any] = {
    "executable_path": CHROMIUM,
    "args": [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ],
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop running in this thread while it is started: a
    # session-long one (pytest-playwright's fixtures) made every later asyncio.run() in the run
    # fail, so the browser lives as long as this module.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**LAUNCH)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def imagenet() -> Iterator[str]:
    env = {"INFERENCE_MODEL__MANIFEST": None, "INFERENCE_MODEL__BACKEND": "torch"}
    with inference_serve(env=env) as url:
        yield url


@pytest.fixture(scope="module")
def keyed() -> Iterator[str]:
    env = {
        "INFERENCE_MODEL__BACKEND": "torch",
        "INFERENCE_API_KEYS": API_KEY,
        "INFERENCE_API__MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
    }
    with inference_serve("--model", "demo", env=env) as url:
        yield url


def _drawn(tmp_path: Path) -> Path:
    """A small image for the demo model (a drawn shape), well under the keyed service's limit."""
    path = tmp_path / "circle.png"
    draw("red circle", random.Random(3)).save(path)
    return path


def _screenshot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_a_real_photo_shows_its_top_labels_as_bars_with_the_model_and_time(
    page: Page, imagenet: str, tmp_path: Path
) -> None:
    page.goto(imagenet)
    expect(page.locator("#model")).to_contain_text("efficientnet-lite0-imagenet")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))

    page.set_input_files("#files", str(photo("chelsea.png")))

    bars = page.locator(".card .bars li")
    expect(bars).to_have_count(5, timeout=60_000)
    assert bars.first.locator(".label").inner_text() in CATS
    percentages = [float(text.rstrip("%")) for text in page.locator(".card .pct").all_inner_texts()]
    assert percentages == sorted(percentages, reverse=True) and 0 < sum(percentages) <= 100.1
    track, fill = (
        page.locator(f".card .bars li:first-child {part}").bounding_box() for part in (".track", ".fill")
    )
    assert track and fill and fill["width"] / track["width"] == pytest.approx(percentages[0] / 100, abs=0.02)
    state = page.locator(".card .state")
    expect(state).to_contain_text("efficientnet-lite0-imagenet 1")
    expect(state).to_contain_text(" s")
    expect(page.locator(".card .meta")).to_contain_text("PNG")
    # It followed the request's status stream, not a long-poll.
    assert [url for url in asked if url.endswith("/events")] and not [url for url in asked if "wait=" in url]
    _screenshot(page, tmp_path, "real-photo")


def test_a_text_file_shows_the_services_415_in_words(page: Page, imagenet: str, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("a shopping list, not an image")
    page.goto(imagenet)

    page.set_input_files("#files", str(notes))

    expect(page.locator(".card .state.error")).to_contain_text("Not an image the service can read")
    _screenshot(page, tmp_path, "415")


def test_several_files_at_once_each_get_their_own_result(page: Page, imagenet: str, tmp_path: Path) -> None:
    page.goto(imagenet)

    page.set_input_files("#files", [str(photo(name)) for name in ("chelsea.png", "coffee.png", "rocket.jpg")])

    expect(page.locator(".card")).to_have_count(3)
    expect(page.locator(".card .bars li")).to_have_count(15, timeout=90_000)
    expect(page.locator("#status")).to_have_text("Done: 3 images.")
    labels = page.locator(".card .bars li:first-child .label").all_inner_texts()
    assert "espresso" in labels
    _screenshot(page, tmp_path, "several")


def test_dropped_and_pasted_images_are_classified_too(page: Page, imagenet: str) -> None:
    page.goto(imagenet)
    data = base64.b64encode(photo("coffee.png").read_bytes()).decode()
    page.evaluate(
        """(data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = () => {
            const t = new DataTransfer();
            t.items.add(new File([bytes], "coffee.png", { type: "image/png" }));
            return t;
        };
        document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer() }));
        document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer() }));
    }""",
        data,
    )

    expect(page.locator(".card .bars li")).to_have_count(10, timeout=60_000)


def test_copy_as_curl_gives_the_last_request_without_the_key(page: Page, keyed: str, tmp_path: Path) -> None:
    page.goto(keyed)
    page.fill("#api-key", API_KEY)
    page.locator("#api-key").dispatch_event("change")
    page.set_input_files("#files", str(_drawn(tmp_path)))
    expect(page.locator(".card .bars li")).to_have_count(5, timeout=60_000)

    page.click("#copy-curl")

    command = page.locator("#curl-text").inner_text()
    assert command.startswith("curl -H \"Authorization: Bearer $INFERENCE_API_KEY\" -F 'image=@circle.png'")
    assert f"{keyed}/api/inference/requests?top_k=5" in command and API_KEY not in command


def test_with_api_keys_the_page_asks_for_one_and_sends_it_only_as_a_header(
    page: Page, keyed: str, tmp_path: Path
) -> None:
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request))
    page.goto(keyed)
    expect(page.locator("#api-key")).to_be_visible()

    page.set_input_files("#files", str(_drawn(tmp_path)))
    expect(page.locator(".card .state.error")).to_contain_text("needs an API key")

    page.fill("#api-key", API_KEY)
    page.locator("#api-key").dispatch_event("change")
    page.set_input_files("#files", str(_drawn(tmp_path)))
    expect(page.locator(".card .bars li")).to_have_count(5, timeout=60_000)  # the demo model's top 5
    expect(page.locator(".card .bars li").first).to_contain_text("red circle")

    authorised = [r for r in seen if r.headers.get("authorization") == f"Bearer {API_KEY}"]
    assert {r.method for r in authorised} == {"GET", "POST"}
    assert not [r.url for r in seen if API_KEY in r.url]


def test_a_file_over_the_services_limit_is_refused_before_it_is_sent(page: Page, keyed: str) -> None:
    posts: list[Request] = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
    page.goto(keyed)
    expect(page.locator("#limit")).to_have_text("195.3 KB")

    page.set_input_files("#files", str(photo("chelsea.png")))

    expect(page.locator(".card .state.error")).to_contain_text("over the service's limit")
    assert posts == []


@pytest.fixture(scope="module")
def slow_to_start() -> Iterator[str]:
    """The demo model behind a worker that waits 20 s for a batch to fill: a request stays queued."""
    env = {
        "INFERENCE_MODEL__BACKEND": "torch",
        "INFERENCE_WORKER__MAX_BATCH_SIZE": "64",
        "INFERENCE_WORKER__MAX_BATCH_WAIT_MS": "20000",
    }
    with inference_serve("--model", "demo", env=env) as url:
        yield url


def test_the_cancel_button_cancels_a_queued_request(page: Page, slow_to_start: str, tmp_path: Path) -> None:
    page.goto(slow_to_start)
    page.set_input_files("#files", str(_drawn(tmp_path)))
    expect(page.locator(".card .state")).to_contain_text("Queued")

    page.click(".card .cancel")

    expect(page.locator(".card .state")).to_contain_text("Canceled", timeout=10_000)
    expect(page.locator(".card .cancel")).to_be_hidden()
    expect(page.locator(".card .bars li")).to_have_count(0)
    _screenshot(page, tmp_path, "canceled")
