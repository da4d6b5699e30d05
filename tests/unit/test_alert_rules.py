"""The shipped Prometheus alerts: five rules, each on metrics this service exports."""

from __future__ import annotations

import re

import yaml

from adapters.prometheus import Metrics
from tests.metrics import ALERTS


def rules() -> list[dict[str, object]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_five_alerts_the_readme_promises_are_shipped() -> None:
    names = [rule["alert"] for rule in rules()]
    assert names == [
        "InferenceBacklogAging",
        "InferenceDeadLettersGrowing",
        "InferenceNoLiveWorkers",
        "InferenceErrorRatio",
        "InferenceSlowResults",
    ]
    assert all(rule["labels"]["severity"] in {"warning", "critical"} for rule in rules())  # type: ignore[index]


def test_every_metric_an_alert_reads_is_one_the_service_exports() -> None:
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
    metrics = Metrics()
    metrics.watch_workers_alive(lambda: 1.0)  # what the API exposes beside every process's
    metrics.watch_oldest_request_age(lambda: 0.0)  # and what the embedded queue does
    exported = {
        family.name + suffix for family in metrics.registry.collect() for suffix in suffixes[family.type]
    }
    read = {name for rule in rules() for name in re.findall(r"\binference_\w+", str(rule["expr"]))}
    assert read
    assert read <= exported, read - exported
