"""Canaries for the private parts of dependencies redrain leans on (issue 29,
item 4). Each fails with what changed and where redrain uses it, so an upgrade
inside the pinned ranges of pyproject.toml that moves one is caught here, not
as a wrong count or a slow draw."""

from __future__ import annotations

import hashlib
import inspect

import pytest
from prometheus_client import CollectorRegistry, Histogram
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app import metrics
from app.http.protocol import CoalescingHttpTools
from app.store.redis.fakes import fake_server

pytestmark = pytest.mark.unit


def test_prometheus_client_histograms_still_keep_a_sum_and_buckets() -> None:
    hist = Histogram("canary_seconds", "canary", buckets=(0.1, 1.0), registry=CollectorRegistry())
    why = (
        "prometheus-client's Histogram no longer has _sum/_buckets with inc(): "
        "app/metrics.publish() adds a batch of observations through them"
    )
    assert hasattr(hist, "_sum") and hasattr(hist._sum, "inc"), why
    assert len(hist._buckets) == 3 and all(hasattr(b, "inc") for b in hist._buckets), why
    metrics._observe(hist, (0.1, 1.0), 0.5, 3)  # what publish() replays
    metrics.publish()
    samples = {s.name + str(s.labels.get("le", "")): s.value for s in hist.collect()[0].samples}
    assert samples["canary_seconds_bucket1.0"] == 3 and samples["canary_seconds_sum"] == 1.5


# uvicorn's on_response_complete as app/http/protocol.py re-implements it
# (keep-alive by a sweep instead of a timer per answer): when uvicorn changes
# it, read the new one and carry the change over, then update this hash.
UVICORN_ON_RESPONSE_COMPLETE = "64e254f28e389e76"


def test_uvicorn_still_has_what_the_coalescing_protocol_overrides() -> None:
    source = inspect.getsource(HttpToolsProtocol.on_response_complete)
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == UVICORN_ON_RESPONSE_COMPLETE, (
        "uvicorn changed HttpToolsProtocol.on_response_complete, which "
        "app/http/protocol.py re-implements: compare the two"
    )
    for name in (
        "connection_made",
        "data_received",
        "on_message_begin",
        "on_headers_complete",
        "on_body",
        "on_message_complete",
        "send_400_response",
        "_start_asgi_task",
        "_unset_keepalive_if_required",
    ):
        assert callable(getattr(HttpToolsProtocol, name, None)), (
            f"uvicorn's HttpToolsProtocol has no {name}(): app/http/protocol.py uses it"
        )
    assert issubclass(CoalescingHttpTools, HttpToolsProtocol)
    assert list(inspect.signature(HttpToolsProtocol._start_asgi_task).parameters) == [
        "self",
        "cycle",
        "app",
    ], "uvicorn's _start_asgi_task(cycle, app) changed: app/http/protocol.py calls it"


def test_fakeredis_still_exposes_its_lua_runtime() -> None:
    """app/store/redis/fakes.py adds redis.sha1hex to it (embedded mode)."""
    try:
        server = fake_server()
    except AttributeError as exc:
        pytest.fail(f"fakeredis moved its Lua runtime (FakeServer._lua_runtime): {exc}")
    runtime = getattr(server, "_lua_runtime")  # noqa: B009 - the internal under test
    assert runtime.eval("redis.sha1hex('abc')") == b"a9993e364706816aba3e25717850c26c9cd0d89d"
