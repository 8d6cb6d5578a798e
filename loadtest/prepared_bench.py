"""The draw path's call-cache lookup: ``Draws.prepared()`` on a hit.

    python -m loadtest.prepared_bench

Median nanoseconds per lookup of 7 × 200,000 (docs/performance.md, "Bounded
caches"). No Redis needed: the store is built on fakeredis and never called.
"""

from __future__ import annotations

import statistics
import timeit

from app.domain.activity import parse_config
from app.domain.runtime import compile_runtime
from app.store.redis.fakes import fake_client
from app.store.redis.store import RedisStore

CONFIG = {
    "name": "bench",
    "kind": "time",
    "start_date": "2030-06-01",
    "end_date": "2030-06-01",
    "sessions": [
        {
            "start": "10:00:00",
            "end": "11:00:00",
            "pools": [
                {
                    "prizes": [
                        {
                            "key": "c2",
                            "type": "coupon",
                            "name": "c2",
                            "quantity": 100,
                            "probability": 0.5,
                        },
                        {
                            "key": "c5",
                            "type": "coupon",
                            "name": "c5",
                            "quantity": 10,
                            "probability": 0.1,
                        },
                    ]
                }
            ],
        }
    ],
}


def main(runs: int = 7, number: int = 200_000) -> None:
    rt = compile_runtime(7, 3, parse_config(CONFIG).model_dump_json())
    rnd = rt.timeline.rounds[0]
    draws = RedisStore(fake_client(), offset_ms=0, idempotency_ttl=60).draws
    draws.prepared(rt, rnd, 0)
    ns = [
        timeit.timeit(lambda: draws.prepared(rt, rnd, 0), number=number) / number * 1e9
        for _ in range(runs)
    ]
    print(f"Draws.prepared() hit: median {statistics.median(ns):.0f} ns, min {min(ns):.0f} ns")


if __name__ == "__main__":
    main()
