"""Prometheus metrics: the registry and the port wrappers that fill it."""

from adapters.prometheus.metered import MeteredClassifier, MeteredConsumer, MeteredStore
from adapters.prometheus.metrics import Metrics

__all__ = ["MeteredClassifier", "MeteredConsumer", "MeteredStore", "Metrics"]
