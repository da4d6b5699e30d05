"""Entry points: settings, the composition root, the HTTP API, the worker and the CLI."""
