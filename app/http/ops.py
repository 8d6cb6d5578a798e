"""For operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from app import metrics
from app.domain.errors import ValidationFailed
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
    """This process's (or every worker's) counters plus gauges of live stock,
    stream lag and the last reconcile read from Redis now."""
    snapshot = await services(request).monitoring.snapshot()
    return Response(metrics.exposition(snapshot), media_type=metrics.CONTENT_TYPE)


@endpoint(
    "GET",
    "/readyz",
    "Readiness: Redis and the database answer (with ?need=redis, Redis alone)",
    response=r.Ready,
    errors=(422, 503),
    query=(("need", Literal["redis"]),),
)
async def readyz(request: Request) -> Response:
    """``?need=redis``: ready while Redis answers, the database reported but
    not required. Draws need only Redis (the worker catches up on the
    database), so a load balancer that takes instances out on this keeps a
    rain going through a database outage (docs/kubernetes.md, "Readiness")."""
    need = request.query_params.get("need")
    if need not in (None, "redis"):
        raise ValidationFailed("need: expected redis", field="need")
    checks = await services(request).health()
    required = ("redis",) if need == "redis" else tuple(checks)
    if all(checks[name] == "ok" for name in required):
        body: r.Ready = {
            "status": "ready",
            "redis": checks["redis"],
            "database": checks["database"],
        }
        return JSON(body)
    return JSON(
        {"error": {"code": "unavailable", "message": "not ready", **checks}}, status_code=503
    )
