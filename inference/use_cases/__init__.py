"""The use cases, by who calls them: `api` (submit, read a result), `worker` (process a batch)
and `dead_letters` (the worker's dead-letter loop). They speak only in domain types and ports."""
