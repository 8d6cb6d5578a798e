"""The benchmark's in-run baseline: the draw with Redis reached the
straightforward way, served beside the real routes by the same server.

    python -m loadtest.baseline --port 8000 --workers 2

is ``redrain serve`` plus ``POST /bench/draw-baseline``: the same handler and
Lua script as ``POST /v1/draw``, but every script call goes through redis-py's
pooled asyncio client and ``register_script`` instead of the pipelining
transport. It lives here, not in the production route table or the OpenAPI
document (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.application import create_app as create_production_app  # noqa: E402
from app.config import load_settings  # noqa: E402
from app.http.bodies import receive_body  # noqa: E402
from app.http.client_ip import client_ip  # noqa: E402
from app.http.errors import JSON  # noqa: E402
from app.http.fastpath import perform_draw  # noqa: E402
from app.services.container import Services  # noqa: E402
from app.store.redis.connection import connect, translated  # noqa: E402
from app.store.redis.store import RedisStore  # noqa: E402


class RegisteredScripts(RedisStore):
    """Every script call through one redis-py ``register_script`` object."""

    def __init__(self, client: Any, *, offset_ms: int, idempotency_ttl: int) -> None:
        super().__init__(client, offset_ms=offset_ms, idempotency_ttl=idempotency_ttl)
        self._registered = {
            name: client.register_script(script.source) for name, script in self.scripts.items()
        }

    async def run(
        self, name: str, keys: Sequence[str], args: Sequence[Any], *, durable: bool = False
    ) -> Any:
        # (The baseline never waits for replicas: durable is accepted and unused.)
        async with translated():
            return await self._registered[name](keys=list(keys), args=list(args))


def _baseline(services: Services) -> Services:
    s = services.settings
    client = connect(s.redis_url or "", timeout=s.redis_timeout)
    redis = RegisteredScripts(
        client, offset_ms=s.clock_offset_ms, idempotency_ttl=s.idempotency_ttl
    )
    return Services(s, redis, services.db)  # the same database


async def draw_baseline(request: Request) -> Response:
    state = request.app.state
    baseline: Services | None = getattr(state, "baseline", None)
    if baseline is None:
        baseline = state.baseline = _baseline(state.services)
    sent = request.headers
    body = await receive_body(request.receive, sent.get("content-length"), sent.get("content-type"))
    payload, headers = await perform_draw(
        baseline,
        request.headers.get("authorization"),
        request.headers.get("idempotency-key"),
        body,
        client_ip(request.scope),
    )
    return JSON(payload, headers=headers)


def create_app() -> Starlette:
    """``uvicorn loadtest.baseline:create_app --factory``."""
    return create_production_app(
        load_settings(), routes=[Route("/bench/draw-baseline", draw_baseline, methods=["POST"])]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    # Several workers share their metrics through files (as `redrain serve` does).
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="redrain-bench-"))
    import uvicorn

    from app.http.protocol import CoalescingHttpTools

    uvicorn.run(
        "loadtest.baseline:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        http=CoalescingHttpTools,  # as `redrain serve` runs it
    )


if __name__ == "__main__":
    main()
