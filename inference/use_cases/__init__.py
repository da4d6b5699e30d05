"""The use cases, by who calls them: `api` (submit, read a result) and `worker` (process a batch,
settle dead letters). They speak only in domain types and ports; HTTP and AMQP live outside."""
