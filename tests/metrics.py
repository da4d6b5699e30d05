"""Prometheus as tests read it: expositions (every sample by name and labels) and the alert rules.

Shared by the unit tests (an exposition's text) and the end-to-end ones (a process's metrics URL).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

# The Prometheus alert rules the service ships (deploy/), read by the unit and e2e tests alike.
ALERTS = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "alerts.yaml"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(text: str) -> Samples:
    """Every sample of a Prometheus exposition by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def samples(url: str) -> Samples:
    """Every sample a metrics endpoint serves now."""
    return samples_of(httpx.get(url, timeout=10).raise_for_status().text)
