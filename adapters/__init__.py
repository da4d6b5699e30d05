"""Adapters: one subpackage per technology, each behind the core's ports.

Each subpackage exports its adapters from its `__init__`, named `<Technology><Port>`
(`RedisResultStore`, `RabbitMQQueue`, `PillowImageInspector`), and keeps its plumbing private.
No subpackage imports another (`.importlinter` says so); `adapters.wakeup` is the one shared
module, a cross-thread wake-up that the memory and RabbitMQ queues both need. What crosses from
one technology to another (the images package's decoder into a model backend) is wired by the
container, `entrypoints.container`, the only importer of this package.
"""
