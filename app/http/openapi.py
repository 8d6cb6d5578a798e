"""``/openapi.json``: written from the route table's endpoints.

Request bodies are the pydantic request models (validation schemas), responses
the TypedDicts of ``app.http.responses`` (serialization schemas); both go
through pydantic, so the document says exactly what the code parses and
renders. ``tests/http/test_openapi.py`` checks it, and schemathesis checks the
running server against it.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal

from pydantic import TypeAdapter

from app import __version__
from app.http.endpoint import Endpoint

Schema = dict[str, Any]
Mode = Literal["validation", "serialization"]
REF = "#/components/schemas/{model}"

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "next_round_start": {"type": "string"},
            },
        },
    },
    "additionalProperties": False,  # SPEC §3: the one key "error"
}
ROW_ID: Schema = {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}  # endpoint.RowId


def _operation_id(method: str, path: str) -> str:
    return method.lower() + re.sub(r"[/{}]+", "_", path).rstrip("_")


def _plain(path: str) -> str:
    """``/v1/lotteries/{id:rowid}`` → ``/v1/lotteries/{id}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def _has_id(response: Any) -> bool:
    """Whether a response body carries the created object's ``id``."""
    if typing.get_origin(response) is typing.Annotated:
        response = typing.get_args(response)[0]
    return "id" in getattr(response, "__required_keys__", ())


class _Schemas:
    """Collects every type to describe, then asks pydantic for all at once."""

    def __init__(self) -> None:
        self.wanted: dict[tuple[str, Mode], tuple[Any, Mode]] = {}

    def want(self, key: str, tp: Any, mode: Mode) -> tuple[str, Mode]:
        self.wanted[(key, mode)] = (tp, mode)
        return key, mode

    def build(self) -> tuple[dict[tuple[str, Mode], Schema], dict[str, Schema]]:
        inputs = [
            (key, mode, TypeAdapter(tp))
            for key, (tp, mode) in self.wanted.items()
            if tp not in (str, dict)
        ]
        found, defs = TypeAdapter.json_schemas(inputs, ref_template=REF)
        out = {key: dict(schema) for (key, _), schema in found.items()}
        for key, (tp, _mode) in self.wanted.items():
            if tp is str:
                out[key] = {"type": "string"}
            elif tp is dict:
                out[key] = {"type": "object"}
        return out, dict(defs.get("$defs", {}))


@cache
def document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    schemas = _Schemas()
    for n, ep in enumerate(endpoints):
        if ep.body is not None:
            schemas.want(ep.body.__name__, ep.body, "validation")
        if ep.response is not None:
            schemas.want(f"response:{n}", ep.response, "serialization")
        for name, tp in ep.query:
            schemas.want(f"query:{n}:{name}", tp, "serialization")
    found, components = schemas.build()
    components["Error"] = ERROR
    error_ref = {"$ref": "#/components/schemas/Error"}

    paths: dict[str, Any] = {}
    for n, ep in enumerate(endpoints):
        path = _plain(ep.path)
        responses: dict[str, Any] = {}
        if ep.response is None:
            responses[str(ep.ok)] = {"description": "done"}
        else:
            schema = found[(f"response:{n}", "serialization")]
            content = {ep.media: {"schema": schema}}
            if ep.csv:
                content["text/csv"] = {"schema": {"type": "string"}}
            responses[str(ep.ok)] = {"description": "ok", "content": content}
            if ep.existed:
                responses["200"] = {"description": "already existed", "content": content}
        statuses = set(ep.errors) | {405}
        if ep.auth != "none":
            statuses |= {401, 403}
        for status in sorted(statuses):
            errs: dict[str, Any] = {"application/json": {"schema": error_ref}}
            if ep.media == "text/html" and status != 405:
                # A page answers a missing thing with a page (an id too long for
                # a row id never reaches it: the router's 404 is JSON).
                errs["text/html"] = {"schema": {"type": "string"}}
            responses[str(status)] = {"description": "error", "content": errs}
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": ROW_ID if name == "id" else {"type": "string"},
            }
            for name in re.findall(r"\{(\w+)[:}]", ep.path)
        ] + [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": found[(f"query:{n}:{name}", "serialization")],
            }
            for name, _ in ep.query
        ]
        entry: dict[str, Any] = {
            "summary": ep.summary,
            "operationId": _operation_id(ep.method, path),
            "responses": responses,
        }
        if params:
            entry["parameters"] = params
        if ep.auth == "player":
            entry["security"] = [{"bearer": []}]
        elif ep.auth == "operator":
            entry["security"] = [{"bearer": []}, {"session": []}]
            if ep.can is not None:
                entry["x-redrain-can"] = ep.can.value
        elif ep.auth == "optional":
            entry["security"] = [{"bearer": []}, {}]
        if ep.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": found[(ep.body.__name__, "validation")]}
                },
            }
        paths.setdefault(path, {})[ep.method.lower()] = entry
    _link_created(endpoints, paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "redrain",
            "version": __version__,
            "description": "High-concurrency prize draws. Errors are "
            '{"error": {"code", "message"}}; see docs/api.md.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A player token; on operator routes an API token "
                    "(rdt_…) or the break-glass admin token",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "redrain_session",
                    "description": "A console session (POST /v1/admin/login); its writes "
                    "need the X-CSRF-Token header",
                },
            },
        },
    }


def _link_created(endpoints: Sequence[Endpoint], paths: dict[str, Any]) -> None:
    """A 201 whose body carries ``id`` links to every operation under
    ``<path>/{id}``, so stateful tests reach objects that really exist."""
    for ep in endpoints:
        if ep.ok != 201 or not _has_id(ep.response):
            continue
        base = _plain(ep.path)
        links = {
            _operation_id(other.method, _plain(other.path)): {
                "operationId": _operation_id(other.method, _plain(other.path)),
                "parameters": {"id": "$response.body#/id"},
            }
            for other in endpoints
            if _plain(other.path).startswith(base + "/{id}")
        }
        paths[base][ep.method.lower()]["responses"]["201"]["links"] = links
