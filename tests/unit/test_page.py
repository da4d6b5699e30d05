"""The page at `/` and its config, in memory (the page in a real browser: tests/e2e/test_page_browser.py)."""

from __future__ import annotations

import re

from dependency_injector import providers
from fastapi.testclient import TestClient

from entrypoints.container import create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.http.page import STATIC
from entrypoints.settings import ApiSettings, Settings
from tests.stubs import StubClassifier


def _client(**settings: object) -> TestClient:
    container = create_container(Settings(mode="embedded", **settings))  # type: ignore[arg-type]
    container.classifier.override(providers.Object(StubClassifier()))
    return TestClient(create_embedded_app(container))


def test_the_root_serves_the_page_and_its_assets() -> None:
    with _client() as client:
        page = client.get("/")
        assets = [client.get(f"/{name}") for name in ("app.js", "style.css")]

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="app.js"' in page.text
    assert [a.status_code for a in assets] == [200, 200]


def test_the_page_loads_nothing_from_another_origin() -> None:
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"(?:src|href)=[\"']?(?:https?:)?//", text), path.name
        assert "@import" not in text and "fonts.googleapis" not in text, path.name
        assert "url(http" not in text and "url(//" not in text, path.name


def test_the_config_tells_the_page_the_upload_limit_and_that_it_is_open() -> None:
    with _client(api=ApiSettings(max_upload_bytes=1234, default_top_k=3)) as client:
        config = client.get("/api/config").json()

    assert config == {
        "max_upload_bytes": 1234,
        "default_top_k": 3,
        "max_wait_seconds": 30.0,
        "api_key_required": False,
    }


def test_with_api_keys_the_config_stays_open_and_says_a_key_is_needed() -> None:
    with _client(api_keys=["a-long-enough-key-0123"]) as client:
        config = client.get("/api/config")
        models = client.get("/api/models")

    assert config.status_code == 200 and config.json()["api_key_required"] is True
    assert models.status_code == 401


def test_an_unknown_api_path_is_still_a_json_404_not_the_page() -> None:
    with _client() as client:
        response = client.get("/api/no-such-thing")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
