"""Writing records only where they still hold what was read: optimistic locking in one round trip.

The store reads records, applies the domain's rules in Python (`RequestRecord.apply`, the one
place they live) and hands the new values here with the values they were computed from. One
script call then writes, for each record that still holds exactly the value read, the new
value with its time-to-live, the outbox entry when asked, and the announcement; a record that
another writer changed in the meantime is left alone and reported, for the store to read and
apply again. The script compares and copies bytes: it knows nothing of statuses or rules.

WATCH, MULTI and EXEC did the same in three round trips (and failed the whole batch on any
conflict); this is one, and only the records that conflicted are tried again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# KEYS[1]: the webhook outbox; KEYS[1 + i]: record i. ARGV[1]: the time-to-live in ms, then six
# per record: the value read, the value to write, the channel and message announcing it, and
# the outbox entry's score ('' for none) and member.
# Returns the (1-based) numbers of the records that no longer held the value read.
SCRIPT = """
local ttl = ARGV[1]
local conflicts = {}
for i = 2, #KEYS do
  local a = 2 + (i - 2) * 6
  if redis.call('GET', KEYS[i]) == ARGV[a] then
    redis.call('SET', KEYS[i], ARGV[a + 1], 'PX', ttl)
    if ARGV[a + 4] ~= '' then
      redis.call('ZADD', KEYS[1], 'NX', ARGV[a + 4], ARGV[a + 5])
    end
    redis.call('PUBLISH', ARGV[a + 2], ARGV[a + 3])
  else
    conflicts[#conflicts + 1] = i - 1
  end
end
return conflicts
"""
SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()  # noqa: S324  # Redis names scripts by SHA-1


@dataclass(frozen=True, slots=True)
class Write:
    """Set `key` to `value` if it still holds `expected`, and announce `message` on `channel`;
    with `outbox` (member, due time in epoch seconds), add the webhook outbox entry too."""

    key: str
    expected: bytes | str
    value: bytes
    channel: str
    message: bytes | str
    outbox: tuple[str, float] | None = None


class CompareAndSet:
    def __init__(self, outbox_key: str, ttl_ms: int) -> None:
        self._outbox_key = outbox_key
        self._ttl_ms = ttl_ms

    async def __call__(self, client: Redis, writes: Sequence[Write]) -> set[int]:
        """Make the writes whose keys still hold their `expected` values, in one atomic step;
        the positions (0-based) of those that did not."""
        keys: list[str | bytes | float] = [self._outbox_key]
        args: list[str | bytes | float] = [self._ttl_ms]
        for write in writes:
            keys.append(write.key)
            member, score = write.outbox if write.outbox is not None else ("", "")
            args += [write.expected, write.value, write.channel, write.message, score, member]
        try:
            conflicts = await client.evalsha(SHA, len(keys), *keys, *args)
        except NoScriptError:  # a restarted (or flushed) server forgot it: teach it once more
            await client.script_load(SCRIPT)
            conflicts = await client.evalsha(SHA, len(keys), *keys, *args)
        return {int(n) - 1 for n in conflicts}
