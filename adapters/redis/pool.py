"""The result store's connection pool: redis-py's, waiting for a free connection as its
`BlockingConnectionPool` does, with less bookkeeping per checkout.

Every command checks a connection out of the pool and back in. `BlockingConnectionPool` does it
under an `asyncio.Condition`, an `asyncio.Lock` and a timeout context each time, and reports each
checkout to redis-py's observability recorder and event dispatcher (which this service uses for
nothing): about a sixth of a plain `SET`'s CPU. Here a semaphore counts the free connections, and
the timeout context exists only while a checkout has to wait.

Maintenance notifications (a Redis Enterprise/Cloud feature, on "auto" in redis-py 8) are off:
while they are on, redis-py's pools skip their check of a connection before handing it out, so
a connection the server dropped (a restart, an idle timeout) would fail the next command sent on
it, and the store retries none.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError
from redis.maint_notifications import MaintNotificationsConfig


class WaitingConnectionPool(ConnectionPool):
    """At most `max_connections` connections; a checkout when all are in use waits up to
    `timeout` seconds for one, then fails with ConnectionError (as BlockingConnectionPool's
    does, rather than at once with "Too many connections" as ConnectionPool's).

    A connection is checked as redis-py's pools check it (`ensure_connection`: connected, and
    no data or EOF waiting on it, else made again) before it is handed out. One event loop only.
    """

    def __init__(self, *, timeout: float, max_connections: int, **connection_kwargs: Any) -> None:
        super().__init__(
            max_connections=max_connections,
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
            **connection_kwargs,
        )
        self.timeout = timeout
        self._free = asyncio.Semaphore(max_connections)

    async def get_connection(
        self, command_name: Any = None, *args: Any, **options: Any
    ) -> AbstractConnection:
        if self._free.locked():  # all in use: wait, but not for ever
            try:
                async with asyncio.timeout(self.timeout):
                    await self._free.acquire()
            except TimeoutError as exc:
                raise ConnectionError("No connection available.") from exc
        else:
            await self._free.acquire()  # at once
        try:
            connection: AbstractConnection = self.get_available_connection()  # type: ignore[no-untyped-call]
        except BaseException:
            self._free.release()
            raise
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        self._in_use_connections.remove(connection)
        try:
            if connection.should_reconnect():  # type: ignore[no-untyped-call]  # asked to (a server's maintenance)
                await connection.disconnect()
        finally:  # back even if cancelled meanwhile: a lost connection would shrink the pool
            self._available_connections.append(connection)
            self._free.release()
