"""The pure core of the service: domain types, ports and use cases (standard library only)."""
