"""deploy/k8s: every overlay renders with `kubectl kustomize` and every object it makes validates.

Kubernetes' own kinds against their published OpenAPI schemas (kubernetes-validate, strict: an
unknown field is an error, not silently dropped); KEDA's against the schema in
tests/e2e/fixtures/keda-v2.json. Then what the objects must say to each other: the ScaledObject
counts the queue the workers read, over HTTP, and so on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(path.name for path in (ROOT / "deploy/k8s/overlays").iterdir())
KEDA_SCHEMA = json.loads((Path(__file__).parent / "fixtures/keda-v2.json").read_text())
KUBERNETES_VERSION = "1.31.0"

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (with kustomize)")


def render(overlay: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy/k8s/overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def the(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [obj for obj in by_kind(objects, kind) if obj["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def test_there_is_more_than_one_overlay() -> None:
    assert {"dev", "production"} <= set(OVERLAYS)


def test_every_object_validates_against_its_schema(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["apiVersion"].startswith("keda.sh/"):
            jsonschema.validate(obj, KEDA_SCHEMA[obj["kind"]])
        else:
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{where}: {exc.message} at {list(exc.path)}")


def test_the_keda_schema_refuses_what_keda_would_not_read() -> None:
    typo = {"spec": {"scaleTargetRef": {"name": "w"}, "triggers": [{"type": "rabbitmq", "metdata": {}}]}}
    number = {
        "spec": {"scaleTargetRef": {"name": "w"}, "triggers": [{"type": "x", "metadata": {"value": 5}}]}
    }

    for bad in (typo, number):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, KEDA_SCHEMA["ScaledObject"])


def test_the_workers_scale_on_the_queue_they_read_counting_unacknowledged_messages(
    rendered: list[dict[str, Any]],
) -> None:
    scaled = the(rendered, "ScaledObject", "inference-worker")
    settings = the(rendered, "ConfigMap", "inference-settings")["data"]
    (trigger,) = scaled["spec"]["triggers"]
    auth = the(rendered, "TriggerAuthentication", trigger["authenticationRef"]["name"])

    assert (
        scaled["spec"]["scaleTargetRef"]["name"]
        == the(rendered, "Deployment", "inference-worker")["metadata"]["name"]
    )
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == settings["INFERENCE_QUEUE__NAME"]
    assert trigger["metadata"]["protocol"] == "http"  # counts prefetched, unacknowledged messages
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert scaled["spec"]["minReplicaCount"] == 0
    assert "activationValue" in trigger["metadata"]
    assert [ref["parameter"] for ref in auth["spec"]["secretTargetRef"]] == ["host"]
    assert not by_kind(rendered, "HorizontalPodAutoscaler") or all(
        hpa["spec"]["scaleTargetRef"]["name"] != "inference-worker"
        for hpa in by_kind(rendered, "HorizontalPodAutoscaler")
    )  # KEDA makes the worker's HPA; a second one would fight it


def test_a_worker_has_longer_to_finish_its_batch_than_its_health_check_allows_to_hang(
    rendered: list[dict[str, Any]],
) -> None:
    pod = the(rendered, "Deployment", "inference-worker")["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    probe = worker["livenessProbe"]["exec"]["command"]

    assert probe[:2] == ["inference", "health"]
    assert pod["terminationGracePeriodSeconds"] > 60
    assert worker["resources"]["requests"] and worker["resources"]["limits"]


def test_the_api_is_probed_for_readiness_and_liveness_and_scales_on_cpu(
    rendered: list[dict[str, Any]],
) -> None:
    (api,) = the(rendered, "Deployment", "inference-api")["spec"]["template"]["spec"]["containers"]
    hpa = the(rendered, "HorizontalPodAutoscaler", "inference-api")
    service = the(rendered, "Service", "inference-api")

    assert api["readinessProbe"]["httpGet"]["path"] == "/api/health/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/api/health"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert {pdb["metadata"]["name"] for pdb in by_kind(rendered, "PodDisruptionBudget")} == {
        "inference-api",
        "inference-worker",
    }


def test_credentials_come_from_the_secret_and_no_overlay_but_dev_ships_one(
    rendered: list[dict[str, Any]],
) -> None:
    secrets_named = set()
    for deployment in by_kind(rendered, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]}
            assert set(refs) == {"INFERENCE_RABBITMQ_URL", "INFERENCE_REDIS_URL", "INFERENCE_WEBHOOK__SECRET"}
            secrets_named |= set(refs.values())
    namespace = {obj["metadata"].get("namespace") for obj in rendered if obj["kind"] != "Namespace"}

    assert secrets_named == {"inference-credentials"}
    assert len(namespace) == 1
    shipped = by_kind(rendered, "Secret")
    assert not shipped or namespace == {"inference-dev"}


def test_the_validator_refuses_a_misspelt_field() -> None:
    api = the(render("dev"), "Deployment", "inference-api")
    api["spec"]["replicass"] = api["spec"].pop("replicas")

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, KUBERNETES_VERSION, strict=True)
