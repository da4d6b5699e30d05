"""Optional API keys: with keys configured, every endpoint but health needs `Bearer <key>`.

(No keys, the default, leaves everything open: tests/test_http_api.py runs that way.)
No test here measures time: a key is compared with every configured one without an early exit
(counted below), and a malformed or unknown request id is refused before the store is asked,
or with a single read; either way only after the key was checked.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient

from entrypoints.embedded import create_embedded_app
from entrypoints.http import auth
from entrypoints.http.auth import ApiKeys, ApiKeysError
from entrypoints.settings import Settings
from tests.conftest import MakeClient
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.service import memory_client, memory_container


class Response(Protocol):  # what a TestClient answers
    status_code: int

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


KEYS = ["first-key-0123456789", "second-key-9876543210"]
WRONG_KEY = "not-a-key-at-all-000000"


PROTECTED = ["submit", "result", "models"]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed_client(make_client: MakeClient) -> TestClient:
    return make_client(api_keys=KEYS)


def _send(client: TestClient, endpoint: str, headers: dict[str, str] | None = None) -> Response:
    if endpoint == "submit":
        return client.post(SUBMIT, files={"image": png_bytes()}, headers=headers)
    if endpoint == "result":
        return client.get(f"{SUBMIT}/{uuid.uuid4()}/results", headers=headers)
    return client.get("/api/models", headers=headers)


def _assert_refused(response: Response, status: int, code: str) -> None:
    assert response.status_code == status, response.json()
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]


def test_health_and_readiness_need_no_key(keyed_client: TestClient) -> None:
    assert keyed_client.get("/api/health").status_code == 200
    assert keyed_client.get("/api/health/ready").status_code == 200


@pytest.mark.parametrize("endpoint", PROTECTED)
def test_every_other_endpoint_without_a_key_gets_401_asking_for_a_bearer_token(
    keyed_client: TestClient, endpoint: str
) -> None:
    response = _send(keyed_client, endpoint)

    _assert_refused(response, 401, "missing_api_key")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [f"Basic {KEYS[0]}", "Bearer", "Bearer ", KEYS[0], ""],
    ids=["basic-scheme", "bearer-without-key", "bearer-and-a-space", "key-without-scheme", "empty"],
)
def test_an_authorization_header_that_is_not_a_bearer_key_gets_401(
    keyed_client: TestClient, authorization: str
) -> None:
    response = keyed_client.get("/api/models", headers={"Authorization": authorization})

    _assert_refused(response, 401, "missing_api_key")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("endpoint", PROTECTED)
def test_every_other_endpoint_with_a_wrong_key_gets_403(keyed_client: TestClient, endpoint: str) -> None:
    response = _send(keyed_client, endpoint, _bearer(WRONG_KEY))

    _assert_refused(response, 403, "invalid_api_key")


@pytest.mark.parametrize(
    "near_miss",
    [KEYS[0].upper(), KEYS[0][:-1], KEYS[0] + "x", f"{KEYS[0]},{KEYS[1]}"],
    ids=["other-case", "prefix", "longer", "both-keys-joined"],
)
def test_a_key_that_only_resembles_a_configured_one_gets_403(
    keyed_client: TestClient, near_miss: str
) -> None:
    response = keyed_client.get("/api/models", headers=_bearer(near_miss))

    _assert_refused(response, 403, "invalid_api_key")


@pytest.mark.parametrize("key", KEYS)
def test_each_configured_key_submits_an_image_and_reads_its_result(
    keyed_client: TestClient, key: str
) -> None:
    submitted = keyed_client.post(SUBMIT, files={"image": png_bytes()}, headers=_bearer(key))
    assert submitted.status_code == 202, submitted.text

    result = keyed_client.get(submitted.headers["location"], params={"wait": 5}, headers=_bearer(key))

    assert result.status_code == 200
    assert result.json()["status"] == "succeeded"
    assert keyed_client.get("/api/models", headers=_bearer(key)).status_code == 200


def test_the_bearer_scheme_name_is_case_insensitive(keyed_client: TestClient) -> None:
    response = keyed_client.get("/api/models", headers={"Authorization": f"bearer {KEYS[0]}"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"{SUBMIT}/not-a-uuid/results", {}),
        (f"{SUBMIT}/{uuid.uuid4()}/results", {}),
        (f"{SUBMIT}/{uuid.uuid4()}/results", {"wait": "soon"}),
    ],
    ids=["malformed-id", "unknown-id", "bad-wait"],
)
def test_the_key_is_checked_before_the_request_id_or_parameters(
    keyed_client: TestClient, path: str, params: dict[str, str]
) -> None:
    without = keyed_client.get(path, params=params)
    wrong = keyed_client.get(path, params=params, headers=_bearer(WRONG_KEY))

    _assert_refused(without, 401, "missing_api_key")
    _assert_refused(wrong, 403, "invalid_api_key")


def test_a_submission_without_a_key_is_refused_before_its_body_is_judged(keyed_client: TestClient) -> None:
    bad_top_k = keyed_client.post(SUBMIT, params={"top_k": "0"}, files={"image": png_bytes()})
    not_an_image = keyed_client.post(SUBMIT, content=b"text", headers={"content-type": "image/png"})

    _assert_refused(bad_top_k, 401, "missing_api_key")
    _assert_refused(not_an_image, 401, "missing_api_key")


def test_with_a_key_a_malformed_request_id_gets_422_and_an_unknown_one_404(keyed_client: TestClient) -> None:
    malformed = keyed_client.get(f"{SUBMIT}/not-a-uuid/results", headers=_bearer(KEYS[0]))
    unknown = keyed_client.get(f"{SUBMIT}/{uuid.uuid4()}/results", headers=_bearer(KEYS[0]))

    _assert_refused(malformed, 422, "invalid_request_id")
    _assert_refused(unknown, 404, "unknown_request")


def test_the_docs_and_the_openapi_document_stay_open(keyed_client: TestClient) -> None:
    # The contract is no secret, and Swagger UI must load it before "Authorize" can supply a key.
    assert keyed_client.get("/api/openapi.json").status_code == 200
    assert keyed_client.get("/api/docs").status_code == 200


def test_the_openapi_document_declares_the_bearer_scheme_on_the_protected_operations(
    keyed_client: TestClient,
) -> None:
    spec = keyed_client.get("/api/openapi.json").json()

    scheme = spec["components"]["securitySchemes"][auth.SCHEME_NAME]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    protected = [
        spec["paths"][SUBMIT]["post"],
        spec["paths"][f"{SUBMIT}/{{request_id}}/results"]["get"],
        spec["paths"]["/api/models"]["get"],
    ]
    for operation in protected:
        assert operation["security"] == [{auth.SCHEME_NAME: []}]
        assert {"401", "403"} <= set(operation["responses"])
    for path in ("/api/health", "/api/health/ready"):
        assert "security" not in spec["paths"][path]["get"]


def test_without_keys_the_openapi_document_declares_no_scheme(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()

    assert "securitySchemes" not in spec.get("components", {})
    assert "security" not in spec["paths"][SUBMIT]["post"]


def test_keys_from_a_file_work_and_its_comments_and_blank_lines_are_not_keys(tmp_path: Path) -> None:
    keys_file = tmp_path / "api-keys"
    keys_file.write_text("# the team's keys\n\n   file-key-one   \n#file-key-retired\nfile-key-two\n\n")

    with memory_client(api_keys_file=keys_file) as client:
        accepted = [
            client.get("/api/models", headers=_bearer(key)).status_code
            for key in ("file-key-one", "file-key-two")
        ]
        refused = [
            client.get("/api/models", headers=_bearer(key)).status_code
            for key in ("# the team's keys", "#file-key-retired", "file-key-retired")
        ]

    assert accepted == [200, 200]
    assert refused == [403, 403, 403]


def test_keys_from_the_settings_and_from_a_file_all_work(tmp_path: Path) -> None:
    keys_file = tmp_path / "api-keys"
    keys_file.write_text("file-key\n")

    with memory_client(api_keys=["listed-key"], api_keys_file=keys_file) as client:
        statuses = [
            client.get("/api/models", headers=_bearer(key)).status_code for key in ("listed-key", "file-key")
        ]

    assert statuses == [200, 200]


def test_the_environment_lists_keys_comma_separated_and_names_a_keys_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INFERENCE_API_KEYS", " one-key , another-key ,")
    monkeypatch.setenv("INFERENCE_API_KEYS_FILE", str(tmp_path / "api-keys"))

    settings = Settings()

    assert settings.api_keys == ["one-key", "another-key"]
    assert settings.api_keys_file == tmp_path / "api-keys"


def test_a_keys_file_that_cannot_be_read_stops_the_app_from_being_built(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file"
    container = memory_container(api_keys_file=missing)

    with pytest.raises(ApiKeysError, match=r"cannot read the API keys file .*no-such-file"):
        create_embedded_app(container)


@pytest.mark.parametrize("content", [b"", b"\n# only a comment\n\n"], ids=["empty", "only-comments"])
def test_a_keys_file_that_lists_no_key_stops_the_app_rather_than_leave_it_open(
    tmp_path: Path, content: bytes
) -> None:
    keys_file = tmp_path / "api-keys"
    keys_file.write_bytes(content)
    container = memory_container(api_keys_file=keys_file)

    with pytest.raises(ApiKeysError, match="lists no key"):
        create_embedded_app(container)


def test_a_keys_file_that_is_not_text_stops_the_app_without_quoting_it(tmp_path: Path) -> None:
    keys_file = tmp_path / "api-keys"
    keys_file.write_bytes(b"secret-\xff-key\n")
    container = memory_container(api_keys_file=keys_file)

    with pytest.raises(ApiKeysError, match="not UTF-8") as error:
        create_embedded_app(container)
    assert "secret" not in str(error.value)


def test_a_key_is_compared_with_every_configured_key_even_after_a_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = ApiKeys(["a-key", "b-key", "c-key"])
    comparisons: list[None] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        comparisons.append(None)
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    found = {key: keys.accepts(key) for key in ("a-key", "c-key", "z-key")}

    assert found == {"a-key": True, "c-key": True, "z-key": False}
    assert len(comparisons) == 3 * 3


def test_blank_keys_are_not_keys() -> None:
    assert len(ApiKeys(["", "   "])) == 0
    assert not ApiKeys(["", "real-key"]).accepts("")
