"""What start-up built, out of the garbage collector's sight for the rest of the process.

Importing FastAPI, pydantic, redis and pika leaves about 100,000 objects tracked by the cyclic
garbage collector in the API (the worker adds PyTorch's and OpenVINO's), and they live as long as
the process. Every full collection walked all of them: under `bench.capacity --wait-for-results`
the API spent 15 % of its CPU in the collector, most of it in ten full collections of ~85 ms each.
`gc.freeze()` moves them to the permanent generation, which collections skip (what the Python
documentation suggests for long-lived start-up objects); garbage made later is collected as before.
"""

from __future__ import annotations

import gc


def settle_heap() -> int:
    """Collect start-up's garbage, then freeze what is left; how many objects are frozen now."""
    gc.collect()  # a cycle frozen now would never be freed
    gc.freeze()
    return gc.get_freeze_count()
