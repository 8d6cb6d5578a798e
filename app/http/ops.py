"""For operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app import metrics
from app.http import responses as r
from app.http.endpoint import Endpoints, services
from app.http.errors import JSON

endpoint = Endpoints()


@endpoint("GET", "/healthz", "Liveness", response=r.Health)
async def healthz(request: Request) -> Response:
    body: r.Health = {"status": "ok"}
    return JSON(body)


@endpoint(
    "GET",
    "/metrics",
    "Prometheus metrics (restrict to the monitoring network)",
    response=str,
    media="text/plain",
    errors=(503,),
)
async def metrics_page(request: Request) -> Response:
    """This process's (or every worker's) counters plus gauges of live stock
    and stream lag read from Redis now."""
    stock, lag = await services(request).activities.live_snapshot()
    return Response(metrics.exposition(stock, lag), media_type=metrics.CONTENT_TYPE)


@endpoint(
    "GET", "/readyz", "Readiness: Redis and the database answer", response=r.Ready, errors=(503,)
)
async def readyz(request: Request) -> Response:
    checks = await services(request).health()
    if all(v == "ok" for v in checks.values()):
        body: r.Ready = {
            "status": "ready",
            "redis": checks["redis"],
            "database": checks["database"],
        }
        return JSON(body)
    return JSON(
        {"error": {"code": "unavailable", "message": "not ready", **checks}}, status_code=503
    )
